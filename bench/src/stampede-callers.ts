import type { StampedeOutcome, StrategyName } from './child/protocol.js'
import { sleep } from './clock.js'
import type { Target } from './targets.js'

/** How long every strategy keeps a computed value, in ms. */
const VALUE_TTL_MS = 60_000

/**
 * Starts `callers` concurrent calls for the cold `key` with one strategy and
 * measures each caller's latency; the computation sleeps `computeMs` and is
 * counted.
 *
 * - `cached`: lockwork's `lw.cached` (single-flight in the process, a lock
 *   across processes, waiters wait for the value).
 * - `naive`: `getCached` → on a miss compute → `setCached` (no coordination).
 * - `lock-reget`: `getCached` → on a miss `lw.acquire` the key's lock (waiting),
 *   `getCached` again → compute and `setCached` only if still missing → release.
 */
export async function runStampedeCallers(
  target: Target,
  strategy: StrategyName,
  key: string,
  callers: number,
  computeMs: number,
): Promise<StampedeOutcome> {
  let computations = 0
  const compute = async (): Promise<string> => {
    computations++
    await sleep(computeMs)
    return `value of ${key}`
  }
  const { backend, lw } = target
  const fullKey = lw.fullKey(key)
  const read = async () => (await backend.getCached(fullKey))?.value
  const write = (value: string) => backend.setCached(fullKey, { value, computeMs }, VALUE_TTL_MS)

  let call: () => Promise<string>
  if (strategy === 'cached') {
    const get = lw.cached({ key: (k: string) => k, ttl: VALUE_TTL_MS }, (_k: string) => compute())
    call = () => get(key)
  } else if (strategy === 'naive') {
    call = async () => {
      const hit = await read()
      if (hit !== undefined) return hit
      const value = await compute()
      await write(value)
      return value
    }
  } else {
    call = async () => {
      const hit = await read()
      if (hit !== undefined) return hit
      const lock = await lw.acquire(`lock:${key}`, { wait: '30s' })
      try {
        const again = await read()
        if (again !== undefined) return again
        const value = await compute()
        await write(value)
        return value
      } finally {
        await lock.release()
      }
    }
  }

  const latenciesMs = await Promise.all(
    Array.from({ length: callers }, async () => {
      const start = performance.now()
      await call()
      return performance.now() - start
    }),
  )
  return { computations, latenciesMs }
}
