/**
 * An example custom policy: a template to copy. Run it with `tune --policy policies/example.ts`,
 * or copy it anywhere and run `tune --policy ./my-policy.ts` (TypeScript works: the CLI runs
 * under tsx). A policy is one object with a name, a description, optional thresholds and one
 * pure function, `decide(context) → { action, params, reason }`. The machine applies the
 * action, trains, keeps the result only if validation loss improves, and asks again.
 *
 * How it differs from the built-in flowchart (policies/flowchart.ts):
 * - stricter: a train/validation accuracy gap above 5% (not 10%) counts as overfitting;
 * - cautious: it never raises the learning rate; a slow run gets more epochs instead;
 * - more epochs once only (×1.5), not doubling until the gain is under 1%;
 * - regularisation order: learn-rate schedule first, then L2, then dropout (0.3);
 * - capacity: deepen before widen, and no filter-size change.
 */

// Types only: `import type` leaves no runtime dependency. Outside this repository, import from 'flowtune'.
import type { Decision, DiagnosisThresholds, Policy, PolicyContext, RunSummary } from '../src/types.ts';
// The diagnosis functions: pure helpers over a run's curve (the same ones the machine uses).
import { accuracyGapAt, formatNumber, overfitting, resolveThresholds } from '../src/diagnosis/index.ts';

// Thresholds the machine uses to diagnose runs for this policy; unnamed ones keep their defaults.
const thresholds: Partial<DiagnosisThresholds> = {
  gapThreshold: 0.05, // overfitting once training accuracy exceeds validation accuracy by 5 points
  riseFraction: 0.03, // validation loss 3% above its minimum counts as rising
};
// The full set (defaults + ours), for calling diagnosis functions ourselves.
const T = resolveThresholds(thresholds);

// Remedies for overfitting, in the order this policy tries them; each is tried once.
const REGULARISE: Array<Pick<Decision, 'action' | 'params'>> = [
  { action: 'addLearnRateSchedule', params: { learnRateSchedule: 'piecewise', learnRateDropFactor: 0.5, learnRateDropPeriod: 5 } },
  { action: 'addL2', params: { l2Regularization: 0.001 } },
  { action: 'addDropout', params: { rate: 0.3 } }, // no afterLayer: inserted before the final fully connected layer
];

// Capacity changes, in order; each is tried once.
const CAPACITY: Array<Pick<Decision, 'action' | 'params'>> = [
  { action: 'deepen', params: { filters: 40 } }, // a conv block of 40 filters: "more than 20, not the same 20"
  { action: 'widen', params: { factor: 1.5 } },
];

// A short description of a run for reasons: reasons must quote numbers.
function describe(run: RunSummary): string {
  return `run ${run.id} (learn rate ${formatNumber(run.options.initialLearnRate)}, ${run.options.maxEpochs} epochs, best validation loss ${formatNumber(run.bestValLoss)})`;
}

function decide(context: PolicyContext): Decision {
  // Everything a policy sees: the stage, the last run, the incumbent, all runs, actions tried, budget.
  const { stage, last, incumbent, tried, budget } = context;
  const early = stage === 'baseline' || stage === 'stabilise' || stage === 'trainEnough';

  // 0. Out of budget: stop (the machine enforces the budget anyway).
  if (budget.runsLeft <= 0) return { action: 'stop', params: {}, reason: `example: no runs left; keep ${describe(incumbent)}` };

  // 1. A diverged or circling run, early in the study: lower the rate ten times (from the last run's rate).
  const unstable = last.diagnosis.label === 'diverged' || last.diagnosis.label === 'oscillating';
  if (early && unstable && last.options.initialLearnRate > 1e-6) {
    const to = Number((last.options.initialLearnRate / 10).toPrecision(6));
    return { action: 'lowerLearnRate', params: { initialLearnRate: to }, reason: `example: ${last.diagnosis.summary}; initialLearnRate → ${formatNumber(to)}` };
  }

  // 2. Still falling, or slow (this policy never raises the rate): 50% more epochs, once.
  const label = incumbent.diagnosis.label;
  if (early && (label === 'underfitting' || label === 'tooSlow') && !tried.includes('addEpochs')) {
    const maxEpochs = Math.ceil(incumbent.options.maxEpochs * 1.5);
    return { action: 'addEpochs', params: { maxEpochs }, reason: `example: ${incumbent.diagnosis.summary}; maxEpochs ${incumbent.options.maxEpochs} → ${maxEpochs}` };
  }

  // 3. Validation loss has a minimum well before the end: stop there (once).
  const over = overfitting(incumbent.curve, T).evidence;
  if (over.risingAfterMinimum && over.bestEpoch !== null && !tried.includes('trimEpochs') && incumbent.options.maxEpochs > over.bestEpoch) {
    return {
      action: 'trimEpochs',
      params: { maxEpochs: over.bestEpoch },
      reason: `example: validation loss lowest (${formatNumber(over.bestValLoss)}) at epoch ${over.bestEpoch}, ${formatNumber((over.valLossRise ?? 0) * 100)}% higher by epoch ${over.finalValLossEpoch}; maxEpochs → ${over.bestEpoch}`,
    };
  }

  // 4. A gap above 5% at the standing epoch count: the next untried regularisation remedy.
  const end = tried.includes('trimEpochs') && over.bestEpoch !== null ? over.bestEpoch : incumbent.options.maxEpochs;
  const gap = accuracyGapAt(incumbent.curve, end);
  if (gap !== null && gap.gap > T.gapThreshold) {
    const next = REGULARISE.find((remedy) => !tried.includes(remedy.action));
    if (next) {
      return { ...next, reason: `example: accuracy gap ${formatNumber(gap.gap)} (train ${formatNumber(gap.train)}, validation ${formatNumber(gap.validation)}) at epoch ${gap.epoch} > ${T.gapThreshold}; try ${next.action}` };
    }
  }

  // 5. Then capacity, each change once.
  const grow = CAPACITY.find((change) => !tried.includes(change.action));
  if (grow) return { ...grow, reason: `example: capacity after ${describe(incumbent)}; try ${grow.action}` };

  // 6. Nothing left to try: stop and keep the incumbent.
  return { action: 'stop', params: {}, reason: `example: all remedies tried (${tried.length} actions); keep ${describe(incumbent)}` };
}

// The policy object. Export it as default (or as `policy`); a factory function returning it works too.
export const policy: Policy = {
  name: 'example',
  description: 'Template policy: stricter 5% gap, never raises the rate, schedule → L2 → dropout, deepen → widen.',
  thresholds,
  decide,
};

export default policy;
