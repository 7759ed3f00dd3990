import { defineConfig } from 'vitest/config'

/**
 * One vitest run for the whole monorepo: each package is a project, so
 * `pnpm test` prints a single summary line with the real counts.
 * Tests run from TypeScript source through the `@lockwork/source` export
 * condition, so no build step is needed first.
 *
 * Two groups, one after the other:
 * 1. files that mostly wait on timers and servers run 3 at a time;
 * 2. files that spawn processes and measure them (contention fuzz, SIGKILL and
 *    SIGSTOP faults, event-loop delay, the demo's cluster, the nested runner)
 *    run one at a time, so they never compete with each other for the CPU.
 */
const source = { conditions: ['@lockwork/source'] }

/** Test files that spawn and measure processes: the sequential group. */
const PROCESS_HEAVY = [
  'packages/backend-sqlite/test/multi-process.test.ts',
  'conformance/test/runner.test.ts',
  'conformance/test/broken-adapters.test.ts',
  'examples/webapp/test/demo.test.ts',
  'examples/recipes-express/test/recipes.test.ts',
  'examples/recipes-fastify/test/recipes.test.ts',
  'examples/recipes-nestjs/test/recipes.test.ts',
  'examples/recipes-bullmq/test/recipes.test.ts',
  'examples/recipes-shutdown/test/recipes.test.ts',
  'consumer/test/consumer.test.ts',
  'packages/node-cron/test/node-cron.test.ts',
]

interface ProjectOptions {
  readonly testTimeout?: number
  readonly sequential?: boolean
}

const project = (name: string, include: string[], options: ProjectOptions = {}) => {
  const sequential = options.sequential ?? false
  return {
    extends: true as const,
    test: {
      name,
      include,
      exclude: sequential ? [] : PROCESS_HEAVY,
      maxWorkers: sequential ? 1 : 3,
      sequence: { groupOrder: sequential ? 1 : 0 },
      ...(options.testTimeout === undefined ? {} : { testTimeout: options.testTimeout }),
    },
  }
}

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
      project('sqlite-processes', ['packages/backend-sqlite/test/multi-process.test.ts'], {
        sequential: true,
      }),
      // Runs node-cron replicas as child processes on one SQLite file.
      project('node-cron', ['packages/node-cron/test/**/*.test.ts'], { sequential: true }),
      project('redis', ['packages/backend-redis/test/**/*.test.ts']),
      project('postgres', ['packages/backend-postgres/test/**/*.test.ts']),
      project('etcd', ['packages/backend-etcd/test/**/*.test.ts']),
      project('opentelemetry', ['packages/opentelemetry/test/**/*.test.ts']),
      // Runs the lockwork command as child processes against SQLite, Redis and PostgreSQL.
      project('cli', ['packages/cli/test/**/*.test.ts'], { sequential: true }),
      project('conformance', ['conformance/test/**/*.test.ts']),
      project(
        'conformance-processes',
        ['conformance/test/runner.test.ts', 'conformance/test/broken-adapters.test.ts'],
        { sequential: true },
      ),
      project('examples', ['examples/*/test/**/*.test.ts']),
      project(
        'examples-processes',
        [
          'examples/webapp/test/demo.test.ts',
          'examples/recipes-express/test/recipes.test.ts',
          'examples/recipes-fastify/test/recipes.test.ts',
          'examples/recipes-nestjs/test/recipes.test.ts',
          'examples/recipes-bullmq/test/recipes.test.ts',
          'examples/recipes-shutdown/test/recipes.test.ts',
        ],
        { sequential: true },
      ),
      project('reliability', ['reliability/test/**/*.test.ts'], { testTimeout: 120_000, sequential: true }),
      // Packs, npm-installs and runs the packages in an app outside the workspace (about 2-4 min).
      project('consumer', ['consumer/test/**/*.test.ts'], { testTimeout: 300_000, sequential: true }),
    ],
  },
})
