/**
 * Clocks and small timing helpers shared by the parent and the child processes.
 */

/**
 * The current wall-clock time in microseconds, comparable across processes on
 * one machine: `performance.timeOrigin` is the process's start on the system
 * clock and `performance.now()` the monotonic time since then.
 */
export function absoluteUs(): number {
  return (performance.timeOrigin + performance.now()) * 1000
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)))
}

/** Resolves at the absolute time `atUs` (from {@link absoluteUs}), spinning for the last millisecond. */
export async function sleepUntilUs(atUs: number): Promise<void> {
  const leftMs = (atUs - absoluteUs()) / 1000
  if (leftMs > 2) await sleep(leftMs - 1.5)
  while (absoluteUs() < atUs) {
    // Busy-wait the last stretch so both processes start within microseconds of each other.
  }
}
