import { describe, expect, test } from 'vitest';
import { applyDecision, decisionProblem, deepen, defaultNetwork, diagnoseRun, seededRandom, widen, type ActionName, type Decision } from 'flowtune';
import { CURVES, SCENARIOS, checkPolicy, scenarioContext, scenarioRails, scenarioRun, type ScenarioSpec } from 'flowtune/testing';
import flowchartDefault, { FLOWCHART_SETTINGS, policy as flowchart } from '../../policies/flowchart.ts';
import exampleDefault, { policy as example } from '../../policies/example.ts';
import randomDefault, { MAX_RANDOM_RUNS, policy as random } from '../../policies/random.ts';
import noSearchDefault, { policy as noSearch } from '../../policies/no-search.ts';
import type { Judgement, Policy, PolicyContext, Stage } from '../../src/types.ts';

// ───────────── made-up runs: the contract kit's builders (flowtune/testing) ─────────────

// `run` diagnoses a made-up curve like the machine; `context` is what the machine hands the policy
// after those runs (step and allowed actions from its rails); `railsOf` is the rails' state.
const run = scenarioRun;
const context = scenarioContext;
const railsOf = scenarioRails;
type Ctx = ScenarioSpec;

/** A run on all the training images: the full-data rung's fidelity and annealed options (its curves below: a 2-point gap, nothing to regularise). */
const FULL = { fidelity: { trainImages: 50_000, validationImages: 10_000, kind: 'full' as const }, options: { maxEpochs: 8, learnRateSchedule: 'piecewise' as const, learnRateDropPeriod: 6 } };

/** The notes' network deepened once (20→40) and twice (20→40→80); widened (one convolution of 40). */
const DEEPENED_ONCE = deepen(defaultNetwork(), { filters: 40 });
const DEEPENED_TWICE = deepen(DEEPENED_ONCE, { filters: 80 });
const WIDENED = widen(defaultNetwork(), 2);

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
    ['rising after its minimum', { runs: [run(1, 'baseline', CURVES.overfittingRising())] }, 'trimEpochs', ['trimEpochs', 'stop']],
    ['a gap', { runs: [run(1, 'baseline', CURVES.overfittingGap())] }, 'regularise', ['addDropout', 'addL2', 'addLearnRateSchedule', 'augmentData', 'stop']],
    ['converged', { runs: [run(1, 'baseline', CURVES.converged())] }, 'capacity', ['widen', 'deepen', 'changeFilterSize', 'addBlockConv', 'stop']],
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
    ['validation-loss minimum at 27 of 100 → trimEpochs at the smoothed minimum, 28', { runs: [run(1, 'baseline', CURVES.overfittingRising())] }, 'trimEpochs', { maxEpochs: 28 }, /^validation loss lowest at epoch 28 \(smoothed 0.315\) and rising to 0.531 by epoch 100 .*; maxEpochs 100 → 28 \(step 3: stop at the right time\)$/],
    ['after trimming, a small gap at epoch 28 → capacity: deepen', { runs: [run(1, 'baseline', CURVES.overfittingRising())], trimmed: true, after: 'trimEpochs', standing: { maxEpochs: 28 } }, 'deepen', { filters: 40 }, /^run 1 \(overfitting; best validation loss 0.312\); deepen: a block of 40 filters after the last convolution of 20/],
    ['after trimming, a large gap at epoch 28 → dropout', { runs: [run(1, 'baseline', CURVES.overfittingRising(0.15))], trimmed: true, after: 'trimEpochs', standing: { maxEpochs: 28 } }, 'addDropout', { rate: 0.2 }, /^training accuracy 0.945 vs validation 0.747 at epoch 28 of run 1: gap 0.198 > 0.1; add dropout, rate 0.2/],
    ['a 15-point gap → dropout 0.2', { runs: [run(1, 'baseline', CURVES.overfittingGap())] }, 'addDropout', { rate: 0.2 }, /^training accuracy 0.97 vs validation 0.82 at epoch 30 of run 1: gap 0.15 > 0.1; add dropout, rate 0.2, before the classifier \(step 4: regularise\)$/],
    ['gap, dropout tried → L2 ×10', { runs: [run(1, 'baseline', CURVES.overfittingGap())], tried: ['addDropout'], after: 'regularise' }, 'addL2', { l2Regularization: 0.001 }, /l2Regularization 0.0001 → 0.001 \(step 4: regularise; dropout tried\)/],
    ['gap, dropout and L2 tried → piecewise schedule', { runs: [run(1, 'baseline', CURVES.overfittingGap())], tried: ['addDropout', 'addL2'], after: 'regularise' }, 'addLearnRateSchedule', { learnRateDropFactor: 0.1, learnRateDropPeriod: 15 }, /piecewise drop ×0.1 at half of 30 epochs/],
    ['gap, all regularisers tried → capacity: deepen', { runs: [run(1, 'baseline', CURVES.overfittingGap())], tried: ['addDropout', 'addL2', 'addLearnRateSchedule'], after: 'regularise' }, 'deepen', { filters: 40 }, /step 5: capacity/],
    ['converged at baseline → deepen first', { runs: [run(1, 'baseline', CURVES.converged())] }, 'deepen', { filters: 40 }, /^run 1 \(converged; best validation loss 0.3\); deepen: a block of 40 filters after the last convolution of 20 \(step 5: capacity; "more filters than 20, not the same 20"\)$/],
    ['capacity, a kept deepen → deepen again (80 filters)', {
      runs: [run(1, 'baseline', CURVES.converged()), run(2, 'capacity', CURVES.converged(), { network: DEEPENED_ONCE, change: { action: 'deepen', params: { filters: 40 }, reason: 'deepen 40' } })],
      tried: ['deepen'],
      after: 'capacity',
    }, 'deepen', { filters: 80 }, /a block of 80 filters after the last convolution of 40/],
    ['the full-data rung, one convolution (widened on the subset) → deepen before widen', {
      runs: [
        run(1, 'baseline', CURVES.converged()),
        run(2, 'baseline', CURVES.overfittingGap(0.02), { ...FULL, network: WIDENED }),
      ],
      fidelity: 'full',
      after: 'capacity',
    }, 'deepen', { filters: 80 }, /deepen: a block of 80 filters after the last convolution \(step 5 at the full-data rung; one convolution deepens before it widens\)$/],
    ['the full-data rung, one convolution, deepen tried and not kept → widen', {
      runs: [
        run(1, 'baseline', CURVES.converged()),
        run(2, 'baseline', CURVES.overfittingGap(0.02), { ...FULL, network: WIDENED }),
        run(3, 'capacity', CURVES.overfittingGap(0.02), { ...FULL, network: deepen(WIDENED, { filters: 80 }), change: { action: 'deepen', params: { filters: 80 }, reason: 'deepen 80' }, judgement: judgement(2, false, 'a tie') }),
      ],
      incumbent: 2,
      fidelity: 'full',
      tried: ['deepen'],
      after: 'capacity',
    }, 'widen', { factor: 2 }, /widen ×2 \(filters 40 → 80\) \(step 5 at the full-data rung\)$/],
    ['the full-data rung, a kept deepen → deepen again (160 filters), before a second convolution per block', {
      runs: [
        run(1, 'baseline', CURVES.converged()),
        run(2, 'baseline', CURVES.overfittingGap(0.02), { ...FULL, network: DEEPENED_ONCE }),
        run(3, 'capacity', CURVES.overfittingGap(0.02), { ...FULL, network: DEEPENED_TWICE, change: { action: 'deepen', params: { filters: 80 }, reason: 'deepen 80' }, judgement: judgement(2, true, 'better') }),
      ],
      fidelity: 'full',
      tried: ['widen', 'deepen'],
      after: 'capacity',
    }, 'deepen', { filters: 160 }, /deepen: a block of 160 filters after the last convolution \(step 5 at the full-data rung\)$/],
    ['the full-data rung, deepen tried and not kept → a second convolution per block, not deepen again', {
      runs: [
        run(1, 'baseline', CURVES.converged()),
        run(2, 'baseline', CURVES.overfittingGap(0.02), { ...FULL, network: DEEPENED_ONCE }),
        run(3, 'capacity', CURVES.overfittingGap(0.02), { ...FULL, network: DEEPENED_TWICE, change: { action: 'deepen', params: { filters: 80 }, reason: 'deepen 80' }, judgement: judgement(2, false, 'a tie') }),
      ],
      incumbent: 2,
      fidelity: 'full',
      tried: ['widen', 'deepen'],
      after: 'capacity',
    }, 'addBlockConv', {}, /a second convolution in every block/],
    ['the full-data rung, two deepens kept → no third: a second convolution per block', {
      runs: [
        run(1, 'baseline', CURVES.converged()),
        run(2, 'baseline', CURVES.overfittingGap(0.02), { ...FULL }),
        run(4, 'capacity', CURVES.overfittingGap(0.02), { ...FULL, network: DEEPENED_TWICE, change: { action: 'deepen', params: { filters: 80 }, reason: 'deepen 80' }, judgement: judgement(3, true, 'better') }),
      ],
      fidelity: 'full',
      tried: ['widen', 'deepen', 'deepen'],
      after: 'capacity',
    }, 'addBlockConv', {}, /a second convolution in every block/],
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
    const runs = [run(1, 'baseline', CURVES.overfittingGap()), run(2, 'regularise', CURVES.overfittingGap(0.2), { judgement: judgement(1, false, 'worse beyond the 2 SE margin: validation loss 0.45 → 0.46') })];
    const d = decide(flowchart, context({ runs, incumbent: 1, tried: ['addDropout'], after: 'regularise' }));
    expect(d.action).toBe('addL2');
    expect(d.reason).toMatch(/^run 2 did not hold up: worse beyond the 2 SE margin: validation loss 0.45 → 0.46; training accuracy/);
  });

  test('trimEpochs is not repeated once maxEpochs is trimmed', () => {
    const c = context({ runs: [run(1, 'baseline', CURVES.overfittingRising())], trimmed: true, after: 'trimEpochs', standing: { maxEpochs: 28 } });
    expect(c.allowed).not.toContain('trimEpochs');
    expect(decide(flowchart, c).action).not.toBe('trimEpochs');
  });

  test('in regularise, a kept candidate whose validation loss rises after its minimum is trimmed before more remedies', () => {
    const runs = [run(1, 'baseline', CURVES.overfittingGap()), run(2, 'regularise', CURVES.overfittingRising(0.15))];
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
    ['an 8-point gap: tolerated by the flowchart (10%), not by the example (5%)', { runs: [run(1, 'baseline', CURVES.overfittingGap(0.08))] }, 'deepen', 'addLearnRateSchedule'],
    ['a 15-point gap: flowchart dropout first, example schedule first', { runs: [run(1, 'baseline', CURVES.overfittingGap())] }, 'addDropout', 'addLearnRateSchedule'],
    ['regularise after two remedies: L2 for both', { runs: [run(1, 'baseline', CURVES.overfittingGap())], tried: ['addDropout', 'addLearnRateSchedule'], after: 'regularise' }, 'addL2', 'addL2'],
    ['gap after schedule and L2: dropout for both', { runs: [run(1, 'baseline', CURVES.overfittingGap())], tried: ['addLearnRateSchedule', 'addL2'], after: 'regularise' }, 'addDropout', 'addDropout'],
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
    const runs = [run(1, 'baseline', CURVES.overfittingGap(), { thresholds: example.thresholds })];
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
    ['converged (capacity): width, depth, convolutions per block, filter size', { runs: [run(1, 'baseline', CURVES.converged())] }, ['addBlockConv', 'changeFilterSize', 'deepen', 'widen']],
    ['a gap (regularise): dropout, L2, schedule, augmentation', { runs: [run(1, 'baseline', CURVES.overfittingGap())] }, ['addDropout', 'addL2', 'addLearnRateSchedule', 'augmentData']],
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

  test('a change whose configuration already ran at this fidelity is not sampled again (seeded, the run would repeat exactly)', () => {
    const base = run(1, 'baseline', CURVES.converged());
    // The configuration a decision leads to from where the machine applies it (the standing one).
    const leadsTo = (ctx: Ctx, d: Decision) => {
      const { network, options } = context(ctx).standing!;
      return JSON.stringify(applyDecision({ network, options }, d, { lastLearnRate: base.options.initialLearnRate, bestEpoch: base.bestEpoch, epochsTrained: base.curve.epochs.length }));
    };
    const samples = (ctx: Ctx) => Array.from({ length: 40 }, (_, seed) => leadsTo(ctx, decide(random, context({ ...ctx, seed }))));
    const ranAs = (ctx: Ctx, d: Decision, fidelity = base.fidelity) => {
      const { network, options } = JSON.parse(leadsTo(ctx, d));
      return { ...run(2, 'capacity', CURVES.converged(), { network, options, change: d }), fidelity };
    };
    // On the subset: sampled by several seeds before it ran, by none after.
    const subset: Ctx = { runs: [base] };
    const first = decide(random, context({ ...subset, seed: 5 }));
    expect(samples(subset).filter((c) => c === leadsTo(subset, first)).length).toBeGreaterThan(1);
    expect(samples({ runs: [base, ranAs(subset, first)], incumbent: 1, after: 'capacity' })).not.toContain(leadsTo(subset, first));
    // At the full-data rung only the rung's runs count: the subset's run of it changes nothing there.
    const rung: Ctx = { runs: [{ ...base, fidelity: FULL.fidelity }], after: 'capacity', fidelity: 'full' };
    const atRung = decide(random, context({ ...rung, seed: 5 }));
    const then = (r: ReturnType<typeof ranAs>): Ctx => ({ ...rung, runs: [...rung.runs, r], incumbent: 1 });
    expect(samples(rung)).toContain(leadsTo(rung, atRung));
    expect(samples(then(ranAs(rung, atRung)))).toEqual(samples(rung));
    expect(samples(then(ranAs(rung, atRung, FULL.fidelity)))).not.toContain(leadsTo(rung, atRung));
  });

  test('stops when the budget is spent', () => {
    expect(decide(random, context({ runs: [run(1, 'baseline', CURVES.converged())], runsLeft: 0 }))).toMatchObject({ action: 'stop' });
    expect(decide(random, context({ runs: [run(1, 'baseline', CURVES.converged())], secondsLeft: 0 }))).toMatchObject({ action: 'stop' });
  });

  test(`with no budget it stops after ${MAX_RANDOM_RUNS} runs`, () => {
    const runs = Array.from({ length: MAX_RANDOM_RUNS }, (_, i) => run(i + 1, 'capacity', CURVES.converged()));
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

// ───────────── every built-in policy keeps the contract (flowtune/testing) ─────────────

describe('every built-in policy keeps the policy contract', () => {
  test.each([flowchart, example, random, noSearch].map((p) => [p.name, p] as const))('%s', (_name, policy) => {
    const check = checkPolicy(policy);
    expect(check.problems).toEqual([]);
    expect(check.ok).toBe(true);
    expect(check.results).toHaveLength(SCENARIOS.length * 3);
  });
});
