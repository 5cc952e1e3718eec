/**
 * An example custom policy: a template to copy. Run it with `tune --policy policies/example.ts`,
 * or copy it anywhere flowtune is installed and run `tune --policy ./my-policy.ts` (TypeScript
 * works: the CLI runs under tsx; `tune init-policy FILE` writes a shorter starter). A policy is one object with a name, a description, optional thresholds and one
 * pure function, `decide(context) → { action, params, reason }`. The machine offers the actions
 * the flowchart allows at its current step (`context.allowed`); it applies the one chosen, trains,
 * keeps the result only if it beats the incumbent beyond the noise, and asks again. An action
 * outside `context.allowed` is refused (`context.refused` says why) and the policy is asked again.
 *
 * How it differs from the built-in flowchart (policies/flowchart.ts):
 * - stricter: a train/validation accuracy gap above 5% (not 10%) counts as overfitting;
 * - cautious: it never raises the learning rate; a slow run gets more epochs instead;
 * - more epochs once only (×1.5), not doubling until the gain is under 1%;
 * - regularisation order: learn-rate schedule first, then L2, then dropout (0.3);
 * - capacity: deepen before widen, and no filter-size change.
 */

// Everything comes from 'flowtune', as in a policy outside this repository: the types (`import type`
// leaves no runtime dependency) and the diagnosis functions, pure helpers over a run's curve (the
// same ones the machine uses).
import type { Decision, DiagnosisThresholds, Policy, PolicyContext, RunSummary } from 'flowtune';
import { accuracyGapAt, formatNumber, overfitting, resolveThresholds } from 'flowtune';

// Thresholds the machine uses to diagnose runs for this policy; unnamed ones keep their defaults.
const thresholds: Partial<DiagnosisThresholds> = {
  gapThreshold: 0.05, // overfitting once training accuracy exceeds validation accuracy by 5 points
  riseFraction: 0.03, // validation loss 3% above its minimum counts as rising
};
// The full set (defaults + ours), for calling diagnosis functions ourselves.
const T = resolveThresholds(thresholds);

// Remedies for overfitting, in the order this policy tries them; each is tried once. Decision is
// typed per action: a misspelt parameter (`{ rat: 0.3 }`) does not type-check.
const REGULARISE: Array<(why: string) => Decision> = [
  (why) => ({ action: 'addLearnRateSchedule', params: { learnRateDropFactor: 0.5, learnRateDropPeriod: 5 }, reason: why }),
  (why) => ({ action: 'addL2', params: { l2Regularization: 0.001 }, reason: why }),
  (why) => ({ action: 'addDropout', params: { rate: 0.3 }, reason: why }), // no afterLayer: inserted before the final fully connected layer
];

// Capacity changes, in order; each is tried once.
const CAPACITY: Array<(why: string) => Decision> = [
  (why) => ({ action: 'deepen', params: { filters: 40 }, reason: why }), // a conv block of 40 filters: "more than 20, not the same 20"
  (why) => ({ action: 'widen', params: { factor: 1.5 }, reason: why }),
];

// The first remedy of a list whose action the machine allows now and that was not tried yet.
function firstAllowed(list: Array<(why: string) => Decision>, context: PolicyContext, why: string): Decision | null {
  for (const make of list) {
    const d = make(why);
    if (context.allowed.includes(d.action) && !context.tried.includes(d.action)) return { ...d, reason: `${why}; try ${d.action}` } as Decision;
  }
  return null;
}

// A short description of a run for reasons: reasons must quote numbers.
function describe(run: RunSummary): string {
  return `run ${run.id} (learn rate ${formatNumber(run.options.initialLearnRate)}, ${run.options.maxEpochs} epochs, best validation loss ${formatNumber(run.bestValLoss)})`;
}

function decide(context: PolicyContext): Decision {
  // Everything a policy sees: the step, the actions it allows, the last run, the incumbent, all runs, actions tried, budget.
  const { last, incumbent, tried, budget, allowed } = context;

  // 0. Out of budget: stop (the machine enforces the budget anyway).
  if (budget.runsLeft <= 0) return { action: 'stop', params: {}, reason: `example: no runs left; keep ${describe(incumbent)}` };

  // 1. A diverged or circling run: lower its rate ten times (the machine allows nothing else until it is fixed).
  const unstable = last.diagnosis.label === 'diverged' || last.diagnosis.label === 'oscillating';
  if (unstable && allowed.includes('lowerLearnRate') && last.options.initialLearnRate > 1e-6) {
    const to = Number((last.options.initialLearnRate / 10).toPrecision(6));
    return { action: 'lowerLearnRate', params: { initialLearnRate: to }, reason: `example: ${last.diagnosis.summary}; initialLearnRate → ${formatNumber(to)}` };
  }
  if (allowed.includes('revert')) return { action: 'revert', params: {}, reason: `example: run ${last.id} diverged again; give it up` };

  // 2. Still falling, or slow (this policy never raises the rate): 50% more epochs, once.
  const label = incumbent.diagnosis.label;
  if ((label === 'underfitting' || label === 'tooSlow') && allowed.includes('addEpochs') && !tried.includes('addEpochs')) {
    const maxEpochs = Math.ceil(incumbent.options.maxEpochs * 1.5);
    return { action: 'addEpochs', params: { maxEpochs }, reason: `example: ${incumbent.diagnosis.summary}; maxEpochs ${incumbent.options.maxEpochs} → ${maxEpochs}` };
  }

  // 3. Validation loss has a minimum well before the end: stop there (the machine allows it only then).
  const over = overfitting(incumbent.curve, T).evidence;
  if (allowed.includes('trimEpochs') && over.bestEpoch !== null) {
    return {
      action: 'trimEpochs',
      params: { maxEpochs: over.bestEpoch },
      reason: `example: validation loss lowest (smoothed ${formatNumber(over.bestValLoss)}) at epoch ${over.bestEpoch}, ${formatNumber((over.valLossRise ?? 0) * 100)}% higher by epoch ${over.finalValLossEpoch}; maxEpochs → ${over.bestEpoch}`,
    };
  }

  // 4. A gap above 5% at the smoothed minimum: the next untried regularisation remedy.
  const gap = accuracyGapAt(incumbent.curve, over.bestEpoch ?? undefined);
  if (gap !== null && gap.gap > T.gapThreshold) {
    const next = firstAllowed(REGULARISE, context, `example: accuracy gap ${formatNumber(gap.gap)} (train ${formatNumber(gap.train)}, validation ${formatNumber(gap.validation)}) at epoch ${gap.epoch} > ${T.gapThreshold}`);
    if (next) return next;
  }

  // 5. Then capacity, each change once.
  const grow = firstAllowed(CAPACITY, context, `example: capacity after ${describe(incumbent)}`);
  if (grow) return grow;

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
