/**
 * One study: opens the store, the data and the policy, creates the machine's actor with the
 * real trainer, persists after every transition, and rewrites the report after every run.
 *
 * The three invoked actors are one-line wrappers around the plain async functions below
 * (`trainStudyRun`, `decideStudyNext`, `finaliseStudyRun`).
 */
import { cp, mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import pino, { type Logger } from 'pino';
import { createActor, fromPromise, type Snapshot } from 'xstate';
import { openDataset, type Dataset } from './data/dataset.ts';
import { deriveSeed, mulberry32 } from './data/random.ts';
import { stratifiedSubset } from './data/split.ts';
import { summariseDataset, trainValidationSplit } from './data/summary.ts';
import { fitNetworkToData } from './config/network.ts';
import { curveFromHistory, diagnoseRun, DEFAULT_THRESHOLDS } from './diagnosis/index.ts';
import { UserError } from './errors.ts';
import { tuneMachine, verdictOf, type DecideInput, type DecideOutcome, type FinaliseInput, type RunOutcome, type TrainInput } from './machine/machine.ts';
import type { PendingRun } from './machine/plan.ts';
import { decideSafely, loadPolicy } from './policy-loader.ts';
import { fixed, formatDuration, formatParams, type ProgressSink } from './progress.ts';
import { writeReport } from './report/index.ts';
import { StudyStore } from './store/study-store.ts';
import { initBackend } from './training/backend.ts';
import { evaluateModel } from './training/evaluate.ts';
import { trainRun } from './training/trainer.ts';
import type {
  DataView, Decision, DiagnosisThresholds, Policy, PolicyContext, RunRecord, RunSummary, StudyConfig, StudyRecord,
} from './types.ts';

/** Share of a time budget the search may use; the rest is kept for the final run and the test evaluation. */
export const SEARCH_SHARE = 0.65;

export interface StudyRunOptions {
  reportsDir: string;
  /** Resume the study at reportsDir/<config.name> instead of creating it. */
  resume: boolean;
  progress: ProgressSink;
  logLevel: string;
}

export interface StudyOutcome {
  study: StudyRecord;
  dir: string;
  /** 0 finished, 3 stopped by budget with a result; failures throw or return 1. */
  exitCode: number;
}

interface StudyEnv {
  config: StudyConfig;
  dir: string;
  store: StudyStore;
  log: Logger;
  progress: ProgressSink;
  policy: Policy;
  policySource: string;
  thresholds: DiagnosisThresholds;
  dataset: Dataset;
  search: { train: DataView; validation: DataView };
  full: { train: DataView; validation: DataView };
  /** Wall-clock ms when this process started working on the study, and seconds used before it. */
  sessionStart: number;
  secondsBefore: number;
  /** A user's fault (a broken policy) that failed the study, rethrown at the end as such. */
  userError: UserError | null;
}

function secondsUsed(env: StudyEnv): number {
  return env.secondsBefore + (Date.now() - env.sessionStart) / 1000;
}

/** Seconds the search may still use (null: no time budget). */
function searchSecondsLeft(env: StudyEnv): number | null {
  const budget = env.config.budgetSeconds;
  return budget === null ? null : budget * SEARCH_SHARE - secondsUsed(env);
}

function totalSecondsLeft(env: StudyEnv): number | null {
  const budget = env.config.budgetSeconds;
  return budget === null ? null : budget - secondsUsed(env);
}

function runDir(env: StudyEnv, runId: number): string {
  return path.join(env.dir, 'runs', `run-${runId}`);
}

/** The read-only view of a stored run that policies get. */
export function summariseRun(run: RunRecord): RunSummary {
  return Object.freeze({
    id: run.id,
    stage: run.stage,
    network: run.network,
    options: run.options,
    fidelity: run.fidelity,
    curve: curveFromHistory(run.result.history, run.result.stopReason),
    diagnosis: run.diagnosis,
    bestValLoss: run.result.bestValLoss,
    bestValAccuracy: run.bestValAccuracy,
    bestEpoch: run.result.bestEpoch,
    seconds: run.result.seconds,
    verdict: run.verdict,
    change: run.change,
    continuedFrom: run.continuedFrom,
  });
}

function outcomeOf(run: RunRecord): RunOutcome {
  return {
    runId: run.id,
    bestValLoss: run.result.bestValLoss,
    bestEpoch: run.result.bestEpoch,
    epochsCompleted: run.result.epochsCompleted,
    learnRate: run.options.initialLearnRate,
  };
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

/** Trains one run of the study (or returns it when it is already stored: resume after a crash). */
async function trainStudyRun(env: StudyEnv, input: TrainInput, data: { train: DataView; validation: DataView }, kind: 'subset' | 'full', deadlineSeconds: number | null): Promise<RunRecord> {
  const p: PendingRun = input.pending;
  const existing = env.store.run(p.runId);
  if (existing) return existing;
  const parent = p.continueFrom === null ? null : env.store.run(p.continueFrom) ?? null;
  const startedAt = new Date().toISOString();
  env.progress.runStarted(p.runId, p.stage, p.change ? `${p.change.action} ${formatParams(p.change.params)}`.trim() : 'baseline');
  env.log.info({ runId: p.runId, stage: p.stage, change: p.change, network: p.network, options: p.options }, 'run started');
  const checkpointDir = runDir(env, p.runId);
  await rm(checkpointDir, { recursive: true, force: true }); // a run interrupted earlier starts clean
  const result = await trainRun({
    network: p.network,
    options: p.options,
    train: data.train,
    validation: data.validation,
    checkpointDir,
    continueFrom: parent ? { checkpointDir: path.resolve(env.dir, parent.result.checkpointDir), result: parent.result } : null,
    deadline: deadlineSeconds === null ? undefined : Date.now() + deadlineSeconds * 1000,
    onProgress: (progress) => env.progress.training(p.runId, p.stage, progress, totalSecondsLeft(env)),
  });
  const diagnosis = diagnoseRun(curveFromHistory(result.history, result.stopReason), env.thresholds);
  const record: RunRecord = {
    id: p.runId,
    stage: p.stage,
    startedAt,
    finishedAt: new Date().toISOString(),
    network: p.network,
    options: p.options,
    fidelity: { trainImages: data.train.indices.length, validationImages: data.validation.indices.length, kind },
    parentId: p.parentId,
    change: p.change,
    continuedFrom: p.continueFrom,
    result: { ...result, checkpointDir: path.relative(env.dir, result.checkpointDir) },
    diagnosis,
    verdict: kind === 'full' ? 'final' : verdictOf(input, result.bestValLoss),
    ...accuracies(result),
  };
  // Finished work is on disk before anything that could fail next.
  await env.store.saveRun(record);
  await env.store.update((s) => {
    s.budget.secondsUsed = secondsUsed(env);
    s.backend = result.backend;
    if (record.verdict === 'baseline' || record.verdict === 'kept') s.incumbentId = record.id;
  });
  env.log.info({ runId: record.id, verdict: record.verdict, diagnosis, stopReason: result.stopReason, bestValLoss: result.bestValLoss, seconds: result.seconds }, 'run finished');
  env.progress.runFinished(record);
  await writeStudyReport(env, [record.id]);
  return record;
}

async function writeStudyReport(env: StudyEnv, refreshRuns?: number[]): Promise<void> {
  try {
    await writeReport(env.store.study as StudyRecord, env.dir, { refresh: refreshRuns });
  } catch (error) {
    // A report that cannot be drawn must not lose the study: log it and carry on.
    env.log.error({ err: error }, 'report could not be written');
    env.progress.message(`warning: the report could not be written (${(error as Error).message}); the study goes on.`);
  }
}

/** Asks the policy for the next step; the budget overrides it with `stop`. */
async function decideStudyNext(env: StudyEnv, input: DecideInput): Promise<DecideOutcome> {
  const study = env.store.study;
  const runs = study.runs.filter((r) => r.verdict !== 'final').map(summariseRun);
  const last = runs.find((r) => r.id === input.lastRunId);
  const incumbent = runs.find((r) => r.id === input.incumbentId) ?? last;
  if (!last || !incumbent) throw new Error(`run ${input.lastRunId} is not in the store`);
  const runsLeft = env.config.maxRuns === null ? Infinity : env.config.maxRuns - runs.length;
  const secondsLeft = searchSecondsLeft(env) ?? Infinity;
  let decision: Decision;
  let budgetExhausted = false;
  if (runsLeft <= 0 || secondsLeft <= 0) {
    budgetExhausted = true;
    const why = runsLeft <= 0
      ? `the run budget is used up (${runs.length} of ${env.config.maxRuns} runs)`
      : `the search's share of the time budget is used up (${formatDuration(secondsUsed(env))} of ${formatDuration((env.config.budgetSeconds ?? 0) * SEARCH_SHARE)})`;
    decision = { action: 'stop', params: {}, reason: `budget: ${why}; finalising the best configuration so far (run ${incumbent.id}).` };
  } else {
    const random = mulberry32(deriveSeed(env.config.seed, `decide-${input.lastRunId}-${input.tried.length}`));
    const context: PolicyContext = Object.freeze({
      stage: input.stage,
      standing: input.standing,
      last,
      incumbent,
      runs: Object.freeze(runs),
      tried: Object.freeze([...input.tried]),
      budget: Object.freeze({ runsLeft, secondsLeft }),
      random,
    });
    try {
      decision = decideSafely(env.policy, context, env.policySource);
    } catch (error) {
      if (error instanceof UserError) env.userError = error;
      throw error;
    }
  }
  await env.store.saveDecision({ afterRun: input.lastRunId, stage: input.stage, decision, at: new Date().toISOString() });
  await env.store.update((s) => {
    if (budgetExhausted) s.budget.exhausted = true;
  });
  env.log.info({ afterRun: input.lastRunId, stage: input.stage, decision, budgetExhausted }, 'decision');
  env.progress.decision(input.lastRunId, decision);
  return { decision, budgetExhausted };
}

/** Epochs the final run can afford on the full split, from the search's measured throughput. */
export function affordableEpochs(wanted: number, secondsLeft: number | null, imagesPerSecond: number, trainImages: number, validationImages: number): number {
  if (secondsLeft === null || !(imagesPerSecond > 0)) return wanted;
  // A validation pass costs roughly a third of training on as many images (forward only).
  const perEpoch = (trainImages + validationImages / 3) / imagesPerSecond;
  return Math.max(1, Math.min(wanted, Math.floor((secondsLeft * 0.85) / perEpoch)));
}

/**
 * Finalise: train the standing configuration on the full training split (or keep the incumbent's
 * weights when the study searched on the full split already), evaluate once on the sealed test
 * set, and save the model under reports/<study>/model/.
 */
async function finaliseStudyRun(env: StudyEnv, input: FinaliseInput): Promise<{ runId: number }> {
  const study = env.store.study;
  if (study.final) return { runId: study.final.runId };
  const incumbent = env.store.run(input.incumbentId)!;
  let finalRun: RunRecord = incumbent;
  const searchedOnFull = env.search.train.indices.length === env.full.train.indices.length;
  if (env.config.finalFullData && !searchedOnFull) {
    const ips = median(incumbent.result.history.epochs.map((e) => e.imagesPerSecond).filter((x) => x > 0));
    const secondsLeft = totalSecondsLeft(env);
    const epochs = affordableEpochs(input.standing.options.maxEpochs, secondsLeft, ips, env.full.train.indices.length, env.full.validation.indices.length);
    const itersPerEpoch = Math.floor(env.full.train.indices.length / input.standing.options.miniBatchSize);
    const options = { ...input.standing.options, maxEpochs: epochs, validationFrequency: Math.max(1, itersPerEpoch) };
    const change: Decision = {
      action: 'stop',
      params: { maxEpochs: epochs },
      reason:
        `final model: the standing configuration (from run ${incumbent.id}) trained on the full training split (${env.full.train.indices.length} images)` +
        (epochs < input.standing.options.maxEpochs ? `, ${epochs} of ${input.standing.options.maxEpochs} epochs to fit the budget (${formatDuration(secondsLeft ?? 0)} left at ${Math.round(ips)} img/s)` : `, ${epochs} epochs`),
    };
    finalRun = await trainStudyRun(
      env,
      { pending: { ...input.standing, options, runId: input.runId, stage: 'finalise', parentId: incumbent.id, change, continueFrom: null }, incumbentBestValLoss: null, isBaseline: false },
      env.full,
      'full',
      secondsLeft === null ? null : Math.max(1, secondsLeft),
    );
    finalRun = await betterOnValidation(env, finalRun, incumbent);
  }
  // The one and only use of the test set.
  const test = await env.dataset.loadTest();
  const checkpointDir = path.resolve(env.dir, finalRun.result.checkpointDir);
  const evaluation = await evaluateModel({ checkpointDir, network: finalRun.network, test, classNames: env.dataset.classNames });
  const modelDir = path.join(env.dir, 'model');
  await rm(modelDir, { recursive: true, force: true });
  await mkdir(modelDir, { recursive: true });
  await cp(path.join(checkpointDir, 'model.json'), path.join(modelDir, 'model.json'));
  await cp(path.join(checkpointDir, 'weights.bin'), path.join(modelDir, 'weights.bin'));
  await env.store.update((s) => {
    s.final = {
      runId: finalRun.id,
      testAccuracy: evaluation.accuracy,
      testLoss: evaluation.loss,
      testCount: test.count,
      perClassAccuracy: evaluation.perClassAccuracy,
      confusion: evaluation.confusion,
      modelDir: path.relative(env.dir, modelDir),
      evaluatedAt: new Date().toISOString(),
    };
    s.budget.secondsUsed = secondsUsed(env);
  });
  env.log.info({ final: env.store.study.final }, 'final evaluation');
  return { runId: finalRun.id };
}

/**
 * "Kept only if it helps", applied to the final run too: the full-data run's weights are compared
 * with the search incumbent's on the same full validation set, and the better one is finalised.
 * (A full-data run cut short by the budget can be worse than the search run it retrains.)
 */
async function betterOnValidation(env: StudyEnv, finalRun: RunRecord, incumbent: RunRecord): Promise<RunRecord> {
  const checkpointDir = path.resolve(env.dir, incumbent.result.checkpointDir);
  const searched = await evaluateModel({ checkpointDir, network: incumbent.network, test: env.full.validation, classNames: env.dataset.classNames });
  const finalLoss = finalRun.result.bestValLoss;
  const keepSearch = finalLoss === null || !Number.isFinite(finalLoss) || searched.loss < finalLoss;
  const images = env.full.validation.indices.length;
  const reason = keepSearch
    ? `the full-data run ${finalRun.id} (validation loss ${fixed(finalLoss)}) did not beat the weights of search run ${incumbent.id} ` +
      `(${fixed(searched.loss)}, accuracy ${(searched.accuracy * 100).toFixed(2)}%) on the same ${images} validation images: finalising run ${incumbent.id}'s model`
    : `the full-data run ${finalRun.id} (validation loss ${fixed(finalLoss)}) beats the weights of search run ${incumbent.id} ` +
      `(${fixed(searched.loss)}) on the same ${images} validation images: finalising run ${finalRun.id}'s model`;
  const decision: Decision = { action: 'stop', params: { finalRun: keepSearch ? incumbent.id : finalRun.id }, reason };
  await env.store.saveDecision({ afterRun: finalRun.id, stage: 'finalise', decision, at: new Date().toISOString() });
  env.log.info({ decision, searchedValLoss: searched.loss, finalValLoss: finalLoss }, 'final model chosen');
  env.progress.decision(finalRun.id, decision);
  return keepSearch ? incumbent : finalRun;
}

function median(xs: number[]): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function newStudyRecord(config: StudyConfig, dataset: Dataset, split: { train: DataView; validation: DataView }, policy: Policy, policySource: string): StudyRecord {
  const now = new Date().toISOString();
  return {
    config,
    createdAt: now,
    updatedAt: now,
    status: 'running',
    statusReason: null,
    dataset: {
      name: dataset.name,
      trainCount: split.train.indices.length,
      validationCount: split.validation.indices.length,
      testCount: dataset.testCount,
      classNames: dataset.classNames,
      summary: summariseDataset(dataset, split, config.seed),
    },
    backend: null,
    policy: { name: policy.name, source: policySource },
    budget: { secondsUsed: 0, runsUsed: 0, exhausted: false },
    runs: [],
    decisions: [],
    incumbentId: null,
    final: null,
    snapshot: null,
  };
}

/** The study this process is running, for the interrupt handler. */
let activeEnv: StudyEnv | null = null;

/**
 * Ctrl-C: mark the running study as stopped (resumable) and rewrite its report. Every finished run
 * is already on disk; the run in progress is trained again by `tune --resume`.
 */
export async function interruptStudy(): Promise<string | null> {
  const env = activeEnv;
  if (!env) return null;
  await env.store.update((s) => {
    s.status = 'stopped';
    s.statusReason = `interrupted; continue with \`tune --resume ${env.config.name}\``;
    s.budget.secondsUsed = secondsUsed(env);
  });
  env.log.info('study interrupted');
  await writeStudyReport(env);
  return env.config.name;
}

/** Runs (or resumes) a study to its end. User errors throw UserError; the study on disk is kept. */
export async function runStudy(configOrName: StudyConfig | string, opts: StudyRunOptions): Promise<StudyOutcome> {
  const name = typeof configOrName === 'string' ? configOrName : configOrName.name;
  const dir = path.resolve(opts.reportsDir, name);
  let store: StudyStore | null = null;
  let config: StudyConfig;
  if (opts.resume) {
    store = await StudyStore.open(dir);
    config = store.study.config;
    if (store.study.status === 'finished') {
      throw new UserError(`Study "${name}" is already finished (see ${path.join(dir, 'report.md')}). Start a new one with another --name.`);
    }
  } else {
    config = configOrName as StudyConfig;
  }

  const { policy, source: policySource } = await loadPolicy(config.policy, process.cwd());
  const dataset = await openDataset({
    data: config.data,
    dataDir: config.dataDir ?? undefined,
    imageSize: config.imageSize,
    testData: config.testData,
    skipBad: config.skipBad,
    maxMemoryBytes: config.maxMemoryBytes,
  });
  const full = trainValidationSplit(dataset, { validationSize: config.validationSize, seed: config.seed });
  const search = {
    train: config.searchSubset === null ? full.train : stratifiedSubset(full.train, config.searchSubset, config.seed),
    validation: config.searchValidationSubset === null ? full.validation : stratifiedSubset(full.validation, config.searchValidationSubset, config.seed),
  };
  const backend = await initBackend((config.backend as never) ?? null);

  if (!store) store = await StudyStore.create(dir, newStudyRecord(config, dataset, full, policy, policySource));
  await store.update((s) => {
    s.status = 'running';
    s.statusReason = null;
    s.backend = backend.detail;
  });
  const log = pino({ level: opts.logLevel, base: { study: name } }, pino.destination({ dest: path.join(dir, 'log.ndjson'), append: true, sync: true }));
  log.info({ config, backend: backend.detail, resume: opts.resume, policy: policySource }, opts.resume ? 'study resumed' : 'study started');

  const env: StudyEnv = {
    config,
    dir,
    store,
    log,
    progress: opts.progress,
    policy,
    policySource,
    thresholds: { ...DEFAULT_THRESHOLDS, ...(policy.thresholds ?? {}) },
    dataset,
    search,
    full,
    sessionStart: Date.now(),
    secondsBefore: store.study.budget.secondsUsed,
    userError: null,
  };
  activeEnv = env;
  opts.progress.message(
    `${opts.resume ? 'resuming' : 'study'} "${name}": ${dataset.name}, search on ${search.train.indices.length} training / ${search.validation.indices.length} validation images, ` +
      `backend ${backend.detail}, policy ${policy.name}` +
      (config.budgetSeconds !== null ? `, budget ${formatDuration(config.budgetSeconds)}` : '') +
      (config.maxRuns !== null ? `, at most ${config.maxRuns} runs` : ''),
  );

  const machine = tuneMachine.provide({
    actors: {
      trainRun: fromPromise<RunOutcome, TrainInput>(async ({ input }) => outcomeOf(await trainStudyRun(env, input, env.search, 'subset', searchSecondsLeft(env)))),
      decideNext: fromPromise<DecideOutcome, DecideInput>(({ input }) => decideStudyNext(env, input)),
      finaliseStudy: fromPromise<{ runId: number }, FinaliseInput>(({ input }) => finaliseStudyRun(env, input)),
    },
  });
  const snapshot = opts.resume && store.study.snapshot ? (store.study.snapshot as Snapshot<unknown>) : undefined;
  // With a snapshot the input is ignored (the context is restored), but the types ask for it.
  const { height, width, channels } = dataset.train;
  const network = fitNetworkToData(config.baseNetwork, { height, width, channels, classes: dataset.classNames.length });
  const input = { standing: { network, options: config.baseOptions } };
  const actor = snapshot ? createActor(machine, { snapshot: snapshot as never, input }) : createActor(machine, { input });

  const finished = new Promise<void>((resolve) => {
    actor.subscribe({
      next: (state) => {
        void store!.saveSnapshot(actor.getPersistedSnapshot());
        if (state.status === 'done') resolve();
      },
      error: () => resolve(),
    });
  });
  actor.start();
  await finished;
  await store.flush();
  activeEnv = null;

  const state = actor.getSnapshot();
  const failed = state.value === 'failed' || state.status === 'error';
  const error = state.context.error ?? (state.status === 'error' ? String(state.error) : null);
  await store.update((s) => {
    s.status = failed ? 'failed' : 'finished';
    s.statusReason = failed ? error : s.budget.exhausted ? 'search stopped by the budget; the best configuration so far was finalised' : null;
  });
  log.info({ status: store.study.status, reason: store.study.statusReason }, 'study ended');
  await writeStudyReport(env);
  const study = store.study as StudyRecord;
  if (failed) {
    // A policy fault is the user's; a trainer failure is reported with its message, runs kept.
    const lastRun = study.runs[study.runs.length - 1];
    const where = lastRun ? ` ${study.runs.length} finished run(s) are kept in ${dir}.` : '';
    if (env.userError) throw new UserError(`${env.userError.message}${where}`);
    throw new Error(`study "${name}" failed: ${error}.${where}`);
  }
  const final = study.final;
  if (final) {
    opts.progress.result(
      `test accuracy ${(final.testAccuracy * 100).toFixed(2)}% (${final.testCount} sealed test images, run ${final.runId}) — report: ${path.join(dir, 'report.md')}`,
    );
  }
  return { study, dir, exitCode: study.budget.exhausted ? 3 : 0 };
}
