import { type ChildProcess, spawn } from 'node:child_process'
import { repoRoot, srcFile } from './paths.js'

/** How a worker process ended. */
export interface WorkerExit {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stderr: string
}

/** A running worker process speaking JSON lines on stdin/stdout. */
export interface WorkerProcess {
  readonly child: ChildProcess
  /** Resolves with the next JSON message not yet returned; rejects if the worker exits first. */
  next<T>(): Promise<T>
  /** Resolves with the next message whose `type` is `type`, dropping others. */
  nextOfType<T extends { type: string }>(type: T['type']): Promise<T>
  /** Sends one JSON message to the worker's stdin. */
  send(message: unknown): void
  /** Resolves once the process has exited. */
  readonly exited: Promise<WorkerExit>
  /** SIGKILLs the process if it still runs and waits for it to exit. */
  kill(): Promise<WorkerExit>
}

/**
 * Starts `reliability/src/<file>` in a new Node.js process, from TypeScript
 * source (`--import tsx`, `--conditions=@lockwork/source`), with the repo
 * root as its working directory. Messages are JSON, one per line.
 */
export function startWorker(file: string, args: readonly string[]): WorkerProcess {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', '--conditions=@lockwork/source', srcFile(file), ...args],
    { cwd: repoRoot, stdio: ['pipe', 'pipe', 'pipe'] },
  )
  const queue: unknown[] = []
  const readers: ((message: unknown) => void)[] = []
  let buffer = ''
  let stderr = ''
  let ended = false
  child.stdout?.setEncoding('utf8')
  child.stdout?.on('data', (chunk: string) => {
    buffer += chunk
    for (let index = buffer.indexOf('\n'); index >= 0; index = buffer.indexOf('\n')) {
      const line = buffer.slice(0, index).trim()
      buffer = buffer.slice(index + 1)
      if (line === '') continue
      let message: unknown
      try {
        message = JSON.parse(line)
      } catch {
        stderr += `[non-JSON stdout] ${line}\n`
        continue
      }
      const reader = readers.shift()
      if (reader) reader(message)
      else queue.push(message)
    }
  })
  child.stderr?.setEncoding('utf8')
  child.stderr?.on('data', (chunk: string) => {
    stderr += chunk
  })
  child.stdin?.on('error', () => {
    // The worker died; its exit is reported through `exited`.
  })
  const exited = new Promise<WorkerExit>((resolve) => {
    child.on('close', (code, signal) => {
      ended = true
      resolve({ code, signal, stderr })
    })
  })
  const next = <T>(): Promise<T> => {
    if (queue.length > 0) return Promise.resolve(queue.shift() as T)
    if (ended) return Promise.reject(new Error(`worker ${file} has exited: ${stderr}`))
    return new Promise<T>((resolve, reject) => {
      const reader = (message: unknown) => resolve(message as T)
      readers.push(reader)
      void exited.then(({ code, signal }) => {
        const at = readers.indexOf(reader)
        if (at < 0) return
        readers.splice(at, 1)
        reject(
          new Error(`worker ${file} ${args[0] ?? ''} exited (${code ?? signal}) before replying: ${stderr}`),
        )
      })
    })
  }
  const nextOfType = async <T extends { type: string }>(type: T['type']): Promise<T> => {
    for (;;) {
      const message = await next<{ type?: unknown }>()
      if (message.type === 'error') throw new Error(`worker ${file} failed: ${JSON.stringify(message)}`)
      if (message.type === type) return message as T
    }
  }
  return {
    child,
    next,
    nextOfType,
    send: (message) => {
      child.stdin?.write(`${JSON.stringify(message)}\n`)
    },
    exited,
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
      return exited
    },
  }
}

/**
 * For use inside a worker: sends a JSON line to the parent, and yields every
 * JSON line the parent sends.
 */
export function emit(message: unknown): void {
  process.stdout.write(`${JSON.stringify(message)}\n`)
}

/** Inside a worker: an async iterator over JSON messages from the parent (stdin). */
export async function* messages(): AsyncGenerator<unknown> {
  let buffer = ''
  process.stdin.setEncoding('utf8')
  for await (const chunk of process.stdin) {
    buffer += String(chunk)
    for (let index = buffer.indexOf('\n'); index >= 0; index = buffer.indexOf('\n')) {
      const line = buffer.slice(0, index).trim()
      buffer = buffer.slice(index + 1)
      if (line !== '') yield JSON.parse(line) as unknown
    }
  }
}

/**
 * Inside a worker: runs `main`, then exits 0; on a failure prints
 * `{"type":"error","message":"<name>: <message>"}` and exits 1.
 */
export function runWorkerMain(main: () => Promise<void>): void {
  main().then(
    () => process.exit(0),
    (error: unknown) => {
      emit({
        type: 'error',
        message: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
      })
      process.exit(1)
    },
  )
}
