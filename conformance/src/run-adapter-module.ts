import { existsSync } from 'node:fs'
import { dirname, extname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ADAPTER_MODULE_ENV, SUITE_NAME_ENV } from './adapter-module.js'
import {
  buildReport,
  type ConformanceReport,
  type ReportedError,
  type ReportedSuite,
} from './conformance-report.js'
import { progressReporter, wantsColour } from './progress-reporter.js'

/** Options of {@link runAdapterModule}. */
export interface RunAdapterModuleOptions {
  /** Absolute path of the adapter module (`.mjs`, `.js`, or `.ts`/`.mts`, which vitest compiles). */
  readonly modulePath: string
  /** Overrides the suite name (default: the module's `name` export, else its file name). */
  readonly name?: string
  /**
   * How progress is shown. Default `'progress'`: one line per case as it
   * finishes, `section › case`. Or the name of a vitest reporter (`'dot'`,
   * `'default'`, `'verbose'`, ...).
   */
  readonly reporter?: string
  /** Whether the progress lines carry colour. Default: when stdout is a terminal that wants it (`NO_COLOR`, `FORCE_COLOR` respected). */
  readonly colour?: boolean
  /** Runs only the cases whose full name matches this regular expression. */
  readonly filter?: string
  /** The time limit of one case, in ms. Default 30 000. */
  readonly testTimeout?: number
  /** The directory vitest runs in. Default: the current directory. */
  readonly cwd?: string
}

/** The vitest reporter shape the runner plugs in to collect results (a slice of vitest's `Reporter`). */
interface Collector {
  onTestRunEnd(modules: ReadonlyArray<ReportedSuite>, unhandled: ReadonlyArray<ReportedError>): void
}

/** Conditions Vite resolves with on the server unless told otherwise (Vite's own defaults). */
const SERVER_CONDITIONS = ['module', 'node', 'development|production']
const EXTERNAL_CONDITIONS = ['node', 'module-sync']

/**
 * Runs the whole conformance suite against the adapter module at
 * `modulePath` through vitest's Node API and returns the per-section report.
 * vitest's reporter prints progress to stdout while it runs. Rejects only
 * when vitest itself cannot start (e.g. it is not installed).
 */
export async function runAdapterModule(options: RunAdapterModuleOptions): Promise<ConformanceReport> {
  const { createVitest } = await import('vitest/node')
  const entry = runnerEntry()
  const cwd = options.cwd ?? process.cwd()

  process.env[ADAPTER_MODULE_ENV] = options.modulePath
  if (options.name) process.env[SUITE_NAME_ENV] = options.name
  else delete process.env[SUITE_NAME_ENV]

  let modules: ReadonlyArray<ReportedSuite> = []
  let unhandled: ReadonlyArray<ReportedError> = []
  const collector: Collector = {
    onTestRunEnd(testModules, unhandledErrors) {
      modules = testModules
      unhandled = unhandledErrors
    },
  }

  // Export conditions the runner was started with (`node --conditions=...`)
  // apply to the suite too, so a workspace resolves its packages the same way.
  const conditions = nodeConditions()
  const resolve =
    conditions.length === 0
      ? {}
      : {
          resolve: { conditions: [...conditions, ...SERVER_CONDITIONS] },
          ssr: {
            resolve: {
              conditions: [...conditions, ...SERVER_CONDITIONS],
              externalConditions: [...conditions, ...EXTERNAL_CONDITIONS],
            },
          },
        }

  const started = performance.now()
  const vitest = await createVitest(
    'test',
    {
      config: false,
      root: cwd,
      dir: dirname(entry),
      include: [entry],
      exclude: [],
      watch: false,
      reporters: [progress(options), collector],
      testTimeout: options.testTimeout ?? 30_000,
      hookTimeout: Math.max(60_000, options.testTimeout ?? 0),
      passWithNoTests: true,
      // The entry may live in node_modules (an installed @lockwork/conformance): run it through vitest, not Node.
      server: { deps: { inline: [/@lockwork[\\/]conformance/, entry] } },
      ...(options.filter ? { testNamePattern: options.filter } : {}),
    },
    resolve,
  )
  try {
    await vitest.start([entry])
  } finally {
    await vitest.close()
  }
  const suite = options.name ?? suiteName(modules) ?? relative(cwd, options.modulePath)
  return buildReport(suite, modules, unhandled, performance.now() - started)
}

/** The progress reporter: the runner's own lines, or a vitest reporter by name. */
function progress(options: RunAdapterModuleOptions): string | ReturnType<typeof progressReporter> {
  const reporter = options.reporter ?? 'progress'
  if (reporter !== 'progress') return reporter
  return progressReporter({
    write: (text) => process.stdout.write(text),
    colour: options.colour ?? wantsColour(process.stdout),
  })
}

/** The test file vitest runs: beside this module, `.ts` from source, `.js` from `dist`. */
function runnerEntry(): string {
  const here = fileURLToPath(import.meta.url)
  const entry = join(dirname(here), `runner-entry${extname(here)}`)
  if (!existsSync(entry)) throw new Error(`the runner's test entry is missing: ${entry}`)
  return entry
}

/** The `--conditions` / `-C` flags this Node process was started with, also through `NODE_OPTIONS`. */
function nodeConditions(): string[] {
  const args = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/).filter(Boolean)]
  const found: string[] = []
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    if (arg.startsWith('--conditions=')) found.push(arg.slice('--conditions='.length))
    else if ((arg === '--conditions' || arg === '-C') && args[i + 1]) found.push(args[++i]!)
    else if (arg.startsWith('-C') && arg.length > 2) found.push(arg.slice(2))
  }
  return [...new Set(found)]
}

/** The suite's name from its top-level `describe` ("<name> conformance"). */
function suiteName(modules: ReadonlyArray<ReportedSuite>): string | undefined {
  for (const module of modules) {
    for (const child of module.children) {
      if (child.type === 'suite' && child.name?.endsWith(' conformance'))
        return child.name.slice(0, -' conformance'.length)
    }
  }
  return undefined
}
