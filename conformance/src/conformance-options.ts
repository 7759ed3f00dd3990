import type { LockBackend } from '@lockwork/core'

/** The slice of a test runner's API the suite uses (vitest, jest, mocha+chai-style `expect`). */
export interface TestApi {
  describe: (name: string, body: () => void) => void
  it: (name: string, body: () => Promise<void> | void, timeoutMs?: number) => void
  expect: ExpectFn
  beforeAll: (body: () => Promise<void> | void, timeoutMs?: number) => void
  afterAll: (body: () => Promise<void> | void, timeoutMs?: number) => void
}

/** The assertions the suite needs; vitest's and jest's `expect` satisfy it. */
export type ExpectFn = (actual: unknown, message?: string) => Matchers

/** The matchers the suite uses. */
export interface Matchers {
  toBe(expected: unknown): void
  toEqual(expected: unknown): void
  toBeGreaterThan(expected: number): void
  toBeGreaterThanOrEqual(expected: number): void
  toBeLessThan(expected: number): void
  toBeLessThanOrEqual(expected: number): void
  toBeInstanceOf(expected: abstract new (...args: never[]) => unknown): void
  toBeNull(): void
  toBeUndefined(): void
  toMatch(expected: RegExp | string): void
  readonly not: Matchers
}

/** What a backend can do, so the suite runs only the cases that apply. */
export interface BackendCapabilities {
  /**
   * Whether two instances from `createBackend()` share state like separate
   * processes would (true for SQLite files, Redis, PostgreSQL). The memory
   * backend shares state only through one store object, which its factory arranges.
   * Default true.
   */
  readonly sharedAcrossInstances?: boolean
  /** Whether `waitForRelease` is implemented (wake-on-release). Default: detected. */
  readonly waitForRelease?: boolean
  /**
   * A promise about wake-up latency, in ms: a `waitForRelease` (and, with
   * the semaphore capability, a `waitForPermits`) on one instance resolves
   * within this long (the median of several rounds) after another instance
   * from `createBackend()` releases, also when other waiters on the same or
   * another key gave up meanwhile. The cases wait on instances of their own
   * and on the first instance, which the suite may use to stand for another
   * process (the SQLite run opens it through a second path to the file, so it
   * shares the file but not the in-process wake-up). Declare it only when the
   * backend pushes releases to waiters (an event, a notification, a watched
   * file) rather than polling for them; the cases are skipped without it.
   */
  readonly wakeUpWithinMs?: number
  /**
   * With `waitForGrant`: the longest time, in ms, after which a queued waiter
   * whose instance stopped (closed, or its connection dropped) no longer
   * receives a grant, so the key is not stranded with it. Default 10 s.
   */
  readonly grantLivenessMs?: number
}

/** Options of {@link runConformance}. */
export interface ConformanceOptions extends TestApi {
  /** The name shown in the test titles, e.g. `'redis'`. */
  readonly name: string
  /**
   * Creates a new backend instance. Each call must return a separate instance
   * (its own connection, where the backend has connections) over the same
   * shared store, as separate processes would have.
   */
  readonly createBackend: () => LockBackend | Promise<LockBackend>
  /** Called once after every case has run, after all instances are closed. */
  readonly teardown?: () => Promise<void> | void
  readonly capabilities?: BackendCapabilities
}
