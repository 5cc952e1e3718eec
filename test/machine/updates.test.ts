/**
 * The machine's context updates (src/machine/updates.ts) as the pure functions they are: a few
 * transitions checked on made-up contexts (the machine tests walk them all through the machine).
 */
import { describe, expect, test } from 'vitest';
import { resolveOptions } from '../../src/config/options.ts';
import { defaultNetwork } from '../../src/config/network.ts';
import { UPDATES, initialContext, searchSpent } from '../../src/machine/updates.ts';
import type { RunFacts, TuneContext } from '../../src/machine/context.ts';

const standing = { network: defaultNetwork(), options: resolveOptions({ maxEpochs: 10 }) };
const start = (budget = { searchSecondsLeft: 600, runsLeft: null }) => initialContext({ standing, budget });
const facts = (runId: number, unstable = false): RunFacts => ({
  runId,
  configuration: standing,
  learnRate: 0.01,
  epochsTrained: 10,
  bestEpoch: 8,
  secondsPerEpoch: 2,
  evidence: { unstable, tooSlow: false, stillImproving: false, valLossRising: false, overfittingGap: false, gap: 0.01 },
});
const event = (output: unknown) => ({ output });

describe('the machine context updates', () => {
  test('a study starts with its baseline pending as run 1, on the subset, nothing tried', () => {
    const c = start();
    expect(c.pending).toMatchObject({ runId: 1, stage: 'baseline', kind: 'search', parentId: null });
    expect(c).toMatchObject({ step: 'baseline', nextRunId: 2, fidelity: 'subset', tried: [], canClimb: false, rateLadder: false });
  });

  test.each([
    [{ searchSecondsLeft: 0, runsLeft: null }, true],
    [{ searchSecondsLeft: 10, runsLeft: 0 }, true],
    [{ searchSecondsLeft: 10, runsLeft: 3 }, false],
    [{ searchSecondsLeft: null, runsLeft: null }, false],
  ])('search spent with %o: %s', (budget, spent) => {
    expect(searchSpent({ ...start(), budget })).toBe(spent);
  });

  test('a close call: the same candidate again, seed + 1000, as a replicate of the original run', () => {
    const c: TuneContext = { ...start(), nextRunId: 6, pending: { ...start().pending!, runId: 5, kind: 'search', options: { ...standing.options, seed: 3 } } };
    const next = UPDATES.prepareReplicate({ context: c, event: null });
    expect(next).toMatchObject({ replicated: true, nextRunId: 7, pending: { runId: 6, kind: 'replicate', replicateOf: 5, continueFrom: null, options: { seed: 1003 } } });
  });

  test('reverted: a diverged candidate becomes the subject to fix; a stable one leaves the standing run the subject', () => {
    const base: TuneContext = { ...start(), incumbent: facts(1), outcome: { decision: { action: 'widen', params: {}, reason: '' }, change: null, estimatedSeconds: null } };
    expect(UPDATES.revertCandidate({ context: { ...base, candidate: facts(2, true) }, event: null }).subject).toMatchObject({ runId: 2, isStanding: false });
    expect(UPDATES.revertCandidate({ context: { ...base, candidate: facts(2) }, event: null }).subject).toMatchObject({ runId: 1, isStanding: true });
  });

  test('the rung baseline starts the flowchart again at regularise, on all the images, nothing tried', () => {
    const next = UPDATES.recordRungBaseline({ context: start(), event: event({ facts: facts(9), budget: { searchSecondsLeft: 300, runsLeft: null } }) });
    expect(next).toMatchObject({ fidelity: 'full', step: 'regularise', tried: [], triedAtStanding: [], trimmed: true, epochsExhausted: true, incumbent: { runId: 9 } });
  });
});

describe('the accepted outcome is the step\'s decision', () => {
  test('a reverted addEpochs exhausts the train-enough step; a reverted widen does not', () => {
    const base: TuneContext = { ...start(), incumbent: facts(1), candidate: facts(2) };
    const after = (action: 'addEpochs' | 'widen') =>
      UPDATES.revertCandidate({ context: { ...base, outcome: { decision: { action, params: {}, reason: '' }, change: null, estimatedSeconds: null } }, event: null }).epochsExhausted;
    expect(after('addEpochs')).toBe(true);
    expect(after('widen')).toBe(false);
  });
});
