import { describe, expect, test } from 'vitest';
import { diagnoseRun, seededRandom } from '../../src/diagnosis/index.ts';
import { decisionProblem } from '../../src/policy-loader.ts';
import { defaultNetwork } from '../../src/config/network.ts';
import { DEFAULT_OPTIONS } from '../../src/config/options.ts';
import flowchartDefault, { FLOWCHART_SETTINGS, policy as flowchart } from '../../policies/flowchart.ts';
import exampleDefault, { policy as example } from '../../policies/example.ts';
import randomDefault, { MAX_RANDOM_RUNS, policy as random } from '../../policies/random.ts';
import type { ActionName, Decision, NetworkSpec, Policy, PolicyContext, RunSummary, Stage, TrainingCurve, TrainingOptions } from '../../src/types.ts';

// ───────────── made-up runs ─────────────

const range = <T = number,>(n: number, f: (epoch: number) => T): T[] => Array.from({ length: n }, (_, i) => f(i + 1));

function curve(cols: { loss: number[]; acc?: number[]; valLoss?: number[]; valAcc?: number[] }, nonFinite: TrainingCurve['nonFinite'] = null): TrainingCurve {
  return {
    epochs: cols.loss.map((loss, i) => ({
      epoch: i + 1,
      loss,
      accuracy: cols.acc?.[i] ?? null,
      valLoss: cols.valLoss?.[i] ?? null,
      valAccuracy: cols.valAcc?.[i] ?? null,
      learnRate: null,
    })),
    nonFinite,
  };
}

const CURVES = {
  diverged: () => curve({ loss: [2.1, 1.9], acc: [0.3, 0.35], valLoss: [2.0, 1.95], valAcc: [0.3, 0.33] }, { iteration: 37, epoch: 3, what: 'loss' }),
  oscillating: () => curve({ loss: [0.9, 1.3, 0.8, 1.4, 0.85, 1.35, 0.9, 1.3], acc: range(8, () => 0.6), valLoss: [1.0, 1.4, 0.9, 1.5, 0.95, 1.45, 1.0, 1.4], valAcc: range(8, () => 0.55) }),
  tooSlow: (n = 20) => curve({ loss: range(n, (e) => 1.02 - 0.0125 * e), acc: range(n, (e) => 0.7 + 0.0017 * e), valLoss: range(n, (e) => 1.0125 - 0.0131 * e), valAcc: range(n, (e) => 0.705 + 0.0013 * e) }),
  underfitting: (scale = 1) =>
    curve({
      loss: [0.85, 0.62, 0.5, 0.43, 0.38, 0.35, 0.32, 0.3, 0.29, 0.28],
      acc: [0.7, 0.78, 0.82, 0.84, 0.86, 0.87, 0.88, 0.88, 0.89, 0.89],
      valLoss: [0.9, 0.7, 0.6, 0.52, 0.47, 0.44, 0.41, 0.39, 0.38, 0.37].map((v) => v * scale),
      valAcc: [0.68, 0.75, 0.79, 0.82, 0.84, 0.85, 0.86, 0.86, 0.87, 0.87],
    }),
  minAt27: (trainAccEnd = 0.99) =>
    curve({
      loss: range(100, (e) => Math.exp(-e / 20) + 0.02),
      acc: range(100, (e) => 0.7 + (trainAccEnd - 0.7) * (1 - Math.exp(-e / 15))),
      valLoss: range(100, (e) => (e <= 27 ? 0.312 + (27 - e) * 0.02 : 0.312 + (e - 27) * 0.003)),
      valAcc: range(100, (e) => 0.7 + 0.2 * (1 - Math.exp(-e / 10))),
    }),
  gap: (gap = 0.15) =>
    curve({
      loss: range(30, (e) => 0.5 * Math.exp(-e / 8) + 0.08),
      acc: range(30, (e) => 0.82 + gap - 0.2 * Math.exp(-e / 4)),
      valLoss: range(30, (e) => 0.45 + 0.25 * Math.exp(-e / 4)),
      valAcc: range(30, (e) => 0.82 - 0.1 * Math.exp(-e / 4)),
    }),
  converged: () =>
    curve({
      loss: range(30, (e) => 0.6 * Math.exp(-e / 6) + 0.25),
      acc: range(30, (e) => 0.91 - 0.2 * Math.exp(-e / 6)),
      valLoss: range(30, (e) => 0.3 + 0.4 * Math.exp(-e / 4)),
      valAcc: range(30, (e) => 0.86 - 0.15 * Math.exp(-e / 4)),
    }),
};

function run(id: number, stage: Stage, c: TrainingCurve, options: Partial<TrainingOptions> = {}, network: NetworkSpec = defaultNetwork()): RunSummary {
  const diagnosis = diagnoseRun(c);
  const vals = c.epochs.filter((e) => typeof e.valLoss === 'number' && Number.isFinite(e.valLoss));
  const best = vals.reduce<(typeof vals)[number] | null>((b, e) => (b === null || (e.valLoss as number) < (b.valLoss as number) ? e : b), null);
  const accs = c.epochs.map((e) => e.valAccuracy).filter((a): a is number => typeof a === 'number');
  return {
    id,
    stage,
    network,
    options: { ...DEFAULT_OPTIONS, maxEpochs: c.epochs.length || 1, ...options },
    fidelity: { trainImages: 3000, validationImages: 1000, kind: 'subset' },
    curve: c,
    diagnosis,
    bestValLoss: best ? (best.valLoss as number) : null,
    bestValAccuracy: accs.length ? Math.max(...accs) : null,
    bestEpoch: best ? best.epoch : null,
    seconds: 10,
  };
}

interface Ctx {
  stage?: Stage;
  runs: RunSummary[];
  incumbent?: number;
  tried?: ActionName[];
  runsLeft?: number;
  secondsLeft?: number;
  seed?: number;
}

function context({ stage, runs, incumbent, tried = [], runsLeft = 20, secondsLeft = Infinity, seed = 1 }: Ctx): PolicyContext {
  const last = runs[runs.length - 1];
  return {
    stage: stage ?? last.stage,
    last,
    incumbent: runs.find((r) => r.id === (incumbent ?? last.id))!,
    runs,
    tried,
    budget: { runsLeft, secondsLeft },
    random: seededRandom(seed),
  };
}

function decide(policy: Policy, ctx: PolicyContext): Decision {
  const d = policy.decide(ctx);
  expect(decisionProblem(d), JSON.stringify(d)).toBeNull();
  expect(d.reason).toMatch(/\d/); // every reason quotes numbers
  return d;
}

// ───────────── the flowchart ─────────────

describe('flowchart: the flowchart\u2019s action and params for each diagnosis and stage', () => {
  test.each<[string, Ctx, ActionName, Decision['params'], RegExp]>([
    ['diverged at 0.01 (baseline) → lower to 0.001', { runs: [run(1, 'baseline', CURVES.diverged(), { initialLearnRate: 0.01 })] }, 'lowerLearnRate', { initialLearnRate: 0.001 }, /iteration 37 \(epoch 3\).*initialLearnRate 0.01 → 0.001/],
    ['circling at 0.1 → lower to 0.01', { runs: [run(1, 'baseline', CURVES.oscillating(), { initialLearnRate: 0.1 })] }, 'lowerLearnRate', { initialLearnRate: 0.01 }, /^oscillating: circling without converging.*0.1 → 0.01/],
    ['a lowered run that still diverges (reverted) → lower again from its own rate', {
      runs: [run(1, 'baseline', CURVES.diverged(), { initialLearnRate: 0.01 }), run(2, 'stabilise', CURVES.diverged(), { initialLearnRate: 0.001 })],
      incumbent: 1,
    }, 'lowerLearnRate', { initialLearnRate: 0.0001 }, /0.001 → 0.0001/],
    ['too slow at 0.0001 → raise to 0.001', { runs: [run(1, 'baseline', CURVES.tooSlow(), { initialLearnRate: 0.0001 })] }, 'raiseLearnRate', { initialLearnRate: 0.001 }, /^tooSlow: stable but slow: validation loss fell 25%.*0.0001 → 0.001/],
    ['too slow, but the raise to 0.001 diverged → keep 0.0001, more epochs', {
      runs: [run(1, 'baseline', CURVES.tooSlow(), { initialLearnRate: 0.0001 }), run(2, 'stabilise', CURVES.diverged(), { initialLearnRate: 0.001 })],
      incumbent: 1,
    }, 'addEpochs', { maxEpochs: 40 }, /run 2 \(learn rate 0.001\) diverged and was reverted; learn rate 0.001 diverged in run 2, so 0.0001 is the largest stable power of ten; .*maxEpochs 20 → 40/],
    ['too slow, the raise did no better → keep the rate, more epochs', {
      runs: [run(1, 'baseline', CURVES.tooSlow(), { initialLearnRate: 0.0001 }), run(2, 'stabilise', CURVES.underfitting(2.5), { initialLearnRate: 0.001 })],
      incumbent: 1,
    }, 'addEpochs', { maxEpochs: 40 }, /learn rate 0.001 \(run 2, best validation loss 0.925\) did no better than 0.0001 \(0.75\), so 0.0001 stays/],
    ['still falling at epoch 10 of 10 → maxEpochs 20', { runs: [run(1, 'baseline', CURVES.underfitting())] }, 'addEpochs', { maxEpochs: 20 }, /still falling: 0.41 → 0.37 over the last 3 epochs \(−9.8%\) at epoch 10 of 10; maxEpochs 10 → 20/],
    ['still falling at 60 → capped at 100', { runs: [run(1, 'baseline', CURVES.underfitting(), { maxEpochs: 60 })] }, 'addEpochs', { maxEpochs: 100 }, /maxEpochs 60 → 100/],
    ['validation-loss minimum at 27 of 100 → trimEpochs 27', { runs: [run(1, 'baseline', CURVES.minAt27())] }, 'trimEpochs', { maxEpochs: 27 }, /validation loss 0.312 at epoch 27 rose to 0.531 by epoch 100 \(\+70%\); maxEpochs 100 → 27/],
    ['after trimming, small gap at epoch 27 → capacity: widen ×2', { stage: 'trimEpochs', runs: [run(1, 'baseline', CURVES.minAt27())], tried: ['trimEpochs'] }, 'widen', { factor: 2 }, /gap 0.0555 ≤ 0.1.*filters 20 → 40/],
    ['after trimming, large gap at epoch 27 → dropout', { stage: 'trimEpochs', runs: [run(1, 'baseline', CURVES.minAt27(1.2))], tried: ['trimEpochs'] }, 'addDropout', { rate: 0.2 }, /at epoch 27 of run 1: gap 0.\d+ > 0.1/],
    ['a 15-point gap → dropout 0.2', { runs: [run(1, 'baseline', CURVES.gap())] }, 'addDropout', { rate: 0.2 }, /training accuracy 0.97 vs validation 0.82 at epoch 30 of run 1: gap 0.15 > 0.1; add dropout, rate 0.2/],
    ['gap, dropout tried → L2 ×10', { stage: 'regularise', runs: [run(1, 'baseline', CURVES.gap())], tried: ['addDropout'] }, 'addL2', { l2Regularization: 0.001 }, /l2Regularization 0.0001 → 0.001/],
    ['gap, dropout and L2 tried → piecewise schedule', { stage: 'regularise', runs: [run(1, 'baseline', CURVES.gap())], tried: ['addDropout', 'addL2'] }, 'addLearnRateSchedule', { learnRateSchedule: 'piecewise', learnRateDropFactor: 0.1, learnRateDropPeriod: 10 }, /×0.1 every 10 epochs of 30/],
    ['gap, all regularisers tried → widen', { stage: 'regularise', runs: [run(1, 'baseline', CURVES.gap())], tried: ['addDropout', 'addL2', 'addLearnRateSchedule'] }, 'widen', { factor: 2 }, /dropout, L2 and the schedule are tried/],
    ['converged at baseline → widen', { runs: [run(1, 'baseline', CURVES.converged())] }, 'widen', { factor: 2 }, /gap 0.0487 ≤ 0.1: no overfitting to treat; run 1 \(converged\): best validation loss 0.3 at epoch 30, validation accuracy 0.86; widen ×2 \(filters 20 → 40\)/],
    ['capacity, widen tried → deepen with 40 filters', { stage: 'capacity', runs: [run(1, 'baseline', CURVES.converged())], tried: ['widen'] }, 'deepen', { filters: 40 }, /block of 40 filters after the last convolution of 20/],
    ['capacity, widen and deepen tried → 5×5 filters', { stage: 'capacity', runs: [run(1, 'baseline', CURVES.converged())], tried: ['widen', 'deepen'] }, 'changeFilterSize', { kernelSize: 5 }, /filter size 3×3 → 5×5/],
    ['capacity, all tried → stop', { stage: 'capacity', runs: [run(1, 'baseline', CURVES.converged())], tried: ['widen', 'deepen', 'changeFilterSize'] }, 'stop', {}, /every flowchart step is done \(tried: widen, deepen, changeFilterSize\); keep run 1 \(converged\): best validation loss 0.3/],
    ['no runs left → stop', { runs: [run(1, 'baseline', CURVES.diverged())], runsLeft: 0 }, 'stop', {}, /budget spent: no runs left after 1/],
    ['finalise → stop', { stage: 'finalise', runs: [run(1, 'baseline', CURVES.converged())] }, 'stop', {}, /finalising; run 1 \(converged\)/],
    ['diverging at the floor rate → stop', { runs: [run(1, 'baseline', CURVES.diverged(), { initialLearnRate: 1e-7 })] }, 'stop', {}, /learn rate 1e-7 cannot usefully go lower/],
  ])('%s', (_name, ctx, action, params, reason) => {
    const d = decide(flowchart, context(ctx));
    expect(d.action).toBe(action);
    expect(d.params).toEqual(params);
    expect(d.reason).toMatch(reason);
  });
});

describe('flowchart: stages and tried remedies', () => {
  test.each([
    // seconds of search left (the run took 10 s), expected action
    [Infinity, 'widen'],
    [31, 'widen'], // widen ≈ 3 × 10 s fits
    [29, 'deepen'], // widen does not, deepen (≈ 2 × 10 s) does
    [27, 'deepen'],
    [19, 'stop'], // nothing fits
  ] as const)('capacity with %s s of search left → %s (candidates that cannot fit are skipped)', (secondsLeft, action) => {
    const d = decide(flowchart, context({ stage: 'capacity', runs: [run(1, 'baseline', CURVES.converged())], secondsLeft }));
    expect(d.action).toBe(action);
    if (action !== 'widen') expect(d.reason).toMatch(/widen skipped: about 30 s \(3× run 1's 10 s\) would not fit/);
  });

  test('a candidate that diverged in capacity is reverted: no jump back to stabilise, next remedy', () => {
    const runs = [run(1, 'baseline', CURVES.converged()), run(2, 'capacity', CURVES.diverged())];
    const d = decide(flowchart, context({ stage: 'capacity', runs, incumbent: 1, tried: ['widen'] }));
    expect(d.action).toBe('deepen');
    expect(d.reason).toMatch(/^run 2 \(learn rate 0.01\) diverged and was reverted/);
  });

  test('a regularise candidate that did no better is reverted; the next remedy follows', () => {
    const runs = [run(1, 'baseline', CURVES.gap()), run(2, 'regularise', CURVES.gap(0.2))];
    const d = decide(flowchart, context({ stage: 'regularise', runs, incumbent: 1, tried: ['addDropout'] }));
    expect(d.action).toBe('addL2');
    expect(d.reason).toMatch(/^run 2 \(best validation loss 0.45\) did not beat run 1 \(0.45\) and was reverted/);
  });

  test('in regularise, a kept candidate that overfits after its minimum is not trimmed (no going back)', () => {
    const runs = [run(1, 'baseline', CURVES.gap()), run(2, 'regularise', CURVES.minAt27())];
    const d = decide(flowchart, context({ stage: 'regularise', runs, incumbent: 2, tried: ['addDropout'] }));
    expect(d.action).not.toBe('trimEpochs');
  });

  test('trimEpochs is not repeated once tried', () => {
    const d = decide(flowchart, context({ stage: 'trimEpochs', runs: [run(1, 'baseline', CURVES.minAt27())], tried: ['trimEpochs'] }));
    expect(d.action).not.toBe('trimEpochs');
  });

  test('epochs stop being added when the last addition gained under 1%', () => {
    const runs = [run(1, 'baseline', CURVES.underfitting()), run(2, 'trainEnough', CURVES.underfitting(0.995), { maxEpochs: 20 })];
    const d = decide(flowchart, context({ stage: 'trainEnough', runs }));
    expect(d.action).toBe('widen');
    expect(d.reason).toMatch(/adding epochs moved the best validation loss only −0.5% \(0.37 → 0.368 in run 2; needs −1%\), so no more epochs/);
  });

  test('epochs keep being added while the gain is 1% or more', () => {
    const runs = [run(1, 'baseline', CURVES.underfitting()), run(2, 'trainEnough', CURVES.underfitting(0.9), { maxEpochs: 20 })];
    const d = decide(flowchart, context({ stage: 'trainEnough', runs }));
    expect(d).toMatchObject({ action: 'addEpochs', params: { maxEpochs: 40 } });
  });

  test('a continuation that was reverted ends adding epochs', () => {
    const runs = [run(1, 'baseline', CURVES.underfitting()), run(2, 'trainEnough', CURVES.underfitting(1.1), { maxEpochs: 20 })];
    const d = decide(flowchart, context({ stage: 'trainEnough', runs, incumbent: 1 }));
    expect(d.action).not.toBe('addEpochs');
    expect(d.reason).toMatch(/^run 2 \(best validation loss 0.407\) did not beat run 1 \(0.37\) and was reverted; the added epochs of run 2 did not help, so no more epochs/);
  });

  test('after three lowerings the reason names gradient clipping (no clipping action)', () => {
    const runs = [0.1, 0.01, 0.001, 0.0001].map((lr, i) => run(i + 1, i === 0 ? 'baseline' : 'stabilise', CURVES.diverged(), { initialLearnRate: lr }));
    const d = decide(flowchart, context({ stage: 'stabilise', runs, incumbent: 1 }));
    expect(d).toMatchObject({ action: 'lowerLearnRate', params: { initialLearnRate: 0.00001 } });
    expect(d.reason).toMatch(/lowered 3 times already: .*gradient clipping \(gradientThreshold 1\)/);
  });

  test('default export and named export are the same policy', () => {
    expect(flowchartDefault).toBe(flowchart);
    expect(exampleDefault).toBe(example);
    expect(randomDefault).toBe(random);
    expect(FLOWCHART_SETTINGS.maxEpochsCap).toBe(100);
  });
});

// ───────────── the example ─────────────

describe('example: different thresholds and remedy order than the flowchart', () => {
  test.each<[string, Ctx, ActionName, ActionName]>([
    ['an 8-point gap: tolerated by the flowchart (10%), not by the example (5%)', { runs: [run(1, 'baseline', CURVES.gap(0.08))] }, 'widen', 'addLearnRateSchedule'],
    ['a 15-point gap: flowchart dropout first, example schedule first', { runs: [run(1, 'baseline', CURVES.gap())] }, 'addDropout', 'addLearnRateSchedule'],
    ['regularise after the first remedy: flowchart L2 after dropout, example L2 after schedule', { stage: 'regularise', runs: [run(1, 'baseline', CURVES.gap())], tried: ['addDropout', 'addLearnRateSchedule'] }, 'addL2', 'addL2'],
    ['gap after schedule and L2: flowchart schedule, example dropout', { stage: 'regularise', runs: [run(1, 'baseline', CURVES.gap())], tried: ['addLearnRateSchedule', 'addL2'] }, 'addDropout', 'addDropout'],
    ['converged: flowchart widens, example deepens', { runs: [run(1, 'baseline', CURVES.converged())] }, 'widen', 'deepen'],
    ['too slow: flowchart raises the rate, example adds epochs', { runs: [run(1, 'baseline', CURVES.tooSlow(), { initialLearnRate: 0.0001 })] }, 'raiseLearnRate', 'addEpochs'],
  ])('%s', (_name, ctx, flowchartAction, exampleAction) => {
    const runs = ctx.runs;
    const exampleRuns = runs.map((r) => ({ ...r, diagnosis: diagnoseRun(r.curve, example.thresholds) }));
    expect(decide(flowchart, context(ctx)).action).toBe(flowchartAction);
    expect(decide(example, context({ ...ctx, runs: exampleRuns })).action).toBe(exampleAction);
  });

  test('the example diverges like the flowchart: lower by ten', () => {
    expect(decide(example, context({ runs: [run(1, 'baseline', CURVES.diverged(), { initialLearnRate: 0.01 })] }))).toMatchObject({ action: 'lowerLearnRate', params: { initialLearnRate: 0.001 } });
  });

  test('the example stops when everything is tried', () => {
    const tried: ActionName[] = ['addLearnRateSchedule', 'addL2', 'addDropout', 'deepen', 'widen'];
    expect(decide(example, context({ stage: 'capacity', runs: [run(1, 'baseline', CURVES.gap())], tried })).action).toBe('stop');
  });
});

// ───────────── random search ─────────────

function randomSequence(seed: number, steps = 12): Decision[] {
  const random = seededRandom(seed);
  const runs = [run(1, 'baseline', CURVES.converged())];
  return Array.from({ length: steps }, () => decide(randomDefault, { ...context({ runs, stage: 'baseline' }), random }));
}

describe('random search', () => {
  test('deterministic for a seeded random', () => {
    expect(randomSequence(7)).toEqual(randomSequence(7));
  });

  test('varies with the seed', () => {
    expect(randomSequence(7)).not.toEqual(randomSequence(8));
  });

  test('its reasons say "random search: sampled …"', () => {
    for (const d of randomSequence(3)) expect(d.reason).toMatch(/^random search: sampled /);
  });

  test('over many seeds it samples every knob, ignoring the flowchart order', () => {
    const actions = new Set(Array.from({ length: 40 }, (_, seed) => randomSequence(seed, 5).map((d) => d.action)).flat());
    expect([...actions].sort()).toEqual(
      ['addDropout', 'addEpochs', 'addL2', 'addLearnRateSchedule', 'changeFilterSize', 'deepen', 'lowerLearnRate', 'raiseLearnRate', 'trimEpochs', 'widen'].sort(),
    );
  });

  test('stops when the budget is spent', () => {
    expect(decide(random, context({ runs: [run(1, 'baseline', CURVES.converged())], runsLeft: 0 }))).toMatchObject({ action: 'stop' });
  });

  test(`with no budget it stops after ${MAX_RANDOM_RUNS} runs`, () => {
    const runs = range(MAX_RANDOM_RUNS, (id) => run(id, 'capacity', CURVES.converged()));
    const d = decide(random, context({ runs, runsLeft: Infinity }));
    expect(d.action).toBe('stop');
    expect(d.reason).toMatch(new RegExp(`${MAX_RANDOM_RUNS} runs`));
  });

  test('does not deepen a network already pooled down to 3×3', () => {
    let network = defaultNetwork();
    const block = network.layers.slice(0, 4);
    network = { ...network, layers: [...block, ...block.map((l) => ({ ...l })), ...block.map((l) => ({ ...l })), network.layers[4]] };
    const runs = [run(1, 'baseline', CURVES.converged(), {}, network)];
    for (let seed = 0; seed < 30; seed++) expect(decide(random, context({ runs, seed })).action).not.toBe('deepen');
  });
});
