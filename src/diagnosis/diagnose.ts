/**
 * `diagnoseRun`: the label tests in the flowchart's order of priority
 * (diverged > oscillating > tooSlow > underfitting > overfitting > converged).
 */
import type { Diagnosis, DiagnosisLabel, DiagnosisThresholds, TrainingCurve } from '../types.ts';
import type { Evidence, LabelCheck } from './check.ts';
import { overfitting, underfitting } from './fit.ts';
import { diverged, oscillating, tooSlow } from './stability.ts';
import { lastEpochOf, minimumPoint, watchedLoss } from './series.ts';
import { formatNumber } from '../util/format.ts';
import { resolveThresholds } from './thresholds.ts';

/** The tested labels, strongest first (the flowchart's order: stabilise, train enough, stop in time / regularise). */
export const LABEL_PRIORITY: readonly Exclude<DiagnosisLabel, 'converged'>[] = ['diverged', 'oscillating', 'tooSlow', 'underfitting', 'overfitting'];

const TESTS: Record<Exclude<DiagnosisLabel, 'converged'>, (curve: Readonly<TrainingCurve>, t: DiagnosisThresholds) => LabelCheck> = {
  diverged,
  oscillating,
  tooSlow,
  underfitting,
  overfitting,
};

/** Every label's check, in priority order (for reports that show why a label did not fire). */
export function checkAll(curve: Readonly<TrainingCurve>, thresholds?: Partial<DiagnosisThresholds>): Array<{ label: DiagnosisLabel; check: LabelCheck }> {
  const t = resolveThresholds(thresholds);
  return LABEL_PRIORITY.map((label) => ({ label, check: TESTS[label](curve, t) }));
}

/**
 * Diagnose one run. `label` is the first label that fired (else 'converged'), `findings` every
 * label that fired, `evidence` the numbers of all tests merged (plus `watched`, `epochs`,
 * `lastEpoch`), `summary` the fired tests' sentences, strongest first.
 */
export function diagnoseRun(curve: Readonly<TrainingCurve>, thresholds?: Partial<DiagnosisThresholds>): Diagnosis {
  const t = resolveThresholds(thresholds);
  const checks = checkAll(curve, t);
  const fired = checks.filter((c) => c.check.fired);
  const watched = watchedLoss(curve);
  const evidence: Evidence = {
    watched: watched.name,
    usedValidation: watched.usedValidation,
    epochs: curve.epochs.length,
    lastEpoch: lastEpochOf(curve),
  };
  for (const { check } of checks) {
    for (const [key, value] of Object.entries(check.evidence)) if (!(key in evidence)) evidence[key] = value;
  }
  const prefix = watched.usedValidation || curve.epochs.length === 0 ? '' : 'no validation data, judged on training loss: ';
  if (curve.epochs.length === 0 && !curve.nonFinite) {
    return { label: 'converged', findings: ['converged'], evidence, summary: 'the curve has no epochs: nothing to judge' };
  }
  if (fired.length === 0) {
    return { label: 'converged', findings: ['converged'], evidence, summary: prefix + convergedSummary(curve, checks) };
  }
  const sentences = fired.map((c, i) => (i === 0 ? c.check.summary : `also ${c.label}: ${c.check.summary}`));
  return {
    label: fired[0].label,
    findings: fired.map((c) => c.label),
    evidence,
    summary: prefix + sentences.join('; '),
  };
}

function convergedSummary(curve: Readonly<TrainingCurve>, checks: Array<{ label: DiagnosisLabel; check: LabelCheck }>): string {
  const watched = watchedLoss(curve);
  const best = minimumPoint(watched.points);
  const last = watched.points[watched.points.length - 1];
  const parts = [
    best && last
      ? `${watched.name} ${formatNumber(last.value)} at epoch ${last.epoch} (best ${formatNumber(best.value)} at epoch ${best.epoch})`
      : `no finite ${watched.name}`,
  ];
  for (const { label, check } of checks) if (label === 'underfitting' || label === 'overfitting') parts.push(check.summary);
  return `converged: ${parts.join('; ')}`;
}
