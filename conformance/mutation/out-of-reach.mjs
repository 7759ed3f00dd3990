// Which mutated code the conformance suite cannot reach through the contract,
// and why. The suite drives a backend only through `LockBackend`, from one
// process, with the options its factory chose; code that runs only with other
// options, on a busy or forked database, or after an hour of retention is for
// the backend's own unit tests. Mutants there are reported apart, by place in
// the syntax tree (not by line number, so the list survives edits).
import ts from 'typescript'

/** @typedef {{ file: RegExp, reason: string, match: (node: ts.Node, parent: ts.Node | undefined, sf: ts.SourceFile) => boolean }} Rule */

const nameOf = (node) =>
  (node.name && ts.isIdentifier(node.name)) || (node.name && ts.isPrivateIdentifier(node.name))
    ? node.name.text
    : undefined
const SQLITE = /backend-sqlite\/src\/sqlite-backend\.ts$/
const SQLITE_SCHEMA = /backend-sqlite\/src\/schema\.ts$/
const SQLITE_SEMAPHORES = /backend-sqlite\/src\/semaphore-statements\.ts$/
const SQLITE_WAKE = /backend-sqlite\/src\/sqlite-wake\.ts$/
const SQLITE_WAKE_FILE = /backend-sqlite\/src\/sqlite-wake-file\.ts$/

/** @type {Rule[]} */
export const RULES = [
  {
    file: SQLITE,
    reason:
      'option validation (InvalidArgumentError): options the suite never passes; the backend’s unit tests cover them',
    match: (node, _parent, sf) =>
      ts.isIfStatement(node) && node.thenStatement.getText(sf).includes('InvalidArgumentError'),
  },
  {
    file: SQLITE,
    reason:
      'option validation: the in-memory path check and the option names and zero-allowed flags passed to toMs (they only shape the InvalidArgumentError for a bad option, which the suite never passes)',
    match: (node, parent, sf) =>
      (ts.isFunctionDeclaration(node) && nameOf(node) === 'isInMemoryPath') ||
      (parent !== undefined &&
        ts.isCallExpression(parent) &&
        parent.expression.getText(sf) === 'toMs' &&
        parent.arguments.indexOf(node) >= 1),
  },
  {
    file: SQLITE,
    reason: 'a caller-supplied `database` (the suite opens files by path)',
    match: (node, parent, sf) =>
      (parent !== undefined &&
        ts.isIfStatement(parent) &&
        node === parent.elseStatement &&
        /(options\.database|this\.#supplied) === undefined/.test(parent.expression.getText(sf))) ||
      (ts.isIfStatement(node) && /this\.#supplied !== undefined/.test(node.expression.getText(sf))) ||
      (ts.isFunctionDeclaration(node) && nameOf(node) === 'memoryChannel'),
  },
  {
    file: SQLITE,
    reason: 'a connection inherited across fork (the suite runs in one process)',
    match: (node, _parent, sf) =>
      ts.isIfStatement(node) && /connection\.pid !== process\.pid/.test(node.expression.getText(sf)),
  },
  {
    file: SQLITE,
    reason:
      'driver failures and the SQLITE_BUSY retry: the suite cannot make SQLite fail, and instances in one process never hold the write lock across a call (better-sqlite3 is synchronous)',
    match: (node, parent, sf) =>
      (ts.isFunctionDeclaration(node) && ['isBusy', 'sleep'].includes(nameOf(node) ?? '')) ||
      (ts.isMethodDeclaration(node) && ['#where', '#fail', '#retry'].includes(nameOf(node) ?? '')) ||
      (ts.isCatchClause(node) &&
        parent !== undefined &&
        ['#run', 'close'].includes(enclosingMethod(parent) ?? '')) ||
      (ts.isObjectLiteralExpression(node) && node.getText(sf) === '{ timeout: this.#busyTimeoutMs }'),
  },
  {
    file: SQLITE,
    reason:
      'the sweep: deletes rows free for longer than retainFreeFor (1 h by default) and raises the fence floor; the suite runs for seconds',
    match: (node) =>
      (ts.isMethodDeclaration(node) && nameOf(node) === '#maybeSweep') ||
      (ts.isVariableDeclaration(node) && nameOf(node) === 'sweep') ||
      (ts.isPropertyAssignment(node) && nameOf(node) === 'sweep'),
  },
  {
    file: SQLITE,
    reason: 'the default file path (the suite always passes a path)',
    match: (node) => ts.isVariableDeclaration(node) && nameOf(node) === 'DEFAULT_SQLITE_PATH',
  },
  {
    file: SQLITE_SCHEMA,
    reason: 'option validation: the table-name pattern (the suite uses the default table)',
    match: (node) => ts.isVariableDeclaration(node) && nameOf(node) === 'TABLE_NAME_PATTERN',
  },
  {
    file: SQLITE,
    reason:
      'the migration of a lock table made before the waiter flag existed (the suite opens new files; the backend’s unit test “adds the waiter flag to a lock table made before it existed” covers it)',
    match: (node, _parent, sf) =>
      ts.isIfStatement(node) && /schema\.hasWaitedColumn/.test(node.expression.getText(sf)),
  },
  {
    file: SQLITE_SCHEMA,
    reason:
      'the migration’s SQL: the check for and the addition of the waiter flag column on a lock table made before it existed (the suite opens new files; the backend’s unit tests cover it)',
    match: (node) =>
      ts.isPropertyAssignment(node) && ['hasWaitedColumn', 'addWaitedColumn'].includes(nameOf(node) ?? ''),
  },
  {
    file: SQLITE_SCHEMA,
    reason: 'the sweep’s SQL (rows free for longer than retainFreeFor, 1 h by default)',
    match: (node) =>
      ts.isPropertyAssignment(node) &&
      ['raiseFenceFloor', 'sweepLocks', 'sweepCache'].includes(nameOf(node) ?? ''),
  },
  {
    file: SQLITE_SEMAPHORES,
    reason:
      'the semaphore part of the sweep: raises the fence floor and deletes semaphore rows idle for longer than retainFreeFor (1 h by default) and expired holders (which no read counts); the suite runs for seconds',
    match: (node) => ts.isPropertyAssignment(node) && nameOf(node) === 'sweep',
  },
  {
    file: SQLITE_WAKE,
    reason:
      'a wake-file change during a poll: a poll never yields to the event loop (its look is one synchronous better-sqlite3 read behind resolved promises; only an SQLITE_BUSY retry sleeps, see above), so no watch event can arrive while one runs',
    match: (node, _parent, sf) =>
      ts.isIfStatement(node) && ['polling', 'pollAgain'].includes(node.expression.getText(sf)),
  },
  {
    file: SQLITE_WAKE_FILE,
    reason:
      'the wake file failing or changing under the backend: a file that cannot be created, written, checked or watched (a read-only directory, no fs.watch, a watch error), or that is deleted or replaced while in use (the rename event, the once-a-second check that the open descriptor is still the file at the path); the suite reaches the backend only through `LockBackend` and never touches its files',
    match: (node, _parent, sf) =>
      ts.isCatchClause(node) ||
      (ts.isFunctionDeclaration(node) && ['sameFile', 'exists'].includes(nameOf(node) ?? '')) ||
      (ts.isCallExpression(node) && node.getText(sf).startsWith("watcher.on('error'")) ||
      (ts.isIfStatement(node) &&
        /eventType === 'rename'|REVALIDATE_MS|sameFile\(/.test(node.expression.getText(sf))),
  },
  {
    file: SQLITE_WAKE_FILE,
    reason:
      'creating the wake file for a waiter before any release has touched it (only the very first wait on a new database file), or giving up when it cannot be created: the suite cannot choose which of its cases runs first on a fresh file, nor make the file impossible to create',
    match: (node, _parent, sf) =>
      ts.isIfStatement(node) && /exists\(this\.path\)/.test(node.expression.getText(sf)),
  },
]

function enclosingMethod(node) {
  for (let n = node; n !== undefined; n = n.parent)
    if (ts.isMethodDeclaration(n) || ts.isFunctionDeclaration(n)) return nameOf(n)
  return undefined
}

const parsed = new Map()

/**
 * The reason the mutant at `line` (1-based) and `column` (1-based, as Stryker
 * reports it) of `file` is out of the suite's reach, or undefined. `source` is
 * the file's text as it was mutated (from the report).
 */
export function outOfReach(file, source, line, column) {
  const rules = RULES.filter((r) => r.file.test(file))
  if (rules.length === 0) return undefined
  let sf = parsed.get(file)
  if (sf === undefined) {
    sf = ts.createSourceFile(file, source, ts.ScriptTarget.Latest, true)
    parsed.set(file, sf)
  }
  const pos = sf.getPositionOfLineAndCharacter(line - 1, Math.max(0, column - 1))
  // The innermost node at the position, then up through its ancestors.
  let node = sf
  for (;;) {
    let next
    ts.forEachChild(node, (child) => {
      if (next === undefined && child.getStart(sf) <= pos && pos < child.getEnd()) next = child
    })
    if (next === undefined) break
    node = next
  }
  for (let n = node; n !== undefined; n = n.parent) {
    for (const rule of rules) if (rule.match(n, n.parent, sf)) return rule.reason
  }
  return undefined
}

/**
 * The same rules as a StrykerJS ignorer (`ignorers: ['out-of-reach']`): code
 * out of the suite's reach is not mutated at all, so no run is spent on it;
 * Stryker reports it as ignored, with the reason.
 */
export const strykerPlugins = [
  {
    kind: 'Ignore',
    name: 'out-of-reach',
    value: {
      shouldIgnore(path) {
        const file = path.hub?.file?.opts?.filename
        const start = path.node.loc?.start
        const code = path.hub?.file?.code
        if (typeof file !== 'string' || start === undefined || typeof code !== 'string') return undefined
        return outOfReach(relativeToRoot(file), code, start.line, start.column + 1)
      },
    },
  },
]

const ROOT = new URL('../..', import.meta.url).pathname
function relativeToRoot(file) {
  return file.startsWith(ROOT) ? file.slice(ROOT.length) : file
}

/**
 * The reasons of the rules for `file` that match no code in `source`: a rule
 * left behind by a rename or a removal, which no longer explains anything.
 */
export function unusedRules(file, source) {
  const rules = RULES.filter((r) => r.file.test(file))
  const sf = ts.createSourceFile(file, source, ts.ScriptTarget.Latest, true)
  const used = new Set()
  const visit = (node) => {
    for (const rule of rules) if (rule.match(node, node.parent, sf)) used.add(rule)
    ts.forEachChild(node, visit)
  }
  visit(sf)
  return rules.filter((rule) => !used.has(rule)).map((rule) => rule.reason)
}
