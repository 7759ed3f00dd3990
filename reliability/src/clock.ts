/**
 * The clock every history is recorded on: the system-wide monotonic clock
 * (`process.hrtime`, CLOCK_MONOTONIC on Linux), in whole microseconds. It is
 * shared by every process on one machine and never steps, so enter/exit times
 * recorded by different worker processes can be compared directly.
 */
export function nowUs(): number {
  return Number(process.hrtime.bigint() / 1000n)
}

/** Resolves after the current turn's I/O, like a cooperative yield (`setImmediate`), not a timer sleep. */
export function yieldTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
