import { defineConfig } from 'vitest/config'
import { LongestFirstSequencer } from './vitest.sequencer.js'

/**
 * One vitest run for the whole monorepo: each package is a project, so
 * `pnpm test` prints a single summary line with the real counts.
 * Tests run from TypeScript source through the `@lockwork/source` export
 * condition, so no build step is needed first.
 *
 * Three groups, one after the other (vitest runs the projects of one group
 * together, with one worker count):
 * 1. `parallel`: files that mostly wait on timers and servers, 5 at a time
 *    (they keep the CPU about 80 % idle: 65 s of CPU in a 166 s run of the group);
 * 2. `waiting`: files that spawn processes but spend their time waiting (for
 *    a ttl to run out, a tick, a signal), with margins of a second or more,
 *    2 at a time;
 * 3. `alone`: files that load the CPU or measure it (contention fuzz, the
 *    2,000-waiter crowd, event-loop delay, the etcd cluster's failover bound,
 *    the demo's cluster, npm installs of the packed packages), one at a time,
 *    so they never compete with each other for the CPU.
 *
 * Within the first two groups the longest files start first
 * (vitest.sequencer.ts), so no long file runs on alone at a group's end.
 */
const source = { conditions: ['@lockwork/source'] }

/** Test files that spawn processes but mostly wait: the second group. */
const WAITING = [
  'packages/node-cron/test/node-cron.test.ts',
  'examples/recipes-express/test/recipes.test.ts',
  'examples/recipes-fastify/test/recipes.test.ts',
  'examples/recipes-nestjs/test/recipes.test.ts',
  'examples/recipes-bullmq/test/recipes.test.ts',
  'examples/recipes-shutdown/test/recipes.test.ts',
]

/** Test files that load or measure the CPU: the last group, one file at a time. */
const ALONE = [
  'packages/backend-sqlite/test/multi-process.test.ts',
  'conformance/test/runner.test.ts',
  'conformance/test/broken-adapters.test.ts',
  'examples/webapp/test/demo.test.ts',
  'consumer/test/consumer.test.ts',
  'reliability/test/fuzz.test.ts',
  'reliability/test/semaphore-fuzz.test.ts',
  'reliability/test/crowd.test.ts',
  'reliability/test/slow-acquire.test.ts',
  'reliability/test/etcd-faults.test.ts',
]

/** How a project's files share the machine: see the groups above. */
type Concurrency = 'parallel' | 'waiting' | 'alone'

const GROUPS: Record<Concurrency, { readonly order: number; readonly workers: number }> = {
  parallel: { order: 0, workers: 5 },
  waiting: { order: 1, workers: 2 },
  alone: { order: 2, workers: 1 },
}

interface ProjectOptions {
  readonly testTimeout?: number
  readonly concurrency?: Concurrency
}

const project = (name: string, include: string[], options: ProjectOptions = {}) => {
  const group = GROUPS[options.concurrency ?? 'parallel']
  return {
    extends: true as const,
    test: {
      name,
      include,
      // A file listed for a later group runs there only.
      exclude: [
        ...(options.concurrency === 'waiting' ? [] : WAITING),
        ...(options.concurrency === 'alone' ? [] : ALONE),
      ],
      maxWorkers: group.workers,
      sequence: { groupOrder: group.order },
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
    // The longest files of a group start first, so none runs on alone at the group's end.
    sequence: { sequencer: LongestFirstSequencer },
    projects: [
      project('core', ['packages/lock-core/test/**/*.test.ts']),
      project('memory', ['packages/backend-memory/test/**/*.test.ts']),
      project('sqlite', ['packages/backend-sqlite/test/**/*.test.ts']),
      project('sqlite-processes', ['packages/backend-sqlite/test/multi-process.test.ts'], {
        concurrency: 'alone',
      }),
      // Runs node-cron replicas as child processes on one SQLite file.
      project('node-cron', ['packages/node-cron/test/**/*.test.ts'], { concurrency: 'waiting' }),
      project('redis', ['packages/backend-redis/test/**/*.test.ts']),
      project('postgres', ['packages/backend-postgres/test/**/*.test.ts']),
      project('etcd', ['packages/backend-etcd/test/**/*.test.ts']),
      project('opentelemetry', ['packages/opentelemetry/test/**/*.test.ts']),
      // Runs the lockwork command as child processes against SQLite, Redis and PostgreSQL, one file per
      // store (cli-<store>.test.ts), so the stores' cases run side by side rather than one after another.
      project('cli', ['packages/cli/test/**/*.test.ts'], { concurrency: 'waiting' }),
      project('conformance', ['conformance/test/**/*.test.ts']),
      project(
        'conformance-processes',
        ['conformance/test/runner.test.ts', 'conformance/test/broken-adapters.test.ts'],
        { concurrency: 'alone' },
      ),
      project('examples', ['examples/*/test/**/*.test.ts']),
      // Each recipe starts its app as several processes.
      project('recipes', ['examples/recipes-*/test/recipes.test.ts'], { concurrency: 'waiting' }),
      project('demo', ['examples/webapp/test/demo.test.ts'], { concurrency: 'alone' }),
      project('reliability', ['reliability/test/**/*.test.ts'], {
        testTimeout: 120_000,
        concurrency: 'waiting',
      }),
      project(
        'reliability-alone',
        ALONE.filter((file) => file.startsWith('reliability/')),
        {
          testTimeout: 120_000,
          concurrency: 'alone',
        },
      ),
      // Packs, npm-installs and runs the packages in an app outside the workspace (about 2-4 min).
      project('consumer', ['consumer/test/**/*.test.ts'], { testTimeout: 300_000, concurrency: 'alone' }),
    ],
  },
})
