import { OWN_PROCESS_ROW_IDS } from '../child/pair-variant.js'
import type { OwnProcessBackend, OwnProcessTelemetry } from '../child/protocol.js'
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

/** The own-process rows, in the order they are started and listed. */
const ROWS: readonly { readonly telemetry: OwnProcessTelemetry; readonly label: string }[] = [
  { telemetry: 'none', label: 'lockwork acquire+release, own process' },
  { telemetry: 'subscribed', label: 'lockwork acquire+release, telemetry subscribed (own process)' },
  {
    telemetry: 'unsubscribed',
    label: 'lockwork acquire+release, telemetry subscribed while warming up, then unsubscribed (own process)',
  },
]

/**
 * Adds three rows to `suite`, each run by child processes of its own: plain
 * lockwork; lockwork with a listener on the OpenTelemetry integration's
 * channels attached for each child's whole life; and lockwork whose children
 * had that listener while they warmed up and dropped it before the first
 * measured slice (then ran unmeasured pairs while V8 recompiled). The rows
 * differ in the subscriber only, so the observed row over the plain one is
 * what subscribing costs, and the unsubscribed row over the plain one is
 * what telemetry still costs once nobody listens: in
 * those children V8 compiled the core's hot functions while the channels had
 * a subscriber, and Node turned the channels back into inactive ones, so any
 * cost that outlives the last subscriber (or comes from the core's
 * `hasSubscribers` checks seeing two channel states) shows there. The
 * subscribers stay out of this process, whose rows they would otherwise slow
 * (Node changes a channel's prototype when its first listener comes, which
 * deoptimises the core's functions that publish).
 */
export async function withOwnProcessRows(
  suite: BackendSuite,
  backend: OwnProcessBackend,
  sqliteDir: string,
): Promise<BackendSuite> {
  const rows = ROWS.map((row) => ({
    ...row,
    id: OWN_PROCESS_ROW_IDS[row.telemetry],
    children: [] as Child[],
  }))
  for (let instance = 0; instance < PROCESSES_PER_ROW; instance++) {
    for (const row of rows) row.children.push(new Child(`${backend} ${row.id} #${instance}`))
  }
  const children = rows.flatMap((row) => row.children)
  try {
    // Started and opened in turns (plain, observed, unsubscribed, plain, …), so no row gets the earlier starts.
    for (let instance = 0; instance < PROCESSES_PER_ROW; instance++) {
      for (const row of rows) {
        await row.children[instance]?.call({
          op: 'pairs-open',
          backend,
          telemetry: row.telemetry,
          instance,
          sqliteDir,
        })
      }
    }
  } catch (error) {
    await Promise.all(children.map((child) => child.close()))
    throw error
  }
  // Apart in the list, so that in every rotation each row follows a row of this process, never
  // another row's children: a process woken after a long idle starts slower, alike for all.
  const share = Math.ceil(suite.variants.length / rows.length)
  const variants: PairVariant[] = []
  rows.forEach((row, index) => {
    variants.push(remoteVariant(row.children, row.id, row.label))
    variants.push(...suite.variants.slice(index * share, (index + 1) * share))
  })
  return {
    ...suite,
    variants,
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
