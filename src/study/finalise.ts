/**
 * The machine's finalise actors, as plain async functions over a StudyEnv: which finalists go on
 * (and what the policy would try next with more budget), the final run's plan, the final
 * weights, the one evaluation on the sealed test set, the saved model. Each writes what it found
 * to the store before returning, and is idempotent (a resumed study gets the stored result).
 */
import { cp, mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { ActionName, Decision } from '../actions.ts';
import { deriveSeed, mulberry32 } from '../util/random.ts';
import { pairedDifference } from '../diagnosis/index.ts';
import type { FinalInput, FinalistsOutcome, PendingRun } from '../machine/machine.ts';
import { paramCount } from '../config/network.ts';
import { confirmOptions, confirmPlan, imagesNeeded, type DataSizes, type Finalist } from '../machine/budget.ts';
import { planFinalRun } from '../machine/final-run.ts';
import { allowedActions, refusal, type RailState } from '../machine/rails.ts';
import { finalRunWins } from '../machine/verdict.ts';
import { finalistCandidates, type FinalistFacts } from '../machine/finalists.ts';
import { decideSafely } from '../policy-loader.ts';
import type { PolicyDecisionRecord, RunRecord } from '../store/records.ts';
import { budgetNow, evaluated, evidenceSizes, factsOf, imagesToMinimum, longFinalAugmentation, machineDecision, sizes, speedOf } from './adapters.ts';
import { formatNumber } from '../util/format.ts';
import { iterationsPerEpoch, readPerImage, secondsUsed, summariseRun, totalSecondsLeft, trainAndValidation, type StudyEnv } from './env.ts';
import { augments } from '../config/options.ts';

// ───────────────────────────── finalise ─────────────────────────────

/**
 * Finalists: the incumbent, and a configuration worth confirming against it at full fidelity —
 * a larger one it tied with on the subset whose final run the budget pays for (or any slower one
 * the subset did not reject, when the incumbent, converged, cannot use the time left), else a much
 * cheaper one (the rule: `confirmPlan`).
 */
export async function chooseStudyFinalists(env: StudyEnv, input: { incumbentId: number; budgetExhausted: boolean; nextRunId: number }): Promise<FinalistsOutcome> {
  const study = env.store.study;
  if (input.budgetExhausted) {
    const b = budgetNow(env, env.store.run(input.incumbentId)!);
    const why = b.runsLeft !== null && b.runsLeft <= 0
      ? `the run budget is used up (${study.budget.runsUsed} of ${env.config.maxRuns} search runs)`
      : b.searchSecondsLeft !== null && b.searchSecondsLeft > 0
        ? `the ${Math.round(b.searchSecondsLeft)} s of search time left pay for none of the candidates the policy asked for (each refused: budgetLeft)`
        : `the search's time is used up (${Math.round(secondsUsed(env))} s of ${env.config.budgetSeconds} s; the rest is kept for the final run)`;
    await env.store.update((s) => {
      s.budget.exhausted = true;
    });
    await machineDecision(env, input.incumbentId, 'finalise', 'budget', `budget: ${why}; finalising the best configuration so far (run ${input.incumbentId})`);
  }
  await recordNextWithMoreBudget(env, input.incumbentId);
  if (!env.config.finalFullData) return { confirm: [], winner: input.incumbentId };
  const incumbent = await evaluated(env, input.incumbentId);
  // The full-data rung's verdicts were made on all the training images already: nothing to confirm.
  if (incumbent.fidelity?.kind === 'full') return { confirm: [], winner: incumbent.id };
  const finalist = (run: RunRecord): Finalist => ({ runId: run.id, ...speedOf(run), validationLoss: run.evaluation?.loss ?? Infinity });
  const facts = (run: RunRecord): FinalistFacts => ({
    runId: run.id,
    verdict: run.verdict,
    judgement: run.judgement ?? null,
    evaluated: run.evaluation != null,
    unstable: factsOf(env, run).evidence.unstable,
    params: paramCount(run.network),
    network: JSON.stringify(run.network),
    imagesPerSecond: speedOf(run).imagesPerSecond,
  });
  const candidates = finalistCandidates(study.runs.map(facts), facts(incumbent));
  const others = candidates.others.map((id) => env.store.run(id)!);
  const larger = candidates.larger.map((c) => ({ run: env.store.run(c.runId)!, nominallyAhead: c.nominallyAhead }));
  const left = totalSecondsLeft(env);
  const plan =
    left === null
      ? null
      : confirmPlan(
          finalist(incumbent),
          others.map(finalist),
          left,
          sizes(env),
          imagesNeeded(imagesToMinimum(env, incumbent), sizes(env)),
          larger.map((c) => ({ ...finalist(c.run), imagesNeeded: imagesNeeded(imagesToMinimum(env, c.run), sizes(env)), onlyWhenTimeIsIdle: !c.nominallyAhead })),
          !factsOf(env, incumbent).evidence.stillImproving,
        );
  if (!plan) return { confirm: [], winner: incumbent.id };
  await machineDecision(env, incumbent.id, 'finalise', 'finalists', plan.reason);
  if (plan.finalists.length === 1) return { confirm: [], winner: plan.finalists[0].runId };
  const perEpoch = iterationsPerEpoch(env.full.train, incumbent.options.miniBatchSize);
  const confirm: PendingRun[] = plan.finalists.map((f, i) => {
    const run = env.store.run(f.runId)!;
    return {
      network: run.network,
      // Equal time: each stops at the same deadline (mid-epoch if need be); maxEpochs only bounds it.
      options: { ...run.options, ...confirmOptions(f.epochs, perEpoch) },
      seconds: plan.seconds,
      runId: input.nextRunId + i,
      stage: 'finalise',
      kind: 'confirm',
      parentId: incumbent.id,
      basedOn: run.id,
      change: null,
      continueFrom: null,
      replicateOf: null,
    };
  });
  return { confirm, winner: incumbent.id };
}

/**
 * "What the policy would try next with more budget" (for the report): the policy asked once more
 * about the incumbent, with the limits lifted and every action of the current rails allowed. A
 * policy that throws here does not fail the study: the answer is simply not recorded.
 */
async function recordNextWithMoreBudget(env: StudyEnv, incumbentId: number): Promise<void> {
  if (env.store.study.nextWithMoreBudget !== undefined) return;
  const facts = factsOf(env, env.store.run(incumbentId)!);
  const fidelity = env.store.run(incumbentId)!.fidelity?.kind === 'full' ? ('full' as const) : ('subset' as const);
  const rails = { step: 'capacity' as const, standing: facts.evidence, subject: null, triedAtStanding: [], trimmed: true, epochsExhausted: true, fidelity };
  const answer = askPolicyWithoutLimits(env, incumbentId, rails, 'next-with-more-budget');
  if (answer === undefined) return;
  await env.store.update((s) => {
    s.nextWithMoreBudget = answer;
  });
}

/**
 * The policy asked about the incumbent at the given rails with the limits lifted (what it would
 * try next): its decision and whether the rails allow it, null when it stops, undefined when it
 * throws (logged; a hypothetical question never fails the study).
 */
export function askPolicyWithoutLimits(env: StudyEnv, incumbentId: number, rails: RailState, purpose: string, triedGiven?: readonly ActionName[]): { decision: Decision; allowed: boolean } | null | undefined {
  const runs = env.store.study.runs.filter((r) => r.kind !== 'final' && r.kind !== 'confirm').map(summariseRun);
  const incumbent = runs.find((r) => r.id === incumbentId);
  if (!incumbent) return undefined;
  // What was tried: at the full-data rung, since the study climbed to it (the policy sees the same at that rung).
  const decisions = env.store.study.decisions;
  const climbed = decisions.map((d) => d.machine === 'fidelity' && /^fidelity: the flowchart again/.test(d.reason ?? '')).lastIndexOf(true);
  const tried = triedGiven ?? decisions.slice(rails.fidelity === 'full' ? climbed + 1 : 0).filter((d): d is PolicyDecisionRecord => !d.refused && d.by !== 'machine').map((d) => d.decision.action);
  try {
    const decision = decideSafely(
      env.policy,
      Object.freeze({
        stage: rails.step,
        allowed: allowedActions(rails),
        refused: [],
        subjectRun: null,
        standing: { network: incumbent.network, options: incumbent.options },
        last: runs[runs.length - 1],
        incumbent,
        runs: Object.freeze(runs),
        tried: Object.freeze(tried),
        budget: { runsLeft: Infinity, secondsLeft: Infinity },
        fidelity: rails.fidelity ?? 'subset',
        random: mulberry32(deriveSeed(env.config.seed, purpose)),
      }),
      env.policySource,
    );
    return decision.action === 'stop' ? null : { decision, allowed: refusal(decision.action, rails) === null };
  } catch (error) {
    env.log.warn({ err: error, purpose }, 'the policy could not say what it would try next');
    return undefined;
  }
}

/**
 * A final run continues a full-data rung's winner only when it reaches at least this many times the
 * rung's epochs in all: a longer annealed schedule of the same network is worth it, a few more
 * epochs are not (the rung's weights stay, and the final weights rule would choose between two alike).
 */
export const FINAL_OVER_RUNG = 1.5;

/** The final run, planned in images from the time left and the search's evidence (or none). */
export async function planStudyFinalRun(env: StudyEnv, input: FinalInput): Promise<{ pending: PendingRun | null }> {
  const winner = env.store.run(input.winner)!;
  const searchRun = winner.kind === 'confirm' ? env.store.run(winner.basedOn!)! : winner;
  if (!env.config.finalFullData) {
    await machineDecision(env, searchRun.id, 'finalise', 'noFinalFull', `--no-final-full: the search weights of run ${searchRun.id} are final`);
    return { pending: null };
  }
  const facts = factsOf(env, searchRun);
  // A run of the full-data rung is already a full-data model: the final run continues it (its
  // weights and momentum, a warm restart at the initial rate) rather than training its first
  // epochs again. In a 30-minute study those are 8 of a long run's 30–40 epochs (AMD EPYC:
  // 140–460 s), and the long run gains with every epoch it gets (the 40→80 network augmented:
  // 18 epochs 92.32% validation accuracy, 40 epochs 93.02%).
  const rungEpochs = searchRun.fidelity?.kind === 'full' ? searchRun.result.epochsCompleted : null;
  const continueFrom = input.continueFrom ?? (rungEpochs !== null ? searchRun.id : null);
  const planFor = (sizes: DataSizes) =>
    planFinalRun({
      secondsLeft: totalSecondsLeft(env),
      speed: speedOf(winner.kind === 'confirm' ? winner : searchRun),
      sizes,
      standing: searchRun.options,
      epochsDone: continueFrom === null ? 0 : env.store.run(continueFrom)!.result.epochsCompleted,
      evidence: { imagesToMinimum: imagesToMinimum(env, searchRun), stillImproving: facts.evidence.stillImproving, searchEpochs: searchRun.result.epochsCompleted },
      // The long run is a rung winner's (a confirmation, continued or not, follows a subset search: none).
      augmentation: longFinalAugmentation(searchRun),
    });
  let plan = planFor(evidenceSizes(env, searchRun));
  // The final refit: the long run trains on the validation images too (they validate nothing after it).
  const all = trainAndValidation(env);
  const refit = env.config.finalRefit === true && augments(plan.options) && all !== null ? planFor({ ...evidenceSizes(env, searchRun), fullTrain: all.indices.length, fullValidation: 0 }) : null;
  const trainOnValidation = refit !== null && augments(refit.options);
  if (trainOnValidation) plan = refit;
  if (rungEpochs !== null && plan.plannedEpochs < FINAL_OVER_RUNG * rungEpochs) {
    await machineDecision(
      env,
      searchRun.id,
      'finalise',
      'finalRun',
      `final run: none — run ${searchRun.id} trained this configuration on all ${sizes(env).fullTrain} images for ${rungEpochs} annealed epochs at the full-data rung, ` +
        `and the ${formatNumber(totalSecondsLeft(env) ?? 0)} s left afford ${plan.plannedEpochs - rungEpochs} more, under the ${formatNumber(FINAL_OVER_RUNG * rungEpochs)} in all (${FINAL_OVER_RUNG}×) a final run needs to be worth it: its weights are final`,
    );
    return { pending: null };
  }
  await machineDecision(
    env,
    searchRun.id,
    'finalise',
    'finalRun',
    `final run: run ${searchRun.id}'s configuration on ${trainOnValidation ? `the training and validation images together (${sizes(env).fullTrain} + ${sizes(env).fullValidation}: ${REFIT_WHY})` : 'the full training split'}${
      input.continueFrom !== null
        ? `, continuing confirmation run ${input.continueFrom}`
        : rungEpochs !== null
          ? `, continuing its full-data rung run from its ${rungEpochs} epochs (weights and momentum; the rate restarts at ${formatNumber(searchRun.options.initialLearnRate)})`
          : ''
    }: ${plan.reason}`,
  );
  const options = { ...searchRun.options, ...plan.options };
  return {
    pending: {
      network: searchRun.network,
      options,
      runId: input.runId,
      stage: 'finalise',
      kind: 'final',
      parentId: searchRun.id,
      basedOn: continueFrom,
      change: null,
      continueFrom,
      replicateOf: null,
      seconds: plan.seconds,
      ...(trainOnValidation ? { trainOnValidation: true } : {}),
    },
  };
}

/**
 * Why the long final run trains on the validation images too. Measured (AMD EPYC family 26):
 * `bench/recipe.ts`, the 40→80 network augmented, seed 0's split, the same 7,000 iterations,
 * 41,667 training images 91.71% validation accuracy, 50,000 images 92.32%; and the 30-minute
 * policy benchmark, 92.81% ± 0.18 test accuracy against 92.63% ± 0.17 with the same decisions.
 */
export const REFIT_WHY =
  'a sixth more images, measured: +0.18 pt test accuracy over three 30-minute studies; the rung\'s winner and its long augmented run are settled, so the validation images have nothing left to decide';

/**
 * "Kept only if it helps", for the final weights too: the final run's output network against
 * the finalist it retrains, paired on the same validation images (the rule: `finalRunWins`).
 */
export async function chooseStudyFinalWeights(env: StudyEnv, input: { finalRunId: number | null; alternative: number }): Promise<{ runId: number }> {
  if (input.finalRunId === null) return { runId: input.alternative };
  const refit = env.store.run(input.finalRunId);
  if (refit?.fidelity.trainsOnValidation) {
    // No images are held out of the final refit: nothing can compare it with the weights it continued.
    await machineDecision(
      env,
      refit.id,
      'finalise',
      'finalWeights',
      `final weights: run ${refit.id} (the final run), trained on the training and validation images together: no held-out images are left to compare it with run ${input.alternative}; ` +
        `a full-data rung winner's long augmented run beat the weights it continued in all 8 benchmark studies measured before the refit (+0.83 to +1.31 pt validation accuracy), and the test set measures it`,
    );
    return { runId: refit.id };
  }
  const final = await evaluated(env, input.finalRunId);
  const alternative = await evaluated(env, input.alternative);
  const [a, b] = await Promise.all([final, alternative].map((r) => readPerImage(env, r.evaluation!.file, r.evaluation!.images)));
  const d = pairedDifference(a, b);
  const keepFinal = finalRunWins(d);
  const numbers =
    `validation accuracy ${(d.candidate.accuracy * 100).toFixed(2)}% vs ${(d.incumbent.accuracy * 100).toFixed(2)}% (paired difference ${(d.accuracyDiff * 100).toFixed(2)} ± ${(d.accuracySE * 100).toFixed(2)} pt), ` +
    `loss ${d.candidate.loss.toFixed(4)} vs ${d.incumbent.loss.toFixed(4)} (${d.lossDiff.toFixed(4)} ± ${d.lossSE.toFixed(4)}) on the same ${d.images} images`;
  await machineDecision(
    env,
    final.id,
    'finalise',
    'finalWeights',
    keepFinal
      ? `final weights: run ${final.id} (the final run) over run ${alternative.id}: ${numbers}`
      : `final weights: run ${alternative.id} over the final run ${final.id}, which did not beat it: ${numbers}`,
  );
  return { runId: keepFinal ? final.id : alternative.id };
}

/** The one and only use of the sealed test set. */
export async function testStudyFinal(env: StudyEnv, input: { runId: number }): Promise<void> {
  if (env.store.study.final?.runId === input.runId) return;
  const run = env.store.run(input.runId)!;
  const test = await env.dataset.loadTest();
  const evaluation = await env.trainer.evaluate({ checkpointDir: path.resolve(env.dir, run.result.checkpointDir), network: run.network, test, classNames: env.dataset.classNames });
  await env.store.update((s) => {
    s.final = {
      runId: run.id,
      testAccuracy: evaluation.accuracy,
      testLoss: evaluation.loss,
      testCount: test.count,
      perClassAccuracy: evaluation.perClassAccuracy,
      confusion: evaluation.confusion,
      modelDir: 'model',
      evaluatedAt: new Date().toISOString(),
    };
    s.budget.secondsUsed = secondsUsed(env);
  });
  env.log.info({ final: env.store.study.final }, 'final evaluation');
}

/** The final model, in tfjs format, under reports/<study>/model/. */
export async function saveStudyModel(env: StudyEnv, input: { runId: number }): Promise<void> {
  const run = env.store.run(input.runId)!;
  const from = path.resolve(env.dir, run.result.checkpointDir);
  const modelDir = path.join(env.dir, 'model');
  await rm(modelDir, { recursive: true, force: true });
  await mkdir(modelDir, { recursive: true });
  await cp(path.join(from, 'model.json'), path.join(modelDir, 'model.json'));
  await cp(path.join(from, 'weights.bin'), path.join(modelDir, 'weights.bin'));
  await env.store.update((s) => {
    s.budget.secondsUsed = secondsUsed(env);
  });
}

