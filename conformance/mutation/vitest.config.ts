import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'

/**
 * The tests StrykerJS runs against each mutant: the conformance suite alone,
 * on the memory backend (with and without its wake-up) and on SQLite. The
 * backends' own unit tests are left out on purpose: the score measures what
 * the suite catches, not what a backend's authors test themselves.
 */
export default defineConfig({
  root: fileURLToPath(new URL('../..', import.meta.url)),
  resolve: { conditions: ['@lockwork/source'] },
  ssr: { resolve: { conditions: ['@lockwork/source'], externalConditions: ['@lockwork/source'] } },
  test: {
    include: [
      'packages/backend-memory/test/conformance.test.ts',
      'conformance/test/without-wake-up.test.ts',
      'packages/backend-sqlite/test/conformance.test.ts',
    ],
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
})
