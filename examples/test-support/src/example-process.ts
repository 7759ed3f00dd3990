import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

/** The repository root: examples run from it, so the `@lockwork/source` condition finds every package. */
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url))

/** How a process ended: its exit code, or the signal that ended it. */
export interface ProcessExit {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}

/** An example process that has said it is ready. */
export interface ExampleProcess {
  readonly child: ChildProcess
  /** The match of the `ready` pattern in its output (e.g. the port it listens on, in a group). */
  readonly ready: RegExpExecArray
}

/**
 * Starts `file` (an example's TypeScript entry point) in a new Node.js
 * process, from source (`--import tsx`, `--conditions=@lockwork/source`),
 * with `env` added to this process's environment, and resolves once its
 * standard output matches `ready`. Its standard error goes to the test's.
 * Rejects if the process exits first.
 */
export function startExample(
  file: string,
  options: {
    /** What its standard output says once it is ready. */
    readonly ready: RegExp
    /** Added to this process's environment. */
    readonly env?: Readonly<Record<string, string>>
    /** Its working directory. Default: the repository root. */
    readonly cwd?: string
    /** Called with the process as soon as it is spawned (to end it in cleanup even if it never gets ready). */
    readonly onSpawn?: (child: ChildProcess) => void
  },
): Promise<ExampleProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', '--conditions=@lockwork/source', file], {
    cwd: options.cwd ?? REPO_ROOT,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  options.onSpawn?.(child)
  return new Promise((resolve, reject) => {
    let out = ''
    child.stdout?.setEncoding('utf8')
    child.stdout?.on('data', (chunk: string) => {
      out += chunk
      const match = options.ready.exec(out)
      if (match) resolve({ child, ready: match })
    })
    child.on('exit', (code, signal) =>
      reject(new Error(`${file} exited (${code ?? signal}) before printing ${options.ready}`)),
    )
  })
}

/** Resolves once `child` has exited (at once if it already has). */
export function exitOf(child: ChildProcess): Promise<ProcessExit> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve({ code: child.exitCode, signal: child.signalCode })
      return
    }
    child.on('exit', (code, signal) => resolve({ code, signal }))
  })
}

/** Sends `signal` (default SIGTERM) to `child` unless it has exited, and resolves with how it ended. */
export function stopProcess(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<ProcessExit> {
  const exit = exitOf(child)
  if (child.exitCode === null && child.signalCode === null) child.kill(signal)
  return exit
}

/** The non-empty lines of `file`; none if it does not exist yet. */
export function readLines(file: string): string[] {
  return existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean) : []
}
