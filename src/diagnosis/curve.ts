/** Map the trainer's history onto the epoch-level TrainingCurve that diagnosis reads. */
import type { StopReason, TrainingCurve, TrainingHistory } from '../types.ts';
import { mean } from '../util/stats.ts';

type CurveEpoch = TrainingCurve['epochs'][number];

/**
 * One curve epoch per history epoch. An epoch the trainer did not finish (it stopped on a
 * non-finite value mid-epoch) is aggregated from its iterations: mean loss and accuracy,
 * last learn rate, last validation of that epoch. `nonFinite` comes from the stop reason.
 */
export function curveFromHistory(history: Readonly<TrainingHistory>, stopReason: Readonly<StopReason>): TrainingCurve {
  const epochs: CurveEpoch[] = history.epochs.map((e) => ({
    epoch: e.epoch,
    loss: e.loss,
    accuracy: e.accuracy,
    valLoss: e.valLoss,
    valAccuracy: e.valAccuracy,
    learnRate: e.learnRate,
  }));
  const recorded = new Set(epochs.map((e) => e.epoch));
  const partial = new Map<number, { losses: number[]; accuracies: number[]; learnRate: number }>();
  for (const it of history.iterations) {
    if (recorded.has(it.epoch)) continue;
    const entry = partial.get(it.epoch) ?? { losses: [], accuracies: [], learnRate: it.learnRate };
    entry.losses.push(it.loss);
    entry.accuracies.push(it.accuracy);
    entry.learnRate = it.learnRate;
    partial.set(it.epoch, entry);
  }
  for (const [epoch, entry] of partial) {
    const validation = [...history.validations].reverse().find((v) => v.epoch === epoch) ?? null;
    epochs.push({
      epoch,
      loss: mean(entry.losses),
      accuracy: mean(entry.accuracies),
      valLoss: validation?.loss ?? null,
      valAccuracy: validation?.accuracy ?? null,
      learnRate: entry.learnRate,
    });
  }
  epochs.sort((a, b) => a.epoch - b.epoch);
  const nonFinite =
    stopReason.kind === 'nonFinite' ? { iteration: stopReason.iteration, epoch: stopReason.epoch, what: stopReason.what } : null;
  return { epochs, nonFinite };
}
