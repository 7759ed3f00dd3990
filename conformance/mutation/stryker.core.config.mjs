// `pnpm mutation:core`: ./stryker.config.mjs on the core's waiting and lock
// handle only, with the conformance suite on the memory backend (with and
// without its wake-up) as the tests (./vitest.core.config.ts).
import base from './stryker.config.mjs'

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  ...base,
  vitest: { ...base.vitest, configFile: 'conformance/mutation/vitest.core.config.ts' },
  mutate: ['packages/lock-core/src/wait.ts', 'packages/lock-core/src/lock.ts'],
}
