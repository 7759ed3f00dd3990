/** The slice of an ioredis `Redis` or `Cluster` connection the subscriber uses. */
export interface SubscriberConnection {
  connect(): Promise<void>
  subscribe(...channels: string[]): Promise<unknown>
  unsubscribe(channel: string): Promise<unknown>
  on(event: 'message', listener: (channel: string, message: string) => void): unknown
  on(event: 'error', listener: (error: Error) => void): unknown
  on(event: 'ready', listener: () => void): unknown
  disconnect(): void
}

interface Channel {
  readonly listeners: Set<(message: string) => void>
  /** Settles when the `SUBSCRIBE` has been acknowledged (or failed). */
  readonly subscribed: Promise<unknown>
  /** Set while nobody listens: the `UNSUBSCRIBE` to come unless someone listens again first. */
  linger: NodeJS.Timeout | undefined
}

/**
 * How long a channel stays subscribed after its last listener left. Under
 * contention one waiter follows another on the same key, so the next one
 * finds the subscription still active and skips a `SUBSCRIBE` round trip;
 * an idle key is unsubscribed soon after.
 */
const LINGER_MS = 1_000

/** What listeners receive after the connection came back: a message may have been missed meanwhile. */
export const RECONNECTED = ''

/**
 * Wake-on-release over Redis pub/sub: one dedicated subscriber connection,
 * created on first use, shared by every waiter of one backend. A channel is
 * subscribed while at least one listener waits on it, and unsubscribed
 * {@link LINGER_MS} after the last one left unless another listener came in
 * the meantime. Commands on the one connection are processed in order, so
 * an `UNSUBSCRIBE` followed by a new `SUBSCRIBE` of the same channel ends
 * subscribed.
 *
 * When the connection comes back after a loss, every listener is called once
 * its channels are subscribed again: while it was away a release message may
 * have been missed, and a restarted or failed-over server may have lost
 * leases without any message, so every waiter looks again instead of
 * sleeping until the vanished holder's lease would have ended.
 */
export class ReleaseSubscriber {
  readonly #connect: () => SubscriberConnection
  readonly #channels = new Map<string, Channel>()
  #connection: Promise<SubscriberConnection> | undefined
  /** The connection being set up, so that `close()` can end it before it is connected. */
  #opening: SubscriberConnection | undefined
  #closed = false

  /**
   * @param connect - creates the dedicated connection, not yet connected (ioredis `lazyConnect`);
   *   called on first use, and again after a failed connection attempt.
   */
  constructor(connect: () => SubscriberConnection) {
    this.#connect = connect
  }

  /**
   * Calls `onMessage` with every message to `channel` until the returned
   * function is called. Resolves once the subscription is active, so a
   * message published after that is never missed; rejects (and stops
   * listening) if the subscription fails.
   */
  async listen(channel: string, onMessage: (message: string) => void): Promise<() => void> {
    if (this.#closed) throw new Error('the release subscriber is closed')
    let entry = this.#channels.get(channel)
    if (entry === undefined) {
      entry = {
        listeners: new Set(),
        subscribed: this.#open().then((c) => c.subscribe(channel)),
        linger: undefined,
      }
      this.#channels.set(channel, entry)
    }
    const current = entry
    clearTimeout(current.linger)
    current.linger = undefined
    const listener = (message: string) => onMessage(message)
    current.listeners.add(listener)
    const stop = (failed = false) => {
      if (!current.listeners.delete(listener) || current.listeners.size > 0) return
      if (this.#channels.get(channel) !== current) return
      // A failed subscription is forgotten at once, so the next listener subscribes anew.
      if (failed) this.#unsubscribe(channel, current)
      else {
        current.linger = setTimeout(() => this.#unsubscribe(channel, current), LINGER_MS)
        current.linger.unref()
      }
    }
    try {
      await current.subscribed
    } catch (error) {
      stop(true)
      throw error
    }
    return () => stop()
  }

  /** Disconnects the dedicated connection, if it was ever created. Listeners are left to their owners. */
  close(): void {
    this.#closed = true
    for (const entry of this.#channels.values()) clearTimeout(entry.linger)
    this.#channels.clear()
    const connection = this.#connection
    this.#connection = undefined
    // A connection still connecting is ended now: its connect() may wait for a server that is down.
    this.#opening?.disconnect()
    connection?.then((c) => c.disconnect()).catch(() => {})
  }

  #open(): Promise<SubscriberConnection> {
    this.#connection ??= this.#start()
    return this.#connection
  }

  /** Forgets `channel` and unsubscribes it, if `entry` is still its current, unlistened entry. */
  #unsubscribe(channel: string, entry: Channel): void {
    if (entry.listeners.size > 0 || this.#channels.get(channel) !== entry) return
    clearTimeout(entry.linger)
    this.#channels.delete(channel)
    this.#connection
      ?.then((c) => c.unsubscribe(channel))
      .catch(() => {
        // The connection is gone or closing; a stale subscription only costs a spurious wake-up.
      })
  }

  /** After a reconnect: subscribes every channel again (idempotent), then wakes every listener. */
  async #reconnected(connection: SubscriberConnection): Promise<void> {
    const channels = [...this.#channels.keys()]
    if (channels.length === 0) return
    // Wait for our own SUBSCRIBE so that a release from now on reaches the waiters we wake.
    await connection.subscribe(...channels).catch(() => {})
    for (const channel of channels) {
      const entry = this.#channels.get(channel)
      if (entry === undefined) continue
      for (const listener of [...entry.listeners]) listener(RECONNECTED)
    }
  }

  async #start(): Promise<SubscriberConnection> {
    const connection = this.#connect()
    this.#opening = connection
    connection.on('message', (channel, message) => {
      const entry = this.#channels.get(channel)
      if (entry === undefined) return
      for (const listener of [...entry.listeners]) listener(message)
    })
    // Failures reach waiters through the rejected SUBSCRIBE; ioredis reconnects and
    // resubscribes by itself. Without a listener ioredis would print every error.
    connection.on('error', () => {})
    let readyBefore = false
    connection.on('ready', () => {
      if (readyBefore) void this.#reconnected(connection)
      readyBefore = true
    })
    try {
      // Connect before the first SUBSCRIBE: a client without an offline queue
      // (`enableOfflineQueue: false`) rejects commands sent while connecting.
      await connection.connect()
    } catch (error) {
      connection.disconnect()
      this.#connection = undefined
      throw error
    } finally {
      if (this.#opening === connection) this.#opening = undefined
    }
    if (this.#closed) connection.disconnect()
    return connection
  }
}
