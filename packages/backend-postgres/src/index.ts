export type { PostgresBackendOptions, SweepResult } from './postgres-backend.js'
export { createPostgresBackend, PostgresBackend } from './postgres-backend.js'
export type { Durability, SchemaNames } from './schema.js'
export { DEFAULT_SCHEMA, DEFAULT_TABLE, FENCE_EPOCH_GAP, postgresMigrationSql } from './schema.js'
