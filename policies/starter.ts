/**
 * my-policy: a flowtune policy, written by `tune init-policy`. It runs as it is:
 *
 *   tune --data fashion --policy my-policy.ts
 *
 * How a policy works. The machine walks the training flowchart (stabilise the learning rate →
 * train enough → stop at the validation-loss minimum → regularise → capacity → finalise). After
 * every run it calls `decide(context)` and the policy answers one action among those the current
 * step allows (`context.allowed`), with its parameters and a reason that quotes the numbers. The
 * machine applies it, trains, keeps the result only if it beats the incumbent beyond the noise,
 * and asks again. An action outside `context.allowed` is refused and the policy is asked again;
 * `stop` is always allowed. The actions and their parameters: `actionTable()`, or the README.
 *
 * This policy answers like the built-in flowchart policy (`flowchartPolicy`), except for one rule
 * of its own: it treats overfitting with L2 regularisation before dropout. Change that rule, add
 * rules of your own before the last line of `decide`, or write `decide` from scratch.
 *
 * Check it against the contract the built-in policies meet (a valid, allowed decision with a
 * reason quoting numbers for every diagnosis, the same decision for the same seed, no throw), in a
 * test file of your own (vitest, or `node --import tsx --test` for node:test):
 *
 *   import { checkPolicy } from 'flowtune/testing';
 *   import policy from './my-policy.ts';
 *   test('my-policy keeps the contract', () => expect(checkPolicy(policy).problems).toEqual([]));
 */
import { accuracyGapAt, formatNumber, type Decision, type Policy, type PolicyContext } from 'flowtune';
import { flowchartPolicy } from 'flowtune/policies';

function decide(context: PolicyContext): Decision {
  // What the machine knows (all read-only): the step it is at and the actions that step allows,
  // the run just finished (`last`), the best so far (`incumbent`), every run (`runs`: options,
  // network, curve, diagnosis, measured speed, paired verdict), the actions tried since the
  // incumbent stood (`tried`), the budget left, and a seeded `random()` for reproducible sampling.
  const { allowed, incumbent, tried, budget } = context;
  const standing = context.standing ?? incumbent; // the configuration the next change applies to

  // Our rule: overfitting (the regularise step allows addL2) → L2 × 10 first, once.
  if (allowed.includes('addL2') && !tried.includes('addL2') && budget.runsLeft > 0 && budget.secondsLeft > 0) {
    const from = standing.options.l2Regularization;
    const to = Math.min(0.1, Math.max(from, 1e-5) * 10);
    const gap = accuracyGapAt(incumbent.curve);
    const why = gap ? `accuracy gap ${formatNumber(gap.gap)} (train ${formatNumber(gap.train)}, validation ${formatNumber(gap.validation)}) at epoch ${gap.epoch} of run ${incumbent.id}` : `run ${incumbent.id} overfits`;
    return { action: 'addL2', params: { l2Regularization: to }, reason: `my-policy: ${why}; l2Regularization ${formatNumber(from)} → ${formatNumber(to)} (L2 before dropout)` };
  }

  // Everything else: the built-in flowchart.
  return flowchartPolicy.decide(context);
}

export const policy: Policy = {
  name: 'my-policy',
  description: 'The flowchart, treating overfitting with L2 before dropout.',
  // Thresholds the machine diagnoses runs with; unnamed ones keep their defaults (see DEFAULT_THRESHOLDS).
  thresholds: { gapThreshold: 0.1 },
  decide,
};

export default policy;
