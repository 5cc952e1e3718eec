/**
 * `flowtune`: the public API a policy is written against. PURE (no I/O, no tfjs), so a policy and
 * its tests import it anywhere (the layering check in .dependency-cruiser.cjs keeps it so):
 *
 *   - the types: Policy, PolicyContext, RunSummary, Diagnosis, TrainingCurve, NetworkSpec, ...;
 *   - the action registry and the typed decisions: ACTIONS, Decision, decisionProblem, ...;
 *   - the diagnosis functions the machine uses: overfitting, accuracyGapAt, linearTrend, ...;
 *   - the network edits and training options: deepen, widen, resolveOptions, ...;
 *   - the built-in policies, to extend or wrap: flowchartPolicy, randomPolicy, ...
 *
 * The contract kit for a policy's tests is `flowtune/testing`. Running a study is the `tune`
 * command's job (src/cli.ts), not this module's.
 *
 * Order matters: the built-in policies import from 'flowtune' (this module) like a user's policy,
 * so they come last, after everything they use is evaluated.
 */
export type * from './types.ts';
export { UserError, isUserError } from './errors.ts';
export {
  ACTIONS,
  ACTION_NAMES,
  actionTable,
  applyDecision,
  decisionProblem,
  estimateRunSeconds,
  scaled,
  stepOf,
  type ActionDef,
  type ActionKind,
  type Actions,
  type ApplyContext,
  type Change,
  type Configuration,
  type NumberParam,
  type OptionParam,
  type ParamSpec,
  type ParamsFor,
  type ParamsOf,
  type Step,
} from './actions.ts';
export * from './diagnosis/index.ts';
export {
  defaultNetwork,
  addDropout,
  widen,
  deepen,
  changeFilterSize,
  addBlockConvolutions,
  paramCount,
  describeNetwork,
  networkFlops,
  validateNetwork,
  outputUnits,
} from './config/network.ts';
export { DEFAULT_OPTIONS, OPTION_NAMES, augments, defaultLearnRate, optionProblem, resolveOptions, learnRateAt, toMatlabAugmenter, toMatlabCall } from './config/options.ts';
// The built-in policies (last: they import this module).
export { policy as flowchartPolicy, FLOWCHART_SETTINGS } from '../policies/flowchart.ts';
export { policy as examplePolicy } from '../policies/example.ts';
export { policy as randomPolicy, SPACE as RANDOM_SPACE, MAX_RANDOM_RUNS } from '../policies/random.ts';
export { policy as noSearchPolicy } from '../policies/no-search.ts';
