import {
  closeSync,
  constants,
  type FSWatcher,
  fstatSync,
  openSync,
  statSync,
  watch,
  writeSync,
} from 'node:fs'

/** The suffix of the wake file, next to the database file: `<database>-wake`. */
export const WAKE_FILE_SUFFIX = '-wake'

/** How often (at most) a writer checks that its open wake file is still the one at the path, in ms. */
const REVALIDATE_MS = 1_000

/** The one byte written on every touch (its value carries nothing: the write is the signal). */
const WAKE_BYTE = new Uint8Array([0x0a])

/** One `fs.watch` of a wake file, shared by every waiter of this process on it. */
interface SharedWatch {
  readonly watcher: FSWatcher
  readonly listeners: Set<() => void>
}

/** The watches of this process, by wake file path. */
const watches = new Map<string, SharedWatch>()

/** Stops `shared` and forgets it (its listeners keep their own safety polls). */
function stopWatch(path: string, shared: SharedWatch): void {
  if (watches.get(path) === shared) watches.delete(path)
  try {
    shared.watcher.close()
  } catch {
    // Already closed.
  }
}

/** Calls every listener of `shared`; one that throws does not stop the others. */
function wakeAll(shared: SharedWatch): void {
  for (const listener of [...shared.listeners]) {
    try {
      listener()
    } catch {
      // A listener only schedules a poll; it must not break the watch.
    }
  }
}

/**
 * Starts watching `path` (inotify on Linux, kqueue/FSEvents on macOS,
 * ReadDirectoryChangesW on Windows), or returns `undefined` where the
 * platform or file system cannot (the caller then polls).
 */
function startWatch(path: string): SharedWatch | undefined {
  let watcher: FSWatcher
  try {
    // Not persistent: a watch alone never keeps the process alive.
    watcher = watch(path, { persistent: false })
  } catch {
    return undefined
  }
  const shared: SharedWatch = { watcher, listeners: new Set() }
  watcher.on('change', (eventType) => {
    wakeAll(shared)
    // The file was deleted or replaced: this watch follows the old file, so
    // drop it; the next waiter starts a new one on the file at the path.
    if (eventType === 'rename') stopWatch(path, shared)
  })
  watcher.on('error', () => {
    wakeAll(shared)
    stopWatch(path, shared)
  })
  return shared
}

/**
 * Cross-process wake-up for one SQLite database, with no server and no
 * daemon: a small file next to the database (`<database>-wake`). A release
 * that a waiter flagged (and every release of semaphore permits) writes one
 * byte to it; every process waiting on the database watches it
 * with `fs.watch` and re-checks its keys when it changes, so an idle waiter
 * costs no CPU and a release in another process is seen within a
 * millisecond or so.
 *
 * Best effort by design: the lease table stays the only truth. Where the
 * file cannot be created or written (a read-only directory) or watched (no
 * `fs.watch` on this platform or file system, the inotify watch limit
 * reached), waiters keep polling as they would without it; a missed or
 * spurious notification costs only an extra or a later poll.
 */
export class SqliteWakeFile {
  /** The wake file's path. */
  readonly path: string
  #fd: number | undefined
  /** Set once opening failed: touches are skipped (waiters poll). */
  #unavailable = false
  #checkedAt = 0
  #closed = false

  /** Nothing is opened until the first {@link touch} or {@link watch}. */
  constructor(path: string) {
    this.path = path
  }

  /**
   * Signals "something was released" to every process watching the file:
   * one `pwrite` of one byte on a descriptor kept open. Never throws.
   */
  touch(): void {
    const fd = this.#open()
    if (fd === undefined) return
    try {
      writeSync(fd, WAKE_BYTE, 0, 1, 0)
    } catch {
      this.#drop()
    }
  }

  /**
   * Calls `onChange` whenever the wake file changes (any process's
   * {@link touch}), until the returned function is called. Returns
   * `undefined` when the file cannot be watched: the caller then polls.
   */
  watch(onChange: () => void): (() => void) | undefined {
    if (this.#closed) return undefined
    let shared = watches.get(this.path)
    if (shared === undefined) {
      // The file must exist to be watched; creating it is also how a reader
      // without a writer of its own gets one for the others.
      if (this.#open() === undefined && !exists(this.path)) return undefined
      shared = startWatch(this.path)
      if (shared === undefined) return undefined
      watches.set(this.path, shared)
    }
    const watching = shared
    watching.listeners.add(onChange)
    return () => {
      watching.listeners.delete(onChange)
      if (watching.listeners.size === 0) stopWatch(this.path, watching)
    }
  }

  /** Closes the descriptor; later touches and watches do nothing. Idempotent. */
  close(): void {
    this.#closed = true
    this.#drop()
  }

  /**
   * The open descriptor, opening (and creating) the file on first use and
   * reopening it at most once per second if the file at the path was
   * deleted or replaced. `undefined` when it cannot be opened.
   */
  #open(): number | undefined {
    if (this.#closed || this.#unavailable) return undefined
    const now = performance.now()
    if (this.#fd !== undefined) {
      if (now - this.#checkedAt < REVALIDATE_MS) return this.#fd
      this.#checkedAt = now
      if (sameFile(this.#fd, this.path)) return this.#fd
      this.#drop()
    }
    try {
      this.#fd = openSync(this.path, constants.O_WRONLY | constants.O_CREAT, 0o666)
      this.#checkedAt = now
      return this.#fd
    } catch {
      this.#unavailable = true
      return undefined
    }
  }

  #drop(): void {
    const fd = this.#fd
    this.#fd = undefined
    if (fd === undefined) return
    try {
      closeSync(fd)
    } catch {
      // Already closed.
    }
  }
}

/** Whether `fd` is still the file at `path` (not deleted or replaced since it was opened). */
function sameFile(fd: number, path: string): boolean {
  try {
    const open = fstatSync(fd)
    const named = statSync(path)
    return open.ino === named.ino && open.dev === named.dev
  } catch {
    return false
  }
}

function exists(path: string): boolean {
  try {
    statSync(path)
    return true
  } catch {
    return false
  }
}
