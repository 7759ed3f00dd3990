/**
 * The exit codes of the `lockwork` command, stable across versions.
 *
 * `lockwork exec` exits with its command's own code when the command ran;
 * these codes are for what happens around it. A command killed by a signal
 * gives 128 + the signal's number, as in a shell.
 */
export const EXIT_CODES = {
  /** Done. */
  ok: 0,
  /**
   * Nothing there: `peek` of a free key, `cache get` or `cache del` of a
   * missing entry, `release` of a free key, `jobs <name>` of a job with no history.
   */
  notFound: 1,
  /** Bad arguments, an unknown store URL, a backend package that is not installed, or a refused `release` (no `--force`, or not confirmed). */
  usage: 2,
  /** The store is unreachable or failed; the message names the endpoint or file. */
  store: 3,
  /** `exec --wait 0`: the key is held by someone else. */
  busy: 4,
  /** `exec --wait <duration>`: the key was still held when the wait ended. */
  timeout: 5,
  /** `exec`: the lease was lost while the command ran (it was sent SIGTERM). */
  lost: 6,
  /** `exec`: the command could not be run (not executable). */
  cannotExecute: 126,
  /** `exec`: the command was not found. */
  commandNotFound: 127,
  /** Interrupted by Ctrl-C (SIGINT) before the command started. */
  interrupted: 130,
} as const

/** One of {@link EXIT_CODES}. */
export type ExitCode = (typeof EXIT_CODES)[keyof typeof EXIT_CODES]
