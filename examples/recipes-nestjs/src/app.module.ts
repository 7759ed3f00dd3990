import { createLockwork } from '@lockwork/core'
import { createSqliteBackend } from '@lockwork/sqlite'
import { type DynamicModule, Module } from '@nestjs/common'
import { ScheduleModule } from '@nestjs/schedule'
import { LockworkModule } from './lockwork.module.js'
import { EFFECTS_LOG, ReportsService } from './reports.service.js'

/** Where the app keeps its locks and records its runs. */
export interface AppModuleOptions {
  /** The SQLite file the replicas share. */
  readonly db: string
  /** A file each report run appends a line to. */
  readonly effectsLog: string
}

/** The recipe app: the schedule, one lockwork client, and a service with an exclusive cron job. */
@Module({})
// biome-ignore lint/complexity/noStaticOnlyClass: a NestJS dynamic module is a class with a static forRoot
export class AppModule {
  /** The module for these options. */
  static forRoot(options: AppModuleOptions): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ScheduleModule.forRoot(),
        LockworkModule.forRoot({
          useFactory: () =>
            createLockwork({ backend: createSqliteBackend({ path: options.db }), prefix: 'recipes:' }),
        }),
      ],
      providers: [{ provide: EFFECTS_LOG, useValue: options.effectsLog }, ReportsService],
    }
  }
}
