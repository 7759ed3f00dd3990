import { connect } from 'node:net'
import { run } from './run.js'

/** Whether this run is CI's: there a missing service fails the suite instead of skipping it. */
export const IN_CI: boolean = process.env.CI === 'true'

/** Resolves an error message when nothing accepts a TCP connection at `url`'s host and port, else `undefined`. */
function probeTcp(url: string, defaultPort: number): Promise<string | undefined> {
  const { hostname, port } = new URL(url)
  const host = hostname.replace(/^\[|\]$/g, '') || '127.0.0.1'
  return new Promise((resolve) => {
    const socket = connect({ host, port: Number(port || defaultPort) })
    const done = (reason: string | undefined) => {
      socket.destroy()
      resolve(reason)
    }
    socket.setTimeout(2_000, () => done(`no answer from ${host}:${port || defaultPort} in 2 s`))
    socket.once('connect', () => done(undefined))
    socket.once('error', (error) => done(`${host}:${port || defaultPort}: ${error.message}`))
  })
}

/** What the consumer test needs from outside: the npm registry, Redis and PostgreSQL. */
export interface ConsumerServices {
  readonly redisUrl: string
  readonly databaseUrl: string
}

/**
 * Whether the consumer test can run here. When a service is missing: under
 * `CI=true` this rejects (the file fails); otherwise it prints one loud line
 * saying what is missing and how to enable it, and resolves `false` (the file skips).
 */
export async function consumerServicesAvailable(services: ConsumerServices): Promise<boolean> {
  const missing: string[] = []
  const redis = await probeTcp(services.redisUrl, 6379)
  if (redis !== undefined) missing.push(`Redis (${redis}; start redis-server or set REDIS_URL)`)
  const postgres = await probeTcp(services.databaseUrl, 5432)
  if (postgres !== undefined) missing.push(`PostgreSQL (${postgres}; start it or set DATABASE_URL)`)
  const registry = await run('npm', ['ping'], { cwd: process.cwd(), timeoutMs: 20_000 }).catch(
    (error: unknown) => ({ code: 1, stderr: String(error) }),
  )
  if (registry.code !== 0)
    missing.push(`the npm registry (npm ping failed: ${registry.stderr.trim().split('\n')[0]})`)
  if (missing.length === 0) return true
  const why = missing.join('; ')
  if (IN_CI) throw new Error(`consumer test: required under CI=true but unreachable: ${why}`)
  console.warn(`⚠️  SKIPPING the consumer test (packed packages in an app outside the workspace): ${why}.`)
  return false
}
