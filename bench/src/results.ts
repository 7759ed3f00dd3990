import type { BackendName, Budget } from './cli.js'
import type { CrowdFigures } from './crowd.js'
import type { HandoffFigures } from './handoff.js'
import type { Machine } from './machine.js'
import type { PairFigures } from './pairs.js'
import type { StampedeFigures } from './stampede.js'

/** One goal of issue 7 and whether this run met it. */
export interface Goal {
  readonly id: string
  readonly backend: BackendName
  /** The goal as stated, e.g. `≥ 0.95× raw floor`. */
  readonly target: string
  /** What was measured, as printed. */
  readonly measured: string
  /** `undefined` when the row could not be measured in this run. */
  readonly met: boolean | undefined
}

/** Everything one run measured: the content of `bench/results/latest.json`. */
export interface Results {
  readonly schema: 1
  readonly generatedAt: string
  readonly mode: 'full' | 'quick'
  /** True when a spinning process kept one core busy for the whole run (`--busy`); absent in older results. */
  readonly busy?: boolean
  durationSec: number
  readonly machine: Machine
  readonly versions: Record<string, string>
  /** Server versions of the services used. */
  readonly servers: Record<string, string>
  /** Backends skipped, with why. */
  readonly skipped: { backend: BackendName; reason: string }[]
  readonly budget: Budget
  readonly uncontended: Partial<Record<BackendName, PairFigures[]>>
  readonly concurrency: Partial<Record<BackendName, PairFigures[]>>
  handoff: HandoffFigures[]
  stampede: StampedeFigures[]
  /** Absent in results written before the crowd row existed. */
  crowd?: CrowdFigures[]
  goals: Goal[]
  /** Things the run could not measure, e.g. `lw.cached` missing from the core. */
  readonly notes: string[]
}
