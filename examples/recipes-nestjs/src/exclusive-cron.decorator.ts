import { AsyncLocalStorage } from 'node:async_hooks'
import type { Duration, Lockwork } from '@lockwork/core'
import { toMs } from '@lockwork/core'
import {
  type CoordinatedTick,
  type LockworkCoordinatorOptions,
  lockworkCoordinator,
} from '@lockwork/node-cron'
import { applyDecorators, Inject } from '@nestjs/common'
import { Cron, type CronOptions } from '@nestjs/schedule'
import { Cron as CronSchedule } from 'croner'
import { LOCKWORK } from './lockwork.module.js'

/** Options of {@link ExclusiveCron}: `@Cron`'s, with a required name, and the claim's. */
export type ExclusiveCronOptions = Omit<CronOptions, 'name' | 'utcOffset'> &
  LockworkCoordinatorOptions & {
    /** The job's name, the same on every replica: it keys the tick claims and the run lock. */
    readonly name: string
    /**
     * How long a tick's claim lives (never released early), and so the
     * latest a replica may still run a tick (half of it, or `maxLateness`).
     * Default `'30s'`.
     */
    readonly claimFor?: Duration
  }

/** The tick the `@ExclusiveCron` method running in this async context runs for. */
const ticks = new AsyncLocalStorage<CoordinatedTick>()

/**
 * Inside an `@ExclusiveCron` method (and what it awaits): the tick this run
 * belongs to, its job name and scheduled time, the same on every replica (an
 * idempotency key for the run's effects). `undefined` elsewhere.
 */
export function currentTick(): CoordinatedTick | undefined {
  return ticks.getStore()
}

/** The property the lockwork client is injected into on a class with an `@ExclusiveCron` method. */
const CLIENT = Symbol('lockwork client of @ExclusiveCron')

/**
 * `@Cron` from `@nestjs/schedule`, run once per tick across every replica
 * that shares the lockwork backend. Each replica's timer fires as usual; the
 * method runs only on the replica that claims the tick, with the
 * `@lockwork/node-cron` coordinator: a claim keyed by the job's name and the
 * tick's scheduled time, never released early (so a tick runs at most once
 * however late a replica gets to it), and a run lock that keeps two runs of
 * the job from overlapping. Replicas that lose the claim skip the tick.
 *
 * The class needs the client from `LockworkModule.forRoot` (it is injected
 * into a private property). The cron expression must be a string (5 fields,
 * or 6 with seconds first); the tick's scheduled time is read from it, so
 * every replica names a tick alike.
 *
 * @example
 * ```ts
 * @Injectable()
 * class Reports {
 *   @ExclusiveCron('0 * * * *', { name: 'hourly-report' })
 *   async hourly(): Promise<void> { ... }
 * }
 * ```
 */
export function ExclusiveCron(cronExpression: string, options: ExclusiveCronOptions): MethodDecorator {
  const { name, claimFor, holdFor, maxLateness, ttl, onLate, ...cronOptions } = options
  const claimMs = toMs(claimFor ?? '30s', 'options.claimFor')
  const schedule = new CronSchedule(cronExpression, {
    paused: true,
    ...(options.timeZone === undefined ? {} : { timezone: options.timeZone }),
  })
  const coordinatorOptions: LockworkCoordinatorOptions = { holdFor, maxLateness, ttl, onLate }
  // One coordinator per client: it remembers the run locks it holds between a tick and its end.
  const coordinators = new WeakMap<Lockwork, ReturnType<typeof lockworkCoordinator>>()

  const exclusive: MethodDecorator = (target, _propertyKey, descriptor) => {
    Inject(LOCKWORK)(target, CLIENT)
    const method = descriptor.value as unknown as (...args: unknown[]) => unknown
    const wrapped = async function (this: { [CLIENT]?: Lockwork }, ...args: unknown[]): Promise<unknown> {
      const lw = this[CLIENT]
      if (lw === undefined)
        throw new Error(`@ExclusiveCron("${name}"): no lockwork client; import LockworkModule.forRoot`)
      let coordinator = coordinators.get(lw)
      if (coordinator === undefined) {
        coordinator = lockworkCoordinator(lw, coordinatorOptions)
        coordinators.set(lw, coordinator)
      }
      // The latest scheduled time at or before now: the tick this timer fired for (cron never fires early).
      const scheduledAt = schedule.previousRuns(1, new Date(Date.now() + 1))[0]
      if (scheduledAt === undefined) return undefined
      const tickKey = `${name}:${scheduledAt.toISOString()}`
      if (!(await coordinator.shouldRun(tickKey, claimMs))) return undefined
      try {
        return await ticks.run({ name, scheduledAt: scheduledAt.getTime() }, () => method.apply(this, args))
      } finally {
        await coordinator.onComplete?.(tickKey)
      }
    }
    descriptor.value = wrapped as unknown as typeof descriptor.value
  }

  // `exclusive` first: it replaces the method, and `Cron` then records its metadata on the replacement.
  return applyDecorators(
    exclusive,
    Cron(cronExpression, {
      ...cronOptions,
      name,
      // @nestjs/schedule skips a tick its timer reaches more than `threshold` late (250 ms by
      // default); lateness is the coordinator's to judge, so let the timer through.
      threshold: cronOptions.threshold ?? Math.floor(claimMs / 2),
    }),
  )
}
