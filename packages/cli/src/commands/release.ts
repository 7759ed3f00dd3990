import { createInterface } from 'node:readline/promises'
import type { Lockwork } from '@lockwork/core'
import { CliError } from '../cli-error.js'
import { type CommandResult, ok } from '../command-result.js'
import { EXIT_CODES } from '../exit-codes.js'
import { formatRemaining, holderOf } from '../format.js'

/** Where `release` asks for confirmation: a terminal on both ends, or nowhere. */
export interface Confirmer {
  /** Whether a person can answer (stdin and stderr are terminals). */
  readonly interactive: boolean
  /** Asks `question`; resolves whether the answer was yes. */
  ask(question: string): Promise<boolean>
}

/** A {@link Confirmer} on the process's stdin and stderr. */
export function terminalConfirmer(): Confirmer {
  return {
    interactive: process.stdin.isTTY === true && process.stderr.isTTY === true,
    async ask(question) {
      const prompt = createInterface({ input: process.stdin, output: process.stderr })
      try {
        return /^y(es)?$/i.test((await prompt.question(question)).trim())
      } finally {
        prompt.close()
      }
    },
  }
}

/**
 * `lockwork release --force`: frees `key` whoever holds it. The holder's
 * `lock.signal` aborts with `LockLostError` when it next extends or checks.
 * Refuses without `--force`; on a terminal asks first (unless `--yes`).
 */
export async function releaseCommand(
  lw: Lockwork,
  key: string,
  options: { force?: boolean; yes?: boolean },
  confirmer: Confirmer,
): Promise<CommandResult> {
  if (options.force !== true) {
    throw new CliError(
      `refusing to release ${key} without --force: its holder may still be working under it, ` +
        'and releasing lets another process in at the same time (see "lockwork peek" first)',
      EXIT_CODES.usage,
    )
  }
  const holder = await lw.peek(key)
  if (holder === null) return { output: `${key} is free`, exitCode: EXIT_CODES.notFound }
  if (confirmer.interactive && options.yes !== true) {
    const yes = await confirmer.ask(
      `Release ${key}, held by ${holderOf(holder)} (fence ${holder.fence}, ` +
        `expires in ${formatRemaining(holder.remainingMs)})? [y/N] `,
    )
    if (!yes) throw new CliError(`not released: ${key}`, EXIT_CODES.usage)
  }
  const released = await lw.forceRelease(key)
  if (!released) return { output: `${key} is free`, exitCode: EXIT_CODES.notFound }
  return ok(`released ${key} (was held by ${holderOf(holder)}, fence ${holder.fence})`)
}
