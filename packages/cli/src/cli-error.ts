import { BackendError, InvalidArgumentError, LockworkError } from '@lockwork/core'
import { EXIT_CODES } from './exit-codes.js'

/** A failure the command reports in one line and exits with `exitCode`. */
export class CliError extends Error {
  /** The process exit code. */
  readonly exitCode: number

  constructor(message: string, exitCode: number, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'CliError'
    this.exitCode = exitCode
  }
}

/** The message and exit code for any error a command throws. */
export function describeFailure(error: unknown): { message: string; exitCode: number } {
  if (error instanceof CliError) return { message: error.message, exitCode: error.exitCode }
  if (error instanceof InvalidArgumentError) return { message: error.message, exitCode: EXIT_CODES.usage }
  if (error instanceof BackendError) return { message: error.message, exitCode: EXIT_CODES.store }
  if (error instanceof LockworkError) return { message: error.message, exitCode: EXIT_CODES.store }
  return { message: error instanceof Error ? error.message : String(error), exitCode: EXIT_CODES.store }
}
