import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import * as os from 'node:os'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'

/** The machine a run came from. */
export interface Machine {
  readonly cpuModel: string
  readonly cores: number
  readonly totalMemoryGiB: number
  readonly node: string
  readonly os: string
  readonly arch: string
  /** 1-minute load average when the run started: other work on a shared machine. */
  readonly loadAverageAtStart: number
}

/** Reads the machine's description. */
export function describeMachine(): Machine {
  const cpus = os.cpus()
  return {
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    totalMemoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    os: `${os.type()} ${os.release()} (${osName()})`,
    arch: process.arch,
    loadAverageAtStart: Math.round((os.loadavg()[0] ?? 0) * 100) / 100,
  }
}

function osName(): string {
  try {
    const text = readFileSync('/etc/os-release', 'utf8')
    return /^PRETTY_NAME="?([^"\n]+)"?/m.exec(text)?.[1] ?? os.platform()
  } catch {
    return os.platform()
  }
}

/** The packages whose versions a result records: ours and the peers. */
const PACKAGES = [
  '@lockwork/core',
  '@lockwork/memory',
  '@lockwork/sqlite',
  '@lockwork/redis',
  '@lockwork/postgres',
  '@lockwork/etcd',
  'redis-semaphore',
  '@sesamecare-oss/redlock',
  'async-mutex',
  'node-cache',
  'ioredis',
  'pg',
  'better-sqlite3',
  'etcd3',
] as const

const BENCH_DIR = fileURLToPath(new URL('../', import.meta.url))

/** The installed version of every package the benchmark touches, and the lockwork commit. */
export function packageVersions(): Record<string, string> {
  const require = createRequire(`${BENCH_DIR}package.json`)
  const versions: Record<string, string> = {}
  for (const name of PACKAGES) {
    try {
      const manifest = JSON.parse(readFileSync(require.resolve(`${name}/package.json`), 'utf8')) as {
        version?: string
      }
      versions[name] = manifest.version ?? 'unknown'
    } catch {
      versions[name] = 'unknown'
    }
  }
  const db = new Database(':memory:')
  versions.sqlite = String(db.prepare('SELECT sqlite_version() AS v').pluck().get())
  db.close()
  versions.lockworkCommit = gitCommit()
  return versions
}

function gitCommit(): string {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
      cwd: BENCH_DIR,
      encoding: 'utf8',
    }).trim()
    const dirty = execFileSync('git', ['status', '--porcelain', '--', '../packages'], {
      cwd: BENCH_DIR,
      encoding: 'utf8',
    }).trim()
    return dirty === '' ? commit : `${commit}+uncommitted`
  } catch {
    return 'unknown'
  }
}
