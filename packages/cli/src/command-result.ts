import { EXIT_CODES } from './exit-codes.js'

/** What a command prints on stdout, and its exit code. */
export interface CommandResult {
  /** The text for stdout (or stderr, when the command found nothing). */
  readonly output: string
  /** The process exit code, one of {@link EXIT_CODES}. */
  readonly exitCode: number
}

/** A successful result. */
export function ok(output: string): CommandResult {
  return { output, exitCode: EXIT_CODES.ok }
}
