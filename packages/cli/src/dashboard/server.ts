import { randomBytes, timingSafeEqual } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { isIP } from 'node:net'
import { InvalidArgumentError, type Lockwork } from '@lockwork/core'
import { CliError, describeFailure } from '../cli-error.js'
import { EXIT_CODES } from '../exit-codes.js'
import { dashboardPage } from './page.js'
import { holderText, StateReader } from './state.js'

/** Options of {@link startDashboard}. */
export interface DashboardOptions {
  /** The client the page shows (its prefix scopes what is listed). */
  readonly lw: Lockwork
  /** The address to listen on, e.g. `127.0.0.1`. */
  readonly host: string
  /** The port; 0 picks a free one. */
  readonly port: number
  /** Whether the page may release locks (`POST /api/release`). */
  readonly allowRelease: boolean
  /** The store as the page names it (a URL without its password). */
  readonly store: string
  /** Where each release is reported, for the operator's terminal. */
  readonly log?: (line: string) => void
}

/** A running dashboard. */
export interface Dashboard {
  /** The page's address, e.g. `http://127.0.0.1:4983/`. */
  readonly url: string
  /** Stops listening and drops open connections. */
  close(): Promise<void>
}

/** The largest request body accepted (a release is a key and a fence). */
const MAX_BODY = 16 * 1024

/**
 * Serves the dashboard: `GET /` (the page), `GET /api/state` (what it
 * shows, as JSON) and, with `allowRelease`, `POST /api/release`.
 *
 * Protections: only a `Host` that is an IP address, `localhost` or the
 * configured host is served (so a DNS-rebinding site cannot read the page);
 * a release needs the per-process token embedded in the page, a JSON
 * content type (a cross-site form cannot send one without a preflight this
 * server never grants) and no cross-site `Origin`; the page's CSP allows
 * only its own inline script and style, by nonce.
 */
export async function startDashboard(options: DashboardOptions): Promise<Dashboard> {
  const { lw, allowRelease } = options
  const reader = new StateReader(lw)
  const token = allowRelease ? randomBytes(32).toString('hex') : ''
  const nonce = randomBytes(16).toString('hex')
  const page = dashboardPage({ nonce, releaseToken: token })
  const configuredHost = options.host.toLowerCase()

  const server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      if (!response.headersSent) send(response, 500, { error: describeFailure(error).message })
      else response.destroy()
    })
  })

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    if (!hostAllowed(request.headers.host, configuredHost)) {
      send(response, 403, {
        error: 'unexpected Host header: open the dashboard by its IP address or localhost',
      })
      return
    }
    const path = (request.url ?? '/').split('?')[0]
    if (path === '/' || path === '/api/state') {
      if (request.method !== 'GET' && request.method !== 'HEAD') {
        send(response, 405, { error: 'method not allowed' }, { allow: 'GET, HEAD' })
        return
      }
      if (path === '/') {
        response.writeHead(200, {
          ...SECURITY_HEADERS,
          'content-type': 'text/html; charset=utf-8',
          'content-security-policy':
            `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; ` +
            "connect-src 'self'; img-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        })
        response.end(request.method === 'HEAD' ? undefined : page)
        return
      }
      try {
        const state = await reader.read()
        send(response, 200, { store: options.store, prefix: lw.prefix, allowRelease, ...state })
      } catch (error) {
        send(response, 503, { error: describeFailure(error).message })
      }
      return
    }
    if (path === '/api/release') {
      if (request.method !== 'POST') {
        send(response, 405, { error: 'method not allowed' }, { allow: 'POST' })
        return
      }
      await release(request, response)
      return
    }
    send(response, 404, { error: 'not found' })
  }

  async function release(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const refusal = releaseRefusal(request, allowRelease, token)
    if (refusal !== undefined) {
      request.resume()
      send(response, 403, { error: refusal })
      return
    }
    const body = await readBody(request)
    if (body === undefined) {
      send(response, 413, { error: `the request body is over ${MAX_BODY} bytes` })
      return
    }
    let parsed: unknown
    try {
      parsed = JSON.parse(body)
    } catch {
      send(response, 400, { error: 'the body is not JSON' })
      return
    }
    const { key, fence } = (parsed ?? {}) as { key?: unknown; fence?: unknown }
    if (typeof key !== 'string' || typeof fence !== 'number' || !Number.isSafeInteger(fence)) {
      send(response, 400, { error: 'expected {"key": string, "fence": integer}' })
      return
    }
    try {
      const holder = await lw.peek(key)
      if (holder === null) {
        send(response, 409, { released: false, error: `${key} is free` })
        return
      }
      // Release the lease the operator saw, never a newer holder of the key.
      if (holder.fence !== fence) {
        send(response, 409, {
          released: false,
          error: `${key} is now held by another holder (fence ${holder.fence}); look again`,
        })
        return
      }
      const released = await lw.backend.release(lw.fullKey(key), holder.owner)
      if (!released) {
        send(response, 409, { released: false, error: `${key} was released or expired meanwhile` })
        return
      }
      options.log?.(`released ${key} (fence ${fence}, held by ${holderText(holder.owner)})`)
      send(response, 200, { released: true, key, fence })
    } catch (error) {
      const status = error instanceof InvalidArgumentError ? 400 : 503
      send(response, status, { released: false, error: describeFailure(error).message })
    }
  }

  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      const where = `${options.host}:${options.port}`
      reject(
        LISTEN_ERRORS.has(error.code ?? '')
          ? new CliError(`cannot listen on ${where}: ${error.message}`, EXIT_CODES.usage, { cause: error })
          : error,
      )
    }
    server.once('error', onError)
    server.listen(options.port, options.host, () => {
      server.off('error', onError)
      resolve()
    })
  })
  const address = server.address()
  const port = typeof address === 'object' && address !== null ? address.port : options.port
  return {
    url: `http://${urlHost(options.host)}:${port}/`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}

/** Errors of `listen` that mean a bad `--host` or `--port`: usage errors (exit 2). */
const LISTEN_ERRORS = new Set(['EADDRINUSE', 'EADDRNOTAVAIL', 'EACCES', 'ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL'])

const SECURITY_HEADERS = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-resource-policy': 'same-origin',
} as const

function send(
  response: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  response.writeHead(status, {
    ...SECURITY_HEADERS,
    ...headers,
    'content-type': 'application/json; charset=utf-8',
  })
  response.end(JSON.stringify(body))
}

/** Why a release request is refused (403), or `undefined` when it may go ahead. */
function releaseRefusal(request: IncomingMessage, allowRelease: boolean, token: string): string | undefined {
  if (!allowRelease) return 'this dashboard is read-only: start it with --allow-release to release locks'
  const type = (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase()
  if (type !== 'application/json') return 'a release must be sent as application/json'
  const site = request.headers['sec-fetch-site']
  if (site !== undefined && site !== 'same-origin') return 'a release must come from the dashboard page'
  const origin = request.headers.origin
  if (origin !== undefined && origin !== `http://${request.headers.host}`)
    return 'a release must come from the dashboard page'
  const given = request.headers['x-lockwork-token']
  if (typeof given !== 'string' || given.length !== token.length) return 'missing or wrong release token'
  if (!timingSafeEqual(Buffer.from(given), Buffer.from(token))) return 'missing or wrong release token'
  return undefined
}

/** The request body as text, or `undefined` when it is over {@link MAX_BODY}. */
async function readBody(request: IncomingMessage): Promise<string | undefined> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of request) {
    size += (chunk as Buffer).length
    if (size > MAX_BODY) return undefined
    chunks.push(chunk as Buffer)
  }
  return Buffer.concat(chunks).toString('utf8')
}

/**
 * Whether a request's `Host` may be served: an IP address, `localhost`, or
 * the host the dashboard was started with. A DNS-rebinding page reaches the
 * server under its own domain name, so it is refused.
 */
export function hostAllowed(header: string | undefined, configuredHost: string): boolean {
  if (header === undefined) return false
  const host = header.toLowerCase()
  const name = host.startsWith('[') ? host.slice(1, host.indexOf(']')) : host.replace(/:\d+$/, '')
  if (name === 'localhost' || isIP(name) !== 0) return true
  return isIP(configuredHost) === 0 && name === configuredHost
}

/** How a listening address is written in a URL: IPv6 in brackets; a wildcard as the loopback address. */
function urlHost(host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1'
  if (host === '::') return '[::1]'
  return host.includes(':') ? `[${host}]` : host
}
