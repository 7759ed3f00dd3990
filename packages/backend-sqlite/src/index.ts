export type { SqliteDatabase, SqliteStatement } from './driver-types.js'
export type { SqliteBackendOptions } from './sqlite-backend.js'
export {
  createSqliteBackend,
  DEFAULT_SQLITE_PATH,
  DEFAULT_SQLITE_TABLE,
  SqliteBackend,
} from './sqlite-backend.js'
