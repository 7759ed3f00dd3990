import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'

/**
 * The conformance suite on the memory backend, with and without its
 * wake-up, for `pnpm mutation:core`: the core's waiting and lock handle are
 * the same code over any backend, and the memory runs reach both of its
 * waiting paths (wake-up and backoff) in a fraction of the SQLite run's time.
 */
export default defineConfig({
  root: fileURLToPath(new URL('../..', import.meta.url)),
  resolve: { conditions: ['@lockwork/source'] },
  ssr: { resolve: { conditions: ['@lockwork/source'], externalConditions: ['@lockwork/source'] } },
  test: {
    include: ['packages/backend-memory/test/conformance.test.ts', 'conformance/test/without-wake-up.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
})
