/** A distribution summarised the way the tables print it. */
export interface Summary {
  /** Number of samples. */
  readonly n: number
  /** Median. */
  readonly p50: number
  /** 99th percentile. */
  readonly p99: number
  /** Arithmetic mean. */
  readonly mean: number
  /** Smallest sample. */
  readonly min: number
  /** Largest sample. */
  readonly max: number
}

/** The `q` quantile (0…1) of ascending `sorted`, by the nearest-rank method. */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return Number.NaN
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))
  return sorted[rank] ?? Number.NaN
}

/** Summarises `samples` (any order; not modified). */
export function summarize(samples: ArrayLike<number>): Summary {
  const sorted = Float64Array.from(samples).sort()
  let total = 0
  for (const value of sorted) total += value
  return {
    n: sorted.length,
    p50: quantile(sorted, 0.5),
    p99: quantile(sorted, 0.99),
    mean: sorted.length === 0 ? Number.NaN : total / sorted.length,
    min: sorted[0] ?? Number.NaN,
    max: sorted[sorted.length - 1] ?? Number.NaN,
  }
}

/**
 * A growable list of float samples that avoids boxing millions of numbers in
 * a plain array.
 */
export class Samples {
  #data = new Float64Array(4096)
  #length = 0

  /** Appends one sample. */
  push(value: number): void {
    if (this.#length === this.#data.length) {
      const grown = new Float64Array(this.#data.length * 2)
      grown.set(this.#data)
      this.#data = grown
    }
    this.#data[this.#length++] = value
  }

  /** How many samples were pushed. */
  get length(): number {
    return this.#length
  }

  /** The samples as a view (no copy). */
  values(): Float64Array {
    return this.#data.subarray(0, this.#length)
  }
}

/** Rounds to `digits` significant decimals for JSON (keeps files small and diffable). */
export function round(value: number, digits = 3): number {
  if (!Number.isFinite(value)) return value
  const factor = 10 ** digits
  return Math.round(value * factor) / factor
}

/** The median over rounds of `a[round] ÷ b[round]`: a same-run ratio that a slow round cannot skew. */
export function medianRoundRatio(a: readonly number[], b: readonly number[]): number {
  return summarize(a.map((value, round) => value / (b[round] ?? Number.NaN))).p50
}
