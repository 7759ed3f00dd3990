import { randomUUID } from 'node:crypto'
import { existsSync, mkdtempSync, rmSync, statSync, symlinkSync, unlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createSqliteBackend } from '../src/index.js'
import { SqliteWakeFile } from '../src/sqlite-wake-file.js'

let dir: string

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'lockwork-sqlite-wake-'))
})

afterAll(() => {
  rmSync(dir, { recursive: true, force: true })
})

/** Resolves with how many ms it took `watcher` to see a change after `touch`, or rejects after `withinMs`. */
function changeSeen(wake: SqliteWakeFile, touch: () => void, withinMs = 5_000): Promise<number> {
  return new Promise((resolve, reject) => {
    let start = 0
    const timer = setTimeout(() => {
      stop?.()
      reject(new Error(`no change seen on ${wake.path} within ${withinMs} ms`))
    }, withinMs)
    const stop = wake.watch(() => {
      clearTimeout(timer)
      stop?.()
      resolve(performance.now() - start)
    })
    if (stop === undefined) {
      clearTimeout(timer)
      reject(new Error(`${wake.path} cannot be watched`))
      return
    }
    start = performance.now()
    touch()
  })
}

describe('sqlite wake file', () => {
  it('a touch through one instance reaches a watch through another', async () => {
    const path = join(dir, `${randomUUID()}-wake`)
    const writer = new SqliteWakeFile(path)
    const reader = new SqliteWakeFile(path)
    try {
      expect(await changeSeen(reader, () => writer.touch())).toBeLessThan(5_000)
      expect(existsSync(path)).toBe(true)
    } finally {
      writer.close()
      reader.close()
    }
  })

  it('a deleted wake file is recreated: a new watch sees a later touch', async () => {
    const path = join(dir, `${randomUUID()}-wake`)
    const writer = new SqliteWakeFile(path)
    const reader = new SqliteWakeFile(path)
    try {
      await changeSeen(reader, () => writer.touch())
      unlinkSync(path)
      // The writer notices the replacement within a second of its check.
      await new Promise((resolve) => setTimeout(resolve, 1_100))
      expect(await changeSeen(reader, () => writer.touch())).toBeLessThan(5_000)
    } finally {
      writer.close()
      reader.close()
    }
  })

  it('where the file cannot be created, touch does nothing and watch says so (waiters poll)', () => {
    const wake = new SqliteWakeFile(join(dir, 'missing-directory', 'locks.sqlite-wake'))
    expect(() => wake.touch()).not.toThrow()
    expect(wake.watch(() => {})).toBeUndefined()
    wake.close()
  })

  it('the backend writes <database>-wake next to the database on the first release a waiter flagged, not before', async () => {
    const path = join(dir, `${randomUUID()}.sqlite`)
    const backend = createSqliteBackend({ path })
    const other = new Database(path)
    try {
      const owner = randomUUID()
      expect((await backend.acquire('k', owner, 10_000)).acquired).toBe(true)
      expect(await backend.release('k', owner)).toBe(true)
      expect(existsSync(`${path}-wake`)).toBe(false) // nobody waited
      expect((await backend.acquire('k', owner, 10_000)).acquired).toBe(true)
      // What a waiter in another process does after starting its watch.
      expect(other.prepare(`UPDATE lockwork SET waited = 1 WHERE key = 'k'`).run().changes).toBe(1)
      expect(await backend.release('k', owner)).toBe(true)
      expect(statSync(`${path}-wake`).size).toBe(1)
    } finally {
      other.close()
      await backend.close()
    }
  })

  it('a release the wake file does not carry (the database reached through a symlink) is still seen by a safety poll', async () => {
    const path = join(dir, `${randomUUID()}.sqlite`)
    const link = join(dir, `${randomUUID()}.sqlite`)
    const holder = createSqliteBackend({ path })
    expect((await holder.acquire('warm-up', randomUUID(), 1)).acquired).toBe(true) // creates the file
    symlinkSync(path, link)
    // Another name: another in-process channel and another wake file, so nothing but a poll can tell it.
    const waiter = createSqliteBackend({ path: link })
    try {
      const owner = randomUUID()
      expect((await holder.acquire('k', owner, 10_000)).acquired).toBe(true)
      const waiting = waiter.waitForRelease('k', 10_000)
      await new Promise((resolve) => setTimeout(resolve, 50))
      const released = performance.now()
      expect(await holder.release('k', owner)).toBe(true)
      await waiting
      const seenAfterMs = performance.now() - released
      expect(seenAfterMs).toBeLessThan(5_000)
      expect(await waiter.peek('k')).toBeNull()
    } finally {
      await holder.close()
      await waiter.close()
    }
  })
})
