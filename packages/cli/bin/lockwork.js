#!/usr/bin/env node
// The `lockwork` command.
// Installed from npm it runs the built runner (dist/cli.js). In a checkout of
// the lockwork repository (tsconfig.json beside package.json; never published)
// it runs the TypeScript sources through tsx with the `@lockwork/source` export
// condition, so it works before (and without) a build.
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const checkout = existsSync(new URL('../tsconfig.json', import.meta.url))

if (!checkout) {
  await import('../dist/cli.js')
} else {
  const tsx = import.meta.resolve('tsx')
  const cli = fileURLToPath(new URL('../src/cli.ts', import.meta.url))
  const child = spawn(
    process.execPath,
    ['--conditions=@lockwork/source', '--import', tsx, cli, ...process.argv.slice(2)],
    { stdio: 'inherit' },
  )
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal))
  child.on('exit', (code, signal) => {
    process.exitCode = code ?? (signal ? 128 : 1)
  })
}
