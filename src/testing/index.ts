/**
 * `flowtune/testing`: the policy contract kit. PURE; use it from any test runner.
 *
 *   import { checkPolicy } from 'flowtune/testing';
 *   import policy from './my-policy.ts';
 *   test('my policy keeps the contract', () => expect(checkPolicy(policy).problems).toEqual([]));
 *
 * `checkPolicy` asks the policy about every scenario of SCENARIOS (each diagnosis, a 1-epoch and
 * an all-NaN history, diverged candidates, exhausted remedies, a spent budget) under several
 * seeds; see src/testing/check.ts for the contract. The builders (`scenarioRun`,
 * `scenarioContext`, CURVES) make the same contexts for tests of a policy's own choices.
 */
export { checkPolicy, type CheckOptions, type PolicyCheck, type ScenarioResult } from './check.ts';
export {
  CURVES,
  SCENARIOS,
  curveOf,
  scenarioContext,
  scenarioRails,
  scenarioRun,
  type RunExtras,
  type Scenario,
  type ScenarioSpec,
} from './scenarios.ts';
