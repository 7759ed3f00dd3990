import type { ContenderInfo } from './child/protocol.js'
import type { Child } from './children.js'
import { sleep } from './clock.js'
import { type Summary, summarize } from './stats.js'

/** How long the waiter sits parked before the holder releases, in ms (plus up to {@link PARK_JITTER_MS}). */
export const PARK_MS = 20
/** Random extra park time, so a polling peer's phase is random relative to the release. */
export const PARK_JITTER_MS = 10

/** The hand-off figures of one contender. */
export interface HandoffFigures extends ContenderInfo {
  /** Release → next holder's acquire resolved, in µs. */
  readonly latencyUs: Summary
  /** p50 divided by the backend's wake floor's p50 (lower is better; NaN without a floor). */
  ratioToFloor: number
  /** p50 divided by the backend's raw lock hand-off p50 (NaN without one). */
  ratioToRawLock: number
}

/** Options of {@link runHandoffs}. */
export interface HandoffOptions {
  readonly keyPrefix: string
  /** Hand-offs per contender in total. */
  readonly handoffs: number
  /** Hand-offs per contender per interleaved round. */
  readonly perRound: number
  readonly onRound?: (round: number, rounds: number) => void
}

/**
 * Measures contended hand-off between two processes. For each contender,
 * one child holds the key while the other calls acquire (it waits); after
 * the waiter has been parked for 20–30 ms the holder releases. The latency is
 * the waiter's "acquired" time minus the holder's "release sent" time, both
 * read as absolute µs (`performance.timeOrigin + performance.now()`) on the
 * same machine. The roles then swap, so both directions are measured alike.
 * Contenders are interleaved in rounds, the order rotating each round.
 */
export async function runHandoffs(
  children: readonly [Child, Child],
  contenders: readonly ContenderInfo[],
  options: HandoffOptions,
): Promise<HandoffFigures[]> {
  const samples = new Map<string, number[]>(contenders.map((c) => [c.name, []]))
  const rounds = Math.ceil(options.handoffs / options.perRound)
  for (let round = 0; round < rounds; round++) {
    const count = Math.min(options.perRound, options.handoffs - round * options.perRound)
    for (let i = 0; i < contenders.length; i++) {
      const contender = contenders[(i + round) % contenders.length]!
      const key = `${options.keyPrefix}handoff:${contender.name}:${round}`
      let holder = children[round % 2]!
      let waiter = children[(round + 1) % 2]!
      await holder.call({ op: 'hold', contender: contender.name, key })
      for (let h = 0; h < count; h++) {
        const waiting = waiter.send({ op: 'wait', contender: contender.name, key })
        await waiting.started
        await sleep(PARK_MS + Math.random() * PARK_JITTER_MS)
        const released = await holder.call({ op: 'release', contender: contender.name, key })
        const acquired = await waiting.done
        samples.get(contender.name)?.push((acquired.atUs ?? Number.NaN) - (released.atUs ?? Number.NaN))
        ;[holder, waiter] = [waiter, holder]
      }
      await holder.call({ op: 'release', contender: contender.name, key })
    }
    options.onRound?.(round + 1, rounds)
  }
  const figures = contenders.map(
    (c): HandoffFigures => ({
      ...c,
      latencyUs: summarize(samples.get(c.name) ?? []),
      ratioToFloor: Number.NaN,
      ratioToRawLock: Number.NaN,
    }),
  )
  for (const f of figures) {
    const floor = figures.find((o) => o.backend === f.backend && o.role === 'floor')
    const rawLock = figures.find((o) => o.backend === f.backend && o.role === 'raw-lock')
    if (floor) f.ratioToFloor = f.latencyUs.p50 / floor.latencyUs.p50
    if (rawLock) f.ratioToRawLock = f.latencyUs.p50 / rawLock.latencyUs.p50
  }
  return figures
}
