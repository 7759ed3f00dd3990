import { join } from 'node:path'
import { createLockwork, type LockBackend } from '@lockwork/core'
import { createMemoryBackend } from '@lockwork/memory'
import { INSTRUMENTED_CHANNELS } from '@lockwork/opentelemetry'
import { createSqliteBackend } from '@lockwork/sqlite'
import {
  type PairVariant,
  runSliceHere,
  type SliceKeys,
  type SliceOutcome,
  type SliceRequest,
} from '../pairs.js'
import { Samples } from '../stats.js'
import { lockworkVariant } from '../suites/common.js'
import { subscribeForLife } from '../suites/telemetry-subscriber.js'
import type { OwnProcessBackend } from './protocol.js'

/** The id of the plain lockwork row that runs in a process of its own. */
export const OWN_PROCESS_ID = 'lockwork-own-process'
/** The id of the lockwork row with telemetry subscribed (in a process of its own). */
export const OBSERVED_ID = 'lockwork-observed'

/** Events an uncontended acquire + release publishes on the OpenTelemetry integration's channels: acquired, released. */
const EVENTS_PER_PAIR = 2

/** The one pair variant a child process runs: plain lockwork, observed or not. */
export interface ChildPairVariant {
  slice(request: SliceRequest): Promise<SliceOutcome>
  /** The latency of each pair of every measured slice so far, in µs (rounded to 0.01). */
  latencyUs(): number[]
  close(): Promise<void>
}

/**
 * Opens lockwork over its own `backend` in this process; with `observed`,
 * subscribes to every channel the OpenTelemetry integration listens to, once,
 * for the life of the process (as an application does), so the core's hot
 * functions see the channels in one state only.
 */
export function openChildPairVariant(
  backend: OwnProcessBackend,
  observed: boolean,
  instance: number,
  sqliteDir: string,
): ChildPairVariant {
  const lockBackend: LockBackend =
    backend === 'memory'
      ? createMemoryBackend()
      : createSqliteBackend({
          path: join(sqliteDir, `${observed ? 'observed' : 'own-process'}-${instance}.sqlite`),
        })
  const plain: PairVariant = {
    ...lockworkVariant(createLockwork({ backend: lockBackend })),
    id: observed ? OBSERVED_ID : OWN_PROCESS_ID,
  }
  const subscriber = observed ? subscribeForLife(INSTRUMENTED_CHANNELS) : undefined
  const keys: SliceKeys = { samples: new Samples(), next: 0 }
  return {
    async slice(request) {
      const before = subscriber?.events ?? 0
      // The very pair function of the plain row: the check that telemetry was published is per slice.
      const outcome = await runSliceHere(plain, keys, request)
      if (subscriber !== undefined && subscriber.events - before < EVENTS_PER_PAIR * outcome.pairs) {
        throw new Error(
          `${OBSERVED_ID}: ${subscriber.events - before} telemetry events for ${outcome.pairs} pairs (expected ${EVENTS_PER_PAIR} a pair)`,
        )
      }
      return outcome
    },
    latencyUs: () => Array.from(keys.samples.values(), (value) => Math.round(value * 100) / 100),
    close: () => lockBackend.close(),
  }
}
