/**
 * Reading script replies: clients hand back arrays, numbers, and strings
 * where a number was meant (with `stringNumbers`, or from a hash).
 */

/** The reply as an array; anything else is an unexpected reply. */
export function asArray(reply: unknown): unknown[] {
  if (!Array.isArray(reply)) throw new Error(`unexpected reply from Redis: ${String(reply)}`)
  return reply
}

/** Integers arrive as numbers, or as strings when the client uses `stringNumbers`. */
export function toInt(value: unknown): number {
  const number = typeof value === 'number' ? value : Number(value)
  if (!Number.isFinite(number)) throw new Error(`unexpected non-integer in reply: ${String(value)}`)
  return number
}
