/**
 * The slice of better-sqlite3 this backend uses, typed here so the published
 * declarations need no `@types/better-sqlite3` in the user's project. The
 * assignment below checks, at this package's build, that the real driver
 * still fits the slice.
 */
import BetterSqlite3 from 'better-sqlite3'

/** The result of a statement's `run()`. */
export interface SqliteRunResult {
  readonly changes: number
  readonly lastInsertRowid: number | bigint
}

/** A prepared statement (the part of better-sqlite3's `Statement` the backend uses). */
export interface SqliteStatement {
  run(...params: unknown[]): SqliteRunResult
  get(...params: unknown[]): unknown
  all(...params: unknown[]): unknown[]
  safeIntegers(toggle?: boolean): this
  /** Makes `get()` return the first column's value instead of a row object. */
  pluck(toggle?: boolean): this
}

/** A function wrapped in a transaction by `Database#transaction`. */
export interface SqliteTransaction<A extends unknown[], R> {
  (...args: A): R
  /** Runs the function in a `BEGIN IMMEDIATE` transaction. */
  immediate(...args: A): R
}

/** An open database (the part of better-sqlite3's `Database` the backend uses). */
export interface SqliteDatabase {
  readonly memory: boolean
  readonly name: string
  readonly open: boolean
  readonly inTransaction: boolean
  prepare(source: string): SqliteStatement
  exec(source: string): this
  pragma(source: string, options?: { readonly simple?: boolean }): unknown
  transaction<A extends unknown[], R>(fn: (...args: A) => R): SqliteTransaction<A, R>
  close(): this
}

/** better-sqlite3's `Database` constructor. */
export interface SqliteDatabaseConstructor {
  new (filename?: string, options?: { readonly timeout?: number }): SqliteDatabase
}

/** The better-sqlite3 `Database` constructor, typed by the slice above. */
export const Database: SqliteDatabaseConstructor = BetterSqlite3

/** The driver's types under the names better-sqlite3 uses (`Database.Database`, `Database.Statement`). */
export declare namespace Database {
  /** An open better-sqlite3 database. */
  type Database = SqliteDatabase
  /** A prepared better-sqlite3 statement. */
  type Statement = SqliteStatement
}
