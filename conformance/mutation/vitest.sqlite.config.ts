import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'

/**
 * The conformance suite on SQLite alone, for `pnpm mutation:sqlite`. The
 * memory runs of ./vitest.config.ts cannot reach the SQLite adapter's code,
 * but a mutant in code that runs while instances are created (outside any
 * one case) runs every case of the configuration: leaving them out halves
 * the cost of those.
 */
export default defineConfig({
  root: fileURLToPath(new URL('../..', import.meta.url)),
  resolve: { conditions: ['@lockwork/source'] },
  ssr: { resolve: { conditions: ['@lockwork/source'], externalConditions: ['@lockwork/source'] } },
  test: {
    include: ['packages/backend-sqlite/test/conformance.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
})
