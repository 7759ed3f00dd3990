import { type ListedLock, type LockInfo, labelOf } from '@lockwork/core'

/** A remaining time for people: `850ms`, `12.3s`, `4m05s`, `2h10m`, `3d4h`. */
export function formatRemaining(ms: number): string {
  if (!Number.isFinite(ms) || ms >= Number.MAX_SAFE_INTEGER) return 'never'
  if (ms < 1_000) return `${Math.max(0, Math.round(ms))}ms`
  if (ms < 60_000) return `${(ms / 1_000).toFixed(1)}s`
  const seconds = Math.floor(ms / 1_000)
  if (seconds < 3_600) return `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, '0')}s`
  if (seconds < 86_400)
    return `${Math.floor(seconds / 3_600)}h${String(Math.floor(seconds / 60) % 60).padStart(2, '0')}m`
  return `${Math.floor(seconds / 86_400)}d${Math.floor(seconds / 3_600) % 24}h`
}

/** Who holds a lock, for people: the holder's label where its owner token carries one, else the token. */
export function holderOf(info: LockInfo): string {
  return labelOf(info.owner)?.text ?? info.owner
}

/** Lays out rows under a header, columns padded to their widest cell. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)),
  )
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column] ?? 0)))
      .join('  ')
  return [line(header), ...rows.map(line)].join('\n')
}

/** The `locks` table: key, holder, fence, time left. */
export function locksTable(locks: readonly ListedLock[]): string {
  if (locks.length === 0) return 'no locks held'
  return table(
    ['KEY', 'HOLDER', 'FENCE', 'EXPIRES IN'],
    locks.map((lock) => [lock.key, holderOf(lock), String(lock.fence), formatRemaining(lock.remainingMs)]),
  )
}

/** A lock as JSON output: the listed fields plus the holder column. */
export function lockJson(lock: ListedLock | (LockInfo & { readonly key: string })): Record<string, unknown> {
  return { ...lock, holder: holderOf(lock) }
}
