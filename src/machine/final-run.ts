/**
 * The final run's plan: how many full-data epochs the time left affords (or a converged network
 * is worth), its learning-rate schedule, and the long run's augmentation. PURE: seconds, images
 * and measured throughputs in, a plan with its reason out (the time primitives are budget.ts's).
 */
import { formatNumber } from '../util/format.ts';
import { iterationsPerEpoch } from '../util/batching.ts';
import { augmentationWords } from '../config/options.ts';
import type { TrainingOptions } from '../types.ts';
import {
  AUGMENT_SLOWDOWN,
  LONG_FINAL_EPOCHS,
  RUNG_MAX_EPOCHS,
  TIME_SAFETY,
  USEFUL_PASSES_FACTOR,
  augmentedSpeed,
  closingSeconds,
  fullEpochSeconds,
  imagesNeeded,
  usefulEpochs,
  type DataSizes,
  type Speed,
} from './budget.ts';

/**
 * A final run with a deadline may train this many times the epochs its plan expects: the
 * deadline ends it, and a run faster than the speed it was planned at (a full-data epoch
 * amortises more than a search run's) uses the time instead of finishing early. Measured: three
 * no-search studies at 10 minutes finished their planned epochs with 6–12% of the budget unused.
 */
export const EPOCH_HEADROOM = 1.25;
/**
 * The long run, whose drop is on its own clock, may train this many times its planned epochs: its
 * schedule does not depend on them, so a faster run than planned only trains more epochs before its
 * deadline. Measured (AMD EPYC, 30-minute studies, e531e0c): seed 2's long run trained 1.26× faster
 * than planned and stopped at EPOCH_HEADROOM's MaxEpochs with 6% of the budget unspent.
 */
export const CLOCK_HEADROOM = 2;
/**
 * A final run that its deadline stops places its learning-rate drop as if it trained this share of
 * the epochs planned from the measured speed. Measured (AMD EPYC, 30-minute studies): final runs
 * trained at 0.86–1.05× the median speed of the rung run they retrain, and the one at 0.86× reached
 * epoch 18 of a run planned for 20.7 with its drop at 16 — two epochs at the low rate, where the
 * annealed runs gain for about five.
 */
export const FINAL_SPEED_MARGIN = 0.85;
/**
 * The long run (augmented, LONG_FINAL_EPOCHS or more) drops its rate ×0.1 once, after this share of
 * its time. Measured (AMD EPYC, seed 0's split, bench/recipe.ts): the 40→80 network augmented for
 * 40 epochs with its drop at epoch 30 reached 93.02% validation accuracy; annealed final runs
 * gain for about five epochs after a drop, so a quarter of a 20–40-epoch run is enough.
 */
export const LONG_RUN_DROP_AT = 0.75;

/** New full-data epochs (fractional) the time left affords at `speed`, after the closing evaluations: what a deadlined final run plans. */
function affordableEpochs(secondsLeft: number, speed: Speed, sizes: DataSizes): number {
  return finalRunSeconds(secondsLeft, speed, sizes) / fullEpochSeconds(speed, sizes);
}

function finalRunSeconds(secondsLeft: number, speed: Speed, sizes: DataSizes): number {
  return Math.max(fullEpochSeconds(speed, sizes) / 10, TIME_SAFETY * secondsLeft - closingSeconds(speed, sizes));
}

export interface FinalRunPlan {
  /**
   * Total epochs (counting those of a confirmation run it continues): with a deadline, up to
   * EPOCH_HEADROOM × the epochs the plan expects (the schedule is laid over the expected ones).
   */
  maxEpochs: number;
  /** Total epochs the plan expects at the speed it was planned at (what the schedule covers). */
  plannedEpochs: number;
  /** Options changes: the schedule, the validation frequency. */
  options: Partial<TrainingOptions>;
  /** Images the plan trains (new ones) and the images the evidence asks for. */
  images: number;
  imagesNeeded: number;
  /** Wall-clock seconds the run may take (its deadline; null without a time budget). */
  seconds: number | null;
  reason: string;
}

/**
 * The final run: as many full-data epochs as the time left affords (after the closing
 * evaluations), with a piecewise learning-rate drop when the evidence calls for one — the
 * search's validation loss flattened at a constant rate, or the final run is much longer than the
 * search's. A standing schedule is translated as a fraction of the run.
 */
export function planFinalRun(input: {
  secondsLeft: number | null;
  speed: Speed;
  sizes: DataSizes;
  standing: TrainingOptions;
  /** Epochs already trained by the run this one continues (a confirmation run, or the full-data rung's winner; 0: a fresh run). */
  epochsDone: number;
  /** Images the search's incumbent needed to its smoothed validation minimum, and whether it was still improving. */
  evidence: { imagesToMinimum: number; stillImproving: boolean; searchEpochs: number };
  /**
   * The augmentation (registry `augmentData`'s options) the run takes when it is the long run
   * (LONG_FINAL_EPOCHS or more, at the augmented speed): given for a full-data rung's winner that
   * does not augment yet, absent otherwise.
   */
  augmentation?: Partial<TrainingOptions> | null;
}): FinalRunPlan {
  const { sizes, standing, epochsDone, evidence } = input;
  const needed = imagesNeeded(evidence.imagesToMinimum, sizes);
  // The long run: LONG_FINAL_EPOCHS or more new epochs at the augmented speed, within a converged network's useful length.
  const long =
    input.augmentation != null &&
    input.secondsLeft !== null &&
    Math.min(affordableEpochs(input.secondsLeft, augmentedSpeed(input.speed), sizes), evidence.stillImproving ? Infinity : usefulEpochs(needed, sizes, epochsDone) - epochsDone) >= LONG_FINAL_EPOCHS;
  const speed = long ? augmentedSpeed(input.speed) : input.speed;
  const perEpoch = fullEpochSeconds(speed, sizes);
  const itersPerEpoch = iterationsPerEpoch(sizes.fullTrain, standing.miniBatchSize);
  let epochs: number; // new epochs, fractional when the deadline ends the last one
  let seconds: number | null = null;
  let timing: string;
  if (input.secondsLeft === null) {
    epochs = Math.max(1, Math.ceil(needed / sizes.fullTrain) - epochsDone);
    timing = `no time budget: the ${formatNumber(needed)} images the search's evidence asks for`;
  } else {
    seconds = finalRunSeconds(input.secondsLeft, speed, sizes);
    epochs = seconds / perEpoch;
    timing = `${formatNumber(input.secondsLeft)} s left at ${formatNumber(speed.imagesPerSecond)} images/s (${formatNumber(perEpoch)} s per epoch with validation); it stops at its deadline, mid-epoch if need be`;
  }
  // A converged network's useful length: the time beyond it is left unspent.
  const useful = usefulEpochs(needed, sizes, epochsDone);
  const affordable = epochsDone + epochs;
  const capped = seconds !== null && !evidence.stillImproving && affordable > useful;
  if (capped) epochs = Math.max(1, useful - epochsDone);
  // The epochs the plan expects (the schedule's length), and the bound the run trains to when it
  // is faster than planned (its deadline stops it; a capped run stops at its cap).
  const plannedEpochs = epochsDone + Math.max(1, Math.ceil(epochs - 1e-9));
  // The long run drops on its clock (below): more room, within a converged network's useful length.
  const clocked = long && seconds !== null && !capped;
  const headroom = epochsDone + Math.max(1, Math.ceil((clocked ? CLOCK_HEADROOM : EPOCH_HEADROOM) * epochs - 1e-9));
  const maxEpochs = seconds === null || capped ? plannedEpochs : clocked && !evidence.stillImproving ? Math.max(plannedEpochs, Math.min(headroom, Math.floor(useful))) : headroom;
  const images = epochs * sizes.fullTrain;
  const options: Partial<TrainingOptions> = { maxEpochs, validationFrequency: itersPerEpoch };
  const notes: string[] = capped
    ? [
        `${plannedEpochs} epochs of ${sizes.fullTrain} images, not the ${formatNumber(affordable)} the time left affords (${timing}): ` +
          `the search's evidence says this network converges, and ${USEFUL_PASSES_FACTOR}× the passes it asks for is as long as a run of it is worth ` +
          `(longer annealed runs overfit: measured, the default network 45 epochs 90.7% validation accuracy against 124 epochs 89.8%); ` +
          `the study ends early, the rest of the budget unspent`,
      ]
    : [`about ${formatNumber(epochsDone + epochs)} epochs of ${sizes.fullTrain} images (${timing}${maxEpochs > plannedEpochs ? `; MaxEpochs ${maxEpochs} leaves room should it train faster than planned` : ''})`];
  if ((epochsDone + epochs) * sizes.fullTrain < needed) {
    notes.push(`fewer than the ${formatNumber(needed)} images the search's evidence asks for: it may end still improving`);
  } else {
    notes.push(`the search's evidence asks for about ${formatNumber(needed)} images (${formatNumber(evidence.imagesToMinimum)} on the subset, as many passes over ${sizes.fullTrain})`);
  }
  if (long) {
    Object.assign(options, input.augmentation);
    notes.push(
      `augmented batches (${augmentationWords(input.augmentation!)}): a run of ${LONG_FINAL_EPOCHS} epochs or more, ${formatNumber(LONG_FINAL_EPOCHS / RUNG_MAX_EPOCHS)}× the rung's, overfits without ` +
        `("change the training data"; measured, the 40→80 network over 40 epochs 93.02% validation accuracy), at ${formatNumber(speed.imagesPerSecond)} images/s (${AUGMENT_SLOWDOWN}× slower)`,
    );
  }
  if (clocked) {
    // The long run anneals once, on its own clock, whatever the standing schedule: a drop placed
    // on planned epochs lands early or late when the run trains faster or slower than planned
    // (measured: a 30-minute study's long run planned at 1,200 images/s trained at about 1,600
    // and dropped at epoch 16 of 32). LearnRateDropPeriod keeps the planned epoch (what MATLAB
    // would do, and what the run does without a deadline).
    const dropEpoch = epochsDone + Math.max(1, Math.round(LONG_RUN_DROP_AT * (plannedEpochs - epochsDone)));
    Object.assign(options, {
      learnRateSchedule: 'piecewise',
      learnRateDropFactor: 0.1,
      learnRateDropPeriod: dropEpoch,
      learnRateDropAtTime: LONG_RUN_DROP_AT,
      outputNetwork: 'last-iteration',
    });
    notes.push(
      `one drop ×0.1 after ${formatNumber(LONG_RUN_DROP_AT * 100)}% of its time, on its own clock (about epoch ${dropEpoch} as planned): ` +
        `a long high-rate phase, then the annealed one (measured: the 40→80 network augmented, dropped at epoch 30 of 40, 93.02% validation accuracy); its output network is the last iteration's`,
    );
  } else if (standing.learnRateSchedule === 'piecewise') {
    const fraction = Math.min(1, standing.learnRateDropPeriod / Math.max(1, evidence.searchEpochs));
    // A run stopped by its deadline: the drop is placed on the epochs it trains should it be
    // FINAL_SPEED_MARGIN slower than planned, so that its low-rate phase is not cut short.
    const deadlined = seconds !== null && !capped;
    const expected = deadlined ? Math.max(1, Math.floor(FINAL_SPEED_MARGIN * (epochsDone + epochs))) : plannedEpochs;
    const period = Math.max(1, Math.round(fraction * expected));
    options.learnRateDropPeriod = period;
    notes.push(
      `the standing schedule drops the rate every ${formatNumber(fraction * 100)}% of the run: every ${period} epochs here` +
        (deadlined && expected < plannedEpochs ? ` (of the ${expected} epochs it trains should it run ${formatNumber((1 - FINAL_SPEED_MARGIN) * 100)}% slower than planned)` : ''),
    );
  } else {
    const flattened = !evidence.stillImproving;
    const longer = plannedEpochs * sizes.fullTrain >= 2 * needed;
    if (plannedEpochs >= 3 && (flattened || longer)) {
      // The rate anneals over the whole run: ×0.1 at a third and at two thirds (once, at two
      // thirds, for a short run), so every epoch trains at a rate that still moves the weights.
      // Dropping where the search's subset curve flattened (its passes to the minimum) froze long
      // final runs within their first dozen epochs: measured, the default network on the full
      // split reached 90.7% validation accuracy annealed over 45 epochs against 90.3% frozen
      // after 13 of a 124-epoch run. The output network is the last iteration's: at the end of
      // an annealed run the weights have converged, and the validation loss of a long run creeps
      // up (over-confidence) while its accuracy still rises. Not yet right for very long runs of
      // small networks: their first third at the high rate overfits (the same network annealed
      // over 122 epochs: 89.9%); dropping on the run's own validation evidence is the next step.
      const period = plannedEpochs >= 6 ? Math.ceil(plannedEpochs / 3) : Math.ceil((2 * plannedEpochs) / 3);
      Object.assign(options, { learnRateSchedule: 'piecewise', learnRateDropFactor: 0.1, learnRateDropPeriod: period, outputNetwork: 'last-iteration' });
      notes.push(
        `piecewise drop ×0.1 every ${period} epochs (${plannedEpochs >= 6 ? 'at a third and two thirds of the run' : 'at two thirds of the run'}: the rate anneals over the whole run, ` +
          (flattened ? 'because the search run flattened at a constant rate' : 'because the run is over twice as long as the evidence asks') +
          '); its output network is the last iteration\'s',
      );
    }
  }
  return { maxEpochs, plannedEpochs, options, images, imagesNeeded: needed, seconds, reason: notes.join('; ') };
}
