import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

/** The runner's source, run the way a workspace runs it: tsx, with the source export condition. */
export const CLI = fileURLToPath(new URL('../src/cli.ts', import.meta.url))

/** A fixture module's absolute path. */
export const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url))

/** What one run of the runner printed and how it exited. */
export interface CliRun {
  readonly code: number | null
  /** stdout and stderr, interleaved, without colours. */
  readonly output: string
}

/**
 * Spawns `lockwork-conformance` from source with `args`. vitest's own
 * environment variables are dropped so the nested vitest starts fresh.
 */
export function runCli(args: readonly string[], cwd = process.cwd()): Promise<CliRun> {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' }
  for (const name of Object.keys(env)) if (name.startsWith('VITEST') || name === 'TEST') delete env[name]
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--conditions=@lockwork/source', CLI, ...args],
      {
        cwd,
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString()
    })
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString()
    })
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, output }))
  })
}
