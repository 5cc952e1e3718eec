/**
 * One study: opens the store, the data and the policy, creates the machine's actor with the
 * adapters (adapters.ts) as its actors, persists its snapshot after every transition, and maps
 * the way it ended to an outcome. Thin on purpose: every step's work is in an adapter, every
 * decision in the machine.
 */
import path from 'node:path';
import pino from 'pino';
import { createActor, fromPromise, type Snapshot } from 'xstate';
import { openDataset } from '../data/dataset.ts';
import { stratifiedSubset } from '../data/split.ts';
import { summariseDataset, trainValidationSplit } from '../data/summary.ts';
import { fitNetworkToData } from '../config/network.ts';
import { DEFAULT_THRESHOLDS } from '../diagnosis/index.ts';
import { UserError } from '../errors.ts';
import { tuneMachine, type PendingRun, type TuneInput } from '../machine/machine.ts';
import { loadPolicy, type LoadedPolicy } from '../policy-loader.ts';
import { formatDuration, type ProgressSink } from '../progress.ts';
import { startingStudyRecord } from '../store/schema.ts';
import { StudyStore } from '../store/study-store.ts';
import { initBackend } from '../training/backend.ts';
import { evaluateModel } from '../training/evaluate.ts';
import { trainRun } from '../training/trainer.ts';
import { probeEvaluationSpeed, probeSpeed } from '../training/speed.ts';
import type { NetworkSpec, Policy } from '../types.ts';
import type { DataView } from '../data/image-set.ts';
import type { StudyConfig, StudyRecord } from '../store/records.ts';
import type { Dataset } from '../data/dataset.ts';
import { clearAhead } from './ahead.ts';
import { resumeCommand } from './config.ts';
import { decideStudyNext, evaluateStudyRun, trainStudyRun, writeStudyReport } from './adapters.ts';
import { chooseStudyFinalists, chooseStudyFinalWeights, planStudyFinalRun, saveStudyModel, testStudyFinal } from './finalise.ts';
import { secondsUsed, type StudyEnv } from './env.ts';
import { planStudyRung } from './rung.ts';
import { recordingProgress } from './live.ts';
import type { QueueTrainer } from '../queue/trainer.ts';

export interface StudyRunOptions {
  reportsDir: string;
  /** Resume the study at reportsDir/<config.name> instead of creating it. */
  resume: boolean;
  progress: ProgressSink;
  logLevel: string;
  /** Send the training runs to `tune worker`s through this Redis (src/queue/); null or absent: train in this process. */
  redis?: string | null;
  /**
   * The policy as an object (runStudy of 'flowtune/study'), already checked (policyObject in
   * src/policy-loader.ts), instead of loading `config.policy`; the study's `config.policyObject`
   * says which a study was started with, and a resume must be given the same.
   */
  policy?: LoadedPolicy;
  /** Aborting it stops the study as SIGINT does: resumable (status "stopped", exit code 130). */
  signal?: AbortSignal;
}

export interface StudyOutcome {
  study: StudyRecord;
  dir: string;
  /** 0 finished, 3 stopped by budget with a result, 130 interrupted (resumable); 2 or 1 failed (`error`). */
  exitCode: number;
  /**
   * Why the study failed (status "failed", its finished runs kept): a UserError (exit code 2; e.g.
   * the policy's decide() threw) or a bug (exit code 1; an Error whose `logFile` holds the stack).
   */
  error?: Error;
}

/** The machine with the study's adapters as its actors. */
export function studyMachine(env: StudyEnv) {
  /** An adapter as an actor; the error it throws is kept whole (the machine keeps only its message). */
  const actor = <I, O>(adapter: (env: StudyEnv, input: I) => Promise<O>) =>
    fromPromise<O, I>(async ({ input }) => {
      try {
        return await adapter(env, input);
      } catch (error) {
        env.failure ??= error;
        throw error;
      }
    });
  return tuneMachine.provide({
    actors: {
      trainRun: actor<PendingRun, { runId: number }>(trainStudyRun),
      evaluateRun: actor(evaluateStudyRun),
      decideNext: actor(decideStudyNext),
      planRung: actor(planStudyRung),
      chooseFinalists: actor(chooseStudyFinalists),
      planFinalRun: actor(planStudyFinalRun),
      chooseFinalWeights: actor(chooseStudyFinalWeights),
      testFinal: actor(testStudyFinal),
      saveModel: actor(saveStudyModel),
    },
  });
}

/** The machine's input for a study: where it starts, and which of the flowchart's ladders it walks. */
export function studyInput(config: StudyConfig, network: NetworkSpec): TuneInput {
  return {
    standing: { network, options: config.baseOptions },
    budget: { searchSecondsLeft: null, runsLeft: config.maxRuns },
    // The search may climb to the full-data rung when it ran on a subset and the final run trains on all the data.
    canClimb: config.searchSubset !== null && config.finalFullData,
    // The learning rate is searched in powers of ten before anything else (the notes' ladder).
    rateLadder: true,
  };
}

/** The record a new study starts with (also what tests build a study store from). */
export function newStudyRecord(config: StudyConfig, dataset: Dataset, split: { train: DataView; validation: DataView }, policy: Policy, policySource: string): StudyRecord {
  return startingStudyRecord({
    config,
    dataset: {
      name: dataset.name,
      trainCount: split.train.indices.length,
      validationCount: split.validation.indices.length,
      testCount: dataset.testCount,
      classNames: dataset.classNames,
      summary: summariseDataset(dataset, split, config.seed),
    },
    policy: { name: policy.name, source: policySource },
  });
}

/** How a stopped study is continued, for its status reason and messages. */
function resumeHint(config: StudyConfig, studyDir?: string): string {
  return config.policyObject
    ? `runStudy({ resume: '${config.name}', policy }) with the same policy object`
    : `${resumeCommand(config.name, { studyDir })} (or runStudy({ resume: '${config.name}' }))`;
}

/**
 * The study's policy: the object it was given (runStudy of 'flowtune/study'), or the built-in or
 * file its configuration names, loaded. A resume is given what the study was started with.
 */
async function studyPolicy(config: StudyConfig, given: LoadedPolicy | undefined): Promise<LoadedPolicy> {
  const name = config.name;
  if (!config.policyObject) {
    if (given) {
      throw new UserError(`Study "${name}" was started with the policy ${config.policy}, not a policy object: resume it without one, and that policy is loaded again.`);
    }
    return loadPolicy(config.policy, process.cwd());
  }
  if (!given) {
    throw new UserError(
      `Study "${name}" was started by runStudy ('flowtune/study') with the policy object '${config.policy}', which only a script can pass: resume it with ${resumeHint(config)}.`,
    );
  }
  if (given.policy.name !== config.policy) {
    throw new UserError(`Study "${name}" was started with the policy object '${config.policy}'; the policy passed is '${given.policy.name}'. Resume it with the same policy, or start a new study.`);
  }
  return given;
}

/** The study this process is running, for the interrupt handler. */
let activeEnv: StudyEnv | null = null;

/**
 * SIGINT/SIGTERM: stop the run in flight at its next iteration, mark the study stopped
 * (resumable) and rewrite its report. Every finished run is already on disk; the snapshot on disk
 * is the one before the interrupted step, which `tune --resume` takes up again. Returns the
 * study's name and the command that continues it, or null when no study is running.
 */
export async function interruptStudy(): Promise<{ name: string; resume: string } | null> {
  const env = activeEnv;
  if (!env) return null;
  const resume = resumeCommand(env.config.name, { studyDir: env.dir });
  await stopStudy(env, 'interrupted', `interrupted; continue with ${resume}`);
  return { name: env.config.name, resume };
}

/** Stops the study resumable: the run in flight ends at its next iteration, nothing more is persisted but the status. */
async function stopStudy(env: StudyEnv, why: string, statusReason: string): Promise<void> {
  env.abort.abort(new Error(why));
  await env.store.update((s) => {
    s.status = 'stopped';
    s.statusReason = statusReason;
    s.budget.secondsUsed = secondsUsed(env);
  });
  env.log.info({ why }, 'study stopped');
  await writeStudyReport(env);
}

/**
 * Runs (or resumes) a study to its end. A mistake in its inputs throws UserError before it runs; a
 * study that ran and failed is an outcome with its `error`; the study on disk is kept either way.
 * The study's lock, taken when its store is opened, is released when this returns or throws.
 */
export async function runStudy(configOrName: StudyConfig | string, opts: StudyRunOptions): Promise<StudyOutcome> {
  const opened: Opened = { store: null, queue: null, unlisten: null };
  try {
    return await runLockedStudy(configOrName, opts, opened);
  } finally {
    opened.unlisten?.();
    await opened.queue?.close().catch(() => undefined);
    await opened.store?.close().catch(() => undefined);
  }
}

/** What a study holds open while it runs, released by runStudy however it ends: the store (and its lock), the queue, the caller's signal. */
interface Opened {
  store: StudyStore | null;
  queue?: QueueTrainer | null;
  unlisten: (() => void) | null;
}

async function runLockedStudy(configOrName: StudyConfig | string, opts: StudyRunOptions, opened: Opened): Promise<StudyOutcome> {
  const name = typeof configOrName === 'string' ? configOrName : configOrName.name;
  const dir = path.resolve(opts.reportsDir, name);
  let store: StudyStore | null = null;
  let config: StudyConfig;
  if (opts.resume) {
    store = opened.store = await StudyStore.open(dir);
    config = store.study.config;
    if (store.study.status === 'finished') {
      throw new UserError(`Study "${name}" is already finished (see ${path.join(dir, 'report.md')}). Start a new one with another --name.`);
    }
  } else {
    config = configOrName as StudyConfig;
  }

  // Inputs are checked before any training: the policy loads, the data (all four files) is sound, a backend loads.
  const { policy, source: policySource } = await studyPolicy(config, opts.policy);
  // The queue's modules (bullmq) load only for a study that uses one.
  const queueing = opts.redis
    ? { ...(await import('../queue/trainer.ts')), ...(await import('../queue/protocol.ts')), ...(await import('../queue/redis.ts')), ...(await import('../version.ts')) }
    : null;
  if (opts.redis) await queueing!.checkReachable(opts.redis, `the training jobs of study "${name}"`);
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

  if (!store) store = opened.store = await StudyStore.create(dir, newStudyRecord(config, dataset, full, policy, policySource));
  await store.update((s) => {
    s.status = 'running';
    s.statusReason = null;
    s.backend = backend.detail;
    s.inFlight = null; // a run interrupted earlier is trained again, and stored as in flight when it starts
  });
  const log = pino({ level: opts.logLevel, base: { study: name } }, pino.destination({ dest: path.join(dir, 'log.ndjson'), append: true, sync: true }));
  log.info({ config, backend: backend.detail, resume: opts.resume, policy: policySource }, opts.resume ? 'study resumed' : 'study started');
  if (store.staleLock) {
    log.warn({ staleLock: store.staleLock }, 'stale lock taken over');
    opts.progress.message(`note: took over the lock of study "${name}" left by a stopped process (${store.staleLock.reason}).`);
  }

  const env: StudyEnv = {
    config,
    dir,
    store,
    log,
    progress: recordingProgress(opts.progress, store),
    policy,
    policySource,
    thresholds: { ...DEFAULT_THRESHOLDS, ...(policy.thresholds ?? {}) },
    dataset,
    search,
    full,
    sessionStart: Date.now(),
    secondsBefore: store.study.budget.secondsUsed,
    abort: new AbortController(),
    trainer: { trainRun, evaluate: evaluateModel, probeSpeed },
    clock: Date.now,
    speeds: new Map(),
    besideRuns: new Map(),
    aheadRuns: new Map(),
    failure: null,
  };
  activeEnv = env;
  let queueLost: Error | null = null;
  let stopping: Promise<void> | null = null;
  // The caller's signal stops the study as SIGINT does, resumable.
  const signalled = () => {
    stopping ??= stopStudy(env, 'aborted by the caller\'s signal', `stopped by the caller's signal; continue with ${resumeHint(config, dir)}`);
  };
  if (opts.signal?.aborted) signalled();
  else opts.signal?.addEventListener('abort', signalled, { once: true });
  opened.unlisten = () => opts.signal?.removeEventListener('abort', signalled);
  if (opts.redis && queueing) {
    const redis = opts.redis;
    const { openQueueTrainer, studyKeyOf, redactUrl, VERSION } = queueing;
    const resume = `continue with ${resumeCommand(name, { studyDir: dir, redis: true })} when Redis is back (or without --redis, to train here)`;
    const queue = (opened.queue = await openQueueTrainer({
      url: redis,
      study: name,
      studyKey: studyKeyOf(dir, store.study.createdAt),
      dataset,
      source: {
        data: config.data === 'fashion' ? 'fashion' : path.resolve(config.data),
        imageSize: config.imageSize ?? null,
        testData: config.testData ? path.resolve(config.testData) : null,
        skipBad: config.skipBad ?? false,
        maxMemoryBytes: config.maxMemoryBytes,
      },
      version: VERSION,
      local: { evaluate: env.trainer.evaluate, evaluationSpeed: probeEvaluationSpeed },
      onLost: (error) => {
        queueLost = error;
        log.error({ err: error }, 'Redis lost');
        stopping ??= stopStudy(env, error.message, `${error.message}: stopped; ${resume}`);
      },
      say: (line) => opts.progress.message(`queue: ${line}`),
    }));
    env.trainer = queue;
    log.info({ redis: redactUrl(redis) }, 'training runs go to the queue');
  }
  opts.progress.message(
    `${opts.resume ? 'resuming' : 'study'} "${name}": ${dataset.name}, search on ${search.train.indices.length} training / ${search.validation.indices.length} validation images, ` +
      `verdicts on ${full.validation.indices.length}, backend ${backend.detail}, policy ${policy.name}` +
      (config.budgetSeconds !== null ? `, budget ${formatDuration(config.budgetSeconds)}` : '') +
      (config.maxRuns !== null ? `, at most ${config.maxRuns} search runs` : ''),
  );

  const machine = studyMachine(env);
  const snapshot = opts.resume && store.study.snapshot ? (store.study.snapshot as Snapshot<unknown>) : undefined;
  // With a snapshot the input is ignored (the context is restored), but the types ask for it.
  const { height, width, channels } = dataset.train;
  const network = fitNetworkToData(config.baseNetwork, { height, width, channels, classes: dataset.classNames.length });
  const input = studyInput(config, network);
  const actor = snapshot ? createActor(machine, { snapshot: snapshot as never, input }) : createActor(machine, { input });

  const finished = new Promise<void>((resolve) => {
    actor.subscribe({
      next: (state) => {
        // After an interrupt nothing more is persisted: the stored snapshot is the step to take up again.
        if (!env.abort.signal.aborted) void store!.saveSnapshot(actor.getPersistedSnapshot());
        if (state.status === 'done') resolve();
      },
      error: (error) => {
        env.failure ??= error;
        resolve();
      },
    });
  });
  await clearAhead(env); // a resumed study's leftovers
  actor.start();
  await finished;
  await clearAhead(env); // runs trained ahead that the machine never asked for
  opened.unlisten?.(); // from here the study ends as it ended
  await store.flush();
  activeEnv = null;

  const state = actor.getSnapshot();
  const lost = queueLost as Error | null;
  if (lost) {
    await stopping;
    throw new UserError(`${lost.message}: study "${name}" stopped; every finished run is saved in ${dir}. Continue with ${resumeCommand(name, { studyDir: dir, redis: queueing!.redactUrl(opts.redis!) })} when Redis answers again.`);
  }
  if (env.abort.signal.aborted) {
    await stopping; // the status and the report are written (SIGINT's stop is awaited by its handler)
    return { study: store.study as StudyRecord, dir, exitCode: 130 };
  }
  const failed = state.value === 'failed' || state.status === 'error';
  const error = state.context.error ?? (state.status === 'error' ? { message: String(state.error), user: false } : null);
  await store.update((s) => {
    s.status = failed ? 'failed' : 'finished';
    s.statusReason = failed ? error?.message ?? null : s.budget.exhausted ? 'search stopped by the budget; the best configuration so far was finalised' : null;
  });
  log.info({ status: store.study.status, reason: store.study.statusReason }, 'study ended');
  await writeStudyReport(env);
  const study = store.study as StudyRecord;
  if (failed) {
    const kept = study.runs.length > 0 ? ` ${study.runs.length} finished run(s) are kept in ${dir}.` : '';
    if (error?.user) return { study, dir, exitCode: 2, error: new UserError(`${error.message}${kept}`) };
    const logFile = path.join(dir, 'log.ndjson');
    log.error({ err: env.failure ?? state.error, error }, 'study failed (a bug)');
    return { study, dir, exitCode: 1, error: Object.assign(new Error(`study "${name}" failed: ${error?.message ?? 'unknown error'}.${kept}`), { logFile }) };
  }
  const final = study.final;
  if (final) {
    opts.progress.result(
      `test accuracy ${(final.testAccuracy * 100).toFixed(2)}% (${final.testCount} sealed test images, run ${final.runId}) — report: ${path.join(dir, 'report.md')}`,
    );
  }
  return { study, dir, exitCode: study.budget.exhausted ? 3 : 0 };
}
