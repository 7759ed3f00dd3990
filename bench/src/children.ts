import { type ChildProcess, spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { Command, Reply } from './child/protocol.js'

/** The repository root (the child's working directory, where tsx resolves from). */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url))

const CHILD_FILE = fileURLToPath(new URL('./child/main.ts', import.meta.url))

/** A command without its id (the connection numbers them). */
type Request = Command extends infer C ? (C extends { id: number } ? Omit<C, 'id'> : never) : never

/** A command in flight: `started` settles on the child's `started` reply (wait only), `done` on the last. */
export interface Pending {
  readonly started: Promise<void>
  readonly done: Promise<Extract<Reply, { kind: 'done' }>>
}

interface Waiter {
  started: () => void
  done: (reply: Extract<Reply, { kind: 'done' }>) => void
  fail: (error: Error) => void
}

/** A benchmark child process (`src/child/main.ts` under tsx) and its IPC channel. */
export class Child {
  readonly #process: ChildProcess
  readonly #waiters = new Map<number, Waiter>()
  #nextId = 1
  #exited = false

  /** @param label - names the child in error messages. */
  constructor(readonly label: string) {
    this.#process = spawn(
      process.execPath,
      ['--import', 'tsx', '--conditions=@lockwork/source', CHILD_FILE],
      { cwd: REPO_ROOT, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
    )
    this.#process.on('message', (reply: Reply) => this.#onReply(reply))
    const failAll = (error: Error) => {
      this.#exited = true
      for (const waiter of this.#waiters.values()) waiter.fail(error)
      this.#waiters.clear()
    }
    this.#process.on('exit', (code, signal) =>
      failAll(new Error(`child ${label} exited (${signal ?? code})`)),
    )
    this.#process.on('error', (error) => failAll(new Error(`child ${label}: ${error.message}`)))
  }

  /** Sends a command; see {@link Pending}. */
  send(request: Request): Pending {
    const id = this.#nextId++
    const started = deferred<void>()
    const done = deferred<Extract<Reply, { kind: 'done' }>>()
    const waiter: Waiter = {
      started: () => started.resolve(),
      done: (reply) => {
        started.resolve()
        done.resolve(reply)
      },
      fail: (error) => {
        started.reject(error)
        done.reject(error)
      },
    }
    if (this.#exited) waiter.fail(new Error(`child ${this.label} has exited`))
    else {
      this.#waiters.set(id, waiter)
      this.#process.send({ ...request, id } as Command)
    }
    return { started: started.promise, done: done.promise }
  }

  /** Sends a command and waits for its `done` reply. */
  async call(request: Request): Promise<Extract<Reply, { kind: 'done' }>> {
    return this.send(request).done
  }

  /** Asks the child to close its connections and exit; kills it if it does not within 5 s. */
  async close(): Promise<void> {
    if (this.#exited) return
    const exited = new Promise<void>((resolve) => this.#process.once('exit', () => resolve()))
    try {
      await Promise.race([this.call({ op: 'close' }), exited])
    } catch {
      // It died: nothing to close.
    }
    const timer = setTimeout(() => this.#process.kill('SIGKILL'), 5_000)
    await exited
    clearTimeout(timer)
  }

  #onReply(reply: Reply): void {
    const waiter = this.#waiters.get(reply.id)
    if (waiter === undefined) return
    if (reply.kind === 'started') {
      waiter.started()
      return
    }
    this.#waiters.delete(reply.id)
    if (reply.kind === 'done') waiter.done(reply)
    else waiter.fail(new Error(`child ${this.label}: ${reply.message}`))
  }
}

interface Deferred<T> {
  readonly promise: Promise<T>
  resolve(value: T): void
  reject(error: Error): void
}

/** A promise with its settle functions; a rejection nobody awaits is not reported as unhandled. */
function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void
  let reject!: (error: Error) => void
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  promise.catch(() => {})
  return { promise, resolve, reject }
}
