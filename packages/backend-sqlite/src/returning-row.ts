/**
 * The one row (or plucked value) of a statement with `RETURNING`, read with
 * `all()` so that the statement runs to its end.
 *
 * better-sqlite3's `get()` steps a statement once and leaves it there. For a
 * write with `RETURNING`, that left two such statements on one connection
 * (the lock's acquire and release) keeping every automatic WAL checkpoint
 * from completing: the write-ahead log grew by about 8 KB per acquire +
 * release without bound (165 MB after 20,000 pairs, the database file never
 * written) and every call slowed down as it grew. Stepped to the end, the log
 * is checkpointed at its usual 1,000 pages and reused. Every statement with
 * `RETURNING` in this package is read through this function.
 *
 * @param rows - what `all()` returned: no row, or the one row the statement
 *   changed (each `RETURNING` statement here changes at most one row).
 * @returns the row, or `undefined` when the statement changed nothing.
 */
export function returningRow(rows: readonly unknown[]): unknown {
  return rows[0]
}
