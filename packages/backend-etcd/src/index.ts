export type { EtcdBackendOptions } from './etcd-backend.js'
export { createEtcdBackend, DEFAULT_KEY_PREFIX, EtcdBackend } from './etcd-backend.js'
