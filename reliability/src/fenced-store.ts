/**
 * A resource protected by fencing tokens, correct for read-modify-write: it
 * remembers the highest fence it has seen for each key, on reads as well as
 * writes, and refuses any read or write that carries a lower one. A holder
 * whose lease ran out while it worked therefore cannot write back a value
 * computed from a read that a newer holder has since superseded: once the
 * newer holder has read (or written), the old holder's write is refused.
 * The check and the access are one step, as they must be at a real resource.
 */

/** An access refused because its fence is lower than one the store has already seen. */
export class StaleFenceError extends Error {
  readonly key: string
  readonly fence: number
  /** The highest fence the store had seen for the key. */
  readonly highest: number

  constructor(key: string, fence: number, highest: number) {
    super(`access to "${key}" with fence ${fence} refused: fence ${highest} has already been seen`)
    this.name = 'StaleFenceError'
    this.key = key
    this.fence = fence
    this.highest = highest
  }
}

/** A key-value store that admits a read or write only with a fence at least the highest seen for its key. */
export class FencedStore<T> {
  readonly #entries = new Map<string, { value: T | undefined; fence: number }>()
  readonly #rejected: { key: string; fence: number; highest: number }[] = []

  /**
   * Reads `key` for the holder of `fence`, and records `fence` as seen, so
   * that from now on every lower fence is refused.
   *
   * @throws StaleFenceError when a higher fence has been seen; nothing changes.
   */
  read(key: string, fence: number): T | undefined {
    return this.#admit(key, fence).value
  }

  /**
   * Writes `value` under `key` for the holder of `fence` (the same holder
   * may write several times).
   *
   * @throws StaleFenceError when a higher fence has been seen; nothing changes.
   */
  write(key: string, value: T, fence: number): void {
    this.#admit(key, fence).value = value
  }

  /** The value and highest fence seen for `key`, without a fence check (for inspection). */
  peek(key: string): { value: T | undefined; fence: number } | undefined {
    const entry = this.#entries.get(key)
    return entry === undefined ? undefined : { ...entry }
  }

  /** Every refused access so far, oldest first. */
  get rejected(): readonly { key: string; fence: number; highest: number }[] {
    return this.#rejected
  }

  #admit(key: string, fence: number): { value: T | undefined; fence: number } {
    if (!Number.isSafeInteger(fence) || fence < 1) {
      throw new RangeError(`fence must be a positive integer, got ${fence}`)
    }
    const entry = this.#entries.get(key) ?? { value: undefined, fence }
    if (fence < entry.fence) {
      this.#rejected.push({ key, fence, highest: entry.fence })
      throw new StaleFenceError(key, fence, entry.fence)
    }
    entry.fence = fence
    this.#entries.set(key, entry)
    return entry
  }
}
