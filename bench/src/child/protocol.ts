import type { BackendName } from '../cli.js'
import type { SliceOutcome, SliceRequest } from '../pairs.js'
import type { RunConfig } from '../targets.js'

/** The stampede strategies: lockwork's `cached`, a naive read-through, and a lock around the read-through. */
export type StrategyName = 'cached' | 'naive' | 'lock-reget'

/** What the parent asks a child process to do. */
export type Command =
  | {
      readonly id: number
      readonly op: 'init'
      readonly config: RunConfig
      readonly backends: readonly BackendName[]
    }
  | {
      readonly id: number
      readonly op: 'hold' | 'wait' | 'release'
      readonly contender: string
      readonly key: string
    }
  | {
      readonly id: number
      readonly op: 'stampede'
      readonly backend: BackendName
      readonly strategy: StrategyName
      readonly key: string
      readonly callers: number
      readonly computeMs: number
      /** When every caller starts, in absolute µs. */
      readonly startAtUs: number
    }
  | {
      readonly id: number
      readonly op: 'crowd'
      readonly backend: BackendName
      readonly key: string
      /** Waiters in this process. */
      readonly waiters: number
      readonly sectionMs: number
      readonly waitMs: number
      /** When every waiter starts, in absolute µs. */
      readonly startAtUs: number
    }
  | {
      readonly id: number
      readonly op: 'pairs-open'
      /** The backend of the pair variant this process runs (see `child/pair-variant.ts`). */
      readonly backend: OwnProcessBackend
      /** Whether, and how long, the process subscribes to the OpenTelemetry integration's channels. */
      readonly telemetry: OwnProcessTelemetry
      /** Which of the row's processes this is (names its SQLite file). */
      readonly instance: number
      /** The folder of the run's SQLite files. */
      readonly sqliteDir: string
    }
  | { readonly id: number; readonly op: 'pairs-slice'; readonly request: SliceRequest }
  | { readonly id: number; readonly op: 'pairs-latency' }
  | { readonly id: number; readonly op: 'close' }

/** The backends whose uncontended rows also run in processes of their own. */
export type OwnProcessBackend = 'memory' | 'sqlite'

/**
 * The telemetry of an own-process row (see `child/pair-variant.ts`): never
 * subscribed, subscribed for the process's life, or subscribed while it
 * warms up and unsubscribed before it is measured.
 */
export type OwnProcessTelemetry = 'none' | 'subscribed' | 'unsubscribed'

/** What a stampede run in one process measured. */
export interface StampedeOutcome {
  /** How many times this process ran the computation. */
  readonly computations: number
  /** Each caller's latency from its call to its value, in ms. */
  readonly latenciesMs: readonly number[]
}

/** What a crowd run in one process measured. */
export interface CrowdOutcome {
  /** Waiters that got the key and ran their section. */
  readonly done: number
  /** Waiters that gave up with `LockTimeoutError`. */
  readonly timedOut: number
  /** From the start until the last waiter settled, in ms. */
  readonly totalMs: number
  /** Backend `acquire` calls made. */
  readonly acquireCalls: number
  /** Backend `waitForRelease` calls that ended (wake-ups). */
  readonly wakeUps: number
}

/** A child's answer. `started` comes first for `wait` (the acquire has been called); `done` ends every command. */
export type Reply =
  | { readonly id: number; readonly kind: 'started' }
  | {
      readonly id: number
      readonly kind: 'done'
      /** `hold`/`wait`: when the lock was ours; `release`: just before the release was sent (absolute µs). */
      readonly atUs?: number
      /** Contender ids opened by `init`. */
      readonly contenders?: readonly ContenderInfo[]
      readonly stampede?: StampedeOutcome
      readonly crowd?: CrowdOutcome
      /** `pairs-slice`: what the slice did. */
      readonly slice?: SliceOutcome
      /** `pairs-latency`: the latency of each pair of every measured slice, in µs. */
      readonly latencyUs?: readonly number[]
    }
  | { readonly id: number; readonly kind: 'error'; readonly message: string }

/** A hand-off contender as the parent sees it. */
export interface ContenderInfo {
  /** `<backend>.<id>`, e.g. `redis.lockwork`. */
  readonly name: string
  readonly backend: BackendName
  readonly label: string
  /** `floor`: the raw wake-up (a notification, no lock); `raw-lock`: a hand-rolled lock; else ours or a peer. */
  readonly role: 'floor' | 'raw-lock' | 'ours' | 'peer'
}
