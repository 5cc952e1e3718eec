/**
 * Stored studies for the report tests, built as a study builds them: histories shaped like the
 * flowchart notes' curves, diagnoses by the real `diagnoseRun`, verdicts by the real paired
 * `judge` on made-up per-image validation results, the machine's decisions worded by the real
 * plans of src/machine/budget.ts. Deterministic: no random numbers, no clock.
 *
 * The finished study has them all: a baseline, a kept continuation (addEpochs), a trim without a
 * run, a refused decision, a kept capacity change, a close call with its replicate ending in a tie,
 * a reverted candidate, the budget stop, two confirmation runs, the final run continuing one of
 * them, and the final-weights choice.
 */
import { kindFromVerdict, startingStudyRecord } from '../../../src/store/schema.ts';
import type { Decision, Judgement, NetworkSpec, Stage, StopReason, TrainingHistory, TrainingOptions, Verdict } from '../../../src/types.ts';
import type { DecisionRecord, FinalEvaluation, MachineDecisionKind, PolicyDecisionRecord, InFlightRun, RunRecord, StudyRecord } from '../../../src/store/records.ts';
import { paramCount } from '../../../src/config/network.ts';
import { deepen, widen, changeFilterSize } from '../../../src/config/network-edits.ts';
import { curveFromHistory, diagnoseRun } from '../../../src/diagnosis/index.ts';
import type { PerImage } from '../../../src/diagnosis/paired.ts';
import { judge } from '../../../src/machine/verdict.ts';
import { confirmOptions, confirmPlan } from '../../../src/machine/budget.ts';
import { planFinalRun } from '../../../src/machine/final-run.ts';

export const CLASS_NAMES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];

export const NETWORK: NetworkSpec = {
  inputShape: [28, 28, 1],
  layers: [
    { type: 'conv', filters: 20, kernelSize: 3, stride: 1, padding: 'same' },
    { type: 'batchnorm' },
    { type: 'relu' },
    { type: 'maxpool', poolSize: 2, stride: 2 },
    { type: 'fc', units: 10 },
  ],
};

export const OPTIONS: TrainingOptions = {
  solver: 'sgdm',
  initialLearnRate: 0.01,
  momentum: 0.9,
  maxEpochs: 10,
  miniBatchSize: 128,
  shuffle: 'once',
  l2Regularization: 1e-4,
  gradientThreshold: Infinity,
  gradientThresholdMethod: 'l2norm',
  learnRateSchedule: 'none',
  learnRateDropFactor: 0.1,
  learnRateDropPeriod: 10,
  validationFrequency: 50,
  validationPatience: Infinity,
  outputNetwork: 'best-validation-loss',
  seed: 0,
};

const SEARCH_TRAIN = 4096;
const SEARCH_VALIDATION = 1000;
const FULL_TRAIN = 50_000;
const FULL_VALIDATION = 10_000;
/** Images of the fixed validation set the verdicts compare on (small, to keep the fixtures light). */
const VERDICT_IMAGES = 1000;

interface CurveSpec {
  epochs: number;
  itersPerEpoch: number;
  /** Epoch the history starts at (continued runs). */
  firstEpoch?: number;
  /** Training loss and accuracy at progress t in 0..1 over the run. */
  loss: (t: number) => number;
  acc: (t: number) => number;
  /** Validation loss and accuracy at epoch e (1-based, absolute). */
  valLoss: (e: number) => number;
  valAcc: (e: number) => number;
  learnRate: number | ((e: number) => number);
  /** Iteration (absolute) at which the loss becomes NaN; the run stops there. */
  nanAt?: number;
  batch: number;
  secondsPerEpoch?: number;
}

/** A deterministic history, validated once per epoch (at its end): smooth curves with a fixed wiggle. */
export function makeHistory(c: CurveSpec): TrainingHistory {
  const h: TrainingHistory = { iterations: [], validations: [], epochs: [] };
  const first = c.firstEpoch ?? 1;
  const total = c.epochs * c.itersPerEpoch;
  const rate = (e: number) => (typeof c.learnRate === 'number' ? c.learnRate : c.learnRate(e));
  for (let k = 0; k < total; k++) {
    const epoch = first + Math.floor(k / c.itersPerEpoch);
    const iteration = (first - 1) * c.itersPerEpoch + k + 1;
    const t = k / Math.max(1, total - 1);
    const wiggle = Math.sin(iteration * 1.7) * 0.04;
    const nan = c.nanAt !== undefined && iteration >= c.nanAt;
    h.iterations.push({
      iteration,
      epoch,
      loss: nan ? NaN : Math.max(0.01, c.loss(t) * (1 + wiggle)),
      accuracy: nan ? NaN : Math.min(1, Math.max(0, c.acc(t) + wiggle / 4)),
      learnRate: rate(epoch),
    });
    if (nan) return h;
    if ((k + 1) % c.itersPerEpoch === 0) {
      const epochIters = h.iterations.slice(-c.itersPerEpoch);
      const valLoss = c.valLoss(epoch);
      const valAccuracy = c.valAcc(epoch);
      const seconds = c.secondsPerEpoch ?? 1.5;
      h.validations.push({ iteration, epoch, loss: valLoss, accuracy: valAccuracy });
      h.epochs.push({
        epoch,
        learnRate: rate(epoch),
        loss: epochIters.reduce((a, r) => a + r.loss, 0) / epochIters.length,
        accuracy: epochIters.reduce((a, r) => a + r.accuracy, 0) / epochIters.length,
        valLoss,
        valAccuracy,
        seconds,
        imagesPerSecond: (c.itersPerEpoch * c.batch) / seconds,
      });
    }
  }
  return h;
}

const T0 = Date.parse('2025-11-27T22:00:00Z');
const at = (seconds: number) => new Date(T0 + seconds * 1000).toISOString();

// ───────────── per-image validation results (for the paired verdicts) ─────────────

const alternating = (i: number) => (i % 2 === 0 ? 1 : -1);
const S = 0.2;
const SE = S / Math.sqrt(VERDICT_IMAGES - 1);

/** The baseline's results: losses vary a lot between images (pairing removes that); right on 86%. */
function baselineImages(): PerImage {
  const losses = Array.from({ length: VERDICT_IMAGES }, (_, i) => 0.4 * (0.2 + 1.6 * (((i * 37) % 100) / 100)));
  const correct = Array.from({ length: VERDICT_IMAGES }, (_, i) => ((i * 37) % 100 < 86 ? 1 : 0));
  return { losses, correct };
}

/** Results `z` standard errors better in loss than `from` (negative: worse), with `gained` images newly right (negative: lost). */
function shifted(from: PerImage, z: number, gained: number, pattern = alternating): PerImage {
  const mu = -z * SE;
  const correct = Array.from(from.correct);
  let changed = 0;
  for (let i = 0; i < VERDICT_IMAGES && changed < Math.abs(gained); i++) {
    if (gained > 0 && correct[i] === 0) (correct[i] = 1), changed++;
    if (gained < 0 && correct[i] === 1 && i % 3 === 0) (correct[i] = 0), changed++;
  }
  return { losses: Array.from(from.losses, (l, i) => l + mu + S * pattern(i)), correct };
}

const mean = (xs: ArrayLike<number>) => Array.from(xs).reduce((a, b) => a + b, 0) / xs.length;

// ───────────── runs ─────────────

interface RunSpec {
  id: number;
  stage: Stage;
  options?: Partial<TrainingOptions>;
  network?: NetworkSpec;
  kind?: 'subset' | 'full';
  parentId: number | null;
  change: Decision | null;
  continuedFrom?: number | null;
  basedOn?: number | null;
  replicateOf?: number | null;
  history: TrainingHistory;
  stopReason?: StopReason;
  verdict: Verdict;
  start: number;
  seconds: number;
  imagesPerSecond: number;
  perImage?: PerImage | null;
}

/** A run record whose numbers are read off its history and diagnosed by the real diagnosis, as the study does. */
export function makeRun(s: RunSpec): RunRecord {
  const options = { ...OPTIONS, ...s.options };
  const h = s.history;
  const stop = s.stopReason ?? { kind: 'completed' };
  const full = s.kind === 'full';
  const finiteVals = h.validations.filter((v) => Number.isFinite(v.loss));
  const best = finiteVals.reduce<(typeof finiteVals)[number] | null>((b, v) => (b === null || v.loss < b.loss ? v : b), null);
  const bestEpoch = best ? h.epochs.find((e) => e.epoch === best.epoch) : undefined;
  const last = h.epochs.at(-1);
  const iterations = h.iterations.length;
  return {
    id: s.id,
    stage: s.stage,
    startedAt: at(s.start),
    finishedAt: at(s.start + s.seconds),
    network: s.network ?? NETWORK,
    options,
    fidelity: { trainImages: full ? FULL_TRAIN : SEARCH_TRAIN, validationImages: full ? FULL_VALIDATION : SEARCH_VALIDATION, kind: full ? 'full' : 'subset' },
    parentId: s.parentId,
    change: s.change,
    continuedFrom: s.continuedFrom ?? null,
    basedOn: s.basedOn ?? null,
    replicateOf: s.replicateOf ?? null,
    result: {
      history: h,
      backend: 'wasm',
      stopReason: stop,
      bestEpoch: best?.epoch ?? null,
      bestValLoss: best?.loss ?? null,
      paramCount: paramCount(s.network ?? NETWORK),
      checkpointDir: `runs/run-${s.id}`,
      epochsCompleted: h.epochs.length,
      iterationsCompleted: iterations,
      imagesTrained: iterations * options.miniBatchSize,
      seconds: s.seconds,
    },
    diagnosis: diagnoseRun(curveFromHistory(h, stop)),
    // The fixture's verdict says what the run was for, as stored runs before schema 3 did.
    kind: kindFromVerdict(s.verdict),
    verdict: s.verdict,
    throughput: { imagesPerSecond: s.imagesPerSecond, secondsPerEpoch: s.seconds / Math.max(1, h.epochs.length), evalImagesPerSecond: s.imagesPerSecond * 3 },
    evaluation: s.perImage ? { images: VERDICT_IMAGES, loss: mean(s.perImage.losses), accuracy: mean(s.perImage.correct), file: `runs/run-${s.id}/validation.bin` } : null,
    judgement: null,
    bestValAccuracy: finiteVals.length ? Math.max(...finiteVals.map((v) => v.accuracy)) : null,
    trainAccuracy: (bestEpoch ?? last)?.accuracy ?? null,
    valAccuracy: (bestEpoch ?? last)?.valAccuracy ?? null,
  };
}

/** The paired verdict of `candidate` (with its replicates) against `incumbent`, by the real judge. */
function judged(candidate: { run: RunRecord; perImage: PerImage; replicates?: Array<{ run: RunRecord; perImage: PerImage }> }, incumbent: { run: RunRecord; perImage: PerImage }): Judgement {
  const side = (r: RunRecord, perImage: PerImage[], replicateIds: number[] = []) => ({
    runId: r.id,
    replicateIds,
    perImage,
    imagesPerSecond: r.throughput!.imagesPerSecond,
    epochs: r.options.maxEpochs,
    params: paramCount(r.network),
  });
  const reps = candidate.replicates ?? [];
  return judge(side(candidate.run, [candidate.perImage, ...reps.map((x) => x.perImage)], reps.map((x) => x.run.id)), side(incumbent.run, [incumbent.perImage]), { replicated: reps.length > 0 });
}

/** The verdict a judgement leads to (as the study's adapters set it). */
const verdictOf = (j: Judgement): Verdict => (j.outcome === 'tie' ? 'tie' : j.kept ? 'kept' : 'reverted');

// ───────────── curves ─────────────

const ITERS = SEARCH_TRAIN / 128; // 32 iterations per search epoch

/** Validation loss falling to a floor with an epoch-to-epoch wiggle (one validation per epoch). */
const falling = (start: number, floor: number, rate: number, wiggle = 0.004) => (e: number) => floor + (start - floor) * Math.exp(-rate * e) + wiggle * Math.sin(e * 2.3);

function baselineHistory(): TrainingHistory {
  return makeHistory({
    epochs: 10, itersPerEpoch: ITERS, batch: 128, learnRate: 0.01,
    loss: (t) => 0.9 * Math.exp(-3 * t) + 0.3, acc: (t) => 0.7 + 0.2 * t,
    valLoss: falling(0.75, 0.33, 0.18), valAcc: (e) => 0.78 + 0.009 * e,
  });
}

/** Epochs 11–20 continuing the baseline: the minimum near epoch 14, then rising. */
function continuedHistory(): TrainingHistory {
  const base = baselineHistory();
  const more = makeHistory({
    epochs: 10, firstEpoch: 11, itersPerEpoch: ITERS, batch: 128, learnRate: 0.01,
    loss: (t) => 0.3 - 0.1 * t, acc: (t) => 0.9 + 0.05 * t,
    valLoss: (e) => 0.335 + 0.0016 * (e - 14) ** 2, valAcc: (e) => 0.875 + 0.002 * Math.min(e, 14) - 0.002 * Math.max(0, e - 14),
  });
  return { iterations: [...base.iterations, ...more.iterations], validations: [...base.validations, ...more.validations], epochs: [...base.epochs, ...more.epochs] };
}

const capacityHistory = (floor: number, wiggle: number, secondsPerEpoch: number) =>
  makeHistory({
    epochs: 14, itersPerEpoch: ITERS, batch: 128, learnRate: 0.01, secondsPerEpoch,
    loss: (t) => 0.8 * Math.exp(-3.5 * t) + 0.2, acc: (t) => 0.72 + 0.22 * t,
    valLoss: falling(0.7, floor, 0.35, wiggle), valAcc: (e) => 0.8 + 0.006 * Math.min(e, 12),
  });

// ───────────── decisions ─────────────

const decided = (afterRun: number, stage: Stage, decision: Decision, seconds: number, extra: Partial<PolicyDecisionRecord> = {}): DecisionRecord => ({
  afterRun,
  stage,
  decision,
  at: at(seconds),
  ...extra,
});
const machine = (afterRun: number, kind: MachineDecisionKind, reason: string, seconds: number): DecisionRecord => ({ afterRun, stage: 'finalise', by: 'machine', machine: kind, reason, at: at(seconds) });

const addEpochs: Decision = {
  action: 'addEpochs',
  params: { maxEpochs: 20 },
  reason: "underfitting: validation loss still falling: fit over epochs 6–10: 0.372 → 0.35 (−6%), slope −0.0055 ± 0.0011 per epoch, t -5 (beyond its noise: |t| ≥ 2.35); maxEpochs 10 → 20 (step 2: train enough; continues run 1's checkpoint)",
};
const trim: Decision = {
  action: 'trimEpochs',
  params: { maxEpochs: 14 },
  reason: 'validation loss lowest at epoch 14 (smoothed 0.336) and rising to 0.39 by epoch 20 (slope t 6.1); maxEpochs 20 → 14 (step 3: stop at the right time)',
};
const addL2: Decision = {
  action: 'addL2',
  params: { l2Regularization: 0.001 },
  reason: 'training accuracy 0.93 vs validation 0.88: regularise | with L2',
};
const deepen40: Decision = {
  action: 'deepen',
  params: { filters: 40 },
  reason: 'run 2 (overfitting; validation accuracy 87.00%, loss 0.35 on 1000 images); deepen: a block of 40 filters after the last convolution of 20 (step 5: capacity; "more filters than 20, not the same 20")',
};
const widen2: Decision = {
  action: 'widen',
  params: { factor: 2 },
  reason: 'run 3 (converged; validation accuracy 88.90%, loss 0.31 on 1000 images); widen ×2 (filters 20 → 40, 40 → 80) (step 5: capacity)',
};
const filter5: Decision = {
  action: 'changeFilterSize',
  params: { kernelSize: 5 },
  reason: 'run 4 did not hold up: tie (within the 2 SE margin); run 3 (converged; validation accuracy 88.90%, loss 0.31 on 1000 images); filter size 3×3 → 5×5 (step 5: capacity, last)',
};

const DEEP = deepen(NETWORK, { filters: 40 });
const WIDE = widen(DEEP, 2);
const FIVE = changeFilterSize(DEEP, 5);

function confusion(): number[][] {
  // 1000 test images per class; the diagonal holds the per-class accuracy, the rest spread on neighbours.
  const correct = [870, 978, 860, 905, 850, 975, 690, 960, 980, 955];
  return correct.map((c, i) => {
    const row = new Array(10).fill(0);
    row[i] = c;
    const rest = 1000 - c;
    row[(i + 1) % 10] += Math.ceil(rest / 2);
    row[(i + 9) % 10] += Math.floor(rest / 2);
    return row;
  });
}

function baseStudy(name: string): StudyRecord {
  return startingStudyRecord({
    config: {
      name,
      data: 'fashion',
      dataDir: null,
      validationSize: 10_000,
      searchSubset: SEARCH_TRAIN,
      searchValidationSubset: SEARCH_VALIDATION,
      finalFullData: true,
      seed: 0,
      policy: 'flowchart',
      budgetSeconds: 700,
      maxRuns: 16,
      backend: null,
      baseNetwork: NETWORK,
      baseOptions: OPTIONS,
    },
    createdAt: at(0),
    updatedAt: at(0),
    dataset: { name: 'fashion', trainCount: FULL_TRAIN, validationCount: FULL_VALIDATION, testCount: 10_000, classNames: CLASS_NAMES },
    backend: 'wasm',
    policy: { name: 'flowchart', source: 'policies/flowchart.ts' },
  });
}

/** The search part every study shares: runs 1–2 and the decisions between them. */
function searchStart() {
  const images1 = baselineImages();
  const run1 = makeRun({ id: 1, stage: 'baseline', parentId: null, change: null, history: baselineHistory(), verdict: 'baseline', start: 1, seconds: 12, imagesPerSecond: 6000, perImage: images1 });
  const images2 = shifted(images1, 4.1, 12);
  const run2 = makeRun({
    id: 2, stage: 'trainEnough', options: { maxEpochs: 20 }, parentId: 1, change: addEpochs, continuedFrom: 1,
    history: continuedHistory(), verdict: 'pending', start: 15, seconds: 11, imagesPerSecond: 6000, perImage: images2,
  });
  run2.judgement = judged({ run: run2, perImage: images2 }, { run: run1, perImage: images1 });
  run2.verdict = verdictOf(run2.judgement);
  return { run1, run2, images1, images2 };
}

/** A finished study with every kind of entry (see the file's comment). */
export function finishedStudy(): StudyRecord {
  const s = baseStudy('fashion-finished');
  const { run1, run2, images2 } = searchStart();
  const trimmed = { maxEpochs: 14 };
  // Run 3: deepen, kept beyond the margin.
  const images3 = shifted(images2, 6.3, 18);
  const run3 = makeRun({ id: 3, stage: 'capacity', options: trimmed, network: DEEP, parentId: 2, change: deepen40, history: capacityHistory(0.3, 0.003, 2.4), verdict: 'pending', start: 40, seconds: 34, imagesPerSecond: 2400, perImage: images3 });
  run3.judgement = judged({ run: run3, perImage: images3 }, { run: run2, perImage: images2 });
  run3.verdict = verdictOf(run3.judgement);
  // Run 4: widen, a close call (1.6 SE) — replicate run 5 with another seed — pooled: a tie, and the cheaper run 3 stands.
  const images4 = shifted(images3, 1.6, 3);
  const images5 = shifted(images3, 0.3, -1, (i) => (i % 4 < 2 ? 1 : -1));
  const run4 = makeRun({ id: 4, stage: 'capacity', options: trimmed, network: WIDE, parentId: 3, change: widen2, history: capacityHistory(0.295, 0.006, 6.5), verdict: 'pending', start: 80, seconds: 91, imagesPerSecond: 880, perImage: images4 });
  const run5 = makeRun({ id: 5, stage: 'capacity', options: { ...trimmed, seed: 1000 }, network: WIDE, parentId: 3, change: widen2, replicateOf: 4, history: capacityHistory(0.305, 0.006, 6.5), verdict: 'replicate', start: 175, seconds: 92, imagesPerSecond: 870, perImage: images5 });
  run4.judgement = judged({ run: run4, perImage: images4, replicates: [{ run: run5, perImage: images5 }] }, { run: run3, perImage: images3 });
  run4.verdict = verdictOf(run4.judgement);
  // Run 6: 5×5 filters, worse beyond the margin.
  const images6 = shifted(images3, -3.4, -9);
  const run6 = makeRun({ id: 6, stage: 'capacity', options: trimmed, network: FIVE, parentId: 3, change: filter5, history: capacityHistory(0.32, 0.003, 4.1), verdict: 'pending', start: 275, seconds: 58, imagesPerSecond: 1400, perImage: images6 });
  run6.judgement = judged({ run: run6, perImage: images6 }, { run: run3, perImage: images3 });
  run6.verdict = verdictOf(run6.judgement);

  // The machine: budget stop, finalists confirmed on the full split, the final run continuing the winner.
  const sizes = { searchTrain: SEARCH_TRAIN, fullTrain: FULL_TRAIN, fullValidation: FULL_VALIDATION, test: 10_000 };
  const plan = confirmPlan(
    { runId: 3, imagesPerSecond: 2400, evalImagesPerSecond: 7200, validationLoss: run3.evaluation!.loss },
    [{ runId: 2, imagesPerSecond: 6000, evalImagesPerSecond: 18000, validationLoss: run2.evaluation!.loss }],
    700 - 338,
    sizes,
    200_000,
  )!;
  const [first, second] = plan.finalists;
  // Each confirmation run as `confirmOptions` plans it (annealed when 3 epochs or longer), completing its planned epochs.
  const confirmRunOptions = (epochs: number) => ({ ...trimmed, ...confirmOptions(epochs, 390), maxEpochs: epochs });
  const confirmHistory = (floor: number, epochs: number) =>
    makeHistory({
      epochs, itersPerEpoch: 390, batch: 128, secondsPerEpoch: 26,
      learnRate: (e) => 0.01 * 0.1 ** Math.floor((e - 1) / (confirmRunOptions(epochs).learnRateDropPeriod ?? 1e9)),
      loss: (t) => 0.5 * Math.exp(-2 * t) + 0.22, acc: (t) => 0.82 + 0.1 * t,
      valLoss: falling(0.42, floor, 0.5, 0.002), valAcc: (e) => 0.86 + 0.01 * e,
    });
  const images7 = shifted(images3, 9.5, 25);
  const images8 = shifted(images7, -2.8, -6);
  const run7 = makeRun({ id: 7, stage: 'finalise', options: confirmRunOptions(first.epochs), network: DEEP, kind: 'full', parentId: 3, basedOn: 3, change: null, history: confirmHistory(0.27, first.epochs), verdict: 'confirm', start: 340, seconds: plan.seconds, imagesPerSecond: 2450, perImage: images7 });
  const run8 = makeRun({ id: 8, stage: 'finalise', options: confirmRunOptions(second.epochs), kind: 'full', parentId: 3, basedOn: 2, change: null, history: confirmHistory(0.285, second.epochs), verdict: 'confirm', start: 340 + plan.seconds + 8, seconds: plan.seconds, imagesPerSecond: 6100, perImage: images8 });
  run8.judgement = judged({ run: run8, perImage: images8 }, { run: run7, perImage: images7 });
  const afterConfirm = 340 + 2 * plan.seconds + 20;
  const final = planFinalRun({
    secondsLeft: 700 - afterConfirm,
    speed: { imagesPerSecond: 2450, evalImagesPerSecond: 7350 },
    sizes,
    standing: run3.options,
    epochsDone: first.epochs,
    evidence: { imagesToMinimum: 12 * SEARCH_TRAIN, stillImproving: false, searchEpochs: 14 },
  });
  const images9 = shifted(images7, 7.7, 21);
  const run9 = makeRun({
    id: 9, stage: 'finalise', options: { ...trimmed, ...final.options }, network: DEEP, kind: 'full', parentId: 3, basedOn: 7, continuedFrom: 7, change: null,
    history: makeHistory({
      epochs: final.plannedEpochs, itersPerEpoch: 390, batch: 128, secondsPerEpoch: 26,
      learnRate: (e) => 0.01 * 0.1 ** Math.floor((e - 1) / (final.options.learnRateDropPeriod ?? 1e9)),
      loss: (t) => 0.45 * Math.exp(-2.5 * t) + 0.18, acc: (t) => 0.84 + 0.1 * t,
      valLoss: falling(0.4, 0.255, 0.45, 0.002), valAcc: (e) => 0.87 + 0.003 * Math.min(e, 12),
    }),
    // It stops at its planned deadline, during its last planned epoch (the partial epoch is validated).
    stopReason: { kind: 'budget', epoch: final.plannedEpochs },
    verdict: 'final', start: afterConfirm + 2, seconds: Math.round(final.seconds ?? 200), imagesPerSecond: 2450, perImage: images9,
  });
  s.runs = [run1, run2, run3, run4, run5, run6, run7, run8, run9];
  s.decisions = [
    decided(1, 'baseline', addEpochs, 14),
    decided(2, 'trainEnough', trim, 39),
    decided(2, 'trimEpochs', addL2, 39.5, { refused: 'the standing run shows no overfitting gap: regularisation is only revisited when one appears' }),
    decided(2, 'trimEpochs', deepen40, 39.8),
    decided(3, 'capacity', widen2, 79),
    decided(5, 'capacity', filter5, 274),
    machine(3, 'budget', `budget: the search's time is used up (338 s of 700 s; the rest is kept for the final run); finalising the best configuration so far (run 3)`, 338),
    machine(3, 'finalists', plan.reason, 339),
    machine(3, 'finalRun', `final run: run 3's configuration on the full training split, continuing confirmation run 7: ${final.reason}`, afterConfirm),
    machine(9, 'finalWeights', `final weights: run 9 (the final run) over run 3: validation loss ${run9.evaluation!.loss.toFixed(4)} vs ${run3.evaluation!.loss.toFixed(4)}, accuracy ${(run9.evaluation!.accuracy * 100).toFixed(2)}% vs ${(run3.evaluation!.accuracy * 100).toFixed(2)}% on the same ${VERDICT_IMAGES} images`, afterConfirm + 2 + run9.result.seconds + 3),
  ];
  const c = confusion();
  const end = afterConfirm + 2 + run9.result.seconds + 10;
  const evaluation: FinalEvaluation = {
    runId: 9,
    testAccuracy: c.reduce((a, r, i) => a + r[i], 0) / 10_000,
    testLoss: 0.2804,
    testCount: 10_000,
    perClassAccuracy: c.map((r, i) => r[i] / 1000),
    confusion: c,
    modelDir: 'model',
    evaluatedAt: at(end),
  };
  s.final = evaluation;
  s.incumbentId = 3;
  s.nextWithMoreBudget = { decision: { action: 'addDropout', params: { rate: 0.2 }, reason: 'training accuracy 0.95 vs validation 0.89 at epoch 14 of run 3: gap 0.06; add dropout' }, allowed: false };
  s.status = 'finished';
  s.updatedAt = at(end);
  s.budget = { secondsUsed: end, runsUsed: 6, exhausted: true };
  return s;
}

/** A study still running: two runs, and the run of the latest decision in progress. */
export function runningStudy(): StudyRecord {
  const s = baseStudy('fashion-running');
  const { run1, run2 } = searchStart();
  s.runs = [run1, run2];
  s.decisions = [decided(1, 'baseline', addEpochs, 14), decided(2, 'trainEnough', trim, 39), decided(2, 'trimEpochs', deepen40, 39.8)];
  s.incumbentId = 2;
  s.updatedAt = at(40);
  s.budget = { secondsUsed: 40, runsUsed: 2, exhausted: false };
  return s;
}

/** The run in flight of a running study, as src/study/live.ts stores it (run 3, deepen, epoch 4 of 10). */
export function inFlightRun(over: Partial<InFlightRun> = {}): InFlightRun {
  return {
    runId: 3,
    stage: 'capacity',
    what: 'deepen filters=40',
    startedAt: '2026-12-01T10:00:00.000Z',
    at: '2026-12-01T10:00:12.000Z',
    epoch: 4,
    maxEpochs: 10,
    iteration: 230,
    loss: 0.3412,
    valAccuracy: 0.8731,
    imagesPerSecond: 2410,
    secondsLeft: 19.6,
    budgetSecondsLeft: 1500,
    ...over,
  };
}

const lower: Decision = {
  action: 'lowerLearnRate',
  params: { initialLearnRate: 0.01 },
  reason: 'diverged in run 1: the loss became NaN at iteration 12 (epoch 1) at learn rate 0.1; initialLearnRate 0.1 → 0.01 (step 1: lower the rate by a power of ten)',
};

/** A study whose baseline diverged (NaN loss at iteration 12) and whose lowered rate trained. */
export function divergedStudy(): StudyRecord {
  const s = baseStudy('fashion-diverged');
  s.config.baseOptions = { ...OPTIONS, initialLearnRate: 0.1 };
  const nan = makeRun({
    id: 1, stage: 'baseline', options: { initialLearnRate: 0.1 }, parentId: null, change: null,
    history: makeHistory({
      epochs: 10, itersPerEpoch: ITERS, batch: 128, learnRate: 0.1, nanAt: 12,
      loss: (t) => 2.3 + 400 * t * t, acc: (t) => 0.2 - t,
      valLoss: () => NaN, valAcc: () => NaN,
    }),
    stopReason: { kind: 'nonFinite', iteration: 12, epoch: 1, what: 'loss' },
    verdict: 'baseline', start: 1, seconds: 1.9, imagesPerSecond: 6000,
    perImage: { losses: Array.from({ length: VERDICT_IMAGES }, () => NaN), correct: Array.from({ length: VERDICT_IMAGES }, () => 0) },
  });
  const images2 = baselineImages();
  const second = makeRun({ id: 2, stage: 'stabilise', parentId: 1, change: lower, history: baselineHistory(), verdict: 'pending', start: 4, seconds: 12, imagesPerSecond: 6000, perImage: images2 });
  second.judgement = judged({ run: second, perImage: images2 }, { run: nan, perImage: { losses: Array.from({ length: VERDICT_IMAGES }, () => NaN), correct: Array.from({ length: VERDICT_IMAGES }, () => 0) } });
  second.verdict = verdictOf(second.judgement);
  s.runs = [nan, second];
  s.decisions = [decided(1, 'stabilise', lower, 3)];
  s.incumbentId = 2;
  s.updatedAt = at(17);
  s.budget = { secondsUsed: 17, runsUsed: 2, exhausted: false };
  return s;
}

/** A study stopped by its time budget in the middle of its third run (no final model). */
export function budgetStoppedStudy(): StudyRecord {
  const s = baseStudy('fashion-budget');
  s.config.budgetSeconds = 60;
  s.config.maxRuns = null;
  const { run1, run2 } = searchStart();
  const r3 = makeRun({
    id: 3, stage: 'capacity', options: { maxEpochs: 14 }, network: DEEP, parentId: 2, change: deepen40,
    history: makeHistory({
      epochs: 4, itersPerEpoch: ITERS, batch: 128, learnRate: 0.01,
      loss: (t) => 0.8 - 0.3 * t, acc: (t) => 0.75 + 0.1 * t,
      valLoss: falling(0.7, 0.3, 0.35), valAcc: (e) => 0.8 + 0.006 * e,
    }),
    stopReason: { kind: 'budget', epoch: 4 },
    verdict: 'pending', start: 40, seconds: 20, imagesPerSecond: 2400,
  });
  s.runs = [run1, run2, r3];
  s.decisions = [decided(1, 'baseline', addEpochs, 14), decided(2, 'trainEnough', trim, 39), decided(2, 'trimEpochs', deepen40, 39.8)];
  s.incumbentId = 2;
  s.status = 'stopped';
  s.statusReason = 'time budget of 1 min used up during run 3';
  s.updatedAt = at(60);
  s.budget = { secondsUsed: 60, runsUsed: 3, exhausted: true };
  return s;
}

/** A study with no run yet. */
export function emptyStudy(): StudyRecord {
  const s = baseStudy('fashion-empty');
  s.backend = null;
  return s;
}

/** A run with `iterations` iterations (for timing the plot renderer). */
export function longRun(iterations: number, itersPerEpoch = 25): RunRecord {
  const epochs = Math.ceil(iterations / itersPerEpoch);
  return makeRun({
    id: 2, stage: 'stabilise', options: { maxEpochs: epochs }, parentId: 1, change: lower,
    history: makeHistory({
      epochs, itersPerEpoch, batch: 128, learnRate: 1e-3,
      loss: (t) => 1.6 * Math.exp(-3 * t) + 0.3, acc: (t) => 0.55 + 0.35 * t,
      valLoss: (e) => 1.2 * Math.exp(-0.1 * e) + 0.25, valAcc: (e) => 0.6 + 0.3 * (1 - Math.exp(-0.1 * e)),
    }),
    verdict: 'kept', start: 1, seconds: 30, imagesPerSecond: 6000,
  });
}
