/**
 * Pure helpers the machine's named actions and guards call: which stage an action belongs to,
 * how a decision changes the standing configuration, and whether a candidate run is kept.
 */
import { addDropout, changeFilterSize, deepen, widen } from '../config/network.ts';
import type { ActionName, Decision, NetworkSpec, Stage, TrainingOptions, Verdict } from '../types.ts';

/** The configuration that currently stands: the incumbent's, possibly trimmed. */
export interface Standing {
  network: NetworkSpec;
  options: TrainingOptions;
}

/** What the next training run will be. */
export interface PendingRun extends Standing {
  runId: number;
  stage: Stage;
  /** The incumbent this run changes (null for the baseline). */
  parentId: number | null;
  /** The decision that produced it (null for the baseline). */
  change: Decision | null;
  /** Warm start from this run's checkpoint (addEpochs). */
  continueFrom: number | null;
}

/** The flowchart stage each action belongs to. */
export const STAGE_OF_ACTION: Record<ActionName, Stage> = {
  lowerLearnRate: 'stabilise',
  raiseLearnRate: 'stabilise',
  addEpochs: 'trainEnough',
  trimEpochs: 'trimEpochs',
  addDropout: 'regularise',
  addL2: 'regularise',
  addLearnRateSchedule: 'regularise',
  widen: 'capacity',
  deepen: 'capacity',
  changeFilterSize: 'capacity',
  stop: 'finalise',
};

const OPTION_NAMES = new Set<keyof TrainingOptions>([
  'solver', 'initialLearnRate', 'momentum', 'maxEpochs', 'miniBatchSize', 'shuffle', 'l2Regularization',
  'gradientThreshold', 'gradientThresholdMethod', 'learnRateSchedule', 'learnRateDropFactor',
  'learnRateDropPeriod', 'validationFrequency', 'validationPatience', 'outputNetwork', 'seed',
]);

/** The decision's params that are training-option names, merged over `options`. */
function withOptionParams(options: TrainingOptions, params: Decision['params']): TrainingOptions {
  const next: Record<string, unknown> = { ...options };
  for (const [key, value] of Object.entries(params)) {
    if (OPTION_NAMES.has(key as keyof TrainingOptions)) next[key] = value;
  }
  return next as unknown as TrainingOptions;
}

function num(params: Decision['params'], key: string): number | undefined {
  const v = params[key];
  return typeof v === 'number' ? v : undefined;
}

/** The network a decision asks for (unchanged for option-only actions). */
export function networkAfter(network: NetworkSpec, decision: Decision): NetworkSpec {
  const p = decision.params;
  switch (decision.action) {
    case 'addDropout':
      return addDropout(network, { afterLayer: num(p, 'afterLayer'), rate: num(p, 'rate') ?? 0.2 });
    case 'widen':
      return widen(network, num(p, 'factor') ?? 2);
    case 'deepen':
      return deepen(network, { filters: num(p, 'filters') });
    case 'changeFilterSize':
      return changeFilterSize(network, num(p, 'kernelSize') ?? 5);
    default:
      return network;
  }
}

/**
 * The run a decision leads to, from the standing configuration. `lowerLearnRate` and
 * `raiseLearnRate` without an explicit rate move the last run's rate by one power of ten. `addEpochs` continues
 * the incumbent's checkpoint when the new total exceeds the epochs it already trained.
 */
export function nextRun(
  standing: Standing,
  decision: Decision,
  ids: { runId: number; incumbentId: number | null; incumbentEpochs: number; lastLearnRate: number },
): PendingRun {
  let options = withOptionParams(standing.options, decision.params);
  // The learning-rate search walks from the last run's rate, which may be a reverted (diverged) one.
  if (decision.action === 'lowerLearnRate' && num(decision.params, 'initialLearnRate') === undefined) {
    options = { ...options, initialLearnRate: ids.lastLearnRate / 10 };
  }
  if (decision.action === 'raiseLearnRate' && num(decision.params, 'initialLearnRate') === undefined) {
    options = { ...options, initialLearnRate: ids.lastLearnRate * 10 };
  }
  if (decision.action === 'addEpochs' && num(decision.params, 'maxEpochs') === undefined) {
    options = { ...options, maxEpochs: standing.options.maxEpochs * 2 };
  }
  const continueFrom =
    decision.action === 'addEpochs' && ids.incumbentId !== null && options.maxEpochs > ids.incumbentEpochs
      ? ids.incumbentId
      : null;
  return {
    runId: ids.runId,
    stage: STAGE_OF_ACTION[decision.action],
    network: networkAfter(standing.network, decision),
    options,
    parentId: ids.incumbentId,
    change: decision,
    continueFrom,
  };
}

/** trimEpochs: the standing configuration with maxEpochs at the validation-loss minimum. */
export function trimmed(standing: Standing, decision: Decision, bestEpoch: number | null): Standing {
  const maxEpochs = num(decision.params, 'maxEpochs') ?? bestEpoch ?? standing.options.maxEpochs;
  return { network: standing.network, options: { ...standing.options, maxEpochs: Math.max(1, Math.round(maxEpochs)) } };
}

/**
 * Kept or reverted: a candidate is kept when its best validation loss is finite and lower than
 * the incumbent's (any finite loss beats a diverged incumbent).
 */
export function judgeRun(candidateBestValLoss: number | null, incumbentBestValLoss: number | null, isBaseline: boolean): Verdict {
  if (isBaseline) return 'baseline';
  const candidateOk = candidateBestValLoss !== null && Number.isFinite(candidateBestValLoss);
  if (!candidateOk) return 'reverted';
  if (incumbentBestValLoss === null || !Number.isFinite(incumbentBestValLoss)) return 'kept';
  return candidateBestValLoss < incumbentBestValLoss ? 'kept' : 'reverted';
}
