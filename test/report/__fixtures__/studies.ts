/**
 * Small stored studies built by hand for the report tests. Curves are made up but shaped like
 * the flowchart notes: too slow at 1e-4, underfitting at 1e-3, overfitting after ~22 epochs at
 * 1e-2, a NaN loss at iteration 12 when the rate is too high. Deterministic: no random numbers.
 */
import type {
  Decision,
  DecisionRecord,
  Diagnosis,
  FinalEvaluation,
  NetworkSpec,
  RunRecord,
  Stage,
  StopReason,
  StudyRecord,
  TrainingHistory,
  TrainingOptions,
  Verdict,
} from '../../../src/types.ts';
import { paramCount } from '../../../src/config/network.ts';

export const CLASS_NAMES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];

export const NETWORK: NetworkSpec = {
  inputShape: [28, 28, 1],
  layers: [
    { type: 'conv', filters: 20, kernelSize: 3 },
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
  miniBatchSize: 200,
  shuffle: 'every-epoch',
  l2Regularization: 1e-4,
  gradientThreshold: Infinity,
  gradientThresholdMethod: 'l2norm',
  learnRateSchedule: 'none',
  learnRateDropFactor: 0.1,
  learnRateDropPeriod: 10,
  validationFrequency: 15,
  validationPatience: Infinity,
  outputNetwork: 'last-iteration',
  seed: 0,
};

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
  learnRate: number;
  /** Iteration (absolute) at which the loss becomes NaN; the run stops there. */
  nanAt?: number;
  batch: number;
}

/** A deterministic history: smooth curves with a fixed wiggle. */
export function makeHistory(c: CurveSpec): TrainingHistory {
  const h: TrainingHistory = { iterations: [], validations: [], epochs: [] };
  const first = c.firstEpoch ?? 1;
  const total = c.epochs * c.itersPerEpoch;
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
      learnRate: c.learnRate,
    });
    if (nan) return h;
    if ((k + 1) % c.itersPerEpoch === 0) {
      const epochIters = h.iterations.slice(-c.itersPerEpoch);
      const valLoss = c.valLoss(epoch);
      const valAccuracy = c.valAcc(epoch);
      h.validations.push({ iteration, epoch, loss: valLoss, accuracy: valAccuracy });
      h.epochs.push({
        epoch,
        learnRate: c.learnRate,
        loss: epochIters.reduce((a, r) => a + r.loss, 0) / epochIters.length,
        accuracy: epochIters.reduce((a, r) => a + r.accuracy, 0) / epochIters.length,
        valLoss,
        valAccuracy,
        seconds: 1.5,
        imagesPerSecond: (c.itersPerEpoch * c.batch) / 1.5,
      });
    }
  }
  return h;
}

const T0 = Date.parse('2025-11-27T22:00:00Z');
const at = (minutes: number) => new Date(T0 + minutes * 60_000).toISOString();

interface RunSpec {
  id: number;
  stage: Stage;
  options: Partial<TrainingOptions>;
  network?: NetworkSpec;
  trainImages?: number;
  validationImages?: number;
  kind?: 'subset' | 'full';
  parentId: number | null;
  change: Decision | null;
  continuedFrom?: number | null;
  history: TrainingHistory;
  stopReason: StopReason;
  diagnosis: Diagnosis;
  verdict: Verdict;
  paramCount?: number;
  startMinute: number;
  seconds: number;
}

/** A run record whose summary numbers are read off its history, as the trainer would. */
export function makeRun(s: RunSpec): RunRecord {
  const options = { ...OPTIONS, ...s.options };
  const h = s.history;
  const finiteVals = h.validations.filter((v) => Number.isFinite(v.loss));
  const best = finiteVals.reduce<(typeof finiteVals)[number] | null>((b, v) => (b === null || v.loss < b.loss ? v : b), null);
  const lastEpoch = h.epochs.at(-1);
  const lastIter = h.iterations.at(-1);
  const trainImages = s.trainImages ?? 3000;
  return {
    id: s.id,
    stage: s.stage,
    startedAt: at(s.startMinute),
    finishedAt: new Date(T0 + s.startMinute * 60_000 + s.seconds * 1000).toISOString(),
    network: s.network ?? NETWORK,
    options,
    fidelity: { trainImages, validationImages: s.validationImages ?? 1000, kind: s.kind ?? 'subset' },
    parentId: s.parentId,
    change: s.change,
    continuedFrom: s.continuedFrom ?? null,
    result: {
      history: h,
      backend: 'tensorflow',
      stopReason: s.stopReason,
      bestEpoch: best?.epoch ?? null,
      bestValLoss: best?.loss ?? null,
      paramCount: s.paramCount ?? paramCount(s.network ?? NETWORK),
      checkpointDir: `reports/fixture/checkpoints/run-${s.id}`,
      epochsCompleted: h.epochs.length,
      iterationsCompleted: h.iterations.length,
      imagesTrained: h.iterations.length * options.miniBatchSize,
      seconds: s.seconds,
    },
    diagnosis: s.diagnosis,
    verdict: s.verdict,
    bestValAccuracy: finiteVals.length ? Math.max(...finiteVals.map((v) => v.accuracy)) : null,
    trainAccuracy: lastEpoch ? lastEpoch.accuracy : lastIter ? lastIter.accuracy : null,
    valAccuracy: lastEpoch?.valAccuracy ?? null,
  };
}

// ───────────── decisions ─────────────

const raise: Decision = {
  action: 'raiseLearnRate',
  params: { initialLearnRate: 0.001 },
  reason: 'Validation accuracy 71.2% after 10 epochs and validation loss fell only 18% over the run: too slow; raise the rate ×10.',
};
const addEpochs: Decision = {
  action: 'addEpochs',
  params: { maxEpochs: 30 },
  reason: 'Validation loss still falling at epoch 10 (−6.1% over the last 3 epochs): train longer.',
};
const trim: Decision = {
  action: 'trimEpochs',
  params: { maxEpochs: 22 },
  reason: 'Validation loss minimum 0.3120 at epoch 22, then rose 9.0% by epoch 30: stop at 22.',
};
const dropout: Decision = {
  action: 'addDropout',
  params: { afterLayer: 3, rate: 0.2 },
  reason: 'Train − validation gap 7.9 points at epoch 22 (threshold 5): regularise with dropout.',
};
const stop: Decision = { action: 'stop', params: {}, reason: 'Dropout did not help (validation loss 0.3290 > 0.3120); no remedy left in budget.' };
const lower: Decision = {
  action: 'lowerLearnRate',
  params: { initialLearnRate: 0.001 },
  reason: 'Training loss became NaN at iteration 12 (epoch 1): lower the rate ×0.1.',
};

const dx = (label: Diagnosis['label'], summary: string, evidence: Diagnosis['evidence'], findings: Diagnosis['label'][] = [label]): Diagnosis => ({
  label,
  findings,
  evidence,
  summary,
});

// ───────────── runs ─────────────

function run1(): RunRecord {
  return makeRun({
    id: 1,
    stage: 'baseline',
    options: { initialLearnRate: 1e-4 },
    parentId: null,
    change: null,
    history: makeHistory({
      epochs: 10, itersPerEpoch: 15, batch: 200, learnRate: 1e-4,
      loss: (t) => 2.3 - 0.5 * t, acc: (t) => 0.3 + 0.4 * t,
      valLoss: (e) => 2.2 - 0.04 * e, valAcc: (e) => 0.33 + 0.038 * e,
    }),
    stopReason: { kind: 'completed' },
    diagnosis: dx('tooSlow', 'Validation accuracy 71.2% and validation loss fell 18% in 10 epochs: far too slow.', { valAccuracy: 0.712, lossFall: 0.18 }),
    verdict: 'baseline',
    startMinute: 1,
    seconds: 14.2,
  });
}

function run2(): RunRecord {
  return makeRun({
    id: 2,
    stage: 'stabilise',
    options: { initialLearnRate: 0.001 },
    parentId: 1,
    change: raise,
    history: makeHistory({
      epochs: 10, itersPerEpoch: 15, batch: 200, learnRate: 1e-3,
      loss: (t) => 1.6 * Math.exp(-2 * t) + 0.3, acc: (t) => 0.55 + 0.3 * t,
      valLoss: (e) => 1.2 * Math.exp(-0.15 * e) + 0.2, valAcc: (e) => 0.6 + 0.025 * e,
    }),
    stopReason: { kind: 'completed' },
    diagnosis: dx('underfitting', 'Validation loss still falling at epoch 10 (−6.1% over the last 3 epochs).', { lastEpoch: 10, fall: 0.061 }),
    verdict: 'kept',
    startMinute: 2,
    seconds: 13.8,
  });
}

function run3(): RunRecord {
  return makeRun({
    id: 3,
    stage: 'trainEnough',
    options: { initialLearnRate: 0.001, maxEpochs: 30 },
    parentId: 2,
    change: addEpochs,
    continuedFrom: 2,
    history: makeHistory({
      epochs: 20, firstEpoch: 11, itersPerEpoch: 15, batch: 200, learnRate: 1e-3,
      loss: (t) => 0.45 - 0.3 * t, acc: (t) => 0.85 + 0.1 * t,
      valLoss: (e) => 0.312 + 0.0012 * (e - 22) ** 2, valAcc: (e) => 0.86 + 0.0015 * Math.min(e, 22) - 0.001 * Math.max(0, e - 22),
    }),
    stopReason: { kind: 'completed' },
    diagnosis: dx(
      'overfitting',
      'Validation loss minimum 0.3120 at epoch 22, then rose 9.0% by epoch 30; gap 7.9 points.',
      { minEpoch: 22, minValLoss: 0.312, rise: 0.09, gap: 0.079 },
      ['overfitting', 'converged'],
    ),
    verdict: 'kept',
    startMinute: 3,
    seconds: 28.4,
  });
}

function run4(): RunRecord {
  return makeRun({
    id: 4,
    stage: 'regularise',
    options: { initialLearnRate: 0.001, maxEpochs: 22 },
    network: { ...NETWORK, layers: [...NETWORK.layers.slice(0, 3), { type: 'dropout', rate: 0.2 }, ...NETWORK.layers.slice(3)] },
    parentId: 3,
    change: dropout,
    history: makeHistory({
      epochs: 22, itersPerEpoch: 15, batch: 200, learnRate: 1e-3,
      loss: (t) => 1.9 * Math.exp(-3 * t) + 0.3, acc: (t) => 0.5 + 0.38 * t,
      valLoss: (e) => 0.9 * Math.exp(-0.2 * e) + 0.32, valAcc: (e) => 0.6 + 0.012 * e,
    }),
    stopReason: { kind: 'completed' },
    diagnosis: dx('converged', 'Validation loss 0.3290 at epoch 22, gap 2.1 points: nothing to treat.', { valLoss: 0.329, gap: 0.021 }),
    verdict: 'reverted',
    startMinute: 4,
    seconds: 30.1,
  });
}

function run5Final(): RunRecord {
  return makeRun({
    id: 5,
    stage: 'finalise',
    options: { initialLearnRate: 0.001, maxEpochs: 22, miniBatchSize: 500 },
    trainImages: 50_000,
    validationImages: 10_000,
    kind: 'full',
    parentId: 3,
    change: null,
    history: makeHistory({
      epochs: 22, itersPerEpoch: 100, batch: 500, learnRate: 1e-3,
      loss: (t) => 1.5 * Math.exp(-4 * t) + 0.22, acc: (t) => 0.6 + 0.32 * t,
      valLoss: (e) => 0.8 * Math.exp(-0.25 * e) + 0.27, valAcc: (e) => 0.7 + 0.0095 * e,
    }),
    stopReason: { kind: 'completed' },
    diagnosis: dx('converged', 'Validation loss 0.2731 at epoch 22, gap 2.6 points.', { valLoss: 0.2731, gap: 0.026 }),
    verdict: 'final',
    startMinute: 5,
    seconds: 412.7,
  });
}

function baseStudy(name: string): StudyRecord {
  return {
    schemaVersion: 2,
    config: {
      name,
      data: 'fashion',
      dataDir: null,
      validationSize: 10_000,
      searchSubset: 3000,
      searchValidationSubset: 1000,
      finalFullData: true,
      seed: 0,
      policy: 'flowchart',
      budgetSeconds: 3600,
      maxRuns: 20,
      backend: null,
      baseNetwork: NETWORK,
      baseOptions: OPTIONS,
    },
    createdAt: at(0),
    updatedAt: at(0),
    status: 'running',
    statusReason: null,
    dataset: { name: 'fashion', trainCount: 50_000, validationCount: 10_000, testCount: 10_000, classNames: CLASS_NAMES },
    backend: 'tensorflow',
    policy: { name: 'flowchart', source: 'built-in' },
    budget: { secondsUsed: 0, runsUsed: 0, exhausted: false },
    runs: [],
    decisions: [],
    incumbentId: null,
    final: null,
    snapshot: null,
  };
}

const decision = (afterRun: number, stage: Stage, d: Decision, minute: number): DecisionRecord => ({ afterRun, stage, decision: d, at: at(minute) });

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

/** A finished study: five runs, two decisions without a run, the sealed test evaluation. */
export function finishedStudy(): StudyRecord {
  const s = baseStudy('fashion-finished');
  s.runs = [run1(), run2(), run3(), run4(), run5Final()];
  s.decisions = [
    decision(1, 'stabilise', raise, 2),
    decision(2, 'trainEnough', addEpochs, 3),
    decision(3, 'trimEpochs', trim, 4),
    decision(3, 'regularise', dropout, 4),
    decision(4, 'finalise', stop, 5),
  ];
  const c = confusion();
  const final: FinalEvaluation = {
    runId: 5,
    testAccuracy: c.reduce((a, r, i) => a + r[i], 0) / 10_000,
    testLoss: 0.2804,
    testCount: 10_000,
    perClassAccuracy: c.map((r, i) => r[i] / 1000),
    confusion: c,
    modelDir: 'reports/fashion-finished/model',
    evaluatedAt: at(13),
  };
  s.final = final;
  s.incumbentId = 5;
  s.status = 'finished';
  s.updatedAt = at(13);
  s.budget = { secondsUsed: 780, runsUsed: 5, exhausted: false };
  return s;
}

/** A study still running after two runs. */
export function runningStudy(): StudyRecord {
  const s = baseStudy('fashion-running');
  s.runs = [run1(), run2()];
  s.decisions = [decision(1, 'stabilise', raise, 2), decision(2, 'trainEnough', addEpochs, 3)];
  s.incumbentId = 2;
  s.updatedAt = at(3);
  s.budget = { secondsUsed: 150, runsUsed: 2, exhausted: false };
  return s;
}

/** A study whose baseline diverged (NaN loss at iteration 12) and whose second run trained. */
export function divergedStudy(): StudyRecord {
  const s = baseStudy('fashion-diverged');
  const diverged = makeRun({
    id: 1,
    stage: 'baseline',
    options: { initialLearnRate: 0.01 },
    parentId: null,
    change: null,
    history: makeHistory({
      epochs: 10, itersPerEpoch: 15, batch: 200, learnRate: 0.01, nanAt: 12,
      loss: (t) => 2.3 + 400 * t * t, acc: (t) => 0.2 - t,
      valLoss: () => NaN, valAcc: () => NaN,
    }),
    stopReason: { kind: 'nonFinite', iteration: 12, epoch: 1, what: 'loss' },
    diagnosis: dx('diverged', 'Training loss became NaN at iteration 12 (epoch 1).', { iteration: 12, epoch: 1, lossAtStart: 2.3, lossBefore: NaN }),
    verdict: 'baseline',
    startMinute: 1,
    seconds: 1.9,
  });
  diverged.trainAccuracy = NaN;
  const second = makeRun({ ...specOf(run2()), change: lower, stage: 'stabilise', verdict: 'kept' });
  s.runs = [diverged, second];
  s.decisions = [decision(1, 'stabilise', lower, 1)];
  s.incumbentId = 2;
  s.status = 'running';
  s.updatedAt = at(3);
  s.budget = { secondsUsed: 40, runsUsed: 2, exhausted: false };
  return s;
}

function specOf(r: RunRecord): RunSpec {
  return {
    id: r.id,
    stage: r.stage,
    options: r.options,
    network: r.network,
    parentId: r.parentId,
    change: r.change,
    continuedFrom: r.continuedFrom,
    history: r.result.history,
    stopReason: r.result.stopReason,
    diagnosis: r.diagnosis,
    verdict: r.verdict,
    startMinute: 2,
    seconds: r.result.seconds,
  };
}

/** A study stopped by its time budget in the middle of its third run. */
export function budgetStoppedStudy(): StudyRecord {
  const s = baseStudy('fashion-budget');
  s.config.budgetSeconds = 600;
  s.config.maxRuns = null;
  const r3 = makeRun({
    ...specOf(run3()),
    history: makeHistory({
      epochs: 4, firstEpoch: 11, itersPerEpoch: 15, batch: 200, learnRate: 1e-3,
      loss: (t) => 0.45 - 0.05 * t, acc: (t) => 0.85 + 0.02 * t,
      valLoss: (e) => 0.4 - 0.005 * e, valAcc: (e) => 0.86 + 0.002 * e,
    }),
    stopReason: { kind: 'budget', epoch: 14 },
    diagnosis: dx('underfitting', 'Validation loss still falling at epoch 14 (−1.9% over the last 3 epochs).', { lastEpoch: 14, fall: 0.019 }),
    verdict: 'reverted',
    seconds: 61.5,
  });
  s.runs = [run1(), run2(), r3];
  s.decisions = [decision(1, 'stabilise', raise, 2), decision(2, 'trainEnough', addEpochs, 3)];
  s.incumbentId = 2;
  s.status = 'stopped';
  s.statusReason = 'time budget of 10 min used up during run 3';
  s.updatedAt = at(10);
  s.budget = { secondsUsed: 600, runsUsed: 3, exhausted: true };
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
  return makeRun({
    ...specOf(run2()),
    options: { initialLearnRate: 0.001, maxEpochs: Math.ceil(iterations / itersPerEpoch) },
    history: makeHistory({
      epochs: Math.ceil(iterations / itersPerEpoch), itersPerEpoch, batch: 200, learnRate: 1e-3,
      loss: (t) => 1.6 * Math.exp(-3 * t) + 0.3, acc: (t) => 0.55 + 0.35 * t,
      valLoss: (e) => 1.2 * Math.exp(-0.1 * e) + 0.25, valAcc: (e) => 0.6 + 0.3 * (1 - Math.exp(-0.1 * e)),
    }),
  });
}
