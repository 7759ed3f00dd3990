import { type GrantWait, GrantWaitRegistry, type GrantWaitRequest, type LockGrant } from '@lockwork/core'
import { EXPIRY_SLACK_MS } from './channel-wait.js'
import { ENQUEUE, type GrantMessage, parseGrant, REFRESH, WITHDRAW } from './grant-scripts.js'
import { asArray, toInt } from './reply-values.js'
import type { LoadedScript, ScriptBackendParts } from './script-backend-parts.js'

/**
 * How long a queued entry counts as alive after its last refresh, in ms (on
 * the server's clock). A release hands the key only to a waiter whose
 * process refreshed its entry within this bound; the entry of a process
 * that died or lost its connection is skipped after it.
 */
export const GRANT_LIVENESS_MS = 3_000

/** How often a waiting process refreshes all its queued entries, in ms. */
export const GRANT_REFRESH_MS = 1_000

/**
 * Taken off a grant's remaining lease, in ms: the caller counts it from when
 * the wait resolved, a few promise turns after it was computed here.
 */
const RESOLVE_MARGIN_MS = 1

/** What the grant waits use of the Redis backend they belong to (grants arrive on the release channel). */
export type GrantBackendParts = ScriptBackendParts

/** One queued entry of this process, kept alive by {@link GrantWaits}' refresh. */
interface Registration {
  /** lock, fence counter, queue, queue entries. */
  readonly keys: readonly string[]
  /** The waiting marker, which `REFRESH` keeps alive with the entry. */
  readonly marker: string
  readonly owner: string
  readonly ttlMs: number
  /** `performance.now()` just before the latest script on this entry was sent… */
  sentAt: number
  /** …and the server's clock, in ms, when that script ran. */
  serverMs: number
  /** Ends the wait: the entry was dropped or its owner holds the key. */
  readonly wake: () => void
}

/**
 * Grant-on-release for the Redis backend ({@link LockBackend.waitForGrant}):
 * a waiter subscribes to the key's release channel, queues itself
 * (`ENQUEUE`), and waits for the release that hands it the key — the grant
 * message carries the fence, the ttl and the server's time, so the waiter
 * holds the key without another round trip. Every other end of the wait
 * (timeout, abort, close, the holder's expiry, a release that found no live
 * entry, a reconnect of the subscriber) leaves the queue (`WITHDRAW`), which
 * also reports a grant that came first.
 *
 * One interval timer per backend refreshes every queued entry of the
 * process every {@link GRANT_REFRESH_MS}, so an entry stays alive for
 * {@link GRANT_LIVENESS_MS} after the process stopped.
 */
export class GrantWaits extends GrantWaitRegistry<GrantMessage, Registration> {
  readonly #parts: GrantBackendParts
  readonly #enqueue: LoadedScript
  readonly #refreshScript: LoadedScript
  readonly #withdraw: LoadedScript

  constructor(parts: GrantBackendParts) {
    super({ refreshMs: GRANT_REFRESH_MS, pending: parts.waiters, grantOf })
    this.#parts = parts
    this.#enqueue = parts.load(ENQUEUE)
    this.#refreshScript = parts.load(REFRESH)
    this.#withdraw = parts.load(WITHDRAW)
  }

  /** Listens on the key's release channel, queues (`ENQUEUE`) and waits; leaves (`WITHDRAW`) unless granted. */
  protected override async waitInQueue(
    request: GrantWaitRequest,
    wait: GrantWait<GrantMessage, Registration>,
  ): Promise<LockGrant | undefined> {
    const { key, owner, ttlMs, timeoutMs, signal } = request
    const parts = this.#parts
    const base = parts.base('waitForGrant', key)
    if (signal?.aborted) return undefined
    const started = performance.now()
    const keys = [`${base}lock:${key}`, `${base}fence:${key}`, `${base}queue:${key}`, `${base}queued:${key}`]
    const marker = `${base}waiting:${key}`
    // Besides grants: `released` (no live entry was found: this one lapsed)
    // or a reconnect (a message may have been missed).
    const onMessage = (message: string): void => wait.hear(parseGrant(message))
    wait.watch()
    let unlisten: (() => void) | undefined
    try {
      try {
        unlisten = await parts.subscriber.listen(`${base}released:${key}`, onMessage)
      } catch (error) {
        throw parts.fail('waitForGrant', error)
      }
      // Aborted or closed before queueing: never queued.
      if (wait.over) return undefined
      const sentAt = performance.now()
      const reply = asArray(
        await parts.run('waitForGrant', this.#enqueue, [
          ...keys,
          marker,
          owner,
          ttlMs,
          GRANT_LIVENESS_MS,
          Math.ceil(timeoutMs) + EXPIRY_SLACK_MS,
        ]),
      )
      const state = toInt(reply[0])
      if (state === 0) return undefined
      if (state === 2) return heldGrant(reply[2], reply[3], sentAt)
      const registration: Registration = {
        keys,
        marker,
        owner,
        ttlMs,
        sentAt,
        serverMs: toInt(reply[1]),
        wake: wait.wake,
      }
      // The holder's lease ends by itself (no message): look again then, or at the timeout.
      const granted = await wait.queued(registration, () =>
        Math.min(timeoutMs - (performance.now() - started), toInt(reply[2]) + EXPIRY_SLACK_MS),
      )
      if (granted !== undefined) return granted
      const withdrawnAt = performance.now()
      const held = await parts.run('waitForGrant', this.#withdraw, [...keys, owner])
      if (held === null || held === undefined) return undefined
      const [fence, pttl] = asArray(held)
      return heldGrant(fence, pttl, withdrawnAt)
    } catch (error) {
      throw parts.fail('waitForGrant', error)
    } finally {
      wait.dispose()
      unlisten?.()
    }
  }

  /** Refreshes every queued entry of this process (one script call each, sent together). */
  protected override refresh(active: ReadonlySet<Registration>): void {
    for (const registration of active) {
      const sentAt = performance.now()
      this.#parts
        .run('waitForGrant', this.#refreshScript, [
          ...registration.keys,
          registration.marker,
          registration.owner,
          registration.ttlMs,
          GRANT_LIVENESS_MS,
        ])
        .then(
          (reply) => {
            const [state, serverMs] = asArray(reply)
            if (toInt(state) === 1) {
              if (sentAt > registration.sentAt) {
                registration.sentAt = sentAt
                registration.serverMs = toInt(serverMs)
              }
              // Holds the key (its grant message is late or lost) or was dropped: look again.
            } else registration.wake()
          },
          () => {
            // The next refresh retries; an entry not refreshed lapses after GRANT_LIVENESS_MS.
          },
        )
    }
  }
}

/**
 * The lease a grant message hands to `registration`'s owner, placed on this
 * process's clock: granted no later than the server's time since the
 * registration's latest script ran (1 ms for the server's rounding), and no
 * later than now.
 */
function grantOf(grant: GrantMessage, registration: Registration): LockGrant {
  const now = performance.now()
  const grantedAt = Math.min(now, registration.sentAt + (grant.serverMs - registration.serverMs) - 1)
  return {
    fence: grant.fence,
    remainingMs: Math.max(0, grant.ttlMs - (now - grantedAt) - RESOLVE_MARGIN_MS),
  }
}

/** A grant found by a script sent at `sentAt`, with `pttl` left when it ran. */
function heldGrant(fence: unknown, pttl: unknown, sentAt: number): LockGrant {
  const remainingMs = toInt(pttl) - (performance.now() - sentAt) - RESOLVE_MARGIN_MS
  return { fence: toInt(fence), remainingMs: Math.max(0, remainingMs) }
}
