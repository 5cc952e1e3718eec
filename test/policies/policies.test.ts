import { describe, expect, test } from 'vitest';
import { diagnoseRun, resolveThresholds, seededRandom } from '../../src/diagnosis/index.ts';
import { decisionProblem, type ActionName, type Decision } from '../../src/actions.ts';
import { allowedActions, evidenceOf, nextStep, type RailState } from '../../src/machine/rails.ts';
import { deepen, defaultNetwork } from '../../src/config/network.ts';
import { DEFAULT_OPTIONS } from '../../src/config/options.ts';
import flowchartDefault, { FLOWCHART_SETTINGS, policy as flowchart } from '../../policies/flowchart.ts';
import exampleDefault, { policy as example } from '../../policies/example.ts';
import randomDefault, { MAX_RANDOM_RUNS, policy as random } from '../../policies/random.ts';
import noSearchDefault, { policy as noSearch } from '../../policies/no-search.ts';
import type { DiagnosisThresholds, Judgement, NetworkSpec, Policy, PolicyContext, RunSummary, Stage, TrainingCurve, TrainingOptions } from '../../src/types.ts';

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
  /** Validation loss still falling beyond its noise: 0.44 → 0.37 over epochs 6–10. */
  underfitting: (scale = 1) =>
    curve({
      loss: [0.85, 0.62, 0.5, 0.43, 0.38, 0.35, 0.32, 0.3, 0.29, 0.28],
      acc: [0.7, 0.78, 0.82, 0.84, 0.86, 0.87, 0.88, 0.88, 0.89, 0.89],
      valLoss: [0.9, 0.7, 0.6, 0.52, 0.47, 0.44, 0.41, 0.39, 0.38, 0.37].map((v) => v * scale),
      valAcc: [0.68, 0.75, 0.79, 0.82, 0.84, 0.85, 0.86, 0.86, 0.87, 0.87],
    }),
  /** Validation loss lowest at epoch 27 of 100 (smoothed minimum: epoch 28), then rising; `gap` lowers validation accuracy. */
  minAt27: (gap = 0) =>
    curve({
      loss: range(100, (e) => Math.exp(-e / 20) + 0.02),
      acc: range(100, (e) => 0.7 + 0.29 * (1 - Math.exp(-e / 15))),
      valLoss: range(100, (e) => (e <= 27 ? 0.312 + (27 - e) * 0.02 : 0.312 + (e - 27) * 0.003)),
      valAcc: range(100, (e) => 0.7 + (0.2 - gap) * (1 - Math.exp(-e / 10))),
    }),
  /** Flat validation loss and a train − validation accuracy gap of `gap` at epoch 30. */
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
      valLoss: range(30, (e) => 0.3 + 0.4 * Math.exp(-e / 3)),
      valAcc: range(30, (e) => 0.86 - 0.15 * Math.exp(-e / 3)),
    }),
  oneEpoch: () => curve({ loss: [0.9], acc: [0.7], valLoss: [0.8], valAcc: [0.72] }),
  allNaN: () => curve({ loss: [NaN, NaN, NaN], acc: [NaN, NaN, NaN], valLoss: [NaN, NaN, NaN], valAcc: [NaN, NaN, NaN] }, { iteration: 1, epoch: 1, what: 'loss' }),
};

interface RunExtras {
  options?: Partial<TrainingOptions>;
  network?: NetworkSpec;
  change?: Decision | null;
  judgement?: Judgement | null;
  thresholds?: Partial<DiagnosisThresholds>;
}

function run(id: number, stage: Stage, c: TrainingCurve, extras: RunExtras = {}): RunSummary {
  const diagnosis = diagnoseRun(c, extras.thresholds);
  const vals = c.epochs.filter((e) => typeof e.valLoss === 'number' && Number.isFinite(e.valLoss));
  const best = vals.reduce<(typeof vals)[number] | null>((b, e) => (b === null || (e.valLoss as number) < (b.valLoss as number) ? e : b), null);
  const accs = c.epochs.map((e) => e.valAccuracy).filter((a): a is number => typeof a === 'number' && Number.isFinite(a));
  return {
    id,
    stage,
    network: extras.network ?? defaultNetwork(),
    options: { ...DEFAULT_OPTIONS, maxEpochs: c.epochs.length || 1, ...extras.options },
    fidelity: { trainImages: 3000, validationImages: 1000, kind: 'subset' },
    curve: c,
    diagnosis,
    bestValLoss: best ? (best.valLoss as number) : null,
    bestValAccuracy: accs.length ? Math.max(...accs) : null,
    bestEpoch: best ? best.epoch : null,
    seconds: 10,
    change: extras.change ?? null,
    judgement: extras.judgement ?? null,
  };
}

/** A made-up verdict (the numbers of a paired comparison are not what these tests are about). */
const judgement = (against: number, kept: boolean, summary: string): Judgement => ({
  against,
  images: 10_000,
  pooled: [],
  candidate: { loss: 0.36, accuracy: 0.87 },
  incumbent: { loss: 0.35, accuracy: 0.875 },
  lossDiff: 0.01,
  lossSE: 0.004,
  accuracyDiff: -0.005,
  accuracySE: 0.003,
  z: -2.5,
  margin: 2,
  imagesPerSecond: { candidate: 1000, incumbent: 1000 },
  outcome: kept ? 'better' : 'worse',
  kept,
  close: false,
  summary,
});

interface Ctx {
  runs: RunSummary[];
  /** The standing run (default: the last). */
  incumbent?: number;
  /** A diverged candidate the machine asks to fix first (`subjectRun`). */
  subject?: number;
  /** The step the study was in; the step asked about follows from the evidence (the machine's route). */
  after?: Stage;
  /** Actions tried since the standing configuration was last replaced (and over the study). */
  tried?: ActionName[];
  trimmed?: boolean;
  epochsExhausted?: boolean;
  /** The standing options, when they differ from the incumbent's (after trimEpochs). */
  standing?: Partial<TrainingOptions>;
  runsLeft?: number;
  secondsLeft?: number;
  seed?: number;
  refused?: PolicyContext['refused'];
  thresholds?: Partial<DiagnosisThresholds>;
}

/** What the machine's rails would say after these runs: the step and the actions it allows. */
function railsOf(ctx: Ctx): RailState {
  const last = ctx.runs[ctx.runs.length - 1];
  const incumbent = ctx.runs.find((r) => r.id === (ctx.incumbent ?? last.id))!;
  const t = resolveThresholds(ctx.thresholds);
  const { bestEpoch: _bestEpoch, ...standing } = evidenceOf(incumbent.curve, incumbent.diagnosis, t);
  const candidate = ctx.subject === undefined ? null : ctx.runs.find((r) => r.id === ctx.subject)!;
  const state = {
    standing,
    subject: candidate
      ? { runId: candidate.id, isStanding: false, unstable: evidenceOf(candidate.curve, candidate.diagnosis, t).unstable }
      : { runId: incumbent.id, isStanding: true, unstable: standing.unstable },
    triedAtStanding: ctx.tried ?? [],
    trimmed: ctx.trimmed ?? false,
    epochsExhausted: ctx.epochsExhausted ?? false,
  };
  return { ...state, step: nextStep({ ...state, step: ctx.after ?? 'baseline' }) };
}

function context(ctx: Ctx): PolicyContext {
  const last = ctx.runs[ctx.runs.length - 1];
  const incumbent = ctx.runs.find((r) => r.id === (ctx.incumbent ?? last.id))!;
  const rails = railsOf(ctx);
  return {
    stage: rails.step,
    allowed: allowedActions(rails),
    refused: ctx.refused ?? [],
    subjectRun: ctx.subject ?? null,
    standing: { network: incumbent.network, options: { ...incumbent.options, ...ctx.standing } },
    last,
    incumbent,
    runs: ctx.runs,
    tried: ctx.tried ?? [],
    budget: { runsLeft: ctx.runsLeft ?? 20, secondsLeft: ctx.secondsLeft ?? Infinity },
    random: seededRandom(ctx.seed ?? 1),
  };
}

/** Asks the policy, and checks what every decision must be: valid, allowed here, and quoting numbers. */
function decide(policy: Policy, ctx: PolicyContext): Decision {
  const d = policy.decide(ctx);
  expect(decisionProblem(d), JSON.stringify(d)).toBeNull();
  expect(ctx.allowed, `${policy.name} chose ${d.action} at step ${ctx.stage}`).toContain(d.action);
  expect(d.reason).toMatch(/\d/); // every reason quotes numbers
  return d;
}

// ───────────── the rails give each step its actions ─────────────

describe('the contexts are the machine\u2019s: step and allowed actions from the rails', () => {
  test.each<[string, Ctx, Stage, ActionName[]]>([
    ['a diverged baseline: stabilise, lowering or clipping only', { runs: [run(1, 'baseline', CURVES.diverged())] }, 'stabilise', ['lowerLearnRate', 'clipGradients', 'stop']],
    ['a diverged candidate: stabilise it, or give it up', { runs: [run(1, 'baseline', CURVES.converged()), run(2, 'capacity', CURVES.diverged())], incumbent: 1, subject: 2, after: 'capacity' }, 'stabilise', ['lowerLearnRate', 'clipGradients', 'revert', 'stop']],
    ['too slow', { runs: [run(1, 'baseline', CURVES.tooSlow(), { options: { initialLearnRate: 0.0001 } })] }, 'stabilise', ['lowerLearnRate', 'raiseLearnRate', 'clipGradients', 'addEpochs', 'changeSolver', 'stop']],
    ['still falling', { runs: [run(1, 'baseline', CURVES.underfitting())] }, 'trainEnough', ['addEpochs', 'changeSolver', 'stop']],
    ['rising after its minimum', { runs: [run(1, 'baseline', CURVES.minAt27())] }, 'trimEpochs', ['trimEpochs', 'stop']],
    ['a gap', { runs: [run(1, 'baseline', CURVES.gap())] }, 'regularise', ['addDropout', 'addL2', 'addLearnRateSchedule', 'stop']],
    ['converged', { runs: [run(1, 'baseline', CURVES.converged())] }, 'capacity', ['widen', 'deepen', 'changeFilterSize', 'stop']],
  ])('%s', (_name, ctx, step, allowed) => {
    const c = context(ctx);
    expect(c.stage).toBe(step);
    expect(c.allowed).toEqual(allowed);
  });
});

// ───────────── the flowchart ─────────────

describe('flowchart: the flowchart\u2019s action and params for each diagnosis and step', () => {
  const diverged = (lr: number) => run(1, 'baseline', CURVES.diverged(), { options: { initialLearnRate: lr } });
  const lowered = (id: number, lr: number, c = CURVES.diverged()) => run(id, 'stabilise', c, { options: { initialLearnRate: lr }, change: { action: 'lowerLearnRate', params: { initialLearnRate: lr }, reason: `diverged at ${lr * 10}` } });
  test.each<[string, Ctx, ActionName, Decision['params'], RegExp]>([
    ['diverged at 0.01 (baseline) → lower to 0.001', { runs: [diverged(0.01)] }, 'lowerLearnRate', { initialLearnRate: 0.001 }, /^diverged in run 1: training loss became non-finite \(NaN\/Infinity\) at iteration 37 \(epoch 3\).*; initialLearnRate 0.01 → 0.001 \(step 1: lower the rate by a power of ten\)$/],
    ['circling at 0.1 → lower to 0.01', { runs: [run(1, 'baseline', CURVES.oscillating(), { options: { initialLearnRate: 0.1 } })] }, 'lowerLearnRate', { initialLearnRate: 0.01 }, /^oscillating in run 1: circling without converging.*0.1 → 0.01/],
    ['a lowered baseline that still diverges → lower again from its own rate (the baseline has nothing stable to go back to)', { runs: [diverged(0.01), lowered(2, 0.001)], incumbent: 1, subject: 2 }, 'lowerLearnRate', { initialLearnRate: 0.0001 }, /^diverged in run 2: .*initialLearnRate 0.001 → 0.0001/],
    ['a capacity candidate that diverged → lower its rate first', { runs: [run(1, 'baseline', CURVES.converged()), run(2, 'capacity', CURVES.diverged(), { change: { action: 'widen', params: { factor: 2 }, reason: 'widen ×2' } })], incumbent: 1, subject: 2, after: 'capacity' }, 'lowerLearnRate', { initialLearnRate: 0.001 }, /^diverged in run 2: .*0.01 → 0.001/],
    ['a capacity candidate still diverging after one lowering → give it up', { runs: [run(1, 'baseline', CURVES.converged()), lowered(3, 0.001)], incumbent: 1, subject: 3, after: 'capacity' }, 'revert', {}, /run 3 diverged again after lowering its rate: give the candidate up, run 1 stands/],
    ['a raise that diverged → give it up (lowering it would retrain the standing rate)', { runs: [run(1, 'baseline', CURVES.tooSlow(), { options: { initialLearnRate: 0.0001 } }), run(2, 'stabilise', CURVES.diverged(), { options: { initialLearnRate: 0.001 }, change: { action: 'raiseLearnRate', params: { initialLearnRate: 0.001 }, reason: 'slow at 0.0001' } })], incumbent: 1, subject: 2 }, 'revert', {}, /run 2 diverged at the raised rate 0.001: give it up, run 1 \(learn rate 0.0001\) stands$/],
    ['diverging at the floor rate → clip gradients', { runs: [diverged(1e-7)] }, 'clipGradients', { gradientThreshold: 1 }, /learn rate 1e-7 is at the floor: clip gradients at 1/],
    ['diverging at the floor rate with clipping → stop', { runs: [run(1, 'baseline', CURVES.diverged(), { options: { initialLearnRate: 1e-7, gradientThreshold: 1 } })] }, 'stop', {}, /learn rate 1e-7 cannot usefully go lower and clipping is tried/],
    ['too slow at 0.0001 → raise to 0.001', { runs: [run(1, 'baseline', CURVES.tooSlow(), { options: { initialLearnRate: 0.0001 } })] }, 'raiseLearnRate', { initialLearnRate: 0.001 }, /^tooSlow: stable but slow: validation loss fell 25%.*initialLearnRate 0.0001 → 0.001 \(step 1: raise the rate by a power of ten\)$/],
    ['too slow, the raise to 0.001 diverged and was given up → keep 0.0001, more epochs', {
      runs: [run(1, 'baseline', CURVES.tooSlow(), { options: { initialLearnRate: 0.0001 } }), run(2, 'stabilise', CURVES.diverged(), { options: { initialLearnRate: 0.001 } })],
      incumbent: 1,
    }, 'addEpochs', { maxEpochs: 40 }, /^learn rate 0.001 diverged in run 2, so 0.0001 is the largest stable power of ten; .*maxEpochs 20 → 40 \(step 2: train enough; continues run 1's checkpoint\)$/],
    ['too slow, the raise did no better → keep the rate, more epochs', {
      runs: [run(1, 'baseline', CURVES.tooSlow(), { options: { initialLearnRate: 0.0001 } }), run(2, 'stabilise', CURVES.underfitting(2.5), { options: { initialLearnRate: 0.001 }, judgement: judgement(1, false, 'worse beyond the 2 SE margin: validation loss 0.75 → 0.925') })],
      incumbent: 1,
    }, 'addEpochs', { maxEpochs: 40 }, /^learn rate 0.001 \(run 2\) did not beat 0.0001: worse beyond the 2 SE margin: validation loss 0.75 → 0.925; /],
    ['still falling at epoch 10 of 10 → maxEpochs 20', { runs: [run(1, 'baseline', CURVES.underfitting())] }, 'addEpochs', { maxEpochs: 20 }, /^underfitting: validation loss still falling: fit over epochs 6–10: 0.432 → 0.364 \(−17%\).*; maxEpochs 10 → 20 \(step 2: train enough/],
    ['still falling at 60 → capped at 100', { runs: [run(1, 'baseline', CURVES.underfitting(), { options: { maxEpochs: 60 } })] }, 'addEpochs', { maxEpochs: 100 }, /maxEpochs 60 → 100/],
    ['still falling, but more epochs did not help (epochs exhausted) → capacity: deepen', { runs: [run(1, 'baseline', CURVES.underfitting())], epochsExhausted: true }, 'deepen', { filters: 40 }, /^run 1 \(underfitting; best validation loss 0.37\); deepen: a block of 40 filters/],
    ['validation-loss minimum at 27 of 100 → trimEpochs at the smoothed minimum, 28', { runs: [run(1, 'baseline', CURVES.minAt27())] }, 'trimEpochs', { maxEpochs: 28 }, /^validation loss lowest at epoch 28 \(smoothed 0.315\) and rising to 0.531 by epoch 100 .*; maxEpochs 100 → 28 \(step 3: stop at the right time\)$/],
    ['after trimming, a small gap at epoch 28 → capacity: deepen', { runs: [run(1, 'baseline', CURVES.minAt27())], trimmed: true, after: 'trimEpochs', standing: { maxEpochs: 28 } }, 'deepen', { filters: 40 }, /^run 1 \(overfitting; best validation loss 0.312\); deepen: a block of 40 filters after the last convolution of 20/],
    ['after trimming, a large gap at epoch 28 → dropout', { runs: [run(1, 'baseline', CURVES.minAt27(0.15))], trimmed: true, after: 'trimEpochs', standing: { maxEpochs: 28 } }, 'addDropout', { rate: 0.2 }, /^training accuracy 0.945 vs validation 0.747 at epoch 28 of run 1: gap 0.198 > 0.1; add dropout, rate 0.2/],
    ['a 15-point gap → dropout 0.2', { runs: [run(1, 'baseline', CURVES.gap())] }, 'addDropout', { rate: 0.2 }, /^training accuracy 0.97 vs validation 0.82 at epoch 30 of run 1: gap 0.15 > 0.1; add dropout, rate 0.2, before the classifier \(step 4: regularise\)$/],
    ['gap, dropout tried → L2 ×10', { runs: [run(1, 'baseline', CURVES.gap())], tried: ['addDropout'], after: 'regularise' }, 'addL2', { l2Regularization: 0.001 }, /l2Regularization 0.0001 → 0.001 \(step 4: regularise; dropout tried\)/],
    ['gap, dropout and L2 tried → piecewise schedule', { runs: [run(1, 'baseline', CURVES.gap())], tried: ['addDropout', 'addL2'], after: 'regularise' }, 'addLearnRateSchedule', { learnRateDropFactor: 0.1, learnRateDropPeriod: 15 }, /piecewise drop ×0.1 at half of 30 epochs/],
    ['gap, all regularisers tried → capacity: deepen', { runs: [run(1, 'baseline', CURVES.gap())], tried: ['addDropout', 'addL2', 'addLearnRateSchedule'], after: 'regularise' }, 'deepen', { filters: 40 }, /step 5: capacity/],
    ['converged at baseline → deepen first', { runs: [run(1, 'baseline', CURVES.converged())] }, 'deepen', { filters: 40 }, /^run 1 \(converged; best validation loss 0.3\); deepen: a block of 40 filters after the last convolution of 20 \(step 5: capacity; "more filters than 20, not the same 20"\)$/],
    ['capacity, a kept deepen → deepen again (80 filters)', {
      runs: [run(1, 'baseline', CURVES.converged()), run(2, 'capacity', CURVES.converged(), { network: deepen(defaultNetwork(), { filters: 40 }), change: { action: 'deepen', params: { filters: 40 }, reason: 'deepen 40' } })],
      tried: ['deepen'],
      after: 'capacity',
    }, 'deepen', { filters: 80 }, /a block of 80 filters after the last convolution of 40/],
    ['capacity, deepen tried and reverted → widen ×2', { runs: [run(1, 'baseline', CURVES.converged())], tried: ['deepen'], after: 'capacity' }, 'widen', { factor: 2 }, /widen ×2 \(filters 20 → 40\) \(step 5: capacity\)/],
    ['capacity, deepen and widen tried → 5×5 filters', { runs: [run(1, 'baseline', CURVES.converged())], tried: ['deepen', 'widen'], after: 'capacity' }, 'changeFilterSize', { kernelSize: 5 }, /filter size 3×3 → 5×5/],
    ['capacity, all tried → stop', { runs: [run(1, 'baseline', CURVES.converged())], tried: ['deepen', 'widen', 'changeFilterSize'], after: 'capacity' }, 'stop', {}, /every flowchart step is done or unaffordable \(tried: deepen, widen, changeFilterSize\); keep run 1 \(converged; best validation loss 0.3\)/],
    ['no runs left → stop', { runs: [diverged(0.01)], runsLeft: 0 }, 'stop', {}, /^budget spent \(no runs left\); keep run 1/],
    ['no search time left → stop', { runs: [run(1, 'baseline', CURVES.converged())], secondsLeft: 0 }, 'stop', {}, /^budget spent \(no search time left\)/],
  ])('%s', (_name, ctx, action, params, reason) => {
    const d = decide(flowchart, context(ctx));
    expect(d.action).toBe(action);
    expect(d.params).toEqual(params);
    expect(d.reason).toMatch(reason);
  });
});

describe('flowchart: the machine prices each candidate; the policy moves on from what it refused', () => {
  // The machine estimates each candidate's cost (a speed probe of a new network, the final run it
  // would need) and refuses what the budget cannot pay for; the policy does not ask for it again.
  const refused = (...actions: ActionName[]): PolicyContext['refused'] =>
    actions.map((action) => ({ decision: { action, params: {}, reason: 'x' } as Decision, reason: `its run would take about 200 s, more than the 100 s of search time left (budgetLeft)` }));
  test.each<[ActionName[], ActionName, RegExp | null]>([
    [[], 'deepen', null],
    [['deepen'], 'widen', /^deepen refused: its run would take about 200 s/],
    [['deepen', 'widen'], 'changeFilterSize', /widen refused/],
    [['deepen', 'widen', 'changeFilterSize'], 'stop', /changeFilterSize refused: .*every flowchart step is done or unaffordable/],
  ])('refused %s → %s', (gone, action, reason) => {
    const d = decide(flowchart, context({ runs: [run(1, 'baseline', CURVES.converged())], refused: refused(...gone) }));
    expect(d.action).toBe(action);
    if (reason) expect(d.reason).toMatch(reason);
  });

  test('more epochs refused for the budget: nothing else is allowed while still improving, so stop', () => {
    const runs = [run(1, 'baseline', CURVES.underfitting())];
    expect(decide(flowchart, context({ runs })).action).toBe('addEpochs');
    const d = decide(flowchart, context({ runs, refused: refused('addEpochs') }));
    expect(d.action).toBe('stop');
    expect(d.reason).toMatch(/addEpochs refused: its run would take about 200 s/);
  });
});

describe('flowchart: verdicts, refusals and what was tried', () => {
  test('a regularise candidate that did not hold up: the next remedy, quoting its verdict', () => {
    const runs = [run(1, 'baseline', CURVES.gap()), run(2, 'regularise', CURVES.gap(0.2), { judgement: judgement(1, false, 'worse beyond the 2 SE margin: validation loss 0.45 → 0.46') })];
    const d = decide(flowchart, context({ runs, incumbent: 1, tried: ['addDropout'], after: 'regularise' }));
    expect(d.action).toBe('addL2');
    expect(d.reason).toMatch(/^run 2 did not hold up: worse beyond the 2 SE margin: validation loss 0.45 → 0.46; training accuracy/);
  });

  test('trimEpochs is not repeated once maxEpochs is trimmed', () => {
    const c = context({ runs: [run(1, 'baseline', CURVES.minAt27())], trimmed: true, after: 'trimEpochs', standing: { maxEpochs: 28 } });
    expect(c.allowed).not.toContain('trimEpochs');
    expect(decide(flowchart, c).action).not.toBe('trimEpochs');
  });

  test('in regularise, a kept candidate whose validation loss rises after its minimum is trimmed before more remedies', () => {
    const runs = [run(1, 'baseline', CURVES.gap()), run(2, 'regularise', CURVES.minAt27(0.15))];
    const c = context({ runs, incumbent: 2, tried: [], after: 'regularise' });
    expect(c.stage).toBe('regularise');
    expect(c.allowed).toEqual(['trimEpochs', 'stop']);
    expect(decide(flowchart, c)).toMatchObject({ action: 'trimEpochs', params: { maxEpochs: 28 } });
  });

  test('after three lowerings the reason says clipping comes next', () => {
    const runs = [run(1, 'baseline', CURVES.diverged(), { options: { initialLearnRate: 0.1 } }), ...[0.01, 0.001, 0.0001].map((lr, i) => run(i + 2, 'stabilise', CURVES.diverged(), { options: { initialLearnRate: lr }, change: { action: 'lowerLearnRate', params: { initialLearnRate: lr }, reason: 'diverged' } }))];
    const d = decide(flowchart, context({ runs, incumbent: 1, subject: 4 }));
    expect(d).toMatchObject({ action: 'lowerLearnRate', params: { initialLearnRate: 0.00001 } });
    expect(d.reason).toMatch(/lowered 3 times already; clipping comes next at the floor/);
  });

  test('default export and named export are the same policy', () => {
    expect(flowchartDefault).toBe(flowchart);
    expect(exampleDefault).toBe(example);
    expect(randomDefault).toBe(random);
    expect(noSearchDefault).toBe(noSearch);
    expect(FLOWCHART_SETTINGS.maxEpochsCap).toBe(100);
  });
});

// ───────────── the example ─────────────

describe('example: different thresholds and remedy order than the flowchart', () => {
  test.each<[string, Ctx, ActionName, ActionName]>([
    ['an 8-point gap: tolerated by the flowchart (10%), not by the example (5%)', { runs: [run(1, 'baseline', CURVES.gap(0.08))] }, 'deepen', 'addLearnRateSchedule'],
    ['a 15-point gap: flowchart dropout first, example schedule first', { runs: [run(1, 'baseline', CURVES.gap())] }, 'addDropout', 'addLearnRateSchedule'],
    ['regularise after two remedies: L2 for both', { runs: [run(1, 'baseline', CURVES.gap())], tried: ['addDropout', 'addLearnRateSchedule'], after: 'regularise' }, 'addL2', 'addL2'],
    ['gap after schedule and L2: dropout for both', { runs: [run(1, 'baseline', CURVES.gap())], tried: ['addLearnRateSchedule', 'addL2'], after: 'regularise' }, 'addDropout', 'addDropout'],
    ['converged: both deepen', { runs: [run(1, 'baseline', CURVES.converged())] }, 'deepen', 'deepen'],
    ['converged, deepen tried: both widen', { runs: [run(1, 'baseline', CURVES.converged())], tried: ['deepen'], after: 'capacity' }, 'widen', 'widen'],
    ['converged, deepen and widen tried: flowchart 5×5, the example stops', { runs: [run(1, 'baseline', CURVES.converged())], tried: ['deepen', 'widen'], after: 'capacity' }, 'changeFilterSize', 'stop'],
    ['too slow: flowchart raises the rate, example adds epochs', { runs: [run(1, 'baseline', CURVES.tooSlow(), { options: { initialLearnRate: 0.0001 } })] }, 'raiseLearnRate', 'addEpochs'],
  ])('%s', (_name, ctx, flowchartAction, exampleAction) => {
    const exampleRuns = ctx.runs.map((r) => ({ ...r, diagnosis: diagnoseRun(r.curve, example.thresholds) }));
    expect(decide(flowchart, context(ctx)).action).toBe(flowchartAction);
    expect(decide(example, context({ ...ctx, runs: exampleRuns, thresholds: example.thresholds })).action).toBe(exampleAction);
  });

  test('widen: the flowchart doubles, the example takes ×1.5', () => {
    const ctx: Ctx = { runs: [run(1, 'baseline', CURVES.converged())], tried: ['deepen'], after: 'capacity' };
    expect(decide(flowchart, context(ctx)).params).toEqual({ factor: 2 });
    expect(decide(example, context({ ...ctx, thresholds: example.thresholds })).params).toEqual({ factor: 1.5 });
  });

  test('the example diverges like the flowchart: lower by ten', () => {
    expect(decide(example, context({ runs: [run(1, 'baseline', CURVES.diverged(), { options: { initialLearnRate: 0.01 } })] }))).toMatchObject({ action: 'lowerLearnRate', params: { initialLearnRate: 0.001 } });
  });

  test('the example stops when everything is tried', () => {
    const tried: ActionName[] = ['addLearnRateSchedule', 'addL2', 'addDropout', 'deepen', 'widen'];
    const runs = [run(1, 'baseline', CURVES.gap(), { thresholds: example.thresholds })];
    expect(decide(example, context({ runs, tried, after: 'capacity', thresholds: example.thresholds })).action).toBe('stop');
  });
});

// ───────────── random search ─────────────

function randomSequence(seed: number, ctx: Ctx = { runs: [run(1, 'baseline', CURVES.tooSlow(), { options: { initialLearnRate: 0.0001 } })] }, steps = 12): Decision[] {
  const rng = seededRandom(seed);
  return Array.from({ length: steps }, () => decide(random, { ...context(ctx), random: rng }));
}

describe('random search: at random among the actions the step allows', () => {
  test('deterministic for a seed', () => {
    expect(randomSequence(7)).toEqual(randomSequence(7));
  });

  test('varies with the seed', () => {
    expect(randomSequence(7)).not.toEqual(randomSequence(8));
  });

  test('its reasons say "random search: sampled …"', () => {
    for (const d of randomSequence(3)) expect(d.reason).toMatch(/^random search: sampled /);
  });

  test.each<[string, Ctx, ActionName[]]>([
    ['too slow (stabilise): learn rate and epochs', { runs: [run(1, 'baseline', CURVES.tooSlow(), { options: { initialLearnRate: 0.0001 } })] }, ['addEpochs', 'lowerLearnRate', 'raiseLearnRate']],
    ['converged (capacity): width, depth, filter size', { runs: [run(1, 'baseline', CURVES.converged())] }, ['changeFilterSize', 'deepen', 'widen']],
    ['a gap (regularise): dropout, L2, schedule', { runs: [run(1, 'baseline', CURVES.gap())] }, ['addDropout', 'addL2', 'addLearnRateSchedule']],
    ['a diverged candidate: lower its rate, or give it up', { runs: [run(1, 'baseline', CURVES.converged()), run(2, 'capacity', CURVES.diverged())], incumbent: 1, subject: 2, after: 'capacity' }, ['lowerLearnRate', 'revert']],
  ])('%s: over 40 seeds it samples exactly these', (_name, ctx, actions) => {
    const seen = new Set(Array.from({ length: 40 }, (_, seed) => randomSequence(seed, ctx, 3).map((d) => d.action)).flat());
    expect([...seen].sort()).toEqual(actions);
  });

  test('a refused decision is not sampled again', () => {
    const ctx: Ctx = { runs: [run(1, 'baseline', CURVES.converged())], seed: 5 };
    const first = decide(random, context(ctx));
    const again = decide(random, context({ ...ctx, refused: [{ decision: first, reason: 'its run would take about 900 s, more than the 300 s of search time left (budgetLeft)' }] }));
    expect(again).not.toEqual(first);
  });

  test('stops when the budget is spent', () => {
    expect(decide(random, context({ runs: [run(1, 'baseline', CURVES.converged())], runsLeft: 0 }))).toMatchObject({ action: 'stop' });
    expect(decide(random, context({ runs: [run(1, 'baseline', CURVES.converged())], secondsLeft: 0 }))).toMatchObject({ action: 'stop' });
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
    const runs = [run(1, 'baseline', CURVES.converged(), { network })];
    for (let seed = 0; seed < 30; seed++) expect(decide(random, context({ runs, seed })).action).not.toBe('deepen');
  });
});

// ───────────── no search ─────────────

describe('no-search: the baseline of the benchmark', () => {
  test('stops after the first run, whatever it shows', () => {
    for (const make of Object.values(CURVES)) {
      const d = decide(noSearch, context({ runs: [run(1, 'baseline', make())] }));
      expect(d).toMatchObject({ action: 'stop', params: {} });
      expect(d.reason).toMatch(/no search: the starting configuration \(run 1\) gets the whole budget as its final run/);
    }
  });
});

// ───────────── every built-in policy, every situation ─────────────

const SITUATIONS: Array<[string, Ctx]> = [
  ...Object.entries(CURVES).map(([name, make]): [string, Ctx] => [`a ${name} baseline`, { runs: [run(1, 'baseline', make())] }]),
  ['a diverged capacity candidate', { runs: [run(1, 'baseline', CURVES.converged()), run(2, 'capacity', CURVES.diverged())], incumbent: 1, subject: 2, after: 'capacity' }],
  ['an all-NaN candidate after a gap', { runs: [run(1, 'baseline', CURVES.gap()), run(2, 'regularise', CURVES.allNaN())], incumbent: 1, subject: 2, after: 'regularise' }],
  ['still falling with epochs exhausted', { runs: [run(1, 'baseline', CURVES.underfitting())], epochsExhausted: true }],
  ['trimmed', { runs: [run(1, 'baseline', CURVES.minAt27())], trimmed: true, after: 'trimEpochs', standing: { maxEpochs: 28 } }],
  ['a gap with every remedy tried', { runs: [run(1, 'baseline', CURVES.gap())], tried: ['addDropout', 'addL2', 'addLearnRateSchedule'], after: 'regularise' }],
  ['capacity with everything tried', { runs: [run(1, 'baseline', CURVES.converged())], tried: ['deepen', 'deepen', 'widen', 'changeFilterSize'], after: 'capacity' }],
  ['little search time left', { runs: [run(1, 'baseline', CURVES.converged())], secondsLeft: 5 }],
  ['no runs left', { runs: [run(1, 'baseline', CURVES.underfitting())], runsLeft: 0 }],
];
const POLICIES: Policy[] = [flowchart, example, random, noSearch];

describe('every built-in policy returns a valid decision the step allows', () => {
  test.each(POLICIES.flatMap((policy) => SITUATIONS.map(([name, ctx]): [string, string, Policy, Ctx] => [policy.name, name, policy, ctx])))('%s, %s', (_policy, _situation, policy, ctx) => {
    for (const seed of [1, 2, 3]) {
      const runs = ctx.runs.map((r) => ({ ...r, diagnosis: diagnoseRun(r.curve, policy.thresholds) }));
      decide(policy, context({ ...ctx, runs, seed, thresholds: policy.thresholds }));
    }
  });

  test('the situations cover every diagnosis, a 1-epoch and an all-NaN history', () => {
    const labels = new Set(SITUATIONS.flatMap(([, ctx]) => ctx.runs.map((r) => r.diagnosis.label)));
    expect([...labels].sort()).toEqual(['converged', 'diverged', 'oscillating', 'overfitting', 'tooSlow', 'underfitting']);
    expect(SITUATIONS.some(([, ctx]) => ctx.runs.some((r) => r.curve.epochs.length === 1))).toBe(true);
    expect(SITUATIONS.some(([, ctx]) => ctx.runs.some((r) => r.curve.epochs.every((e) => Number.isNaN(e.loss))))).toBe(true);
  });
});
