import { describe, expect, it } from 'vitest'
import { type CliRun, fixture, runCli } from './run-cli.js'

/**
 * The gallery of broken adapters: each fixture in `fixtures/broken/` makes one
 * mistake real adapters have shipped with, on top of a small correct Map
 * backend. The runner must fail each one, naming the case that catches it.
 * Each fixture runs only the case that should catch it (`--filter`), and the
 * unbroken Map backend must pass all those cases, so every failure below is the
 * fixture's one mistake and nothing else.
 */
interface BrokenAdapter {
  /** The fixture's file name. */
  readonly file: string
  /** The case that must fail: `section › case title`. */
  readonly caughtBy: string
}

const CASES = {
  stranger: 'leases › lets only the owner release or extend; a stranger changes nothing',
  secondOwner: 'leases › refuses a second owner, also from another instance, and reports the holder',
  remaining:
    'leases › reports the time left, not the ttl: halfway through a lease peek and a refused rival see about half of it',
  expiredOwn:
    "leases › refuses the old owner's release and extend of its own expired lease, before anyone else takes it",
  expires:
    'leases › expires: after the ttl the key is free, a new owner gets a larger fence, and the old owner cannot extend or release',
  fences: 'leases › fences strictly increase across release → acquire, 10 times, a rival failing each time',
  caseSensitive: 'leases › keeps different keys independent and keys case-sensitive',
  race: 'contention › 50 concurrent acquires of one key from 3 instances: exactly one wins',
  lookalikeLocks:
    'keys › keys that differ only by trailing spaces, Unicode normalisation or non-ASCII case are separate locks',
  lookalikeCache:
    'keys › keys that differ only by trailing spaces, Unicode normalisation or non-ASCII case are separate cache entries',
  cacheExpiry: 'cache store › expires entries after their ttl',
  deleteExpired: 'cache store › deleteCached of an expired entry reports false: nothing unexpired existed',
  wakeRace:
    'waitForRelease › never misses a release from another instance in the same tick: 60 races, each resolves well before its timeout',
  othersWaiting:
    'waitForRelease › a waiter that gives up (abort or timeout) does not make the others on the same key miss the release',
  signalListener:
    "waitForRelease › leaves no listener on the caller's signal once it resolves (a long-lived signal must not leak)",
  wakeOnExpiry: 'waitForRelease › resolves when the lease expires without a release, long before its timeout',
  crash:
    'lifecycle › an instance closed in the middle of an acquire (a crash between two steps) leaves no lease that outlives the ttl',
  releaseTwice: 'leases › acquires a free key; peek shows owner, fence and remaining time; release frees it',
  longOwner:
    'leases › stores and returns owner tokens of the maximum length with any printable characters exactly',
} as const

const GALLERY: readonly BrokenAdapter[] = [
  { file: '../broken-release-adapter.mjs', caughtBy: CASES.stranger },
  { file: 'check-then-set-acquire.mjs', caughtBy: CASES.race },
  { file: 'ttl-ms-as-seconds.mjs', caughtBy: CASES.remaining },
  { file: 'ttl-seconds-as-ms.mjs', caughtBy: CASES.remaining },
  { file: 'client-clock.mjs', caughtBy: CASES.secondOwner },
  { file: 'set-nx-then-expire.mjs', caughtBy: CASES.crash },
  { file: 'key-pads-trailing-spaces.mjs', caughtBy: CASES.lookalikeLocks },
  { file: 'key-normalises-unicode.mjs', caughtBy: CASES.lookalikeLocks },
  { file: 'key-folds-case.mjs', caughtBy: CASES.caseSensitive },
  { file: 'cache-key-folds-non-ascii.mjs', caughtBy: CASES.lookalikeCache },
  { file: 'extend-resurrects.mjs', caughtBy: CASES.expiredOwn },
  { file: 'fence-reset-on-release.mjs', caughtBy: CASES.fences },
  { file: 'peek-returns-expired.mjs', caughtBy: CASES.expires },
  { file: 'remaining-reports-ttl.mjs', caughtBy: CASES.remaining },
  { file: 'release-ignores-expiry.mjs', caughtBy: CASES.expiredOwn },
  { file: 'release-true-for-stale-owner.mjs', caughtBy: CASES.releaseTwice },
  { file: 'get-cached-ignores-expiry.mjs', caughtBy: CASES.cacheExpiry },
  { file: 'delete-cached-counts-expired.mjs', caughtBy: CASES.deleteExpired },
  { file: 'wait-subscribes-late.mjs', caughtBy: CASES.wakeRace },
  { file: 'wait-unsubscribes-everyone.mjs', caughtBy: CASES.othersWaiting },
  { file: 'wait-leaks-signal-listener.mjs', caughtBy: CASES.signalListener },
  { file: 'wait-ignores-expiry.mjs', caughtBy: CASES.wakeOnExpiry },
  { file: 'owner-cut-to-64.mjs', caughtBy: CASES.longOwner },
]

/** A regular expression that matches `text` literally. */
const literal = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

/** The runner's filter for one case: vitest matches it against "<suite> conformance <section> <case>". */
const filterFor = (caseName: string): string => {
  const [section, title] = caseName.split(' › ') as [string, string]
  return `${literal(section)} ${literal(title)}$`
}

/**
 * Starts `tasks` with at most `limit` running at once (each spawns a vitest)
 * and returns one promise per task, settled as soon as that task ends, so a
 * case waits for its own run only, never for the whole pool.
 */
function pooled<T>(tasks: readonly (() => Promise<T>)[], limit: number): Promise<T>[] {
  const settle: { resolve: (value: T) => void; reject: (reason: unknown) => void }[] = []
  const promises = tasks.map(
    (_, index) =>
      new Promise<T>((resolve, reject) => {
        settle[index] = { resolve, reject }
      }),
  )
  let next = 0
  const worker = async () => {
    while (next < tasks.length) {
      const index = next++
      await tasks[index]!().then(settle[index]!.resolve, settle[index]!.reject)
    }
  }
  for (let i = 0; i < limit; i++) void worker()
  return promises
}

const broken = (file: string) => fixture(`broken/${file}`)

describe('the gallery of broken adapters', () => {
  // The runs start at collection in the order of the cases below, 3 at a time.
  const [mapRun, ...galleryRuns] = pooled(
    [
      () =>
        runCli([
          broken('correct-map-adapter.mjs'),
          '--reporter',
          'dot',
          '--filter',
          `(${[...new Set(GALLERY.map((g) => filterFor(g.caughtBy)))].join('|')})`,
        ]),
      ...GALLERY.map(
        (g) => () => runCli([broken(g.file), '--reporter', 'dot', '--filter', filterFor(g.caughtBy)]),
      ),
    ],
    3,
  )
  const runs = new Map<string, Promise<CliRun>>([
    ['correct-map-adapter.mjs', mapRun!],
    ...GALLERY.map((g, i) => [g.file, galleryRuns[i]!] as const),
  ])
  // A run that fails to start rejects its own case; keep the others' rejections from going unhandled meanwhile.
  for (const run of runs.values()) run.catch(() => {})

  it('the unbroken Map backend passes every case the gallery relies on', async () => {
    const run = await runs.get('correct-map-adapter.mjs')!
    expect(run.code, run.output).toBe(0)
    for (const caseName of new Set(GALLERY.map((g) => g.caughtBy))) {
      expect(run.output).not.toContain(`✗ ${caseName}`)
    }
    expect(run.output).toMatch(/passes the lockwork conformance suite/)
  }, 180_000)

  for (const g of GALLERY) {
    it(`${g.file.replace(/^.*\//, '').replace(/\.mjs$/, '')} fails ${g.caughtBy}`, async () => {
      const run = await runs.get(g.file)!
      expect(run.code, run.output).toBe(1)
      expect(run.output).toContain(`✗ ${g.caughtBy}`)
    }, 180_000)
  }
})
