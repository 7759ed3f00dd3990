/** The server-side clock expression every statement of the adapter uses. */

/**
 * Milliseconds on the database server's clock. `UTC_TIMESTAMP(6)` does not
 * depend on the session time zone (no DST jumps), and it is fixed for the
 * whole statement, so every use inside one statement sees the same instant.
 * Only differences of it are ever compared, so its epoch does not matter.
 */
export const NOW_MS = "(TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', UTC_TIMESTAMP(6)) DIV 1000)"
