import { subscribe, unsubscribe } from 'node:diagnostics_channel'

/** A listener on some diagnostics channels, and how many messages it got. */
export interface TelemetrySubscriber {
  /** Messages received so far. */
  readonly events: number
  /** Takes the listener off every channel (the channels go back to having no subscriber). Idempotent. */
  unsubscribe(): void
}

/**
 * Subscribes one listener to `channels`, until {@link TelemetrySubscriber.unsubscribe}.
 * It only counts: the core builds and publishes every message as it would
 * for any subscriber, and the benchmark measures what that costs the caller
 * (what a subscriber then does with a message is its own cost).
 */
export function subscribeCounter(channels: readonly string[]): TelemetrySubscriber {
  let subscribed = true
  const state = {
    events: 0,
    unsubscribe(): void {
      if (!subscribed) return
      subscribed = false
      for (const name of channels) unsubscribe(name, listener)
    },
  }
  const listener = (): void => {
    state.events++
  }
  for (const name of channels) subscribe(name, listener)
  return state
}
