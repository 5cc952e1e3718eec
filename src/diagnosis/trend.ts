/**
 * Trends with their uncertainty: a least-squares line over a window of epochs with the standard
 * error of its slope, and a smoothed curve whose minimum is not the luckiest single epoch. PURE.
 *
 * "Still improving", "plateau" and "rising" are decided by the slope's t statistic against a
 * one-sided 95% Student-t critical value for the window's degrees of freedom: a validation loss
 * that moves by its own epoch-to-epoch noise is flat, whatever its two endpoints say.
 */
import type { Point } from './series.ts';

export interface LinearTrend {
  /** Change per epoch. */
  slope: number;
  /** Standard error of the slope (NaN with fewer than 3 points). */
  slopeSE: number;
  /** slope / slopeSE (±Infinity for a perfect fit, 0 for a flat one). */
  t: number;
  /** Degrees of freedom: points − 2. */
  dof: number;
  /** Fitted value at the first and the last epoch of the window. */
  fittedFirst: number;
  fittedLast: number;
  fromEpoch: number;
  toEpoch: number;
}

/** One-sided 95% critical values of Student's t, by degrees of freedom (1…30; 1.645 beyond). */
const T95: readonly number[] = [
  NaN, 6.314, 2.92, 2.353, 2.132, 2.015, 1.943, 1.895, 1.86, 1.833, 1.812, 1.796, 1.782, 1.771, 1.761, 1.753,
  1.746, 1.74, 1.734, 1.729, 1.725, 1.721, 1.717, 1.714, 1.711, 1.708, 1.706, 1.703, 1.701, 1.699, 1.697,
];

/** The one-sided 95% critical t for `dof` degrees of freedom (Infinity for none). */
export function tCritical(dof: number): number {
  if (!(dof >= 1)) return Infinity;
  return dof < T95.length ? T95[Math.floor(dof)] : 1.645;
}

/** Least-squares line through the points, with the standard error of its slope. */
export function linearTrend(points: readonly Point[]): LinearTrend {
  const n = points.length;
  const first = points[0]?.epoch ?? 0;
  const last = points[n - 1]?.epoch ?? 0;
  if (n < 2) {
    const v = points[0]?.value ?? NaN;
    return { slope: 0, slopeSE: NaN, t: 0, dof: n - 2, fittedFirst: v, fittedLast: v, fromEpoch: first, toEpoch: last };
  }
  const meanX = points.reduce((s, p) => s + p.epoch, 0) / n;
  const meanY = points.reduce((s, p) => s + p.value, 0) / n;
  let sxx = 0;
  let sxy = 0;
  for (const p of points) {
    sxx += (p.epoch - meanX) ** 2;
    sxy += (p.epoch - meanX) * (p.value - meanY);
  }
  const slope = sxx === 0 ? 0 : sxy / sxx;
  const intercept = meanY - slope * meanX;
  let residuals = 0;
  for (const p of points) residuals += (p.value - (intercept + slope * p.epoch)) ** 2;
  const dof = n - 2;
  const slopeSE = dof > 0 && sxx > 0 ? Math.sqrt(residuals / dof / sxx) : NaN;
  const t = slope === 0 ? 0 : slopeSE > 0 ? slope / slopeSE : slope > 0 ? Infinity : -Infinity;
  return { slope, slopeSE, t, dof, fittedFirst: intercept + slope * first, fittedLast: intercept + slope * last, fromEpoch: first, toEpoch: last };
}

/**
 * Significantly falling (one-sided 95%): a negative slope beyond its noise. A line through two
 * points (no degrees of freedom) has no noise estimate, so it is never significant.
 */
export function significantlyFalling(trend: LinearTrend): boolean {
  return trend.dof >= 1 && trend.slope < 0 && -trend.t >= tCritical(trend.dof);
}

/** Significantly rising (one-sided 95%); never with fewer than 3 points, like significantlyFalling. */
export function significantlyRising(trend: LinearTrend): boolean {
  return trend.dof >= 1 && trend.slope > 0 && trend.t >= tCritical(trend.dof);
}

/** A centred 3-epoch moving average (2 points at the ends). */
export function smoothed(points: readonly Point[]): Point[] {
  return points.map((p, i) => {
    const window = points.slice(Math.max(0, i - 1), Math.min(points.length, i + 2));
    return { epoch: p.epoch, value: window.reduce((s, q) => s + q.value, 0) / window.length };
  });
}

/** The minimum of the smoothed curve: the epoch to stop at, not the luckiest single epoch. */
export function smoothedMinimum(points: readonly Point[]): Point | null {
  let best: Point | null = null;
  for (const p of smoothed(points)) if (best === null || p.value < best.value) best = p;
  return best;
}

/** The last `size` points (all of them when fewer). */
export function lastWindow(points: readonly Point[], size: number): Point[] {
  return points.slice(Math.max(0, points.length - size));
}

/** The window a "still improving" fit looks at: the last half of the run, at least 4 epochs. */
export function trendWindowSize(epochs: number): number {
  return Math.min(epochs, Math.max(4, Math.ceil(epochs / 2)));
}
