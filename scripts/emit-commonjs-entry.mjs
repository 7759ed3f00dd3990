#!/usr/bin/env node
/**
 * Run after `tsc` in a package's build: gives CommonJS callers an entry
 * point without a second copy of the code.
 *
 * - `dist/cjs/index.js` (CommonJS: the folder says so) loads the ES module build with `require()`
 *   (require(esm), Node.js >= 20.19), so `require()` and `import` share one
 *   module instance: no dual-package hazard. On an older Node.js it fails
 *   with a message that says what to do.
 * - `dist/cjs/*.d.ts` are the same declarations in a `"type": "commonjs"`
 *   folder, so TypeScript's CommonJS resolution (`module: node16` ...
 *   `nodenext`) sees CommonJS types for a CommonJS entry.
 *
 * Usage (in a package folder): node ../scripts/emit-commonjs-entry.mjs
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join, relative } from 'node:path'

const dist = join(process.cwd(), 'dist')
const cjs = join(dist, 'cjs')
const { name } = JSON.parse(readFileSync('package.json', 'utf8'))

rmSync(cjs, { recursive: true, force: true })
mkdirSync(cjs, { recursive: true })
writeFileSync(join(cjs, 'package.json'), `${JSON.stringify({ type: 'commonjs' }, null, 2)}\n`)

/** Copies every declaration file (not the maps: they point at the ES build's sources). */
function copyDeclarations(from, to) {
  for (const entry of readdirSync(from, { withFileTypes: true })) {
    const source = join(from, entry.name)
    if (source === cjs) continue
    if (entry.isDirectory()) {
      mkdirSync(join(to, entry.name), { recursive: true })
      copyDeclarations(source, join(to, entry.name))
    } else if (entry.name.endsWith('.d.ts')) {
      const text = readFileSync(source, 'utf8').replace(/\n\/\/# sourceMappingURL=.*\n?$/, '\n')
      writeFileSync(join(to, entry.name), text)
    }
  }
}
copyDeclarations(dist, cjs)

const esm = relative(cjs, join(dist, 'index.js'))
writeFileSync(
  join(cjs, 'index.js'),
  `'use strict'
// CommonJS entry of ${name}: loads the ES module build itself (require(esm)),
// so require() and import share one copy of every class.
try {
  module.exports = require(${JSON.stringify(esm)})
} catch (error) {
  if (error && (error.code === 'ERR_REQUIRE_ESM' || error.code === 'ERR_REQUIRE_ASYNC_MODULE')) {
    throw new Error(
      '${name} is an ES module, and require() cannot load ES modules here (Node.js ' + process.version + '): ' +
        'it needs Node.js >= 20.19 without --no-experimental-require-module. Upgrade Node.js, or load it with import().',
      { cause: error },
    )
  }
  throw error
}
`,
)
