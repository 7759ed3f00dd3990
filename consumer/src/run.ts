import { spawn } from 'node:child_process'

/** How a command ended. */
export interface RunResult {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
  readonly ms: number
}

/** Options of {@link run}. */
export interface RunOptions {
  readonly cwd: string
  readonly env?: NodeJS.ProcessEnv
  /** Killed (SIGKILL) after this long. Default 120 s. */
  readonly timeoutMs?: number
}

/** Runs a command to its end and collects its output; never rejects for a non-zero exit. */
export function run(command: string, args: readonly string[], options: RunOptions): Promise<RunResult> {
  const env: NodeJS.ProcessEnv = { ...process.env, ...options.env }
  // A nested vitest or npm must not think it runs inside this test run.
  for (const name of Object.keys(env)) {
    if (name.startsWith('VITEST') || name === 'TEST' || name.startsWith('npm_')) delete env[name]
  }
  const started = performance.now()
  return new Promise((resolve, reject) => {
    const child = spawn(command, [...args], { cwd: options.cwd, env, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString()
    })
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString()
    })
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000)
    child.on('error', (error) => {
      clearTimeout(timer)
      reject(error)
    })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr, ms: performance.now() - started })
    })
  })
}

/** Runs a command and throws with its output unless it exits 0. */
export async function runOk(
  command: string,
  args: readonly string[],
  options: RunOptions,
): Promise<RunResult> {
  const result = await run(command, args, options)
  if (result.code !== 0) {
    throw new Error(
      `${command} ${args.join(' ')} (in ${options.cwd}) exited ${result.code ?? result.signal}:\n${result.stdout}\n${result.stderr}`,
    )
  }
  return result
}
