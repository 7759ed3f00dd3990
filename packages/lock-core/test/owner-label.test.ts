import { hostname } from 'node:os'
import { createMemoryBackend, MemoryStore } from '@lockwork/memory'
import { describe, expect, it } from 'vitest'
import {
  createLockwork,
  InvalidArgumentError,
  LockBusyError,
  LockTimeoutError,
  labelOf,
  MAX_LABEL_LENGTH,
  MAX_OWNER_LENGTH,
} from '../src/index.js'

const host = hostname()
  .replace(/[^\x21-\x7e]/g, '_')
  .slice(0, 64)

describe('owner labels', () => {
  it('every acquisition records the label, host and pid; peek and the errors show it', async () => {
    const store = new MemoryStore()
    const a = createLockwork({ backend: createMemoryBackend({ store }), label: 'api@pod-7' })
    const b = createLockwork({ backend: createMemoryBackend({ store }) })
    const lock = await a.acquire('k')
    expect(lock.owner).toMatch(/^[0-9a-f-]{36} api@pod-7 host=\S+ pid=\d+$/)
    const info = await b.peek('k')
    expect(info?.owner).toBe(lock.owner)
    expect(info?.label).toEqual({
      name: 'api@pod-7',
      host,
      pid: process.pid,
      text: `api@pod-7 host=${host} pid=${process.pid}`,
    })
    const busy = await b.acquire('k', { wait: 0 }).catch((e: unknown) => e)
    expect(busy).toBeInstanceOf(LockBusyError)
    expect((busy as LockBusyError).holderLabel).toBe(`api@pod-7 host=${host} pid=${process.pid}`)
    expect((busy as Error).message).toContain(`is held by api@pod-7 host=${host} pid=${process.pid}`)
    const timeout = await b.acquire('k', { wait: 30 }).catch((e: unknown) => e)
    expect(timeout).toBeInstanceOf(LockTimeoutError)
    expect((timeout as LockTimeoutError).holderLabel).toBe(info?.label?.text)
    expect((timeout as Error).message).toMatch(/was still held by api@pod-7 host=\S+ pid=\d+ after waiting/)
    await lock.release()
    // Without a label option: host and pid alone.
    const unnamed = await b.acquire('k')
    expect((await a.peek('k'))?.label).toEqual({
      name: undefined,
      host,
      pid: process.pid,
      text: `host=${host} pid=${process.pid}`,
    })
    await unnamed.release()
    await a.close()
    await b.close()
  })

  it('also labels the locks of once, cached and every', async () => {
    const store = new MemoryStore()
    const lw = createLockwork({ backend: createMemoryBackend({ store }), label: 'worker' })
    const other = createLockwork({ backend: createMemoryBackend({ store }) })
    let release!: () => void
    const running = new Promise<void>((resolve) => {
      release = resolve
    })
    const once = lw.once({ key: 'job' }, () => running)
    const call = once()
    await new Promise((resolve) => setTimeout(resolve, 10))
    expect((await other.peek('job'))?.label?.name).toBe('worker')
    const busy = await other
      .once({ key: 'job', onLocked: 'throw' }, () => 1)()
      .catch((e: unknown) => e)
    expect((busy as LockBusyError).holderLabel).toMatch(/^worker host=/)
    release()
    await call
    await lw.close()
    await other.close()
  })

  it('treats owner tokens it did not make as unlabelled, and parses labels with spaces and look-alikes', () => {
    expect(labelOf('3f0e2a4c-1111-4222-8333-444455556666')).toBeUndefined()
    expect(labelOf('someone else')).toBeUndefined()
    expect(labelOf('not-a-uuid host=x pid=1')).toBeUndefined()
    const token = '3f0e2a4c-1111-4222-8333-444455556666 my app host=fake pid=2 host=real pid=42'
    expect(labelOf(token)).toEqual({
      name: 'my app host=fake pid=2',
      host: 'real',
      pid: 42,
      text: 'my app host=fake pid=2 host=real pid=42',
    })
  })

  it('starts every owner token with a fresh version 4 UUID, across batches of random bytes', async () => {
    const lw = createLockwork({ backend: createMemoryBackend() })
    const ids = new Set<string>()
    // More than one batch of UUIDs (128), so a refill is crossed.
    for (let i = 0; i < 300; i++) {
      const lock = await lw.acquire(`k${i}`)
      const id = lock.owner.slice(0, 36)
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
      expect(lock.owner.charAt(36)).toBe(' ')
      ids.add(id)
    }
    expect(ids.size).toBe(300)
    // Every hex digit shows up in every random position sooner or later: no position is stuck.
    for (const at of [0, 7, 9, 15, 20, 35])
      expect(new Set([...ids].map((id) => id[at])).size).toBeGreaterThan(8)
    await lw.close()
  })

  it('keeps the longest owner token within MAX_OWNER_LENGTH', async () => {
    const lw = createLockwork({
      backend: createMemoryBackend({ store: new MemoryStore() }),
      label: '😀'.repeat(MAX_LABEL_LENGTH / 2),
    })
    const lock = await lw.acquire('k')
    // The host part is at most 64 characters and a pid at most 10 digits.
    const worst = lock.owner.length + (64 - host.length) + (10 - String(process.pid).length)
    expect(worst).toBeLessThanOrEqual(MAX_OWNER_LENGTH)
    expect((await lw.peek('k'))?.label?.name).toBe('😀'.repeat(MAX_LABEL_LENGTH / 2))
    await lw.close()
  })

  it('rejects a bad label at createLockwork with InvalidArgumentError', () => {
    const backend = createMemoryBackend({ store: new MemoryStore() })
    for (const label of [
      42,
      'x'.repeat(MAX_LABEL_LENGTH + 1),
      'tab\there',
      'nl\n',
      'del\u007f',
      'c1\u0085',
      '\ud800',
    ]) {
      let error: unknown
      try {
        createLockwork({ backend, label: label as string })
      } catch (e) {
        error = e
      }
      expect(error, JSON.stringify(label)).toBeInstanceOf(InvalidArgumentError)
      expect((error as InvalidArgumentError).argument).toBe('options.label')
    }
    expect(createLockwork({ backend, label: 'x'.repeat(MAX_LABEL_LENGTH) }).label.name).toHaveLength(
      MAX_LABEL_LENGTH,
    )
  })
})
