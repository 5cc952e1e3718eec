/**
 * Small numeric helpers over a TrainingCurve: finite series and trends. Pure. (Numbers in words
 * are util/format.ts's.)
 */
import type { TrainingCurve } from '../types.ts';

/** One finite value of a series, at its (1-based) epoch. */
export interface Point {
  epoch: number;
  value: number;
}

export type SeriesKey = 'loss' | 'accuracy' | 'valLoss' | 'valAccuracy' | 'learnRate';

/** The finite values of one per-epoch field, in epoch order (NaN, ±Infinity and null skipped). */
export function finitePoints(curve: Readonly<TrainingCurve>, key: SeriesKey): Point[] {
  const points: Point[] = [];
  for (const record of curve.epochs) {
    const value = record[key];
    if (typeof value === 'number' && Number.isFinite(value)) points.push({ epoch: record.epoch, value });
  }
  return points;
}

/** The loss a diagnosis watches: validation loss when the curve has any, else training loss. */
export interface WatchedLoss {
  points: Point[];
  /** 'validation loss' or 'training loss', for summaries. */
  name: 'validation loss' | 'training loss';
  usedValidation: boolean;
}

/** Validation loss is more sensitive than accuracy (the notes): watch it; fall back to training loss. */
export function watchedLoss(curve: Readonly<TrainingCurve>): WatchedLoss {
  const validation = finitePoints(curve, 'valLoss');
  if (validation.length > 0) return { points: validation, name: 'validation loss', usedValidation: true };
  return { points: finitePoints(curve, 'loss'), name: 'training loss', usedValidation: false };
}

/** Least-squares slope of value over epoch (per epoch); 0 for fewer than 2 points. */
export function slope(points: readonly Point[]): number {
  const n = points.length;
  if (n < 2) return 0;
  const meanX = points.reduce((sum, p) => sum + p.epoch, 0) / n;
  const meanY = points.reduce((sum, p) => sum + p.value, 0) / n;
  let covariance = 0;
  let variance = 0;
  for (const p of points) {
    covariance += (p.epoch - meanX) * (p.value - meanY);
    variance += (p.epoch - meanX) ** 2;
  }
  return variance === 0 ? 0 : covariance / variance;
}

export { mean, standardDeviation } from '../util/stats.ts';

/** The point with the smallest value (the earliest one on ties), or null. */
export function minimumPoint(points: readonly Point[]): Point | null {
  let best: Point | null = null;
  for (const p of points) if (best === null || p.value < best.value) best = p;
  return best;
}

/** The last epoch number of the curve (0 for an empty curve). */
export function lastEpochOf(curve: Readonly<TrainingCurve>): number {
  return curve.epochs.length === 0 ? 0 : curve.epochs[curve.epochs.length - 1].epoch;
}
