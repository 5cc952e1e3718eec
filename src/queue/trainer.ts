/**
 * The study's trainer when it has a queue (`tune --redis URL`): each training run is a BullMQ job
 * that a worker (`tune worker`) trains, and so is a candidate's speed probe (the budget prices a
 * run at the speed of the machines that train it); evaluations, and the evaluation part of a
 * probe, stay in this process (the coordinator holds the validation images every verdict compares on).
 *
 * - A run's job id is its study's key and its run folder: adding it again finds the same job, so a
 *   coordinator that was stopped and resumed adopts a job that finished (or is still running)
 *   instead of training it twice — when the job trained the same configuration; a job for another
 *   configuration (a final run re-planned from the time left) is replaced.
 * - Redis lost while a study waits: after LOST_AFTER_MS without an answer the study is told
 *   (`onLost`), and stops resumable.
 * - A worker that refuses a job (another version, other data) writes why in the job's log; the
 *   coordinator prints it while it waits for a worker that can take it.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { Queue, QueueEvents, type Job } from 'bullmq';
import type { Dataset } from '../data/dataset.ts';
import { datasetFingerprint } from '../data/fingerprint.ts';
import type { StudyTrainer } from '../study/env.ts';
import type { DataView } from '../data/image-set.ts';
import type { NetworkSpec } from '../types.ts';
import type { TrainRequest } from '../training/trainer.ts';
import type { RunResult, TrainProgress } from '../store/records.ts';
import {
  KEEP_FINISHED_SECONDS,
  PROTOCOL,
  QUEUE_NAME,
  checkpointKey,
  decodePayload,
  encodePayload,
  jobIdFor,
  packFolder,
  redactUrl,
  unpackFolder,
  viewSpec,
  type DataSource,
  type JobHeader,
  type ProbeJob,
  type ProbeJobResult,
  type TrainJob,
  type TrainJobResult,
} from './protocol.ts';
import { checkReachable, connect } from './redis.ts';

/** Redis silent this long while the study waits: the study stops (resumable). */
export const LOST_AFTER_MS = 20_000;
/** How often the coordinator checks that Redis answers, and reads refusals from a waiting job's log. */
const WATCH_EVERY_MS = 2_000;
/**
 * BullMQ priority of a run trained ahead (study/ahead.ts): after every job without one, so that a
 * guess never holds up a run a study asks for (several studies may share the workers).
 */
const AHEAD_PRIORITY = 10;
/** Attempts of a job that fails with an error (a worker's crash is a stall, retried apart from these). */
const ATTEMPTS = 2;

export interface QueueTrainerOptions {
  url: string;
  /** The study's name (for the workers' messages) and key (studyKeyOf: for job ids). */
  study: string;
  studyKey: string;
  dataset: Dataset;
  source: DataSource;
  version: string;
  /** Evaluation, and a probe's evaluation speed (training/speed.ts probeEvaluationSpeed), in this process. */
  local: Pick<StudyTrainer, 'evaluate'> & { evaluationSpeed(network: NetworkSpec, validation: DataView): Promise<number> };
  /** Redis stopped answering while the study waited for a job. */
  onLost: (error: Error) => void;
  /** A line for the user (a worker refused a job). */
  say: (line: string) => void;
}

export interface QueueTrainer extends StudyTrainer {
  close(): Promise<void>;
}

/**
 * What makes a job the same run or probe: all of it but its deadline (set from the clock), the
 * sender's version and its warm start's Redis key. Adoption compares it; a probe's id is its hash.
 */
function jobIdentity(job: TrainJob | ProbeJob): string {
  const warm = 'continueFrom' in job && job.continueFrom ? { continueFrom: { ...job.continueFrom, key: '' } } : {};
  return encodePayload({ ...job, deadline: undefined, deadlineMidEpoch: undefined, version: '', ...warm } as TrainJob);
}

/** Runs `act` (its failure ignored) when `signal` fires, or now if it has. */
function when(signal: AbortSignal | undefined, act: () => Promise<unknown>): void {
  const run = () => void act().catch(() => undefined);
  if (signal?.aborted) run();
  else signal?.addEventListener('abort', run, { once: true });
}

export async function openQueueTrainer(options: QueueTrainerOptions): Promise<QueueTrainer> {
  await checkReachable(options.url, `the study's training jobs`);
  const connection = connect(options.url);
  connection.on('error', () => undefined);
  const queue = new Queue(QUEUE_NAME, { connection });
  queue.on('error', () => undefined);
  const eventsConnection = connect(options.url);
  eventsConnection.on('error', () => undefined);
  const events = new QueueEvents(QUEUE_NAME, { connection: eventsConnection });
  events.on('error', () => undefined);
  await Promise.all([queue.waitUntilReady(), events.waitUntilReady()]);
  const fingerprint = datasetFingerprint(options.dataset);
  const sets = { train: options.dataset.train, validation: options.dataset.validation };
  let lost: Error | null = null;
  const waiting = new Set<(error: Error) => void>();

  // Redis answering: a PING every WATCH_EVERY_MS; silent for LOST_AFTER_MS → lost.
  let lastAnswer = Date.now();
  const watch = setInterval(() => {
    if (lost) return;
    connection
      .ping()
      .then(() => (lastAnswer = Date.now()))
      .catch(() => undefined);
    if (Date.now() - lastAnswer > LOST_AFTER_MS) {
      lost = new Error(`Redis at ${redactUrl(options.url)} has not answered for ${LOST_AFTER_MS / 1000} s`);
      for (const fail of waiting) fail(lost);
      options.onLost(lost);
    }
  }, WATCH_EVERY_MS);
  watch.unref();

  const header = (network: NetworkSpec, trainingOptions: TrainRequest['options'], train: DataView): JobHeader => ({
    protocol: PROTOCOL,
    version: options.version,
    study: options.study,
    data: options.source,
    fingerprint,
    network,
    options: trainingOptions,
    train: viewSpec(train, sets),
  });

  /** Adds the job under `id`, or adopts the one there when it is the same and has not failed. */
  async function add(name: 'train' | 'probe', job: TrainJob | ProbeJob, id: string, priority?: number): Promise<Job> {
    const existing = await queue.getJob(id);
    if (existing) {
      const state = await existing.getState();
      const same = existing.name === name && jobIdentity(decodePayload<TrainJob | ProbeJob>(existing.data.payload)) === jobIdentity(job);
      if (same && state !== 'failed') return existing; // adopted: finished, running or waiting
      await existing.remove().catch(() => undefined);
    }
    return queue.add(name, { payload: encodePayload(job) }, { jobId: id, attempts: ATTEMPTS, removeOnComplete: { age: KEEP_FINISHED_SECONDS }, removeOnFail: { age: KEEP_FINISHED_SECONDS }, ...(priority ? { priority } : {}) });
  }

  async function submit(request: TrainRequest, runId: number, id: string, priority?: number): Promise<Job> {
    const job: TrainJob = {
      ...header(request.network, request.options, request.train),
      validation: viewSpec(request.validation, sets),
      runId,
      continueFrom: null,
      deadline: request.deadline,
      deadlineMidEpoch: request.deadlineMidEpoch,
    };
    if (request.continueFrom) {
      const key = checkpointKey(id, 'warm');
      await connection.set(key, JSON.stringify(await packFolder(request.continueFrom.checkpointDir, ['validation.bin'])), 'EX', KEEP_FINISHED_SECONDS);
      job.continueFrom = { result: request.continueFrom.result, key };
    }
    return add('train', job, id, priority);
  }

  /** The finished job's return value, decoded. */
  async function answerOf<T extends TrainJobResult | ProbeJobResult>(id: string): Promise<T> {
    const done = await queue.getJob(id);
    const value = done?.returnvalue as string | undefined;
    if (typeof value !== 'string') throw new Error(`job ${id} finished without a result`);
    return decodePayload<T>(value);
  }

  /** Waits for the job to finish: its result, or its failure, or the study's interrupt, or Redis lost. */
  function finished(job: Job, request: Pick<TrainRequest, 'onProgress' | 'signal'>): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      const id = String(job.id);
      const seenLogs = { count: 0 };
      const onProgress = ({ jobId, data }: { jobId: string; data: unknown }) => {
        if (jobId === id && data && typeof data === 'object' && request.onProgress) request.onProgress(data as TrainProgress);
      };
      const logs = setInterval(() => {
        void queue
          .getJobLogs(id, seenLogs.count)
          .then(({ logs: lines, count }) => {
            seenLogs.count = count;
            for (const line of lines) options.say(`job ${id}: ${line}`);
          })
          .catch(() => undefined);
      }, WATCH_EVERY_MS);
      const fail = (error: Error) => {
        cleanup();
        reject(error);
      };
      const onAbort = () => fail(request.signal?.reason instanceof Error ? request.signal.reason : new Error('interrupted'));
      const cleanup = () => {
        clearInterval(logs);
        events.off('progress', onProgress);
        waiting.delete(fail);
        request.signal?.removeEventListener('abort', onAbort);
      };
      events.on('progress', onProgress);
      waiting.add(fail);
      request.signal?.addEventListener('abort', onAbort, { once: true });
      if (lost) return fail(lost);
      if (request.signal?.aborted) return onAbort();
      job.waitUntilFinished(events).then(
        () => {
          cleanup();
          resolve(id);
        },
        (error: Error) => fail(new Error(`${job.name === 'probe' ? 'speed probe' : 'training'} job ${id} failed on its worker: ${error.message}`)),
      );
    });
  }

  return {
    async trainRun(request: TrainRequest): Promise<RunResult> {
      if (lost) throw lost;
      // run-N: the run's identity in its study; ahead-HASH: a run trained ahead of the machine's asking (study/ahead.ts), 0 until a run adopts it.
      const folder = path.basename(request.checkpointDir);
      const runId = Number(/^run-(\d+)$/.exec(folder)?.[1] ?? 0);
      const id = jobIdFor(options.studyKey, folder);
      const ahead = folder.startsWith('ahead-');
      const job = await submit(request, runId, id, ahead ? AHEAD_PRIORITY : undefined);
      if (ahead) {
        // A run trained ahead that the study no longer needs leaves the queue, and one it now waits
        // for goes to the front (each unless a worker has it already).
        when(request.signal, () => job.remove());
        when(request.needed, () => job.changePriority({ priority: 0 }));
      }
      await finished(job, request);
      const answer = await answerOf<TrainJobResult>(id);
      const files = await connection.get(answer.key);
      if (files === null) throw new Error(`training job ${id}: its checkpoint ${answer.key} is gone from Redis`);
      await unpackFolder(request.checkpointDir, JSON.parse(files) as Record<string, string>);
      return { ...answer.result, checkpointDir: request.checkpointDir };
    },
    evaluate: (request) => options.local.evaluate(request),
    // On a worker: the speed of the machines that train the run. Its id is the configuration's,
    // so a resumed study adopts a probe that finished.
    async probeSpeed(network, trainingOptions, train, validation, images = 512) {
      if (lost) throw lost;
      const job: ProbeJob = { ...header(network, trainingOptions, train), images };
      const id = jobIdFor(options.studyKey, `probe-${createHash('sha256').update(jobIdentity(job)).digest('hex').slice(0, 16)}`);
      await finished(await add('probe', job, id), {});
      const answer = await answerOf<ProbeJobResult>(id);
      return { imagesPerSecond: answer.imagesPerSecond, evalImagesPerSecond: await options.local.evaluationSpeed(network, validation) };
    },
    /** The workers connected now: how many runs (the sides of a confirmation) may train at once. */
    async parallelRuns() {
      if (lost) return 1;
      return Math.max(1, await queue.getWorkersCount().catch(() => 1));
    },
    async close() {
      clearInterval(watch);
      // Closing waits for Redis; a lost Redis must not hold the study's exit.
      await Promise.race([Promise.allSettled([events.close(), queue.close()]), new Promise((resolve) => setTimeout(resolve, 2000).unref())]);
      eventsConnection.disconnect();
      connection.disconnect();
    },
  };
}
