/** The demo's scenarios. */
export type Scenario = 'shot' | 'check' | 'price' | 'export' | 'sessions'

/**
 * What a worker tells the primary over the cluster IPC channel. Runs are
 * counted from these reports, not from the locks themselves, so the count
 * is an independent witness of what the helpers let through.
 */
export type WorkerMessage =
  | { readonly type: 'ready'; readonly worker: number; readonly port: number }
  | {
      readonly type: 'run'
      readonly phase: 'start' | 'end'
      readonly scenario: Scenario
      /** The screenshot id, order id, symbol, export id, or tick time. */
      readonly key: string
      /** Unique per run: `<worker>.<sequence>`. */
      readonly run: string
      readonly worker: number
      /** `Date.now()` in the worker (one machine, one clock). */
      readonly at: number
    }
  | { readonly type: 'log'; readonly worker: number; readonly text: string }
  | { readonly type: 'stopped'; readonly worker: number }

/** What the primary tells a worker. */
export type PrimaryMessage = { readonly type: 'every-start' } | { readonly type: 'shutdown' }

/** Narrows an IPC payload to a {@link WorkerMessage}. */
export function isWorkerMessage(value: unknown): value is WorkerMessage {
  return typeof value === 'object' && value !== null && 'type' in value && 'worker' in value
}

/** Narrows an IPC payload to a {@link PrimaryMessage}. */
export function isPrimaryMessage(value: unknown): value is PrimaryMessage {
  return (
    typeof value === 'object' &&
    value !== null &&
    'type' in value &&
    (value.type === 'every-start' || value.type === 'shutdown')
  )
}
