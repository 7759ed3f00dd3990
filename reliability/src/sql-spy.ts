/**
 * Recorders for the text of every SQL statement and Lua script a backend
 * sends, to prove that keys only ever travel as parameters.
 */
import { createRequire } from 'node:module'
import type { SqliteBackendOptions } from '@lockwork/sqlite'
import type { Redis } from 'ioredis'
import { Client } from 'pg'

/** A better-sqlite3 database, typed through the SQLite backend's own option. */
export type SqliteDatabase = NonNullable<SqliteBackendOptions['database']>

/**
 * Opens a better-sqlite3 database on `path` whose `prepare` and `exec`
 * record the SQL text they are given (before any parameter is bound).
 */
export function spiedSqliteDatabase(path: string, texts: string[]): SqliteDatabase {
  const Database = createRequire(import.meta.url)('better-sqlite3') as new (file: string) => SqliteDatabase
  const db = new Database(path)
  const prepare = db.prepare.bind(db)
  const exec = db.exec.bind(db)
  db.prepare = ((source: string) => {
    texts.push(source)
    return prepare(source)
  }) as typeof db.prepare
  db.exec = ((source: string) => {
    texts.push(source)
    return exec(source)
  }) as typeof db.exec
  return db
}

/**
 * Records the text of every query any `pg` client in this process sends
 * (pools and `LISTEN` connections included) until the returned function is called.
 */
export function spyOnPgQueries(texts: string[]): () => void {
  const prototype = Client.prototype as unknown as { query: (...args: unknown[]) => unknown }
  const original = prototype.query
  prototype.query = function (this: unknown, ...args: unknown[]) {
    const [config] = args
    if (typeof config === 'string') texts.push(config)
    else if (typeof config === 'object' && config !== null && 'text' in config)
      texts.push(String(config.text))
    return original.apply(this, args)
  }
  return () => {
    prototype.query = original
  }
}

/** A command as ioredis sent it. */
export interface SentCommand {
  readonly name: string
  readonly args: readonly unknown[]
}

/** Records every command `client` sends (scripts included: `evalsha`/`eval` with their arguments). */
export function spyOnRedisCommands(client: Redis, sent: SentCommand[]): void {
  const send = client.sendCommand.bind(client)
  client.sendCommand = ((...args: Parameters<Redis['sendCommand']>) => {
    const [command] = args
    sent.push({ name: command.name.toLowerCase(), args: [...command.args] })
    return send(...args)
  }) as Redis['sendCommand']
}
