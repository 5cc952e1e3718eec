/**
 * The rails as tables: the step the evidence sends the study to and the actions each step allows,
 * at the subset rung (with and without the learning-rate ladder) and at the full-data rung.
 */
import { describe, expect, test } from 'vitest';
import { allowedActions, FULL_RUNG_GAP, nextStep, overfits, refusal, type RailState, type RunEvidence } from '../../src/machine/rails.ts';

const calm: RunEvidence = { unstable: false, tooSlow: false, stillImproving: false, valLossRising: false, overfittingGap: false, gap: 0.01 };
const state = (over: Partial<RailState> & { evidence?: Partial<RunEvidence> } = {}): RailState => {
  const { evidence, ...rest } = over;
  return {
    step: 'baseline',
    standing: { ...calm, ...evidence },
    subject: { runId: 1, isStanding: true, unstable: evidence?.unstable ?? false },
    triedAtStanding: [],
    trimmed: false,
    epochsExhausted: false,
    ...rest,
  };
};

describe('the learning-rate ladder (subset rung)', () => {
  test.each<[string, RailState, string]>([
    ['a stable run with the ladder open stays at stabilise', state({ rateOpen: true }), 'stabilise'],
    ['…even when still improving (the rate first, then the length)', state({ rateOpen: true, evidence: { stillImproving: true } }), 'stabilise'],
    ['the ladder closed: a still-improving run trains enough', state({ rateOpen: false, evidence: { stillImproving: true } }), 'trainEnough'],
    ['past stabilise the ladder does not bring the study back', state({ step: 'capacity', rateOpen: true }), 'capacity'],
    ['a diverged run goes to stabilise whatever the ladder', state({ step: 'capacity', evidence: { unstable: true } }), 'stabilise'],
  ])('%s', (_name, s, step) => {
    expect(nextStep(s)).toBe(step);
  });

  test('at the ladder every forward action is open (a policy moves on by answering one)', () => {
    const allowed = allowedActions(state({ step: 'stabilise', rateOpen: true }));
    expect(allowed).toEqual(expect.arrayContaining(['raiseLearnRate', 'lowerLearnRate', 'changeSolver', 'addEpochs', 'widen', 'augmentData', 'addBlockConv', 'stop']));
  });
});

describe('the full-data rung', () => {
  const full = (over: Partial<RailState> & { evidence?: Partial<RunEvidence> } = {}) => state({ fidelity: 'full', step: 'regularise', trimmed: true, epochsExhausted: true, ...over });

  test.each<[string, RailState, boolean, string]>([
    [`a gap over ${FULL_RUNG_GAP * 100} points overfits and is regularised`, full({ evidence: { gap: FULL_RUNG_GAP + 0.005 } }), true, 'regularise'],
    ['a rising validation loss overfits', full({ evidence: { valLossRising: true } }), true, 'regularise'],
    [`a gap of ${FULL_RUNG_GAP * 100} points or less is not overfitting: capacity`, full({ evidence: { gap: FULL_RUNG_GAP } }), false, 'capacity'],
    ['still improving does not send it to train enough (the length is the rung\'s)', full({ evidence: { stillImproving: true } }), false, 'capacity'],
    ['every remedy tried at the standing configuration: capacity', full({ evidence: { gap: 0.05 }, triedAtStanding: ['addDropout', 'addL2', 'addLearnRateSchedule', 'augmentData'] }), true, 'capacity'],
  ])('%s', (_name, s, over, step) => {
    expect(overfits(s)).toBe(over);
    expect(nextStep(s)).toBe(step);
  });

  test('the same 5-point gap on the subset rung is not overfitting (the notes\' 10 points)', () => {
    expect(overfits(state({ evidence: { gap: 0.05 } }))).toBe(false);
    expect(nextStep(state({ evidence: { gap: 0.05 } }))).toBe('capacity');
  });

  test.each<[string, Parameters<typeof refusal>[0], RegExp | null]>([
    ['addEpochs', 'addEpochs', /at the full-data rung every run trains the rung's epochs/],
    ['trimEpochs', 'trimEpochs', /at the full-data rung every run trains the rung's epochs/],
    ['addLearnRateSchedule', 'addLearnRateSchedule', /its schedule is the rung's/],
    ['raiseLearnRate', 'raiseLearnRate', /settled on the search subset/],
    ['augmentData', 'augmentData', null],
    ['addDropout', 'addDropout', null],
    ['capacity before a remedy while it overfits', 'widen', /try a regularisation remedy \(addDropout, addL2, addLearnRateSchedule, augmentData\) before capacity/],
  ])('%s', (_name, action, reason) => {
    const r = refusal(action, full({ evidence: { gap: 0.05 } }));
    if (reason === null) expect(r).toBeNull();
    else expect(r).toMatch(reason);
  });

  test('after a remedy, capacity is open; regularisation after capacity only while it overfits', () => {
    expect(refusal('widen', full({ evidence: { gap: 0.05 }, triedAtStanding: ['augmentData'] }))).toBeNull();
    expect(refusal('addDropout', full({ step: 'capacity', evidence: { gap: FULL_RUNG_GAP } }))).toMatch(/does not overfit/);
    expect(refusal('addDropout', full({ step: 'capacity', evidence: { gap: 0.06 } }))).toBeNull();
  });
});
