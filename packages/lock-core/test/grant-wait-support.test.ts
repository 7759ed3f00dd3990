import { afterEach, describe, expect, it, vi } from 'vitest'
import { type GrantWait, GrantWaitRegistry, type GrantWaitRequest, type LockGrant } from '../src/index.js'

/** A parsed grant message, as a backend would have it. */
interface Message {
  readonly owner: string
  readonly fence: number
}

/** A queued entry, as a backend would record it. */
interface Entry {
  readonly key: string
  readonly wake: () => void
}

const REFRESH_MS = 1_000

type Body = (wait: GrantWait<Message, Entry>) => Promise<LockGrant | undefined>

/** A backend's grant waits over test doubles: each call runs the body given for its key. */
class TestWaits extends GrantWaitRegistry<Message, Entry> {
  readonly refreshed: Entry[][] = []
  readonly bodies = new Map<string, Body>()
  readonly requests: GrantWaitRequest[] = []

  protected override waitInQueue(
    request: GrantWaitRequest,
    wait: GrantWait<Message, Entry>,
  ): Promise<LockGrant | undefined> {
    this.requests.push(request)
    const body = this.bodies.get(request.key)
    if (body === undefined) throw new Error(`no body for ${request.key}`)
    return body(wait)
  }

  protected override refresh(registrations: ReadonlySet<Entry>): void {
    this.refreshed.push([...registrations])
  }

  /** One wait of `owner` on `key`, its backend part being `body`. */
  run(
    key: string,
    owner: string,
    signal: AbortSignal | undefined,
    body: Body,
  ): Promise<LockGrant | undefined> {
    this.bodies.set(key, body)
    return this.wait(key, owner, 1_000, 60_000, signal)
  }
}

/** A registry over test doubles, with what its callbacks saw. */
function setUp() {
  const pending = new Set<() => void>()
  const registry = new TestWaits({
    refreshMs: REFRESH_MS,
    pending,
    grantOf: (message, entry) => ({ fence: message.fence, remainingMs: entry.key.length }),
  })
  return { registry, refreshed: registry.refreshed, pending }
}

/** Resolves once `wait` exists; `release()` lets the body go on. */
function controlledBody() {
  let handle: GrantWait<Message, Entry> | undefined
  let started: () => void = () => {}
  const ready = new Promise<void>((resolve) => {
    started = resolve
  })
  return {
    ready,
    get wait(): GrantWait<Message, Entry> {
      if (handle === undefined) throw new Error('the body has not started')
      return handle
    },
    take(wait: GrantWait<Message, Entry>): void {
      handle = wait
      started()
    },
  }
}

const turns = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

afterEach(() => {
  vi.useRealTimers()
})

describe('GrantWaitRegistry', () => {
  it('settles the caller with a heard grant at once; the body finishes (and drops the entry) only after that', async () => {
    const { registry, refreshed, pending } = setUp()
    const events: string[] = []
    const control = controlledBody()
    const caller = registry.run('abc', 'me', undefined, async (wait) => {
      control.take(wait)
      wait.watch()
      try {
        const granted = await wait.queued({ key: 'abc', wake: wait.wake }, () => 60_000)
        events.push('body done')
        return granted
      } finally {
        wait.dispose()
      }
    })
    caller.then(() => events.push('caller settled'))
    await control.ready
    expect(registry.requests).toEqual([
      { key: 'abc', owner: 'me', ttlMs: 1_000, timeoutMs: 60_000, signal: undefined },
    ])
    expect(pending.size).toBe(1)
    control.wait.hear({ owner: 'someone else', fence: 7 })
    expect(control.wait.over).toBe(false)
    control.wait.hear({ owner: 'me', fence: 8 })
    expect(control.wait.over).toBe(true)
    // Settled from hear() itself: a promise turn later, before the body returns.
    await Promise.resolve()
    await Promise.resolve()
    expect(events).toEqual(['caller settled'])
    expect(await caller).toEqual({ fence: 8, remainingMs: 3 })
    await registry.settle()
    expect(events).toEqual(['caller settled', 'body done'])
    expect(pending.size).toBe(0)
    expect(refreshed).toEqual([])
  })

  it('refreshes the queued entries every refreshMs while any is queued, then stops', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] })
    const { registry, refreshed } = setUp()
    const first = controlledBody()
    const second = controlledBody()
    const queue = (control: ReturnType<typeof controlledBody>, key: string) =>
      registry.run(key, key, undefined, async (wait) => {
        control.take(wait)
        try {
          return await wait.queued({ key, wake: wait.wake }, () => 60_000)
        } finally {
          wait.dispose()
        }
      })
    const one = queue(first, 'one')
    await first.ready
    vi.advanceTimersByTime(REFRESH_MS - 1)
    expect(refreshed).toEqual([])
    vi.advanceTimersByTime(1)
    expect(refreshed.map((entries) => entries.map((entry) => entry.key))).toEqual([['one']])
    const two = queue(second, 'two')
    await second.ready
    vi.advanceTimersByTime(REFRESH_MS)
    expect(refreshed.at(-1)?.map((entry) => entry.key)).toEqual(['one', 'two'])
    // A refresh that finds an entry gone ends its wait through the entry's own handle.
    refreshed.at(-1)?.[0]?.wake()
    expect(await one).toBeUndefined()
    vi.advanceTimersByTime(REFRESH_MS)
    expect(refreshed.at(-1)?.map((entry) => entry.key)).toEqual(['two'])
    second.wait.wake()
    expect(await two).toBeUndefined()
    const count = refreshed.length
    vi.advanceTimersByTime(10 * REFRESH_MS)
    expect(refreshed.length).toBe(count)
    expect(vi.getTimerCount()).toBe(0)
  })

  it('ends a queued wait after delayMs, and never arms the timer of a wait already over', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] })
    const { registry } = setUp()
    const control = controlledBody()
    const caller = registry.run('k', 'me', undefined, async (wait) => {
      control.take(wait)
      try {
        return await wait.queued({ key: 'k', wake: wait.wake }, () => 5_000)
      } finally {
        wait.dispose()
      }
    })
    await control.ready
    vi.advanceTimersByTime(4_999)
    expect(control.wait.over).toBe(false)
    vi.advanceTimersByTime(1)
    expect(control.wait.over).toBe(true)
    expect(await caller).toBeUndefined()
    const delay = vi.fn(() => 5_000)
    control.wait.wakeAfter(delay)
    expect(delay).not.toHaveBeenCalled()
    expect(vi.getTimerCount()).toBe(0)
  })

  it('reports a grant heard before the entry was registered when queued() runs, not earlier', async () => {
    const { registry } = setUp()
    const events: string[] = []
    const control = controlledBody()
    let enqueued: () => void = () => {}
    const reply = new Promise<void>((resolve) => {
      enqueued = resolve
    })
    const caller = registry.run('four', 'me', undefined, async (wait) => {
      control.take(wait)
      wait.watch()
      try {
        await reply
        events.push('enqueue replied')
        return await wait.queued({ key: 'four', wake: wait.wake }, () => 60_000)
      } finally {
        wait.dispose()
      }
    })
    caller.then(() => events.push('caller settled'))
    await control.ready
    control.wait.hear({ owner: 'me', fence: 3 })
    expect(control.wait.over).toBe(true)
    await turns()
    expect(events).toEqual([])
    enqueued()
    expect(await caller).toEqual({ fence: 3, remainingMs: 4 })
    expect(events).toEqual(['enqueue replied', 'caller settled'])
  })

  it('ends the wait without a grant on another message, on abort and on the backend closing it', async () => {
    const { registry, pending } = setUp()
    const run = (signal?: AbortSignal) => {
      const control = controlledBody()
      const caller = registry.run('k', 'me', signal, async (wait) => {
        control.take(wait)
        wait.watch()
        try {
          return await wait.queued({ key: 'k', wake: wait.wake }, () => 60_000)
        } finally {
          wait.dispose()
        }
      })
      return { control, caller }
    }
    const released = run()
    await released.control.ready
    released.control.wait.hear(undefined)
    expect(await released.caller).toBeUndefined()
    // Once over, a grant is no longer taken.
    released.control.wait.hear({ owner: 'me', fence: 1 })

    const controller = new AbortController()
    const removeSpy = vi.spyOn(controller.signal, 'removeEventListener')
    const aborted = run(controller.signal)
    await aborted.control.ready
    controller.abort()
    expect(await aborted.caller).toBeUndefined()
    expect(removeSpy).toHaveBeenCalledWith('abort', aborted.control.wait.wake)

    const closed = run()
    await closed.control.ready
    expect(pending.size).toBe(1)
    for (const end of pending) end()
    expect(await closed.caller).toBeUndefined()
    expect(pending.size).toBe(0)
  })

  it('stops listening to the caller’s signal once a grant settled the caller', async () => {
    const { registry } = setUp()
    const controller = new AbortController()
    const control = controlledBody()
    const caller = registry.run('k', 'me', controller.signal, async (wait) => {
      control.take(wait)
      wait.watch()
      try {
        const granted = await wait.queued({ key: 'k', wake: wait.wake }, () => 60_000)
        // A late abort changes nothing: the caller has its grant.
        controller.abort()
        return granted
      } finally {
        wait.dispose()
      }
    })
    await control.ready
    const removeSpy = vi.spyOn(controller.signal, 'removeEventListener')
    control.wait.hear({ owner: 'me', fence: 9 })
    expect(removeSpy).toHaveBeenCalledWith('abort', control.wait.wake)
    expect(await caller).toEqual({ fence: 9, remainingMs: 1 })
  })

  it('rejects the caller with the body’s error, drops its entry, and settle() waits for every body', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] })
    const { registry, refreshed } = setUp()
    const failure = new Error('store failed')
    const failing = registry.run('k', 'me', undefined, async (wait) => {
      wait.watch()
      try {
        // The delay throws after the entry was added: dispose() must drop it.
        await wait.queued({ key: 'k', wake: wait.wake }, () => {
          throw failure
        })
        return undefined
      } finally {
        wait.dispose()
      }
    })
    await expect(failing).rejects.toBe(failure)
    vi.advanceTimersByTime(5 * REFRESH_MS)
    expect(refreshed).toEqual([])
    expect(vi.getTimerCount()).toBe(0)

    let finish: () => void = () => {}
    const slow = new Promise<void>((resolve) => {
      finish = resolve
    })
    const grant: LockGrant = { fence: 1, remainingMs: 1 }
    const caller = registry.run('slow', 'me', undefined, async () => {
      await slow
      return grant
    })
    let settled = false
    const settling = registry.settle().then(() => {
      settled = true
    })
    await Promise.resolve()
    await Promise.resolve()
    expect(settled).toBe(false)
    finish()
    await settling
    expect(await caller).toBe(grant)
  })
})
