import { type GrantWait, GrantWaitRegistry, type GrantWaitRequest, type LockGrant } from '@lockwork/core'
import type { QueryResult, QueryResultRow } from './driver-types.js'
import { type GrantNotice, grantRoute, parseGrant } from './grant-payload.js'
import type { GrantSql } from './grant-statements.js'
import { EXPIRY_SLACK_MS, FALLBACK_POLL_MS } from './postgres-wake.js'
import type { ReleaseListener } from './release-listener.js'

/**
 * How long a queued entry counts as alive after its last refresh, in ms (on
 * the server's clock). A release hands the key only to a waiter whose
 * process refreshed its entry within this bound; the entry of a process
 * that died or lost its connection is skipped after it.
 */
export const GRANT_LIVENESS_MS = 3_000

/** How often a waiting instance refreshes all its queued entries (one statement), in ms. */
export const GRANT_REFRESH_MS = 1_000

/**
 * Taken off a grant's remaining lease, in ms: the caller counts it from when
 * the wait resolved, a few promise turns after it was computed here.
 */
const RESOLVE_MARGIN_MS = 1

/** Runs one statement (also while the backend closes: waits leave their queues then). */
export type GrantRun = <R extends QueryResultRow>(
  op: string,
  text: string,
  values: readonly unknown[],
  retry: boolean,
) => Promise<QueryResult<R>>

/** What the grant waits use of the PostgreSQL backend they belong to. */
export interface GrantBackendParts {
  readonly sql: GrantSql
  readonly run: GrantRun
  /** The backend's listening connection (created by the first wait). */
  readonly listener: () => ReleaseListener
  /** The backend's set of pending waits: `close()` calls each to end it. */
  readonly pending: Set<() => void>
  /** A fence column as a number (throws a `BackendError` for anything else). */
  readonly toFence: (text: string | null) => number
  /** Wraps a driver error as a `BackendError` for `op`. */
  readonly fail: (op: string, error: unknown) => Error
}

/** One queued entry of this instance, kept alive by {@link GrantWaits}' refresh. */
interface Registration {
  readonly key: string
  readonly owner: string
  readonly ttlMs: number
  /** `performance.now()` just before the latest statement on this entry was sent… */
  sentAt: number
  /** …and the server's clock, in ms since the epoch, when that statement ran. */
  serverMs: number
  /** Ends the wait: the entry was dropped or its owner holds the key. */
  readonly wake: () => void
}

type EnqueueRow = { mine: boolean; fence: string; remaining_ms: number; server_ms: number }
type RefreshRow = { key: string; owner: string; server_ms: number }
type HeldRow = { fence: string; remaining_ms: number }

const OP = 'waitForGrant'

/**
 * Grant-on-release for the PostgreSQL backend ({@link LockBackend.waitForGrant}):
 * a waiter subscribes on the backend's `LISTEN` connection to the key's
 * grants and plain releases, queues itself (one statement), and waits for
 * the release that hands it the key — the `NOTIFY` carries the fence and the
 * lease's expiry on the server's clock, so the waiter holds the key without
 * another round trip, and resolves straight from the notification. Every
 * other end of the wait (timeout, abort, close, the holder's expiry, a plain
 * release that found no live entry, a lost listening connection) leaves the
 * queue (one statement), and then, only when the entry was already gone,
 * looks whether a grant came first (one more).
 *
 * One interval timer per backend refreshes every queued entry of the
 * instance every {@link GRANT_REFRESH_MS} in one statement, so an entry stays
 * alive for {@link GRANT_LIVENESS_MS} after its process stopped. A refresh
 * that finds an entry gone (a grant whose notification is late or lost, or
 * an entry dropped as dead) ends that wait, which then looks again.
 */
export class GrantWaits extends GrantWaitRegistry<GrantNotice, Registration> {
  readonly #parts: GrantBackendParts
  #refreshing = false

  constructor(parts: GrantBackendParts) {
    super({ refreshMs: GRANT_REFRESH_MS, pending: parts.pending, grantOf })
    this.#parts = parts
  }

  /** Listens for the key's notifications, queues (one statement) and waits; leaves the queue unless granted. */
  protected override async waitInQueue(
    request: GrantWaitRequest,
    wait: GrantWait<GrantNotice, Registration>,
  ): Promise<LockGrant | undefined> {
    const { key, owner, ttlMs, timeoutMs, signal } = request
    if (signal?.aborted || !(timeoutMs > 0)) return undefined
    const parts = this.#parts
    const started = performance.now()
    const listener = parts.listener()
    // Besides grants: a plain release (it found no live entry for this waiter,
    // so the key is free) or a lost connection (`undefined`).
    const onNotice = (payload: string | undefined): void =>
      wait.hear(payload === undefined ? undefined : parseGrant(payload))
    const unsubscribeGrants = listener.subscribe(grantRoute(key), onNotice)
    const unsubscribeReleases = listener.subscribe(key, onNotice)
    wait.watch()
    try {
      if (!(await listener.ready())) {
        // Not listening, so not queued (a grant would go unheard until a refresh):
        // the caller re-tries after a short pause.
        wait.wakeAfter(() => Math.min(timeoutMs, FALLBACK_POLL_MS * (0.5 + Math.random())))
        await wait.ended
        return undefined
      }
      // Aborted or closed before queueing: never queued.
      if (wait.over) return undefined
      const sentAt = performance.now()
      const { rows } = await parts.run<EnqueueRow>(
        OP,
        parts.sql.enqueue,
        [key, owner, ttlMs, GRANT_LIVENESS_MS],
        true,
      )
      const row = rows[0]
      if (row === undefined) return undefined
      if (row.mine) return heldGrant(parts.toFence(row.fence), row.remaining_ms, ttlMs, sentAt)
      const queued: Registration = { key, owner, ttlMs, sentAt, serverMs: row.server_ms, wake: wait.wake }
      // The holder's lease ends by itself (no notification): look again then, or at the timeout.
      const granted = await wait.queued(queued, () =>
        Math.min(timeoutMs - (performance.now() - started), row.remaining_ms + EXPIRY_SLACK_MS),
      )
      return granted ?? (await this.#leave(key, owner, ttlMs))
    } catch (error) {
      throw parts.fail(OP, error)
    } finally {
      wait.dispose()
      unsubscribeGrants()
      unsubscribeReleases()
    }
  }

  /**
   * Leaves the queue. The entry still there means no release handed the key
   * to it (a release deletes the entry it grants to, under the entry's row
   * lock, which the `DELETE` waits for); otherwise a grant may have come
   * first, and a second statement — seeing every commit before the `DELETE` —
   * says whether `owner` holds the key.
   */
  async #leave(key: string, owner: string, ttlMs: number): Promise<LockGrant | undefined> {
    const parts = this.#parts
    const withdrawn = await parts.run(OP, parts.sql.withdraw, [key, owner], true)
    if (withdrawn.rows.length > 0) return undefined
    const sentAt = performance.now()
    const { rows } = await parts.run<HeldRow>(OP, parts.sql.held, [key, owner], true)
    const row = rows[0]
    return row === undefined
      ? undefined
      : heldGrant(parts.toFence(row.fence), row.remaining_ms, ttlMs, sentAt)
  }

  /** Refreshes every queued entry of this instance in one statement; ends the waits whose entry is gone. */
  protected override refresh(active: ReadonlySet<Registration>): void {
    if (this.#refreshing || active.size === 0) return
    const registrations = [...active]
    const keys = registrations.map((registration) => registration.key)
    const owners = registrations.map((registration) => registration.owner)
    const sentAt = performance.now()
    this.#refreshing = true
    this.#parts
      .run<RefreshRow>(OP, this.#parts.sql.refresh, [keys, owners, GRANT_LIVENESS_MS], false)
      .then(
        ({ rows }) => {
          const alive = new Map(rows.map((row) => [`${row.key}\u0001${row.owner}`, row.server_ms]))
          for (const registration of registrations) {
            const serverMs = alive.get(`${registration.key}\u0001${registration.owner}`)
            if (serverMs === undefined) {
              // Granted (its notification is late or lost) or dropped as dead: look again.
              registration.wake()
            } else if (sentAt > registration.sentAt) {
              registration.sentAt = sentAt
              registration.serverMs = serverMs
            }
          }
        },
        () => {
          // The next refresh retries; an entry not refreshed lapses after GRANT_LIVENESS_MS.
        },
      )
      .finally(() => {
        this.#refreshing = false
      })
  }
}

/**
 * The lease a grant notification hands to `registration`'s owner, placed on
 * this process's clock: the server read `registration.serverMs` no earlier
 * than `registration.sentAt` here, so the lease ends no earlier than
 * `sentAt + (expiresMs − serverMs)` on this clock. At most the ttl asked for.
 */
function grantOf(notice: GrantNotice, registration: Registration): LockGrant {
  const endsAt = registration.sentAt + (notice.expiresMs - registration.serverMs)
  const remainingMs = Math.min(registration.ttlMs, endsAt - performance.now()) - RESOLVE_MARGIN_MS
  return { fence: notice.fence, remainingMs: Math.max(0, remainingMs) }
}

/** A lease `owner` was found holding by a statement sent at `sentAt`, with `remainingMs` left when it ran. */
function heldGrant(fence: number, remainingMs: number, ttlMs: number, sentAt: number): LockGrant {
  const left = Math.min(ttlMs, remainingMs) - (performance.now() - sentAt) - RESOLVE_MARGIN_MS
  return { fence, remainingMs: Math.max(0, left) }
}
