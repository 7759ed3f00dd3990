import { onAbort } from './abort-watch.js'
import type { LockBackend } from './backend.js'

/** One caller in a {@link WaiterQueue}: a node of its doubly linked list. */
export interface QueuedWaiter {
  /** @internal */ previous: QueuedWaiter | undefined
  /** @internal */ next: QueuedWaiter | undefined
  /** @internal Ends {@link WaiterQueue.awaitTurn} early: set while the waiter waits for its turn. */
  wake: (() => void) | undefined
}

/**
 * After this many hand-offs in a row from one waiter of this process to the
 * next, the next head gives other processes a chance at the key: it waits
 * {@link WaiterQueue.yieldMs} after the release before it tries.
 */
export const LOCAL_STREAK_LIMIT = 8

/** A head's wait in progress, from {@link WaiterQueue.beginPark}. */
export interface Parked {
  /** Aborts when the caller's signal does or when the key is released through this process. */
  readonly signal: AbortSignal
  /** @internal */ readonly controller: AbortController
  /** @internal */ readonly unwatch: (() => void) | undefined
}

/** The queues with at least one waiter, per backend and full key. */
const queues = new WeakMap<LockBackend, Map<string, WaiterQueue>>()
/** How many queues exist, so that the uncontended path skips the lookup entirely. */
let activeQueues = 0

/**
 * The waiters of this process for one key of one backend, in arrival order.
 *
 * Only the head contends: it makes the backend attempts and waits for the
 * backend's wake-up (or backs off); everyone behind it waits in memory, with
 * no backend call, no subscription and no timer other than its own deadline.
 * When the head acquires, gives up or is aborted it leaves, and the next
 * waiter becomes head. A release of the key through this process wakes the
 * head at once ({@link wakeLocalWaiter}). While the key is held by a waiter
 * that came through the queue, the next head waits for that local release
 * (bounded by the lease) without asking the backend at all. So each release
 * wakes one waiter per process, whatever the size of the crowd, a hand-off
 * inside one process costs one release and one acquire, and every queue
 * operation is O(1). A queue exists only while someone waits: the uncontended path never
 * allocates one.
 */
export class WaiterQueue {
  readonly #backend: LockBackend
  readonly #key: string
  #head: QueuedWaiter | undefined
  #tail: QueuedWaiter | undefined
  /** Ends the head's current wait; set while it waits. */
  #parked: AbortController | undefined
  /** A wake-up that came while the head was not waiting: its next wait returns at once. */
  #woken = false
  /**
   * Until when (`performance.now()`) a waiter of this queue holds the key,
   * after the head acquired it: the next head then waits for the local
   * release instead of asking the backend. 0 once it is released.
   */
  #heldUntil = 0
  /** Hand-offs in a row from one waiter of this queue to the next. */
  #streak = 0
  /** A smoothed backend `acquire` round trip, in ms. */
  #attemptMs = 1

  private constructor(backend: LockBackend, key: string) {
    this.#backend = backend
    this.#key = key
  }

  /** The queue of `key` on `backend`, if anyone in this process waits for it. */
  static find(backend: LockBackend, key: string): WaiterQueue | undefined {
    if (activeQueues === 0) return undefined
    return queues.get(backend)?.get(key)
  }

  /** Appends a new waiter to the queue of `key` on `backend`, creating the queue if needed. */
  static join(backend: LockBackend, key: string): { queue: WaiterQueue; waiter: QueuedWaiter } {
    let byKey = queues.get(backend)
    if (byKey === undefined) {
      byKey = new Map()
      queues.set(backend, byKey)
    }
    let queue = byKey.get(key)
    if (queue === undefined) {
      queue = new WaiterQueue(backend, key)
      byKey.set(key, queue)
      activeQueues++
    }
    const waiter: QueuedWaiter = { previous: queue.#tail, next: undefined, wake: undefined }
    if (queue.#tail === undefined) queue.#head = waiter
    else queue.#tail.next = waiter
    queue.#tail = waiter
    return { queue, waiter }
  }

  /** Whether `waiter` is at the head of the queue (its turn to contend). */
  isHead(waiter: QueuedWaiter): boolean {
    return this.#head === waiter
  }

  /**
   * Resolves when `waiter` reaches the head, at `deadline` (a
   * `performance.now()` time) or when `signal` aborts, whichever is first;
   * never rejects. The caller tells which by {@link isHead} and the signal.
   */
  awaitTurn(waiter: QueuedWaiter, deadline: number, signal: AbortSignal | undefined): Promise<void> {
    if (this.#head === waiter || signal?.aborted) return Promise.resolve()
    return new Promise<void>((resolve) => {
      let unwatch: (() => void) | undefined
      const done = (): void => {
        waiter.wake = undefined
        clearTimeout(timer)
        unwatch?.()
        resolve()
      }
      waiter.wake = done
      const timer = setTimeout(done, Math.max(0, deadline - performance.now()))
      if (signal !== undefined) unwatch = onAbort(signal, done)
    })
  }

  /**
   * Starts the head's wait between two attempts: the returned signal aborts
   * when `signal` does or when the key is released through this process.
   * `undefined` when such a release came since the last wait: try at once.
   * End every started wait with {@link endPark}. (Two calls rather than one
   * async wrapper, so that a woken head is not a few promise turns behind a
   * caller that never waited.)
   */
  beginPark(signal: AbortSignal | undefined): Parked | undefined {
    if (this.#woken) {
      this.#woken = false
      return undefined
    }
    const controller = new AbortController()
    this.#parked = controller
    const unwatch = signal === undefined ? undefined : onAbort(signal, () => controller.abort())
    return { signal: controller.signal, controller, unwatch }
  }

  /** Ends a wait started with {@link beginPark}. */
  endPark(parked: Parked): void {
    if (this.#parked === parked.controller) this.#parked = undefined
    parked.unwatch?.()
  }

  /** Removes `waiter` (acquired, timed out or aborted); the next waiter becomes head. */
  leave(waiter: QueuedWaiter): void {
    const wasHead = this.#head === waiter
    if (waiter.previous === undefined) {
      if (!wasHead) return // already gone
      this.#head = waiter.next
    } else waiter.previous.next = waiter.next
    if (waiter.next === undefined) this.#tail = waiter.previous
    else waiter.next.previous = waiter.previous
    waiter.previous = undefined
    waiter.next = undefined
    if (this.#head === undefined) {
      this.#unregister()
      return
    }
    if (wasHead) this.#head.wake?.()
  }

  /**
   * Records that the head acquired the key with a lease that lasts at least
   * until `until` (`performance.now()`), `fromLocal` when it took over from a
   * waiter of this queue.
   */
  heldByWaiter(until: number, fromLocal: boolean): void {
    this.#heldUntil = until
    this.#streak = fromLocal ? this.#streak + 1 : 0
  }

  /** Records how long one backend `acquire` took, for {@link yieldMs}. */
  noteAttempt(ms: number): void {
    this.#attemptMs += (ms - this.#attemptMs) / 4
  }

  /**
   * How long the head should let other processes try first after a release
   * in this process: 0 until {@link LOCAL_STREAK_LIMIT} hand-offs in a row
   * stayed in this process, then about two `acquire` round trips (1–20 ms),
   * enough for a waiter elsewhere, woken by the same release, to get its
   * attempt in. Without it a busy process would keep the key forever: its
   * head hears of a local release before any other process can.
   */
  yieldMs(): number {
    if (this.#streak < LOCAL_STREAK_LIMIT) return 0
    this.#streak = 0
    return Math.min(20, 1 + 2 * this.#attemptMs)
  }

  /** How long, in ms, a waiter of this queue still holds the key (0: not known to be held here). */
  heldLocallyMs(): number {
    if (this.#heldUntil === 0) return 0
    const left = this.#heldUntil - performance.now()
    if (left <= 0) this.#heldUntil = 0
    return Math.max(0, left)
  }

  /** Ends the head's current wait (or its next one): the key may be free. */
  wakeHead(): void {
    this.#heldUntil = 0
    if (this.#parked !== undefined) this.#parked.abort()
    else this.#woken = true
  }

  #unregister(): void {
    const byKey = queues.get(this.#backend)
    if (byKey?.get(this.#key) !== this) return
    byKey.delete(this.#key)
    activeQueues--
  }
}

/**
 * Tells the waiters of this process that `key` was just released through
 * `backend`: the head of its queue tries again at once. O(1); nothing when
 * nobody waits.
 */
export function wakeLocalWaiter(backend: LockBackend, key: string): void {
  WaiterQueue.find(backend, key)?.wakeHead()
}
