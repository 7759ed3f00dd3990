// A process that holds locks on a SQLite file, for the dashboard tests.
// Usage: hold-locks.ts <sqlite path> <prefix> <label> <key>...
// Prints `held <key> <fence>` per key (as JSON lines), then obeys stdin lines
// `release <key>`; prints `released <key>`, or `lost <key>` when a lease is
// taken away. Exits when stdin ends.
import { createInterface } from 'node:readline'
import { createLockwork, type Lock } from '@lockwork/core'
import { createSqliteBackend } from '@lockwork/sqlite'

const [path = '', prefix = '', label = '', ...keys] = process.argv.slice(2)
const lw = createLockwork({ backend: createSqliteBackend({ path }), prefix, label })
const say = (event: string, key: string, extra: Record<string, unknown> = {}) =>
  process.stdout.write(`${JSON.stringify({ event, key, ...extra })}\n`)

const held = new Map<string, Lock>()
for (const key of keys) {
  const lock = await lw.acquire(key, { ttl: '60s' })
  lock.signal.addEventListener('abort', () => say('lost', key), { once: true })
  held.set(key, lock)
  say('held', key, { fence: lock.fence })
}

for await (const line of createInterface({ input: process.stdin })) {
  const [command, ...rest] = line.split(' ')
  const key = rest.join(' ')
  const lock = held.get(key)
  if (command === 'release' && lock !== undefined) {
    await lock.release()
    held.delete(key)
    say('released', key)
  }
}
await lw.close()
