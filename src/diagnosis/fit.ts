/**
 * The train-enough and overfitting labels: underfitting, overfitting (and the accuracy gap).
 * Pure tests over a TrainingCurve, like stability.ts.
 */
import type { DiagnosisThresholds } from '../types.ts';
import type { Curve, LabelCheck } from './check.ts';
import { DEFAULT_THRESHOLDS } from './thresholds.ts';
import { finitePoints, lastEpochOf, minimumPoint, watchedLoss } from './series.ts';
import { counted, formatAgainst, formatChange, formatNumber } from '../util/format.ts';
import { lastWindow, linearTrend, significantlyFalling, significantlyRising, smoothedMinimum, tCritical, trendWindowSize } from './trend.ts';

// ───────────────────────────── underfitting ─────────────────────────────

export type UnderfittingEvidence = {
  /** The window of the fit (the last half of the run, at least 4 epochs). */
  trendFromEpoch: number | null;
  trendToEpoch: number | null;
  /** Least-squares slope of the watched loss per epoch over the window, its standard error and t. */
  slope: number | null;
  slopeSE: number | null;
  slopeT: number | null;
  /** The one-sided 95% critical t the slope is judged against. */
  tCritical: number | null;
  /** Relative fall of the fitted line over the window (positive: falling). */
  recentFall: number | null;
  lastEpoch: number;
  /** True when the curve had too few epochs (fewer than 3) for a trend: taken as still falling. */
  tooShort: boolean;
  /** Relative fall of the fitted line per epoch of the window (recentFall / its epochs − 1). */
  fallPerEpoch: number | null;
  /** Slope t of the validation (else training) accuracy over the same window, and whether it rises beyond its noise. */
  accuracySlopeT: number | null;
  accuracyRising: boolean | null;
  /**
   * Why a falling loss was not taken as "still improving": its accuracy is flat (no rise beyond
   * its noise) or the train − validation gap is over the threshold, and the fall is not worth the
   * epochs (under WORTH_FALL_PER_EPOCH per epoch). Null when nothing overruled it.
   */
  overruledBy: 'flatAccuracy' | 'gap' | null;
  /** A short run (window of fewer than SHORT_WINDOW points) whose last epoch is its lowest loss and whose fit fell enough: its last epochs count. */
  fallingAtEnd: boolean;
};

/**
 * A loss falling by at least this share per epoch is worth more epochs whatever its accuracy or
 * gap say: about the fall of a healthy 10-epoch search run between epochs 5 and 10 (0.44 → 0.37,
 * 3.5% per epoch), three times less; a loss drifting down a few percent over 15 epochs (0.2–0.3% per epoch)
 * while its accuracy stands still is converged for the purpose of "train enough".
 */
export const WORTH_FALL_PER_EPOCH = 0.01;
/**
 * A window of fewer points than this has too few degrees of freedom for the t test to see a real
 * fall (3 dof: t must reach 2.35): there the last epoch being the lowest, with the fit down by
 * stillFallingFraction, is enough.
 */
export const SHORT_WINDOW = 6;

/**
 * The watched loss still falling at the end, beyond its noise: a least-squares line over the last
 * half of the run (at least 4 epochs) falls with a t statistic past the one-sided 95% critical
 * value, and by at least stillFallingFraction over the window. A loss that moves only by its
 * epoch-to-epoch noise is a plateau, whatever its endpoints. Fewer than 3 epochs show no trend;
 * they count as still falling (train longer to see).
 */
export function underfitting(curve: Curve, thresholds: DiagnosisThresholds = DEFAULT_THRESHOLDS): LabelCheck<UnderfittingEvidence> {
  const watched = watchedLoss(curve);
  const points = watched.points;
  const lastEpoch = lastEpochOf(curve);
  const evidence: UnderfittingEvidence = {
    trendFromEpoch: null,
    trendToEpoch: null,
    slope: null,
    slopeSE: null,
    slopeT: null,
    tCritical: null,
    recentFall: null,
    lastEpoch,
    tooShort: false,
    fallPerEpoch: null,
    accuracySlopeT: null,
    accuracyRising: null,
    overruledBy: null,
    fallingAtEnd: false,
  };
  if (points.length === 0) return { fired: false, evidence, summary: `no finite ${watched.name}` };
  if (points.length < 3) {
    evidence.tooShort = true;
    const last = points[points.length - 1];
    return {
      fired: true,
      evidence,
      summary: `only ${counted(points.length, 'epoch')} of ${watched.name} (${formatNumber(last.value)} at epoch ${last.epoch}): no trend yet, so it counts as still falling`,
    };
  }
  const window = lastWindow(points, trendWindowSize(points.length));
  const trend = linearTrend(window);
  const level = window.reduce((sum, p) => sum + p.value, 0) / window.length;
  const fall = level > 0 ? (trend.fittedFirst - trend.fittedLast) / level : 0;
  Object.assign(evidence, {
    trendFromEpoch: trend.fromEpoch,
    trendToEpoch: trend.toEpoch,
    slope: trend.slope,
    slopeSE: Number.isFinite(trend.slopeSE) ? trend.slopeSE : null,
    slopeT: Number.isFinite(trend.t) ? trend.t : null,
    tCritical: tCritical(trend.dof),
    recentFall: fall,
  });
  const fallPerEpoch = fall / Math.max(1, trend.toEpoch - trend.fromEpoch);
  // The accuracy the loss stands for, over the same epochs: validation when the loss is validation's.
  const accuracy = lastWindow(finitePoints(curve, watched.usedValidation ? 'valAccuracy' : 'accuracy'), window.length).filter((p) => p.epoch >= trend.fromEpoch);
  const accuracyTrend = accuracy.length >= 3 ? linearTrend(accuracy) : null;
  const accuracyRising = accuracyTrend ? significantlyRising(accuracyTrend) : null;
  const gap = accuracyGapAt(curve);
  const lowestAtEnd = window[window.length - 1].value < Math.min(...points.slice(0, -1).map((p) => p.value));
  const fallingAtEnd = window.length < SHORT_WINDOW && trend.slope < 0 && lowestAtEnd && fall >= thresholds.stillFallingFraction;
  Object.assign(evidence, { fallPerEpoch, accuracySlopeT: accuracyTrend && Number.isFinite(accuracyTrend.t) ? accuracyTrend.t : null, accuracyRising, fallingAtEnd });
  const falling = significantlyFalling(trend) || fallingAtEnd;
  const worth = fallPerEpoch >= WORTH_FALL_PER_EPOCH;
  const overruledBy: UnderfittingEvidence['overruledBy'] =
    falling && fall >= thresholds.stillFallingFraction && !worth
      ? gap !== null && gap.gap > thresholds.gapThreshold
        ? 'gap'
        : accuracyRising === false
          ? 'flatAccuracy'
          : null
      : null;
  evidence.overruledBy = overruledBy;
  const fired = falling && fall >= thresholds.stillFallingFraction && overruledBy === null;
  const fit =
    `fit over epochs ${trend.fromEpoch}–${trend.toEpoch}: ${formatNumber(trend.fittedFirst)} → ${formatNumber(trend.fittedLast)} ` +
    `(${formatChange(-fall)}), slope ${formatSigned(trend.slope)} ± ${formatNumber(trend.slopeSE)} per epoch, t ${formatNumber(trend.t)}`;
  let summary: string;
  const perEpoch = `${formatChange(-fallPerEpoch)} per epoch, under the ${formatChange(-WORTH_FALL_PER_EPOCH)} that is worth more epochs`;
  if (fired && !significantlyFalling(trend)) summary = `${watched.name} still falling at the end of a short run: ${fit}; its last epoch is its lowest`;
  else if (fired) summary = `${watched.name} still falling: ${fit} (beyond its noise: |t| ≥ ${formatNumber(tCritical(trend.dof))})`;
  else if (overruledBy === 'gap') summary = `${watched.name} falling only trivially against a train − validation gap of ${formatNumber(gap!.gap)}: ${fit}, ${perEpoch}`;
  else if (overruledBy === 'flatAccuracy') summary = `${watched.name} falling slowly while ${watched.usedValidation ? 'validation' : 'training'} accuracy is flat (slope t ${formatNumber(accuracyTrend!.t)}): ${fit}, ${perEpoch}`;
  else if (falling) summary = `${watched.name} falling only slightly: ${fit} (still falling needs ${formatChange(-thresholds.stillFallingFraction)} or more)`;
  else if (significantlyRising(trend)) summary = `${watched.name} rising, not falling: ${fit} (beyond its noise: t ≥ ${formatNumber(tCritical(trend.dof))})`;
  else summary = `${watched.name} flat within its noise (a plateau): ${fit}, |t| under ${formatNumber(tCritical(trend.dof))}`;
  return { fired, evidence, summary };
}

function formatSigned(x: number): string {
  return `${x > 0 ? '+' : x < 0 ? '−' : ''}${formatNumber(Math.abs(x))}`;
}

// ───────────────────────────── overfitting ─────────────────────────────

export type OverfittingEvidence = {
  /** Epoch of the smoothed validation-loss minimum (a centred 3-epoch mean): where to trim. */
  bestEpoch: number | null;
  /** The smoothed minimum. */
  bestValLoss: number | null;
  /** The lowest single validation loss and its epoch (the luckiest point, for reference). */
  rawBestEpoch: number | null;
  rawBestValLoss: number | null;
  finalValLoss: number | null;
  finalValLossEpoch: number | null;
  /** Relative rise of the fitted line at the last epoch above the smoothed minimum. */
  valLossRise: number | null;
  epochsAfterMinimum: number | null;
  /** Slope of validation loss after the minimum, its standard error and t. */
  riseSlope: number | null;
  riseSlopeSE: number | null;
  riseT: number | null;
  /**
   * The minimum lies minEpochsAfterMinimum or more before the end, validation loss rose at least
   * riseFraction above it, and the rise after it is beyond its noise (one-sided 95%).
   */
  risingAfterMinimum: boolean;
  trainAccuracy: number | null;
  valAccuracy: number | null;
  /** Training − validation accuracy at gapEpoch. */
  accuracyGap: number | null;
  gapEpoch: number | null;
  gapTooLarge: boolean;
};

/** The train − validation accuracy gap at the given epoch (or the last epoch with both, at or before it). */
export function accuracyGapAt(curve: Curve, epoch?: number): { epoch: number; train: number; validation: number; gap: number } | null {
  let found: { epoch: number; train: number; validation: number; gap: number } | null = null;
  for (const record of curve.epochs) {
    if (epoch !== undefined && record.epoch > epoch) break;
    const { accuracy, valAccuracy } = record;
    if (typeof accuracy === 'number' && Number.isFinite(accuracy) && typeof valAccuracy === 'number' && Number.isFinite(valAccuracy)) {
      found = { epoch: record.epoch, train: accuracy, validation: valAccuracy, gap: accuracy - valAccuracy };
    }
  }
  return found;
}

/**
 * Validation loss with a (smoothed) minimum well before the end and a rise after it beyond its
 * noise, or a train − validation accuracy gap above gapThreshold.
 */
export function overfitting(curve: Curve, thresholds: DiagnosisThresholds = DEFAULT_THRESHOLDS): LabelCheck<OverfittingEvidence> {
  const points = finitePoints(curve, 'valLoss');
  const best = smoothedMinimum(points);
  const raw = minimumPoint(points);
  const final = points.length > 0 ? points[points.length - 1] : null;
  const gap = accuracyGapAt(curve);
  const evidence: OverfittingEvidence = {
    bestEpoch: best?.epoch ?? null,
    bestValLoss: best?.value ?? null,
    rawBestEpoch: raw?.epoch ?? null,
    rawBestValLoss: raw?.value ?? null,
    finalValLoss: final?.value ?? null,
    finalValLossEpoch: final?.epoch ?? null,
    valLossRise: null,
    epochsAfterMinimum: null,
    riseSlope: null,
    riseSlopeSE: null,
    riseT: null,
    risingAfterMinimum: false,
    trainAccuracy: gap?.train ?? null,
    valAccuracy: gap?.validation ?? null,
    accuracyGap: gap?.gap ?? null,
    gapEpoch: gap?.epoch ?? null,
    gapTooLarge: gap !== null && gap.gap > thresholds.gapThreshold,
  };
  const parts: string[] = [];
  const quiet: string[] = [];
  if (best !== null && final !== null) {
    const after = final.epoch - best.epoch;
    evidence.epochsAfterMinimum = after;
    if (after === 0) {
      quiet.push(`validation loss lowest at the end (smoothed ${formatNumber(best.value)} at epoch ${best.epoch})`);
    } else {
      const trend = linearTrend(points.filter((p) => p.epoch >= best.epoch));
      const rise = best.value > 0 ? (trend.fittedLast - best.value) / best.value : 0;
      Object.assign(evidence, {
        valLossRise: rise,
        riseSlope: trend.slope,
        riseSlopeSE: Number.isFinite(trend.slopeSE) ? trend.slopeSE : null,
        riseT: Number.isFinite(trend.t) ? trend.t : null,
      });
      evidence.risingAfterMinimum = after >= thresholds.minEpochsAfterMinimum && rise >= thresholds.riseFraction && significantlyRising(trend);
      const text =
        `validation loss lowest at epoch ${best.epoch} (smoothed ${formatNumber(best.value)}), then rising to ${formatNumber(trend.fittedLast)} ` +
        `by epoch ${final.epoch} (${formatChange(rise)}; slope t ${formatNumber(trend.t)} over ${after} epochs)`;
      if (evidence.risingAfterMinimum) parts.push(text);
      else quiet.push(`${text}: not a rise beyond its noise (needs ${formatChange(thresholds.riseFraction)} over ${thresholds.minEpochsAfterMinimum}+ epochs and t ≥ ${formatNumber(tCritical(trend.dof))})`);
    }
  } else {
    quiet.push('no validation loss: a rise after its minimum cannot be judged');
  }
  if (gap !== null) {
    const text =
      `training accuracy ${formatNumber(gap.train)} vs validation ${formatNumber(gap.validation)} at epoch ${gap.epoch}: ` +
      `gap ${formatAgainst(gap.gap, thresholds.gapThreshold)} ${evidence.gapTooLarge ? '>' : '≤'} ${formatNumber(thresholds.gapThreshold)}`;
    (evidence.gapTooLarge ? parts : quiet).push(text);
  } else {
    quiet.push('no training and validation accuracy at the same epoch: gap cannot be judged');
  }
  const fired = evidence.risingAfterMinimum || evidence.gapTooLarge;
  return { fired, evidence, summary: fired ? parts.join('; ') : quiet.join('; ') };
}
