/**
 * `flowtune`: the public API a policy is written against. PURE (no I/O, no tfjs), so a policy and
 * its tests import it anywhere (the layering check in .dependency-cruiser.cjs keeps it so):
 *
 *   - the policy contract's types (src/types.ts): Policy, PolicyContext, RunSummary, Diagnosis,
 *     TrainingCurve, NetworkSpec, ...; not the stored study's records (src/store/records.ts);
 *   - the action registry and the typed decisions: ACTIONS, Decision, decisionProblem, ...;
 *   - the diagnosis functions the machine uses: overfitting, accuracyGapAt, linearTrend, ...;
 *   - the network edits and training options: deepen, widen, resolveOptions, ....
 *
 * The built-in policies, to extend or wrap (flowchartPolicy, randomPolicy, ...), are
 * `flowtune/policies`: they import this module like a user's policy, and this module imports none
 * of them (no import circle). The contract kit for a policy's tests is `flowtune/testing`. Running
 * a study is the `tune` command's job (src/cli.ts) and `flowtune/study`'s (runStudy, src/study/api.ts),
 * not this module's: a study does I/O.
 */
// The policy contract's types, by name (the stored study's records, src/store/records.ts, are not part of it).
export type {
  // what a policy is, sees and returns
  Policy,
  PolicyContext,
  RunSummary,
  Stage,
  Fidelity,
  ActionName,
  Decision,
  // how a run was judged (a RunSummary carries it)
  Verdict,
  Judgement,
  RunEvaluation,
  Throughput,
  // diagnosis
  Diagnosis,
  DiagnosisLabel,
  DiagnosisThresholds,
  TrainingCurve,
  // the configuration a decision changes
  NetworkSpec,
  LayerSpec,
  TrainingOptions,
  Solver,
  // a trainer's history (what curveFromHistory reads)
  TrainingHistory,
  IterationRecord,
  ValidationRecord,
  EpochRecord,
  StopReason,
} from './types.ts';
export { UserError, isUserError } from './errors.ts';
export {
  ACTIONS,
  ACTION_NAMES,
  actionTable,
  applyDecision,
  decisionProblem,
  estimateRunSeconds,
  sameConfiguration,
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
export { addDropout, widen, deepen, changeFilterSize, addBlockConvolutions } from './config/network-edits.ts';
export {
  defaultNetwork,
  convolutionsOf,
  type ConvLayer,
  paramCount,
  describeNetwork,
  networkFlops,
  validateNetwork,
  outputUnits,
} from './config/network.ts';
export { DEFAULT_OPTIONS, OPTION_NAMES, augments, defaultLearnRate, optionProblem, resolveOptions, learnRateAt, toMatlabAugmenter, toMatlabCall } from './config/options.ts';
