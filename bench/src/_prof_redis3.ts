import { randomUUID } from 'node:crypto'
import { createLockwork } from '@lockwork/core'
import { createRedisBackend } from '@lockwork/redis'
import { ACQUIRE, RELEASE } from '../../packages/backend-redis/src/scripts.js'
import { Redis } from 'ioredis'
const url = process.argv[2] ?? 'redis://127.0.0.1:6390'
const mk = () => new Redis(url)
const [c1, c2, c3, c4, c5, admin] = [mk(), mk(), mk(), mk(), mk(), mk()]
const backend = createRedisBackend({ client: c1 })
const lw = createLockwork({ backend })
const delSha = String(await c2.script('LOAD', `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`))
const acqSha = String(await c3.script('LOAD', ACQUIRE.lua)), relSha = String(await c3.script('LOAD', RELEASE.lua))
const acqNoFence = String(await c4.script('LOAD', ACQUIRE.lua.replace("redis.call('INCR', KEYS[2])", '1')))
const relNoPub = String(await c4.script('LOAD', RELEASE.lua.replace("redis.call('PUBLISH', ARGV[2], 'released')", '')))
c5.defineCommand('acq', { lua: ACQUIRE.lua, numberOfKeys: 2 }); c5.defineCommand('rel', { lua: RELEASE.lua, numberOfKeys: 1 })
type Cmd = (...a: (string | number)[]) => Promise<unknown>
const acq = (c5 as unknown as { acq: Cmd }).acq.bind(c5), rel = (c5 as unknown as { rel: Cmd }).rel.bind(c5)
const variants: Record<string, (k: string) => Promise<void>> = {
  raw: async (k) => { const o = randomUUID(); if (await c2.set(k, o, 'PX', 30000, 'NX') !== 'OK') throw new Error('y'); await c2.evalsha(delSha, 1, k, o) },
  'scripts no fence/pub': async (k) => { const o = randomUUID(); await c4.evalsha(acqNoFence, 2, `L:${k}`, `F:${k}`, o, 30000); await c4.evalsha(relNoPub, 1, `L:${k}`, o, `C:${k}`) },
  'same scripts (evalsha)': async (k) => { const o = randomUUID(); const r = await c3.evalsha(acqSha, 2, `L:${k}`, `F:${k}`, o, 30000) as number[]; if (r[0] !== 1) throw new Error('z'); await c3.evalsha(relSha, 1, `L:${k}`, o, `C:${k}`) },
  'same scripts (defineCommand)': async (k) => { const o = randomUUID(); await acq(`L:${k}`, `F:${k}`, o, 30000); await rel(`L:${k}`, o, `C:${k}`) },
  'multi SET NX GET+INCR, del script': async (k) => { const o = randomUUID(); const r = await c4.multi().set(`L:${k}`, o, 'PX', 30000, 'NX', 'GET').incr(`F:${k}`).exec(); if (r?.[0]?.[1] !== null) throw new Error('m'); await c4.evalsha(delSha, 1, `L:${k}`, o) },
  bare: async (k) => { const o = randomUUID(); const r = await backend.acquire(k, o, 30000); if (!r.acquired) throw new Error('x'); await backend.release(k, o) },
  lw: async (k) => { const l = await lw.acquire(k, { wait: 0 }); await l.release() },
}
const serverUs = async () => { let t = 0; for (const m of (await admin.info('commandstats')).matchAll(/cmdstat_(\w+):calls=\d+,usec=(\d+)/g)) if (m[1] !== 'info') t += Number(m[2]); return t }
const rounds = Number(process.argv[3] ?? 25), N = Number(process.argv[4] ?? 1000)
const rates: Record<string, number[]> = {}, srv: Record<string, number[]> = {}
const names = Object.keys(variants)
for (let r = -1; r < rounds; r++) for (let j = 0; j < names.length; j++) {
  const name = names[(j + Math.max(r, 0)) % names.length]!
  const s0 = await serverUs(); const t0 = performance.now()
  for (let i = 0; i < N; i++) await variants[name]!(`k:${name}:${i % 1000}`)
  const us = (performance.now() - t0) * 1000 / N
  const s1 = await serverUs()
  if (r >= 0) { (rates[name] ??= []).push(us); (srv[name] ??= []).push((s1 - s0) / N) }
}
const med = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!
for (const name of names) console.log(name.padEnd(30), `${med(rates[name]!).toFixed(1)} µs/pair`, `× raw ${med(rates[name]!.map((v, i) => rates.raw![i]! / v)).toFixed(3)}`, `redis cpu ${med(srv[name]!).toFixed(1)} µs/pair`)
await backend.close(); for (const c of [c1, c2, c3, c4, c5, admin]) c.disconnect()
