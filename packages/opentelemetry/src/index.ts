export type { InstrumentLockworkOptions, LockworkInstrumentation } from './instrument-lockwork.js'
export { INSTRUMENTATION_NAME, instrumentLockwork } from './instrument-lockwork.js'
