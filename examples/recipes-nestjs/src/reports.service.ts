import { appendFileSync } from 'node:fs'
import { Inject, Injectable } from '@nestjs/common'
import { currentTick, ExclusiveCron } from './exclusive-cron.decorator.js'

/** The injection token of the file every run appends a line to (so a test can count runs across processes). */
export const EFFECTS_LOG = Symbol('effects log')

/** A service with a cron job that must run once per tick however many replicas run it. */
@Injectable()
export class ReportsService {
  readonly #effectsLog: string

  constructor(@Inject(EFFECTS_LOG) effectsLog: string) {
    this.#effectsLog = effectsLog
  }

  /** Every second, on one replica: records the tick it ran for. */
  @ExclusiveCron('* * * * * *', { name: 'report' })
  async report(): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, 50)) // build and send the report
    const tick = currentTick()
    appendFileSync(this.#effectsLog, `report ${tick?.scheduledAt} ${process.pid}\n`)
  }
}
