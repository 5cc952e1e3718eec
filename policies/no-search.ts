/**
 * No search: the baseline of the policy benchmark. It changes nothing: after the first run it
 * stops, and the machine spends the whole budget on the final run of the starting configuration
 * (planned from the time left like any final run). What the other policies find has to beat this.
 */
import type { Decision, Policy, PolicyContext } from 'flowtune';

function decide(context: PolicyContext): Decision {
  return { action: 'stop', params: {}, reason: `no search: the starting configuration (run ${context.incumbent.id}) gets the whole budget as its final run` };
}

export const policy: Policy = {
  name: 'no-search',
  description: 'No search: the starting configuration trained for the whole budget (the baseline the others must beat).',
  decide,
};

export default policy;
