/**
 * A private etcd cluster for tests and benchmarks: `size` members (3 by
 * default) on random loopback ports, each with its own data directory in a
 * fresh temporary folder, started as child processes and stopped by their
 * pids only.
 *
 * Tests keep the data in `/dev/shm` where it exists (fsync on tmpfs costs
 * nothing, as etcd 3.4 has no `--unsafe-no-fsync`); the benchmark passes
 * `durable: true` to put it on disk so every write is really fsync'd.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Etcd3 } from 'etcd3'

/** The etcd binary (`ETCD_BIN`, default `etcd` from the PATH). */
export const ETCD_BIN: string = process.env.ETCD_BIN ?? 'etcd'

/** Whether the environment requires every test to run (`CI=true`). */
export const inCi = process.env.CI === 'true'

/**
 * Whether {@link ETCD_BIN} runs. Otherwise: under `CI=true` this throws (the
 * test file fails); else it prints one loud line naming `suite` and saying how
 * to enable it, and returns false so the suite skips.
 */
export function etcdAvailable(suite: string): boolean {
  const probe = spawnSync(ETCD_BIN, ['--version'], { encoding: 'utf8' })
  if (probe.status === 0) return true
  const reason = probe.error?.message ?? `exit ${probe.status}`
  if (inCi) throw new Error(`${suite} needs ${ETCD_BIN} under CI=true, but it did not run: ${reason}`)
  console.warn(
    `⚠️  SKIPPING ${suite}: ${ETCD_BIN} did not run (${reason}). Install etcd 3.4+ (apt-get install etcd-server) or set ETCD_BIN.`,
  )
  return false
}

/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const [port] = await freePorts(1)
  return port as number
}

/**
 * `count` distinct free TCP ports on 127.0.0.1: every one is held open until
 * all are found, so the system cannot hand out the same port twice (asking
 * one at a time, a port closed by the first ask can come back at the next).
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = []
  try {
    const ports: number[] = []
    for (let i = 0; i < count; i++) {
      const server = createServer()
      servers.push(server)
      ports.push(
        await new Promise<number>((resolve, reject) => {
          server.once('error', reject)
          server.listen(0, '127.0.0.1', () => {
            const address = server.address()
            resolve(typeof address === 'object' && address !== null ? address.port : 0)
          })
        }),
      )
    }
    return ports
  } finally {
    await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))))
  }
}

export interface EtcdMember {
  /** `m0`, `m1`, ... */
  readonly name: string
  /** `http://127.0.0.1:<port>`: where clients connect. */
  readonly clientUrl: string
  readonly peerUrl: string
  readonly dataDir: string
  /** The running process, or undefined while the member is stopped. */
  process: ChildProcess | undefined
  /** Whether the member was paused with SIGSTOP (and not yet resumed). */
  paused: boolean
}

/** Options of {@link EtcdCluster.start}. */
export interface EtcdClusterOptions {
  /** Members, default 3. */
  readonly size?: number
  /** Keep the data on disk (fsync'd) instead of tmpfs. Default false. */
  readonly durable?: boolean
  /** Raft heartbeat in ms (default 100) and election timeout (default 1000), as etcd's own defaults. */
  readonly heartbeatMs?: number
  readonly electionMs?: number
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** A private etcd cluster (see the module comment). */
export class EtcdCluster {
  readonly members: readonly EtcdMember[]
  readonly #root: string
  readonly #initialCluster: string
  readonly #heartbeatMs: number
  readonly #electionMs: number
  #stopped = false

  private constructor(
    members: EtcdMember[],
    root: string,
    initialCluster: string,
    heartbeatMs: number,
    electionMs: number,
  ) {
    this.members = members
    this.#root = root
    this.#initialCluster = initialCluster
    this.#heartbeatMs = heartbeatMs
    this.#electionMs = electionMs
  }

  /** Starts the members and waits until the cluster has a leader and accepts writes. */
  static async start(options: EtcdClusterOptions = {}): Promise<EtcdCluster> {
    const size = options.size ?? 3
    const base = !options.durable && existsSync('/dev/shm') ? '/dev/shm' : tmpdir()
    const root = mkdtempSync(join(base, 'lockwork-etcd-'))
    const members: EtcdMember[] = []
    const ports = await freePorts(2 * size)
    for (let i = 0; i < size; i++) {
      const [clientPort, peerPort] = [ports[2 * i], ports[2 * i + 1]]
      members.push({
        name: `m${i}`,
        clientUrl: `http://127.0.0.1:${clientPort}`,
        peerUrl: `http://127.0.0.1:${peerPort}`,
        dataDir: join(root, `m${i}`),
        process: undefined,
        paused: false,
      })
    }
    const initialCluster = members.map((m) => `${m.name}=${m.peerUrl}`).join(',')
    const cluster = new EtcdCluster(
      members,
      root,
      initialCluster,
      options.heartbeatMs ?? 100,
      options.electionMs ?? 1000,
    )
    try {
      for (const member of members) cluster.#spawn(member, 'new')
      await cluster.waitForQuorum(30_000)
    } catch (error) {
      await cluster.stop()
      throw error
    }
    return cluster
  }

  /** Every member's client URL. */
  get endpoints(): string[] {
    return this.members.map((m) => m.clientUrl)
  }

  #spawn(member: EtcdMember, state: 'new' | 'existing'): void {
    const child = spawn(
      ETCD_BIN,
      [
        '--name',
        member.name,
        '--data-dir',
        member.dataDir,
        '--listen-client-urls',
        member.clientUrl,
        '--advertise-client-urls',
        member.clientUrl,
        '--listen-peer-urls',
        member.peerUrl,
        '--initial-advertise-peer-urls',
        member.peerUrl,
        '--initial-cluster',
        this.#initialCluster,
        '--initial-cluster-state',
        state,
        '--initial-cluster-token',
        'lockwork-test',
        '--heartbeat-interval',
        String(this.#heartbeatMs),
        '--election-timeout',
        String(this.#electionMs),
        '--logger',
        'zap',
        '--log-level',
        'error',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    )
    // Keep the last lines of its log for error messages; never let a full pipe block it.
    let tail = ''
    child.stderr?.on('data', (chunk: Buffer) => {
      tail = (tail + chunk.toString()).slice(-4000)
    })
    child.on('exit', (code, signal) => {
      if (member.process === child) member.process = undefined
      if (!this.#stopped && code !== null && code !== 0 && signal === null) {
        console.error(`etcd member ${member.name} exited with ${code}: ${tail}`)
      }
    })
    member.process = child
    member.paused = false
  }

  /** A client connected to one member only. */
  #probe(member: EtcdMember): Etcd3 {
    return new Etcd3({
      hosts: member.clientUrl,
      dialTimeout: 1_000,
      defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + 1_000 }),
    })
  }

  /** The running member that reports itself as the leader, or undefined without one. */
  async leader(): Promise<EtcdMember | undefined> {
    for (const member of this.members) {
      if (member.process === undefined || member.paused) continue
      const probe = this.#probe(member)
      try {
        const status = await probe.maintenance.status({})
        if (status.leader !== '0' && status.leader === status.header.member_id) return member
      } catch {
        // this member does not answer; ask the next one
      } finally {
        probe.close()
      }
    }
    return undefined
  }

  /** Waits until a linearizable read succeeds through the running members (a leader with quorum). */
  async waitForQuorum(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs
    let lastError: unknown
    while (Date.now() < deadline) {
      for (const member of this.members) {
        if (member.process === undefined || member.paused) continue
        const probe = this.#probe(member)
        try {
          await probe.get('lockwork-quorum-probe').string()
          return
        } catch (error) {
          lastError = error
        } finally {
          probe.close()
        }
      }
      await sleep(100)
    }
    throw new Error(`etcd cluster has no quorum after ${timeoutMs} ms: ${String(lastError)}`)
  }

  /** Sends `signal` to one member's process (by its pid). SIGKILL and SIGTERM also wait for it to exit. */
  async signal(member: EtcdMember, signal: 'SIGKILL' | 'SIGTERM' | 'SIGSTOP' | 'SIGCONT'): Promise<void> {
    const child = member.process
    if (child?.pid === undefined) throw new Error(`etcd member ${member.name} is not running`)
    if (signal === 'SIGSTOP' || signal === 'SIGCONT') {
      process.kill(child.pid, signal)
      member.paused = signal === 'SIGSTOP'
      return
    }
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
    if (member.paused) process.kill(child.pid, 'SIGCONT')
    process.kill(child.pid, signal)
    await exited
    member.paused = false
  }

  /** Starts a stopped member again with its data (it rejoins the cluster). */
  restart(member: EtcdMember): void {
    if (member.process !== undefined) throw new Error(`etcd member ${member.name} is still running`)
    this.#spawn(member, 'existing')
  }

  /** Stops every member (SIGKILL, by pid) and deletes the data. Idempotent. */
  async stop(): Promise<void> {
    this.#stopped = true
    await Promise.all(
      this.members.map(async (member) => {
        if (member.process !== undefined) await this.signal(member, 'SIGKILL')
      }),
    )
    rmSync(this.#root, { recursive: true, force: true })
  }
}
