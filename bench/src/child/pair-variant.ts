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
import { subscribeCounter } from '../suites/telemetry-subscriber.js'
import type { OwnProcessBackend, OwnProcessTelemetry } from './protocol.js'

/** The id of the plain lockwork row that runs in a process of its own. */
export const OWN_PROCESS_ID = 'lockwork-own-process'
/** The id of the lockwork row with telemetry subscribed (in a process of its own). */
export const OBSERVED_ID = 'lockwork-observed'
/** The id of the lockwork row whose telemetry was subscribed while it warmed up, then unsubscribed (in a process of its own). */
export const UNSUBSCRIBED_ID = 'lockwork-unsubscribed'

/** The row id of each telemetry setting of a child. */
export const OWN_PROCESS_ROW_IDS: Readonly<Record<OwnProcessTelemetry, string>> = {
  none: OWN_PROCESS_ID,
  subscribed: OBSERVED_ID,
  unsubscribed: UNSUBSCRIBED_ID,
}

/** Events an uncontended acquire + release publishes on the OpenTelemetry integration's channels: acquired, released. */
const EVENTS_PER_PAIR = 2

/**
 * How long the unsubscribed row runs unmeasured pairs after its listener
 * leaves, in ms. The last unsubscribe changes the channels' shape, so V8
 * deoptimises the core's publishing functions and compiles them again: a
 * one-time cost (about 65 million instructions on a memory pair, counted with
 * callgrind) that would otherwise land in the first measured slice. The row
 * measures what telemetry costs for good once nobody listens; the one-time
 * recompilation is stated in the README instead.
 */
export const SETTLE_AFTER_UNSUBSCRIBING_MS = 300

/** The one pair variant a child process runs: plain lockwork, observed, or observed and then no longer. */
export interface ChildPairVariant {
  slice(request: SliceRequest): Promise<SliceOutcome>
  /** The latency of each pair of every measured slice so far, in µs (rounded to 0.01). */
  latencyUs(): number[]
  close(): Promise<void>
}

/**
 * Opens lockwork over its own `backend` in this process, with `telemetry`:
 *
 * - `'none'`: nothing ever subscribes.
 * - `'subscribed'`: a listener on every channel the OpenTelemetry integration
 *   listens to, attached once for the life of the process (as an application
 *   does), so the core's hot functions see the channels in one state only.
 * - `'unsubscribed'`: the same listener, attached while the process warms up
 *   (its unmeasured slices publish every event, so V8 compiles the core's
 *   hot functions with telemetry on), and detached before the first measured
 *   slice, which must then publish nothing. After detaching it runs
 *   unmeasured pairs for {@link SETTLE_AFTER_UNSUBSCRIBING_MS}, so V8's
 *   one-time recompilation is not counted as a lasting cost. Compared with
 *   `'none'`, this is telemetry turned off in a process that had it on: the
 *   state in which the core would still pay for telemetry if anything of it outlived the last
 *   subscriber (a channel left active, code compiled for publishing).
 */
export function openChildPairVariant(
  backend: OwnProcessBackend,
  telemetry: OwnProcessTelemetry,
  instance: number,
  sqliteDir: string,
): ChildPairVariant {
  const id = OWN_PROCESS_ROW_IDS[telemetry]
  const lockBackend: LockBackend =
    backend === 'memory'
      ? createMemoryBackend()
      : createSqliteBackend({ path: join(sqliteDir, `${id}-${instance}.sqlite`) })
  const plain: PairVariant = { ...lockworkVariant(createLockwork({ backend: lockBackend })), id }
  const subscriber = telemetry === 'none' ? undefined : subscribeCounter(INSTRUMENTED_CHANNELS)
  const keys: SliceKeys = { samples: new Samples(), next: 0 }
  // Whether the listener is attached: the unsubscribed row detaches it before its first measured
  // slice, for good (later warm-up slices, e.g. the 64-loop section's, must publish nothing either).
  let listening = subscriber !== undefined
  return {
    async slice(request) {
      // Counted from before the settling pairs, which must publish nothing either.
      const before = subscriber?.events ?? 0
      if (telemetry === 'unsubscribed' && request.record && listening) {
        subscriber?.unsubscribe()
        listening = false
        await runSliceHere(plain, keys, { ...request, ms: SETTLE_AFTER_UNSUBSCRIBING_MS, record: false })
      }
      // The very pair function of the plain row: the check that telemetry was (or was not) published is per slice.
      const outcome = await runSliceHere(plain, keys, request)
      const events = (subscriber?.events ?? 0) - before
      const expected = listening ? EVENTS_PER_PAIR * outcome.pairs : 0
      if (subscriber !== undefined && (expected === 0 ? events !== 0 : events < expected)) {
        throw new Error(
          `${id}: ${events} telemetry events for ${outcome.pairs} pairs (expected ${expected === 0 ? 'none' : `${EVENTS_PER_PAIR} a pair`})`,
        )
      }
      return outcome
    },
    latencyUs: () => Array.from(keys.samples.values(), (value) => Math.round(value * 100) / 100),
    close: () => lockBackend.close(),
  }
}
