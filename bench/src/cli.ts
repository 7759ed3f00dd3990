import { parseArgs } from 'node:util'

/** The backends the benchmark knows. */
export const BACKENDS = ['memory', 'sqlite', 'redis', 'postgres', 'etcd'] as const
/** One of {@link BACKENDS}. */
export type BackendName = (typeof BACKENDS)[number]

/** The sections the benchmark runs, in order. */
export const SECTIONS = ['uncontended', 'concurrency', 'handoff', 'stampede', 'crowd'] as const
/** One of {@link SECTIONS}. */
export type SectionName = (typeof SECTIONS)[number]

/** What the command line asked for. */
export interface BenchOptions {
  /** A short smoke run (under 2 minutes); figures are noisier. */
  readonly quick: boolean
  /** The backends to run. */
  readonly backends: readonly BackendName[]
  /** Keep one core busy with a spinning process for the whole run (the "other core busy" condition). */
  readonly busy: boolean
  /** The sections to run. */
  readonly sections: readonly SectionName[]
  /** Where to write the JSON results. */
  readonly jsonPath: string | undefined
  /** Print usage and exit. */
  readonly help: boolean
}

/** The usage text of `pnpm bench`. */
export const USAGE = `Usage: pnpm bench [-- options]

  --quick              a smoke run (< 2 min), fewer rounds; figures are indicative only
  --only <list>        comma-separated backends and/or sections to run:
                       ${BACKENDS.join(', ')}; ${SECTIONS.join(', ')}
  --busy               keep one core busy with a spinning process for the whole run, to
                       see the ratios under load (writes bench/results/busy.json)
  --json <path>        write the JSON results here (default bench/results/latest.json;
                       a --quick or --only run writes bench/results/quick.json unless given)
  -h, --help           this text

Environment: REDIS_URL (default redis://127.0.0.1:6379), DATABASE_URL
(default postgres://postgres@127.0.0.1:5432/postgres), ETCD_ENDPOINTS (default: a
private fsync'd 3-member cluster of the etcd binary, ETCD_BIN or etcd from the PATH).
A missing server skips its rows with a warning, unless CI=true, where it fails the run.`

/** Parses `argv` (without the node and script paths); a leading `--` from pnpm is ignored. */
export function parseBenchArgs(argv: readonly string[]): BenchOptions {
  const args = argv[0] === '--' ? argv.slice(1) : [...argv]
  const { values } = parseArgs({
    args,
    options: {
      quick: { type: 'boolean', default: false },
      busy: { type: 'boolean', default: false },
      only: { type: 'string' },
      json: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
    allowPositionals: false,
  })
  const backends: BackendName[] = []
  const sections: SectionName[] = []
  for (const raw of (values.only ?? '').split(',')) {
    const item = raw.trim()
    if (item === '') continue
    if ((BACKENDS as readonly string[]).includes(item)) backends.push(item as BackendName)
    else if ((SECTIONS as readonly string[]).includes(item)) sections.push(item as SectionName)
    else
      throw new Error(
        `--only: unknown backend or section "${item}" (expected ${[...BACKENDS, ...SECTIONS].join(', ')})`,
      )
  }
  return {
    quick: values.quick === true,
    busy: values.busy === true,
    backends: backends.length > 0 ? backends : [...BACKENDS],
    sections: sections.length > 0 ? sections : [...SECTIONS],
    jsonPath: values.json,
    help: values.help === true,
  }
}

/** How long each part of the run takes; `--quick` shrinks everything. */
export interface Budget {
  /** Interleaved rounds for the pair benchmarks (after one warm-up round). */
  readonly rounds: number
  /** How long each variant runs in one round, in ms. */
  readonly sliceMs: number
  /** Concurrent loops in the throughput benchmark. */
  readonly loops: number
  /** Hand-offs per implementation, in total. */
  readonly handoffs: number
  /** Hand-offs per implementation in one interleaved round. */
  readonly handoffsPerRound: number
  /** Runs of each stampede strategy. */
  readonly stampedeRuns: number
  /** Callers per process in the stampede. */
  readonly stampedeCallers: number
  /** The stampede's computation time, in ms. */
  readonly computeMs: number
  /** Waiters on one key in the crowd (over all processes). */
  readonly crowdWaiters: number
}

/** The budget of a full or a `--quick` run. */
export function budgetFor(quick: boolean): Budget {
  return quick
    ? {
        rounds: 3,
        sliceMs: 120,
        loops: 64,
        handoffs: 50,
        handoffsPerRound: 10,
        stampedeRuns: 1,
        stampedeCallers: 50,
        computeMs: 200,
        crowdWaiters: 500,
      }
    : {
        rounds: 12,
        sliceMs: 300,
        loops: 64,
        handoffs: 150,
        handoffsPerRound: 10,
        stampedeRuns: 5,
        stampedeCallers: 50,
        computeMs: 200,
        crowdWaiters: 2_000,
      }
}
