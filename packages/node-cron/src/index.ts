export type { CoordinatedTick, LockworkCoordinatorOptions } from './coordinator.js'
export { lockworkCoordinator } from './coordinator.js'
