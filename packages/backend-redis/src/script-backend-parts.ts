import type { LockworkError } from '@lockwork/core'
import type { ReleaseSubscriber } from './release-subscriber.js'
import type { ScriptDefinition } from './scripts.js'

/** A script with the SHA-1 of its Lua text, for `EVALSHA`. */
export type LoadedScript = ScriptDefinition & { readonly sha: string }

/**
 * What the helpers of the Redis backend that run its scripts and wait on its
 * release channel (semaphore commands, grant waits) use of the backend they belong to.
 */
export interface ScriptBackendParts {
  /** The backend's release subscriber (one connection for locks, grants and semaphores). */
  readonly subscriber: ReleaseSubscriber
  /** Pending waits, settled by the backend's `close()`. */
  readonly waiters: Set<() => void>
  /** Throws if the backend is closed; otherwise the hash-tagged start of every Redis key of `key`. */
  base(operation: string, key: string): string
  /** The script with its SHA-1. */
  load(script: ScriptDefinition): LoadedScript
  /** Runs one script (`EVALSHA`, `EVAL` on `NOSCRIPT`); failures are `BackendError`s. */
  run(operation: string, script: LoadedScript, args: (string | number)[]): Promise<unknown>
  /** A `BackendError` for a failed `operation`, naming the endpoint. */
  fail(operation: string, error: unknown): LockworkError
}
