/**
 * The contention fuzz loop, shared by worker processes and in-process runs:
 * critical sections that read a shared counter, yield, and write it + 1
 * under one lock, recording fence and enter/exit times.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { BackendError, type Lock, type Lockwork } from '@lockwork/core'
import { nowUs, sleep, yieldTurn } from './clock.js'
import type { Section } from './history-checker.js'

/** A shared counter the critical sections read and write non-atomically. */
export interface Counter {
  read(): number
  write(value: number): void
}

/** A counter in a file: visible to every process on the machine, with no atomicity of its own. */
export function fileCounter(path: string): Counter {
  return {
    read: () => Number(readFileSync(path, 'utf8')) || 0,
    write: (value) => writeFileSync(path, String(value)),
  }
}

/** A counter in this process's memory. */
export function memoryCounter(): Counter & { value: number } {
  const counter = {
    value: 0,
    read: () => counter.value,
    write: (value: number) => {
      counter.value = value
    },
  }
  return counter
}

/** What one fuzz worker does. */
export interface FuzzPlan {
  /** The key every section locks. */
  readonly key: string
  /** How many critical sections to run. */
  readonly sections: number
  /** The lease of each section, in ms. */
  readonly ttlMs: number
  /** Whether leases auto-extend (off in the negative control). */
  readonly autoExtend: boolean
  /** Extra time spent inside each section after the yield, in ms (0: none; the negative control makes it exceed the ttl). */
  readonly holdMs: number
  /** How long one acquire may wait, in ms. */
  readonly waitMs: number
  /**
   * Go on through `BackendError`s (for runs with server faults): a failed
   * acquire is tried again, a failed release is left to expire at its ttl.
   * Only sections that ran count.
   */
  readonly tolerateBackendErrors?: boolean
}

/** A section as sent over the wire: `[fence, enter, exit]`. */
export type SectionTuple = readonly [number, number, number]

/**
 * Runs `plan.sections` critical sections on `lw`: acquire, record the entry
 * time, read the counter, yield one turn (`setImmediate`), optionally hold,
 * write counter + 1, record the exit time, release.
 */
export async function runSections(lw: Lockwork, counter: Counter, plan: FuzzPlan): Promise<SectionTuple[]> {
  const records: SectionTuple[] = []
  for (let i = 0; i < plan.sections; i++) {
    let lock: Lock
    try {
      lock = await lw.acquire(plan.key, {
        ttl: plan.ttlMs,
        wait: plan.waitMs,
        autoExtend: plan.autoExtend,
      })
    } catch (error) {
      if (!(plan.tolerateBackendErrors === true && error instanceof BackendError)) throw error
      i--
      await sleep(20)
      continue
    }
    const enter = nowUs()
    const value = counter.read()
    await yieldTurn()
    if (plan.holdMs > 0) await sleep(plan.holdMs)
    counter.write(value + 1)
    const exit = nowUs()
    if (plan.tolerateBackendErrors === true) await lock.release().catch(() => undefined)
    else await lock.release()
    records.push([lock.fence, enter, exit])
  }
  return records
}

/** Turns a worker's tuples into {@link Section}s. */
export function toSections(worker: number, tuples: readonly SectionTuple[]): Section[] {
  return tuples.map(([fence, enter, exit]) => ({ worker, fence, enter, exit }))
}
