// `pnpm mutation:sqlite`: ./stryker.config.mjs on the SQLite adapter only, with
// the conformance suite on SQLite as the only tests (./vitest.sqlite.config.ts).
import base from './stryker.config.mjs'

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  ...base,
  vitest: { ...base.vitest, configFile: 'conformance/mutation/vitest.sqlite.config.ts' },
  mutate: [
    'packages/backend-sqlite/src/sqlite-backend.ts',
    'packages/backend-sqlite/src/schema.ts',
    'packages/backend-sqlite/src/sqlite-wake.ts',
    'packages/backend-sqlite/src/sqlite-wake-file.ts',
    'packages/backend-sqlite/src/semaphore-statements.ts',
    'packages/backend-sqlite/src/list-statements.ts',
  ],
}
