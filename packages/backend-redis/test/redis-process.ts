import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, openSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { inCi } from './redis-available.js'

/** The `redis-server` binary private servers are started from (`REDIS_SERVER`, default from PATH). */
export const redisServerBinary = process.env.REDIS_SERVER ?? 'redis-server'

/**
 * Whether {@link redisServerBinary} runs. When it does not: under `CI=true`
 * this throws (the test file fails); otherwise it prints one loud line and
 * returns false, so the suites that need private servers skip.
 */
export function redisServerAvailable(what: string): boolean {
  const probe = spawnSync(redisServerBinary, ['--version'], { encoding: 'utf8' })
  if (probe.status === 0) return true
  const reason = probe.error?.message ?? `exit ${probe.status}`
  if (inCi)
    throw new Error(`${what}: ${redisServerBinary} is required under CI=true but did not run (${reason})`)
  console.warn(
    `⚠️  SKIPPING ${what}: ${redisServerBinary} is not available (${reason}). Install Redis ≥ 7 or set REDIS_SERVER to run it.`,
  )
  return false
}

/** A free TCP port on the loopback interface. */
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

/** A private `redis-server` on a loopback port, without persistence, in its own temporary directory. */
export class RedisProcess {
  readonly port: number
  readonly dir: string
  readonly #args: string[]
  #child: ChildProcess | undefined

  private constructor(port: number, dir: string, args: string[]) {
    this.port = port
    this.dir = dir
    this.#args = args
  }

  /** Starts a server with extra `redis-server` arguments and waits until it answers PING. */
  static async start(extraArgs: (port: number, dir: string) => string[] = () => []): Promise<RedisProcess> {
    const port = await freePort()
    const dir = mkdtempSync(join(tmpdir(), `lockwork-redis-${port}-`))
    const args = [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
      ...extraArgs(port, dir),
    ]
    const server = new RedisProcess(port, dir, args)
    await server.#spawn()
    return server
  }

  /** Whether the process is running. */
  get running(): boolean {
    return this.#child !== undefined && this.#child.exitCode === null && this.#child.signalCode === null
  }

  /** A new client to this server (the caller closes it). */
  client(): Redis {
    const client = new Redis({ host: '127.0.0.1', port: this.port, maxRetriesPerRequest: 1 })
    client.on('error', () => {})
    return client
  }

  /** Stops the process (SIGKILL simulates a crash) and waits for it to exit. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.#child
    this.#child = undefined
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill(signal)
    await exited
  }

  /** Starts the process again on the same port, with an empty dataset (no persistence). */
  async restart(): Promise<void> {
    await this.stop('SIGKILL')
    await this.#spawn()
  }

  /** Stops the process and deletes its directory. */
  async destroy(): Promise<void> {
    await this.stop('SIGKILL')
    rmSync(this.dir, { recursive: true, force: true })
  }

  async #spawn(): Promise<void> {
    const log = openSync(join(this.dir, 'redis.log'), 'a')
    const child = spawn(redisServerBinary, this.#args, { stdio: ['ignore', log, log] })
    this.#child = child
    const probe = new Redis({
      host: '127.0.0.1',
      port: this.port,
      lazyConnect: true,
      retryStrategy: () => null,
    })
    probe.on('error', () => {})
    try {
      for (let attempt = 0; ; attempt++) {
        if (!this.running) throw new Error(`redis-server exited early; see ${join(this.dir, 'redis.log')}`)
        try {
          await probe.connect()
          await probe.ping()
          return
        } catch (error) {
          probe.disconnect()
          if (attempt > 200) throw error
          await new Promise((resolve) => setTimeout(resolve, 25))
        }
      }
    } finally {
      probe.disconnect()
    }
  }
}

/** A private Redis Cluster of masters only, on loopback ports. */
export class RedisCluster {
  readonly nodes: readonly RedisProcess[]
  /** The cluster bus port of each node, in the order of {@link nodes}. */
  readonly #busPorts: readonly number[]

  private constructor(nodes: RedisProcess[], busPorts: number[]) {
    this.nodes = nodes
    this.#busPorts = busPorts
  }

  /** Starts `masters` cluster-enabled servers, splits the 16384 slots between them and waits for `cluster_state:ok`. */
  static async start(masters = 3): Promise<RedisCluster> {
    const nodes: RedisProcess[] = []
    const busPorts: number[] = []
    try {
      for (let i = 0; i < masters; i++) {
        const busPort = await freePort()
        busPorts.push(busPort)
        nodes.push(
          await RedisProcess.start((port, dir) => [
            '--cluster-enabled',
            'yes',
            '--cluster-config-file',
            join(dir, `nodes-${port}.conf`),
            '--cluster-port',
            String(busPort),
            '--cluster-node-timeout',
            '5000',
          ]),
        )
      }
      const cluster = new RedisCluster(nodes, busPorts)
      await cluster.#form()
      return cluster
    } catch (error) {
      await Promise.allSettled(nodes.map((node) => node.destroy()))
      throw error
    }
  }

  /** The startup nodes for an ioredis `Cluster`. */
  get startupNodes(): { host: string; port: number }[] {
    return this.nodes.map((node) => ({ host: '127.0.0.1', port: node.port }))
  }

  /** Stops every node and deletes their directories. */
  async destroy(): Promise<void> {
    await Promise.allSettled(this.nodes.map((node) => node.destroy()))
  }

  async #form(): Promise<void> {
    const clients = this.nodes.map((node) => node.client())
    try {
      const per = Math.ceil(16384 / clients.length)
      for (const [i, client] of clients.entries()) {
        await client.call('CLUSTER', 'SET-CONFIG-EPOCH', String(i + 1))
        const first = i * per
        const last = Math.min(16383, first + per - 1)
        await client.call('CLUSTER', 'ADDSLOTSRANGE', String(first), String(last))
      }
      const seed = clients[0]!
      for (const [i, node] of this.nodes.entries()) {
        if (i === 0) continue
        await seed.call('CLUSTER', 'MEET', '127.0.0.1', String(node.port), String(this.#busPorts[i]))
      }
      const deadline = Date.now() + 30_000
      for (;;) {
        const infos = await Promise.all(clients.map((client) => client.call('CLUSTER', 'INFO')))
        const ok = infos.every(
          (info) =>
            String(info).includes('cluster_state:ok') &&
            String(info).includes(`cluster_known_nodes:${clients.length}`),
        )
        if (ok) break
        if (Date.now() > deadline) throw new Error(`the cluster did not converge: ${String(infos[0])}`)
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
    } finally {
      for (const client of clients) client.disconnect()
    }
  }
}
