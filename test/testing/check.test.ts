/**
 * The contract kit (`flowtune/testing`): its scenarios are what they say (each diagnosis, a 1-epoch
 * and an all-NaN history, with the machine's rails), and checkPolicy catches each way of breaking
 * the contract — a check that passed everything would be worthless.
 */
import { describe, expect, test } from 'vitest';
import type { Decision, Policy, PolicyContext } from 'flowtune';
import { flowchartPolicy } from 'flowtune/policies';
import { CURVES, SCENARIOS, checkPolicy, scenarioContext, scenarioRun, type Scenario } from 'flowtune/testing';

describe('the scenarios', () => {
  test('cover every diagnosis, a 1-epoch and an all-NaN history', () => {
    const labels = new Set(SCENARIOS.map((s) => s.diagnosis));
    expect([...labels].sort()).toEqual(['converged', 'diverged', 'oscillating', 'overfitting', 'tooSlow', 'underfitting']);
    const curves = SCENARIOS.flatMap((s) => s.spec().runs.map((r) => r.curve));
    expect(curves.some((c) => c.epochs.length === 1)).toBe(true);
    expect(curves.some((c) => c.epochs.every((e) => Number.isNaN(e.loss) && Number.isNaN(e.valLoss as number)))).toBe(true);
  });

  test.each(SCENARIOS.map((s) => [s.name, s] as const))('%s: its run is diagnosed as it says, and the rails allow something besides stop', (_name, scenario) => {
    const spec = scenario.spec();
    const context = scenarioContext(spec);
    const asked = context.subjectRun != null ? spec.runs.find((r) => r.id === context.subjectRun)! : context.incumbent;
    expect(asked.diagnosis.label).toBe(scenario.diagnosis);
    expect(context.allowed).toContain('stop');
    if (!/every .* tried/.test(scenario.name)) expect(context.allowed.length).toBeGreaterThan(1);
  });

  test.each<[string, string, string[]]>([
    ['a diverged baseline (NaN at epoch 3)', 'stabilise', ['lowerLearnRate', 'clipGradients', 'stop']],
    ['a diverged capacity candidate', 'stabilise', ['lowerLearnRate', 'clipGradients', 'revert', 'stop']],
    ['an underfitting baseline (still falling at epoch 10)', 'trainEnough', ['addEpochs', 'changeSolver', 'stop']],
    ['an overfitting baseline: validation loss rising after epoch 27', 'trimEpochs', ['trimEpochs', 'stop']],
    ['an overfitting baseline: a 15-point accuracy gap', 'regularise', ['addDropout', 'addL2', 'addLearnRateSchedule', 'augmentData', 'stop']],
    ['a converged baseline', 'capacity', ['widen', 'deepen', 'changeFilterSize', 'addBlockConv', 'stop']],
  ])('%s: step %s, allowed %j (the machine\u2019s rails)', (name, step, allowed) => {
    const context = scenarioContext(SCENARIOS.find((s) => s.name === name)!.spec());
    expect(context.stage).toBe(step);
    expect(context.allowed).toEqual(allowed);
  });

  test("a policy's thresholds diagnose the runs: the example's 5% gap makes an 8-point gap overfitting", () => {
    const eight = scenarioRun(1, 'baseline', CURVES.overfittingGap(0.08));
    expect(eight.diagnosis.label).toBe('converged');
    const strict = scenarioRun(1, 'baseline', CURVES.overfittingGap(0.08), { thresholds: { gapThreshold: 0.05 } });
    expect(strict.diagnosis.label).toBe('overfitting');
    expect(scenarioContext({ runs: [strict], thresholds: { gapThreshold: 0.05 } }).stage).toBe('regularise');
  });
});

// ───────────── each way of breaking the contract is caught ─────────────

/** The flowchart, except where `tweak` says otherwise. */
function tweaked(name: string, tweak: (context: PolicyContext, d: Decision) => unknown): Policy {
  return { name, description: 'the flowchart, tweaked', decide: (context) => tweak(context, flowchartPolicy.decide(context)) as Decision };
}

describe('checkPolicy catches', () => {
  test.each<[string, Policy, RegExp]>([
    ['a throw in one situation', tweaked('throws', (c, d) => {
      if (c.last.curve.epochs.length === 1) throw new Error('cannot fit a trend to 1 epoch');
      return d;
    }), /^a 1-epoch history \(seed 1\): decide\(\) threw: cannot fit a trend to 1 epoch$/],
    ['an action the step does not allow', tweaked('always-widen', () => ({ action: 'widen', params: { factor: 2 }, reason: 'wider by 2' })), /^a diverged baseline \(NaN at epoch 3\) \(seed 1\): decide\(\) chose widen, which step stabilise does not allow here \(allowed: lowerLearnRate, clipGradients, stop\); the machine would refuse it$/],
    ['a reason without a number', tweaked('vague', (_c, d) => ({ ...d, reason: 'because' })), /: the reason quotes no number: "because"$/],
    ['a misspelt parameter', tweaked('rat', (c, d) => (c.allowed.includes('addDropout') ? { action: 'addDropout', params: { rat: 0.5 }, reason: 'gap 0.15' } : d)), /accuracy gap \(seed 1\): decide\(\) returned an invalid decision: addDropout has no parameter "rat"; its parameters: rate/],
    ['a Promise', tweaked('async', async (_c, d) => d), /decide\(\) returned an invalid decision: it is a Promise; decide must be synchronous/],
    ['Math.random instead of context.random', tweaked('unseeded', (c, d) => (c.allowed.includes('deepen') ? { action: 'deepen', params: { filters: 20 + Math.floor(Math.random() * 4000) }, reason: 'deepen, 1 block' } : d)), /a converged baseline \(seed 1\): not the same decision under the same seed: \{"action":"deepen","params":\{"filters":\d+\},"reason":"deepen, 1 block"\}, then \{"action":"deepen"/],
    ['a write to the context (runs are read-only records)', tweaked('sorts', (c, d) => {
      (c.runs as unknown as unknown[]).sort();
      return d;
    }), /decide\(\) threw: Cannot assign to read only property '0' of object/],
    ['a write to a run\u2019s curve', tweaked('mutates', (c, d) => {
      (c.incumbent.curve.epochs[0] as { loss: number }).loss = 0;
      return d;
    }), /decide\(\) threw: Cannot assign to read only property 'loss'/],
    ['a policy that assumes context.standing (absent when tune diagnose asks about a file)', tweaked('needs-standing', (c, d) => ({ ...d, reason: `${d.reason}; maxEpochs ${c.standing!.options.maxEpochs}` })), /^a history read from a file \(tune diagnose: no standing configuration, no budget limit\) \(seed 1\): decide\(\) threw: Cannot read properties of undefined \(reading 'options'\)$/],
    ['a decision that cannot be applied (dropout after a layer that is not there)', tweaked('far-dropout', (c, d) => (c.allowed.includes('addDropout') ? { action: 'addDropout', params: { rate: 0.2, afterLayer: 40 }, reason: 'dropout after layer 40' } : d)), /accuracy gap \(seed 1\): addDropout cannot be applied to run 1's configuration: addDropout: afterLayer must be a layer index from 0 to \d+/],
  ])('%s', (_name, policy, problem) => {
    const check = checkPolicy(policy);
    expect(check.ok).toBe(false);
    expect(check.problems.length).toBeGreaterThan(0);
    expect(check.problems.some((p) => problem.test(p)), check.problems.slice(0, 3).join('\n')).toBe(true);
  });

  test.each<[string, unknown, string, string]>([
    ['no name', { description: '', decide: () => null }, '(unnamed)', 'the policy: it has no name (a non-empty string)'],
    ['no decide', { name: 'x', description: '' }, 'x', 'the policy: it has no decide function'],
    ['an unknown threshold', { name: 'x', description: '', thresholds: { gap: 0.1 }, decide: () => null }, 'x', 'the policy: unknown threshold "gap"; known: explodeFactor, riseFraction, minEpochsAfterMinimum, gapThreshold, stillFallingFraction, tooSlowAccuracy, tooSlowFall, oscillationSwing'],
    ['not an object', 42, '(unnamed)', 'the policy: it is number, not a policy object'],
  ])('a policy of the wrong shape: %s', (_name, policy, name, problem) => {
    expect(checkPolicy(policy as Policy)).toEqual({ policy: name, ok: false, problems: [problem], results: [] });
  });

  test('a policy that stops everywhere with a number keeps the contract (stop is always allowed)', () => {
    const check = checkPolicy({ name: 'stopper', description: '', decide: (c) => ({ action: 'stop', params: {}, reason: `stop after run ${c.last.id}` }) });
    expect(check.problems).toEqual([]);
    expect(check.results.every((r) => r.decision?.action === 'stop')).toBe(true);
  });

  test('results say, per scenario and seed, the step, the allowed actions, the diagnosis and the decision', () => {
    const check = checkPolicy(flowchartPolicy, { seeds: [7] });
    expect(check.results).toHaveLength(SCENARIOS.length);
    expect(check.results[0]).toMatchObject({
      scenario: 'a diverged baseline (NaN at epoch 3)',
      seed: 7,
      stage: 'stabilise',
      diagnosis: 'diverged',
      allowed: ['lowerLearnRate', 'clipGradients', 'stop'],
      decision: { action: 'lowerLearnRate', params: { initialLearnRate: 0.001 } },
      problems: [],
    });
  });

  test('scenarios of your own', () => {
    const mine: Scenario = { name: 'a deep converged network', diagnosis: 'converged', spec: (thresholds) => ({ runs: [scenarioRun(1, 'baseline', CURVES.converged(), { thresholds })], thresholds }) };
    const check = checkPolicy(flowchartPolicy, { scenarios: [mine], seeds: [1] });
    expect(check.results.map((r) => [r.scenario, r.decision?.action])).toEqual([['a deep converged network', 'deepen']]);
  });
});
