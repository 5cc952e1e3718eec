/**
 * The stabilise-step labels: diverged, oscillating, tooSlow. Each test is pure, reads a
 * TrainingCurve and returns whether it fired, the numbers that decided it (epochs 1-based) and
 * a sentence quoting them. `diagnoseRun` (diagnose.ts) runs all tests in priority order.
 */
import type { DiagnosisThresholds } from '../types.ts';
import { atRate, type Curve, type LabelCheck } from './check.ts';
import { DEFAULT_THRESHOLDS, TREND_EPSILON } from './thresholds.ts';
import { finitePoints, mean, slope, standardDeviation, watchedLoss } from './series.ts';
import { formatChange, formatNumber, formatPercent } from '../util/format.ts';

// ───────────────────────────── diverged ─────────────────────────────

export type DivergedEvidence = {
  nonFiniteEpoch: number | null;
  nonFiniteIteration: number | null;
  nonFiniteWhat: string | null;
  startLoss: number | null;
  peakLoss: number | null;
  peakEpoch: number | null;
  explodeRatio: number | null;
};

/** A non-finite loss or gradient (stop reason or a value in the curve), or training loss above explodeFactor × its start. */
export function diverged(curve: Curve, thresholds: DiagnosisThresholds = DEFAULT_THRESHOLDS): LabelCheck<DivergedEvidence> {
  const losses = finitePoints(curve, 'loss');
  const start = losses[0] ?? null;
  let peak = start;
  for (const p of losses) if (peak === null || p.value > peak.value) peak = p;
  const explodeRatio = start !== null && peak !== null && start.value > 0 ? peak.value / start.value : null;
  const evidence: DivergedEvidence = {
    nonFiniteEpoch: null,
    nonFiniteIteration: null,
    nonFiniteWhat: null,
    startLoss: start?.value ?? null,
    peakLoss: peak?.value ?? null,
    peakEpoch: peak?.epoch ?? null,
    explodeRatio,
  };
  if (curve.nonFinite) {
    const { iteration, epoch, what } = curve.nonFinite;
    Object.assign(evidence, { nonFiniteEpoch: epoch, nonFiniteIteration: iteration, nonFiniteWhat: what });
    return {
      fired: true,
      evidence,
      summary: `training ${what} became non-finite (NaN/Infinity) at iteration ${iteration} (epoch ${epoch})${atRate(curve, epoch)}`,
    };
  }
  for (const record of curve.epochs) {
    const bad: Array<[string, number]> = [];
    if (!Number.isFinite(record.loss)) bad.push(['training loss', record.loss]);
    if (typeof record.valLoss === 'number' && !Number.isFinite(record.valLoss)) bad.push(['validation loss', record.valLoss]);
    if (bad.length > 0) {
      Object.assign(evidence, { nonFiniteEpoch: record.epoch, nonFiniteWhat: 'loss' });
      const what = bad.map(([name, value]) => `${name} is ${value}`).join(' and ');
      return { fired: true, evidence, summary: `${what} at epoch ${record.epoch}${atRate(curve, record.epoch)}` };
    }
  }
  if (explodeRatio !== null && start !== null && peak !== null && explodeRatio > thresholds.explodeFactor) {
    return {
      fired: true,
      evidence,
      summary:
        `training loss exploded from ${formatNumber(start.value)} at epoch ${start.epoch} to ${formatNumber(peak.value)} ` +
        `at epoch ${peak.epoch} (${formatNumber(explodeRatio)}× its start; limit ${formatNumber(thresholds.explodeFactor)}×)`,
    };
  }
  return {
    fired: false,
    evidence,
    summary:
      explodeRatio === null
        ? 'no finite training loss to judge'
        : `all losses finite; training loss peaked at ${formatNumber(explodeRatio)}× its start (limit ${formatNumber(thresholds.explodeFactor)}×)`,
  };
}

// ───────────────────────────── oscillating ─────────────────────────────

export type OscillatingEvidence = {
  /** Regression slope of training loss per epoch, relative to its mean. */
  lossTrend: number | null;
  /** Std of epoch-to-epoch training-loss changes, relative to its mean. */
  lossSwing: number | null;
};

/** No downward trend of the training loss (slope ≥ −TREND_EPSILON of its mean per epoch) with swings above oscillationSwing. */
export function oscillating(curve: Curve, thresholds: DiagnosisThresholds = DEFAULT_THRESHOLDS): LabelCheck<OscillatingEvidence> {
  const points = finitePoints(curve, 'loss');
  if (points.length < 3) {
    return { fired: false, evidence: { lossTrend: null, lossSwing: null }, summary: `only ${points.length} finite training loss(es): too few to see circling` };
  }
  const level = mean(points.map((p) => p.value));
  const changes = points.slice(1).map((p, i) => p.value - points[i].value);
  const lossTrend = level > 0 ? slope(points) / level : 0;
  const lossSwing = level > 0 ? standardDeviation(changes) / level : 0;
  const noTrend = lossTrend >= -TREND_EPSILON;
  const fired = noTrend && lossSwing > thresholds.oscillationSwing;
  const trendText = `training loss trend ${formatChange(lossTrend)} per epoch${noTrend ? ' (no downward trend)' : ''}`;
  const swingText = `epoch-to-epoch swings ${formatPercent(lossSwing)} of its mean ${formatNumber(level)} (limit ${formatPercent(thresholds.oscillationSwing)})`;
  return {
    fired,
    evidence: { lossTrend, lossSwing },
    summary: fired ? `circling without converging: ${trendText}, ${swingText}` : `${trendText}; ${swingText}`,
  };
}

// ───────────────────────────── tooSlow ─────────────────────────────

export type TooSlowEvidence = {
  firstWatchedLoss: number | null;
  lastWatchedLoss: number | null;
  /** Relative fall of the watched loss over the whole run. */
  watchedLossFall: number | null;
  /** Final validation accuracy (training accuracy without validation). */
  finalAccuracy: number | null;
};

/** Stable, the watched loss fell (but less than tooSlowFall of its start) and accuracy is below tooSlowAccuracy. */
export function tooSlow(curve: Curve, thresholds: DiagnosisThresholds = DEFAULT_THRESHOLDS): LabelCheck<TooSlowEvidence> {
  const watched = watchedLoss(curve);
  const accuracies = watched.usedValidation ? finitePoints(curve, 'valAccuracy') : finitePoints(curve, 'accuracy');
  const accuracyName = watched.usedValidation ? 'validation accuracy' : 'training accuracy';
  const final = accuracies.length > 0 ? accuracies[accuracies.length - 1] : null;
  const first = watched.points[0] ?? null;
  const last = watched.points.length > 0 ? watched.points[watched.points.length - 1] : null;
  const fall = first !== null && last !== null && first.value > 0 && watched.points.length >= 2 ? (first.value - last.value) / first.value : null;
  const evidence: TooSlowEvidence = {
    firstWatchedLoss: first?.value ?? null,
    lastWatchedLoss: last?.value ?? null,
    watchedLossFall: fall,
    finalAccuracy: final?.value ?? null,
  };
  if (fall === null || first === null || last === null) {
    return { fired: false, evidence, summary: `fewer than 2 finite values of ${watched.name}: speed cannot be judged` };
  }
  if (final === null) {
    return { fired: false, evidence, summary: `no ${accuracyName}: speed cannot be judged` };
  }
  const fired = fall > 0 && fall < thresholds.tooSlowFall && final.value < thresholds.tooSlowAccuracy;
  const fallText =
    `${watched.name} fell ${formatPercent(Math.max(fall, 0))} over epochs ${first.epoch}–${last.epoch} ` +
    `(${formatNumber(first.value)} → ${formatNumber(last.value)}; slow below ${formatPercent(thresholds.tooSlowFall)})`;
  const accuracyText = `${accuracyName} ${formatNumber(final.value)} at epoch ${final.epoch} (low below ${formatNumber(thresholds.tooSlowAccuracy)})`;
  return {
    fired,
    evidence,
    summary: fired ? `stable but slow${atRate(curve, last.epoch)}: ${fallText}, ${accuracyText}` : `${fallText}; ${accuracyText}`,
  };
}
