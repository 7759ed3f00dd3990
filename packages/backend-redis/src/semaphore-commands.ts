import type { PermitAcquireResult, PermitHolder, PermitHolders } from '@lockwork/core'
import { waitOnChannel } from './channel-wait.js'
import type { CommandPort } from './command-port.js'
import { awaitReplicas, type WaitForReplicas } from './replica-ack.js'
import type { LoadedScript, ScriptBackendParts } from './script-backend-parts.js'
import { ACQUIRE_PERMITS, EXTEND_PERMITS, PEEK_PERMITS, RELEASE_PERMITS } from './semaphore-scripts.js'

/** What the semaphore commands use of the Redis backend they belong to. */
export interface SemaphoreBackendParts extends ScriptBackendParts {
  /** The commands of the backend's client (for `WAIT`). */
  readonly port: CommandPort
  /** The backend's replica acknowledgement setting, if any. */
  readonly waitForReplicas: WaitForReplicas | undefined
  /** A new id for one release call's record. */
  releaseId(): string
}

/**
 * The counting-semaphore half of the Redis backend: each method is one
 * script call (see `semaphore-scripts.ts` for the layout). For a semaphore
 * key `k` with the same hash tag `t` as a lock key `k`:
 *
 * - `<keyPrefix>{t}:semholders:<k>`: sorted set, owner → expiry (server ms);
 * - `<keyPrefix>{t}:sempermits:<k>`: hash, owner → `"<permits>:<fence>"`, and the total in use;
 * - `<keyPrefix>{t}:semfence:<k>`: the fence counter; it never expires;
 * - `<keyPrefix>{t}:freed:<call id>`: the record of one release call;
 * - channel `<keyPrefix>{t}:semreleased:<k>`: a message on each release.
 */
export class SemaphoreCommands {
  readonly #parts: SemaphoreBackendParts
  readonly #acquire: LoadedScript
  readonly #extend: LoadedScript
  readonly #release: LoadedScript
  readonly #peek: LoadedScript
  /** How long the record of a release lives, in ms, as for locks. */
  readonly #recordTtlMs: number

  constructor(parts: SemaphoreBackendParts, releaseRecordTtlMs: number) {
    this.#parts = parts
    this.#acquire = parts.load(ACQUIRE_PERMITS)
    this.#extend = parts.load(EXTEND_PERMITS)
    this.#release = parts.load(RELEASE_PERMITS)
    this.#peek = parts.load(PEEK_PERMITS)
    this.#recordTtlMs = releaseRecordTtlMs
  }

  /** One script call: see {@link ACQUIRE_PERMITS}. */
  async acquire(
    key: string,
    owner: string,
    permits: number,
    limit: number,
    ttlMs: number,
  ): Promise<PermitAcquireResult> {
    const parts = this.#parts
    const base = parts.base('acquirePermits', key)
    const reply = await parts.run('acquirePermits', this.#acquire, [
      `${base}semholders:${key}`,
      `${base}sempermits:${key}`,
      `${base}semfence:${key}`,
      owner,
      permits,
      limit,
      ttlMs,
    ])
    let result: PermitAcquireResult
    try {
      result = Array.isArray(reply)
        ? { acquired: false, holders: toHolders(reply) }
        : { acquired: true, fence: toInt(reply), ttlMs }
    } catch (error) {
      throw parts.fail('acquirePermits', error)
    }
    if (result.acquired && parts.waitForReplicas !== undefined) {
      await this.#replicated('acquirePermits', parts.waitForReplicas, () => this.release(key, owner))
    }
    return result
  }

  /** One script call: see {@link EXTEND_PERMITS}. */
  async extend(key: string, owner: string, ttlMs: number): Promise<boolean> {
    const parts = this.#parts
    const base = parts.base('extendPermits', key)
    const reply = await parts.run('extendPermits', this.#extend, [
      `${base}semholders:${key}`,
      `${base}sempermits:${key}`,
      owner,
      ttlMs,
    ])
    const extended = this.#isOne('extendPermits', reply)
    if (extended && parts.waitForReplicas !== undefined)
      await this.#replicated('extendPermits', parts.waitForReplicas)
    return extended
  }

  /** One script call: see {@link RELEASE_PERMITS}. */
  async release(key: string, owner: string): Promise<boolean> {
    const parts = this.#parts
    const base = parts.base('releasePermits', key)
    const reply = await parts.run('releasePermits', this.#release, [
      `${base}semholders:${key}`,
      `${base}sempermits:${key}`,
      `${base}freed:${parts.releaseId()}`,
      owner,
      `${base}semreleased:${key}`,
      this.#recordTtlMs,
    ])
    return this.#isOne('releasePermits', reply)
  }

  /** One script call: see {@link PEEK_PERMITS}. */
  async peek(key: string): Promise<PermitHolders> {
    return this.#peekAt('peekPermits', this.#parts.base('peekPermits', key), key)
  }

  /**
   * Subscribes to the semaphore's release channel, then peeks once: resolves
   * at once if `permits` of `limit` are free, otherwise on a release message,
   * when enough holders' leases have run out (expiry sends no message, hence
   * a timer; no polling), at `timeoutMs` or on abort, whichever comes first.
   * Rejects with a `BackendError` only when Redis fails.
   */
  async wait(
    key: string,
    permits: number,
    limit: number,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<void> {
    const parts = this.#parts
    const base = parts.base('waitForPermits', key)
    return waitOnChannel({
      subscriber: parts.subscriber,
      waiters: parts.waiters,
      channel: `${base}semreleased:${key}`,
      timeoutMs,
      signal,
      // Subscribed: a release from now on wakes us. Check for room made before.
      check: async () => {
        const untilRoom = msUntilRoom(await this.#peekAt('waitForPermits', base, key), permits, limit)
        return untilRoom === 0 ? null : untilRoom
      },
      fail: (error) => parts.fail('waitForPermits', error),
    })
  }

  async #peekAt(operation: string, base: string, key: string): Promise<PermitHolders> {
    const parts = this.#parts
    const reply = await parts.run(operation, this.#peek, [
      `${base}semholders:${key}`,
      `${base}sempermits:${key}`,
    ])
    try {
      if (!Array.isArray(reply)) throw new Error(`unexpected reply from Redis: ${String(reply)}`)
      return toHolders(reply)
    } catch (error) {
      throw parts.fail(operation, error)
    }
  }

  /**
   * `WAIT` for the replicas after a write on this connection; when that falls
   * short, `undo` (best effort) and reject with a `BackendError`.
   */
  async #replicated(operation: string, wait: WaitForReplicas, undo?: () => Promise<unknown>): Promise<void> {
    try {
      await awaitReplicas(this.#parts.port, wait)
    } catch (error) {
      if (undo !== undefined) await undo().catch(() => false)
      throw this.#parts.fail(operation, error)
    }
  }

  #isOne(operation: string, reply: unknown): boolean {
    try {
      return toInt(reply) === 1
    } catch (error) {
      throw this.#parts.fail(operation, error)
    }
  }
}

/**
 * How long until `permits` of `limit` are free if nobody releases: 0 when
 * they are free now, else the remaining lease of the holder whose expiry
 * makes enough room.
 */
export function msUntilRoom(current: PermitHolders, permits: number, limit: number): number {
  let free = limit - current.inUse
  if (free >= permits) return 0
  const byExpiry = [...current.holders].sort((a, b) => a.remainingMs - b.remainingMs)
  for (const holder of byExpiry) {
    free += holder.permits
    if (free >= permits) return holder.remainingMs
  }
  // Unreachable for permits ≤ limit: once every holder expired, all of `limit` is free.
  return byExpiry.at(-1)?.remainingMs ?? 0
}

/** Parses the flat `{owner, permits, fence, remaining ms, …}` reply of the scripts. */
function toHolders(reply: unknown[]): PermitHolders {
  if (reply.length % 4 !== 0) throw new Error(`unexpected reply from Redis: ${reply.length} items`)
  const holders: PermitHolder[] = []
  let inUse = 0
  for (let i = 0; i < reply.length; i += 4) {
    const permits = toInt(reply[i + 1])
    inUse += permits
    holders.push({
      owner: String(reply[i]),
      permits,
      fence: toInt(reply[i + 2]),
      remainingMs: Math.max(0, toInt(reply[i + 3])),
    })
  }
  return { inUse, holders }
}

/** Integers arrive as numbers, or as strings (from the hash, or with `stringNumbers`). */
function toInt(value: unknown): number {
  const number = typeof value === 'number' ? value : Number(value)
  if (!Number.isFinite(number) || (typeof value !== 'number' && typeof value !== 'string')) {
    throw new Error(`unexpected non-integer in reply: ${String(value)}`)
  }
  return number
}
