/**
 * A private `redis-server` for the tests that kill or restart it: a random
 * loopback port, no persistence (`--save '' --appendonly no`), its own
 * temporary directory.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { IN_CI } from './backends.js'

/** The binary (`REDIS_SERVER`, default `redis-server` from the PATH). */
export const REDIS_SERVER: string = process.env.REDIS_SERVER ?? 'redis-server'

/**
 * Whether {@link REDIS_SERVER} runs. Otherwise: under `CI=true` this throws;
 * else it prints one loud warning line naming `suite` and returns false.
 */
export function redisServerAvailable(suite: string): boolean {
  const probe = spawnSync(REDIS_SERVER, ['--version'], { encoding: 'utf8' })
  if (probe.status === 0) return true
  const reason = probe.error?.message ?? `exit ${probe.status}`
  if (IN_CI) throw new Error(`${suite} needs ${REDIS_SERVER} under CI=true, but it did not run: ${reason}`)
  console.warn(
    `⚠️  SKIPPING ${suite}: ${REDIS_SERVER} did not run (${reason}). Install Redis or set REDIS_SERVER.`,
  )
  return false
}

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

/** A private Redis server process. */
export class PrivateRedis {
  readonly port: number
  readonly #dir: string
  readonly #extraArgs: readonly string[]
  #child: ChildProcess | undefined

  private constructor(port: number, dir: string, extraArgs: readonly string[]) {
    this.port = port
    this.#dir = dir
    this.#extraArgs = extraArgs
  }

  /**
   * Starts a server on a random port, with extra `redis-server` arguments
   * (e.g. `['--replicaof', '127.0.0.1', '6390']`), and waits until it answers `PING`.
   */
  static async start(extraArgs: readonly string[] = []): Promise<PrivateRedis> {
    const port = await freePort()
    const dir = mkdtempSync(join(tmpdir(), 'lockwork-reliability-redis-'))
    const server = new PrivateRedis(port, dir, extraArgs)
    await server.#spawn()
    return server
  }

  /** Stops the server process (`SIGSTOP`): it keeps its connections but answers nothing. */
  pause(): void {
    this.#child?.kill('SIGSTOP')
  }

  /** Resumes a server stopped by {@link PrivateRedis.pause} (`SIGCONT`). */
  resume(): void {
    this.#child?.kill('SIGCONT')
  }

  /** `redis://127.0.0.1:<port>`. */
  get url(): string {
    return `redis://127.0.0.1:${this.port}`
  }

  /** A new admin client (the caller disconnects it). */
  client(): Redis {
    const client = new Redis(this.url, { maxRetriesPerRequest: 1 })
    client.on('error', () => {})
    return client
  }

  /** Kills the server (SIGKILL: a crash), starts it again on the same port with an empty dataset, and waits until it answers. */
  async restart(): Promise<void> {
    await this.#kill()
    await this.#spawn()
  }

  /** Kills the server and deletes its directory. */
  async destroy(): Promise<void> {
    await this.#kill()
    rmSync(this.#dir, { recursive: true, force: true })
  }

  async #kill(): Promise<void> {
    const child = this.#child
    this.#child = undefined
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill('SIGKILL')
    await exited
  }

  async #spawn(): Promise<void> {
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']
    const child = spawn(REDIS_SERVER, [...args, '--dir', this.#dir, ...this.#extraArgs], { stdio: 'ignore' })
    this.#child = child
    for (let attempt = 0; ; attempt++) {
      if (child.exitCode !== null) throw new Error(`redis-server on port ${this.port} exited at start`)
      const probe = new Redis(this.url, {
        lazyConnect: true,
        retryStrategy: () => null,
        maxRetriesPerRequest: 0,
      })
      probe.on('error', () => {})
      try {
        await probe.connect()
        await probe.ping()
        return
      } catch (error) {
        if (attempt > 400) throw error
        await new Promise((resolve) => setTimeout(resolve, 10))
      } finally {
        probe.disconnect()
      }
    }
  }
}
