import type { IKeyValue, IRequestOp, ITxnResponse } from 'etcd3'
import { decodeDeadline, encodeDeadline, type LockKeys } from './key-layout.js'

/**
 * The etcd requests of the lock operations: reads, puts and deletes of a
 * lock's two keys, and the compares that say who holds it.
 */

/** The owner and deadline keys as read back by {@link readLock}. */
export interface HeldLock {
  readonly owner: IKeyValue
  readonly deadlineValue: Buffer
  readonly deadline: number
}

/** Reads of both keys of a lock. */
export function readLock(keys: LockKeys): IRequestOp[] {
  return [{ request_range: { key: keys.owner } }, { request_range: { key: keys.deadline } }]
}

/** The lock read by {@link readLock}, or undefined when either key is missing. */
export function heldLock(reply: ITxnResponse): HeldLock | undefined {
  const owner = reply.responses[0]?.response_range?.kvs[0]
  const deadline = reply.responses[1]?.response_range?.kvs[0]
  if (owner === undefined || deadline === undefined) return undefined
  return { owner, deadlineValue: deadline.value, deadline: decodeDeadline(deadline.value) }
}

/** Puts of both keys of a lock under `lease`. */
export function putLock(
  keys: LockKeys,
  owner: Buffer,
  deadline: number,
  lease: string,
  prevKv = false,
): IRequestOp[] {
  return [
    { request_put: { key: keys.owner, value: owner, lease, prev_kv: prevKv } },
    { request_put: { key: keys.deadline, value: encodeDeadline(deadline), lease } },
  ]
}

/** Deletes of both keys of a lock (the first returns the owner key, for its lease). */
export function deleteLock(keys: LockKeys): IRequestOp[] {
  return [
    { request_delete_range: { key: keys.owner, prev_kv: true } },
    { request_delete_range: { key: keys.deadline } },
  ]
}

/** Compares that hold when `owner` holds the lock and its deadline is after `now`. */
export function heldBy(keys: LockKeys, owner: Buffer, now: number) {
  return [
    { key: keys.owner, target: 'Value' as const, result: 'Equal' as const, value: owner },
    { key: keys.deadline, target: 'Value' as const, result: 'Greater' as const, value: encodeDeadline(now) },
  ]
}
