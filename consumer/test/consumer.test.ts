import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { blockFileName, blockSource, type DocBlock, docBlocks } from '../src/doc-blocks.js'
import { offerWorkspaceSqliteBinary } from '../src/local-prebuild.js'
import { type RunResult, run, runOk } from '../src/run.js'
import { consumerServicesAvailable } from '../src/services.js'

/**
 * The packages as a user meets them: `pnpm pack` every publishable package,
 * `npm install` the tarballs with the drivers into an app outside the
 * workspace, then type-check, run and test them there.
 */
const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url))
const PUBLISHED = [
  'packages/lock-core',
  'packages/backend-memory',
  'packages/backend-sqlite',
  'packages/backend-redis',
  'packages/backend-postgres',
  'packages/backend-etcd',
  'packages/cli',
  'packages/node-cron',
  'packages/opentelemetry',
  'conformance',
]
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const available = await consumerServicesAvailable({ redisUrl: REDIS_URL, databaseUrl: DATABASE_URL })

/** Every Markdown file whose TypeScript blocks are checked. */
function markdownFiles(): string[] {
  const inDir = (dir: string) =>
    readdirSync(join(ROOT, dir))
      .filter((name) => name.endsWith('.md'))
      .map((name) => join(ROOT, dir, name))
  const readmes = (dir: string) =>
    readdirSync(join(ROOT, dir))
      .map((name) => join(ROOT, dir, name, 'README.md'))
      .filter((path) => existsSync(path))
  return [
    join(ROOT, 'README.md'),
    ...readmes('packages'),
    join(ROOT, 'conformance/README.md'),
    ...readmes('examples'),
    ...inDir('docs'),
    ...inDir('docs/recipes'),
  ]
}

/** A version range the workspace itself uses, so the app gets what the tests ran against. */
function workspaceRange(manifest: string, name: string): string {
  const json = JSON.parse(readFileSync(join(ROOT, manifest, 'package.json'), 'utf8')) as Record<
    string,
    Record<string, string> | undefined
  >
  const range = json.devDependencies?.[name] ?? json.dependencies?.[name]
  if (range === undefined) throw new Error(`${manifest}/package.json has no ${name}`)
  return range
}

const STRICT = {
  strict: true,
  exactOptionalPropertyTypes: true,
  noUncheckedIndexedAccess: true,
  skipLibCheck: false,
  target: 'es2022',
  lib: ['es2023'],
  module: 'nodenext',
  moduleResolution: 'nodenext',
  noEmit: true,
}

let app: string
let blocks: DocBlock[]
const npmEnv = { npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' }

const tsc = (version: 'typescript' | 'typescript7', project: string): Promise<RunResult> =>
  run(process.execPath, [join(app, 'node_modules', version, 'bin', 'tsc'), '-p', project], { cwd: app })

function expectClean(result: RunResult, what: string): void {
  expect(result.code, `${what}:\n${result.stdout}${result.stderr}`).toBe(0)
}

describe.skipIf(!available)('the packed packages in an app outside the workspace', () => {
  beforeAll(async () => {
    // CI builds this very tree for `pnpm check:publish` just before `pnpm test` and says so with
    // LOCKWORK_BUILT=1 (see .ci/run); everywhere else the packages are built here first.
    if (process.env.LOCKWORK_BUILT !== '1') await runOk('pnpm', ['build'], { cwd: ROOT, timeoutMs: 300_000 })
    app = mkdtempSync(join(tmpdir(), 'lockwork-consumer-'))
    const tarballs = join(app, 'tarballs')
    mkdirSync(tarballs)
    // Each pack only reads its own package and writes its own tarball: all at once.
    await Promise.all(
      PUBLISHED.map((dir) =>
        runOk('pnpm', ['pack', '--pack-destination', tarballs], { cwd: join(ROOT, dir), timeoutMs: 300_000 }),
      ),
    )
    expect(readdirSync(tarballs)).toHaveLength(PUBLISHED.length)
    const dependencies: Record<string, string> = {
      'better-sqlite3': workspaceRange('packages/backend-sqlite', 'better-sqlite3'),
      ioredis: workspaceRange('packages/backend-redis', 'ioredis'),
      // The other client libraries the Redis README shows.
      redis: workspaceRange('packages/backend-redis', 'redis'),
      iovalkey: workspaceRange('packages/backend-redis', 'iovalkey'),
      pg: workspaceRange('packages/backend-postgres', 'pg'),
      etcd3: workspaceRange('packages/backend-etcd', 'etcd3'),
      'node-cron': workspaceRange('packages/node-cron', 'node-cron'),
      '@opentelemetry/api': workspaceRange('packages/opentelemetry', '@opentelemetry/api'),
    }
    for (const file of readdirSync(tarballs)) {
      const name = `@lockwork/${file.replace(/^lockwork-/, '').replace(/-\d+\.\d+\.\d+.*\.tgz$/, '')}`
      dependencies[name] = `file:./tarballs/${file}`
    }
    writeFileSync(
      join(app, 'package.json'),
      `${JSON.stringify(
        {
          name: 'lockwork-consumer-app',
          private: true,
          version: '0.0.0',
          dependencies,
          devDependencies: {
            '@types/node': workspaceRange('.', '@types/node'),
            // ioredis 6.1's declarations import redis-errors without its types; with skipLibCheck off an
            // app needs them, as the Redis README says.
            '@types/redis-errors': '^1.2.1',
            typescript: workspaceRange('.', 'typescript'),
            typescript7: 'npm:typescript@^7',
            vitest: workspaceRange('conformance', 'vitest'),
          },
        },
        null,
        2,
      )}\n`,
    )
    // npm, as users install. better-sqlite3's install script takes a prebuilt binary: the one the
    // workspace's install built from the same version for this Node.js, where it cannot download one
    // (it compiles from source when none fits: about 110 s of CPU).
    await offerWorkspaceSqliteBinary(ROOT, app)
    await runOk('npm', ['install', '--prefer-offline'], { cwd: app, env: npmEnv, timeoutMs: 400_000 })

    for (const file of readdirSync(FIXTURES).filter((name) => name.includes('.'))) {
      copyFileSync(join(FIXTURES, file), join(app, file))
    }
    blocks = markdownFiles().flatMap((path) => docBlocks(path, ROOT))
    mkdirSync(join(app, 'docs'))
    // Stand-ins for the modules of the reader's own project that blocks import ('./my-backend.js').
    for (const file of readdirSync(join(FIXTURES, 'doc-modules'))) {
      copyFileSync(join(FIXTURES, 'doc-modules', file), join(app, 'docs', file))
    }
    // docs/guarantees.md imports the fenced store it shows (the reliability tests' own file).
    copyFileSync(join(ROOT, 'reliability/src/fenced-store.ts'), join(app, 'docs', 'fenced-store.ts'))
    for (const block of blocks) {
      if (block.mode !== 'skip') writeFileSync(join(app, 'docs', blockFileName(block)), blockSource(block))
    }
    const config = (name: string, compilerOptions: object, files: string[]) =>
      writeFileSync(
        join(app, name),
        `${JSON.stringify({ compilerOptions: { ...STRICT, ...compilerOptions }, files }, null, 2)}\n`,
      )
    config('tsconfig.api.json', { types: [] }, ['api-esm.mts', 'api-cjs.cts'])
    // The core alone: no Node.js types anywhere in the program (AbortSignal from the dom lib).
    config('tsconfig.api-core.json', { types: [], lib: ['es2023', 'dom'] }, ['api-core.mts'])
    config('tsconfig.api-node16.json', { types: [], module: 'node16', moduleResolution: 'node16' }, [
      'api-esm.mts',
      'api-cjs.cts',
    ])
    const docs = blocks.filter((b) => b.mode !== 'skip').map((b) => `docs/${blockFileName(b)}`)
    config('tsconfig.docs.json', { types: ['node'] }, docs)
    const runnable = blocks.filter((b) => b.mode === 'run').map((b) => `docs/${blockFileName(b)}`)
    config('tsconfig.run.json', { types: ['node'], noEmit: false, outDir: 'out', rootDir: '.' }, [
      ...runnable,
      'commonjs-app.cts',
      'redis-closed-port.mts',
    ])
    await runOk(process.execPath, [join(app, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.run.json'], {
      cwd: app,
    })
  }, 600_000)

  afterAll(() => {
    if (app && !process.env.LOCKWORK_KEEP_CONSUMER_APP) rmSync(app, { recursive: true, force: true })
  })

  it('type-checks the declarations from ESM and CommonJS with no @types at all (TS 5.9 and 7, nodenext and node16)', async () => {
    expect(existsSync(join(app, 'node_modules/@types/pg'))).toBe(false)
    expect(existsSync(join(app, 'node_modules/@types/better-sqlite3'))).toBe(false)
    // Six independent compilations, each on one core: side by side.
    const checks = (['typescript', 'typescript7'] as const).flatMap((version) =>
      ['tsconfig.api.json', 'tsconfig.api-node16.json', 'tsconfig.api-core.json'].map((project) => ({
        what: `${version} -p ${project}`,
        result: tsc(version, project),
      })),
    )
    for (const { what, result } of checks) expectClean(await result, what)
  }, 120_000)

  it('type-checks every TypeScript block of every README and doc (TS 5.9 and 7, strict, exactOptionalPropertyTypes)', async () => {
    expect(blocks.filter((b) => b.mode !== 'skip').length).toBeGreaterThan(15)
    // A reader who writes `import pg from 'pg'` installs pg's types; the packages themselves never needed them.
    await runOk(
      'npm',
      [
        'install',
        '--prefer-offline',
        '-D',
        `@types/pg@${workspaceRange('packages/backend-postgres', '@types/pg')}`,
      ],
      {
        cwd: app,
        env: npmEnv,
      },
    )
    const checks = (['typescript', 'typescript7'] as const).map((version) => ({
      what: `${version}: README and doc blocks`,
      result: tsc(version, 'tsconfig.docs.json'),
    }))
    for (const { what, result } of checks) expectClean(await result, what)
  }, 180_000)

  it('runs the README examples against SQLite, Redis and PostgreSQL; each process exits within 1 s of lw.close()', async () => {
    const runnable = blocks.filter((b) => b.mode === 'run')
    expect(runnable.map((b) => b.file)).toEqual(
      expect.arrayContaining([
        'packages/backend-sqlite/README.md',
        'packages/backend-redis/README.md',
        'packages/backend-postgres/README.md',
      ]),
    )
    for (const block of runnable) {
      const cwd = mkdtempSync(join(tmpdir(), 'lockwork-example-'))
      const report = join(cwd, 'close-report.json')
      const script = join(app, 'out', 'docs', blockFileName(block, '.mjs'))
      const result = await run(
        process.execPath,
        ['--import', pathToFileURL(join(app, 'close-timer.mjs')).href, script],
        { cwd, env: { REDIS_URL, DATABASE_URL, LOCKWORK_CLOSE_REPORT: report }, timeoutMs: 30_000 },
      )
      const where = `${block.file}:${block.line}`
      expect(
        result.code,
        `${where} exited ${result.code ?? result.signal}:\n${result.stdout}${result.stderr}`,
      ).toBe(0)
      const { closedAt, exitAt } = JSON.parse(readFileSync(report, 'utf8')) as {
        closedAt: number | null
        exitAt: number
      }
      expect(closedAt, `${where} never called lw.close()`).not.toBeNull()
      expect(exitAt - closedAt!, `${where}: ms from lw.close() to exit`).toBeLessThan(1_000)
      rmSync(cwd, { recursive: true, force: true })
    }
  }, 180_000)

  it('runs a CommonJS app: require() loads every package, and require() and import() share one copy', async () => {
    const result = await runOk(process.execPath, [join(app, 'out', 'commonjs-app.cjs')], { cwd: app })
    expect(result.stderr).toBe('')
    expect(JSON.parse(result.stdout)).toEqual({
      fence: expect.any(Number),
      busyIsLockBusyError: true,
      busyIsEsmLockBusyError: true,
      sameClass: true,
      functions: ['function', 'function', 'function', 'function', 'function'],
    })
  }, 60_000)

  it('tells a CommonJS app what to do where require() cannot load ES modules', async () => {
    const result = await run(
      process.execPath,
      ['--no-experimental-require-module', join(app, 'out', 'commonjs-app.cjs')],
      {
        cwd: app,
      },
    )
    expect(result.code).not.toBe(0)
    expect(result.stderr).toMatch(
      /@lockwork\/\w+ is an ES module, and require\(\) cannot load ES modules here/,
    )
    expect(result.stderr).toContain('Upgrade Node.js, or load it with import()')
  }, 60_000)

  it('fails within 5 s on a closed Redis port, naming host:port', async () => {
    const result = await runOk(process.execPath, [join(app, 'out', 'redis-closed-port.mjs')], {
      cwd: app,
      timeoutMs: 30_000,
    })
    const { port, outcome } = JSON.parse(result.stdout) as {
      port: number
      outcome?: { ms: number; message: string; backendError: boolean }
    }
    expect(outcome, 'acquire on a closed port resolved').toBeDefined()
    expect(outcome!.backendError).toBe(true)
    expect(outcome!.message).toContain(`127.0.0.1:${port}`)
    expect(outcome!.ms).toBeLessThan(5_000)
  }, 60_000)

  it('runs the installed lockwork command: exec holds a SQLite lock around a command and passes its exit code and fence', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'lockwork-cli-'))
    const lockwork = (args: string[]) =>
      run(join(app, 'node_modules', '.bin', 'lockwork'), args, { cwd, timeoutMs: 60_000 })
    const exec = await lockwork([
      'exec',
      'sqlite:./locks.sqlite',
      'nightly',
      '--',
      process.execPath,
      '-e',
      'console.log(process.env.LOCKWORK_FENCE); process.exit(3)',
    ])
    expect(exec.code, exec.stderr).toBe(3)
    expect(Number(exec.stdout.trim())).toBeGreaterThan(0)
    const locks = await lockwork(['locks', 'sqlite:./locks.sqlite', '--json'])
    expect(locks.code, locks.stderr).toBe(0)
    expect(JSON.parse(locks.stdout)).toEqual([])
    rmSync(cwd, { recursive: true, force: true })
  }, 120_000)

  it('passes npx lockwork-conformance with a third-party adapter written outside the repository', async () => {
    const result = await run('npx', ['lockwork-conformance', './my-adapter.mjs'], {
      cwd: app,
      env: { ...npmEnv, NO_COLOR: undefined, FORCE_COLOR: undefined },
      timeoutMs: 240_000,
    })
    const output = result.stdout + result.stderr
    expect(result.code, output).toBe(0)
    expect(output).toMatch(/✓ map-adapter passes the lockwork conformance suite/)
    expect(output).toMatch(/^ {2}waitForRelease +0 +0 +[1-9]\d*$/m)
    expect(output).not.toContain('\u001b[')
  }, 300_000)
})
