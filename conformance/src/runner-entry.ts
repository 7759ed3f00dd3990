/**
 * The test file `lockwork-conformance` points vitest at: it loads the adapter
 * module named by {@link ADAPTER_MODULE_ENV} and registers the whole suite
 * for it with vitest's own `describe`/`it`/`expect`. Not part of the public
 * API; `runConformance` itself never imports vitest.
 */
import { pathToFileURL } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ADAPTER_MODULE_ENV, adapterOptions, SUITE_NAME_ENV } from './adapter-module.js'
import { runConformance } from './run-conformance.js'

const path = process.env[ADAPTER_MODULE_ENV]
if (!path) throw new Error(`${ADAPTER_MODULE_ENV} is not set: run this file through lockwork-conformance`)

const exports = (await import(pathToFileURL(path).href)) as Record<string, unknown>
const adapter = adapterOptions(exports, path)
const name = process.env[SUITE_NAME_ENV] || adapter.name

runConformance({ ...adapter, name, describe, it, expect, beforeAll, afterAll })
