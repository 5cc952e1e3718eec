/**
 * Random search: the baseline the flowchart must beat. Each decision picks, with the study's
 * seeded `context.random()` (so a study is reproducible), one of the actions the machine allows
 * at its current step (`context.allowed`: the flowchart's rails hold for every policy) and a value
 * for it from SPACE, ignoring the diagnosis. Same knobs as the flowchart's remedies, over wider
 * ranges; same budget (the machine enforces it, and with no budget it stops after MAX_RANDOM_RUNS
 * runs so it always ends). Its changes are kept only if they beat the incumbent beyond the noise,
 * like any policy's. It does not sample a change whose configuration already ran at this fidelity:
 * the study's seeded training would repeat that run exactly, verdict and all.
 */
import { addBlockConvolutions, applyDecision, convolutionsOf, formatNumber, sameConfiguration, type ActionName, type Configuration, type Decision, type Policy, type PolicyContext, type RunSummary } from 'flowtune';

/** With no run or time budget, random search stops after this many runs. */
export const MAX_RANDOM_RUNS = 20;

/** The search space. */
export const SPACE = {
  learnRate: [1e-5, 1e-4, 1e-3, 1e-2, 1e-1],
  maxEpochs: [5, 10, 20, 30, 50, 100],
  dropoutRate: [0.1, 0.2, 0.3, 0.4, 0.5],
  l2Regularization: [1e-5, 1e-4, 1e-3, 1e-2],
  learnRateDropFactor: [0.1, 0.2, 0.5],
  learnRateDropPeriod: [5, 10, 20],
  widenFactor: [1.5, 2],
  deepenFilters: [32, 40, 64],
  kernelSize: [3, 5, 7],
  translation: [0, 1, 2, 3],
  reflection: [true, false],
} as const;

type Knob = 'learnRate' | 'epochs' | 'dropout' | 'l2' | 'schedule' | 'augment' | 'widen' | 'deepen' | 'blockConv' | 'filterSize';
/** The actions each knob may lead to. */
const KNOB_ACTIONS: Record<Knob, readonly ActionName[]> = {
  learnRate: ['lowerLearnRate', 'raiseLearnRate'],
  epochs: ['addEpochs', 'trimEpochs'],
  dropout: ['addDropout'],
  l2: ['addL2'],
  schedule: ['addLearnRateSchedule'],
  augment: ['augmentData'],
  widen: ['widen'],
  deepen: ['deepen'],
  blockConv: ['addBlockConv'],
  filterSize: ['changeFilterSize'],
};
const KNOBS = Object.keys(KNOB_ACTIONS) as Knob[];
/** Widest convolution random search may create, and the smallest image it may still pool. */
const MAX_FILTERS = 256;
const MIN_POOLABLE = 4;

/** Height of the image left after the network's pooling layers. */
function pooledHeight(run: RunSummary): number {
  let h = run.network.inputShape[0];
  for (const l of run.network.layers) if (l.type === 'maxpool') h = Math.floor((h - l.poolSize) / l.stride) + 1;
  return h;
}

/** One sampled decision for a knob, or null when the sample changes nothing or is not possible. */
function sample(knob: Knob, run: RunSummary, pick: <T>(values: readonly T[]) => T): Decision | null {
  const o = run.options;
  const convs = convolutionsOf(run.network);
  const say = (what: string) => `random search: sampled ${what}`;
  switch (knob) {
    case 'learnRate': {
      const to = pick(SPACE.learnRate);
      if (Math.abs(to - o.initialLearnRate) <= 1e-12) return null;
      const action = to < o.initialLearnRate ? 'lowerLearnRate' : 'raiseLearnRate';
      return { action, params: { initialLearnRate: to }, reason: say(`initialLearnRate ${formatNumber(to)} (from ${formatNumber(o.initialLearnRate)})`) };
    }
    case 'epochs': {
      const to = pick(SPACE.maxEpochs);
      if (to === o.maxEpochs) return null;
      const action = to > o.maxEpochs ? 'addEpochs' : 'trimEpochs';
      return { action, params: { maxEpochs: to }, reason: say(`maxEpochs ${to} (from ${o.maxEpochs})`) };
    }
    case 'dropout': {
      const rate = pick(SPACE.dropoutRate);
      return { action: 'addDropout', params: { rate }, reason: say(`a dropout layer of rate ${rate}`) };
    }
    case 'l2': {
      const to = pick(SPACE.l2Regularization);
      if (Math.abs(to - o.l2Regularization) <= 1e-15) return null;
      return { action: 'addL2', params: { l2Regularization: to }, reason: say(`l2Regularization ${formatNumber(to)} (from ${formatNumber(o.l2Regularization)})`) };
    }
    case 'schedule': {
      const factor = pick(SPACE.learnRateDropFactor);
      const period = pick(SPACE.learnRateDropPeriod);
      return {
        action: 'addLearnRateSchedule',
        params: { learnRateSchedule: 'piecewise', learnRateDropFactor: factor, learnRateDropPeriod: period },
        reason: say(`a piecewise learn-rate drop ×${factor} every ${period} epochs`),
      };
    }
    case 'augment': {
      const shift = pick(SPACE.translation);
      const mirror = pick(SPACE.reflection);
      if (shift === 0 && !mirror) return null;
      if ((o.randXTranslation ?? 0) === shift && (o.randYTranslation ?? 0) === shift && (o.randXReflection ?? false) === mirror) return null;
      return { action: 'augmentData', params: { randXReflection: mirror, randXTranslation: shift, randYTranslation: shift }, reason: say(`augmentation: ${mirror ? 'mirrored, ' : ''}shifts up to ${shift} pixels`) };
    }
    case 'blockConv': {
      try {
        addBlockConvolutions(run.network);
      } catch {
        return null; // every block has its second convolution already
      }
      return { action: 'addBlockConv', params: {}, reason: say(`a second convolution in every block (filters ${convs.map((c) => c.filters).join(', ')})`) };
    }
    case 'widen': {
      const factor = pick(SPACE.widenFactor);
      const widest = Math.max(0, ...convs.map((c) => c.filters));
      if (convs.length === 0 || widest * factor > MAX_FILTERS) return null;
      return { action: 'widen', params: { factor }, reason: say(`widen ×${factor} (widest convolution ${widest} → ${Math.round(widest * factor)} filters)`) };
    }
    case 'deepen': {
      const filters = pick(SPACE.deepenFilters);
      if (pooledHeight(run) < MIN_POOLABLE) return null;
      return { action: 'deepen', params: { filters }, reason: say(`deepen with a block of ${filters} filters`) };
    }
    case 'filterSize': {
      const kernelSize = pick(SPACE.kernelSize);
      if (convs.length === 0 || convs.every((c) => c.kernelSize === kernelSize)) return null;
      return { action: 'changeFilterSize', params: { kernelSize }, reason: say(`filter size ${kernelSize}×${kernelSize} (from ${convs[0].kernelSize}×${convs[0].kernelSize})`) };
    }
  }
}

/**
 * Whether a sampled change leads, from `from` (what the machine applies it to), to a configuration
 * one of `ran` already trained.
 */
function repeats(d: Decision, from: Configuration, subject: RunSummary, ran: readonly RunSummary[]): boolean {
  let next: Configuration;
  try {
    next = applyDecision({ network: from.network, options: from.options }, d, { lastLearnRate: subject.options.initialLearnRate, bestEpoch: subject.bestEpoch, epochsTrained: subject.curve.epochs.length });
  } catch {
    return false; // not applicable: the machine says so, not this check
  }
  return ran.some((r) => sameConfiguration(r, next));
}

function decide(context: PolicyContext): Decision {
  const { budget, runs, incumbent, allowed } = context;
  const keep = `keep run ${incumbent.id} (validation loss ${formatNumber(incumbent.evaluation?.loss ?? incumbent.bestValLoss)})`;
  if (budget.runsLeft <= 0 || budget.secondsLeft <= 0) return { action: 'stop', params: {}, reason: `random search: budget spent after ${runs.length} runs; ${keep}` };
  const unlimited = !Number.isFinite(budget.runsLeft) && !Number.isFinite(budget.secondsLeft);
  if (unlimited && runs.length >= MAX_RANDOM_RUNS) {
    return { action: 'stop', params: {}, reason: `random search: ${runs.length} runs (the cap without a budget is ${MAX_RANDOM_RUNS}); ${keep}` };
  }
  // A diverged run must be fixed or given up first (the rails): lower its rate at random, or give it up.
  if (allowed.includes('revert') && context.random() < 0.5) return { action: 'revert', params: {}, reason: `random search: give the diverged run ${context.subjectRun} up; ${keep}` };
  const pick = <T,>(values: readonly T[]): T => values[Math.min(values.length - 1, Math.floor(context.random() * values.length))];
  const knobs = KNOBS.filter((k) => KNOB_ACTIONS[k].some((a) => allowed.includes(a)));
  const refused = new Set(context.refused.map((r) => JSON.stringify(r.decision)));
  const subject = context.subjectRun ? runs.find((r) => r.id === context.subjectRun) ?? incumbent : incumbent;
  const from = context.subjectRun != null || !context.standing ? subject : context.standing;
  // The runs of this fidelity (the subset's, or the full-data rung's; a final run on the validation images is neither).
  const ran = runs.filter((r) => r.fidelity.kind === (context.fidelity ?? 'subset') && !r.fidelity.trainsOnValidation);
  let repeated = 0;
  for (let attempt = 0; attempt < 50 && knobs.length > 0; attempt++) {
    const d = sample(pick(knobs), subject, pick);
    if (!d || !allowed.includes(d.action) || refused.has(JSON.stringify(d))) continue;
    if (repeats(d, from, subject, ran)) {
      repeated++;
      continue;
    }
    return d;
  }
  const notNew = repeated > 0 ? ` that has not run already (${repeated} of 50 samples had)` : '';
  return { action: 'stop', params: {}, reason: `random search: no allowed change left to sample${notNew} (allowed: ${allowed.join(', ')}); ${keep}` };
}

export const policy: Policy = {
  name: 'random',
  description: 'Random search over learn rate (powers of ten), epochs, dropout, L2, schedule, augmentation, width, depth, convolutions per block and filter size; the baseline the flowchart must beat.',
  decide,
};

export default policy;
