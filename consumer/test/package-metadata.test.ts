import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

/** What a published package carries for someone who only has the tarball or its npm page. */
const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const REPOSITORY = 'https://github.com/lockwork/lockwork'
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

describe.each(PUBLISHED)('%s as published', (dir) => {
  const manifest = JSON.parse(readFileSync(join(ROOT, dir, 'package.json'), 'utf8')) as Record<
    string,
    unknown
  >
  const readme = readFileSync(join(ROOT, dir, 'README.md'), 'utf8')

  it('has repository (with its directory), homepage and bugs', () => {
    expect(manifest.repository).toEqual({ type: 'git', url: `git+${REPOSITORY}.git`, directory: dir })
    expect(manifest.homepage).toBe(`${REPOSITORY}/tree/main/${dir}#readme`)
    expect(manifest.bugs).toEqual({ url: `${REPOSITORY}/issues` })
  })

  it('README links only to absolute URLs or its own anchors (the rest of the repository is not in the tarball)', () => {
    const targets = [...readme.matchAll(/\]\(([^)\s]+)/g)].map((match) => match[1]!)
    const relative = targets.filter((target) => !/^(https?:|mailto:|#)/.test(target))
    expect(relative).toEqual([])
    for (const target of targets.filter((t) => t.startsWith('https://github.com/'))) {
      expect(target.startsWith(REPOSITORY) || !target.includes('lockwork')).toBe(true)
    }
  })

  it('README says how to install, which Node.js, and about ES modules and CommonJS', () => {
    expect(readme).toMatch(/npm install (-D )?@lockwork\//)
    expect(readme).toMatch(/Node\.js ≥ 20/)
    expect(readme).toMatch(/require\(\)/)
  })

  it('core is a peer dependency of everything built on it', () => {
    if (dir === 'packages/lock-core') return
    const peers = manifest.peerDependencies as Record<string, string> | undefined
    const dependencies = (manifest.dependencies ?? {}) as Record<string, string>
    expect(peers?.['@lockwork/core']).toBeDefined()
    expect(dependencies['@lockwork/core']).toBeUndefined()
  })
})
