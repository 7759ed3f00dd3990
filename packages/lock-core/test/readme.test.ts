import { createMemoryBackend } from '@lockwork/memory'
import { expect, it } from 'vitest'
import { createLockwork } from '../src/index.js'

it('the helper lines of the README quick start type-check and run as written', async () => {
  const lw = createLockwork({ backend: createMemoryBackend(), prefix: 'myapp:' })
  const runCheck = async (id: string) => `checked ${id}`
  const takeScreenshot = async (id: string) => ({ file: `shot-${id}.png` })
  const fetchPrice = async (sym: string) => ({ sym, price: 42 })
  let sweeps = 0
  const expireSessions = async (_signal: AbortSignal) => {
    sweeps++
  }
  const exported: number[] = []
  const runExport = async (_id: string, options: { fence: number }) => {
    exported.push(options.fence)
  }
  const render = async (id: string) => `doc ${id}`
  const saved: number[] = []
  const saveDoc = async (_id: string, options: { fence: number }) => {
    saved.push(options.fence)
  }
  const id = '42'
  const log: string[] = []
  const console = { log: (line: unknown) => log.push(typeof line === 'string' ? line : JSON.stringify(line)) }
  const consumed: number[] = []
  const consumeQueue = async ({ signal, fence }: { signal: AbortSignal; fence: number }) => {
    consumed.push(fence)
    await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }))
  }

  // --- as in README.md ---
  const checkOrder = lw.once({ key: (id: string) => `check_order:${id}` }, async (id) => runCheck(id))
  await checkOrder('42')

  const shoot = lw.once({ key: (id: string) => `shot:${id}`, holdFor: '60s' }, takeScreenshot)
  if ((await shoot('7')) === undefined) console.log(`retry in ${(await shoot.peek('7'))?.remainingMs} ms`)

  const price = lw.cached({ key: (sym: string) => `price:${sym}`, ttl: '60s', staleFor: '5m' }, fetchPrice)
  await price('ACME')
  await price.invalidate('ACME')

  const sweeper = lw.every('expire-sessions', { interval: '5m', jitter: 0.2 }, (signal) =>
    expireSessions(signal),
  )
  await sweeper.stop()

  const exportSlots = lw.semaphore('exports', { limit: 2 })
  await exportSlots.withPermit(async (permit) => runExport(id, { fence: permit.fence }), { wait: '30s' })

  const doc = lw.rwlock(`doc:${id}`)
  await doc.withRead(async () => render(id))
  await doc.withWrite(async (lock) => saveDoc(id, { fence: lock.fence }), { wait: '5s' })
  const consumer = lw.lead('queue-consumer', (signal, term) => consumeQueue({ signal, fence: term.fence }))
  await new Promise((resolve) => setTimeout(resolve, 50)) // (not in the README: let the campaign win)
  console.log(await lw.leader('queue-consumer'))
  await consumer.stop()
  // --- end ---

  expect(await checkOrder('42')).toBe('checked 42')
  expect(await shoot('7')).toBeUndefined()
  if ((await shoot('7')) === undefined) console.log(`retry in ${(await shoot.peek('7'))?.remainingMs} ms`)
  expect(log[1]).toMatch(/^retry in \d+ ms$/)
  expect(await price.peek('ACME')).toBeUndefined()
  expect(await price('ACME')).toEqual({ sym: 'ACME', price: 42 })
  expect(sweeps).toBe(0)
  expect(exported).toHaveLength(1)
  expect(saved).toHaveLength(1)
  expect((await exportSlots.peek()).inUse).toBe(0)
  expect(consumed).toHaveLength(1)
  const leader = JSON.parse(log[0] ?? 'null') as { fence: number; label: { text: string }; since: string }
  expect(leader.fence).toBe(consumed[0])
  expect(leader.label.text).toBe(lw.label.text)
  expect(Number.isNaN(Date.parse(leader.since))).toBe(false)
  expect(await lw.leader('queue-consumer')).toBeNull()
  await lw.close()
})
