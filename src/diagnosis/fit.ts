/**
 * The train-enough and overfitting labels: underfitting, overfitting (and the accuracy gap).
 * Pure tests over a TrainingCurve, like stability.ts.
 */
import type { DiagnosisThresholds } from '../types.ts';
import type { Curve, LabelCheck } from './check.ts';
import { DEFAULT_THRESHOLDS } from './thresholds.ts';
import { finitePoints, formatAgainst, formatChange, formatNumber, lastEpochOf, minimumPoint, watchedLoss } from './series.ts';

// ───────────────────────────── underfitting ─────────────────────────────

export type UnderfittingEvidence = {
  recentFromEpoch: number | null;
  recentFrom: number | null;
  recentTo: number | null;
  /** Relative fall of the watched loss over the last epochs. */
  recentFall: number | null;
  lastEpoch: number;
  /** True when a 1-epoch curve was taken as still falling. */
  tooShort: boolean;
};

/**
 * The watched loss still falling at the end: it fell at least stillFallingFraction over the last
 * (up to) 3 epochs, its last value is a new low of that window (by a third of that fraction) and
 * within riseFraction of the run's minimum. A 1-epoch curve shows no trend; it counts as still falling (train longer to see).
 */
export function underfitting(curve: Curve, thresholds: DiagnosisThresholds = DEFAULT_THRESHOLDS): LabelCheck<UnderfittingEvidence> {
  const watched = watchedLoss(curve);
  const points = watched.points;
  const lastEpoch = lastEpochOf(curve);
  const evidence: UnderfittingEvidence = { recentFromEpoch: null, recentFrom: null, recentTo: null, recentFall: null, lastEpoch, tooShort: false };
  if (points.length === 0) return { fired: false, evidence, summary: `no finite ${watched.name}` };
  if (points.length === 1) {
    evidence.recentTo = points[0].value;
    evidence.tooShort = true;
    return {
      fired: true,
      evidence,
      summary: `only one epoch of ${watched.name} (${formatNumber(points[0].value)} at epoch ${points[0].epoch}): no trend yet, so it counts as still falling`,
    };
  }
  const window = points.slice(-Math.min(4, points.length));
  const from = window[0];
  const to = window[window.length - 1];
  const fall = from.value > 0 ? (from.value - to.value) / from.value : 0;
  // A new low at the end: below every earlier value of the window by a third of the threshold
  // (so a loss that fell and then sat flat for the last epochs is no longer "still falling").
  const earlierLow = Math.min(...window.slice(0, -1).map((p) => p.value));
  const newLow = to.value <= earlierLow * (1 - thresholds.stillFallingFraction / 3);
  const best = minimumPoint(points) as NonNullable<ReturnType<typeof minimumPoint>>;
  const nearBest = to.value <= best.value * (1 + thresholds.riseFraction);
  Object.assign(evidence, { recentFromEpoch: from.epoch, recentFrom: from.value, recentTo: to.value, recentFall: fall });
  const fired = fall >= thresholds.stillFallingFraction && newLow && nearBest;
  const span = window.length - 1;
  const movement =
    `${formatNumber(from.value)} → ${formatNumber(to.value)} over the last ${span} epoch${span === 1 ? '' : 's'} ` +
    `(${formatChange(-fall)}) at epoch ${to.epoch} of ${lastEpoch}`;
  return {
    fired,
    evidence,
    summary: fired
      ? `${watched.name} still falling: ${movement}`
      : `${watched.name} no longer falling: ${movement} (still falling needs ${formatChange(-thresholds.stillFallingFraction)} or more)`,
  };
}

// ───────────────────────────── overfitting ─────────────────────────────

export type OverfittingEvidence = {
  /** Epoch of minimum validation loss. */
  bestEpoch: number | null;
  bestValLoss: number | null;
  finalValLoss: number | null;
  finalValLossEpoch: number | null;
  /** Relative rise of the final validation loss above its minimum. */
  valLossRise: number | null;
  epochsAfterMinimum: number | null;
  /** The minimum lies minEpochsAfterMinimum or more before the end and the loss rose riseFraction above it. */
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

/** Validation loss minimum well before the end and risen after it, or a train − validation accuracy gap above gapThreshold. */
export function overfitting(curve: Curve, thresholds: DiagnosisThresholds = DEFAULT_THRESHOLDS): LabelCheck<OverfittingEvidence> {
  const points = finitePoints(curve, 'valLoss');
  const best = minimumPoint(points);
  const final = points.length > 0 ? points[points.length - 1] : null;
  const gap = accuracyGapAt(curve);
  const evidence: OverfittingEvidence = {
    bestEpoch: best?.epoch ?? null,
    bestValLoss: best?.value ?? null,
    finalValLoss: final?.value ?? null,
    finalValLossEpoch: final?.epoch ?? null,
    valLossRise: null,
    epochsAfterMinimum: null,
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
    const rise = best.value > 0 ? (final.value - best.value) / best.value : 0;
    const after = final.epoch - best.epoch;
    evidence.valLossRise = rise;
    evidence.epochsAfterMinimum = after;
    evidence.risingAfterMinimum = after >= thresholds.minEpochsAfterMinimum && rise >= thresholds.riseFraction;
    const text = `validation loss ${formatNumber(best.value)} at epoch ${best.epoch} rose to ${formatNumber(final.value)} by epoch ${final.epoch} (${formatChange(rise)})`;
    if (evidence.risingAfterMinimum) parts.push(text);
    else if (after === 0) quiet.push(`validation loss lowest at the last epoch (${formatNumber(best.value)} at epoch ${best.epoch})`);
    else quiet.push(`${text}, under the ${formatChange(thresholds.riseFraction)} over ${thresholds.minEpochsAfterMinimum}+ epochs that counts as rising`);
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
