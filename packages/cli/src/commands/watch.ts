import type { Lockwork } from '@lockwork/core'
import { locksTable } from '../format.js'
import { allLocks } from './locks.js'

/**
 * `lockwork watch`: redraws the table of held locks every `intervalMs` until
 * `signal` aborts (Ctrl-C). On a terminal the screen is cleared before each
 * redraw; otherwise each table is printed after the last, under a time stamp.
 */
export async function watchCommand(
  lw: Lockwork,
  options: { startsWith?: string; intervalMs: number },
  out: NodeJS.WriteStream,
  signal: AbortSignal,
): Promise<void> {
  while (!signal.aborted) {
    const locks = await allLocks(lw, options.startsWith)
    const stamp = new Date().toISOString()
    const header = `${stamp}  ${locks.length} lock${locks.length === 1 ? '' : 's'} held  (Ctrl-C to stop)`
    if (out.isTTY) out.write('\u001b[2J\u001b[H')
    out.write(`${header}\n${locksTable(locks)}\n${out.isTTY ? '' : '\n'}`)
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, options.intervalMs)
      function done(): void {
        clearTimeout(timer)
        signal.removeEventListener('abort', done)
        resolve()
      }
      signal.addEventListener('abort', done, { once: true })
    })
  }
}
