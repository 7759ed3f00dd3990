#!/usr/bin/env node
/**
 * `pnpm typecheck`: type-checks every workspace project that has a
 * `typecheck` script (its `tsconfig.json`: sources, tests, examples) with
 * TypeScript 7, the native compiler, two projects at a time.
 *
 * The compiler is this folder's own dependency, so the workspace's `tsc`
 * stays TypeScript 5.9: `pnpm build` still compiles every package's sources
 * with 5.9, and the consumer test type-checks the packed declarations and
 * every documented code block with both 5.9 and 7. TypeScript 7 checks the
 * same projects about six times faster than 5.9 here. Each package's own
 * `typecheck` script (`pnpm -r run typecheck`) still runs 5.9.
 *
 * Usage: node tools/typecheck/typecheck.mjs  (exit 1 when any project has errors)
 */
import { spawn } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const root = join(here, '..', '..')
const tsc = join(dirname(createRequire(import.meta.url).resolve('typescript/package.json')), 'bin', 'tsc')

/** The workspace's folders, from the `packages:` globs of pnpm-workspace.yaml (each `dir/*` or `dir`). */
function workspaceFolders() {
  const yaml = readFileSync(join(root, 'pnpm-workspace.yaml'), 'utf8')
  // The list under `packages:`, up to the next top-level key (other keys hold lists of package names).
  const block = /^packages:\n((?:[ \t]+.*\n|[ \t]*#.*\n|\n)*)/m.exec(yaml)?.[1] ?? ''
  const globs = [...block.matchAll(/^\s+-\s+(\S+)\s*$/gm)].map((match) => match[1])
  const folders = []
  for (const glob of globs) {
    if (glob.endsWith('/*')) {
      const parent = join(root, glob.slice(0, -2))
      if (!existsSync(parent)) continue
      for (const entry of readdirSync(parent, { withFileTypes: true })) {
        if (entry.isDirectory()) folders.push(join(parent, entry.name))
      }
    } else {
      folders.push(join(root, glob))
    }
  }
  return folders.filter((folder) => {
    const manifest = join(folder, 'package.json')
    if (!existsSync(manifest) || !existsSync(join(folder, 'tsconfig.json'))) return false
    return typeof JSON.parse(readFileSync(manifest, 'utf8')).scripts?.typecheck === 'string'
  })
}

/** Runs TypeScript 7 on one project; resolves with its exit code and output. */
function check(folder) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [tsc, '-p', 'tsconfig.json', '--noEmit', '--pretty', 'false'], {
      cwd: folder,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    child.stdout.on('data', (chunk) => {
      output += chunk
    })
    child.stderr.on('data', (chunk) => {
      output += chunk
    })
    child.on('error', (error) => resolve({ code: 1, output: `${output}${error.message}\n` }))
    child.on('close', (code, signal) =>
      resolve({ code: code ?? 1, output: signal ? `${output}killed by ${signal}\n` : output }),
    )
  })
}

const folders = workspaceFolders()
const started = performance.now()
const failed = []
let next = 0
async function worker() {
  while (next < folders.length) {
    const folder = folders[next++]
    const name = relative(root, folder)
    const { code, output } = await check(folder)
    if (code === 0) {
      console.log(`typecheck: ${name} ok`)
    } else {
      failed.push(name)
      console.error(`typecheck: ${name} failed (exit ${code})\n${output}`)
    }
  }
}
await Promise.all([worker(), worker()])
const seconds = ((performance.now() - started) / 1000).toFixed(1)
if (folders.length === 0) {
  console.error('typecheck: no workspace project with a typecheck script was found')
  process.exit(1)
}
if (failed.length > 0) {
  console.error(
    `typecheck: ${failed.length} of ${folders.length} projects failed with TypeScript 7: ${failed.join(', ')}`,
  )
  process.exit(1)
}
console.log(`typecheck: ${folders.length} projects passed with TypeScript 7 in ${seconds} s`)
