import { Etcd3, GRPCDeadlineExceededError, type IOptions } from 'etcd3'

/** Default deadline of each etcd call the backend makes, in ms. */
export const DEFAULT_OPERATION_TIMEOUT_MS = 3_000

/** How long a member whose call ran into its deadline gets no further calls, in ms. */
export const STALLED_MEMBER_SKIP_MS = 10_000

/** The fault-handling policy shape etcd3 calls: run `fn`, or throw without calling it to skip. */
interface CallPolicy {
  execute<T>(fn: (context: { signal: AbortSignal }) => PromiseLike<T> | T, signal?: AbortSignal): Promise<T>
}

/**
 * Settings of the client the backend opens from `endpoints`: every unary call
 * gets a deadline of `operationTimeoutMs` (so a cluster without quorum fails a
 * call instead of holding it), HTTP/2 keepalive pings every 5 s (etcd's
 * minimum) so a watch stream to a dead or paused member ends within about
 * 7 s instead of hanging, no retries of
 * calls that were sent (a retried release or extension could report a wrong
 * answer), and a member whose call ran into its deadline is skipped for
 * {@link STALLED_MEMBER_SKIP_MS}.
 */
export function ownClientOptions(
  endpoints: readonly string[],
  operationTimeoutMs: number,
  etcdOptions: Partial<IOptions> | undefined,
): IOptions {
  return {
    dialTimeout: operationTimeoutMs,
    grpcOptions: {
      // etcd refuses pings more often than every 5 s (--grpc-keepalive-min-time) by closing the connection.
      'grpc.keepalive_time_ms': 5_000,
      'grpc.keepalive_timeout_ms': 2_000,
      'grpc.max_reconnect_backoff_ms': 1_000,
      'grpc.initial_reconnect_backoff_ms': 100,
    },
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + operationTimeoutMs }),
    faultHandling: {
      global: notSentRetry(endpoints.length) as NonNullable<IOptions['faultHandling']>['global'],
      host: stalledMemberSkip(endpoints.length, STALLED_MEMBER_SKIP_MS) as NonNullable<
        IOptions['faultHandling']
      >['host'],
    },
    ...etcdOptions,
    hosts: [...endpoints],
  }
}

/**
 * etcd3's global fault-handling policy for the backend's own client: a call
 * that failed because no connection to its member could be established (so
 * it was never sent) goes to the next member, up to once per member. A call
 * that was sent is never repeated: its failure reaches the caller as a
 * `BackendError`, and the core decides whether to try again.
 */
function notSentRetry(members: number): {
  execute<T>(fn: (context: { signal: AbortSignal }) => PromiseLike<T> | T, signal?: AbortSignal): Promise<T>
} {
  return {
    async execute(fn, signal) {
      const context = { signal: signal ?? new AbortController().signal }
      for (let attempt = 1; ; attempt++) {
        try {
          return await fn(context)
        } catch (error) {
          if (attempt >= members || !neverSent(error)) throw error
        }
      }
    },
  }
}

/**
 * etcd3's per-member policy for the backend's own client: a member a call
 * to which ran into its deadline (a paused or stalled process: the
 * connection stays open, nothing answers) is skipped for `skipMs` while
 * another member is not, so one stalled member costs one deadline per
 * `skipMs` instead of one per call routed to it. A skipped member is never
 * called, and etcd3 tries the next one. When every member stalled (no
 * quorum), calls go through, and fail at their deadline.
 */
function stalledMemberSkip(members: number, skipMs: number): (host: string) => CallPolicy {
  const stalledUntil = new Map<string, number>()
  const stalled = (host: string, now: number) => (stalledUntil.get(host) ?? 0) > now
  return (host) => ({
    async execute(fn, signal) {
      const now = Date.now()
      if (stalled(host, now)) {
        let healthy = members
        for (const until of stalledUntil.values()) if (until > now) healthy--
        if (healthy > 0)
          throw new Error(`No connection established: ${host} stalled (a call ran into its deadline)`)
      }
      try {
        return await fn({ signal: signal ?? new AbortController().signal })
      } catch (error) {
        if (error instanceof GRPCDeadlineExceededError) stalledUntil.set(host, Date.now() + skipMs)
        throw error
      }
    },
  })
}

/** Whether gRPC failed a call before sending it: no connection to the member could be made. */
function neverSent(error: unknown): boolean {
  return error instanceof Error && /No connection established|ECONNREFUSED/.test(error.message)
}

/** Opens the backend's own client. */
export function openClient(options: IOptions): Etcd3 {
  return new Etcd3(options)
}

/** Endpoints for messages: `127.0.0.1:2379,127.0.0.1:22379`. */
export function describeEndpoints(endpoints: readonly string[]): string {
  return endpoints.map((e) => e.replace(/^https?:\/\//, '')).join(',')
}
