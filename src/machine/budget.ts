/**
 * Where the time goes: how much the search may still spend, which finalists are worth a
 * higher-fidelity confirmation, the full-data rung's runs, and the time primitives the final run's
 * plan uses (final-run.ts: how long the final run is). PURE: seconds, images and measured
 * throughputs in, plans with their reasons out. The machine calls these through the study's
 * adapters (the clock is theirs); the tests call them with made-up numbers.
 *
 * Units: training length is planned in images seen (iterations × batch), never in epochs of a
 * subset. Evidence from the search (the images a search run needed to reach its smoothed
 * validation-loss minimum, or all it trained when it was still improving) is translated to the
 * full training split as the same number of passes over the data: × (full / subset). More data
 * postpones the minimum; a run 6× the size needs at least as many images as the subset's run and
 * at most about as many passes, and with the decaying schedule of the final run the upper bound is
 * the one that keeps a final run from ending still improving for lack of time.
 */
import { counted, formatNumber } from '../util/format.ts';
import type { TrainingOptions } from '../types.ts';

/** The final run keeps at least this share of a time budget, whatever the search would like. */
export const FINAL_SHARE_FLOOR = 0.3;
/** Each finalist's confirmation run gets this share of the time left when the search ends. */
export const CONFIRM_SHARE = 0.15;
/** A cheaper finalist is worth confirming only when it trains at least this many times faster. */
export const CONFIRM_MIN_SPEEDUP = 2;
/** A confirmation run this many epochs long or longer anneals (`confirmOptions`). */
export const CONFIRM_ANNEAL_MIN_EPOCHS = 3;
/** Plans fill this share of the time left (the rest absorbs throughput noise). */
export const TIME_SAFETY = 0.97;
/**
 * A final run whose search evidence says it converged (not still improving) is no longer than this
 * many times the passes that evidence asks for (and at least USEFUL_MIN_EPOCHS): beyond that, a
 * network annealed over its run overfits and the time buys nothing. Measured on this machine
 * (full split, annealed at thirds; passes asked in brackets): the default network 45 epochs 90.7%
 * validation accuracy (5) against 124 epochs 89.8% and 128 epochs 89.5% (5 and 3); the 20→40
 * network 33 and 41 epochs 91.4% and 91.6% (5 and 9) against 156 epochs 90.8% (9); the
 * single-layer 40-filter network 69 epochs 90.7% (4). With the cap, the 10-minute no-search
 * studies of seeds 0 and 2 trained 30 epochs: 90.13% and 90.54% test (89.77% and 89.87% over
 * 124–127). The study then ends early, the rest of the budget unspent: more time is worth
 * something only to a larger network.
 */
export const USEFUL_PASSES_FACTOR = 6;
export const USEFUL_MIN_EPOCHS = 10;

/**
 * Epochs a final run of a converged network is worth: USEFUL_PASSES_FACTOR × the passes its
 * evidence asks for, at least USEFUL_MIN_EPOCHS, and at least twice the epochs of a confirmation
 * run it continues (it restarts at the standing rate).
 */
export function usefulEpochs(imagesNeeded: number, sizes: Pick<DataSizes, 'fullTrain'>, epochsDone = 0): number {
  return Math.max(USEFUL_MIN_EPOCHS, Math.ceil((USEFUL_PASSES_FACTOR * imagesNeeded) / sizes.fullTrain - 1e-9), 2 * epochsDone);
}
/**
 * The long run of the notes: a final run that trains this many new epochs or more (2.5 times the
 * rung's RUNG_MAX_EPOCHS) of a full-data rung's winner that does not augment yet trains on augmented
 * batches — "change the training data", the remedy for a long run's overfitting that an 8-epoch
 * rung run cannot show (it lost 3 of 3 rung verdicts there) — and the full-data rung leaves the
 * final run the time for this many augmented epochs (`finalReserveSeconds`). Measured (AMD EPYC,
 * wasm, the 40→80 network a 30-minute study finalises, seed 0's split, full validation hold-out):
 * 18 epochs augmented 92.32% validation accuracy, the study's own 17.7 epochs without 92.22% (at
 * 18 epochs augmentation already costs nothing); 40 epochs augmented 93.02%. Without it a long
 * final run overfits: seed 2's 47 epochs of its 20→40 winner reached 91.66%, under that network's
 * 92.05% after the rung's 8. The final-weights rule still compares the result with the search
 * weights.
 */
export const LONG_FINAL_EPOCHS = 20;
/** Augmented batches train this many times slower (measured: 34 against 30 s an epoch of the 40→80 network). */
export const AUGMENT_SLOWDOWN = 1.15;

/** The speed of a configuration trained on augmented batches. */
export function augmentedSpeed(speed: Speed): Speed {
  return { ...speed, imagesPerSecond: speed.imagesPerSecond / AUGMENT_SLOWDOWN };
}

/** Seconds for writing the model and the report at the end. */
export const FIXED_OVERHEAD_SECONDS = 5;

/** Measured speed of a configuration: training and evaluation images per second. */
export interface Speed {
  imagesPerSecond: number;
  evalImagesPerSecond: number;
}

/** The data sizes a plan needs. */
export interface DataSizes {
  searchTrain: number;
  fullTrain: number;
  fullValidation: number;
  test: number;
}

/** Images the final run should see, from a search run that needed `imagesToMinimum` on the subset. */
export function imagesNeeded(imagesToMinimum: number, sizes: Pick<DataSizes, 'searchTrain' | 'fullTrain'>): number {
  return imagesToMinimum * Math.max(1, sizes.fullTrain / Math.max(1, sizes.searchTrain));
}

/** Seconds of one full-data epoch with its validation pass. */
export function fullEpochSeconds(speed: Speed, sizes: Pick<DataSizes, 'fullTrain' | 'fullValidation'>): number {
  return sizes.fullTrain / speed.imagesPerSecond + sizes.fullValidation / speed.evalImagesPerSecond;
}

/** Seconds after the final run: choosing its weights, the test evaluation, saving. */
export function closingSeconds(speed: Speed, sizes: Pick<DataSizes, 'fullValidation' | 'test'>): number {
  return (2 * sizes.fullValidation + sizes.test) / speed.evalImagesPerSecond + FIXED_OVERHEAD_SECONDS;
}

/**
 * Seconds the final run (and what follows it) needs, reserved from the search: the images the
 * evidence asks for at the standing configuration's speed, at least FINAL_SHARE_FLOOR of the
 * budget, and with `longFinal` (a full-data rung's standing configuration) LONG_FINAL_EPOCHS
 * augmented epochs.
 */
export function finalReserveSeconds(budgetSeconds: number, speed: Speed, imagesToMinimum: number, sizes: DataSizes, options: { longFinal?: boolean } = {}): number {
  // At the full-data rung (a standing configuration that does not augment yet): the long run's
  // LONG_FINAL_EPOCHS augmented epochs too.
  const long = options.longFinal ? finalSecondsFor(LONG_FINAL_EPOCHS * sizes.fullTrain, augmentedSpeed(speed), sizes) : 0;
  return Math.max(FINAL_SHARE_FLOOR * budgetSeconds, finalSecondsFor(imagesNeeded(imagesToMinimum, sizes), speed, sizes), long);
}

/**
 * Seconds a final run of `images` images takes with its validation passes and the closing
 * evaluations, within the TIME_SAFETY share of the time: what the reserve keeps and what the
 * finalists' affordability is checked against (one formula for both).
 */
export function finalSecondsFor(images: number, speed: Speed, sizes: DataSizes): number {
  const epochs = Math.max(1, Math.ceil(images / sizes.fullTrain));
  return (images / speed.imagesPerSecond + (epochs * sizes.fullValidation) / speed.evalImagesPerSecond + closingSeconds(speed, sizes)) / TIME_SAFETY;
}

/** Seconds the search may still spend (Infinity without a time budget). */
export function searchSecondsLeft(budgetSeconds: number | null, secondsUsed: number, reserveSeconds: number): number {
  if (budgetSeconds === null) return Infinity;
  return budgetSeconds - secondsUsed - reserveSeconds;
}

/** A finalist: a configuration the search found, with its measured speed and validation loss. */
export interface Finalist extends Speed {
  runId: number;
  /** Mean loss of its output network on the fixed validation set. */
  validationLoss: number;
  /** Images of the full split its search evidence asks the final run to train (larger finalists need it). */
  imagesNeeded?: number;
  /**
   * A costlier finalist (slower per image) the subset did not reject but did not tie with the
   * incumbent nominally ahead either (a tie with an earlier incumbent, or behind): confirmed only when the incumbent, a
   * converged network, would leave most of the time left unspent (`confirmPlan`).
   */
  onlyWhenTimeIsIdle?: boolean;
}

export interface ConfirmPlan {
  /** The finalists to train on the full split for equal time: incumbent first, then the one it is confirmed against. */
  finalists: Array<{ runId: number; epochs: number }>;
  seconds: number;
  reason: string;
}

/**
 * Successive halving's second rung, cost-aware. Two kinds of finalist are worth a confirmation on
 * the full training split against the incumbent, both trained for the same time (CONFIRM_SHARE of
 * the time left, in whole epochs of the slower), the better of them at equal cost going on to the
 * final run:
 *
 * - a larger one (`larger`: more parameters, tied with the incumbent on the subset, nominally
 *   ahead) whose final run the time left can pay for — the images its evidence asks for at its own
 *   speed after the incumbent's confirmation. On an 8,192-image subset over a few epochs, capacity
 *   is a tie at best and a tie keeps the cheaper; the full split is where capacity pays, and a cost
 *   that can be paid is no reason to refuse it. Measured: in the 30-minute default study the
 *   widened network, a tie on the subset, won its confirmation by 6.3 SE and scored 91.76% test
 *   (90.68% when the tie kept the cheaper); at 10 minutes (about a minute each) the cheaper wins.
 *   The best such by validation loss; it comes first, as the budget is there to use. Also, when
 *   the incumbent is a converged network (`incumbentConverged`) whose useful final run
 *   (`usefulEpochs`) would leave over half the time left unspent, a costlier one (slower per image)
 *   the subset did not reject (`onlyWhenTimeIsIdle`: a tie with an earlier incumbent, or
 *   nominally behind): the time the incumbent cannot use is worth something only to a network
 *   that costs more. Measured
 *   (10-minute benchmark, seed 2): the deeper network, nominally behind on the subset, beat the
 *   widened single-layer incumbent by 6.7 SE in its 78-second confirmation; 91.45% test, 90.74%
 *   before.
 * - else a cheaper one, at least CONFIRM_MIN_SPEEDUP times faster (the best such by validation
 *   loss): the capacity the search kept must pay for itself at equal cost. When the incumbent
 *   cannot train even one full epoch in its share, there is no confirmation: it is finalised if
 *   the time left affords the images its search evidence asks for (`incumbentImagesNeeded`), else
 *   the cheaper one is (`finalists` holds that one alone).
 *
 * Null when there is nothing to confirm.
 */
export function confirmPlan(
  incumbent: Finalist,
  others: readonly Finalist[],
  secondsLeft: number,
  sizes: DataSizes,
  incumbentImagesNeeded: number,
  larger: readonly Finalist[] = [],
  incumbentConverged = false,
): ConfirmPlan | null {
  if (!Number.isFinite(secondsLeft)) return null;
  const share = CONFIRM_SHARE * secondsLeft;
  const epochsIn = (f: Finalist) => Math.floor(share / fullEpochSeconds(f, sizes));
  // Equal time for the pair: whole epochs of the slower in the share; the faster trains what fits.
  const pairSeconds = (other: Finalist) => {
    const slower = fullEpochSeconds(incumbent, sizes) >= fullEpochSeconds(other, sizes) ? incumbent : other;
    return Math.max(1, epochsIn(slower)) * fullEpochSeconds(slower, sizes);
  };
  const confirmAgainst = (other: Finalist, why: string): ConfirmPlan => {
    const seconds = pairSeconds(other);
    const [a, b] = [incumbent, other].map((f) => Math.max(1, Math.floor(seconds / fullEpochSeconds(f, sizes))));
    return {
      finalists: [
        { runId: incumbent.runId, epochs: a },
        { runId: other.runId, epochs: b },
      ],
      seconds,
      reason: `${why}: both train on all ${sizes.fullTrain} images for about ${formatNumber(seconds)} s (${confirmLengths(a, b)}), and the better at equal cost goes on to the final run`,
    };
  };
  // The incumbent, converged, is worth a final run (usefulEpochs) of under half the time left.
  const usefulSeconds = finalSecondsFor(usefulEpochs(incumbentImagesNeeded, sizes) * sizes.fullTrain, incumbent, sizes);
  const idle = incumbentConverged && usefulSeconds < secondsLeft / 2;
  const bigger = larger
    .filter((f) => f.runId !== incumbent.runId && Number.isFinite(f.validationLoss) && f.imagesNeeded !== undefined && epochsIn(f) >= 1)
    .filter((f) => !f.onlyWhenTimeIsIdle || idle)
    .filter((f) => secondsLeft - pairSeconds(f) >= finalSecondsFor(f.imagesNeeded!, f, sizes))
    .sort((a, b) => a.validationLoss - b.validationLoss)[0];
  if (bigger) {
    const pays = `the ${formatNumber(secondsLeft)} s left pay for its final run (${formatNumber(bigger.imagesNeeded!)} images at ${formatNumber(bigger.imagesPerSecond)} images/s, ${formatNumber(incumbent.imagesPerSecond / bigger.imagesPerSecond)}× slower)`;
    return confirmAgainst(
      bigger,
      bigger.onlyWhenTimeIsIdle
        ? `run ${bigger.runId}'s configuration costs more per image than run ${incumbent.runId}'s and the search's subset did not reject it, ` +
            `and run ${incumbent.runId}'s network, converged, is worth a final run of about ${formatNumber(usefulSeconds)} of the ${formatNumber(secondsLeft)} s left: ` +
            `the time it cannot use goes to the costlier one; ${pays}`
        : `run ${bigger.runId}'s configuration is larger than run ${incumbent.runId}'s and tied with it on the search's subset, and ${pays}`,
    );
  }
  const cheaper = others
    .filter((f) => f.runId !== incumbent.runId && f.imagesPerSecond >= CONFIRM_MIN_SPEEDUP * incumbent.imagesPerSecond && Number.isFinite(f.validationLoss))
    .sort((a, b) => a.validationLoss - b.validationLoss)[0];
  if (!cheaper) return null;
  const speedup = `${formatNumber(cheaper.imagesPerSecond / incumbent.imagesPerSecond)}×`;
  if (epochsIn(incumbent) < 1) {
    const affordable = ((TIME_SAFETY * secondsLeft - closingSeconds(incumbent, sizes)) / fullEpochSeconds(incumbent, sizes)) * sizes.fullTrain;
    const perEpoch = `run ${incumbent.runId}'s configuration needs ${formatNumber(fullEpochSeconds(incumbent, sizes))} s per full epoch, more than a ${formatNumber(share)} s confirmation share`;
    if (secondsLeft >= finalSecondsFor(incumbentImagesNeeded, incumbent, sizes)) {
      return {
        finalists: [{ runId: incumbent.runId, epochs: 0 }],
        seconds: 0,
        reason: `${perEpoch}, but the ${formatNumber(secondsLeft)} s left afford the ${formatNumber(incumbentImagesNeeded)} images its evidence asks for: it is finalised without a confirmation`,
      };
    }
    return {
      finalists: [{ runId: cheaper.runId, epochs: 0 }],
      seconds: 0,
      reason:
        `${perEpoch}, and the ${formatNumber(secondsLeft)} s left afford only ${formatNumber(Math.max(0, affordable))} of the ${formatNumber(incumbentImagesNeeded)} images its evidence asks for: ` +
        `run ${cheaper.runId}'s configuration (${speedup} faster) is finalised instead`,
    };
  }
  return confirmAgainst(cheaper, `run ${cheaper.runId}'s configuration trains ${speedup} faster than run ${incumbent.runId}'s`);
}

/**
 * The full-data rung's runs train at least this many epochs (fewer: the rung is not worth
 * climbing) and at most this many: with the drop at two thirds, 6 epochs at the starting rate and
 * 2 after it — enough to rank candidates (on the first rung runs the validation accuracy stood
 * still within 0.3 points from the epoch after the drop to the 12th), and cheap enough for a
 * remedy or two and a capacity change in the search time a 30-minute study has left (a 40→80
 * network took 7¾ minutes for 12 epochs).
 */
export const RUNG_MIN_EPOCHS = 5;
export const RUNG_MAX_EPOCHS = 8;
/**
 * The rung's epochs are set so that one run of the standing configuration takes at most this share
 * of the search time left when it starts: its first run, a remedy or two and a capacity change or
 * two fit (a larger network costs more; the machine prices each candidate and refuses what the
 * search time cannot pay for).
 */
export const RUNG_RUN_SHARE = 1 / 6;

export interface RungPlan {
  epochs: number;
  /** Seconds one run of the standing configuration is expected to take. */
  seconds: number;
  reason: string;
}

/**
 * The full-data rung, or null with why not: every run of the rung trains the same epochs on all
 * the training images (so their paired verdicts compare like with like), as many as let one run of
 * the standing configuration take RUNG_RUN_SHARE of the search time left, between RUNG_MIN_EPOCHS
 * and RUNG_MAX_EPOCHS, annealed like a confirmation run (`rungOptions`).
 */
export function planRung(searchSecondsLeft: number | null, speed: Speed, sizes: DataSizes): RungPlan | { epochs: null; reason: string } {
  if (searchSecondsLeft === null || !Number.isFinite(searchSecondsLeft)) return { epochs: null, reason: 'without a time budget the study does not climb to the full-data rung' };
  const epochSeconds = fullEpochSeconds(speed, sizes);
  const affordable = Math.floor((RUNG_RUN_SHARE * searchSecondsLeft) / epochSeconds);
  const at = `${formatNumber(epochSeconds)} s per epoch of all ${sizes.fullTrain} images (with its evaluation)`;
  if (affordable < RUNG_MIN_EPOCHS) {
    return {
      epochs: null,
      reason: `the ${formatNumber(Math.max(0, searchSecondsLeft))} s of search time left afford ${counted(affordable, 'epoch')} a run at ${at}, under the ${RUNG_MIN_EPOCHS} a full-data rung needs`,
    };
  }
  const epochs = Math.min(RUNG_MAX_EPOCHS, affordable);
  return {
    epochs,
    seconds: epochs * epochSeconds,
    reason: `${epochs} epochs of all ${sizes.fullTrain} images a run, annealed ×0.1 at two thirds (about ${formatNumber(epochs * epochSeconds)} s for the standing configuration at ${at}; ${formatNumber(searchSecondsLeft)} s of search time left)`,
  };
}

/**
 * The options every run of the full-data rung trains with: the rung's epochs, ×0.1 once at two
 * thirds (like a confirmation run), the last iteration's network. Measured on the first rung runs
 * (20→40 and 40→80 networks, 12 epochs, ×0.1 at thirds): the network learns at the starting rate,
 * jumps when it drops (90.8% → 91.8% validation accuracy) and then stands still — the last third at
 * ×0.01 added nothing (91.8%, 91.7%, 91.5%, 91.5%), while the first third was only 4 epochs long.
 */
export function rungOptions(epochs: number): Partial<TrainingOptions> {
  return { maxEpochs: epochs, learnRateSchedule: 'piecewise', learnRateDropFactor: 0.1, learnRateDropPeriod: Math.max(1, Math.ceil((2 * epochs) / 3)), outputNetwork: 'last-iteration' };
}

/** "12 vs 34 epochs, each annealed": the two confirmation runs' lengths and schedules (`confirmOptions`). */
function confirmLengths(a: number, b: number): string {
  const annealed = (e: number) => e >= CONFIRM_ANNEAL_MIN_EPOCHS;
  const how = annealed(a) && annealed(b) ? 'each annealed' : !annealed(a) && !annealed(b) ? 'each at a constant rate' : `${annealed(a) ? 'the first' : 'the second'} annealed`;
  return `${a} vs ${b} epochs, ${how}`;
}

/**
 * A confirmation run's schedule: a miniature of the final run it may become, so that finalists
 * are compared as they will be trained — ×0.1 at two thirds of its epochs (three or more), its
 * output the last iteration's. At a constant rate the comparison is between two noisy points of
 * unconverged runs, and the final run that continues the winner anneals anyway.
 */
export function confirmOptions(epochs: number, itersPerEpoch: number): Partial<TrainingOptions> {
  const options: Partial<TrainingOptions> = { maxEpochs: epochs + 1, validationFrequency: itersPerEpoch, learnRateSchedule: 'none' };
  if (epochs >= CONFIRM_ANNEAL_MIN_EPOCHS) Object.assign(options, { learnRateSchedule: 'piecewise', learnRateDropFactor: 0.1, learnRateDropPeriod: Math.ceil((2 * epochs) / 3), outputNetwork: 'last-iteration' });
  return options;
}
