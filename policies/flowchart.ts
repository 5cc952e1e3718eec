/**
 * The default policy: the expert's training flowchart (/work/shared/FLOWCHART.md), in order.
 *
 *   1. Stabilise the learning rate: diverged or oscillating → lower it ×0.1; stable but too
 *      slow → raise it ×10, unless a raise from here already failed (keep the largest stable
 *      power of ten).
 *   2. Train enough: validation loss still falling at the end → double maxEpochs (capped),
 *      until the last addition gained under 1%.
 *   3. Stop at the right time: validation-loss minimum well before the end → maxEpochs there.
 *   4. Treat overfitting: accuracy gap above the threshold → dropout, then L2, then a
 *      piecewise learn-rate schedule, each tried once.
 *   5. Capacity: widen, deepen, change the filter size, each tried once. Then stop.
 *
 * The study's stage says where it is: a step is only taken at or after the current stage
 * (no jumping back). In regularise and capacity a candidate that diverged or did not help is
 * reverted by the machine; the policy moves on to the next remedy.
 *
 * Gradient clipping: the notes also rescue a diverging rate with gradientThreshold 1. There is
 * no clipping action, and a decision changes one thing at a time, so this policy only lowers
 * the rate; after three lowerings its reason says so.
 *
 * Written only against the public types and the diagnosis functions, like a user's policy.
 */
import type { ActionName, Decision, LayerSpec, Policy, PolicyContext, RunSummary, Stage } from '../src/types.ts';
import {
  accuracyGapAt,
  DEFAULT_THRESHOLDS,
  finitePoints,
  formatAgainst,
  formatChange,
  formatNumber,
  lastEpochOf,
  minimumPoint,
  overfitting,
} from '../src/diagnosis/index.ts';

/** The knobs of this policy, each with the flowchart's or notes' reason. */
export const FLOWCHART_SETTINGS = {
  /** Learning rates move by powers of ten (the notes). */
  lowerFactor: 0.1,
  raiseFactor: 10,
  /** Below this, lowering further is pointless: stop and say so. */
  minLearnRate: 1e-7,
  /** Above this, raising is pointless. */
  maxLearnRate: 1,
  /** maxEpochs doubles while the validation loss is still falling... */
  epochGrowth: 2,
  /** ...up to 100 epochs (the notes saw convergence by 100; 50 at least). */
  maxEpochsCap: 100,
  /** Stop adding epochs once the last addition improved the best validation loss by less than 1%. */
  minEpochGain: 0.01,
  /** Dropout rate of the added layer. */
  dropoutRate: 0.2,
  /** l2Regularization × 10 (from MATLAB's default 1e-4 to 1e-3); from 0, start at 1e-4; not above 0.1. */
  l2Factor: 10,
  l2Start: 1e-4,
  l2Cap: 0.1,
  /** Piecewise schedule: ×0.1 every 10 epochs (MATLAB's defaults), every maxEpochs/2 for short runs. */
  scheduleDropFactor: 0.1,
  scheduleDropPeriod: 10,
  /** Widen: twice the filters. Deepen: a block with twice the last conv's filters ("more than 20, not the same 20"). */
  widenFactor: 2,
  deepenFilterFactor: 2,
  /** Filter size to try: 5 when at 3 (3×3 suits 28×28; 5×5 is the next odd size), else back to 3. */
  altKernelSize: 5,
  baseKernelSize: 3,
  /**
   * Rough cost of a capacity candidate relative to the run it changes (convolution work:
   * twice the filters ≈ ×3 once both sides of the later layers grow, a block of twice the
   * filters ≈ ×2, 3×3 → 5×5 ≈ ×2.8). A candidate whose estimated time exceeds the search time
   * left is skipped: it would be cut short by the budget and judged unfairly, and the time is
   * better left to the final run.
   */
  costFactor: { widen: 3, deepen: 2, changeFilterSize: 2.8 },
} as const;

const S = FLOWCHART_SETTINGS;
const STAGES: readonly Stage[] = ['baseline', 'stabilise', 'trainEnough', 'trimEpochs', 'regularise', 'capacity', 'finalise'];
const rank = (stage: Stage): number => STAGES.indexOf(stage);

const rate = (run: RunSummary): number => run.options.initialLearnRate;
/** x × factor, rounded so powers of ten stay clean (0.001 × 0.1 = 0.0001, not 0.00010000000000000002). */
const scaled = (x: number, factor: number): number => Number((x * factor).toPrecision(12));
const unstable = (run: RunSummary): boolean => run.diagnosis.label === 'diverged' || run.diagnosis.label === 'oscillating';
const lr = (x: number): string => formatNumber(x);

/** The best validation loss of a run (its training loss minimum when it had no validation). */
function bestLoss(run: RunSummary): number | null {
  if (run.bestValLoss !== null && Number.isFinite(run.bestValLoss)) return run.bestValLoss;
  return minimumPoint(finitePoints(run.curve, 'valLoss'))?.value ?? minimumPoint(finitePoints(run.curve, 'loss'))?.value ?? null;
}

function describe(run: RunSummary): string {
  const best = bestLoss(run);
  const accuracy = run.bestValAccuracy !== null ? `, validation accuracy ${formatNumber(run.bestValAccuracy)}` : '';
  const epoch = run.bestEpoch !== null ? ` at epoch ${run.bestEpoch}` : '';
  return `run ${run.id} (${run.diagnosis.label}): best validation loss ${formatNumber(best)}${epoch}${accuracy}`;
}

const decision = (action: ActionName, params: Decision['params'], parts: string[]): Decision => ({
  action,
  params,
  reason: parts.filter((p) => p !== '').join('; '),
});

// ───────────────────────────── step 1: stabilise ─────────────────────────────

function lowerRate(run: RunSummary, context: PolicyContext): Decision {
  const from = rate(run);
  const to = scaled(from, S.lowerFactor);
  if (to < S.minLearnRate) {
    return decision('stop', {}, [
      run.diagnosis.summary,
      `learn rate ${lr(from)} cannot usefully go lower (floor ${lr(S.minLearnRate)}); try gradient clipping (gradientThreshold 1) or another network`,
    ]);
  }
  let lowered = 0;
  context.runs.forEach((r, i) => {
    if (i > 0 && rate(r) < rate(context.runs[i - 1])) lowered++;
  });
  const clipping =
    lowered >= 3
      ? `lowered ${lowered} times already: the notes' other remedy, gradient clipping (gradientThreshold 1), is not an action of this policy`
      : '';
  return decision('lowerLearnRate', { initialLearnRate: to }, [
    `${run.diagnosis.label}: ${run.diagnosis.summary}`,
    `initialLearnRate ${lr(from)} → ${lr(to)} (step 1: lower the rate by a power of ten)`,
    clipping,
  ]);
}

/**
 * Why a raise from this run's rate is off, or null when it may be tried: the rate is at the
 * ceiling, or a run at the raised rate (or above) already diverged, circled, or did no better.
 */
function raiseBlocked(run: RunSummary, context: PolicyContext): string | null {
  const target = scaled(rate(run), S.raiseFactor);
  if (target > S.maxLearnRate) return `learn rate ${lr(rate(run))} is already at the ceiling ${lr(S.maxLearnRate)}`;
  const own = bestLoss(run);
  for (const r of context.runs) {
    if (r.id === run.id || rate(r) < target * (1 - 1e-9)) continue;
    if (unstable(r)) return `learn rate ${lr(rate(r))} ${r.diagnosis.label} in run ${r.id}, so ${lr(rate(run))} is the largest stable power of ten`;
    const theirs = bestLoss(r);
    if (own !== null && (theirs === null || theirs >= own)) {
      return `learn rate ${lr(rate(r))} (run ${r.id}, best validation loss ${formatNumber(theirs)}) did no better than ${lr(rate(run))} (${formatNumber(own)}), so ${lr(rate(run))} stays`;
    }
  }
  return null;
}

// ───────────────────────────── step 2: train enough ─────────────────────────────

function addEpochs(run: RunSummary, context: PolicyContext, notes: string[]): Decision | null {
  const current = Math.max(run.options.maxEpochs, lastEpochOf(run.curve));
  const { last } = context;
  if (last.stage === 'trainEnough') {
    if (last.id !== run.id) {
      notes.push(`the added epochs of run ${last.id} did not help, so no more epochs`);
      return null;
    }
    const earlier = context.runs.filter((r) => r.id < run.id).map(bestLoss).filter((x): x is number => x !== null && x > 0);
    if (earlier.length > 0) {
      const before = Math.min(...earlier);
      const after = bestLoss(run) ?? before;
      const gain = (before - after) / before;
      if (gain < S.minEpochGain) {
        notes.push(
          `adding epochs moved the best validation loss only ${formatChange(-gain)} (${formatNumber(before)} → ${formatNumber(after)} in run ${run.id}; ` +
            `needs ${formatChange(-S.minEpochGain)}), so no more epochs`,
        );
        return null;
      }
    }
  }
  if (current >= S.maxEpochsCap) {
    notes.push(`still falling at epoch ${current}, but maxEpochs is at the cap of ${S.maxEpochsCap}`);
    return null;
  }
  const next = Math.min(S.maxEpochsCap, current * S.epochGrowth);
  return decision('addEpochs', { maxEpochs: next }, [
    ...notes,
    `${run.diagnosis.label}: ${run.diagnosis.summary}`,
    `maxEpochs ${current} → ${next} (step 2: train enough)`,
  ]);
}

// ───────────────────────────── step 4: regularise ─────────────────────────────

function regularise(run: RunSummary, epochLimit: number, context: PolicyContext, notes: string[]): Decision | null {
  const gap = accuracyGapAt(run.curve, epochLimit);
  if (gap === null) {
    notes.push(`run ${run.id} has no training and validation accuracy to compare: no regularisation`);
    return null;
  }
  const gapText =
    `training accuracy ${formatNumber(gap.train)} vs validation ${formatNumber(gap.validation)} at epoch ${gap.epoch} of run ${run.id}: ` +
    `gap ${formatAgainst(gap.gap, DEFAULT_THRESHOLDS.gapThreshold)}`;
  if (gap.gap <= DEFAULT_THRESHOLDS.gapThreshold) {
    notes.push(`${gapText} ≤ ${formatNumber(DEFAULT_THRESHOLDS.gapThreshold)}: no overfitting to treat`);
    return null;
  }
  const head = [...notes, `${gapText} > ${formatNumber(DEFAULT_THRESHOLDS.gapThreshold)}`];
  const tried = new Set(context.tried);
  if (!tried.has('addDropout')) {
    return decision('addDropout', { rate: S.dropoutRate }, [...head, `add dropout, rate ${S.dropoutRate} (step 4: regularise, 1st of dropout, L2, schedule)`]);
  }
  const l2 = run.options.l2Regularization;
  const nextL2 = l2 > 0 ? scaled(l2, S.l2Factor) : S.l2Start;
  if (!tried.has('addL2') && nextL2 <= S.l2Cap) {
    return decision('addL2', { l2Regularization: nextL2 }, [
      ...head,
      `l2Regularization ${formatNumber(l2)} → ${formatNumber(nextL2)} (step 4: regularise, 2nd of dropout, L2, schedule; dropout tried)`,
    ]);
  }
  if (!tried.has('addLearnRateSchedule') && run.options.learnRateSchedule !== 'piecewise') {
    const epochs = Math.min(run.options.maxEpochs, epochLimit);
    const period = epochs > 2 * S.scheduleDropPeriod ? S.scheduleDropPeriod : Math.max(1, Math.ceil(epochs / 2));
    return decision(
      'addLearnRateSchedule',
      { learnRateSchedule: 'piecewise', learnRateDropFactor: S.scheduleDropFactor, learnRateDropPeriod: period },
      [...head, `piecewise learn-rate drop ×${S.scheduleDropFactor} every ${period} epochs of ${epochs} (step 4: regularise, 3rd of dropout, L2, schedule)`],
    );
  }
  notes.push(`${gapText}, but dropout, L2 and the schedule are tried`);
  return null;
}

// ───────────────────────────── step 5: capacity ─────────────────────────────

function capacity(run: RunSummary, context: PolicyContext, notes: string[]): Decision | null {
  const tried = new Set(context.tried);
  // Skip what the search can no longer afford (see FLOWCHART_SETTINGS.costFactor).
  const secondsLeft = context.budget.secondsLeft;
  for (const action of ['widen', 'deepen', 'changeFilterSize'] as const) {
    const estimate = run.seconds * S.costFactor[action];
    if (!tried.has(action) && Number.isFinite(secondsLeft) && estimate > secondsLeft) {
      tried.add(action);
      notes.push(`${action} skipped: about ${formatNumber(estimate)} s (${S.costFactor[action]}× run ${run.id}'s ${formatNumber(run.seconds)} s) would not fit the ${formatNumber(secondsLeft)} s of search time left`);
    }
  }
  const convs = run.network.layers.filter((l): l is Extract<LayerSpec, { type: 'conv' }> => l.type === 'conv');
  const head = [...notes, describe(run)];
  if (!tried.has('widen')) {
    const filters = convs.map((l) => `${l.filters} → ${Math.round(l.filters * S.widenFactor)}`).join(', ');
    return decision('widen', { factor: S.widenFactor }, [...head, `widen ×${S.widenFactor} (filters ${filters || 'n/a'}) (step 5: capacity, 1st of widen, deepen, filter size)`]);
  }
  if (!tried.has('deepen')) {
    const lastFilters = convs.length > 0 ? convs[convs.length - 1].filters : 10;
    const filters = lastFilters * S.deepenFilterFactor;
    return decision('deepen', { filters }, [
      ...head,
      `deepen: a convolution block of ${filters} filters after the last convolution of ${lastFilters} (step 5: capacity, 2nd; widen tried)`,
    ]);
  }
  if (!tried.has('changeFilterSize') && convs.length > 0) {
    const current = convs[0].kernelSize;
    const kernelSize = current === S.baseKernelSize ? S.altKernelSize : S.baseKernelSize;
    return decision('changeFilterSize', { kernelSize }, [
      ...head,
      `filter size ${current}×${current} → ${kernelSize}×${kernelSize} (step 5: capacity, 3rd; widen and deepen tried)`,
    ]);
  }
  return null;
}

// ───────────────────────────── decide ─────────────────────────────

function decide(context: PolicyContext): Decision {
  const { stage, last, incumbent, budget } = context;
  if (stage === 'finalise') return decision('stop', {}, [`the study is finalising; ${describe(incumbent)}`]);
  if (budget.runsLeft <= 0 || budget.secondsLeft <= 0) {
    const what = budget.runsLeft <= 0 ? `no runs left after ${context.runs.length}` : `no time left (${formatNumber(budget.secondsLeft)} s)`;
    return decision('stop', {}, [`budget spent: ${what}`, `keep ${describe(incumbent)}`]);
  }
  const r = rank(stage);
  const notes: string[] = [];

  // The standing configuration is the incumbent's; a reverted last run only informs.
  const subject = incumbent;
  if (last.id !== incumbent.id && !(r <= rank('trainEnough') && unstable(last) && unstable(incumbent))) {
    notes.push(
      unstable(last)
        ? `run ${last.id} (learn rate ${lr(rate(last))}) ${last.diagnosis.label} and was reverted`
        : `run ${last.id} (best validation loss ${formatNumber(bestLoss(last))}) did not beat run ${incumbent.id} (${formatNumber(bestLoss(incumbent))}) and was reverted`,
    );
  }

  if (r <= rank('trainEnough')) {
    // Step 1: a diverged or circling run lowers the rate (from its own rate, even when reverted,
    // unless a stable incumbent stands: then that run was a raise too far).
    if (unstable(last) && (last.id === incumbent.id || unstable(incumbent))) return lowerRate(last, context);
    let acceptedSlow = false;
    if (subject.diagnosis.label === 'tooSlow') {
      const blocked = raiseBlocked(subject, context);
      if (blocked === null) {
        const to = scaled(rate(subject), S.raiseFactor);
        return decision('raiseLearnRate', { initialLearnRate: to }, [
          ...notes,
          `tooSlow: ${subject.diagnosis.summary}`,
          `initialLearnRate ${lr(rate(subject))} → ${lr(to)} (step 1: raise the rate by a power of ten)`,
        ]);
      }
      notes.push(blocked);
      acceptedSlow = true;
    }
    // Step 2: still falling (or slow at the largest stable rate) → more epochs.
    if (subject.diagnosis.label === 'underfitting' || acceptedSlow) {
      const d = addEpochs(subject, context, notes);
      if (d) return d;
    }
  }

  // Step 3: a validation-loss minimum well before the end → maxEpochs at the minimum.
  const over = overfitting(subject.curve, DEFAULT_THRESHOLDS).evidence;
  const trimmedAt = over.risingAfterMinimum && over.bestEpoch !== null ? over.bestEpoch : null;
  if (r <= rank('trimEpochs') && trimmedAt !== null && !context.tried.includes('trimEpochs') && subject.options.maxEpochs > trimmedAt) {
    return decision('trimEpochs', { maxEpochs: trimmedAt }, [
      ...notes,
      `overfitting: validation loss ${formatNumber(over.bestValLoss)} at epoch ${trimmedAt} rose to ${formatNumber(over.finalValLoss)} ` +
        `by epoch ${over.finalValLossEpoch} (${formatChange(over.valLossRise ?? 0)})`,
      `maxEpochs ${subject.options.maxEpochs} → ${trimmedAt}, the validation-loss minimum (step 3: stop at the right time)`,
    ]);
  }

  // Step 4: an accuracy gap at the (trimmed) end → dropout, L2, schedule.
  const trimmed = context.tried.includes('trimEpochs') && trimmedAt !== null ? trimmedAt : Infinity;
  const epochLimit = Math.min(subject.options.maxEpochs, lastEpochOf(subject.curve), trimmed);
  if (r <= rank('regularise')) {
    const d = regularise(subject, epochLimit, context, notes);
    if (d) return d;
  }

  // Step 5: capacity.
  const d = capacity(subject, context, notes);
  if (d) return d;
  return decision('stop', {}, [
    ...notes,
    `every flowchart step is done (tried: ${[...new Set(context.tried)].join(', ') || 'none'})`,
    `keep ${describe(incumbent)}`,
  ]);
}

export const policy: Policy = {
  name: 'flowchart',
  description:
    'The expert flowchart: stabilise the learning rate, train enough, stop at the validation-loss minimum, regularise a gap, then add capacity; each change kept only if validation loss improves.',
  thresholds: { ...DEFAULT_THRESHOLDS },
  decide,
};

export default policy;
