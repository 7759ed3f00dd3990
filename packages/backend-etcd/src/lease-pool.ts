import type { Etcd3 } from 'etcd3'

/**
 * How long before its etcd lease may end a deadline stored under it must lie,
 * in ms. Covers the difference between the client's send time and the
 * leader's grant time, and clock rate differences; etcd itself only ever
 * lets a lease live longer (a new leader renews every lease to its full TTL).
 */
export const LEASE_MARGIN_MS = 500

/** Extra lifetime a new etcd lease gets beyond the ttl it is granted for, in ms. */
const LEASE_EXTRA_MS = 2_000

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

/** Spare leases kept per whole-second TTL; more are revoked. */
const MAX_SPARES_PER_TTL = 256

/** Granted leases remembered as lent out before the expired ones are forgotten. */
const LENT_SWEEP_AT = 1_024

/**
 * Grants the etcd leases that carry lock and cache keys, and reuses them.
 *
 * Every lease this client granted is either lent (its keys are, or are about
 * to be, attached to it) or spare (nothing is attached). When keys leave a
 * lease (a release, an extension or a replaced cache entry: the transaction
 * that deleted or moved them returns the lease id in `prev_kv`), the lease
 * comes back as a spare; the next acquisition whose deadline it still covers,
 * with the same whole-second TTL, takes it instead of a new grant. A lease is
 * lent to one lock at a time, so revoking one never removes other keys. A
 * lease this client did not grant, or one too old to cover a further ttl, is
 * revoked instead. So a loop of acquire + release costs two transactions, not
 * also a grant and a revoke each (each a Raft write), while every lease still
 * ends at most about two seconds after the deadline of the keys put under it.
 */
export class LeasePool {
  readonly #client: Etcd3
  /** Spare leases by whole-second TTL, oldest first. */
  readonly #spares = new Map<number, GrantedLease[]>()
  /** Leases granted here and lent out, by id. */
  readonly #lent = new Map<string, GrantedLease>()
  readonly #revoking = new Set<Promise<void>>()

  constructor(client: Etcd3) {
    this.#client = client
  }

  /**
   * A lease that covers keys with deadline `Date.now() + ttlMs` when this
   * resolves: the newest spare that does, else a new grant.
   */
  async take(ttlMs: number): Promise<GrantedLease> {
    const seconds = Math.ceil((ttlMs + LEASE_EXTRA_MS) / 1_000)
    const spares = this.#spares.get(seconds)
    const newest = spares?.pop()
    if (newest !== undefined && spares !== undefined) {
      if (leaseCovers(newest, Date.now() + ttlMs)) {
        this.#lent.set(newest.id, newest)
        return newest
      }
      // The newest no longer covers a full ttl, so neither do the older ones.
      for (const stale of [newest, ...spares.splice(0)]) this.#revoke(stale.id)
    }
    if (this.#lent.size >= LENT_SWEEP_AT) this.#forgetExpired()
    const sentAt = Date.now()
    const granted = await this.#client.leaseClient.leaseGrant({ TTL: seconds })
    const lease = { id: granted.ID, ttlMs: Number(granted.TTL) * 1_000, sentAt }
    this.#lent.set(lease.id, lease)
    return lease
  }

  /** Takes back a lease from {@link take} that was not used (nothing was put under it). */
  giveBack(lease: GrantedLease): void {
    this.#lent.delete(lease.id)
    this.#spare(lease)
  }

  /**
   * Called when the keys under lease `id` are gone or moved to another lease:
   * a lease granted here becomes a spare; any other (another client's, read
   * from an expired holder) is revoked in the background.
   */
  detached(id: string): void {
    if (id === '0') return
    const lease = this.#lent.get(id)
    if (lease === undefined) {
      this.#revoke(id)
      return
    }
    this.#lent.delete(id)
    this.#spare(lease)
  }

  #spare(lease: GrantedLease): void {
    const seconds = Math.round(lease.ttlMs / 1_000)
    let spares = this.#spares.get(seconds)
    if (spares === undefined) {
      spares = []
      this.#spares.set(seconds, spares)
    }
    // Keep them ordered by grant time, so the newest is last.
    let at = spares.length
    while (at > 0 && (spares[at - 1] as GrantedLease).sentAt > lease.sentAt) at--
    spares.splice(at, 0, lease)
    if (spares.length > MAX_SPARES_PER_TTL) this.#revoke((spares.shift() as GrantedLease).id)
  }

  /** Forgets lent leases past their end (their keys expired with them, never released). */
  #forgetExpired(): void {
    const now = Date.now()
    for (const [id, lease] of this.#lent) if (lease.sentAt + lease.ttlMs < now) this.#lent.delete(id)
  }

  /**
   * Revokes a lease in the background. A failure is harmless: etcd ends the
   * lease at its TTL.
   */
  #revoke(id: string): void {
    const done: Promise<void> = this.#client.leaseClient.leaseRevoke({ ID: id }).then(
      () => undefined,
      () => undefined,
    )
    this.#revoking.add(done)
    void done.finally(() => this.#revoking.delete(done))
  }

  /** Revokes the spares and waits (at most `timeoutMs`) for the revocations in flight. */
  async drain(timeoutMs: number): Promise<void> {
    for (const spares of this.#spares.values()) for (const spare of spares) this.#revoke(spare.id)
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
