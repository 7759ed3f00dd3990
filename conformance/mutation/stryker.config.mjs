// StrykerJS configuration for `pnpm mutation`: mutates the memory and SQLite
// adapters and the core's waiting and lock handle, and lets only the
// conformance suite (./vitest.config.ts) try to kill each mutant.
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  packageManager: 'pnpm',
  plugins: [
    '@stryker-mutator/vitest-runner',
    '@stryker-mutator/typescript-checker',
    './conformance/mutation/out-of-reach.mjs',
  ],
  // Code the suite cannot reach through the contract is not mutated (see out-of-reach.mjs).
  ignorers: ['out-of-reach'],
  testRunner: 'vitest',
  vitest: { configFile: 'conformance/mutation/vitest.config.ts', related: false },
  checkers: ['typescript'],
  tsconfigFile: 'conformance/mutation/tsconfig.json',
  typescriptChecker: { prioritizePerformanceOverAccuracy: true },
  coverageAnalysis: 'perTest',
  mutate: [
    'packages/backend-memory/src/memory-backend.ts',
    'packages/backend-memory/src/memory-store.ts',
    'packages/backend-memory/src/memory-semaphores.ts',
    'packages/backend-memory/src/memory-list.ts',
    'packages/backend-sqlite/src/sqlite-backend.ts',
    'packages/backend-sqlite/src/schema.ts',
    'packages/backend-sqlite/src/sqlite-wake.ts',
    'packages/backend-sqlite/src/sqlite-wake-file.ts',
    'packages/backend-sqlite/src/semaphore-statements.ts',
    'packages/backend-sqlite/src/list-statements.ts',
    'packages/lock-core/src/wait.ts',
    'packages/lock-core/src/lock.ts',
  ],
  // The workspace resolves its packages through symlinks: mutate in place
  // rather than in a copied sandbox. Stryker restores every file when it ends.
  inPlace: true,
  // Leave every other file as it is (Stryker would otherwise add `// @ts-nocheck` to test files in place).
  disableTypeChecks: false,
  // The machine is small and the suite waits on real timers: few workers, generous timeouts.
  concurrency: 2,
  timeoutMS: 20_000,
  timeoutFactor: 2,
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/index.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  clearTextReporter: { reportMutants: false, reportScoreTable: true },
  tempDirName: 'reports/mutation/.stryker-tmp',
  cleanTempDir: 'always',
}
