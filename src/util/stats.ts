/** Small statistics (PURE), one definition each: diagnosis, training's speed records, the bench and the study use them. */

/** The arithmetic mean (NaN for no values). */
export function mean(values: readonly number[]): number {
  return values.length === 0 ? NaN : values.reduce((sum, v) => sum + v, 0) / values.length;
}

/** Population standard deviation (NaN for no values). */
export function standardDeviation(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const m = mean(values);
  return Math.sqrt(mean(values.map((v) => (v - m) ** 2)));
}

/** The median (the mean of the middle two for an even count; NaN for no values). */
export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
