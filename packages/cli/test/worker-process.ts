/**
 * A stand-in for an application process, started by the tests as a child:
 * it holds the lock `held-by-worker` (auto-extended) and runs two `every`
 * jobs, `report` (succeeds) and `cleanup` (fails), hourly, each run once at
 * start (`runOnStart`), so what the tests see does not change while they look.
 * It prints `ready` once both jobs have run, `lost` when its lock is taken
 * away, and closes its client on SIGTERM.
 *
 * Usage: node --import tsx --conditions=@lockwork/source worker-process.ts '<StoreSpec JSON>'
 */
import { createLockwork } from '@lockwork/core'
import { backendAt, type StoreSpec } from './stores.js'

const spec = JSON.parse(process.argv[2] ?? '') as StoreSpec
const lw = createLockwork({ backend: backendAt(spec), prefix: 'app', label: 'worker@pod-9' })
const lock = await lw.acquire('held-by-worker', { ttl: '3s', autoExtend: true })
lock.signal.addEventListener('abort', () => console.log('lost'))

let reported = false
let cleaned = false
const ready = () => {
  if (reported && cleaned) console.log('ready')
}
lw.every('report', { interval: '1h', runOnStart: true }, () => {
  reported = true
  ready()
})
lw.every('cleanup', { interval: '1h', runOnStart: true, onError: () => {} }, () => {
  cleaned = true
  ready()
  throw new Error('no space left on device')
})

process.once('SIGTERM', () => {
  void lw.close().finally(() => process.exit(0))
})
