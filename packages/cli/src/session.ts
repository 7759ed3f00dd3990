import { createLockwork, type Lockwork } from '@lockwork/core'
import { openStore } from './store-url.js'

/** The options every command takes to find the application's locks. */
export interface StoreFlags {
  /** The application's `createLockwork({ prefix })`. */
  readonly prefix?: string
  /** SQLite table stem or PostgreSQL lease table, when the application set one. */
  readonly table?: string
  /** PostgreSQL schema, when the application set one. */
  readonly schema?: string
  /** Redis or etcd backend `keyPrefix`, when the application set one. */
  readonly keyPrefix?: string
}

/** Opens the store, runs `body` with a client on it, and always closes the client (and so the connection). */
export async function withLockwork<T>(
  url: string,
  flags: StoreFlags,
  body: (lw: Lockwork) => Promise<T>,
  create = false,
): Promise<T> {
  const backend = await openStore(
    url,
    {
      ...(flags.table === undefined ? {} : { table: flags.table }),
      ...(flags.schema === undefined ? {} : { schema: flags.schema }),
      ...(flags.keyPrefix === undefined ? {} : { keyPrefix: flags.keyPrefix }),
    },
    create,
  )
  const lw = createLockwork({ backend, ...(flags.prefix === undefined ? {} : { prefix: flags.prefix }) })
  try {
    return await body(lw)
  } finally {
    await lw.close().catch(() => undefined)
  }
}
