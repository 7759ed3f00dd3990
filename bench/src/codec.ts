/**
 * `pnpm --filter @lockwork/bench codec`: what `cached` pays to encode and
 * decode a value, per codec: lockwork's default (`devalueCodec`), the strict
 * `jsonCodec`, and bare `JSON.stringify`/`JSON.parse` as the floor. Prints one
 * line per codec: µs per encode + decode (median of 7 rounds) and
 * the stored size, also for decode alone (what a cache hit pays). The backend
 * round trip (≈ 50–300 µs) comes on top.
 */
import { type Codec, devalueCodec, jsonCodec } from '@lockwork/core'

/** A typical cached value: an order with a customer, ten line items and two dates (as ISO strings for JSON). */
function order(dates: 'Date' | 'string') {
  const at = (ms: number) => (dates === 'Date' ? new Date(ms) : new Date(ms).toISOString())
  return {
    id: 'ord_8f3a2c',
    customer: { id: 42, name: 'Ada Lovelace', email: 'ada@example.com', tags: ['vip', 'eu'] },
    total: 129.95,
    currency: 'EUR',
    paid: true,
    note: null,
    items: Array.from({ length: 10 }, (_, i) => ({
      sku: `SKU-${i}`,
      qty: i + 1,
      price: 9.99 + i,
      title: `Item number ${i}`,
    })),
    createdAt: at(0),
    updatedAt: at(1_700_000_000_000),
  }
}

const bareJson: Codec<unknown> = { encode: (v) => JSON.stringify(v), decode: (t) => JSON.parse(t) }

/** The median over 7 rounds of `body`'s time, in µs per call. */
function median(body: () => void): number {
  const n = 20_000
  for (let warm = 0; warm < n; warm++) body()
  const rounds: number[] = []
  for (let round = 0; round < 7; round++) {
    const started = performance.now()
    for (let i = 0; i < n; i++) body()
    rounds.push(((performance.now() - started) * 1000) / n)
  }
  rounds.sort((a, b) => a - b)
  return rounds[3] ?? Number.NaN
}

/** µs per encode + decode (a miss: computed, stored, returned), µs per decode (a hit), stored bytes. */
function measure(codec: Codec<unknown>, value: unknown): { us: number; decodeUs: number; bytes: number } {
  const text = codec.encode(value)
  return {
    us: median(() => codec.decode(codec.encode(value))),
    decodeUs: median(() => codec.decode(text)),
    bytes: Buffer.byteLength(text),
  }
}

const rows: [string, Codec<unknown>, unknown][] = [
  ['JSON.stringify/parse (floor, dates as strings)', bareJson, order('string')],
  ['jsonCodec (dates as strings)', jsonCodec, order('string')],
  ['devalueCodec (default, real Dates)', devalueCodec, order('Date')],
]
process.stdout.write(`${'codec'.padEnd(48)} encode+decode        decode (a hit)      stored\n`)
const measured = rows.map(([label, codec, value]) => ({ label, ...measure(codec, value) }))
const floor = measured[0] ?? { us: Number.NaN, decodeUs: Number.NaN }
for (const { label, us, decodeUs, bytes } of measured) {
  const both = `${us.toFixed(1).padStart(6)} µs ${(us / floor.us).toFixed(1).padStart(4)}×`
  const hit = `${decodeUs.toFixed(1).padStart(6)} µs ${(decodeUs / floor.decodeUs).toFixed(1).padStart(4)}×`
  process.stdout.write(`${label.padEnd(48)} ${both}    ${hit}    ${String(bytes).padStart(5)} bytes\n`)
}
