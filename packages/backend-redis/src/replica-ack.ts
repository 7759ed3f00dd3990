import { InvalidArgumentError } from '@lockwork/core'
import type { CommandPort } from './command-port.js'

/** {@link RedisBackendOptions.waitForReplicas}: how many replicas must acknowledge, and for how long to wait. */
export interface WaitForReplicas {
  /** How many replicas must have received the write (`WAIT numreplicas`), at least 1. */
  readonly replicas: number
  /** How long to wait for them, in ms (`WAIT … timeout`), at least 1. */
  readonly timeoutMs: number
}

/** Checks the option; `undefined` when it is not set. */
export function checkWaitForReplicas(value: unknown, isCluster: boolean): WaitForReplicas | undefined {
  if (value === undefined) return undefined
  const argument = 'options.waitForReplicas'
  if (value === null || typeof value !== 'object') {
    throw new InvalidArgumentError(argument, 'expected { replicas, timeoutMs }')
  }
  const { replicas, timeoutMs } = value as Record<string, unknown>
  if (typeof replicas !== 'number' || !Number.isSafeInteger(replicas) || replicas < 1) {
    throw new InvalidArgumentError(`${argument}.replicas`, `expected an integer ≥ 1, got ${String(replicas)}`)
  }
  if (typeof timeoutMs !== 'number' || !Number.isSafeInteger(timeoutMs) || timeoutMs < 1) {
    throw new InvalidArgumentError(
      `${argument}.timeoutMs`,
      `expected an integer ≥ 1, got ${String(timeoutMs)}`,
    )
  }
  if (isCluster) {
    throw new InvalidArgumentError(
      argument,
      'is not supported with a Cluster client (WAIT has no key to route by)',
    )
  }
  return { replicas, timeoutMs }
}

/**
 * Sends `WAIT replicas timeoutMs` through `port`, on the connection that just
 * wrote. Rejects (with the driver's error, or an `Error` saying how many
 * acknowledged) when fewer replicas acknowledged every write made on it so far.
 */
export async function awaitReplicas(port: CommandPort, wait: WaitForReplicas): Promise<void> {
  const acknowledged = await port.wait(wait.replicas, wait.timeoutMs)
  if (acknowledged < wait.replicas) {
    throw new Error(
      `${acknowledged} of ${wait.replicas} replica(s) acknowledged it within ${wait.timeoutMs} ms`,
    )
  }
}
