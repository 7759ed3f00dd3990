// Arguments are parsed with commander: no dependencies of its own, its own types, ES and CommonJS
// builds, maintained for over a decade, and it handles what `exec` needs (variadic operands after
// `--`, options between operands) and per-command help without extra code.
import { readFileSync } from 'node:fs'
import { toMs } from '@lockwork/core'
import { Argument, Command, CommanderError, Option } from 'commander'
import { CliError, describeFailure } from './cli-error.js'
import type { CommandResult } from './command-result.js'
import { cacheCommand } from './commands/cache.js'
import { dashboardCommand } from './commands/dashboard.js'
import { execCommand } from './commands/exec.js'
import { jobsCommand } from './commands/jobs.js'
import { locksCommand } from './commands/locks.js'
import { peekCommand } from './commands/peek.js'
import { releaseCommand, terminalConfirmer } from './commands/release.js'
import { watchCommand } from './commands/watch.js'
import { EXIT_CODES } from './exit-codes.js'
import { type StoreFlags, withLockwork } from './session.js'

const STORES = `Stores:
  sqlite:<path>, sqlite:///<absolute path>   @lockwork/sqlite (and better-sqlite3)
  redis://[user:pass@]host:port[/db], rediss://…   @lockwork/redis (and ioredis)
  postgres://user@host/db, postgresql://…    @lockwork/postgres (and pg)
  etcd://host:port[,host:port…]              @lockwork/etcd (and etcd3); no TLS (etcd+https) yet
Install the package of your store beside @lockwork/cli.`

const EXIT_HELP = `Exit codes:
  0 done; exec: the command's own code (128 + n when signal n ended it)
  1 nothing there (peek of a free key, cache get/del of a missing entry, release of a free key,
    jobs <name> of a job with no recorded runs)
  2 usage error, unknown store URL, backend package not installed, release refused
  3 store unreachable or failed (the message names it)
  4 exec --wait 0: the key is held      5 exec: still held when the wait ended
  6 exec: the lease was lost while the command ran (it got SIGTERM)
  dashboard: 0 when stopped with Ctrl-C; 2 when it cannot listen (port taken, bad --host or --port)
  126/127 exec: the command cannot run / was not found     130 interrupted while waiting`

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string
  }
  return pkg.version
}

/** Adds the options that locate the application's locks to `command`. */
function storeOptions(command: Command): Command {
  return command
    .option('--prefix <prefix>', "the application's createLockwork({ prefix })")
    .option('--table <name>', 'SQLite table stem or PostgreSQL lease table, if the application set one')
    .option('--schema <name>', 'PostgreSQL schema, if the application set one')
    .option('--key-prefix <prefix>', 'Redis or etcd backend keyPrefix, if the application set one')
    .option('--redis-key-prefix <prefix>', 'the same as --key-prefix')
}

/** The store flags from a command's parsed options. */
function flagsOf(options: Record<string, unknown>): StoreFlags {
  const pick = (name: string) => (typeof options[name] === 'string' ? (options[name] as string) : undefined)
  const flags: { -readonly [K in keyof StoreFlags]: StoreFlags[K] } = {}
  const prefix = pick('prefix')
  const table = pick('table')
  const schema = pick('schema')
  const keyPrefix = pick('keyPrefix')
  const redisKeyPrefix = pick('redisKeyPrefix')
  if (keyPrefix !== undefined && redisKeyPrefix !== undefined && keyPrefix !== redisKeyPrefix) {
    throw new CliError('--key-prefix and --redis-key-prefix name different prefixes', EXIT_CODES.usage)
  }
  if (prefix !== undefined) flags.prefix = prefix
  if (table !== undefined) flags.table = table
  if (schema !== undefined) flags.schema = schema
  const backendKeyPrefix = keyPrefix ?? redisKeyPrefix
  if (backendKeyPrefix !== undefined) flags.keyPrefix = backendKeyPrefix
  return flags
}

/**
 * Runs the `lockwork` command line with `argv` (without the node and script
 * paths) and resolves its exit code; output goes to the process's stdout and
 * stderr. See {@link EXIT_CODES}.
 */
export async function runCli(argv: readonly string[]): Promise<number> {
  let exitCode: number = EXIT_CODES.ok
  const print = (result: CommandResult) => {
    if (result.output !== '') {
      const stream =
        result.exitCode === EXIT_CODES.ok || result.output === 'null' ? process.stdout : process.stderr
      stream.write(`${result.output}\n`)
    }
    exitCode = result.exitCode
  }

  const program = new Command('lockwork')
    .description('See and manage the locks and scheduled jobs of applications that use lockwork.')
    .version(version(), '-v, --version')
    .enablePositionalOptions()
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText('after', `\n${STORES}\n\n${EXIT_HELP}`)
    .exitOverride()
    .configureOutput({ writeErr: (text) => process.stderr.write(text) })

  storeOptions(
    program
      .command('locks')
      .description('list the locks held: key, holder, fence, time left')
      .argument('<url>', 'the store'),
  )
    .option('--starts-with <text>', 'only keys that start with this text')
    .option('--json', 'print JSON instead of a table')
    .action(async (url: string, options: Record<string, unknown>) => {
      print(
        await withLockwork(url, flagsOf(options), (lw) =>
          locksCommand(lw, {
            ...(typeof options.startsWith === 'string' ? { startsWith: options.startsWith } : {}),
            json: options.json === true,
          }),
        ),
      )
    })

  storeOptions(
    program
      .command('jobs')
      .description(
        'list the every() jobs: schedule, last run (when, outcome, duration, where), next run; ' +
          "with a name, that job's recorded runs (exit code 1 when it has none)",
      )
      .argument('<url>', 'the store')
      .argument('[name]', 'one job, to show all its recorded runs'),
  )
    .option('--json', 'print JSON (every recorded run)')
    .action(async (url: string, name: string | undefined, options: Record<string, unknown>) => {
      print(
        await withLockwork(url, flagsOf(options), (lw) =>
          jobsCommand(lw, { ...(name === undefined ? {} : { name }), json: options.json === true }),
        ),
      )
    })

  storeOptions(
    program
      .command('peek')
      .description('show who holds a key (exit code 1 when it is free)')
      .argument('<url>', 'the store')
      .argument('<key>', 'the key, without the prefix'),
  )
    .option('--json', 'print JSON')
    .action(async (url: string, key: string, options: Record<string, unknown>) => {
      print(
        await withLockwork(url, flagsOf(options), (lw) =>
          peekCommand(lw, key, { json: options.json === true }),
        ),
      )
    })

  storeOptions(
    program
      .command('release')
      .description("free a key whoever holds it (the holder's lock.signal aborts); needs --force")
      .argument('<url>', 'the store')
      .argument('<key>', 'the key, without the prefix'),
  )
    .option('--force', 'really release a lock someone else holds')
    .option('-y, --yes', 'do not ask for confirmation on a terminal')
    .action(async (url: string, key: string, options: Record<string, unknown>) => {
      print(
        await withLockwork(url, flagsOf(options), (lw) =>
          releaseCommand(
            lw,
            key,
            { force: options.force === true, yes: options.yes === true },
            terminalConfirmer(),
          ),
        ),
      )
    })

  storeOptions(
    program
      .command('cache')
      .description('read or delete the cache entry of a cached() key')
      .argument('<url>', 'the store')
      .addArgument(new Argument('<action>', 'what to do').choices(['get', 'del']))
      .argument('<key>', 'the key, without the prefix'),
  )
    .option('--json', 'print JSON with the remaining lifetime (get)')
    .action(async (url: string, action: 'get' | 'del', key: string, options: Record<string, unknown>) => {
      print(
        await withLockwork(url, flagsOf(options), (lw) =>
          cacheCommand(lw, action, key, { json: options.json === true }),
        ),
      )
    })

  storeOptions(
    program
      .command('watch')
      .description('a live view of the locks held, redrawn until Ctrl-C')
      .argument('<url>', 'the store'),
  )
    .option('--starts-with <text>', 'only keys that start with this text')
    .option('--interval <duration>', 'time between redraws', '1s')
    .action(async (url: string, options: Record<string, unknown>) => {
      const intervalMs = toMs(options.interval, '--interval')
      await untilInterrupted((stop) =>
        withLockwork(url, flagsOf(options), (lw) =>
          watchCommand(
            lw,
            {
              intervalMs,
              ...(typeof options.startsWith === 'string' ? { startsWith: options.startsWith } : {}),
            },
            process.stdout,
            stop,
          ),
        ),
      )
    })

  storeOptions(
    program
      .command('dashboard')
      .description(
        'serve a live web page of the locks held, cache entries and job runs (read-only unless --allow-release)',
      )
      .argument('<url>', 'the store'),
  )
    .option('--host <address>', 'the address to listen on (anything but loopback exposes it)', '127.0.0.1')
    .option('--port <port>', 'the port to listen on; 0 picks a free one', '0')
    .option('--allow-release', 'show a Release button on each lock (frees it whoever holds it)')
    .action(async (url: string, options: Record<string, unknown>) => {
      const port = Number(options.port)
      if (!/^\d{1,5}$/.test(String(options.port)) || port > 65_535) {
        throw new CliError(
          `--port: expected a port number from 0 to 65535, got ${String(options.port)}`,
          EXIT_CODES.usage,
        )
      }
      await untilInterrupted((stop) =>
        withLockwork(url, flagsOf(options), (lw) =>
          dashboardCommand(
            lw,
            { host: String(options.host), port, allowRelease: options.allowRelease === true, url },
            process.stdout,
            process.stderr,
            stop,
          ),
        ),
      )
    })

  storeOptions(
    program
      .command('exec')
      .description(
        'run a command while holding a key (a distributed flock): the lease is extended while it runs, ' +
          'its fence is in LOCKWORK_FENCE, signals are passed on, and its exit code is returned',
      )
      .argument('<url>', 'the store')
      .argument('<key>', 'the key, without the prefix')
      .argument('<command...>', 'the command and its arguments, after -- (lockwork exec url key -- cmd -x)'),
  )
    .addOption(new Option('--ttl <duration>', 'lease length, extended every third of it').default('30s'))
    .addOption(
      new Option('--wait <duration>', 'how long to wait while the key is held (0: fail at once)').default(
        '0',
      ),
    )
    .action(async (url: string, key: string, command: string[], options: Record<string, unknown>) => {
      const ttlMs = toMs(options.ttl, '--ttl')
      const waitMs = toMs(options.wait, '--wait', true)
      exitCode = await withLockwork(
        url,
        flagsOf(options),
        (lw) => execCommand(lw, key, command, { ttlMs, waitMs }),
        true,
      )
    })

  try {
    await program.parseAsync([...argv], { from: 'user' })
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end with code 0; everything else commander reports is a usage error.
      return error.exitCode === 0 ? EXIT_CODES.ok : EXIT_CODES.usage
    }
    const failure = describeFailure(error)
    process.stderr.write(`lockwork: ${failure.message}\n`)
    return failure.exitCode
  }
  return exitCode
}

/**
 * Runs a command that goes on until stopped (`watch`, `dashboard`), with a
 * signal that aborts on the first SIGINT or SIGTERM; the handlers are removed
 * when it ends, so a second signal ends the process as usual.
 */
async function untilInterrupted(run: (stop: AbortSignal) => Promise<void>): Promise<void> {
  const stop = new AbortController()
  const onSignal = () => stop.abort()
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  try {
    await run(stop.signal)
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}
