import type { PermitAcquireResult, PermitHolder, PermitHolders } from '@lockwork/core'
import type { Etcd3, IKeyValue, IRequestOp, ITxnResponse } from 'etcd3'
import type { LockState, ReleaseWatch } from './etcd-wake.js'
import { decodeDeadline, encodeDeadline, prefixEnd } from './key-layout.js'
import type { LeasePool } from './lease-pool.js'

/** How often `acquirePermits` reads again after another caller changed the holders in between. */
const ATTEMPTS = 3

/** Digits of an encoded deadline (see key-layout.ts). */
const DEADLINE_DIGITS = 16

/** What the semaphore operations use of the backend they belong to. */
export interface SemaphoreParts {
  readonly client: Etcd3
  readonly leases: LeasePool
  readonly watch: ReleaseWatch
  /** The backend's key prefix. */
  readonly prefix: string
  /** The backend's `clockToleranceMs`. */
  readonly toleranceMs: number
}

/** One holder as stored. */
interface StoredHolder {
  readonly owner: string
  readonly permits: number
  readonly deadline: number
  readonly kv: IKeyValue
}

/**
 * Counting semaphores on etcd. Semaphore `k` keeps one key per holder,
 * `<prefix>sem/<length of k>:<k>/<owner>` (the length makes every
 * semaphore's range its own, whatever `/` its name contains), whose value is
 * the holder's deadline (16 digits, as for locks) followed by its permits,
 * under an etcd lease of its own. The fence is the holder key's create
 * revision: the cluster's revision counter, so it strictly increases across
 * acquisitions and is never reused.
 *
 * `acquirePermits` reads the holders, then commits its holder key in one
 * transaction only if no key of the semaphore was written since that read
 * (a compare of the mod revision over the whole range): a concurrent
 * acquisition makes it read again, so the limit holds. Deadlines are judged
 * by client wall clocks, as for locks.
 */
export class EtcdSemaphores {
  readonly #parts: SemaphoreParts

  constructor(parts: SemaphoreParts) {
    this.#parts = parts
  }

  async acquire(
    key: string,
    owner: string,
    permits: number,
    limit: number,
    ttlMs: number,
  ): Promise<PermitAcquireResult> {
    const { leases } = this.#parts
    const range = this.#range(key)
    const mine = this.#holderKey(key, owner)
    const deadline = Date.now() + ttlMs
    const lease = await leases.take(ttlMs)
    let holders: StoredHolder[] = []
    for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
      const read = await this.#read(range)
      holders = read.holders
      const now = Date.now()
      const own = holders.find((h) => h.owner === owner)
      if (own !== undefined && own.deadline > now) {
        leases.giveBack(lease)
        return { acquired: true, fence: Number(own.kv.create_revision), ttlMs: own.deadline - now }
      }
      if (own !== undefined) {
        // Its own expired holder key: remove it first, so this acquisition gets a new fence.
        await this.#txn({
          compare: [{ key: mine, target: 'Mod', result: 'Equal', mod_revision: own.kv.mod_revision }],
          success: [{ request_delete_range: { key: mine } }],
        })
        continue
      }
      const live = holders.filter((h) => h.deadline + this.#parts.toleranceMs >= now)
      const inUse = live.reduce((sum, h) => sum + h.permits, 0)
      if (inUse + permits > limit) {
        leases.giveBack(lease)
        return { acquired: false, holders: report(live, now) }
      }
      const committed = await this.#txn({
        compare: [
          {
            key: range.start,
            range_end: range.end,
            target: 'Mod',
            result: 'Less',
            mod_revision: String(BigInt(read.revision) + 1n),
          },
        ],
        success: [
          {
            request_put: {
              key: mine,
              value: Buffer.concat([encodeDeadline(deadline), Buffer.from(String(permits))]),
              lease: lease.id,
            },
          },
        ],
      })
      if (committed.succeeded) return { acquired: true, fence: Number(committed.header.revision), ttlMs }
    }
    leases.giveBack(lease)
    const now = Date.now()
    return { acquired: false, holders: report(holders, now) }
  }

  async extend(key: string, owner: string, ttlMs: number): Promise<boolean> {
    const mine = this.#holderKey(key, owner)
    const start = Date.now()
    const read = await this.#txn({ compare: [], success: [{ request_range: { key: mine } }] })
    const kv = read.responses[0]?.response_range?.kvs[0]
    if (kv === undefined || decodeDeadline(kv.value) <= Date.now()) return false
    const lease = await this.#parts.leases.take(ttlMs)
    const reply = await this.#txn({
      compare: [
        { key: mine, target: 'Mod', result: 'Equal', mod_revision: kv.mod_revision },
        { key: mine, target: 'Value', result: 'Greater', value: encodeDeadline(Date.now()) },
      ],
      success: [
        {
          request_put: {
            key: mine,
            value: Buffer.concat([encodeDeadline(start + ttlMs), kv.value.subarray(DEADLINE_DIGITS)]),
            lease: lease.id,
          },
        },
      ],
    })
    if (!reply.succeeded) {
      this.#parts.leases.giveBack(lease)
      return false
    }
    this.#parts.leases.detached(kv.lease)
    return true
  }

  async release(key: string, owner: string): Promise<boolean> {
    const mine = this.#holderKey(key, owner)
    const reply = await this.#txn({
      // The value starts with the deadline: greater than "now" means it has not passed.
      compare: [{ key: mine, target: 'Value', result: 'Greater', value: encodeDeadline(Date.now()) }],
      success: [{ request_delete_range: { key: mine, prev_kv: true } }],
    })
    if (!reply.succeeded) return false
    const previous = reply.responses[0]?.response_delete_range?.prev_kvs[0]
    if (previous !== undefined) this.#parts.leases.detached(previous.lease)
    return true
  }

  async peek(key: string): Promise<PermitHolders> {
    const { holders } = await this.#read(this.#range(key))
    const now = Date.now()
    return report(
      holders.filter((h) => h.deadline > now),
      now,
    )
  }

  /** Resolves once `permits` of `limit` are free (or may be), at `timeoutMs`, or when `signal` aborts. */
  wait(key: string, permits: number, limit: number, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    const range = this.#range(key)
    return this.#parts.watch.wait(
      { key: range.start, prefix: true },
      async (): Promise<LockState> => {
        const read = await this.#read(range)
        const now = Date.now()
        const live = read.holders.filter((h) => h.deadline + this.#parts.toleranceMs >= now)
        const inUse = live.reduce((sum, h) => sum + h.permits, 0)
        const firstEnd = Math.min(...live.map((h) => h.deadline + this.#parts.toleranceMs))
        return { revision: read.revision, remainingMs: inUse + permits <= limit ? 0 : firstEnd - now }
      },
      timeoutMs,
      signal,
    )
  }

  #range(key: string): { start: Buffer; end: Buffer } {
    const start = Buffer.from(`${this.#parts.prefix}sem/${key.length}:${key}/`)
    return { start, end: prefixEnd(start) }
  }

  #holderKey(key: string, owner: string): Buffer {
    return Buffer.from(`${this.#parts.prefix}sem/${key.length}:${key}/${owner}`)
  }

  async #read(range: { start: Buffer; end: Buffer }): Promise<{ revision: string; holders: StoredHolder[] }> {
    const reply = await this.#txn({
      compare: [],
      success: [{ request_range: { key: range.start, range_end: range.end } }],
    })
    const kvs = reply.responses[0]?.response_range?.kvs ?? []
    const holders = kvs.map((kv) => ({
      owner: kv.key.subarray(range.start.length).toString(),
      permits: Number(kv.value.subarray(DEADLINE_DIGITS).toString('latin1')),
      deadline: decodeDeadline(kv.value),
      kv,
    }))
    return { revision: reply.header.revision, holders }
  }

  #txn(request: {
    compare: NonNullable<Parameters<Etcd3['kv']['txn']>[0]['compare']>
    success: IRequestOp[]
  }): Promise<ITxnResponse> {
    return this.#parts.client.kv.txn(request)
  }
}

/** Holders as the contract reports them. */
function report(holders: readonly StoredHolder[], now: number): PermitHolders {
  const list: PermitHolder[] = holders.map((h) => ({
    owner: h.owner,
    permits: h.permits,
    fence: Number(h.kv.create_revision),
    remainingMs: Math.max(0, h.deadline - now),
  }))
  return { inUse: list.reduce((sum, h) => sum + h.permits, 0), holders: list }
}
