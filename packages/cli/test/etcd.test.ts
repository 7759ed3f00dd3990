import { randomBytes } from 'node:crypto'
import { createLockwork, type Lockwork } from '@lockwork/core'
import { createEtcdBackend } from '@lockwork/etcd'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { EtcdCluster, etcdAvailable, freePort } from '../../backend-etcd/test/etcd-cluster.js'
import { parseStoreUrl } from '../src/store-url.js'
import { runBin } from './cli-process.js'

const enabled = etcdAvailable('@lockwork/cli tests on etcd')

describe('lockwork etcd:// URLs', () => {
  it('reads one or more members, IPv6 included, as the backend endpoints', () => {
    expect(parseStoreUrl('etcd://127.0.0.1:2379')).toEqual({
      kind: 'etcd',
      endpoints: ['http://127.0.0.1:2379'],
    })
    expect(parseStoreUrl('ETCD://a:1,b.example:2/,[::1]:3')).toEqual({
      kind: 'etcd',
      endpoints: ['http://a:1', 'http://b.example:2', 'http://[::1]:3'],
    })
    for (const bad of ['etcd://', 'etcd://a:0', 'etcd://a:2379/x', 'etcd://u@a:2379', 'etcd:a:2379'])
      expect(() => parseStoreUrl(bad), bad).toThrow(/etcd:\/\/host:port/)
  })

  it('refuses etcd+https (no TLS options yet) and a member without a port, with exit code 2', async () => {
    const [tls, noPort] = await Promise.all([
      runBin(['locks', 'etcd+https://127.0.0.1:2379']),
      runBin(['locks', 'etcd://127.0.0.1:2379,10.0.0.2']),
    ])
    expect(tls.code, tls.stderr).toBe(2)
    expect(tls.stderr).toContain('TLS to etcd is not supported from the command line yet')
    expect(noPort.code, noPort.stderr).toBe(2)
    expect(noPort.stderr).toContain('"10.0.0.2" is not host:port')
  }, 30_000)

  it('names an unreachable etcd and exits 3 within seconds', async () => {
    const port = await freePort()
    const began = performance.now()
    const exit = await runBin(['locks', `etcd://127.0.0.1:${port}`])
    const seconds = (performance.now() - began) / 1000
    expect(exit.code, exit.stderr).toBe(3)
    expect(exit.stderr).toContain(`127.0.0.1:${port}`)
    // Two Node.js start-ups (bin, then tsx) plus a refused connection; generous for a loaded machine.
    expect(seconds).toBeLessThan(20)
  }, 30_000)
})

describe.skipIf(!enabled)('lockwork on a one-member etcd', () => {
  let cluster: EtcdCluster
  let lw: Lockwork
  const keyPrefix = `cli-test-${randomBytes(4).toString('hex')}/`
  let url: string
  const at = (command: string, ...rest: string[]) => [
    command,
    url,
    ...rest,
    '--key-prefix',
    keyPrefix,
    '--prefix',
    'app',
  ]

  beforeAll(async () => {
    cluster = await EtcdCluster.start({ size: 1 })
    url = `etcd://${cluster.endpoints.map((e) => e.replace('http://', '')).join(',')}`
    lw = createLockwork({
      backend: createEtcdBackend({ endpoints: cluster.endpoints, keyPrefix }),
      prefix: 'app',
      label: 'cli-etcd@pod-1',
    })
  }, 40_000)
  afterAll(async () => {
    await lw?.close()
    await cluster?.stop()
  })

  it('locks and peek show a held lock and its label; release --force frees it', async () => {
    const held = await lw.acquire('orders:7', { ttl: '60s' })
    const [locks, peek, otherPrefix] = await Promise.all([
      runBin(at('locks')),
      runBin(at('peek', 'orders:7', '--json')),
      runBin(['locks', url, '--prefix', 'app']),
    ])
    expect(locks.code, locks.stderr).toBe(0)
    const line = locks.stdout.split('\n').find((l) => l.startsWith('orders:7 '))
    expect(line).toContain('cli-etcd@pod-1 host=')
    expect(line).toContain(String(held.fence))
    expect(peek.code, peek.stderr).toBe(0)
    const shown = JSON.parse(peek.stdout) as { fence: number; holder?: string }
    expect(shown.fence).toBe(held.fence)
    expect(shown.holder).toMatch(/^cli-etcd@pod-1 host=\S+ pid=\d+$/)
    // Without --key-prefix the CLI looks under the default `lockwork/` and sees nothing.
    expect(otherPrefix.code, otherPrefix.stderr).toBe(0)
    expect(otherPrefix.stdout).not.toContain('orders:7')

    const released = await runBin(at('release', 'orders:7', '--force'))
    expect(released.code, released.stderr).toBe(0)
    expect(await lw.peek('orders:7')).toBeNull()
    const after = await runBin(at('peek', 'orders:7'))
    expect(after.code).toBe(1)
  }, 40_000)
})
