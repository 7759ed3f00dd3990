/**
 * The dashboard's one page: HTML with its CSS and script inline, no
 * dependencies, nothing loaded from elsewhere. It polls `GET /api/state`
 * every second and draws everything from that JSON with DOM text nodes
 * (`textContent`), never as HTML, so keys and labels, which are user data,
 * always show as text. Only two values are put into the markup here, both
 * made by the server: the CSP nonce and the release token (hex digits).
 */
export function dashboardPage(options: { readonly nonce: string; readonly releaseToken: string }): string {
  if (!/^[0-9a-f]*$/.test(options.nonce + options.releaseToken))
    throw new Error('the page nonce and token must be hex digits')
  return PAGE.replaceAll('__NONCE__', options.nonce).replace('__TOKEN__', options.releaseToken)
}

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="lockwork-release-token" content="__TOKEN__">
<title>lockwork dashboard</title>
<style nonce="__NONCE__">
  :root { color-scheme: light dark; --muted: #777; --line: #8884; --ok: #2a9d5c; --low: #d08c00; --bad: #d1453b; }
  body { font: 14px/1.4 system-ui, sans-serif; margin: 0 auto; padding: 1rem 1.5rem 3rem; max-width: 72rem; }
  header { display: flex; flex-wrap: wrap; gap: .4rem 1.2rem; align-items: baseline; border-bottom: 1px solid var(--line); padding-bottom: .6rem; }
  header h1 { font-size: 1.15rem; margin: 0; }
  .muted { color: var(--muted); }
  .badge { border: 1px solid var(--line); border-radius: .6rem; padding: 0 .5rem; font-size: .8rem; }
  #status.error { color: var(--bad); font-weight: 600; }
  h2 { font-size: 1rem; margin: 1.4rem 0 .4rem; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: .3rem .5rem; border-bottom: 1px solid var(--line); vertical-align: middle; }
  th { font-weight: 600; font-size: .8rem; text-transform: uppercase; color: var(--muted); }
  td.key { font-family: ui-monospace, monospace; word-break: break-all; }
  td.num { text-align: right; font-variant-numeric: tabular-nums; }
  .bar { display: inline-block; width: 8rem; height: .55rem; border-radius: .3rem; background: var(--line); vertical-align: middle; margin-right: .5rem; overflow: hidden; }
  .fill { display: block; height: 100%; background: var(--ok); }
  .fill.low { background: var(--low); }
  .empty { color: var(--muted); font-style: italic; padding: .4rem .5rem; }
  button { font: inherit; cursor: pointer; }
  .runs { position: relative; height: 1.1rem; min-width: 20rem; background: var(--line); border-radius: .2rem; }
  .run { position: absolute; top: 0; bottom: 0; min-width: 3px; border-radius: 2px; background: var(--ok); }
  .run.failed { background: var(--bad); }
  .run.skipped { background: var(--low); }
  .run.running { background: #3a7bd5; }
</style>
</head>
<body>
<header>
  <h1>lockwork</h1>
  <span id="store" class="muted"></span>
  <span id="mode" class="badge"></span>
  <span id="status" class="muted" role="status">loading…</span>
</header>
<main>
  <section id="locks">
    <h2>Locks held <span id="lock-count" class="muted"></span></h2>
    <table><thead><tr id="lock-head"></tr></thead><tbody id="lock-rows"></tbody></table>
    <p id="locks-empty" class="empty" hidden>No locks held.</p>
    <p id="locks-more" class="muted" hidden></p>
    <p id="release-result" role="status"></p>
  </section>
  <section id="cache">
    <h2>Cache <span id="cache-stats" class="muted"></span></h2>
    <table><thead><tr><th>Key</th><th>Size</th><th>Expires in</th></tr></thead><tbody id="cache-rows"></tbody></table>
    <p id="cache-empty" class="empty" hidden>No cache entries.</p>
  </section>
  <section id="jobs">
    <h2>Jobs</h2>
    <table><thead><tr><th>Job</th><th>Schedule</th><th>Last run</th><th>Next run</th><th>Recent runs</th></tr></thead><tbody id="job-rows"></tbody></table>
    <p id="jobs-empty" class="empty" hidden>No every() job has recorded runs.</p>
  </section>
</main>
<script nonce="__NONCE__">
'use strict'
const token = document.querySelector('meta[name="lockwork-release-token"]').content
const $ = (id) => document.getElementById(id)

function el(tag, className, text) {
  const node = document.createElement(tag)
  if (className) node.className = className
  if (text !== undefined) node.textContent = text
  return node
}

function remaining(ms) {
  if (!Number.isFinite(ms) || ms >= Number.MAX_SAFE_INTEGER) return 'never'
  if (ms < 1000) return Math.max(0, Math.round(ms)) + 'ms'
  if (ms < 60000) return (ms / 1000).toFixed(1) + 's'
  const s = Math.floor(ms / 1000)
  if (s < 3600) return Math.floor(s / 60) + 'm' + String(s % 60).padStart(2, '0') + 's'
  if (s < 86400) return Math.floor(s / 3600) + 'h' + String(Math.floor(s / 60) % 60).padStart(2, '0') + 'm'
  return Math.floor(s / 86400) + 'd' + (Math.floor(s / 3600) % 24) + 'h'
}

function bytes(n) {
  if (n < 1024) return n + ' B'
  if (n < 1048576) return (n / 1024).toFixed(1) + ' KiB'
  return (n / 1048576).toFixed(1) + ' MiB'
}

/** A remaining-time cell: a bar of remaining / scale, then the time. */
function timeCell(cell, ms, scaleMs) {
  if (!cell.firstChild) {
    const bar = el('span', 'bar')
    bar.append(el('span', 'fill'))
    cell.append(bar, el('span', 'time'))
  }
  const ratio = scaleMs > 0 ? Math.min(1, Math.max(0, ms / scaleMs)) : 1
  const fill = cell.firstChild.firstChild
  fill.style.width = (ratio * 100).toFixed(1) + '%'
  fill.classList.toggle('low', ratio < 0.2)
  cell.lastChild.textContent = remaining(ms)
}

/**
 * Keeps one row per key in a tbody: updates rows in place (so a button under
 * the pointer survives a refresh), adds new ones, removes gone ones, and
 * keeps them in the listing's order.
 */
function syncRows(tbody, items, make, update) {
  const existing = new Map()
  for (const row of tbody.rows) existing.set(row.dataset.key, row)
  let previous = null
  for (const item of items) {
    let row = existing.get(item.key)
    if (row) existing.delete(item.key)
    else {
      row = make(item)
      row.dataset.key = item.key
    }
    update(row, item)
    const expected = previous ? previous.nextSibling : tbody.firstChild
    if (expected !== row) tbody.insertBefore(row, expected)
    previous = row
  }
  for (const row of existing.values()) row.remove()
}

let lastState = null

function render(state) {
  lastState = state
  $('store').textContent = state.store + (state.prefix ? ' · prefix ' + state.prefix : '')
  $('mode').textContent = state.allowRelease ? 'release allowed' : 'read-only'
  const waiting = state.locks.some((lock) => lock.waiting !== undefined)
  const head = ['Key', 'Holder', 'Fence', 'Expires in']
  if (waiting) head.push('Waiting')
  if (state.allowRelease) head.push('')
  const headRow = $('lock-head')
  if (headRow.dataset.columns !== head.join('|')) {
    headRow.replaceChildren(...head.map((title) => el('th', '', title)))
    headRow.dataset.columns = head.join('|')
    $('lock-rows').replaceChildren()
  }
  syncRows(
    $('lock-rows'),
    state.locks,
    () => {
      const row = el('tr')
      row.dataset.kind = 'lock'
      row.append(el('td', 'key'), el('td', 'holder'), el('td', 'num fence'), el('td', 'remaining'))
      if (waiting) row.append(el('td', 'num waiting'))
      if (state.allowRelease) {
        const button = el('button', 'release', 'Release')
        button.type = 'button'
        button.addEventListener('click', () => release(row))
        const cell = el('td')
        cell.append(button)
        row.append(cell)
      }
      return row
    },
    (row, lock) => {
      row.dataset.fence = String(lock.fence)
      row.dataset.holder = lock.holder
      row.querySelector('.key').textContent = lock.key
      row.querySelector('.holder').textContent = lock.holder
      row.querySelector('.fence').textContent = String(lock.fence)
      timeCell(row.querySelector('.remaining'), lock.remainingMs, lock.scaleMs)
      const cell = row.querySelector('.waiting')
      if (cell) cell.textContent = lock.waiting === undefined ? '' : String(lock.waiting)
    },
  )
  $('lock-count').textContent = '(' + state.locks.length + (state.locksTruncated ? '+' : '') + ')'
  $('locks-empty').hidden = state.locks.length > 0
  $('locks-more').hidden = !state.locksTruncated
  $('locks-more').textContent = 'Only the first ' + state.locks.length + ' locks are shown.'

  const cache = state.cache
  $('cache-stats').textContent =
    '(' + cache.count + (cache.truncated ? '+' : '') + (cache.count === 1 ? ' entry, ' : ' entries, ') + bytes(cache.totalSize) + ')'
  syncRows(
    $('cache-rows'),
    cache.entries,
    () => {
      const row = el('tr')
      row.dataset.kind = 'cache'
      row.append(el('td', 'key'), el('td', 'num size'), el('td', 'remaining'))
      return row
    },
    (row, entry) => {
      row.querySelector('.key').textContent = entry.key
      row.querySelector('.size').textContent = bytes(entry.size)
      timeCell(row.querySelector('.remaining'), entry.remainingMs, entry.scaleMs)
    },
  )
  $('cache-empty').hidden = cache.entries.length > 0

  renderJobs(state)
}

function outcomeText(run) {
  if (run.outcome === 'failed') return 'failed' + (run.error ? ': ' + run.error : '')
  if (run.outcome === 'skipped') return 'skipped' + (run.reason ? ' (' + run.reason + ')' : '')
  return run.outcome
}

/**
 * Each job's recent runs on a strip: from its oldest recorded run (at least
 * 5 s back) to now, a mark per run at its start, as wide as it ran,
 * coloured by outcome; a blue mark at the end while a replica runs it.
 */
function renderJobs(state) {
  const now = Date.parse(state.at)
  syncRows(
    $('job-rows'),
    state.jobs.map((job) => ({ ...job, key: job.name })),
    () => {
      const row = el('tr')
      row.dataset.kind = 'job'
      row.append(el('td', 'key name'), el('td', 'schedule'), el('td', 'last'), el('td', 'next'), el('td'))
      row.lastChild.append(el('div', 'runs'))
      return row
    },
    (row, job) => {
      row.querySelector('.name').textContent = job.name
      row.querySelector('.schedule').textContent = job.schedule
      const last = job.runs[job.runs.length - 1]
      row.querySelector('.last').textContent =
        (last ? outcomeText(last) + ', ' + remaining(now - last.startedAt) + ' ago on ' + last.holder : 'never') +
        (job.runningOn ? ' — running on ' + job.runningOn : '')
      row.querySelector('.next').textContent =
        job.nextRunAt === undefined ? '—'
        : job.nextRunAt >= now ? 'in ' + remaining(job.nextRunAt - now)
        : 'overdue ' + remaining(now - job.nextRunAt)
      const oldest = job.runs.length > 0 ? job.runs[0].startedAt : now
      const span = Math.max(now - oldest, 5000) * 1.05
      const from = now - span
      const marks = job.runs.map((run) => {
        const mark = el('span', 'run ' + run.outcome)
        mark.style.left = (((run.startedAt - from) / span) * 100).toFixed(2) + '%'
        mark.style.width = (((run.durationMs || 0) / span) * 100).toFixed(2) + '%'
        mark.title =
          new Date(run.startedAt).toLocaleString() + '  ' + outcomeText(run) +
          (run.durationMs === undefined ? '' : ' in ' + remaining(run.durationMs)) + '  on ' + run.holder
        return mark
      })
      if (job.runningOn) {
        const mark = el('span', 'run running')
        mark.style.right = '0'
        mark.title = 'running now on ' + job.runningOn
        marks.push(mark)
      }
      const strip = row.querySelector('.runs')
      strip.replaceChildren(...marks)
      strip.title = 'the last ' + remaining(span)
    },
  )
  $('jobs-empty').hidden = state.jobs.length > 0
}

async function release(row) {
  const key = row.dataset.key
  const fence = Number(row.dataset.fence)
  if (!confirm('Release ' + key + ' (fence ' + fence + ', held by ' + row.dataset.holder + ')? Its holder may still be working under it.')) return
  const result = $('release-result')
  try {
    const response = await fetch('/api/release', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-lockwork-token': token },
      body: JSON.stringify({ key, fence }),
    })
    const body = await response.json()
    result.textContent = response.ok ? 'Released ' + key + '.' : 'Not released: ' + body.error
  } catch (error) {
    result.textContent = 'Not released: ' + error.message
  }
  poll(false)
}

async function poll(schedule = true) {
  const status = $('status')
  try {
    const response = await fetch('/api/state', { cache: 'no-store' })
    const body = await response.json()
    if (!response.ok) throw new Error(body.error || 'HTTP ' + response.status)
    render(body)
    status.className = 'muted'
    status.textContent = 'updated ' + new Date(body.at).toLocaleTimeString()
  } catch (error) {
    status.className = 'error'
    status.textContent = 'cannot read the store: ' + error.message + (lastState ? ' (showing the last state)' : '')
  }
  if (schedule) setTimeout(poll, 1000)
}
poll()
</script>
</body>
</html>
`
