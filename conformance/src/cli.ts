#!/usr/bin/env node
/**
 * `lockwork-conformance <adapter-module>`: runs the whole conformance suite
 * against the backend an adapter module creates, shows progress, prints a
 * summary per section, and exits 1 when any case fails (2 on a usage error).
 */
import { existsSync, readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { formatReport } from './conformance-report.js'
import { wantsColour } from './progress-reporter.js'
import { runAdapterModule } from './run-adapter-module.js'

const USAGE = `Usage: lockwork-conformance <adapter-module> [options]

Runs the lockwork conformance suite against your LockBackend.

The adapter module (.mjs, .js, or .ts) exports:
  createBackend()   required: returns a new LockBackend (or a promise of one) per call,
                    each with its own connection over the same store
  capabilities      optional: { sharedAcrossInstances?: boolean, waitForRelease?: boolean,
                    wakeUpWithinMs?: number }
  teardown()        optional: runs once after every instance is closed
  name              optional: the name shown in the results (default: the file name)

Options:
  --name <name>        the name shown in the results
  -t, --filter <re>    run only the cases whose full name matches <re>
  --reporter <name>    progress output: progress (default: one line per case), or a
                       vitest reporter (dot, default, verbose)
  --timeout <ms>       time limit of one case (default: 30000)
  -h, --help           show this help
  -v, --version        show the version

Exit code: 0 when every case passes, 1 when any fails, 2 on a usage error.`

async function main(argv: readonly string[]): Promise<number> {
  let parsed: ReturnType<typeof parse>
  try {
    parsed = parse(argv)
  } catch (error) {
    return usage((error as Error).message)
  }
  const { values, positionals } = parsed
  if (values.help) {
    process.stdout.write(`${USAGE}\n`)
    return 0
  }
  if (values.version) {
    process.stdout.write(`${version()}\n`)
    return 0
  }
  if (positionals.length !== 1) return usage('expected exactly one adapter module')
  const modulePath = resolve(positionals[0]!)
  if (!existsSync(modulePath)) return usage(`no such file: ${modulePath}`)
  const timeout = values.timeout === undefined ? undefined : Number(values.timeout)
  if (timeout !== undefined && !(Number.isInteger(timeout) && timeout > 0))
    return usage(`--timeout must be a positive whole number of ms, got ${values.timeout}`)

  // No colour when stdout is not a terminal (or NO_COLOR is set), also from vitest's own reporters.
  if (!wantsColour(process.stdout)) {
    process.env.NO_COLOR = '1'
    delete process.env.FORCE_COLOR
  }
  let report: Awaited<ReturnType<typeof runAdapterModule>>
  try {
    report = await runAdapterModule({
      modulePath,
      ...(values.name ? { name: values.name } : {}),
      ...(values.reporter ? { reporter: values.reporter } : {}),
      ...(values.filter ? { filter: values.filter } : {}),
      ...(timeout ? { testTimeout: timeout } : {}),
    })
  } catch (error) {
    if (isMissingVitest(error)) {
      process.stderr.write(
        'lockwork-conformance runs the suite with vitest, which is not installed here: npm install -D vitest\n',
      )
      return 2
    }
    throw error
  }
  process.stdout.write(formatReport(report))
  return report.ok ? 0 : 1
}

function parse(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      name: { type: 'string' },
      filter: { type: 'string', short: 't' },
      reporter: { type: 'string' },
      timeout: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'v' },
    },
  })
}

function usage(problem: string): number {
  process.stderr.write(`lockwork-conformance: ${problem}\n\n${USAGE}\n`)
  return 2
}

function version(): string {
  const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version?: string
  }
  return manifest.version ?? 'unknown'
}

function isMissingVitest(error: unknown): boolean {
  const { code, message } = error as { code?: unknown; message?: unknown }
  return code === 'ERR_MODULE_NOT_FOUND' && typeof message === 'string' && message.includes("'vitest")
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
    // Exit even if an adapter left a handle open in this process; a clean run ends sooner on its own.
    setTimeout(() => process.exit(code), 2_000).unref()
  },
  (error: unknown) => {
    process.stderr.write(
      `lockwork-conformance: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    )
    process.exitCode = 2
  },
)
