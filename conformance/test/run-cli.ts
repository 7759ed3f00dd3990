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

/** The published command's entry, as `pnpm exec` and `npx` start it. */
export const BIN = fileURLToPath(new URL('../bin/lockwork-conformance.js', import.meta.url))

/** How {@link runCli} starts the runner. */
export interface RunCliOptions {
  readonly cwd?: string
  /** Environment variables on top of this process's (`undefined` removes one). Default: colour off. */
  readonly env?: Readonly<Record<string, string | undefined>>
  /** The command line before the runner's arguments. Default: node with tsx on the source. */
  readonly command?: readonly string[]
}

/**
 * Spawns `lockwork-conformance` from source with `args`. vitest's own
 * environment variables are dropped so the nested vitest starts fresh.
 */
export function runCli(args: readonly string[], options: RunCliOptions = {}): Promise<CliRun> {
  const env: NodeJS.ProcessEnv = { ...process.env }
  for (const [name, value] of Object.entries(options.env ?? { NO_COLOR: '1', FORCE_COLOR: '0' })) {
    if (value === undefined) delete env[name]
    else env[name] = value
  }
  for (const name of Object.keys(env)) if (name.startsWith('VITEST') || name === 'TEST') delete env[name]
  const [command, ...prefix] = options.command ?? [
    process.execPath,
    '--import',
    'tsx',
    '--conditions=@lockwork/source',
    CLI,
  ]
  return new Promise((resolve, reject) => {
    const child = spawn(command!, [...prefix, ...args], {
      cwd: options.cwd ?? process.cwd(),
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
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
