import { BackendError } from './errors.js'

/**
 * Marks a {@link BackendError} that means "closed": the backend (or the
 * lockwork client) was closed and every later call fails the same way.
 * `Symbol.for`, so the mark is recognised across duplicated installs of the core.
 */
const CLOSED: unique symbol = Symbol.for('lockwork.closed') as never

/**
 * The `BackendError` a backend throws for any call after its `close()`:
 * `"<name> backend: <operation> failed: the backend is closed"`, marked so the
 * core recognises it (an `every` job then stops with one `onError` call
 * instead of failing every tick). Adapter authors: throw this one after close.
 */
export function backendClosedError(backend: string, operation: string): BackendError {
  return markClosed(new BackendError(backend, `${operation} failed: the backend is closed`))
}

/** The `BackendError` for a call on a lockwork client after its `close()`. */
export function clientClosedError(backend: string, operation: string): BackendError {
  return markClosed(new BackendError(backend, `${operation} failed: the lockwork client is closed`))
}

/** Throws the closed-client `BackendError` once `lw.close()` was called. */
export function throwIfClientClosed(
  lw: { readonly closed: boolean; readonly backend: { readonly name: string } },
  operation: string,
): void {
  if (lw.closed) throw clientClosedError(lw.backend.name, operation)
}

/** Whether `error` says the backend or the client was closed (see {@link backendClosedError}). */
export function isClosedError(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { [CLOSED]?: unknown })[CLOSED] === true
}

function markClosed(error: BackendError): BackendError {
  Object.defineProperty(error, CLOSED, { value: true })
  return error
}
