import type { LockBackend } from '@lockwork/core'
import type { BackendCapabilities, ConformanceOptions } from './conformance-options.js'

/**
 * What a module given to `lockwork-conformance` exports. Only `createBackend`
 * is required:
 *
 * ```js
 * // my-adapter.mjs
 * export const name = 'mine'                         // optional: shown in the titles
 * export const capabilities = { waitForRelease: false } // optional
 * export function createBackend() {                 // required: a new instance per call
 *   return createMyBackend({ url: process.env.MY_URL })
 * }
 * export async function teardown() {}               // optional: after every instance is closed
 * ```
 */
export interface AdapterModule {
  /**
   * Creates a new backend instance. Each call must return a separate instance
   * (its own connection, where the backend has connections) over the same
   * shared store, as separate processes would have.
   */
  readonly createBackend: () => LockBackend | Promise<LockBackend>
  /** What the backend can do; see {@link BackendCapabilities}. */
  readonly capabilities?: BackendCapabilities
  /** Called once after every case has run and every instance is closed. */
  readonly teardown?: () => Promise<void> | void
  /** The name shown in the test titles. Default: the module's file name. */
  readonly name?: string
}

/** The parts of {@link ConformanceOptions} an adapter module provides. */
export type AdapterOptions = Pick<ConformanceOptions, 'name' | 'createBackend' | 'teardown' | 'capabilities'>

/**
 * Checks a loaded adapter module's exports and turns them into suite options.
 * Accepts named exports, or (as a courtesy) the same fields on a default
 * export. Throws a `TypeError` that names the module and what is wrong.
 */
export function adapterOptions(exports: Record<string, unknown>, from: string): AdapterOptions {
  const fallback = exports.default
  const source: Record<string, unknown> =
    typeof exports.createBackend !== 'function' && isRecord(fallback) ? fallback : exports
  const { createBackend, capabilities, teardown, name } = source
  if (typeof createBackend !== 'function') {
    const found = Object.keys(exports).sort().join(', ') || 'nothing'
    throw new TypeError(
      `${from} must export a function createBackend() that returns a LockBackend (it exports: ${found})`,
    )
  }
  if (capabilities !== undefined && !isRecord(capabilities))
    throw new TypeError(`${from}: the capabilities export must be an object, e.g. { waitForRelease: false }`)
  if (teardown !== undefined && typeof teardown !== 'function')
    throw new TypeError(`${from}: the teardown export must be a function`)
  if (name !== undefined && (typeof name !== 'string' || name === ''))
    throw new TypeError(`${from}: the name export must be a non-empty string`)
  const options: AdapterOptions = {
    name: name ?? baseName(from),
    createBackend: async () => {
      const backend: unknown = await (createBackend as () => unknown)()
      if (!isBackend(backend))
        throw new TypeError(`${from}: createBackend() must return a LockBackend, got ${describe(backend)}`)
      return backend
    },
    ...(capabilities === undefined ? {} : { capabilities: capabilities as BackendCapabilities }),
    ...(teardown === undefined ? {} : { teardown: teardown as () => Promise<void> | void }),
  }
  return options
}

const METHODS = ['acquire', 'extend', 'release', 'peek', 'getCached', 'setCached', 'deleteCached', 'close']

function isBackend(value: unknown): value is LockBackend {
  return isRecord(value) && METHODS.every((method) => typeof value[method] === 'function')
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return (typeof value === 'object' || typeof value === 'function') && value !== null
}

function describe(value: unknown): string {
  if (!isRecord(value)) return String(value)
  const missing = METHODS.filter((method) => typeof value[method] !== 'function')
  return `an object without ${missing.join(', ')}`
}

function baseName(path: string): string {
  const file = path.split(/[\\/]/).pop() ?? path
  return file.replace(/\.[cm]?[jt]s$/, '') || path
}

/** The environment variable that tells the runner's test entry which adapter module to load (an absolute path). */
export const ADAPTER_MODULE_ENV = 'LOCKWORK_CONFORMANCE_ADAPTER'

/** The environment variable that overrides the suite name (`--name`). */
export const SUITE_NAME_ENV = 'LOCKWORK_CONFORMANCE_NAME'
