/**
 * A benchmark child process: it holds, waits for and releases locks, or runs
 * a stampede, when the parent says so over the IPC channel, and answers with
 * absolute timestamps (µs) that the parent compares across processes.
 */

import type { BackendName } from '../cli.js'
import { absoluteUs, sleepUntilUs } from '../clock.js'
import { runCrowdCallers } from '../crowd-callers.js'
import { runStampedeCallers } from '../stampede-callers.js'
import { openTarget, type RunConfig, type Target } from '../targets.js'
import { type Contender, openContenders } from './contenders.js'
import { type ChildPairVariant, openChildPairVariant } from './pair-variant.js'
import type { Command, Reply } from './protocol.js'

const contenders = new Map<string, Contender>()
const targets = new Map<BackendName, Target>()
let config: RunConfig | undefined
let pairVariant: ChildPairVariant | undefined

function openedPairVariant(): ChildPairVariant {
  if (pairVariant === undefined) throw new Error('no pair variant in this process (pairs-open first)')
  return pairVariant
}

function send(reply: Reply): void {
  // After `close` the parent may already have gone; a late reply is dropped.
  if (process.connected) process.send?.(reply)
}

function contender(name: string): Contender {
  const found = contenders.get(name)
  if (found === undefined) throw new Error(`no contender ${name} in this process`)
  return found
}

function target(name: BackendName): Target {
  if (config === undefined) throw new Error('not initialised')
  let found = targets.get(name)
  if (found === undefined) {
    found = openTarget(name, config)
    targets.set(name, found)
  }
  return found
}

async function handle(command: Command): Promise<void> {
  switch (command.op) {
    case 'init': {
      config = command.config
      for (const opened of await openContenders(command.config, command.backends, target)) {
        contenders.set(opened.name, opened)
      }
      const infos = [...contenders.values()].map(({ name, backend, label, role }) => ({
        name,
        backend,
        label,
        role,
      }))
      return send({ id: command.id, kind: 'done', contenders: infos })
    }
    case 'hold': {
      await contender(command.contender).hold(command.key)
      return send({ id: command.id, kind: 'done', atUs: absoluteUs() })
    }
    case 'wait': {
      const waiting = contender(command.contender).wait(command.key)
      send({ id: command.id, kind: 'started' })
      await waiting
      return send({ id: command.id, kind: 'done', atUs: absoluteUs() })
    }
    case 'release': {
      const atUs = absoluteUs()
      await contender(command.contender).release(command.key)
      return send({ id: command.id, kind: 'done', atUs })
    }
    case 'stampede': {
      const t = target(command.backend)
      await sleepUntilUs(command.startAtUs)
      const stampede = await runStampedeCallers(
        t,
        command.strategy,
        command.key,
        command.callers,
        command.computeMs,
      )
      return send({ id: command.id, kind: 'done', stampede })
    }
    case 'crowd': {
      const t = target(command.backend)
      // Open the connections before the start, so the crowd measures waiting, not connecting.
      await t.backend.peek(`${command.key}:warm-up`)
      await sleepUntilUs(command.startAtUs)
      const crowd = await runCrowdCallers(t, command.key, command.waiters, command.sectionMs, command.waitMs)
      return send({ id: command.id, kind: 'done', crowd })
    }
    case 'pairs-open': {
      if (pairVariant !== undefined) throw new Error('this process already runs a pair variant')
      pairVariant = openChildPairVariant(
        command.backend,
        command.telemetry,
        command.instance,
        command.sqliteDir,
      )
      return send({ id: command.id, kind: 'done' })
    }
    case 'pairs-slice': {
      const slice = await openedPairVariant().slice(command.request)
      return send({ id: command.id, kind: 'done', slice })
    }
    case 'pairs-latency':
      return send({ id: command.id, kind: 'done', latencyUs: openedPairVariant().latencyUs() })
    case 'close': {
      await pairVariant?.close()
      pairVariant = undefined
      for (const c of contenders.values()) await c.close()
      for (const t of targets.values()) await t.close()
      targets.clear()
      send({ id: command.id, kind: 'done' })
      process.disconnect?.()
      return
    }
  }
}

process.on('message', (command: Command) => {
  handle(command).catch((error: unknown) => {
    const message = error instanceof Error ? (error.stack ?? error.message) : String(error)
    send({ id: command.id, kind: 'error', message })
  })
})
