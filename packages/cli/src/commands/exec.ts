import { spawn } from 'node:child_process'
import { constants } from 'node:os'
import { type Lock, LockBusyError, LockTimeoutError, type Lockwork } from '@lockwork/core'
import { CliError } from '../cli-error.js'
import { EXIT_CODES } from '../exit-codes.js'

/** Options of {@link execCommand}. */
export interface ExecOptions {
  /** Lease length; the lease is extended every third of it while the command runs. */
  readonly ttlMs: number
  /** How long to wait for the key; 0 fails at once with exit code 4 when it is held. */
  readonly waitMs: number
}

/** Signals passed on to the command. */
const FORWARDED = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const

/**
 * `lockwork exec`: a distributed flock(1). Acquires `key` (waiting up to
 * `waitMs`), runs `command` with `LOCKWORK_FENCE` and `LOCKWORK_KEY` in its
 * environment while the lease is extended, passes SIGINT, SIGTERM and SIGHUP
 * on to it, releases the key as soon as it exits and resolves its exit code
 * (128 + the signal number when a signal ended it).
 *
 * A Ctrl-C typed in a terminal reaches the command from the terminal itself
 * (it shares the foreground process group), so SIGINT is passed on only when
 * stdin is not a terminal (a `kill -INT` from a supervisor). When the lease
 * is lost anyway (a `release --force`, a store outage longer than the ttl),
 * the command gets SIGTERM and the exit code is 6.
 */
export async function execCommand(
  lw: Lockwork,
  key: string,
  command: readonly string[],
  options: ExecOptions,
): Promise<number> {
  const [file, ...args] = command
  if (file === undefined) throw new CliError('exec needs a command to run after --', EXIT_CODES.usage)

  // Until the command runs, a signal stops the wait (and the process exits like an interrupted one).
  const waiting = new AbortController()
  let interruptedBy: NodeJS.Signals | undefined
  const stopWaiting = (signal: NodeJS.Signals) => {
    interruptedBy = signal
    waiting.abort()
  }
  for (const signal of FORWARDED) process.on(signal, stopWaiting)
  let lock: Lock
  try {
    lock = await lw.acquire(key, {
      ttl: options.ttlMs,
      wait: options.waitMs,
      autoExtend: true,
      signal: waiting.signal,
    })
  } catch (error) {
    if (interruptedBy !== undefined) return 128 + constants.signals[interruptedBy]
    if (error instanceof LockBusyError) throw new CliError(`${key} is held by someone else`, EXIT_CODES.busy)
    if (error instanceof LockTimeoutError)
      throw new CliError(`${key} was still held after waiting ${options.waitMs} ms`, EXIT_CODES.timeout)
    throw error
  } finally {
    for (const signal of FORWARDED) process.off(signal, stopWaiting)
  }
  if (interruptedBy !== undefined) {
    await lock.release().catch(() => undefined)
    return 128 + constants.signals[interruptedBy]
  }

  return new Promise<number>((resolve) => {
    let lost = false
    let settled = false
    const child = spawn(file, args, {
      stdio: 'inherit',
      env: { ...process.env, LOCKWORK_FENCE: String(lock.fence), LOCKWORK_KEY: key },
    })
    const forward = (signal: NodeJS.Signals) => {
      if (signal === 'SIGINT' && process.stdin.isTTY) return
      child.kill(signal)
    }
    const onLost = () => {
      lost = true
      process.stderr.write(`lockwork: lost the lease on ${key}; stopping the command (SIGTERM)\n`)
      child.kill('SIGTERM')
    }
    for (const signal of FORWARDED) process.on(signal, forward)
    lock.signal.addEventListener('abort', onLost, { once: true })

    const finish = async (exitCode: number) => {
      if (settled) return
      settled = true
      for (const signal of FORWARDED) process.off(signal, forward)
      lock.signal.removeEventListener('abort', onLost)
      // Released at once: no extension outlives the command.
      await lock.release().catch((error: unknown) => {
        const detail = error instanceof Error ? error.message : String(error)
        process.stderr.write(`lockwork: could not release ${key} (it expires at its ttl): ${detail}\n`)
      })
      resolve(lost ? EXIT_CODES.lost : exitCode)
    }
    child.on('error', (error: NodeJS.ErrnoException) => {
      process.stderr.write(`lockwork: cannot run ${file}: ${error.message}\n`)
      void finish(error.code === 'ENOENT' ? EXIT_CODES.commandNotFound : EXIT_CODES.cannotExecute)
    })
    child.on('exit', (code, signal) => {
      void finish(code ?? (signal === null ? 1 : 128 + constants.signals[signal]))
    })
  })
}
