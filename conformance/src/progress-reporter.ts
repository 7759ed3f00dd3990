/**
 * The runner's default progress output: one line per case as it finishes,
 * named by its section and title (never a file path), coloured only when
 * the output is a terminal that wants colour. Types only the slice of
 * vitest's reporter API it uses, so this file has no vitest import.
 */

/** A case as vitest hands it to `onTestCaseResult` (the slice read here). */
export interface ProgressCase {
  readonly name: string
  readonly parent: ProgressParent
  result(): { readonly state: string; readonly note?: string | undefined }
  diagnostic(): { readonly duration: number } | undefined
}

/** A case's parent: a `describe` block, or the test module at the top. */
export interface ProgressParent {
  readonly type: string
  readonly name?: string
  readonly parent?: ProgressParent
}

/** Where the lines go and whether they may carry colour. */
export interface ProgressOutput {
  write(text: string): unknown
  readonly colour: boolean
}

const SUITE_SUFFIX = ' conformance'

/** Creates the reporter object vitest calls with each finished case. */
export function progressReporter(output: ProgressOutput): {
  onTestCaseResult(testCase: ProgressCase): void
} {
  const paint = (code: number, text: string) => (output.colour ? `\u001b[${code}m${text}\u001b[39m` : text)
  const dim = (text: string) => (output.colour ? `\u001b[2m${text}\u001b[22m` : text)
  return {
    onTestCaseResult(testCase) {
      const { state, note } = testCase.result()
      const duration = testCase.diagnostic()?.duration
      const title = caseTitle(testCase)
      if (state === 'passed') {
        const time = duration === undefined ? '' : dim(` ${Math.round(duration)} ms`)
        output.write(`  ${paint(32, '✓')} ${title}${time}\n`)
      } else if (state === 'failed') {
        output.write(`  ${paint(31, '✗')} ${title}\n`)
      } else if (state === 'skipped' && note) {
        // A case skipped with a reason (a capability the backend lacks); cases left out by --filter stay quiet.
        output.write(`  ${paint(33, '↓')} ${title}${dim(` (skipped: ${note})`)}\n`)
      }
    },
  }
}

/** `section › … › case`, without the suite's own "<name> conformance" block. */
export function caseTitle(testCase: ProgressCase): string {
  const names = [testCase.name]
  for (let parent: ProgressParent | undefined = testCase.parent; parent; parent = parent.parent) {
    if (parent.type !== 'suite' || parent.name === undefined) break
    if (parent.name.endsWith(SUITE_SUFFIX) && parent.parent?.type !== 'suite') break
    names.unshift(parent.name)
  }
  return names.join(' › ')
}

/**
 * Whether `stream` should get colour: a terminal that supports it, unless
 * `NO_COLOR` is set; `FORCE_COLOR` (other than `0`) turns it on anywhere.
 */
export function wantsColour(
  stream: { readonly isTTY?: boolean; hasColors?: () => boolean },
  env: NodeJS.ProcessEnv = process.env,
): boolean {
  const force = env.FORCE_COLOR
  if (force !== undefined && force !== '') return force !== '0' && force !== 'false'
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false
  if (!stream.isTTY) return false
  return typeof stream.hasColors === 'function' ? stream.hasColors() : true
}
