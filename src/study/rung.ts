/**
 * The machine's `planRung` actor: whether the search climbs to the full-data rung when the
 * flowchart is done on the search subset, and the rung's first run (ARCHITECTURE.md, "Fidelity is a
 * ladder"). Writes its decision to the store before returning, and is idempotent: a resumed study
 * that invokes it again gets the stored plan.
 */
import type { PendingRun, RungOutcome } from '../machine/machine.ts';
import { planRung, rungOptions } from '../machine/budget.ts';
import { budgetNow, factsOf, machineDecision, sizes, speedOf } from './adapters.ts';
import { askPolicyWithoutLimits } from './finalise.ts';
import type { StudyEnv } from './env.ts';

const CLIMB = 'fidelity: the flowchart again';

/**
 * Climb when the policy has something to try on all the training images (asked as it will be
 * there: the standing evidence, nothing tried yet) and the search time left affords the rung
 * (`planRung`); the rung's first run is the standing configuration, trained as every run of the
 * rung will be.
 */
export async function planStudyRung(env: StudyEnv, input: { incumbentId: number; nextRunId: number }): Promise<RungOutcome> {
  const incumbent = env.store.run(input.incumbentId)!;
  const stored = env.store.study.decisions.find((d) => d.machine === 'fidelity' && d.afterRun === input.incumbentId);
  const plan = planRung(budgetNow(env, incumbent).searchSecondsLeft, speedOf(incumbent), sizes(env));
  const pendingFor = (epochs: number): PendingRun => ({
    network: incumbent.network,
    options: { ...incumbent.options, ...rungOptions(epochs) },
    runId: input.nextRunId,
    stage: 'baseline',
    kind: 'search',
    fidelity: 'full',
    parentId: incumbent.id,
    basedOn: null,
    change: null,
    continueFrom: null,
    replicateOf: null,
  });
  if (stored) {
    // Resumed: the rung as it was decided (its epochs are in the stored reason), not as the time left would plan it now.
    const reason = stored.reason ?? '';
    const epochs = reason.startsWith(CLIMB) ? Number(/: (\d+) epochs of all \d+ images a run/.exec(reason)?.[1]) : NaN;
    return Number.isInteger(epochs) && epochs > 0 ? { pending: pendingFor(epochs), epochs } : { pending: null, epochs: null };
  }
  const runs = env.store.study.runs.filter((r) => r.fidelity?.kind !== 'full' && r.kind !== 'final' && r.kind !== 'confirm').length;
  if (plan.epochs === null) {
    await machineDecision(env, incumbent.id, 'finalise', 'fidelity', `fidelity: the subset's flowchart is done (${runs} runs), and no full-data rung: ${plan.reason}`);
    return { pending: null, epochs: null };
  }
  const facts = factsOf(env, incumbent);
  const rails = { step: 'regularise' as const, standing: facts.evidence, subject: null, triedAtStanding: [], trimmed: true, epochsExhausted: true, fidelity: 'full' as const };
  const answer = askPolicyWithoutLimits(env, incumbent.id, rails, 'climb', []);
  if (!answer) {
    await machineDecision(
      env,
      incumbent.id,
      'finalise',
      'fidelity',
      `fidelity: the subset's flowchart is done (${runs} runs), and the policy would try nothing on all ${sizes(env).fullTrain} images either: no full-data rung`,
    );
    return { pending: null, epochs: null };
  }
  await machineDecision(
    env,
    incumbent.id,
    'baseline',
    'fidelity',
    `${CLIMB} on all ${sizes(env).fullTrain} images, from run ${incumbent.id}'s configuration (the subset's flowchart is done after ${runs} runs; ` +
      `the policy would next try ${answer.decision.action} there): ${plan.reason}`,
  );
  return { pending: pendingFor(plan.epochs), epochs: plan.epochs };
}
