export type { MemoryBackendOptions } from './memory-backend.js'
export { createMemoryBackend, MemoryBackend } from './memory-backend.js'
export { MemoryStore } from './memory-store.js'
