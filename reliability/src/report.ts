/** Prints one measured figure, tagged so it is easy to find in the test output. */
export function figure(label: string, value: string): void {
  console.info(`[reliability] ${label}: ${value}`)
}

/** `min / median / max` of `values` in ms, rounded. */
export function spread(values: readonly number[]): string {
  const sorted = [...values].sort((a, b) => a - b)
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN
  return `min ${Math.round(sorted[0] ?? Number.NaN)} / median ${Math.round(at(0.5))} / max ${Math.round(at(1))} ms (n=${sorted.length})`
}
