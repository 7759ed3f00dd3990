/** The connection settings {@link endpointOf} reads (a slice of `pg`'s `ClientConfig`). */
export interface EndpointSettings {
  readonly connectionString?: string | undefined
  readonly host?: string | undefined
  readonly port?: number | string | undefined
  readonly database?: string | undefined
}

/**
 * Where a pool connects, for error messages: `host:port/database`, from the
 * connection string or the host/port/database settings (and `PGHOST`,
 * `PGPORT`, `PGDATABASE` as `pg` falls back to them). Never the user or password.
 */
export function endpointOf(settings: EndpointSettings): string {
  const env = process.env
  let host = settings.host
  let port = settings.port === undefined ? undefined : String(settings.port)
  let database = settings.database
  if (settings.connectionString !== undefined) {
    try {
      const url = new URL(settings.connectionString)
      host = decodeURIComponent(url.hostname) || url.searchParams.get('host') || host
      port = url.port || port
      database = decodeURIComponent(url.pathname.replace(/^\//, '')) || database
    } catch {
      // Not a URL (pg also reads a few other forms): fall back to the separate settings.
    }
  }
  host = host || env.PGHOST || 'localhost'
  port = port || env.PGPORT || '5432'
  database = database || env.PGDATABASE
  const address = host.startsWith('/') ? `${host}/.s.PGSQL.${port}` : `${host}:${port}`
  return database === undefined || database === '' ? address : `${address}/${database}`
}
