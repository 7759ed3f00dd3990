import { parseArgs } from 'node:util'

/** The backends the demo can run on. */
export const BACKENDS = ['sqlite', 'redis', 'postgres'] as const

/** One of {@link BACKENDS}. */
export type BackendName = (typeof BACKENDS)[number]

/** How long things take in the demo's scenarios, in ms. */
export const TIMING = {
  /** A "screenshot" takes this long. */
  shotMs: 1_200,
  /** At most one screenshot per id per this long (`once` + `holdFor`). */
  shotHoldForMs: 60_000,
  /** An order check takes this long. */
  checkMs: 2_500,
  /** Computing a price takes this long. */
  priceMs: 400,
  /** How long a computed price stays fresh. */
  priceTtlMs: 30_000,
  /** An export takes this long. */
  exportMs: 400,
  /** At most this many exports run at once across every worker (`semaphore`). */
  exportLimit: 2,
  /** `every('expire-sessions')` ticks this often. */
  sessionsIntervalMs: 2_000,
  /** One session sweep takes this long. */
  sessionsJobMs: 250,
} as const

/** What every worker needs to know, passed from the primary in the environment. */
export interface DemoSettings {
  readonly backend: BackendName
  /** The SQLite file (sqlite only). */
  readonly sqlitePath: string | undefined
  readonly redisUrl: string
  readonly databaseUrl: string
  /** A prefix unique to this run, so runs on a shared server never see each other's keys. */
  readonly prefix: string
}

/** The environment variable carrying {@link DemoSettings} to the workers. */
export const SETTINGS_ENV = 'LOCKWORK_DEMO_SETTINGS'

/** The command line, parsed. */
export interface DemoArgs {
  readonly backend: BackendName
  readonly workers: number
  readonly keep: boolean
  readonly help: boolean
}

/** The usage text. */
export const USAGE = `Usage: pnpm demo [-- --backend sqlite|redis|postgres] [--workers N] [--keep]

  --backend   where the locks live (default sqlite: a temporary file, no server).
              redis uses REDIS_URL (default redis://127.0.0.1:6379),
              postgres uses DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test).
  --workers   how many node:cluster workers serve HTTP (default 4).
  --keep      keep the temporary directory (SQLite file) afterwards.`

/**
 * Parses the command line. A leading `--` (as `pnpm demo -- --backend redis`
 * passes it through) is ignored.
 *
 * @throws Error with a usage message for anything it does not understand.
 */
export function parseDemoArgs(argv: readonly string[]): DemoArgs {
  const args = argv[0] === '--' ? argv.slice(1) : [...argv]
  const { values } = parseArgs({
    args,
    options: {
      backend: { type: 'string', short: 'b', default: 'sqlite' },
      workers: { type: 'string', short: 'w', default: '4' },
      keep: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
    allowPositionals: false,
  })
  const backend = values.backend
  if (!BACKENDS.includes(backend as BackendName)) {
    throw new Error(`unknown backend "${backend}": use one of ${BACKENDS.join(', ')}`)
  }
  const workers = Number(values.workers)
  if (!Number.isInteger(workers) || workers < 2 || workers > 16) {
    throw new Error(`--workers must be a whole number from 2 to 16, got "${values.workers}"`)
  }
  return { backend: backend as BackendName, workers, keep: values.keep, help: values.help }
}

/** Reads the settings a worker was started with. */
export function settingsFromEnv(env: NodeJS.ProcessEnv = process.env): DemoSettings {
  const raw = env[SETTINGS_ENV]
  if (raw === undefined) throw new Error(`${SETTINGS_ENV} is not set: workers are started by the primary`)
  return JSON.parse(raw) as DemoSettings
}
