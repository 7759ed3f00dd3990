/**
 * An example of a resource protected by fencing tokens: the pattern
 * `docs/guarantees.md` describes. A lock alone cannot stop a holder that was
 * paused past its lease from writing late; the resource can, by remembering
 * the highest fence it has seen and refusing anything lower.
 */

/** A write refused because its fence is lower than one the store has already seen. */
export class StaleFenceError extends Error {
  /** The key written. */
  readonly key: string
  /** The fence the write carried. */
  readonly fence: number
  /** The highest fence the store had seen for the key. */
  readonly highest: number

  constructor(key: string, fence: number, highest: number) {
    super(`write to "${key}" with fence ${fence} refused: fence ${highest} has already been seen`)
    this.name = 'StaleFenceError'
    this.key = key
    this.fence = fence
    this.highest = highest
  }
}

/** A stored value with the fence of the write that produced it. */
export interface FencedValue<T> {
  readonly value: T
  readonly fence: number
}

/**
 * A key-value store that accepts a write only if its fence is at least the
 * highest fence seen for that key (the same holder may write several times
 * with its one fence; a later holder's larger fence locks every earlier
 * holder out for good). The check and the write are one step, as they must
 * be: in SQL, `UPDATE t SET value = $1, fence = $2 WHERE id = $3 AND fence <= $2`.
 */
export class FencedStore<T> {
  readonly #entries = new Map<string, FencedValue<T>>()
  readonly #rejected: { key: string; fence: number; highest: number }[] = []

  /**
   * Writes `value` under `key` if `fence` is not lower than the highest fence
   * seen for `key`.
   *
   * @throws StaleFenceError when a larger fence has been seen; nothing changes.
   */
  write(key: string, value: T, fence: number): void {
    if (!Number.isSafeInteger(fence) || fence < 1)
      throw new RangeError(`fence must be a positive integer, got ${fence}`)
    const current = this.#entries.get(key)
    if (current !== undefined && fence < current.fence) {
      this.#rejected.push({ key, fence, highest: current.fence })
      throw new StaleFenceError(key, fence, current.fence)
    }
    this.#entries.set(key, { value, fence })
  }

  /** The current value of `key` with its fence, or `undefined`. */
  read(key: string): FencedValue<T> | undefined {
    return this.#entries.get(key)
  }

  /** The highest fence seen for `key` (0 if none). */
  highestFence(key: string): number {
    return this.#entries.get(key)?.fence ?? 0
  }

  /** Every refused write so far, oldest first. */
  get rejected(): readonly { key: string; fence: number; highest: number }[] {
    return this.#rejected
  }
}
