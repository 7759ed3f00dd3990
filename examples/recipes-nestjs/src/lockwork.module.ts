import type { Lockwork } from '@lockwork/core'
import {
  type DynamicModule,
  type FactoryProvider,
  Global,
  Inject,
  Module,
  type OnApplicationShutdown,
} from '@nestjs/common'

/** The injection token of the lockwork client (inject it with {@link InjectLockwork}). */
export const LOCKWORK = Symbol('lockwork client')

/** Injects the client {@link LockworkModule.forRoot} provides. */
export const InjectLockwork = (): PropertyDecorator & ParameterDecorator => Inject(LOCKWORK)

/** Options of {@link LockworkModule.forRoot}. */
export interface LockworkModuleOptions {
  /** Creates the client, e.g. `() => createLockwork({ backend })`. Called once. */
  readonly useFactory: FactoryProvider<Lockwork>['useFactory']
  /** Providers passed to `useFactory`, in order (e.g. a config service). */
  readonly inject?: FactoryProvider<Lockwork>['inject']
}

/**
 * A global module that provides one lockwork client to the whole app and
 * closes it when the app shuts down (with `app.enableShutdownHooks()`, on
 * SIGTERM): `every` jobs stop, held locks are released, the backend closes.
 */
@Global()
@Module({})
export class LockworkModule implements OnApplicationShutdown {
  readonly #lw: Lockwork

  constructor(@Inject(LOCKWORK) lw: Lockwork) {
    this.#lw = lw
  }

  /** Provides the client `options.useFactory` creates, under {@link LOCKWORK}. */
  static forRoot(options: LockworkModuleOptions): DynamicModule {
    const client: FactoryProvider<Lockwork> = {
      provide: LOCKWORK,
      useFactory: options.useFactory,
      inject: options.inject ?? [],
    }
    return { module: LockworkModule, providers: [client], exports: [client] }
  }

  /** Closes the client after the app's own shutdown hooks ran. */
  async onApplicationShutdown(): Promise<void> {
    await this.#lw.close()
  }
}
