/**
 * The action registry: every action a policy can take, in ONE place. For each action: the
 * flowchart step it belongs to, its typed parameter schema (names, types, ranges, defaults and
 * one-line docs), how it changes the network and/or the training options, and whether it trains
 * a run. The policy loader's validation, the machine's rails and plan, the policy documentation
 * and the report all read this module; nothing else spells an action's parameters.
 *
 * PURE: no tfjs, no I/O. `Decision` is derived from the registry, so a TypeScript policy that
 * passes a wrong parameter (`{ action: 'addDropout', params: { rat: 0.5 } }`) fails to type-check,
 * and a JavaScript policy that does so is stopped by `decisionProblem` with exit 2.
 */
import { networkFlops } from './config/network.ts';
import { addBlockConvolutions, addDropout, changeFilterSize, deepen, widen } from './config/network-edits.ts';
import { defaultLearnRate, optionProblem, optionRange } from './config/options.ts';
import type { NetworkSpec, Stage, TrainingOptions } from './types.ts';

/** The flowchart steps an action can belong to (every stage but the baseline). */
export type Step = Exclude<Stage, 'baseline'>;

/** A numeric parameter that is not a training option (a network edit). */
export interface NumberParam {
  kind: 'number';
  doc: string;
  min: number;
  max: number;
  /** The range's ends are excluded (e.g. a dropout rate in (0, 1)). */
  open?: boolean;
  integer?: boolean;
}

/** A parameter that sets the training option of the same name; checked by config/options.ts. */
export interface OptionParam<K extends keyof TrainingOptions = keyof TrainingOptions> {
  kind: 'option';
  option: K;
  doc: string;
  /** A narrower set of allowed values than the option's own. */
  values?: readonly TrainingOptions[K][];
}

export type ParamSpec = NumberParam | OptionParam;

type ValueOf<P> = P extends OptionParam<infer K> ? TrainingOptions[K] : number;

/**
 * The params object of an action: every parameter optional (each has a default). An action without
 * parameters takes an empty object only (a bare `{}` type would accept any object).
 */
export type ParamsOf<S> = [keyof S] extends [never] ? Record<string, never> : { [K in keyof S]?: ValueOf<S[K]> };

/** A configuration: what a run trains. */
export interface Configuration {
  network: NetworkSpec;
  options: TrainingOptions;
}

/**
 * Whether two configurations train the same: compared as JSON with every object's keys in order
 * (undefined-valued keys dropped, as stored), so the order a spread or a store wrote them in does not count.
 */
export function sameConfiguration(a: Configuration, b: Configuration): boolean {
  return configurationKey(a) === configurationKey(b);
}

function configurationKey(c: Configuration): string {
  return JSON.stringify({ network: c.network, options: c.options }, (_key, value: unknown) =>
    value !== null && typeof value === 'object' && !Array.isArray(value) ? Object.fromEntries(Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : value,
  );
}

/** What an action needs besides its params to compute the next configuration. */
export interface ApplyContext {
  /** The learning rate of the last run (lowering walks from a diverged run's rate). */
  lastLearnRate: number;
  /** The epoch at which the subject's smoothed validation loss is lowest (trimEpochs' default). */
  bestEpoch: number | null;
  /** Epochs the subject's run trained (addEpochs continues from there). */
  epochsTrained: number;
}

/** The next configuration, and whether its run continues the subject's checkpoint. */
export interface Change extends Configuration {
  continues: boolean;
}

export interface ActionDef<S extends Record<string, ParamSpec> = Record<string, ParamSpec>> {
  /** The flowchart step (FLOWCHART.md) this action belongs to. */
  step: Step;
  /** One line for documentation and reports. */
  doc: string;
  params: S;
  /**
   * What taking it does: `train` a run of the changed configuration; `edit` the standing
   * configuration without a run (trimEpochs); `revert` (give a diverged candidate up); `stop`.
   */
  kind: ActionKind;
  /** True when taking it, kept or not, ends its step for the standing configuration (addEpochs: epochs exhausted). */
  exhaustsStep: boolean;
  /** True when the action trains a run: `kind === 'train'`. */
  trains: boolean;
  /** The configuration after the action. Throws a UserError (from config/) for an impossible edit. */
  apply(subject: Configuration, params: ParamsOf<S>, context: ApplyContext): Change;
}

/** What an action does when taken (the registry's `kind`). */
export type ActionKind = 'train' | 'edit' | 'revert' | 'stop';

function action<const S extends Record<string, ParamSpec>>(def: Omit<ActionDef<S>, 'trains' | 'exhaustsStep'> & { exhaustsStep?: boolean }): ActionDef<S> {
  return { ...def, exhaustsStep: def.exhaustsStep ?? false, trains: def.kind === 'train' };
}

const option = <K extends keyof TrainingOptions>(name: K, doc: string, values?: readonly TrainingOptions[K][]): OptionParam<K> =>
  values ? { kind: 'option', option: name, doc, values } : { kind: 'option', option: name, doc };

/** x × factor, rounded so powers of ten stay clean (0.001 × 0.1 = 0.0001, not 0.00010000000000000002). */
export const scaled = (x: number, factor: number): number => Number((x * factor).toPrecision(12));

const same = (subject: Configuration, options: Partial<TrainingOptions> = {}): Change => ({
  network: subject.network,
  options: { ...subject.options, ...options },
  continues: false,
});

/** The registry. Order: the flowchart's. */
export const ACTIONS = {
  // ── 1. stabilise the learning rate
  lowerLearnRate: action({
    step: 'stabilise',
    doc: "initialLearnRate down by a power of ten, from the last run's rate (NaN, divergence or circling)",
    params: { initialLearnRate: option('initialLearnRate', "the new rate (default: the last run's rate × 0.1)") },
    kind: 'train',
    apply: (s, p, c) => same(s, { initialLearnRate: p.initialLearnRate ?? scaled(c.lastLearnRate, 0.1) }),
  }),
  raiseLearnRate: action({
    step: 'stabilise',
    doc: "initialLearnRate up by a power of ten, from the last run's rate (stable but very slow)",
    params: { initialLearnRate: option('initialLearnRate', "the new rate (default: the last run's rate × 10)") },
    kind: 'train',
    apply: (s, p, c) => same(s, { initialLearnRate: p.initialLearnRate ?? scaled(c.lastLearnRate, 10) }),
  }),
  clipGradients: action({
    step: 'stabilise',
    doc: "gradient clipping, the notes' other rescue of a diverging rate (threshold 1 converged there)",
    params: {
      gradientThreshold: option('gradientThreshold', 'the threshold (default 1)'),
      gradientThresholdMethod: option('gradientThresholdMethod', "how gradients are clipped (default: the subject's, MATLAB's 'l2norm')"),
    },
    kind: 'train',
    apply: (s, p) =>
      same(s, {
        gradientThreshold: p.gradientThreshold ?? 1,
        gradientThresholdMethod: p.gradientThresholdMethod ?? s.options.gradientThresholdMethod,
      }),
  }),
  // ── 2. train enough
  addEpochs: action({
    step: 'trainEnough',
    doc: "more epochs, continuing the subject's checkpoint (only the new epochs cost time)",
    params: { maxEpochs: option('maxEpochs', 'the new total (default: twice the epochs trained)') },
    kind: 'train',
    exhaustsStep: true,
    apply: (s, p, c) => {
      const maxEpochs = p.maxEpochs ?? Math.max(s.options.maxEpochs, c.epochsTrained) * 2;
      return { ...same(s, { maxEpochs }), continues: maxEpochs > c.epochsTrained };
    },
  }),
  changeSolver: action({
    step: 'trainEnough',
    doc: "another solver (sgdm, adam, rmsprop), at the rate given or that solver's MATLAB default",
    params: {
      solver: option('solver', "the new solver (default: 'adam' from sgdm, else 'sgdm')"),
      initialLearnRate: option('initialLearnRate', "its rate (default: MATLAB's default for the solver: 0.01 sgdm, 0.001 adam/rmsprop)"),
    },
    kind: 'train',
    apply: (s, p) => {
      const solver = p.solver ?? (s.options.solver === 'sgdm' ? 'adam' : 'sgdm');
      return same(s, { solver, initialLearnRate: p.initialLearnRate ?? defaultLearnRate(solver) });
    },
  }),
  // ── 3. stop at the right time
  trimEpochs: action({
    step: 'trimEpochs',
    doc: 'maxEpochs at the smoothed validation-loss minimum; no run (the standing configuration changes)',
    params: { maxEpochs: option('maxEpochs', 'the new maxEpochs (default: the epoch of the smoothed validation-loss minimum)') },
    kind: 'edit',
    apply: (s, p, c) => same(s, { maxEpochs: Math.max(1, Math.round(p.maxEpochs ?? c.bestEpoch ?? s.options.maxEpochs)) }),
  }),
  // ── 4. treat overfitting
  addDropout: action({
    step: 'regularise',
    doc: 'a dropout layer (by default before the final fully connected layer)',
    params: {
      rate: { kind: 'number', doc: 'drop probability (default 0.2)', min: 0, max: 1, open: true },
      afterLayer: { kind: 'number', doc: '0-based index of the layer it follows (default: the one before the final fc)', min: 0, max: 1000, integer: true },
    },
    kind: 'train',
    apply: (s, p) => ({ network: addDropout(s.network, { afterLayer: p.afterLayer, rate: p.rate ?? 0.2 }), options: s.options, continues: false }),
  }),
  addL2: action({
    step: 'regularise',
    doc: 'a larger l2Regularization (weight decay on convolution and fully connected weights)',
    params: { l2Regularization: option('l2Regularization', "the new factor (default: the subject's × 10, 1e-4 from 0)") },
    kind: 'train',
    apply: (s, p) => same(s, { l2Regularization: p.l2Regularization ?? (s.options.l2Regularization > 0 ? scaled(s.options.l2Regularization, 10) : 1e-4) }),
  }),
  addLearnRateSchedule: action({
    step: 'regularise',
    doc: 'a piecewise learning-rate drop (MATLAB LearnRateSchedule "piecewise")',
    params: {
      learnRateSchedule: option('learnRateSchedule', "'piecewise' (the only schedule this action sets)", ['piecewise']),
      learnRateDropFactor: option('learnRateDropFactor', 'the factor of each drop (default 0.1)'),
      learnRateDropPeriod: option('learnRateDropPeriod', 'epochs between drops (default: half of maxEpochs, at least 1)'),
    },
    kind: 'train',
    apply: (s, p) =>
      same(s, {
        learnRateSchedule: 'piecewise',
        learnRateDropFactor: p.learnRateDropFactor ?? 0.1,
        learnRateDropPeriod: p.learnRateDropPeriod ?? Math.max(1, Math.ceil(s.options.maxEpochs / 2)),
      }),
  }),
  augmentData: action({
    step: 'regularise',
    doc: "change the training data (the notes' fourth remedy): each training batch mirrored and shifted at random, on the fly (MATLAB imageDataAugmenter); validation and test images never",
    params: {
      randXReflection: option('randXReflection', 'mirror left–right with probability ½ (default true)'),
      randXTranslation: option('randXTranslation', 'horizontal shift drawn from [−N, N] pixels (default 2)'),
      randYTranslation: option('randYTranslation', 'vertical shift drawn from [−N, N] pixels (default 2)'),
    },
    kind: 'train',
    apply: (s, p) =>
      same(s, {
        randXReflection: p.randXReflection ?? true,
        randXTranslation: p.randXTranslation ?? 2,
        randYTranslation: p.randYTranslation ?? 2,
      }),
  }),
  // ── 5. capacity
  widen: action({
    step: 'capacity',
    doc: 'more filters in every convolution',
    params: { factor: { kind: 'number', doc: 'filters × factor, rounded (default 2)', min: 0, max: 16, open: true } },
    kind: 'train',
    apply: (s, p) => ({ network: widen(s.network, p.factor ?? 2), options: s.options, continues: false }),
  }),
  deepen: action({
    step: 'capacity',
    doc: 'one more convolution block (conv → batch norm → ReLU → 2×2 max pool) before the classifier',
    params: { filters: { kind: 'number', doc: "its filters (default: twice the last convolution's)", min: 1, max: 4096, integer: true } },
    kind: 'train',
    apply: (s, p) => ({ network: deepen(s.network, { filters: p.filters }), options: s.options, continues: false }),
  }),
  changeFilterSize: action({
    step: 'capacity',
    doc: 'another kernel size for every convolution',
    params: { kernelSize: { kind: 'number', doc: 'the new size (default 5)', min: 1, max: 15, integer: true } },
    kind: 'train',
    apply: (s, p) => ({ network: changeFilterSize(s.network, p.kernelSize ?? 5), options: s.options, continues: false }),
  }),
  addBlockConv: action({
    step: 'capacity',
    doc: 'a second convolution (conv → batch norm → ReLU, same filters and kernel) in every block, before its pooling (VGG-style blocks)',
    params: {},
    kind: 'train',
    apply: (s) => ({ network: addBlockConvolutions(s.network), options: s.options, continues: false }),
  }),
  // ── no step of its own
  revert: action({
    step: 'stabilise',
    doc: 'give up the diverged candidate: the standing configuration stays, and the study goes on from it',
    params: {},
    kind: 'revert',
    apply: (s) => same(s),
  }),
  stop: action({
    step: 'finalise',
    doc: 'no further change: finalise the standing configuration',
    params: {},
    kind: 'stop',
    apply: (s) => same(s),
  }),
};

export type Actions = typeof ACTIONS;
export type ActionName = keyof Actions;

/** Every action name, in the registry's (the flowchart's) order. */
export const ACTION_NAMES = Object.keys(ACTIONS) as ActionName[];

/** A policy's decision: one action, its typed params, and why (quoting the numbers). */
export type Decision = {
  [A in ActionName]: { action: A; params: ParamsOf<Actions[A]['params']>; reason: string };
}[ActionName];

/** The params of one action's decision. */
export type ParamsFor<A extends ActionName> = ParamsOf<Actions[A]['params']>;

/** The step an action belongs to. */
export function stepOf(name: ActionName): Step {
  return ACTIONS[name].step;
}

function describeParam(name: string, spec: ParamSpec): string {
  return `${name} (${spec.doc})`;
}

/** What is wrong with one parameter value of an action, or null. */
function paramProblem(name: ActionName, key: string, spec: ParamSpec, value: unknown): string | null {
  if (spec.kind === 'option') {
    if (spec.values && !(spec.values as readonly unknown[]).includes(value)) {
      return `params.${key} of ${name} must be one of ${spec.values.map((v) => JSON.stringify(v)).join(', ')}, got ${JSON.stringify(value)}`;
    }
    const problem = optionProblem(spec.option, value);
    return problem ? `params.${problem.replace(/^\w+/, key)} (${name})` : null;
  }
  const ok =
    typeof value === 'number' &&
    Number.isFinite(value) &&
    (!spec.integer || Number.isInteger(value)) &&
    (spec.open ? value > spec.min && value < spec.max : value >= spec.min && value <= spec.max);
  if (ok) return null;
  const range = spec.open ? `(${spec.min}, ${spec.max})` : `[${spec.min}, ${spec.max}]`;
  return `params.${key} of ${name} must be ${spec.integer ? 'a whole number' : 'a number'} in ${range}, got ${JSON.stringify(value)}`;
}

/**
 * What is wrong with a would-be Decision, or null. Names the action, the parameter and the
 * allowed ones: "addDropout has no parameter "rat"; its parameters: rate (…), afterLayer (…)".
 */
export function decisionProblem(value: unknown): string | null {
  if (typeof value !== 'object' || value === null) return `it is ${value === null ? 'null' : typeof value}, not an object`;
  if (typeof (value as { then?: unknown }).then === 'function') return 'it is a Promise; decide must be synchronous';
  const d = value as Record<string, unknown>;
  if (typeof d.action !== 'string' || !Object.hasOwn(ACTIONS, d.action)) {
    return `unknown action ${JSON.stringify(d.action) ?? 'undefined'} (actions: ${ACTION_NAMES.join(', ')})`;
  }
  const name = d.action as ActionName;
  const params = d.params ?? {};
  if (typeof params !== 'object' || params === null || Array.isArray(params)) return 'params is not an object';
  const schema = ACTIONS[name].params as Record<string, ParamSpec>;
  for (const [key, v] of Object.entries(params)) {
    const spec = schema[key];
    if (!spec) {
      const known = Object.entries(schema).map(([k, s]) => describeParam(k, s));
      return `${name} has no parameter "${key}"; ${known.length > 0 ? `its parameters: ${known.join('; ')}` : 'it takes none'}`;
    }
    const problem = paramProblem(name, key, spec, v);
    if (problem) return problem;
  }
  if (typeof d.reason !== 'string' || d.reason.trim() === '') return 'reason is empty (say why, quoting the numbers)';
  return null;
}

/** The configuration an (already validated) decision leads to, from `subject`. */
export function applyDecision(subject: Configuration, decision: Decision, context: ApplyContext): Change {
  const def = ACTIONS[decision.action] as ActionDef;
  return def.apply(subject, decision.params as ParamsOf<Record<string, ParamSpec>>, context);
}

/**
 * Estimated seconds of the run a change leads to, from a run of the subject: its seconds per
 * epoch, scaled by the networks' training flops per image and by the epochs to train (only the
 * added ones for a continuation). The measured throughput of the run it is compared with is the
 * ground truth; this is for planning (can the search afford it?).
 */
export function estimateRunSeconds(
  measured: { network: NetworkSpec; secondsPerEpoch: number },
  change: Change,
  epochsTrained: number,
): number {
  const ratio = networkFlops(change.network).training / Math.max(1, networkFlops(measured.network).training);
  const epochs = change.continues ? Math.max(0, change.options.maxEpochs - epochsTrained) : change.options.maxEpochs;
  return measured.secondsPerEpoch * ratio * epochs;
}

/** What a parameter accepts, in words. */
export function paramRange(spec: ParamSpec): string {
  if (spec.kind === 'option') return spec.values ? spec.values.map((v) => JSON.stringify(v)).join(' or ') : optionRange(spec.option);
  const range = spec.open ? `(${spec.min}, ${spec.max})` : `[${spec.min}, ${spec.max}]`;
  return `${spec.integer ? 'a whole number' : 'a number'} in ${range}`;
}

/** The registry as a Markdown table (README): action, step, what it does, parameters with their ranges and defaults. */
export function actionTable(): string {
  const rows = ACTION_NAMES.map((name) => {
    const def = ACTIONS[name] as ActionDef;
    const params = Object.entries(def.params).map(([k, s]) => `\`${k}\` (${paramRange(s)}): ${s.doc}`);
    return `| \`${name}\` | ${def.step} | ${def.doc} | ${params.join('<br>') || '—'} |`;
  });
  return ['| action | step | what it does | parameters (all optional) |', '| --- | --- | --- | --- |', ...rows].join('\n');
}
