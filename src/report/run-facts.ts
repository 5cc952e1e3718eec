/**
 * The numbers of one run, named, from its one validation series (validated once per epoch) and
 * its stored evaluation and judgement. PURE. The trend fit, the smoothed minimum and the gap are
 * computed by the diagnosis functions themselves (src/diagnosis/fit.ts), so the report quotes the
 * same numbers the diagnosis decided on — for older studies too, whose stored evidence used other
 * keys.
 */
import { accuracyGapAt, curveFromHistory, DEFAULT_THRESHOLDS, finitePoints, overfitting, tCritical, underfitting } from '../diagnosis/index.ts';
import { FULL_RUNG_GAP } from '../machine/rails.ts';
import type { TrainingCurve } from '../types.ts';
import type { RunRecord } from '../store/records.ts';

export interface EpochValue {
  epoch: number;
  loss: number;
  /** Validation accuracy at that epoch (0..1), when recorded. */
  accuracy: number | null;
}

export interface RunFacts {
  curve: TrainingCurve;
  /** First and last epoch of the history (a continued run may start after 1). */
  firstEpoch: number | null;
  lastEpoch: number | null;
  /** The lowest single validation loss, and the last one. */
  lowest: EpochValue | null;
  last: EpochValue | null;
  /** The minimum of the 3-epoch smoothed validation loss: where a trim cuts. */
  smoothedMinimum: { epoch: number; loss: number } | null;
  /** The epoch whose weights are the run's output network (outputNetwork), and its validation numbers. */
  output: EpochValue | null;
  outputRule: 'best-validation-loss' | 'last-iteration';
  /** The least-squares fit of the validation loss over the last half of the run (≥ 4 epochs). */
  trend: { from: number; to: number; slope: number; se: number | null; t: number | null; tCritical: number } | null;
  /** Fewer than 3 epochs: no trend can be fitted. */
  tooShort: boolean;
  /** The fit after the smoothed minimum: how much the loss rose, and whether beyond its noise. */
  rise: { epochs: number; fraction: number | null; t: number | null; beyondNoise: boolean } | null;
  /** Training − validation accuracy at the output epoch (or the last with both). */
  gap: { epoch: number; train: number; validation: number; gap: number; threshold: number } | null;
  /** A non-finite loss or gradient. */
  nonFinite: { iteration: number; epoch: number; what: string } | null;
  /** Validation images of the per-epoch series. */
  validationImages: number | null;
}

const finite = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);

/** The named numbers of a run. Never throws on missing or non-finite values. */
export function runFacts(run: RunRecord): RunFacts {
  const history = run.result?.history ?? { iterations: [], validations: [], epochs: [] };
  const stop = run.result?.stopReason ?? { kind: 'completed' as const };
  let curve: TrainingCurve;
  try {
    curve = curveFromHistory(history, stop);
  } catch {
    curve = { epochs: [], nonFinite: null };
  }
  const epochs = curve.epochs;
  const valPoints = finitePoints(curve, 'valLoss');
  const accuracyAt = (epoch: number) => {
    const e = epochs.find((x) => x.epoch === epoch);
    return e && finite(e.valAccuracy) ? e.valAccuracy : null;
  };
  const at = (p: { epoch: number; value: number } | undefined | null): EpochValue | null => (p ? { epoch: p.epoch, loss: p.value, accuracy: accuracyAt(p.epoch) } : null);
  const lowest = at(valPoints.reduce<(typeof valPoints)[number] | null>((b, p) => (b === null || p.value < b.value ? p : b), null));
  const last = at(valPoints[valPoints.length - 1]);
  const outputRule = run.options?.outputNetwork === 'last-iteration' ? 'last-iteration' : 'best-validation-loss';
  const output = outputRule === 'best-validation-loss' ? lowest : last;

  const under = safe(() => underfitting(curve, DEFAULT_THRESHOLDS).evidence);
  const over = safe(() => overfitting(curve, DEFAULT_THRESHOLDS).evidence);
  const trend =
    under && finite(under.slope) && under.trendFromEpoch !== null && under.trendToEpoch !== null
      ? {
          from: under.trendFromEpoch,
          to: under.trendToEpoch,
          slope: under.slope,
          se: finite(under.slopeSE) ? under.slopeSE : null,
          t: finite(under.slopeT) ? under.slopeT : null,
          tCritical: finite(under.tCritical) ? under.tCritical : tCritical(under.trendToEpoch - under.trendFromEpoch - 1),
        }
      : null;
  const smoothedMinimum = over && finite(over.bestEpoch) && finite(over.bestValLoss) ? { epoch: over.bestEpoch, loss: over.bestValLoss } : null;
  const rise =
    over && finite(over.epochsAfterMinimum) && over.epochsAfterMinimum > 0
      ? { epochs: over.epochsAfterMinimum, fraction: finite(over.valLossRise) ? over.valLossRise : null, t: finite(over.riseT) ? over.riseT : null, beyondNoise: over.risingAfterMinimum === true }
      : null;
  const g = safe(() => accuracyGapAt(curve, output?.epoch));
  const stopReason = run.result?.stopReason;
  return {
    curve,
    firstEpoch: epochs.length ? epochs[0].epoch : null,
    lastEpoch: epochs.length ? epochs[epochs.length - 1].epoch : null,
    lowest,
    last,
    smoothedMinimum,
    output,
    outputRule,
    trend,
    tooShort: under?.tooShort === true,
    rise,
    // The gap the rails read: the notes' 10 points on the subset, FULL_RUNG_GAP at the full-data rung.
    gap: g ? { ...g, threshold: run.fidelity?.kind === 'full' && run.kind !== 'final' && run.kind !== 'confirm' ? FULL_RUNG_GAP : DEFAULT_THRESHOLDS.gapThreshold } : null,
    nonFinite: stopReason?.kind === 'nonFinite' ? { iteration: stopReason.iteration, epoch: stopReason.epoch, what: stopReason.what } : null,
    validationImages: finite(run.fidelity?.validationImages) ? run.fidelity.validationImages : null,
  };
}

function safe<T>(f: () => T): T | null {
  try {
    return f();
  } catch {
    return null;
  }
}
