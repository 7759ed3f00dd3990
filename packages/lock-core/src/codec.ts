import { parse as devalueParse, stringify as devalueStringify } from 'devalue'
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

/** Where in a value a part sits, for error messages: `''` for the whole value. */
function at(path: string): string {
  return path === '' ? '' : ` (at ${path.slice(0, 60)})`
}

/** The mark every entry {@link devalueCodec} writes starts with, so other text is never mistaken for one. */
const DEVALUE_TAG = 'dv1:'

/**
 * The default codec, on [devalue](https://github.com/sveltejs/devalue): what
 * `cached` computes is what every caller reads back, with its type. Round-trips
 * everything JSON does plus `undefined` (also as the whole value or inside
 * objects and arrays), `NaN`, `±Infinity`, `-0`, `BigInt`, `Date`, `RegExp`,
 * `Map`, `Set`, `URL`, `URLSearchParams`, `ArrayBuffer`s and typed arrays,
 * objects with a `null` prototype, and repeated or circular references.
 * Anything else — class instances (including `Error`s), functions, symbols —
 * is refused with a `TypeError` naming where it sits, which `cached` reports
 * as an `InvalidArgumentError` before anything is stored.
 *
 * Entries start with `dv1:`. Text without it (an entry written as plain JSON
 * by an older version, or by another codec) fails to decode, which `cached`
 * treats as a miss: it is computed again, never returned with the wrong type.
 */
export const devalueCodec: Codec<unknown> = {
  encode(value: unknown): string {
    try {
      return DEVALUE_TAG + devalueStringify(value)
    } catch (error) {
      const path = (error as { path?: unknown }).path
      const detail = error instanceof Error ? error.message : String(error)
      throw new TypeError(`${detail}${at(typeof path === 'string' ? path : '')}`, { cause: error })
    }
  },
  decode(text: string): unknown {
    if (!text.startsWith(DEVALUE_TAG)) throw new TypeError('not an entry written by devalueCodec')
    return devalueParse(text.slice(DEVALUE_TAG.length))
  },
}

/**
 * Plain JSON (`JSON.stringify` / `JSON.parse`), strict about what JSON cannot
 * hold: only `null`, booleans, strings, finite numbers, arrays and plain
 * objects are accepted. `undefined` as the whole value or in an array,
 * `NaN`/`±Infinity`, BigInts, functions, symbols, `Date`s, `Map`s, `Set`s,
 * typed arrays, class instances and anything else with a `toJSON` are refused
 * with a `TypeError` naming where they sit, instead of coming back as `null`,
 * `{}` or a string. A property whose value is `undefined` is left out, as JSON
 * does (it reads back as `undefined`). Choose it for entries other programs
 * read, or for the speed of `JSON`; the default is {@link devalueCodec}.
 */
export const jsonCodec: Codec<unknown> = {
  encode(value: unknown): string {
    checkJson(value, '', new Set())
    return JSON.stringify(value)
  },
  decode(text: string): unknown {
    return JSON.parse(text)
  },
}

/** Throws a `TypeError` naming the first part of `value` that JSON would not give back as it is. */
function checkJson(value: unknown, path: string, seen: Set<object>): void {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`JSON cannot encode ${value}${at(path)}`)
      return
    case 'object': {
      if (value === null) return
      if (seen.has(value)) throw new TypeError(`JSON cannot encode a circular reference${at(path)}`)
      const proto: unknown = Object.getPrototypeOf(value)
      if (Array.isArray(value)) {
        if (proto !== Array.prototype)
          throw new TypeError(`JSON cannot encode a subclass of Array${at(path)}`)
        seen.add(value)
        for (let index = 0; index < value.length; index++) {
          const item: unknown = value[index]
          if (item === undefined)
            throw new TypeError(`JSON cannot encode undefined in an array${at(`${path}[${index}]`)}`)
          checkJson(item, `${path}[${index}]`, seen)
        }
        seen.delete(value)
        return
      }
      if (
        (proto !== Object.prototype && proto !== null) ||
        typeof (value as { toJSON?: unknown }).toJSON === 'function'
      ) {
        const kind = (value as object).constructor?.name ?? 'object'
        throw new TypeError(`JSON cannot encode a ${kind} as it is${at(path)}; use the default codec`)
      }
      seen.add(value)
      for (const [key, item] of Object.entries(value)) {
        if (item !== undefined) checkJson(item, `${path}.${key}`, seen)
      }
      seen.delete(value)
      return
    }
    case 'undefined':
      throw new TypeError(`JSON cannot encode undefined${at(path)} (return null instead)`)
    default:
      throw new TypeError(`JSON cannot encode a ${typeof value}${at(path)}`)
  }
}

/** Validates a codec option; `undefined` gives {@link devalueCodec}. */
export function resolveCodec<T>(codec: unknown, argument = 'options.codec'): Codec<T> {
  if (codec === undefined) return devalueCodec as Codec<T>
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
