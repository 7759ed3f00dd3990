import { BaseSequencer, type TestSpecification } from 'vitest/node'

/**
 * The longest test files of the two groups that run several files at a time,
 * longest first, as measured in a fresh clone on a 2-core machine (seconds).
 * Vitest orders a group's files by project name, and by cached durations only
 * once a run has left them; in a fresh clone (CI) the longest files of the
 * last projects started late and ran on alone at the end of their group
 * (PostgreSQL's conformance from 34 s to 144 s, SQLite's from 132 s to 177 s,
 * the `every` faults from 359 s to 405 s while the other worker idled).
 * Files not listed follow in vitest's own order.
 */
export const LONGEST_FIRST: readonly string[] = [
  // parallel group
  'packages/backend-postgres/test/conformance.test.ts', // 111
  'packages/backend-redis/test/cluster-node-redis.test.ts', // 57
  'packages/backend-redis/test/cluster.test.ts', // 56
  'packages/backend-etcd/test/conformance.test.ts', // 55
  'packages/backend-redis/test/conformance-node-redis.test.ts', // 53
  'packages/backend-redis/test/conformance.test.ts', // 53
  'packages/backend-redis/test/conformance-iovalkey.test.ts', // 52
  'examples/adapter-mysql/test/conformance-runner.test.ts', // 47
  'packages/backend-memory/test/conformance.test.ts', // 46
  'packages/backend-sqlite/test/conformance.test.ts', // 45
  'conformance/test/without-wake-up.test.ts', // 26
  // waiting group
  'reliability/test/process-faults.test.ts', // 79
  'reliability/test/every-faults.test.ts', // 46
  'packages/cli/test/cli-postgres.test.ts', // 29
  'packages/cli/test/cli-redis.test.ts', // 29
  'packages/cli/test/cli-sqlite.test.ts', // 23
  'reliability/test/lead-faults.test.ts', // 21
  'packages/node-cron/test/node-cron.test.ts', // 18
  'packages/cli/test/etcd.test.ts', // 17
  'reliability/test/postgres-faults.test.ts', // 13
]

/** The file's place in {@link LONGEST_FIRST}, or after every listed file. */
function rank(spec: TestSpecification): number {
  const path = spec.moduleId.replaceAll('\\', '/')
  const index = LONGEST_FIRST.findIndex((file) => path.endsWith(`/${file}`))
  return index === -1 ? LONGEST_FIRST.length : index
}

/**
 * Vitest's sequencer with the listed files moved to the front of their group
 * (groups keep their order: `sequence.groupOrder`). It changes only the order
 * in which a group's workers take files, never how many run at once.
 */
export class LongestFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files)
    return sorted
      .map((spec, index) => ({ spec, index, rank: rank(spec) }))
      .sort(
        (a, b) =>
          a.spec.project.config.sequence.groupOrder - b.spec.project.config.sequence.groupOrder ||
          a.rank - b.rank ||
          a.index - b.index,
      )
      .map(({ spec }) => spec)
  }
}
