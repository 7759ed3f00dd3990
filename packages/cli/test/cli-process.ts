import { type ChildProcess, spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url))
const cliSource = fileURLToPath(new URL('../src/cli.ts', import.meta.url))
const cliBin = fileURLToPath(new URL('../bin/lockwork.js', import.meta.url))
const workerSource = fileURLToPath(new URL('./worker-process.ts', import.meta.url))

/** How a run of the command line ended. */
export interface CliExit {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

/** A running `lockwork` process. */
export interface CliProcess {
  readonly child: ChildProcess
  /** Everything written to stdout so far. */
  stdout(): string
  readonly exited: Promise<CliExit>
}

/**
 * Starts the `lockwork` command as its own Node.js process, from the
 * TypeScript source (`--import tsx`, `--conditions=@lockwork/source`), with
 * the repository root as working directory and stdin not a terminal.
 */
export function startCli(args: readonly string[], env: NodeJS.ProcessEnv = {}): CliProcess {
  return startNode(['--import', 'tsx', '--conditions=@lockwork/source', cliSource, ...args], env)
}

/** Runs the `lockwork` executable itself (`bin/lockwork.js`, as npm links it) to the end. */
export function runBin(args: readonly string[]): Promise<CliExit> {
  return startNode([cliBin, ...args]).exited
}

/** Starts the stand-in application process of `worker-process.ts` on the store of `spec` (JSON). */
export function startWorker(spec: string): CliProcess {
  return startNode(['--import', 'tsx', '--conditions=@lockwork/source', workerSource, spec])
}

/** Starts `node` with `args`, its output collected. */
function startNode(args: readonly string[], env: NodeJS.ProcessEnv = {}): CliProcess {
  const child = spawn(process.execPath, args, {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  })
  let stdout = ''
  let stderr = ''
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk
  })
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk
  })
  const exited = new Promise<CliExit>((resolve) => {
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }))
  })
  return { child, stdout: () => stdout, exited }
}

/** Runs `lockwork` to the end. */
export function runCli(args: readonly string[], env?: NodeJS.ProcessEnv): Promise<CliExit> {
  return startCli(args, env).exited
}

/** Polls `check` every 50 ms until it returns true; fails after `timeoutMs`. */
export async function until(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}
