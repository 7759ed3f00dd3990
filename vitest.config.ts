import { defineConfig } from 'vitest/config'

/**
 * One vitest run for the whole monorepo: each package is a project, so
 * `pnpm test` prints a single summary line with the real counts.
 * Tests run from TypeScript source through the `@lockwork/source` export
 * condition, so no build step is needed first.
 */
const source = { conditions: ['@lockwork/source'] }

const project = (name: string, include: string[], extra: { testTimeout?: number } = {}) => ({
  extends: true as const,
  test: { name, include, ...extra },
})

export default defineConfig({
  resolve: source,
  ssr: { resolve: { conditions: ['@lockwork/source'], externalConditions: ['@lockwork/source'] } },
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    reporters: ['default'],
    projects: [
      project('core', ['packages/lock-core/test/**/*.test.ts']),
      project('memory', ['packages/backend-memory/test/**/*.test.ts']),
      project('sqlite', ['packages/backend-sqlite/test/**/*.test.ts']),
      project('redis', ['packages/backend-redis/test/**/*.test.ts']),
      project('postgres', ['packages/backend-postgres/test/**/*.test.ts']),
      project('conformance', ['conformance/test/**/*.test.ts']),
      project('examples', ['examples/*/test/**/*.test.ts']),
      project('reliability', ['reliability/test/**/*.test.ts'], { testTimeout: 120_000 }),
    ],
  },
})
