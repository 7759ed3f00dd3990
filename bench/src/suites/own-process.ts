import { OBSERVED_ID, OWN_PROCESS_ID } from '../child/pair-variant.js'
import type { OwnProcessBackend } from '../child/protocol.js'
import { Child } from '../children.js'
import type { BackendSuite, PairVariant, SliceOutcome } from '../pairs.js'
import { summarize } from '../stats.js'

/**
 * Child processes per own-process row. Two processes running the same code
 * can differ by ±10 % in CPU time per pair for their whole life (V8 compiles
 * the hot functions differently depending on when it got to them), so each
 * row is the sum of several processes, each running a share of the slice.
 */
export const PROCESSES_PER_ROW = 3

/**
 * Adds two rows to `suite`, each run by child processes of its own: plain
 * lockwork, and lockwork with a listener on the OpenTelemetry integration's
 * channels attached for each child's whole life. The two rows differ in the
 * subscriber only, so their ratio is what subscribing costs; the subscriber
 * stays out of this process, whose rows it would otherwise slow (Node changes
 * a channel's prototype when its first listener comes, which deoptimises the
 * core's functions that publish).
 */
export async function withOwnProcessRows(
  suite: BackendSuite,
  backend: OwnProcessBackend,
  sqliteDir: string,
): Promise<BackendSuite> {
  // Started and opened in turns (plain, observed, plain, …), so neither row gets the earlier starts.
  const plain: Child[] = []
  const observed: Child[] = []
  for (let instance = 0; instance < PROCESSES_PER_ROW; instance++) {
    plain.push(new Child(`${backend} ${OWN_PROCESS_ID} #${instance}`))
    observed.push(new Child(`${backend} ${OBSERVED_ID} #${instance}`))
  }
  const children = [...plain, ...observed]
  try {
    for (let instance = 0; instance < PROCESSES_PER_ROW; instance++) {
      await plain[instance]?.call({ op: 'pairs-open', backend, observed: false, instance, sqliteDir })
      await observed[instance]?.call({ op: 'pairs-open', backend, observed: true, instance, sqliteDir })
    }
  } catch (error) {
    await Promise.all(children.map((child) => child.close()))
    throw error
  }
  // Apart in the list, so that in every rotation each row follows a row of this process, never the
  // other one's children: a process woken after a long idle starts slower, alike for both.
  const half = Math.ceil(suite.variants.length / 2)
  return {
    ...suite,
    variants: [
      remoteVariant(plain, OWN_PROCESS_ID, 'lockwork acquire+release, own process'),
      ...suite.variants.slice(0, half),
      remoteVariant(observed, OBSERVED_ID, 'lockwork acquire+release, telemetry subscribed (own process)'),
      ...suite.variants.slice(half),
    ],
    async close() {
      await Promise.all([suite.close(), ...children.map((child) => child.close())])
    },
  }
}

/** A row run by `children` one after another, each for its share of a measured slice (all of a warm-up one). */
function remoteVariant(children: readonly Child[], id: string, label: string): PairVariant {
  return {
    id,
    label,
    role: 'ours',
    pair() {
      return Promise.reject(new Error(`${id} runs in child processes, slice by slice`))
    },
    remote: {
      async slice(request) {
        const ms = request.record ? request.ms / children.length : request.ms
        let total: SliceOutcome = { pairs: 0, elapsedMs: 0, cpuMs: 0 }
        for (const child of children) {
          const reply = await child.call({ op: 'pairs-slice', request: { ...request, ms } })
          if (reply.slice === undefined) throw new Error(`${id}: the child sent no slice figures`)
          total = {
            pairs: total.pairs + reply.slice.pairs,
            elapsedMs: total.elapsedMs + reply.slice.elapsedMs,
            cpuMs: total.cpuMs + reply.slice.cpuMs,
          }
        }
        return request.record ? total : { ...total, cpuMs: total.cpuMs / children.length }
      },
      async latency() {
        const samples: number[] = []
        for (const child of children) {
          const reply = await child.call({ op: 'pairs-latency' })
          if (reply.latencyUs === undefined) throw new Error(`${id}: the child sent no latencies`)
          for (const value of reply.latencyUs) samples.push(value)
        }
        return summarize(samples)
      },
    },
  }
}
