import { randomBytes } from 'node:crypto'
import { runConformance } from '@lockwork/conformance'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createEtcdBackend } from '../src/index.js'
import { EtcdCluster, etcdAvailable } from './etcd-cluster.js'

if (etcdAvailable('@lockwork/etcd conformance')) {
  // A private 3-member cluster; every instance is a client of its own over all three members.
  const cluster = await EtcdCluster.start()
  const keyPrefix = `conformance-${randomBytes(4).toString('hex')}/`
  runConformance({
    name: 'etcd',
    createBackend: () => createEtcdBackend({ endpoints: cluster.endpoints, keyPrefix }),
    describe,
    it,
    expect,
    beforeAll,
    afterAll,
    teardown: () => cluster.stop(),
  })
} else {
  describe.skip('etcd conformance (no etcd)', () => it('needs etcd', () => {}))
}
