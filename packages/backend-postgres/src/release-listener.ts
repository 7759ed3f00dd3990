import type { ClientConfig, Notification } from './driver-types.js'
import { Client } from './driver-types.js'
import { routeOf } from './grant-payload.js'

/** First reconnect delay after a failed attempt; doubles per failure. */
const BACKOFF_BASE_MS = 100
/** Longest delay between reconnect attempts. */
const BACKOFF_MAX_MS = 5_000

const ignore = (): void => {}

/** Called with the notification's payload, or with `undefined` when the connection was lost. */
export type Wake = (payload: string | undefined) => void

/**
 * The one dedicated `LISTEN` connection of a backend.
 *
 * Created lazily by the first wait. It must be a real session connection
 * (not through a transaction-mode pooler, which would drop the `LISTEN`).
 * When the connection is lost every subscriber is woken, because a
 * notification sent while nobody listens is gone: the woken waiter re-tries
 * the lock and, if it is still held, waits again, which reconnects (at once
 * the first time, then with exponential backoff while attempts fail).
 */
export class ReleaseListener {
  readonly #config: ClientConfig
  readonly #channel: string
  readonly #listenSql: string
  readonly #subscribers = new Map<string, Set<Wake>>()
  #client: Client | undefined
  #connecting: Promise<boolean> | undefined
  #listening = false
  #closed = false
  #failures = 0
  #retryAt = 0

  /**
   * @param config - how to open the listening connection.
   * @param channel - the notification channel, fixed per lease table.
   * @param listenSql - the `LISTEN` statement for `channel`.
   */
  constructor(config: ClientConfig, channel: string, listenSql: string) {
    this.#config = config
    this.#channel = channel
    this.#listenSql = listenSql
  }

  /** Whether `LISTEN` is active right now. */
  get listening(): boolean {
    return this.#listening
  }

  /** The listening connection's server process id, while listening (for diagnostics and tests). */
  get processId(): number | undefined {
    return this.#listening ? (this.#client as { processID?: number } | undefined)?.processID : undefined
  }

  /**
   * Calls `wake` with the payload of every notification routed to `route`
   * (a released key, a semaphore's prefixed key, or a key's grants: see
   * `routeOf`), and with `undefined` when the connection is lost; the caller
   * unsubscribes. Returns the unsubscribe function.
   */
  subscribe(route: string, wake: Wake): () => void {
    let set = this.#subscribers.get(route)
    if (set === undefined) {
      set = new Set()
      this.#subscribers.set(route, set)
    }
    const own = set
    own.add(wake)
    return () => {
      own.delete(wake)
      if (own.size === 0 && this.#subscribers.get(route) === own) this.#subscribers.delete(route)
    }
  }

  /**
   * Resolves `true` once `LISTEN` is active, connecting if needed; `false`
   * when the connection cannot be made now (the caller falls back to
   * bounded re-tries). Never rejects.
   */
  ready(): Promise<boolean> {
    if (this.#closed) return Promise.resolve(false)
    if (this.#listening) return Promise.resolve(true)
    if (this.#connecting !== undefined) return this.#connecting
    if (Date.now() < this.#retryAt) return Promise.resolve(false)
    const attempt = this.#connect().finally(() => {
      if (this.#connecting === attempt) this.#connecting = undefined
    })
    this.#connecting = attempt
    return attempt
  }

  /** Stops listening, wakes every subscriber and closes the connection. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true
    this.#listening = false
    this.#wakeAll()
    await this.#connecting
    const client = this.#client
    this.#client = undefined
    if (client !== undefined) await client.end().catch(ignore)
  }

  async #connect(): Promise<boolean> {
    const client = new Client(this.#config)
    client.on('error', () => this.#lost(client))
    client.on('end', () => this.#lost(client))
    client.on('notification', (message: Notification) => this.#notified(message))
    try {
      await client.connect()
      await client.query(this.#listenSql)
    } catch {
      this.#failures += 1
      const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** (this.#failures - 1))
      this.#retryAt = Date.now() + delay * (0.5 + Math.random() / 2)
      await client.end().catch(ignore)
      return false
    }
    if (this.#closed) {
      await client.end().catch(ignore)
      return false
    }
    this.#client = client
    this.#listening = true
    this.#failures = 0
    this.#retryAt = 0
    return true
  }

  #lost(client: Client): void {
    if (client !== this.#client) return
    this.#client = undefined
    this.#listening = false
    client.end().catch(ignore)
    this.#wakeAll()
  }

  #notified(message: Notification): void {
    if (message.channel !== this.#channel || message.payload === undefined) return
    const payload = message.payload
    const set = this.#subscribers.get(routeOf(payload))
    if (set === undefined) return
    for (const wake of [...set]) wake(payload)
  }

  #wakeAll(): void {
    const all = [...this.#subscribers.values()].flatMap((set) => [...set])
    for (const wake of all) wake(undefined)
  }
}
