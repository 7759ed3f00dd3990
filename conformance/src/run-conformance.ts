import { cacheCases } from './cache-cases.js'
import { concurrencyCases } from './concurrency-cases.js'
import type { ConformanceOptions } from './conformance-options.js'
import { grantCases } from './grant-cases.js'
import { handleCases } from './handle-cases.js'
import { helperCases } from './helper-cases.js'
import { keyCases } from './key-cases.js'
import { leaderCases } from './leader-cases.js'
import { leaseCases } from './lease-cases.js'
import { lifecycleCases } from './lifecycle-cases.js'
import { listCases } from './list-cases.js'
import { rwlockCases } from './rwlock-cases.js'
import { semaphoreCases } from './semaphore-cases.js'
import { createSuiteContext } from './suite-context.js'
import { waitCases } from './wait-cases.js'

/**
 * Registers the whole conformance suite for one backend with the injected
 * test runner (`describe`, `it`, `expect`, `beforeAll`, `afterAll`).
 *
 * ```ts
 * import { afterAll, beforeAll, describe, expect, it } from 'vitest'
 * runConformance({ name: 'mine', createBackend: () => createMyBackend(), describe, it, expect, beforeAll, afterAll })
 * ```
 */
export function runConformance(options: ConformanceOptions): void {
  options.describe(`${options.name} conformance`, () => {
    const t = createSuiteContext(options)
    leaseCases(t)
    concurrencyCases(t)
    keyCases(t)
    cacheCases(t)
    waitCases(t)
    grantCases(t)
    handleCases(t)
    lifecycleCases(t)
    helperCases(t)
    listCases(t)
    semaphoreCases(t)
    rwlockCases(t)
    leaderCases(t)
  })
}
