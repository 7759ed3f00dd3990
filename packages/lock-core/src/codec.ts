import { describe } from './duration.js'
import { InvalidArgumentError } from './errors.js'

/**
 * How `cached` turns values into the strings a backend stores, and back.
 * `encode` throws (or returns a non-string) for a value it cannot represent;
 * `decode` throws for text it cannot read, which `cached` treats as a miss.
 */
export interface Codec<T> {
  /** Turns a computed value into the text the backend stores. */
  encode(value: T): string
  /** Turns stored text back into a value. */
  decode(text: string): T
}

/** Where in a value a JSON-incompatible part sits, for error messages. */
function at(key: string): string {
  return key === '' ? '' : ` (at property "${key.slice(0, 40)}")`
}

/**
 * The default codec: `JSON.stringify` / `JSON.parse`, strict about what JSON
 * cannot hold. `undefined` as the whole value, functions, symbols, BigInts and
 * cycles are rejected (a `TypeError` naming them) instead of being silently
 * dropped. Otherwise JSON's rules apply: `undefined` properties are left out,
 * `Date`s become ISO strings, `NaN`/`Infinity` become `null`. Pass your own
 * {@link Codec} (e.g. superjson or v8 serialize + base64) for richer types.
 */
export const jsonCodec: Codec<unknown> = {
  encode(value: unknown): string {
    const text: string | undefined = JSON.stringify(value, (key: string, part: unknown) => {
      if (typeof part === 'bigint') throw new TypeError(`JSON cannot encode a BigInt${at(key)}`)
      if (typeof part === 'function') throw new TypeError(`JSON cannot encode a function${at(key)}`)
      if (typeof part === 'symbol') throw new TypeError(`JSON cannot encode a symbol${at(key)}`)
      return part
    })
    if (text === undefined) throw new TypeError('JSON cannot encode undefined (return null instead)')
    return text
  },
  decode(text: string): unknown {
    return JSON.parse(text)
  },
}

/** Validates a codec option; `undefined` gives {@link jsonCodec}. */
export function resolveCodec<T>(codec: unknown, argument = 'options.codec'): Codec<T> {
  if (codec === undefined) return jsonCodec as Codec<T>
  if (
    codec === null ||
    typeof codec !== 'object' ||
    typeof (codec as Partial<Codec<T>>).encode !== 'function' ||
    typeof (codec as Partial<Codec<T>>).decode !== 'function'
  ) {
    throw new InvalidArgumentError(
      argument,
      `expected { encode(value), decode(text) }, got ${describe(codec)}`,
    )
  }
  return codec as Codec<T>
}

/**
 * Encodes `value`, turning any failure of the codec into an
 * {@link InvalidArgumentError} naming `value` (with the codec's error as `cause`).
 */
export function encodeValue<T>(codec: Codec<T>, value: T, key: string): string {
  let text: unknown
  try {
    text = codec.encode(value)
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error)
    throw new InvalidArgumentError(
      'value',
      `the value computed for "${key}" cannot be encoded by the codec: ${detail}`,
      { cause: error },
    )
  }
  if (typeof text !== 'string') {
    throw new InvalidArgumentError(
      'value',
      `the codec encoded the value computed for "${key}" as ${describe(text)}, not a string`,
    )
  }
  return text
}

/**
 * Decodes text the codec itself just encoded, so a codec that cannot read its
 * own output is found before anything is stored: an {@link InvalidArgumentError}
 * naming `options.codec` (with the codec's error as `cause`).
 */
export function decodeOwnText<T>(codec: Codec<T>, text: string, key: string): T {
  try {
    return codec.decode(text)
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error)
    throw new InvalidArgumentError(
      'options.codec',
      `the codec cannot decode what it encoded for "${key}": ${detail}`,
      { cause: error },
    )
  }
}
