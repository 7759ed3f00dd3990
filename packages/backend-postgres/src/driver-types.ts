/**
 * The slice of `pg` this backend uses, typed here so the published
 * declarations need no `@types/pg` in the user's project. The assignments
 * below check, at this package's build, that the real driver still fits the
 * slice (and the backend's tests pass real `pg.Pool`s where a `Pool` is
 * expected).
 */
import { Client as PgClient, Pool as PgPool } from 'pg'

/** Connection settings (the plain fields of pg's `ClientConfig`). */
export interface ClientConfig {
  user?: string | undefined
  database?: string | undefined
  password?: string | (() => string | Promise<string>) | undefined
  port?: number | undefined
  host?: string | undefined
  connectionString?: string | undefined
  keepAlive?: boolean | undefined
  keepAliveInitialDelayMillis?: number | undefined
  /** `true`, or Node's `tls.ConnectionOptions`. */
  ssl?: boolean | object | undefined
  statement_timeout?: false | number | undefined
  query_timeout?: number | undefined
  lock_timeout?: number | undefined
  idle_in_transaction_session_timeout?: number | undefined
  application_name?: string | undefined
  fallback_application_name?: string | undefined
  connectionTimeoutMillis?: number | undefined
  options?: string | undefined
  client_encoding?: string | undefined
}

/** Pool settings (the plain fields of pg's `PoolConfig`). */
export interface PoolConfig extends ClientConfig {
  max?: number | undefined
  min?: number | undefined
  idleTimeoutMillis?: number | undefined | null
  allowExitOnIdle?: boolean | undefined
  maxUses?: number | undefined
  maxLifetimeSeconds?: number | undefined
}

/** A result row. */
export interface QueryResultRow {
  [column: string]: unknown
}

/** The result of a query. */
export interface QueryResult<R extends QueryResultRow = QueryResultRow> {
  rows: R[]
  rowCount: number | null
}

/** A query with its parameters and, for a prepared statement, its name. */
export interface QueryConfig {
  text: string
  values?: unknown[] | undefined
  name?: string | undefined
}

/** What can run a query: a pool or one of its clients. */
export interface Queryable {
  query<R extends QueryResultRow = QueryResultRow>(config: QueryConfig): Promise<QueryResult<R>>
  query<R extends QueryResultRow = QueryResultRow>(text: string, values?: unknown[]): Promise<QueryResult<R>>
}

/** A client checked out of a pool. */
export interface PoolClient extends Queryable {
  release(error?: Error | boolean): void
}

/** A `pg` Pool (the part the backend uses). */
export interface Pool extends Queryable {
  readonly options: PoolConfig
  connect(): Promise<PoolClient>
  end(): Promise<void>
  on(event: 'error', listener: (error: Error) => void): this
  off(event: 'error', listener: (error: Error) => void): this
}

/** A notification received on a `LISTEN` connection. */
export interface Notification {
  processId: number
  channel: string
  payload?: string | undefined
}

/** A single `pg` Client (the part the backend's listening connection uses). */
export interface Client extends Queryable {
  connect(): Promise<unknown>
  end(): Promise<void>
  on(event: 'error', listener: (error: Error) => void): this
  on(event: 'end', listener: () => void): this
  on(event: 'notification', listener: (message: Notification) => void): this
}

/** pg's `Pool` constructor, typed by the slice above. */
export const Pool: new (config?: PoolConfig) => Pool = PgPool

/** pg's `Client` constructor, typed by the slice above. */
export const Client: new (config?: ClientConfig) => Client = PgClient
