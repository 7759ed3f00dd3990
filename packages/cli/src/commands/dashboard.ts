import type { Lockwork } from '@lockwork/core'
import { startDashboard } from '../dashboard/server.js'

/** Options of `lockwork dashboard`. */
export interface DashboardCommandOptions {
  /** The address to listen on. */
  readonly host: string
  /** The port to listen on; 0 picks a free one. */
  readonly port: number
  /** Whether the page offers a Release button per lock. */
  readonly allowRelease: boolean
  /** The store URL as given; its password is not shown. */
  readonly url: string
}

/**
 * `lockwork dashboard`: serves a live page of the locks, cache entries and
 * job runs under the client's prefix until `signal` aborts (Ctrl-C), then
 * stops listening. Prints the page's address first.
 */
export async function dashboardCommand(
  lw: Lockwork,
  options: DashboardCommandOptions,
  out: NodeJS.WritableStream,
  err: NodeJS.WritableStream,
  signal: AbortSignal,
): Promise<void> {
  // Fail at once (exit 3) on a store that is unreachable or cannot list, not on the first page load.
  await lw.list({ limit: 1 })
  const dashboard = await startDashboard({
    lw,
    host: options.host,
    port: options.port,
    allowRelease: options.allowRelease,
    store: displayUrl(options.url),
    log: (line) => out.write(`${new Date().toISOString()}  ${line}\n`),
  })
  if (!isLoopback(options.host)) {
    err.write(
      `lockwork dashboard: listening on ${options.host}, not only this machine: anyone who can reach it ` +
        `sees every key and holder${options.allowRelease ? ' and can release locks' : ''}; there is no login\n`,
    )
  }
  out.write(
    `lockwork dashboard: ${dashboard.url}  (${options.allowRelease ? 'release allowed' : 'read-only'}; Ctrl-C to stop)\n`,
  )
  try {
    await new Promise<void>((resolve) => {
      if (signal.aborted) resolve()
      else signal.addEventListener('abort', () => resolve(), { once: true })
    })
  } finally {
    await dashboard.close()
  }
}

/** The store URL without a password, for the page. */
export function displayUrl(url: string): string {
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(url) || /^sqlite:/i.test(url)) return url
  try {
    const parsed = new URL(url)
    if (parsed.password === '') return url
    parsed.password = '***'
    return parsed.toString()
  } catch {
    return url.replace(/\/\/[^@/]*@/, '//***@')
  }
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host)
}
