export type { InstrumentLockworkOptions, LockworkInstrumentation } from './instrument-lockwork.js'
export { INSTRUMENTATION_NAME, INSTRUMENTED_CHANNELS, instrumentLockwork } from './instrument-lockwork.js'
