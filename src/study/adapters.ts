/**
 * The machine's search actors, as plain async functions over a StudyEnv (finalise's are in
 * finalise.ts): each does the I/O of one flowchart step (train, evaluate and judge, ask the
 * policy) and the helpers they share with finalise; each writes what it
 * found to the store before returning, so finished work is on disk before anything that could
 * fail next. Every one is idempotent: a resumed study that invokes it again gets the stored
 * result instead of a second run.
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { ACTIONS, applyDecision, type Change, type Decision } from '../actions.ts';
import { convolutionsOf, describeNetwork, networkFlops, paramCount } from '../config/network.ts';
import { augments } from '../config/options.ts';
import { imagesPerEpoch as imagesIn } from '../util/batching.ts';
import { curveFromHistory, diagnoseRun } from '../diagnosis/index.ts';
import { evidenceOf } from '../machine/rails.ts';
import {
  decisionRefusal,
  type BudgetFacts,
  type DecideInput,
  type DecideOutcome,
  type EvaluateInput,
  type EvaluateOutcome,
  type PendingRun,
  type RunFacts,
} from '../machine/machine.ts';
import { finalReserveSeconds, searchSecondsLeft, type DataSizes, type Speed } from '../machine/budget.ts';
import { judge, type Side } from '../machine/verdict.ts';
import { replicateRun } from '../machine/updates.ts';
import { adoptAhead, dataFor, nextIfReverted, policyRandom, trainAhead, trainingOptionsFor } from './ahead.ts';
import { decideSafely } from '../policy-loader.ts';
import { formatParams } from '../progress.ts';
import { writeReport } from '../report/index.ts';
import type { NetworkSpec, PolicyContext, Stage, TrainingOptions } from '../types.ts';
import type { DataView } from '../data/image-set.ts';
import type { DecisionRecord, MachineDecisionKind, MachineDecisionRecord, PolicyDecisionRecord, RunRecord, StudyRecord } from '../store/records.ts';
import {
  readPerImage,
  runDir,
  secondsUsed,
  summariseRun,
  throughputOf,
  totalSecondsLeft,
  writePerImage,
  type StudyEnv,
  type TrainedRun,
} from './env.ts';

// ───────────────────────────── shared ─────────────────────────────

export async function writeStudyReport(env: StudyEnv, refreshRuns?: number[]): Promise<void> {
  try {
    await writeReport(env.store.study as StudyRecord, env.dir, { refresh: refreshRuns });
  } catch (error) {
    // A report that cannot be drawn must not lose the study: log it and carry on.
    env.log.error({ err: error }, 'report could not be written');
    env.progress.message(`warning: the report could not be written (${(error as Error).message}); the study goes on.`);
  }
}

export async function saveDecision(env: StudyEnv, fields: Omit<PolicyDecisionRecord, 'at'> | Omit<MachineDecisionRecord, 'at'>): Promise<void> {
  const record = { ...fields, at: new Date().toISOString() } as DecisionRecord;
  await env.store.saveDecision(record);
  env.log.info(fields, record.by !== 'machine' && record.refused ? 'decision refused' : 'decision');
  env.progress.decision(record);
}

/** A decision the machine itself takes (budget, finalists, final plan, final weights, the climb). */
export function machineDecision(env: StudyEnv, afterRun: number, stage: Stage, kind: MachineDecisionKind, reason: string): Promise<void> {
  return saveDecision(env, { afterRun, stage, by: 'machine', machine: kind, reason });
}

export function sizes(env: StudyEnv): DataSizes {
  return {
    searchTrain: env.search.train.indices.length,
    fullTrain: env.full.train.indices.length,
    fullValidation: env.full.validation.indices.length,
    test: env.dataset.testCount,
  };
}

/**
 * The data sizes a run's evidence is read against: its own training images stand for the search
 * subset (a run of the full-data rung asks the final run for the passes it needed, not six times
 * as many).
 */
export function evidenceSizes(env: StudyEnv, run: Pick<RunRecord, 'fidelity'>): DataSizes {
  const all = sizes(env);
  return { ...all, searchTrain: run.fidelity?.trainImages || all.searchTrain };
}

export function speedOf(run: RunRecord): Speed {
  return {
    imagesPerSecond: Math.max(1e-6, run.throughput?.imagesPerSecond ?? 0),
    evalImagesPerSecond: Math.max(1e-6, run.throughput?.evalImagesPerSecond ?? (run.throughput?.imagesPerSecond ?? 0) * 3),
  };
}

/** Images a run trained up to the epoch of its smoothed validation minimum (all, when still improving). */
export function imagesToMinimum(env: StudyEnv, run: RunRecord): number {
  const facts = factsOf(env, run);
  const imagesPerEpoch = run.result.imagesTrained / Math.max(1, run.result.epochsCompleted);
  return imagesPerEpoch * (facts.bestEpoch ?? run.result.epochsCompleted);
}

/** The search's budget now, with the final run's reserve computed for `standing`. */
export function budgetNow(env: StudyEnv, standing: RunRecord): BudgetFacts {
  const runsLeft = env.config.maxRuns === null ? null : env.config.maxRuns - env.store.study.budget.runsUsed;
  const budget = env.config.budgetSeconds;
  if (budget === null) return { searchSecondsLeft: null, secondsLeft: null, runsLeft };
  const reserve = finalReserveFor(env, budget, standing, standing, speedOf(standing));
  return { searchSecondsLeft: searchSecondsLeft(budget, secondsUsed(env), reserve), secondsLeft: budget - secondsUsed(env), runsLeft };
}

/**
 * Seconds the final run of `config` needs at `speed` (budget.ts finalReserveSeconds), with the
 * evidence of the standing run: what the search keeps for the standing configuration, and what a
 * candidate must leave for itself should it win. At the full-data rung a configuration that would
 * get the long run reserves the long run when the standing one reserves it too: the rule keeps a
 * slower candidate from taking the standing network's long run and leaving itself a short plain
 * one. A standing network without a long run (one convolution) has none to lose, and a deeper
 * candidate's rung run can be worth more than that network's whole final run (10 minutes, 9004bcd, AMD
 * EPYC family 26, seed 2: deepen refused for its 343 s long run with 353 s left; the single-layer
 * network stood, its 70-epoch final run lost to its rung weights, 90.26% test against 91.90–92.12%
 * for the seeds that deepened). On the subset the reserve follows the evidence.
 */
function finalReserveFor(env: StudyEnv, budget: number, standing: RunRecord, config: Pick<RunRecord, 'fidelity' | 'network' | 'options'>, speed: Speed): number {
  const longFinal = longFinalAugmentation(standing) !== null && longFinalAugmentation(config) !== null;
  return finalReserveSeconds(budget, speed, imagesToMinimum(env, standing), evidenceSizes(env, standing), { longFinal });
}

/**
 * The long run augments networks of this many convolutional layers or more. Measured (AMD EPYC):
 * single-layer networks underfit augmented batches, 3 of 3 — a 10-minute rung's 40-filter winner,
 * augmented for 29 epochs continuing its rung run, 89.82% validation accuracy against the 90.22%
 * of the weights it continued (51bc5d4, seed 2), and the two subset winners above; every
 * 30-minute long run that helped was of the two-block 40→80 network.
 */
export const LONG_RUN_MIN_CONVOLUTIONS = 2;

/**
 * The augmentation a final run retraining `run` takes when it is the long run (budget.ts
 * LONG_FINAL_EPOCHS): the registry's augmentData defaults, for a full-data rung's winner that does
 * not augment yet; null otherwise. Not for a subset search's winner: measured (10-minute studies
 * at 0e163d4, AMD EPYC), seed 1's single-layer 20-filter network, augmented for 38 epochs, reached
 * 89.27% validation accuracy against 90.06% for its 5 plain epochs (it underfits augmented
 * batches: 88.6% training accuracy), and seed 2's single-layer 40-filter network 88.08% after 24
 * augmented epochs (the 10-minute mean fell to 89.43% ± 1.35 from 90.62% ± 0.20); the rung's
 * winners are the networks the 30-minute long runs helped (92.10% and 92.45% validation against
 * 91.77% and 92.05% after the rung's 8 epochs). Nor for a network of fewer than
 * LONG_RUN_MIN_CONVOLUTIONS convolutions, a rung's winner or not.
 */
export function longFinalAugmentation(run: Pick<RunRecord, 'fidelity' | 'network' | 'options'>): Partial<TrainingOptions> | null {
  if (run.fidelity?.kind !== 'full' || augments(run.options)) return null;
  if (convolutionsOf(run.network).length < LONG_RUN_MIN_CONVOLUTIONS) return null;
  const { options } = applyDecision({ network: run.network, options: run.options }, { action: 'augmentData', params: {}, reason: 'the long final run' }, { lastLearnRate: run.options.initialLearnRate, bestEpoch: null, epochsTrained: 0 });
  return { randXReflection: options.randXReflection, randXTranslation: options.randXTranslation, randYTranslation: options.randYTranslation };
}

/** What the machine keeps about a run: its configuration, speed, and the diagnosis its guards read. */
export function factsOf(env: StudyEnv, run: RunRecord): RunFacts {
  const { bestEpoch, ...evidence } = evidenceOf(curveFromHistory(run.result.history, run.result.stopReason), run.diagnosis, env.thresholds);
  return {
    runId: run.id,
    configuration: { network: run.network, options: run.options },
    learnRate: run.options.initialLearnRate,
    epochsTrained: run.result.epochsCompleted,
    bestEpoch,
    secondsPerEpoch: run.throughput?.secondsPerEpoch ?? run.result.seconds / Math.max(1, run.result.epochsCompleted),
    evidence,
  };
}

// ───────────────────────────── train ─────────────────────────────

function initialVerdict(p: PendingRun): RunRecord['verdict'] {
  if (p.stage === 'baseline') return 'baseline';
  if (p.kind === 'search') return 'pending';
  return p.kind;
}

/**
 * Starts a run's training (its folder cleared, its deadline from the time left now), in its own
 * folder or (a run trained ahead: ahead.ts) in `dir`.
 */
async function startRun(env: StudyEnv, p: PendingRun, watched: boolean, dir?: string, signals: { signal: AbortSignal; needed?: AbortSignal } = { signal: env.abort.signal }): Promise<TrainedRun> {
  const { train, validation } = dataFor(env, p);
  const data = { train, validation };
  const parent = p.continueFrom === null ? null : env.store.run(p.continueFrom) ?? null;
  const options = trainingOptionsFor(env, p);
  env.log.info({ runId: p.runId, stage: p.stage, kind: p.kind, change: p.change, network: p.network, options, beside: !watched, ahead: dir !== undefined }, 'run started');
  const startedAt = new Date().toISOString();
  const checkpointDir = dir ?? runDir(env, p.runId);
  await rm(checkpointDir, { recursive: true, force: true }); // a run interrupted earlier starts clean
  const left = totalSecondsLeft(env);
  const planned = p.seconds ?? null;
  const deadlineSeconds = planned !== null ? (left === null ? planned : Math.min(planned, left)) : left;
  const result = await env.trainer.trainRun({
    network: p.network,
    options,
    train: data.train,
    validation: data.validation,
    checkpointDir,
    continueFrom: parent ? { checkpointDir: path.resolve(env.dir, parent.result.checkpointDir), result: parent.result } : null,
    deadline: deadlineSeconds === null ? undefined : env.clock() + Math.max(1, deadlineSeconds) * 1000,
    deadlineMidEpoch: planned !== null,
    // A run trained beside another reports no progress of its own (the terminal follows one run).
    onProgress: watched ? (progress) => env.progress.training(p.runId, p.stage, progress, totalSecondsLeft(env)) : undefined,
    signal: signals.signal,
    needed: signals.needed,
  });
  return { result, startedAt, options, data, parent };
}

/**
 * Trains one run (or returns it when it is already stored: resume after a crash). Its `alongside`
 * runs start now too when the trainer has room for them (queue workers); each is stored when the
 * machine comes to it. With room to spare, what the machine may ask for next trains ahead beside
 * a search candidate (ahead.ts: the policy's next choices should it not be kept, then its
 * replicate); a run the machine asks for that trained ahead is adopted, not trained again.
 */
export async function trainStudyRun(env: StudyEnv, p: PendingRun): Promise<{ runId: number }> {
  if (env.store.run(p.runId)) return { runId: p.runId };
  const beside = (p.alongside ?? []).filter((o) => !env.store.run(o.runId) && !env.besideRuns.has(o.runId));
  if (beside.length > 0 && env.trainer.parallelRuns && (await env.trainer.parallelRuns()) > 1) {
    for (const other of beside) {
      const started = startRun(env, other, false);
      started.catch(() => undefined); // its failure is reported when the machine comes to it
      env.besideRuns.set(other.runId, started);
    }
  }
  const what = p.change ? `${p.change.action} ${formatParams(p.change.params)}`.trim() : p.kind === 'search' ? 'baseline' : p.kind;
  env.progress.runStarted(p.runId, p.stage, what);
  const early = env.besideRuns.get(p.runId) ?? (await adoptAhead(env, p));
  let trained: TrainedRun;
  try {
    const training = early ?? startRun(env, p, true);
    // What the machine may ask for next, trained beside it when there is room: the policy's next
    // choice should the candidate not be kept, then the replicate a close call asks for.
    if (p.kind === 'search' && p.change !== null && env.trainer.parallelRuns) {
      const next = env.nextAhead?.after === p.runId ? env.nextAhead.runs : [];
      const room = { parallel: await env.trainer.parallelRuns(), busy: 1 + env.besideRuns.size };
      for (const q of [...next, replicateRun(p, -1)]) trainAhead(env, q, room, (r, dir, signals) => startRun(env, r, false, dir, signals));
    }
    trained = await training;
  } finally {
    env.besideRuns.delete(p.runId);
  }
  const { result, startedAt, options, data, parent } = trained;
  const full = p.kind === 'confirm' || p.kind === 'final' || p.fidelity === 'full';
  const record: RunRecord = {
    id: p.runId,
    stage: p.stage,
    startedAt,
    finishedAt: new Date().toISOString(),
    network: p.network,
    options,
    fidelity: { trainImages: data.train.indices.length, validationImages: data.validation.indices.length, kind: full ? 'full' : 'subset', ...(p.trainOnValidation ? { trainsOnValidation: true } : {}) },
    parentId: p.parentId,
    change: p.change,
    continuedFrom: p.continueFrom,
    basedOn: p.basedOn,
    replicateOf: p.replicateOf,
    result: { ...result, checkpointDir: path.relative(env.dir, result.checkpointDir) },
    diagnosis: diagnoseRun(curveFromHistory(result.history, result.stopReason), env.thresholds),
    kind: p.kind,
    verdict: initialVerdict(p),
    evaluation: null,
    judgement: null,
    ...accuracies(result),
  };
  record.throughput = throughputOf(record, result.history.epochs.length - (parent?.result.history.epochs.length ?? 0));
  // Finished work is on disk before anything that could fail next.
  await env.store.saveRun(record);
  await env.store.update((s) => {
    s.budget.secondsUsed = secondsUsed(env);
    s.backend = result.backend;
  });
  env.log.info({ runId: record.id, diagnosis: record.diagnosis, stopReason: result.stopReason, bestValLoss: result.bestValLoss, seconds: result.seconds }, 'run finished');
  return { runId: p.runId };
}

function accuracies(result: RunRecord['result']): Pick<RunRecord, 'bestValAccuracy' | 'trainAccuracy' | 'valAccuracy'> {
  const epochs = result.history.epochs;
  const best = result.bestEpoch === null ? undefined : epochs.find((e) => e.epoch === result.bestEpoch);
  const valAccs = epochs.map((e) => e.valAccuracy).filter((a): a is number => a !== null && Number.isFinite(a));
  const last = epochs[epochs.length - 1];
  return {
    bestValAccuracy: valAccs.length ? Math.max(...valAccs) : null,
    trainAccuracy: (best ?? last)?.accuracy ?? null,
    valAccuracy: (best ?? last)?.valAccuracy ?? null,
  };
}

// ───────────────────────────── evaluate and judge ─────────────────────────────

/** The run's output network on the fixed validation set (stored: evaluated once per run). */
export async function evaluated(env: StudyEnv, runId: number): Promise<RunRecord> {
  const run = env.store.run(runId)!;
  if (run.evaluation) return run;
  const started = env.clock();
  const result = await env.trainer.evaluate({
    checkpointDir: path.resolve(env.dir, run.result.checkpointDir),
    network: run.network,
    test: env.full.validation,
    classNames: env.dataset.classNames,
  });
  const seconds = (env.clock() - started) / 1000;
  const file = await writePerImage(env, runId, result.perImage);
  await env.store.update((s) => {
    const r = s.runs.find((x) => x.id === runId)!;
    r.evaluation = { images: result.count, loss: result.loss, accuracy: result.accuracy, file };
    r.throughput = { ...(r.throughput ?? { imagesPerSecond: 0, secondsPerEpoch: 0 }), evalImagesPerSecond: result.count / Math.max(1e-6, seconds) };
  });
  return env.store.run(runId)!;
}

async function sideOf(env: StudyEnv, run: RunRecord, replicates: RunRecord[] = []): Promise<Side> {
  const all = [run, ...replicates];
  const perImage = await Promise.all(all.map((r) => readPerImage(env, r.evaluation!.file, r.evaluation!.images)));
  return {
    runId: run.id,
    replicateIds: replicates.map((r) => r.id),
    perImage,
    imagesPerSecond: run.throughput?.imagesPerSecond ?? 0,
    epochs: run.options.maxEpochs,
    params: paramCount(run.network),
    unstable: all.some((r) => factsOf(env, r).evidence.unstable),
  };
}

/**
 * Evaluates a run on the fixed validation set and, given an incumbent, judges it (a replicate
 * is pooled with the candidate it repeats). Stores the evaluation, the judgement and the verdict.
 */
export async function evaluateStudyRun(env: StudyEnv, input: EvaluateInput): Promise<EvaluateOutcome> {
  const run = await evaluated(env, input.runId);
  const candidate = input.replicateOf === null ? run : env.store.run(input.replicateOf)!;
  let verdict: EvaluateOutcome['verdict'] = null;
  let standing = candidate;
  if (input.against !== null) {
    const incumbent = await evaluated(env, input.against);
    const replicates = input.replicateOf === null ? [] : [run];
    const judgement = judge(await sideOf(env, candidate, replicates), await sideOf(env, incumbent), { replicated: replicates.length > 0 });
    await env.store.update((s) => {
      const c = s.runs.find((x) => x.id === candidate.id)!;
      c.judgement = judgement;
      if (c.kind !== 'confirm') c.verdict = judgement.outcome === 'tie' ? 'tie' : judgement.kept ? 'kept' : 'reverted';
      if (input.replicateOf !== null) s.runs.find((x) => x.id === run.id)!.verdict = 'replicate';
      if (c.kind !== 'confirm') s.incumbentId = judgement.kept ? c.id : incumbent.id;
    });
    verdict = { kept: judgement.kept, close: judgement.close, replicateSeconds: candidate.result.seconds };
    if (!judgement.kept) standing = incumbent;
    env.log.info({ runId: candidate.id, judgement }, 'judged');
  } else if (candidate.verdict === 'baseline') {
    await env.store.update((s) => {
      s.incumbentId = candidate.id;
    });
  }
  const stored = env.store.run(candidate.id)!;
  env.progress.runFinished(stored);
  await writeStudyReport(env, [run.id]);
  return { facts: factsOf(env, stored), verdict, budget: budgetNow(env, env.store.run(standing.id)!) };
}

// ───────────────────────────── decide ─────────────────────────────

/** Asks the policy for the next step among the allowed actions; returns the configuration it leads to. */
export async function decideStudyNext(env: StudyEnv, input: DecideInput): Promise<DecideOutcome> {
  const study = env.store.study;
  const runs = study.runs.filter((r) => r.kind !== 'final' && r.kind !== 'confirm').map(summariseRun);
  const last = runs.find((r) => r.id === input.lastRunId);
  const incumbent = runs.find((r) => r.id === input.incumbentId) ?? last;
  if (!last || !incumbent) throw new Error(`run ${input.lastRunId} is not in the store`);
  const random = policyRandom(env, input.lastRunId, input.tried.length, input.refused.length);
  const context: PolicyContext = Object.freeze({
    stage: input.rails.step,
    allowed: Object.freeze([...input.allowed]),
    refused: Object.freeze(input.refused.map((r) => Object.freeze({ ...r }))),
    subjectRun: input.subject.isStanding ? null : input.subject.runId,
    standing: input.standing,
    last,
    incumbent,
    runs: Object.freeze(runs),
    tried: Object.freeze([...input.tried]),
    budget: Object.freeze({ runsLeft: input.budget.runsLeft ?? Infinity, secondsLeft: input.budget.searchSecondsLeft ?? Infinity }),
    fidelity: input.rails.fidelity ?? 'subset',
    random,
  });
  const decision: Decision = decideSafely(env.policy, context, env.policySource);
  const def = ACTIONS[decision.action];
  const subject = input.subject;
  const from = subject.isStanding ? input.standing : subject.configuration;
  const change =
    def.kind === 'train' || def.kind === 'edit'
      ? applyDecision(from, decision, { lastLearnRate: subject.learnRate, bestEpoch: subject.bestEpoch, epochsTrained: subject.epochsTrained })
      : null;
  let estimatedSeconds: number | null = null;
  let estimatedFinalSeconds: number | null = null;
  if (change && def.trains) {
    const standingRun = env.store.run(input.incumbentId)!;
    // The same network runs at its measured speed; another one is probed (a few real batches).
    const measured = speedOf(env.store.run(subject.runId) ?? standingRun);
    const speed = describeNetwork(change.network) === describeNetwork(from.network) ? measured : await candidateSpeed(env, change, from.network, measured, input.budget.searchSecondsLeft);
    // At the full-data rung every run trains the rung's epochs (the machine sets them) on all the training images.
    const rung = input.rails.fidelity === 'full' ? standingRun.options.maxEpochs : null;
    const epochs = rung ?? (change.continues ? Math.max(0, change.options.maxEpochs - subject.epochsTrained) : change.options.maxEpochs);
    const trainView = rung !== null ? env.full.train : env.search.train;
    const perEpoch = imagesPerEpoch(trainView, change.options.miniBatchSize) / speed.imagesPerSecond + env.search.validation.indices.length / speed.evalImagesPerSecond;
    estimatedSeconds = epochs * perEpoch + env.full.validation.indices.length / speed.evalImagesPerSecond;
    // Should it win, its final run needs what the standing one's reserve keeps, at its own speed: at
    // the full-data rung the long run when the standing one has it (a slower network kept there
    // with too little time left for it trained a short plain final run that lost to its rung run's
    // weights: 91.92% test, seed 0 at 7e89eeb; 92.01% at 900b61d).
    // (Without a time budget nothing is refused for time.)
    const budget = env.config.budgetSeconds;
    estimatedFinalSeconds = budget === null ? null : finalReserveFor(env, budget, standingRun, { fidelity: standingRun.fidelity, network: change.network, options: change.options }, speed);
  }
  const outcome: DecideOutcome = { decision, change, estimatedSeconds, estimatedFinalSeconds };
  const refused = decisionRefusal({ rails: input.rails, budget: input.budget }, outcome);
  // With room for more than one run, what the policy would try next should this candidate not be kept trains ahead beside it.
  const parallel = refused === null && env.trainer.parallelRuns ? await env.trainer.parallelRuns() : 1;
  env.nextAhead = parallel > 1 ? { after: input.nextRunId, runs: nextIfReverted(env, input, context, outcome, parallel - 1) } : null;
  await saveDecision(env, { afterRun: input.lastRunId, stage: input.rails.step, decision, ...(refused ? { refused } : {}) });
  return outcome;
}

/** Images a speed probe trains (two epochs of this many; the first warms up). */
const PROBE_IMAGES = 512;

/**
 * A candidate network's speed: probed once per network (a few real batches), then remembered.
 * When even the probe would cost more than a tenth of the search time left (by the networks'
 * flops), the flops estimate from the measured speed stands instead.
 */
async function candidateSpeed(env: StudyEnv, change: Change, from: NetworkSpec, measured: Speed, searchSecondsLeft: number | null): Promise<Speed> {
  const key = describeNetwork(change.network);
  let speed = env.speeds.get(key);
  const slowdown = networkFlops(change.network).training / Math.max(1, networkFlops(from).training);
  const flopsEstimate = { imagesPerSecond: measured.imagesPerSecond / slowdown, evalImagesPerSecond: measured.evalImagesPerSecond / slowdown };
  if (!speed && searchSecondsLeft !== null && (2 * PROBE_IMAGES) / flopsEstimate.imagesPerSecond > 0.1 * searchSecondsLeft) return flopsEstimate;
  if (!speed) {
    speed = await env.trainer.probeSpeed(change.network, change.options, env.search.train, env.full.validation, PROBE_IMAGES);
    env.speeds.set(key, speed);
    env.log.info({ network: key, speed }, 'candidate speed probed');
  }
  return { imagesPerSecond: Math.max(1e-6, speed.imagesPerSecond), evalImagesPerSecond: Math.max(1e-6, Number.isFinite(speed.evalImagesPerSecond) ? speed.evalImagesPerSecond : speed.imagesPerSecond * 3) };
}

/** Images one epoch of `view` trains (the last partial batch is dropped). */
function imagesPerEpoch(view: DataView, miniBatchSize: number): number {
  return imagesIn(view.indices.length, miniBatchSize);
}
