import type { Etcd3 } from 'etcd3'

/**
 * How long before its etcd lease may end a deadline stored under it must lie,
 * in ms. Covers the difference between the client's send time and the
 * leader's grant time, and clock rate differences; etcd itself only ever
 * lets a lease live longer (a new leader renews every lease to its full TTL).
 */
export const LEASE_MARGIN_MS = 500

/** Extra lifetime a new etcd lease gets beyond the ttl it is granted for, in ms. */
const LEASE_EXTRA_MS = 1_000

/** An etcd lease, with the local wall-clock time its grant request was sent. */
export interface GrantedLease {
  readonly id: string
  /** Its TTL in ms as etcd granted it (etcd may raise a TTL to its minimum). */
  readonly ttlMs: number
  /** `Date.now()` just before the grant request was sent. */
  readonly sentAt: number
}

/** Whether keys with deadline `deadline` may be put under `lease`: it outlives them by the margin. */
export function leaseCovers(lease: GrantedLease, deadline: number): boolean {
  return deadline <= lease.sentAt + lease.ttlMs - LEASE_MARGIN_MS
}

/**
 * Grants the etcd leases that carry lock and cache keys and revokes them when
 * they are no longer needed. A lease granted for an acquisition that lost is
 * kept as a spare for the next acquisition with the same whole-second TTL
 * while it still covers a full ttl (about half a second), so a contended
 * `tryAcquire` loop does not cost a grant and a revoke per attempt.
 */
export class LeasePool {
  readonly #client: Etcd3
  readonly #spares = new Map<number, GrantedLease>()
  readonly #revoking = new Set<Promise<void>>()

  constructor(client: Etcd3) {
    this.#client = client
  }

  /**
   * A lease that covers keys with deadline `Date.now() + ttlMs` when this
   * resolves: a spare when one does, else a new grant.
   */
  async take(ttlMs: number): Promise<GrantedLease> {
    const seconds = Math.ceil((ttlMs + LEASE_EXTRA_MS) / 1_000)
    const spare = this.#spares.get(seconds)
    if (spare !== undefined) {
      this.#spares.delete(seconds)
      if (leaseCovers(spare, Date.now() + ttlMs)) return spare
      this.revoke(spare.id)
    }
    const sentAt = Date.now()
    const granted = await this.#client.leaseClient.leaseGrant({ TTL: seconds })
    return { id: granted.ID, ttlMs: Number(granted.TTL) * 1_000, sentAt }
  }

  /** Keeps an unused lease as a spare (revoking the spare it replaces). */
  giveBack(lease: GrantedLease): void {
    const seconds = Math.round(lease.ttlMs / 1_000)
    const previous = this.#spares.get(seconds)
    if (previous !== undefined) this.revoke(previous.id)
    this.#spares.set(seconds, lease)
  }

  /**
   * Revokes a lease in the background (its keys are already gone or moved to
   * another lease). A failure is harmless: etcd ends the lease at its TTL.
   */
  revoke(id: string): void {
    if (id === '0') return
    const done: Promise<void> = this.#client.leaseClient.leaseRevoke({ ID: id }).then(
      () => undefined,
      () => undefined,
    )
    this.#revoking.add(done)
    void done.finally(() => this.#revoking.delete(done))
  }

  /** Revokes the spares and waits (at most `timeoutMs`) for the revocations in flight. */
  async drain(timeoutMs: number): Promise<void> {
    for (const spare of this.#spares.values()) this.revoke(spare.id)
    this.#spares.clear()
    if (this.#revoking.size === 0) return
    let timer: NodeJS.Timeout | undefined
    await Promise.race([
      Promise.all(this.#revoking),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs)
      }),
    ])
    clearTimeout(timer)
  }
}
