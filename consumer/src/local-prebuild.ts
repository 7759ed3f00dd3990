import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { runOk } from './run.js'

/** The native binary inside an installed better-sqlite3, relative to its package directory. */
const BINARY = join('build', 'Release', 'better_sqlite3.node')

/**
 * The file name prebuild-install looks for (its default template,
 * `{name}-v{version}-{runtime}-v{abi}-{platform}{libc}-{arch}.tar.gz`), for
 * this very Node.js. `undefined` on a Linux without glibc, whose `libc` part
 * this does not work out: there the app compiles better-sqlite3 as before.
 */
function prebuildName(version: string): string | undefined {
  const report = process.report.getReport() as { header?: { glibcVersionRuntime?: string } }
  if (process.platform === 'linux' && report.header?.glibcVersionRuntime === undefined) return undefined
  return `better-sqlite3-v${version}-node-v${process.versions.modules}-${process.platform}-${process.arch}.tar.gz`
}

/**
 * Offers the app at `app` the better-sqlite3 binary the workspace's own install
 * has already built, as a prebuilt binary: a tarball in `app/prebuilds` and an
 * `app/.prebuild-installrc` pointing prebuild-install (better-sqlite3's install
 * script, which finds that file by looking up from the package's directory) at it.
 *
 * Without it, `npm install` in the app compiles better-sqlite3 from source where
 * the prebuilt binary cannot be downloaded (no access to GitHub releases, as in
 * CI): about 110 s of CPU for the same source, version and Node.js the workspace
 * install compiled minutes earlier. With it, the install script still runs, and
 * takes the binary the way a user's install takes a downloaded one. The tarball
 * is named for the workspace's better-sqlite3 version only: when npm resolves
 * another version, the name does not match and the app compiles its own.
 *
 * Resolves with the tarball's path, or `undefined` when the workspace has no
 * built binary to offer (then nothing is written).
 */
export async function offerWorkspaceSqliteBinary(root: string, app: string): Promise<string | undefined> {
  const requireFromSqlite = createRequire(join(root, 'packages', 'backend-sqlite', 'package.json'))
  const manifest = requireFromSqlite.resolve('better-sqlite3/package.json')
  const packageDir = dirname(manifest)
  const { version } = JSON.parse(readFileSync(manifest, 'utf8')) as { version: string }
  const name = prebuildName(version)
  if (name === undefined || !existsSync(join(packageDir, BINARY))) return undefined
  const prebuilds = join(app, 'prebuilds')
  mkdirSync(prebuilds, { recursive: true })
  const tarball = join(prebuilds, name)
  await runOk('tar', ['-czf', tarball, '-C', packageDir, BINARY], { cwd: app })
  writeFileSync(join(app, '.prebuild-installrc'), `local-prebuilds=${prebuilds}\n`)
  return tarball
}
