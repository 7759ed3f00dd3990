import { randomFillSync } from 'node:crypto'
import { hostname } from 'node:os'
import type { LockInfo } from './backend.js'
import { describe } from './duration.js'
import { InvalidArgumentError } from './errors.js'

/**
 * Owner labels: who holds a key, in words a person can read.
 *
 * Every owner token the core makes is `<random UUID> <label text>`, where the
 * label text is `[<client label> ]host=<host name> pid=<process id>`. Only
 * the whole token grants ownership (the UUID makes it unguessable); the label
 * rides along, so every backend stores and returns it without knowing about
 * it. A token not of this shape (another client, an older version) simply
 * has no label.
 */

/** Longest `label` option of `createLockwork`, in UTF-16 code units. */
export const MAX_LABEL_LENGTH = 128

/**
 * Longest owner token the core hands a backend, in UTF-16 code units (a
 * backend must store and return tokens up to this length exactly).
 */
export const MAX_OWNER_LENGTH = 255

/** Longest host name kept in a label; longer ones are cut. */
const MAX_HOST_LENGTH = 64

/** Who holds a key, as recorded by the core that acquired it. */
export interface OwnerLabel {
  /** The holder client's `label` option, or `undefined` when it set none. */
  readonly name: string | undefined
  /** The holder's host name (at most 64 characters; spaces and control characters replaced by `_`). */
  readonly host: string
  /** The holder's process id. */
  readonly pid: number
  /** All of it in one line, e.g. `api@pod-7 host=web-3 pid=4121`. */
  readonly text: string
}

// C0 and C1 control characters, DEL, and unpaired UTF-16 surrogates.
const FORBIDDEN =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
  /[\u0000-\u001f\u007f-\u009f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/

/** A token the core made: a UUID, one space, a label ending in `host=… pid=…`. */
const TOKEN =
  /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12} (?:(.*) )?host=(\S*) pid=(\d{1,10})$/s

/**
 * Validates the `label` option and builds this process's {@link OwnerLabel}.
 *
 * @throws InvalidArgumentError when `label` is not a string, is longer than
 *   {@link MAX_LABEL_LENGTH}, or contains control characters or unpaired surrogates.
 */
export function createOwnerLabel(label: unknown, argument = 'options.label'): OwnerLabel {
  if (label !== undefined) {
    if (typeof label !== 'string')
      throw new InvalidArgumentError(argument, `expected a string, got ${describe(label)}`)
    if (label.length > MAX_LABEL_LENGTH) {
      throw new InvalidArgumentError(
        argument,
        `is ${label.length} characters long; the maximum is ${MAX_LABEL_LENGTH}`,
      )
    }
    if (FORBIDDEN.test(label)) {
      throw new InvalidArgumentError(argument, 'must not contain control characters or unpaired surrogates')
    }
  }
  const name = label === undefined || label === '' ? undefined : label
  const host = cleanHost(hostname())
  const pid = process.pid
  const text = `${name === undefined ? '' : `${name} `}host=${host} pid=${pid}`
  return { name, host, pid, text }
}

/** A host name as a label keeps it: printable ASCII without spaces, at most 64 characters. */
function cleanHost(host: string): string {
  const cleaned = host.replace(/[^\x21-\x7e]/g, '_').slice(0, MAX_HOST_LENGTH)
  return cleaned === '' ? '_' : cleaned
}

/** A fresh owner token carrying `label`: 122 random bits (a version 4 UUID), then the label text. */
export function ownerToken(label: OwnerLabel): string {
  return `${randomUuid()} ${label.text}`
}

/** How many UUIDs one refill of {@link uuidBatch} makes. */
const UUID_BATCH = 128
/** The length of a UUID in its text form. */
const UUID_LENGTH = 36
/** A UUID's 16 random bytes, for a whole batch. */
const uuidEntropy = Buffer.alloc(UUID_BATCH * 16)
/** The batch's UUIDs as text, one after the other. */
const uuidText = Buffer.alloc(UUID_BATCH * UUID_LENGTH)
/** The lowercase hex digits as character codes. */
const HEX_DIGITS = Buffer.from('0123456789abcdef', 'latin1')
/** Where the text of each byte of a UUID goes (after 4, 6, 8 and 10 bytes comes a dash). */
const UUID_BYTE_AT = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34]
/** A batch of {@link UUID_BATCH} UUIDs as one string, and how many of them have been handed out. */
let uuidBatch = ''
let uuidNext = UUID_BATCH

/**
 * A random (version 4) UUID, like `crypto.randomUUID()`: the same entropy
 * source, read in batches of 128 UUIDs. The batch is formatted into one
 * string and each UUID is a slice of it, which makes an owner token one or
 * two string objects instead of the dozen intermediate strings
 * `randomUUID()` builds: that is most of what making a token cost.
 */
function randomUuid(): string {
  if (uuidNext === UUID_BATCH) {
    randomFillSync(uuidEntropy)
    for (let u = 0; u < UUID_BATCH; u++) {
      const from = u * 16
      const to = u * UUID_LENGTH
      // Version 4 (random), variant 10xx, as RFC 9562 section 5.4 lays out.
      uuidEntropy[from + 6] = ((uuidEntropy[from + 6] ?? 0) & 0x0f) | 0x40
      uuidEntropy[from + 8] = ((uuidEntropy[from + 8] ?? 0) & 0x3f) | 0x80
      for (let i = 0; i < 16; i++) {
        const byte = uuidEntropy[from + i] ?? 0
        const at = to + (UUID_BYTE_AT[i] ?? 0)
        uuidText[at] = HEX_DIGITS[byte >> 4] ?? 0
        uuidText[at + 1] = HEX_DIGITS[byte & 15] ?? 0
      }
      uuidText[to + 8] = 0x2d
      uuidText[to + 13] = 0x2d
      uuidText[to + 18] = 0x2d
      uuidText[to + 23] = 0x2d
    }
    uuidBatch = uuidText.toString('latin1')
    uuidNext = 0
  }
  const at = uuidNext++ * UUID_LENGTH
  return uuidBatch.slice(at, at + UUID_LENGTH)
}

/** The label inside an owner token, or `undefined` for a token without one. */
export function labelOf(owner: string): OwnerLabel | undefined {
  const match = TOKEN.exec(owner)
  if (match === null) return undefined
  const [, name, host = '', pid = ''] = match
  return { name, host, pid: Number(pid), text: owner.slice(37) }
}

/** Who holds a key: {@link LockInfo} plus the holder's owner label. */
export interface HolderInfo extends LockInfo {
  /**
   * Who the holder is (its client's `label`, host name and process id), or
   * `undefined` when its owner token carries no label (a client that does
   * not record one).
   */
  readonly label: OwnerLabel | undefined
}

/** {@link LockInfo} with the label parsed from its owner token. */
export function holderInfo(info: LockInfo): HolderInfo {
  return { owner: info.owner, fence: info.fence, remainingMs: info.remainingMs, label: labelOf(info.owner) }
}
