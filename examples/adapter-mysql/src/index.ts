export type { MysqlBackendOptions } from './mysql-backend.js'
export { createMysqlBackend, MysqlBackend } from './mysql-backend.js'
export { TABLE_PREFIX, tableNames } from './schema.js'
