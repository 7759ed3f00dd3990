import { randomBytes } from 'node:crypto'
import pg from 'pg'

/** The PostgreSQL server the tests use: `DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/test`. */
export const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

/** Whether the environment requires every test to run (`CI=true`). */
export const inCi = process.env.CI === 'true'

/** A fresh lease-table name, so test files never see each other's rows on a shared server. */
export function randomTable(label = 'test'): string {
  return `lw_${label}_${randomBytes(5).toString('hex')}`
}

/** `databaseUrl` with `application_name` set, so a test can find (and terminate) its own connections. */
export function urlWithApplicationName(name: string): string {
  const url = new URL(databaseUrl)
  url.searchParams.set('application_name', name)
  return url.toString()
}

/** Runs one statement on a short-lived connection of its own. */
export async function adminQuery<R extends pg.QueryResultRow = pg.QueryResultRow>(
  text: string,
  values: unknown[] = [],
): Promise<R[]> {
  const client = new pg.Client({ connectionString: databaseUrl })
  await client.connect()
  try {
    return (await client.query<R>(text, values)).rows
  } finally {
    await client.end()
  }
}

/** Drops every object the backend made for `table` (in schema `schema`). */
export async function dropObjects(table: string, schema = 'public'): Promise<void> {
  const q = (suffix: string) => `"${schema}"."${table}${suffix}"`
  await adminQuery(
    `DROP TABLE IF EXISTS ${q('')}, ${q('_cache')}, ${q('_guard')}, ${q('_sem')}, ${q('_queue')}; DROP SEQUENCE IF EXISTS ${q('_fence')}; DROP FUNCTION IF EXISTS ${q('_grant')}(text)`,
  )
}

/**
 * Whether PostgreSQL answers at {@link databaseUrl}. When it does not: under
 * `CI=true` this throws (the test file fails); otherwise it prints one loud
 * line saying how to enable the tests and returns false, so the suites skip.
 */
export async function postgresAvailable(): Promise<boolean> {
  const probe = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 3_000 })
  probe.on('error', () => {})
  try {
    await probe.connect()
    await probe.query('SELECT 1')
    return true
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error)
    if (inCi)
      throw new Error(`PostgreSQL is required under CI=true but ${databaseUrl} is unreachable: ${reason}`)
    console.warn(
      `⚠️  SKIPPING @lockwork/postgres tests: no PostgreSQL at ${databaseUrl} (${reason}). Start PostgreSQL or set DATABASE_URL to run them.`,
    )
    return false
  } finally {
    await probe.end().catch(() => {})
  }
}
