/// <reference lib="esnext.disposable" preserve="true" />
export type {
  AcquireResult,
  CacheEntry,
  ListedCacheEntry,
  ListedLock,
  ListKind,
  ListOptions,
  ListPage,
  LockBackend,
  LockGrant,
  LockInfo,
  PermitAcquireResult,
  PermitHolder,
  PermitHolders,
  StoredCacheEntry,
} from './backend.js'
export {
  MAX_DURATION_MS,
  MAX_FULL_KEY_LENGTH,
  MAX_KEY_LENGTH,
  MAX_LIST_LIMIT,
  MAX_PREFIX_LENGTH,
  MAX_SEMAPHORE_LIMIT,
} from './backend.js'
export type { CachedFunction, CachedOptions, CachedOptionsPartialKey } from './cached.js'
export { backendClosedError, isClosedError } from './closed-error.js'
export type { Codec } from './codec.js'
export { devalueCodec, jsonCodec } from './codec.js'
export type { Duration, DurationUnit, DurationUnitAnyCase } from './duration.js'
export { toMs } from './duration.js'
export type { LockLostReason, LockworkErrorCode } from './errors.js'
export {
  BackendError,
  ComputeFailedError,
  InvalidArgumentError,
  LockBusyError,
  LockLostError,
  LockTimeoutError,
  LockworkError,
  toBackendError,
} from './errors.js'
export type { EveryJob, EveryJobFunction, EveryOptions, EveryTick } from './every.js'
export type { GrantWait, GrantWaitRegistryOptions, GrantWaitRequest } from './grant-wait-support.js'
export { GrantWaitRegistry } from './grant-wait-support.js'
export type { KeyOption, NotInferred, PartialKeyOption } from './helper-support.js'
export type { JobOutcome, JobRun, JobSchedule, JobSkipReason, JobSummary } from './job-history.js'
export {
  DEFAULT_JOB_HISTORY,
  MAX_INDEXED_JOBS,
  MAX_JOB_ERROR_LENGTH,
  MAX_JOB_HISTORY,
  MIN_JOB_HISTORY_RETENTION_MS,
} from './job-history.js'
export { validatePrefix } from './key.js'
export type { LeaderInfo, Leadership, LeaderTerm, LeadFunction, LeadOptions } from './lead.js'
export type { LockworkListOptions, LockworkListPage } from './list.js'
export { DEFAULT_LIST_LIMIT } from './list.js'
export type { KeyOrderedSource } from './list-support.js'
export { decodeListCursor, encodeListCursor, listByKey, prefixUpperBound } from './list-support.js'
export { Lock } from './lock.js'
export type { AcquireOptions, LockworkOptions, TryAcquireOptions } from './lockwork.js'
export { createLockwork, Lockwork } from './lockwork.js'
export type { OnceFunction, OnceOptions, OnceOptionsPartialKey } from './once.js'
export type { HolderInfo, OwnerLabel } from './owner-label.js'
export { labelOf, MAX_LABEL_LENGTH, MAX_OWNER_LENGTH } from './owner-label.js'
export type { RwLockOptions, TryRwLockOptions } from './rwlock.js'
export { ReadWriteLock } from './rwlock.js'
export type { PermitOptions, SemaphoreOptions, SemaphoreState, TryPermitOptions } from './semaphore.js'
export { Permit, Semaphore } from './semaphore.js'
export type {
  CacheComputeEndMessage,
  CacheComputeStartMessage,
  CacheLookupMessage,
  JobTickMessage,
  LeaseEventMessage,
  LeaseKind,
  LockAcquiredMessage,
  LockAcquireStartMessage,
  LockExtendedMessage,
  LockFailedMessage,
  LockLostMessage,
  LockReleasedMessage,
  LockWaitMessage,
} from './telemetry.js'
export {
  CACHE_COMPUTE_END_CHANNEL,
  CACHE_COMPUTE_START_CHANNEL,
  CACHE_LOOKUP_CHANNEL,
  JOB_TICK_CHANNEL,
  LOCK_ACQUIRE_START_CHANNEL,
  LOCK_ACQUIRED_CHANNEL,
  LOCK_EXTENDED_CHANNEL,
  LOCK_FAILED_CHANNEL,
  LOCK_LOST_CHANNEL,
  LOCK_RELEASED_CHANNEL,
  LOCK_WAIT_CHANNEL,
} from './telemetry.js'
