import { EXIT_CODES } from './exit-codes.js'

/** What a command prints on stdout, and its exit code. */
export interface CommandResult {
  readonly output: string
  readonly exitCode: number
}

/** A successful result. */
export function ok(output: string): CommandResult {
  return { output, exitCode: EXIT_CODES.ok }
}
