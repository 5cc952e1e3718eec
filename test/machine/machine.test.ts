/**
 * The machine alone, with scripted actors: its routes follow the evidence, its rails refuse what
 * a step does not allow, close calls get a replicate, finalise is a sequence, every state is
 * reachable, and a study resumed from any persisted snapshot ends as an uninterrupted one.
 * (The real adapters with a fake trainer: test/study/study-machine.test.ts.)
 */
import { describe, expect, test } from 'vitest';
import { createActor, fromPromise, waitFor, type AnyActorRef } from 'xstate';
import { getShortestPaths } from 'xstate/graph';
import { applyDecision, type ActionName, type Decision } from '../../src/actions.ts';
import { defaultNetwork, networkFlops } from '../../src/config/network.ts';
import { resolveOptions } from '../../src/config/options.ts';
import {
  MAX_REFUSALS,
  decisionRefusal,
  railState,
  tuneMachine,
  type DecideInput,
  type DecideOutcome,
  type EvaluateInput,
  type EvaluateOutcome,
  type FinalInput,
  type FinalistsOutcome,
  type PendingRun,
  type RunFacts,
} from '../../src/machine/machine.ts';
import type { RunEvidence } from '../../src/machine/rails.ts';
import { parseStudy, stringifyStudy } from '../../src/store/study-store.ts';

const standing = { network: defaultNetwork(), options: resolveOptions({ maxEpochs: 10, initialLearnRate: 0.01 }) };
const d = (action: ActionName, params: Record<string, unknown> = {}): Decision => ({ action, params, reason: `test: ${action}` }) as Decision;
const calm: RunEvidence = { unstable: false, tooSlow: false, stillImproving: false, valLossRising: false, overfittingGap: false };

/**
 * A scripted world: each run's evidence and whether it beats the incumbent come from `script`
 * (by run id); the policy's decisions come from `decisions` in order; the search has `runs` runs.
 */
interface World {
  evidence?: Record<number, Partial<RunEvidence>>;
  kept?: Record<number, boolean>;
  close?: Record<number, boolean>;
  decisions: Decision[];
  runs?: number;
  /** Confirmation runs chooseFinalists asks for (run ids are assigned from nextRunId). */
  confirm?: number;
  secondConfirmWins?: boolean;
  /** Search seconds left after each evaluation (default: no time limit), and each candidate's estimated run. */
  searchSecondsLeft?: number;
  estimatedSeconds?: number;
}

function scripted(world: World) {
  const trained: PendingRun[] = [];
  const decided: DecideInput[] = [];
  const evaluated: EvaluateInput[] = [];
  const finalInputs: FinalInput[] = [];
  const tested: number[] = [];
  const facts = (runId: number, pending: PendingRun | undefined): RunFacts => ({
    runId,
    configuration: pending ? { network: pending.network, options: pending.options } : standing,
    learnRate: pending?.options.initialLearnRate ?? 0.01,
    epochsTrained: pending?.options.maxEpochs ?? 10,
    bestEpoch: 6,
    secondsPerEpoch: 1,
    evidence: { ...calm, ...(world.evidence?.[runId] ?? {}) },
  });
  const runsUsed = () => trained.filter((p) => p.kind === 'search' || p.kind === 'replicate').length;
  const budget = () => ({ searchSecondsLeft: world.searchSecondsLeft ?? null, runsLeft: world.runs === undefined ? null : world.runs - runsUsed() });
  const machine = tuneMachine.provide({
    actors: {
      trainRun: fromPromise<{ runId: number }, PendingRun>(async ({ input }) => {
        if (!trained.some((p) => p.runId === input.runId)) trained.push(input);
        return { runId: input.runId };
      }),
      evaluateRun: fromPromise<EvaluateOutcome, EvaluateInput>(async ({ input }) => {
        evaluated.push(input);
        const subject = input.replicateOf ?? input.runId;
        const pending = trained.find((p) => p.runId === subject);
        const kept = input.against === null ? false : world.secondConfirmWins !== undefined && pending?.kind === 'confirm' ? world.secondConfirmWins : (world.kept?.[subject] ?? false);
        return {
          facts: facts(subject, pending),
          verdict: input.against === null ? null : { kept, close: input.replicateOf === null && (world.close?.[subject] ?? false), replicateSeconds: 1 },
          budget: budget(),
        };
      }),
      decideNext: fromPromise<DecideOutcome, DecideInput>(async ({ input }) => {
        decided.push(input);
        // Deterministic in its input, as a real policy is: the n-th decision of the study.
        const decision = world.decisions[input.tried.length + input.refused.length] ?? d('stop');
        const from = input.subject.isStanding ? input.standing : input.subject.configuration;
        const change = decision.action === 'stop' || decision.action === 'revert' ? null : applyDecision(from, decision, { lastLearnRate: input.subject.learnRate, bestEpoch: input.subject.bestEpoch, epochsTrained: input.subject.epochsTrained });
        return { decision, change, estimatedSeconds: change && decision.action !== 'trimEpochs' ? (world.estimatedSeconds ?? 1) : null };
      }),
      chooseFinalists: fromPromise<FinalistsOutcome, { incumbentId: number; budgetExhausted: boolean; nextRunId: number }>(async ({ input }) => ({
        confirm: Array.from({ length: world.confirm ?? 0 }, (_, i) => ({ ...standing, runId: input.nextRunId + i, stage: 'finalise' as const, kind: 'confirm' as const, parentId: input.incumbentId, basedOn: input.incumbentId, change: null, continueFrom: null, replicateOf: null })),
        winner: input.incumbentId,
      })),
      planFinalRun: fromPromise<{ pending: PendingRun | null }, FinalInput>(async ({ input }) => {
        finalInputs.push(input);
        return { pending: { ...standing, runId: input.runId, stage: 'finalise', kind: 'final', parentId: input.winner, basedOn: null, change: null, continueFrom: input.continueFrom, replicateOf: null } };
      }),
      chooseFinalWeights: fromPromise<{ runId: number }, { finalRunId: number | null; alternative: number }>(async ({ input }) => ({ runId: input.finalRunId ?? input.alternative })),
      testFinal: fromPromise<void, { runId: number }>(async ({ input }) => {
        tested.push(input.runId);
      }),
      saveModel: fromPromise<void, { runId: number }>(async () => undefined),
    },
  });
  return { machine, trained, decided, evaluated, finalInputs, tested };
}

async function run(world: World) {
  const s = scripted(world);
  const actor = createActor(s.machine, { input: { standing, budget: { searchSecondsLeft: null, runsLeft: world.runs ?? null } } });
  const states: string[] = [];
  actor.subscribe((snap) => states.push(JSON.stringify(snap.value)));
  actor.start();
  const end = await waitFor(actor, (snap) => snap.status === 'done');
  return { ...s, end, states };
}

describe('route: the evidence about the standing run picks the step', () => {
  test.each([
    ['a diverged baseline goes to stabilise', { unstable: true }, 'stabilise'],
    ['a stable but too slow one goes to stabilise', { tooSlow: true }, 'stabilise'],
    ['still improving goes to trainEnough', { stillImproving: true }, 'trainEnough'],
    ['validation loss rising after its minimum goes to trimEpochs', { valLossRising: true }, 'trimEpochs'],
    ['an overfitting gap goes to regularise', { overfittingGap: true }, 'regularise'],
    ['none of these goes to capacity', {}, 'capacity'],
  ] as const)('%s', async (_, evidence, step) => {
    const { decided } = await run({ evidence: { 1: evidence }, decisions: [d('stop')] });
    expect(decided[0].rails.step).toBe(step);
  });
});

describe('rails: an action the step does not allow is refused and the policy asked again', () => {
  test('widen right after a diverged baseline is refused; lowering the rate is trained', async () => {
    const { decided, trained, end } = await run({
      evidence: { 1: { unstable: true } },
      kept: { 2: true },
      decisions: [d('widen', { factor: 2 }), d('lowerLearnRate'), d('stop')],
    });
    expect(decided[0].allowed).not.toContain('widen');
    expect(decided[0].allowed).toEqual(expect.arrayContaining(['lowerLearnRate', 'clipGradients', 'stop']));
    expect(decided[1].refused).toEqual([{ decision: d('widen', { factor: 2 }), reason: expect.stringMatching(/run 1 diverged: fix it first/) }]);
    expect(trained.map((p) => [p.runId, p.stage, p.change?.action ?? null])).toEqual([
      [1, 'baseline', null],
      [2, 'stabilise', 'lowerLearnRate'],
      [3, 'finalise', null],
    ]);
    expect(trained[1].options.initialLearnRate).toBeCloseTo(0.001);
    expect(end.value).toBe('done');
  });

  test(`${MAX_REFUSALS} refusals in a row fail the study as the policy's fault (a user error)`, async () => {
    const { end, trained } = await run({ evidence: { 1: { unstable: true } }, decisions: Array.from({ length: 10 }, () => d('deepen')) });
    expect(end.value).toBe('failed');
    expect(end.context.error).toMatchObject({ user: true, message: expect.stringMatching(/5 actions in a row that the flowchart does not allow at step stabilise/) });
    expect(trained).toHaveLength(1);
  });

  test(`${MAX_REFUSALS} candidates in a row the search time cannot pay for end the search, not the study`, async () => {
    // The rails allow every one of them (capacity); only the budget refuses: sound asks, no time.
    const asks = [d('widen'), d('deepen'), d('changeFilterSize'), d('widen', { factor: 1.5 }), d('deepen'), d('widen')];
    const { end, decided, trained, states } = await run({ searchSecondsLeft: 40, estimatedSeconds: 60, decisions: asks });
    expect(decided).toHaveLength(MAX_REFUSALS);
    expect(decided.at(-1)!.refused.map((r) => r.reason)).toEqual(Array(MAX_REFUSALS - 1).fill(expect.stringMatching(/more than the 40 s of search time left \(budgetLeft\)/)));
    expect(end.value).toBe('done');
    expect(end.context.budgetExhausted).toBe(true);
    expect(states).toContain(JSON.stringify({ finalise: 'choosingFinalists' }));
    expect(trained.map((p) => p.kind)).toEqual(['search', 'final']);
  });

  test('a streak mixing rail refusals with budget ones is still the policy\'s fault', async () => {
    const asks = [d('widen'), d('lowerLearnRate'), d('widen'), d('widen'), d('widen'), d('widen')];
    const { end } = await run({ searchSecondsLeft: 40, estimatedSeconds: 60, decisions: asks });
    expect(end.value).toBe('failed');
    expect(end.context.error).toMatchObject({ user: true, message: expect.stringMatching(/lowerLearnRate \(the learning rate is settled/) });
  });

  test('still improving: capacity waits until more epochs were tried and did not help', async () => {
    const { decided, trained } = await run({
      evidence: { 1: { stillImproving: true } },
      kept: { 2: false },
      decisions: [d('deepen'), d('addEpochs', { maxEpochs: 20 }), d('deepen'), d('stop')],
    });
    expect(decided[1].refused[0].reason).toMatch(/still improving: train enough first/);
    // addEpochs continued run 1 and did not beat it: epochs are exhausted, capacity is open.
    expect(trained[1]).toMatchObject({ runId: 2, continueFrom: 1, change: { action: 'addEpochs' } });
    expect(decided[2].rails.epochsExhausted).toBe(true);
    expect(decided[2].allowed).toContain('deepen');
    expect(trained[2]).toMatchObject({ runId: 3, stage: 'capacity', parentId: 1 });
  });

  test('a diverged candidate is fixed (its own rate lowered) or given up before anything else', async () => {
    const { decided, trained } = await run({
      evidence: { 2: { unstable: true } },
      decisions: [d('deepen'), d('addDropout'), d('lowerLearnRate'), d('revert'), d('stop')],
    });
    // After run 2 (deepen) diverged: dropout is refused, lowering applies to the deepened network.
    expect(decided[1].rails.subject).toMatchObject({ runId: 2, isStanding: false, unstable: true });
    expect(decided[2].refused[0].reason).toMatch(/run 2 diverged/);
    expect(trained[2]).toMatchObject({ runId: 3, stage: 'stabilise', basedOn: 2, parentId: 1 });
    expect(trained[2].network.layers.filter((l) => l.type === 'conv')).toHaveLength(2);
    expect(trained[2].options.initialLearnRate).toBeCloseTo(0.001);
  });

  test('the budget refuses a candidate the search time cannot pay for (budgetLeft)', () => {
    const outcome: DecideOutcome = { decision: d('widen'), change: { ...standing, continues: false }, estimatedSeconds: 120 };
    const context = { budget: { searchSecondsLeft: 60, runsLeft: null }, rails: railState({ step: 'capacity', incumbent: null, subject: null, triedAtStanding: [], trimmed: false, epochsExhausted: false } as never) };
    expect(decisionRefusal(context, outcome)).toMatch(/about 120 s, more than the 60 s of search time left \(budgetLeft\)/);
    expect(decisionRefusal({ ...context, budget: { searchSecondsLeft: 200, runsLeft: null } }, outcome)).toBeNull();
    expect(decisionRefusal({ ...context, budget: { searchSecondsLeft: null, runsLeft: 0 } }, outcome)).toMatch(/no search runs left/);
  });
});

describe('judging', () => {
  test('kept candidates stand, reverted ones do not: a change applies to the standing configuration', async () => {
    const { trained } = await run({
      kept: { 2: true, 3: false },
      decisions: [d('deepen', { filters: 40 }), d('widen', { factor: 2 }), d('changeFilterSize', { kernelSize: 5 }), d('stop')],
    });
    const convs = (p: PendingRun) => p.network.layers.filter((l) => l.type === 'conv').map((l) => (l as { filters: number; kernelSize: number }));
    expect(convs(trained[2]).map((c) => c.filters)).toEqual([40, 80]); // widened from the kept deep network
    expect(convs(trained[3]).map((c) => [c.filters, c.kernelSize])).toEqual([[20, 5], [40, 5]]); // the widen was reverted
    expect(trained[3].parentId).toBe(2);
  });

  test('a close call trains a replicate with another seed, judged pooled, before the verdict stands', async () => {
    const { trained, evaluated, end } = await run({ kept: { 2: true }, close: { 2: true }, decisions: [d('deepen'), d('stop')] });
    expect(trained[2]).toMatchObject({ runId: 3, kind: 'replicate', replicateOf: 2 });
    expect(trained[2].options.seed).toBe(trained[1].options.seed + 1000);
    expect(evaluated[2]).toEqual({ runId: 3, against: 1, replicateOf: 2 });
    expect(end.context.incumbent?.runId).toBe(2);
  });

  test('a trimEpochs decision needs no run: the standing maxEpochs moves to the minimum', async () => {
    const { trained } = await run({ evidence: { 1: { valLossRising: true } }, decisions: [d('trimEpochs', { maxEpochs: 6 }), d('deepen'), d('stop')] });
    expect(trained.map((p) => p.runId)).toEqual([1, 2, 3]);
    expect(trained[1].options.maxEpochs).toBe(6);
  });
});

describe('finalise is a sequence', () => {
  test('finalists → confirm → plan → train → choose → test → save', async () => {
    const { states, trained, finalInputs, tested } = await run({ decisions: [d('stop')], confirm: 2, secondConfirmWins: true });
    const finaliseStates = states.filter((s) => s.includes('finalise')).filter((s, i, all) => all.indexOf(s) === i);
    expect(finaliseStates).toEqual([
      '{"finalise":"choosingFinalists"}',
      '{"finalise":{"confirming":"training"}}',
      '{"finalise":{"confirming":"evaluating"}}',
      '{"finalise":"planning"}',
      '{"finalise":"training"}',
      '{"finalise":"choosing"}',
      '{"finalise":"testing"}',
      '{"finalise":"saving"}',
    ]);
    expect(trained.map((p) => [p.runId, p.kind])).toEqual([[1, 'search'], [2, 'confirm'], [3, 'confirm'], [4, 'final']]);
    // The second finalist won at equal time: the final run continues its confirmation run.
    expect(finalInputs[0]).toEqual({ winner: 3, continueFrom: 3, runId: 4 });
    expect(tested).toEqual([4]);
  });

  test('the run budget ends the search, and the machine says so', async () => {
    const { end, trained } = await run({ runs: 2, kept: { 2: true }, decisions: [d('deepen'), d('widen'), d('stop')] });
    expect(trained.map((p) => p.kind)).toEqual(['search', 'search', 'final']);
    expect(end.context.budgetExhausted).toBe(true);
  });

  test('a failing actor ends in failed with its message; a UserError is marked as the user’s', async () => {
    const s = scripted({ decisions: [] });
    for (const [error, user] of [[new Error('out of memory'), false], [Object.assign(new Error('bad policy edit'), { name: 'UserError' }), true]] as const) {
      const machine = s.machine.provide({ actors: { trainRun: fromPromise<{ runId: number }, PendingRun>(async () => Promise.reject(error)) } });
      const end = await waitFor(createActor(machine, { input: { standing, budget: { searchSecondsLeft: null, runsLeft: null } } }).start(), (x) => x.status === 'done');
      expect(end.value).toBe('failed');
      expect(end.context.error).toEqual({ message: error.message, user });
    }
  });
});

describe('the machine reads as the flowchart', () => {
  test('every state has a description; the steps quote the notes', () => {
    for (const [key, node] of Object.entries(tuneMachine.root.states)) expect(node.description, key).toBeTruthy();
    expect(tuneMachine.root.states.stabilise.description).toMatch(/lower InitialLearnRate by a power of ten/);
    expect(tuneMachine.root.states.trimEpochs.description).toMatch(/MaxEpochs at that minimum/);
    expect(Object.keys(tuneMachine.root.states.finalise.states)).toEqual(['choosingFinalists', 'confirming', 'planning', 'training', 'choosing', 'testing', 'saving']);
  });

  test('the route is guarded by named evidence guards, in the flowchart order', () => {
    const guards = (tuneMachine.root.states.route.config.always as Array<{ guard?: string }>).map((t) => t.guard ?? 'otherwise');
    expect(guards).toEqual(['searchBudgetSpent', 'runDiverged', 'routesToStabilise', 'routesToTrainEnough', 'routesToTrimEpochs', 'routesToRegularise', 'otherwise']);
  });
});

describe('resume from a persisted snapshot', () => {
  const world: World = { kept: { 2: true, 4: true }, evidence: { 1: { stillImproving: true } }, decisions: [d('addEpochs', { maxEpochs: 20 }), d('addEpochs', { maxEpochs: 40 }), d('deepen'), d('stop')] };

  test('stopping after any transition and restoring gives the same study as an uninterrupted one', async () => {
    const straight = await run(world);
    const straightRuns = straight.trained.map((p) => JSON.stringify(p));
    expect(straight.trained.length).toBeGreaterThanOrEqual(4);
    for (let cut = 1; cut < 24; cut++) {
      const first = scripted({ ...world });
      let transitions = 0;
      let persisted: unknown = null;
      const firstActor: AnyActorRef = createActor(first.machine, { input: { standing, budget: { searchSecondsLeft: null, runsLeft: null } } });
      await new Promise<void>((resolve) => {
        firstActor.subscribe((s) => {
          // Through the store's own encoding, as study.json keeps it.
          persisted = parseStudy(stringifyStudy(firstActor.getPersistedSnapshot() as never));
          transitions++;
          if (transitions >= cut || s.status === 'done') resolve();
        });
        firstActor.start();
      });
      firstActor.stop();
      // Second process: the policy answers deterministically from what it is asked (as a real one).
      const second = scripted({ ...world });
      second.trained.push(...first.trained);
      const end = await waitFor(createActor(second.machine, { snapshot: persisted as never, input: { standing, budget: { searchSecondsLeft: null, runsLeft: null } } }).start(), (s) => s.status === 'done');
      expect(end.value, `cut ${cut}`).toBe('done');
      expect(second.trained.map((p) => JSON.stringify(p)), `cut ${cut}`).toEqual(straightRuns);
    }
  });
});

describe('every state is reachable (xstate/graph shortest paths)', () => {
  test('done, failed and every step have a shortest path', () => {
    const facts = (evidence: Partial<RunEvidence> = {}): RunFacts => ({ runId: 1, configuration: standing, learnRate: 0.01, epochsTrained: 10, bestEpoch: 6, secondsPerEpoch: 1, evidence: { ...calm, ...evidence } });
    const budget = { searchSecondsLeft: null, runsLeft: null };
    const decided = (action: ActionName) => {
      const decision = d(action);
      const change = action === 'stop' || action === 'revert' ? null : applyDecision(standing, decision, { lastLearnRate: 0.01, bestEpoch: 6, epochsTrained: 10 });
      return { type: 'xstate.done.actor.decideNext', output: { decision, change, estimatedSeconds: change ? 1 : null } };
    };
    const events = [
      { type: 'xstate.done.actor.trainRun', output: { runId: 1 } },
      { type: 'xstate.error.actor.trainRun', error: new Error('x') },
      ...[{}, { unstable: true }, { stillImproving: true }, { valLossRising: true }, { overfittingGap: true }].map((evidence) => ({
        type: 'xstate.done.actor.evaluateRun',
        output: { facts: facts(evidence), verdict: { kept: true, close: false, replicateSeconds: 1 }, budget },
      })),
      ...(['lowerLearnRate', 'addEpochs', 'trimEpochs', 'addDropout', 'deepen', 'stop'] as const).map(decided),
      { type: 'xstate.done.actor.chooseFinalists', output: { confirm: [], winner: 1 } },
      { type: 'xstate.done.actor.planFinalRun', output: { pending: { ...standing, runId: 9, stage: 'finalise', kind: 'final', parentId: 1, basedOn: null, change: null, continueFrom: null, replicateOf: null } } },
      { type: 'xstate.done.actor.chooseFinalWeights', output: { runId: 9 } },
      { type: 'xstate.done.actor.testFinal' },
      { type: 'xstate.done.actor.saveModel' },
    ];
    const paths = getShortestPaths(tuneMachine, {
      input: { standing, budget },
      events: events as never,
      // Collapse the context to the state and the step, so the graph is finite.
      serializeState: (s) => JSON.stringify([(s as { value: unknown }).value, (s as { context: { step: string } }).context.step]),
    });
    const reached = new Set(paths.map((p) => JSON.stringify((p.state as { value: unknown }).value)));
    for (const value of ['"done"', '"failed"', '"deciding"', '{"stabilise":"training"}', '{"trainEnough":"training"}', '{"regularise":"training"}', '{"capacity":"training"}', '{"finalise":"saving"}']) {
      expect(reached, value).toContain(value);
    }
    // trimEpochs is transient (no run): the policy is asked at that step, and the trim passes through.
    expect(paths.some((p) => (p.state as { context: { step: string } }).context.step === 'trimEpochs')).toBe(true);
    const toDone = paths.find((p) => (p.state as { value: unknown }).value === 'done')!;
    expect(toDone.steps.map((s) => s.event.type)).toEqual([
      'xstate.init',
      'xstate.done.actor.trainRun',
      'xstate.done.actor.evaluateRun',
      'xstate.done.actor.decideNext',
      'xstate.done.actor.chooseFinalists',
      'xstate.done.actor.planFinalRun',
      'xstate.done.actor.trainRun',
      'xstate.done.actor.chooseFinalWeights',
      'xstate.done.actor.testFinal',
      'xstate.done.actor.saveModel',
    ]);
  });
});

test('cost estimates scale with flops (what the budget rail compares)', () => {
  const deeper = applyDecision(standing, d('deepen', { filters: 40 }), { lastLearnRate: 0.01, bestEpoch: 6, epochsTrained: 10 });
  expect(networkFlops(deeper.network).training).toBeGreaterThan(networkFlops(standing.network).training);
});
