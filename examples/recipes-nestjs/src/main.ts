/**
 * Runs the recipe app, a NestJS application context with no HTTP server,
 * on one SQLite file: start several and the `report` job still runs once a
 * second. Environment: `LOCKWORK_DB` (default `.lockwork.sqlite`),
 * `EFFECTS_LOG` (default `effects.log`). Prints `ready`; on SIGTERM Nest's
 * shutdown hooks stop the cron jobs and close the lockwork client.
 */
import 'reflect-metadata'
import { NestFactory } from '@nestjs/core'
import { AppModule } from './app.module.js'

const app = await NestFactory.createApplicationContext(
  AppModule.forRoot({
    db: process.env.LOCKWORK_DB ?? '.lockwork.sqlite',
    effectsLog: process.env.EFFECTS_LOG ?? 'effects.log',
  }),
  { logger: ['error', 'warn'] },
)
app.enableShutdownHooks()
console.log('ready')
