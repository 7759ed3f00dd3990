import { createServer } from 'node:net'
import { BackendError, createLockwork } from '@lockwork/core'
import { describe, expect, it } from 'vitest'
import { createPostgresBackend } from '../src/index.js'
import { databaseUrl, postgresAvailable, randomTable } from './postgres-available.js'

const available = await postgresAvailable()

/** A free TCP port on the loopback interface (nothing listens on it). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

describe('postgres backend: errors name the endpoint and carry the cause', () => {
  it('a closed port fails acquire and cached within 5 s, naming host:port/database, ECONNREFUSED as cause, no password', async () => {
    const port = await freePort()
    const backend = createPostgresBackend({
      connectionString: `postgres://me:secret-pw@127.0.0.1:${port}/appdb`,
    })
    const lw = createLockwork({ backend })
    const value = lw.cached({ key: 'c' }, async () => 1)
    try {
      for (const call of [() => lw.acquire('k'), () => value()]) {
        const started = performance.now()
        const error = await call().catch((e: unknown) => e)
        expect(performance.now() - started).toBeLessThan(5_000)
        expect(error).toBeInstanceOf(BackendError)
        const message = (error as BackendError).message
        expect(message).toContain(`127.0.0.1:${port}/appdb`)
        expect(message).not.toContain('secret-pw')
        expect(((error as BackendError).cause as NodeJS.ErrnoException).code).toBe('ECONNREFUSED')
      }
    } finally {
      await lw.close()
    }
  })

  it.skipIf(!available)('a server-side failure (no such database) names the endpoint too', async () => {
    const url = new URL(databaseUrl)
    url.pathname = '/lockwork_no_such_database'
    const lw = createLockwork({
      backend: createPostgresBackend({ connectionString: url.toString(), table: randomTable('errors') }),
    })
    try {
      const error = await lw.acquire('k').catch((e: unknown) => e)
      expect(error).toBeInstanceOf(BackendError)
      expect((error as BackendError).message).toContain(
        `${url.hostname}:${url.port || 5432}/lockwork_no_such_database`,
      )
      expect((error as BackendError).cause).toBeInstanceOf(Error)
    } finally {
      await lw.close()
    }
  })
})
