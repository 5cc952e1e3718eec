/**
 * Type-level tests of `Decision` (issue 9: decisions typed per action). Not a vitest file: it is
 * checked by `npx tsc --noEmit` (tsconfig includes test/), which CI runs. Each `@ts-expect-error`
 * fails the type check if the line below it stops being an error, so a Decision that accepted a
 * misspelt or mistyped parameter again would break CI.
 */
import type { Decision, ParamsFor } from '../../src/actions.ts';
import type { Policy } from '../../src/types.ts';

// ── correct decisions type-check
export const dropout: Decision = { action: 'addDropout', params: { rate: 0.5 }, reason: 'gap 0.15 > 0.1' };
export const dropoutDefaults: Decision = { action: 'addDropout', params: {}, reason: 'gap 0.15 > 0.1' };
export const widen: Decision = { action: 'widen', params: { factor: 2 }, reason: 'converged at 0.3' };
export const schedule: Decision = { action: 'addLearnRateSchedule', params: { learnRateSchedule: 'piecewise', learnRateDropPeriod: 5 }, reason: 'gap 0.12' };
export const solver: Decision = { action: 'changeSolver', params: { solver: 'adam', initialLearnRate: 0.001 }, reason: 'slow at 0.01' };
export const stop: Decision = { action: 'stop', params: {}, reason: 'done after 3 runs' };

// ── wrong ones do not
// @ts-expect-error a misspelt parameter: addDropout has `rate`, not `rat`
export const misspelt: Decision = { action: 'addDropout', params: { rat: 0.5 }, reason: 'x' };
// @ts-expect-error a parameter of the wrong type: widen's factor is a number
export const mistyped: Decision = { action: 'widen', params: { factor: 'two' }, reason: 'x' };
// @ts-expect-error another action's parameter: filters belongs to deepen
export const borrowed: Decision = { action: 'widen', params: { filters: 40 }, reason: 'x' };
// @ts-expect-error an option value outside its type: no solver 'sgd'
export const badSolver: Decision = { action: 'changeSolver', params: { solver: 'sgd' }, reason: 'x' };
// @ts-expect-error an unknown action
export const unknown: Decision = { action: 'explode', params: {}, reason: 'x' };
// @ts-expect-error stop takes no parameters
export const stopWithParams: Decision = { action: 'stop', params: { now: true }, reason: 'x' };
// @ts-expect-error the reason is required
export const noReason: Decision = { action: 'stop', params: {} };

// ── narrowing on the action gives that action's params
export function rateOf(decision: Decision): number | undefined {
  if (decision.action === 'addDropout') return decision.params.rate;
  // @ts-expect-error outside the narrowing, params is a union: no `rate` on every member
  return decision.params.rate;
}

export const deepenParams: ParamsFor<'deepen'> = { filters: 40 };
// @ts-expect-error ParamsFor is the action's own params
export const wrongParams: ParamsFor<'deepen'> = { factor: 2 };

// ── a policy returning a wrong decision does not type-check
export const badPolicy: Policy = {
  name: 'bad',
  description: '',
  // @ts-expect-error decide must return a Decision; this one misspells rate
  decide: () => ({ action: 'addDropout', params: { rat: 0.5 }, reason: 'x' }),
};
