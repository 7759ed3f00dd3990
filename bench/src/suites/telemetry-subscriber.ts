import { subscribe } from 'node:diagnostics_channel'

/** A listener on some diagnostics channels, and how many messages it got. */
export interface TelemetrySubscriber {
  /** Messages received so far. */
  readonly events: number
}

/**
 * Subscribes one listener to `channels` for the rest of the process's life.
 * It only counts: the core builds and publishes every message as it would
 * for any subscriber, and the benchmark measures what that costs the caller
 * (what a subscriber then does with a message is its own cost).
 */
export function subscribeForLife(channels: readonly string[]): TelemetrySubscriber {
  const state = { events: 0 }
  const listener = (): void => {
    state.events++
  }
  for (const name of channels) subscribe(name, listener)
  return state
}
