import { describe, expect, test } from 'vitest';
import { createActor, fromPromise, waitFor, type AnyActorRef } from 'xstate';
import { getShortestPaths } from 'xstate/graph';
import { tuneMachine, type DecideInput, type DecideOutcome, type FinaliseInput, type RunOutcome, type TrainInput } from '../../src/machine/machine.ts';
import { judgeRun, nextRun, trimmed, STAGE_OF_ACTION } from '../../src/machine/plan.ts';
import { defaultNetwork } from '../../src/config/network.ts';
import { resolveOptions } from '../../src/config/options.ts';
import { parseStudy, stringifyStudy } from '../../src/store/study-store.ts';
import type { ActionName, Decision } from '../../src/types.ts';

const standing = { network: defaultNetwork(), options: resolveOptions({ maxEpochs: 10, initialLearnRate: 0.01 }) };

/** A fake trainer: validation loss is a made-up function of the learning rate, epochs and network. */
function fakeLoss(input: TrainInput): number | null {
  const { options, network } = input.pending;
  if (options.initialLearnRate >= 0.1) return null; // diverges
  const lrPenalty = Math.abs(Math.log10(options.initialLearnRate) + 2) * 0.1; // best at 0.01
  const epochBonus = Math.min(options.maxEpochs, 40) * 0.002;
  const dropoutBonus = network.layers.some((l) => l.type === 'dropout') ? 0.02 : 0;
  return 0.5 + lrPenalty - epochBonus - dropoutBonus;
}

function fakeTrain(trained: TrainInput[]) {
  return fromPromise<RunOutcome, TrainInput>(async ({ input }) => {
    trained.push(input);
    return {
      runId: input.pending.runId,
      bestValLoss: fakeLoss(input),
      bestEpoch: Math.max(1, input.pending.options.maxEpochs - 2),
      epochsCompleted: input.pending.options.maxEpochs,
      learnRate: input.pending.options.initialLearnRate,
    };
  });
}

function scriptedPolicy(script: Decision[], seen: DecideInput[]) {
  return fromPromise<DecideOutcome, DecideInput>(async ({ input }) => {
    seen.push(input);
    // Deterministic in its input (as a real policy is): the n-th decision of the study.
    const decision = script[input.tried.length] ?? { action: 'stop', params: {}, reason: 'script ended' };
    return { decision, budgetExhausted: false };
  });
}

const finaliseOk = fromPromise<{ runId: number }, FinaliseInput>(async ({ input }) => ({ runId: input.runId }));

const d = (action: ActionName, params: Decision['params'] = {}): Decision => ({ action, params, reason: `test: ${action}` });

async function runToEnd(script: Decision[]) {
  const trained: TrainInput[] = [];
  const seen: DecideInput[] = [];
  const finals: FinaliseInput[] = [];
  const machine = tuneMachine.provide({
    actors: {
      trainRun: fakeTrain(trained),
      decideNext: scriptedPolicy(script, seen),
      finaliseStudy: fromPromise<{ runId: number }, FinaliseInput>(async ({ input }) => {
        finals.push(input);
        return { runId: input.runId };
      }),
    },
  });
  const actor = createActor(machine, { input: { standing } });
  const states: string[] = [];
  actor.subscribe((s) => states.push(String(s.value)));
  actor.start();
  const end = await waitFor(actor, (s) => s.status === 'done');
  return { end, trained, seen, finals, states };
}

describe('plan (pure helpers)', () => {
  test.each([
    ['lowerLearnRate', 'stabilise'],
    ['raiseLearnRate', 'stabilise'],
    ['addEpochs', 'trainEnough'],
    ['trimEpochs', 'trimEpochs'],
    ['addDropout', 'regularise'],
    ['addL2', 'regularise'],
    ['addLearnRateSchedule', 'regularise'],
    ['widen', 'capacity'],
    ['deepen', 'capacity'],
    ['changeFilterSize', 'capacity'],
    ['stop', 'finalise'],
  ] as const)('%s belongs to %s', (action, stage) => {
    expect(STAGE_OF_ACTION[action]).toBe(stage);
  });

  test.each([
    // candidate, incumbent, baseline, verdict
    [0.4, 0.5, false, 'kept'],
    [0.5, 0.5, false, 'reverted'],
    [0.6, 0.5, false, 'reverted'],
    [null, 0.5, false, 'reverted'],
    [Number.NaN, 0.5, false, 'reverted'],
    [0.9, null, false, 'kept'],
    [0.9, Number.NaN, false, 'kept'],
    [null, null, true, 'baseline'],
  ] as const)('judgeRun(%s vs %s, baseline %s) = %s', (candidate, incumbent, baseline, verdict) => {
    expect(judgeRun(candidate, incumbent, baseline)).toBe(verdict);
  });

  test('lower/raise walk from the last run’s rate by powers of ten; explicit params win', () => {
    const ids = { runId: 5, incumbentId: 1, incumbentEpochs: 10, lastLearnRate: 0.001 };
    expect(nextRun(standing, d('lowerLearnRate'), ids).options.initialLearnRate).toBeCloseTo(0.0001);
    expect(nextRun(standing, d('raiseLearnRate'), ids).options.initialLearnRate).toBeCloseTo(0.01);
    expect(nextRun(standing, d('lowerLearnRate', { initialLearnRate: 0.003 }), ids).options.initialLearnRate).toBe(0.003);
  });

  test('addEpochs continues the incumbent only when the new total is larger', () => {
    const ids = { runId: 3, incumbentId: 2, incumbentEpochs: 10, lastLearnRate: 0.01 };
    const more = nextRun(standing, d('addEpochs', { maxEpochs: 20 }), ids);
    expect(more.continueFrom).toBe(2);
    expect(more.options.maxEpochs).toBe(20);
    expect(nextRun(standing, d('addEpochs', { maxEpochs: 8 }), ids).continueFrom).toBeNull();
  });

  test('network actions change the network; option actions do not', () => {
    const ids = { runId: 2, incumbentId: 1, incumbentEpochs: 10, lastLearnRate: 0.01 };
    expect(nextRun(standing, d('addDropout', { rate: 0.3 }), ids).network.layers.some((l) => l.type === 'dropout' && l.rate === 0.3)).toBe(true);
    expect(nextRun(standing, d('widen', { factor: 2 }), ids).network.layers.find((l) => l.type === 'conv')).toMatchObject({ filters: 40 });
    expect(nextRun(standing, d('deepen'), ids).network.layers.filter((l) => l.type === 'conv')).toHaveLength(2);
    expect(nextRun(standing, d('changeFilterSize', { kernelSize: 5 }), ids).network.layers.find((l) => l.type === 'conv')).toMatchObject({ kernelSize: 5 });
    expect(nextRun(standing, d('addL2', { l2Regularization: 0.001 }), ids)).toMatchObject({ network: standing.network, options: { l2Regularization: 0.001 } });
  });

  test('trimmed sets maxEpochs at the minimum', () => {
    expect(trimmed(standing, d('trimEpochs', { maxEpochs: 7 }), 9).options.maxEpochs).toBe(7);
    expect(trimmed(standing, d('trimEpochs'), 6).options.maxEpochs).toBe(6);
  });
});

describe('the machine with a fake trainer', () => {
  test('walks the flowchart in order and finalises the incumbent', async () => {
    const { end, trained, seen, finals, states } = await runToEnd([
      d('raiseLearnRate', { initialLearnRate: 0.1 }), // diverges → reverted
      d('addEpochs', { maxEpochs: 20 }), // continues run 1 → kept
      d('trimEpochs', { maxEpochs: 18 }),
      d('addDropout', { rate: 0.2 }), // kept (dropout bonus)
      d('addL2', { l2Regularization: 0.01 }), // no change in the fake loss → reverted
      d('widen', { factor: 2 }),
      d('stop'),
    ]);
    expect(end.value).toBe('done');
    expect(trained.map((t) => t.pending.stage)).toEqual(['baseline', 'stabilise', 'trainEnough', 'regularise', 'regularise', 'capacity']);
    // The diverged raise was reverted, so addEpochs continues the baseline (run 1) at lr 0.01.
    expect(trained[2].pending).toMatchObject({ runId: 3, continueFrom: 1, options: { initialLearnRate: 0.01, maxEpochs: 20 } });
    // The trim applies to the standing configuration: the dropout run trains 18 epochs.
    expect(trained[3].pending.options.maxEpochs).toBe(18);
    expect(trained[3].pending.network.layers.some((l) => l.type === 'dropout')).toBe(true);
    // Reverted L2 does not stand: widen starts from the dropout network without the L2 change.
    expect(trained[5].pending.options.l2Regularization).toBe(standing.options.l2Regularization);
    expect(trained[5].pending.parentId).toBe(4);
    // The policy is told the stage it is in, and what was tried.
    expect(seen.map((s) => s.stage)).toEqual(['baseline', 'stabilise', 'trainEnough', 'trimEpochs', 'regularise', 'regularise', 'capacity']);
    expect(seen[6].tried).toEqual(['raiseLearnRate', 'addEpochs', 'trimEpochs', 'addDropout', 'addL2', 'widen']);
    expect(finals).toHaveLength(1);
    expect(finals[0].incumbentId).toBe(4);
    expect(finals[0].standing.options.maxEpochs).toBe(18);
    expect(states).not.toContain('failed');
    expect(end.context.finalRunId).toBe(7);
  });

  test('a trainer failure ends in failed with the message', async () => {
    const machine = tuneMachine.provide({
      actors: {
        trainRun: fromPromise<RunOutcome, TrainInput>(async () => {
          throw new Error('out of memory');
        }),
        decideNext: scriptedPolicy([], []),
        finaliseStudy: finaliseOk,
      },
    });
    const actor = createActor(machine, { input: { standing } }).start();
    const end = await waitFor(actor, (s) => s.status === 'done');
    expect(end.value).toBe('failed');
    expect(end.context.error).toBe('out of memory');
  });

  test('a policy failure ends in failed and keeps the run count', async () => {
    const trained: TrainInput[] = [];
    const machine = tuneMachine.provide({
      actors: {
        trainRun: fakeTrain(trained),
        decideNext: fromPromise<DecideOutcome, DecideInput>(async () => {
          throw new Error('policy my-policy.ts threw: boom');
        }),
        finaliseStudy: finaliseOk,
      },
    });
    const actor = createActor(machine, { input: { standing } }).start();
    const end = await waitFor(actor, (s) => s.status === 'done');
    expect(end.value).toBe('failed');
    expect(end.context.error).toMatch(/boom/);
    expect(trained).toHaveLength(1);
  });

  test('every state has a description quoting its step', () => {
    for (const [key, node] of Object.entries(tuneMachine.root.states)) {
      expect(node.description, key).toBeTruthy();
    }
    expect(tuneMachine.root.states.stabilise.description).toMatch(/lower InitialLearnRate by a power of ten/);
  });
});

describe('resume from a persisted snapshot', () => {
  const script = [d('lowerLearnRate'), d('addEpochs', { maxEpochs: 20 }), d('addDropout', { rate: 0.2 }), d('deepen'), d('stop')];

  test('stopping after any transition and restoring gives the same study as an uninterrupted one', async () => {
    const straight = await runToEnd(script);
    const straightRuns = straight.trained.map((t) => JSON.stringify(t.pending));

    for (let cut = 1; cut < 10; cut++) {
      const trained: TrainInput[] = [];
      const seen: DecideInput[] = [];
      let transitions = 0;
      let persisted: unknown = null;
      const machine = tuneMachine.provide({
        actors: { trainRun: fakeTrain(trained), decideNext: scriptedPolicy(script, seen), finaliseStudy: finaliseOk },
      });
      // First process: runs until `cut` transitions, persisting after each one, then dies.
      const first: AnyActorRef = createActor(machine, { input: { standing } });
      await new Promise<void>((resolve) => {
        first.subscribe((s) => {
          // Through the store's own encoding, as study.json keeps it.
          persisted = parseStudy(stringifyStudy(first.getPersistedSnapshot() as never));
          transitions++;
          if (transitions >= cut || s.status === 'done') resolve();
        });
        first.start();
      });
      first.stop();
      // Second process: resumes from the JSON snapshot. An interrupted run is trained again;
      // the store (here: `trained`, de-duplicated by run id) keeps finished runs once.
      const second = createActor(machine, { snapshot: persisted as never, input: { standing } }).start();
      const end = await waitFor(second, (s) => s.status === 'done');
      expect(end.value).toBe('done');
      const byId = new Map(trained.map((t) => [t.pending.runId, JSON.stringify(t.pending)]));
      expect([...byId.values()]).toEqual(straightRuns);
      expect(end.context.finalRunId).toBe(straight.end.context.finalRunId);
    }
  });
});

describe('every final state is reachable (xstate/graph shortest paths)', () => {
  test('done and failed each have a shortest path', () => {
    const outcome: RunOutcome = { runId: 1, bestValLoss: 0.5, bestEpoch: 8, epochsCompleted: 10, learnRate: 0.01 };
    const decided = (action: ActionName) => ({ type: 'xstate.done.actor.decideNext', output: { decision: d(action), budgetExhausted: false } });
    const events = [
      { type: 'xstate.done.actor.trainRun', output: outcome },
      { type: 'xstate.error.actor.trainRun', error: new Error('x') },
      ...(['lowerLearnRate', 'addEpochs', 'trimEpochs', 'addDropout', 'widen', 'stop'] as const).map(decided),
      { type: 'xstate.error.actor.decideNext', error: new Error('policy') },
      { type: 'xstate.done.actor.finaliseStudy', output: { runId: 2 } },
      { type: 'xstate.error.actor.finaliseStudy', error: new Error('eval') },
    ];
    const paths = getShortestPaths(tuneMachine, {
      input: { standing },
      events: events as never,
      // Collapse the context to the state and the stage, so the graph is finite.
      serializeState: (s) => JSON.stringify([(s as { value: unknown }).value, (s as { context: { stage: string } }).context.stage]),
    });
    const reached = new Set(paths.map((p) => JSON.stringify((p.state as { value: unknown }).value)));
    // trimEpochs is transient (no run): it is passed through on the way back to deciding.
    for (const state of Object.keys(tuneMachine.root.states).filter((s) => s !== 'trimEpochs')) {
      expect(reached, `state ${state}`).toContain(JSON.stringify(state));
    }
    const afterTrim = paths.find((p) => (p.state as { context: { stage: string } }).context.stage === 'trimEpochs');
    expect(afterTrim, 'a path through trimEpochs').toBeTruthy();
    const toDone = paths.find((p) => (p.state as { value: unknown }).value === 'done')!;
    expect(toDone.steps.map((s) => s.event.type)).toEqual([
      'xstate.init',
      'xstate.done.actor.trainRun',
      'xstate.done.actor.decideNext',
      'xstate.done.actor.finaliseStudy',
    ]);
  });
});
