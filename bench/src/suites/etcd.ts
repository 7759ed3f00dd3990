import { spawnSync } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { createLockwork } from '@lockwork/core'
import { createEtcdBackend } from '@lockwork/etcd'
import { Etcd3 } from 'etcd3'
import { ETCD_BIN, EtcdCluster } from '../../../packages/backend-etcd/test/etcd-cluster.js'
import type { BackendSuite, PairVariant } from '../pairs.js'
import { bareVariant, lockworkVariant, TTL_MS } from './common.js'

/** The etcd lease the floor and the peer take, in whole seconds (as the backend's for {@link TTL_MS}). */
const LEASE_SECONDS = Math.ceil((TTL_MS + 1_000) / 1_000)

/** An etcd cluster to benchmark: `ETCD_ENDPOINTS` when set, else a private fsync'd 3-member cluster. */
export interface BenchCluster {
  readonly endpoints: readonly string[]
  readonly version: string
  close(): Promise<void>
}

/**
 * Starts the benchmark's etcd: a private 3-member cluster with its data on
 * disk (every write fsync'd, as in production), or the members in
 * `ETCD_ENDPOINTS`. Throws when neither is possible.
 */
export async function openBenchCluster(): Promise<BenchCluster> {
  const given = process.env.ETCD_ENDPOINTS
  if (given !== undefined && given !== '') {
    return { endpoints: given.split(','), version: 'external', close: async () => {} }
  }
  const probe = spawnSync(ETCD_BIN, ['--version'], { encoding: 'utf8' })
  if (probe.status !== 0)
    throw new Error(`${ETCD_BIN} did not run (${probe.error?.message ?? `exit ${probe.status}`})`)
  const version = /etcd Version: (\S+)/.exec(probe.stdout)?.[1] ?? 'unknown'
  const cluster = await EtcdCluster.start({ durable: true })
  return {
    endpoints: cluster.endpoints,
    version: `${version} (3 members, fsync'd)`,
    close: () => cluster.stop(),
  }
}

/** Opens an etcd3 client over every member. */
export function connectEtcd(endpoints: readonly string[]): Etcd3 {
  return new Etcd3({ hosts: [...endpoints] })
}

/** Deletes every key under `prefix` (an external cluster keeps nothing of the run). */
export async function deleteEtcdKeys(endpoints: readonly string[], prefix: string): Promise<void> {
  const client = connectEtcd(endpoints)
  try {
    await client.delete().prefix(prefix)
  } finally {
    client.close()
  }
}

/**
 * The etcd backend against the floor (a bare lease grant, a `create_revision
 * == 0` transaction put and an owner-compared transaction delete, with the
 * lease revoked in the background, on one etcd3 client) and the peer etcd3
 * `Lock` recipe (lease, transaction put, release by revoking the lease).
 * Every variant has its own client to the same members.
 */
export async function etcdSuite(endpoints: readonly string[], keyPrefix: string): Promise<BackendSuite> {
  const [lwClient, rawClient, recipeClient] = [
    connectEtcd(endpoints),
    connectEtcd(endpoints),
    connectEtcd(endpoints),
  ]
  const backend = createEtcdBackend({ client: lwClient, keyPrefix: `${keyPrefix}lw/` })

  const raw: PairVariant = {
    id: 'raw',
    label: 'raw lease + txn put + txn delete',
    role: 'floor',
    async pair(key) {
      const name = Buffer.from(`${keyPrefix}raw/${key}`)
      const owner = Buffer.from(randomUUID())
      const lease = await rawClient.leaseClient.leaseGrant({ TTL: LEASE_SECONDS })
      const put = await rawClient.kv.txn({
        compare: [{ key: name, target: 'Create', result: 'Equal', create_revision: 0 }],
        success: [{ request_put: { key: name, value: owner, lease: lease.ID } }],
      })
      if (!put.succeeded) throw new Error(`raw: ${key} is held`)
      const deleted = await rawClient.kv.txn({
        compare: [{ key: name, target: 'Value', result: 'Equal', value: owner }],
        success: [{ request_delete_range: { key: name } }],
      })
      if (!deleted.succeeded) throw new Error(`raw: delete of ${key} failed`)
      rawClient.leaseClient.leaseRevoke({ ID: lease.ID }).catch(() => undefined)
    },
  }

  const recipe: PairVariant = {
    id: 'etcd3-lock',
    label: 'etcd3 Lock recipe',
    role: 'peer',
    async pair(key) {
      const lock = recipeClient.lock(`${keyPrefix}recipe/${key}`).ttl(LEASE_SECONDS)
      await lock.acquire()
      await lock.release()
    },
  }

  return {
    variants: [lockworkVariant(createLockwork({ backend })), bareVariant(backend), raw, recipe],
    floorId: 'raw',
    async close() {
      await backend.close()
      await rawClient
        .delete()
        .prefix(keyPrefix)
        .catch(() => undefined)
      for (const client of [lwClient, rawClient, recipeClient]) client.close()
    },
  }
}
