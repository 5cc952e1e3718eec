/**
 * `tune worker --redis URL`: takes training jobs from the queue and trains them with the same
 * training loop a local study uses (trainRun), then returns the run's record and checkpoint; a
 * speed probe (job 'probe') is measured as a local study measures its training part (probeTrainingSpeed), on this machine.
 *
 * - The data set is this machine's own copy, opened as the job says (Fashion-MNIST from its usual
 *   places; a user's folder or CSV file at the same absolute path) and checked against the
 *   coordinator's content hash before anything trains.
 * - A job of another flowtune version or protocol, or for data this machine does not have (or has
 *   other bytes of), is refused: the job goes back to the queue for another worker, the refusal is
 *   written to the job's log (the coordinator prints it), and this worker stops with exit 2.
 * - SIGTERM/SIGINT: the run in flight stops at its next iteration and its job goes back to the
 *   queue (another worker starts it again); then the worker exits 0.
 * - A worker killed outright (SIGKILL, a lost machine) stops renewing its job's lock; after
 *   `lockSeconds` another worker's stalled-job check puts the job back and it is trained again.
 *   The lock is long (default 300 s) because a long tfjs step blocks Node's event loop, and with
 *   it the lock's renewal: a stall must not be declared while a step computes.
 */
import { hostname, tmpdir } from 'node:os';
import { mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import { Worker, WaitingError, type Job } from 'bullmq';
import { openDataset, type Dataset } from '../data/dataset.ts';
import { datasetFingerprint } from '../data/fingerprint.ts';
import { isUserError } from '../errors.ts';
import { initBackend, type BackendName } from '../training/backend.ts';
import { trainRun } from '../training/trainer.ts';
import { probeTrainingSpeed } from '../training/speed.ts';
import type { DataView, ImageSet } from '../data/image-set.ts';
import type { RunResult } from '../store/records.ts';
import {
  KEEP_FINISHED_SECONDS,
  PROTOCOL,
  QUEUE_NAME,
  checkpointKey,
  decodeIndices,
  decodePayload,
  encodePayload,
  packFolder,
  redactUrl,
  unpackFolder,
  type DataSource,
  type ProbeJob,
  type ProbeJobResult,
  type TrainJob,
  type TrainJobResult,
  type ViewSpec,
} from './protocol.ts';
import { checkReachable, connect } from './redis.ts';
import { counted } from '../util/format.ts';

export interface WorkerOptions {
  url: string;
  /** Jobs trained at the same time by this process (default 1). */
  concurrency: number;
  backend: BackendName | null;
  /** BullMQ lock duration: how long a job may go without a heartbeat before it counts as stalled. */
  lockSeconds: number;
  /** flowtune's version, compared with each job's. */
  version: string;
  /** One line per event (job taken, finished, refused). */
  say: (line: string) => void;
}

export const DEFAULT_LOCK_SECONDS = 300;

/** What made this worker stop: null while it runs. */
interface Stop {
  code: number;
  why: string;
}

export async function runWorker(options: WorkerOptions): Promise<number> {
  await checkReachable(options.url, 'tune worker');
  const backend = await initBackend(options.backend);
  const me = `${hostname()}:${process.pid}`;
  const datasets = new Map<string, Promise<Dataset>>();
  const running = new Map<string, AbortController>();
  let stop: Stop | null = null;
  let stopped!: () => void;
  const done = new Promise<void>((resolve) => (stopped = resolve));
  const connection = connect(options.url);
  connection.on('error', () => undefined); // ioredis reconnects; BullMQ reports what matters
  const store = connect(options.url);
  store.on('error', () => undefined);

  const halt = (why: Stop) => {
    stop ??= why;
    for (const controller of running.values()) controller.abort(new Error(why.why));
    stopped();
  };

  /** Puts the job back in the queue for another worker: this one stops, with `why`. */
  const refuse = async (job: Job, token: string | undefined, why: string): Promise<never> => {
    await job.log(`refused by worker ${me}: ${why}`).catch(() => undefined);
    options.say(`refused job ${job.id}: ${why}`);
    halt({ code: 2, why });
    return giveBack(job, token);
  };

  const openData = (source: DataSource): Promise<Dataset> => {
    const key = JSON.stringify(source);
    let opened = datasets.get(key);
    if (!opened) {
      opened = openDataset({ data: source.data, imageSize: source.imageSize, testData: source.testData, skipBad: source.skipBad, maxMemoryBytes: source.maxMemoryBytes });
      datasets.set(key, opened);
      opened.catch(() => datasets.delete(key));
    }
    return opened;
  };

  let returned = 0;
  const giveBack = async (job: Job, token: string | undefined): Promise<never> => {
    returned++;
    await job.moveToWait(token);
    throw new WaitingError();
  };

  const processor = async (job: Job<{ payload: string }>, token?: string): Promise<string> => {
    if (stop) return giveBack(job, token); // stopping: taken between the signal and the close
    const request = decodePayload<TrainJob | ProbeJob>(job.data.payload);
    if (request.protocol !== PROTOCOL || request.version !== options.version) {
      return refuse(job, token, `the job was sent by flowtune ${request.version} (protocol ${request.protocol}), this worker runs flowtune ${options.version} (protocol ${PROTOCOL}): run the same flowtune version on the coordinator and every worker`);
    }
    let dataset: Dataset;
    try {
      dataset = await openData(request.data);
    } catch (error) {
      if (!isUserError(error)) throw error;
      return refuse(job, token, `cannot open the study's data on this machine: ${(error as Error).message} A user's data folder or CSV file must be at the same path on every worker.`);
    }
    const fingerprint = datasetFingerprint(dataset);
    if (fingerprint !== request.fingerprint) {
      return refuse(job, token, `this machine's copy of ${request.data.data} has content hash ${fingerprint}, the coordinator's ${request.fingerprint}: give every machine the same data files (and the same --max-memory storage)`);
    }
    const view = (spec: ViewSpec): DataView => {
      const set: ImageSet | null = spec.set === 'train' ? dataset.train : dataset.validation;
      if (!set) throw new Error(`job ${job.id} names a validation set the data set does not have`);
      const indices = decodeIndices(spec.indices);
      if (indices.some((i) => i >= set.count)) throw new Error(`job ${job.id}: an index beyond the ${set.count} images of the ${spec.set} set`);
      return { set, indices };
    };
    if (job.name === 'probe') {
      const probe = request as ProbeJob;
      const imagesPerSecond = await probeTrainingSpeed(probe.network, probe.options, view(probe.train), probe.images);
      options.say(`probed job ${job.id} (study ${probe.study}): ${Math.round(imagesPerSecond)} images/s`);
      return encodePayload({ imagesPerSecond, worker: me } satisfies ProbeJobResult);
    }
    const run = request as TrainJob;
    const scratch = await mkdtemp(path.join(tmpdir(), 'flowtune-worker-'));
    const controller = new AbortController();
    running.set(String(job.id), controller);
    options.say(`training job ${job.id} (study ${run.study}, run ${run.runId}, ${run.options.maxEpochs} epochs)`);
    try {
      let continueFrom: { checkpointDir: string; result: RunResult } | null = null;
      if (run.continueFrom) {
        const files = await store.get(run.continueFrom.key);
        if (files === null) throw new Error(`job ${job.id}: the warm-start checkpoint ${run.continueFrom.key} is gone from Redis`);
        const dir = path.join(scratch, 'parent');
        await unpackFolder(dir, JSON.parse(files) as Record<string, string>);
        continueFrom = { checkpointDir: dir, result: { ...run.continueFrom.result, checkpointDir: dir } };
      }
      let lastProgress = 0;
      const checkpointDir = path.join(scratch, 'run');
      const result = await trainRun({
        network: run.network,
        options: run.options,
        train: view(run.train),
        validation: view(run.validation),
        checkpointDir,
        continueFrom,
        deadline: run.deadline,
        deadlineMidEpoch: run.deadlineMidEpoch,
        signal: controller.signal,
        onProgress: (progress) => {
          const now = Date.now();
          if (now - lastProgress < 1000) return;
          lastProgress = now;
          void job.updateProgress({ ...progress }).catch(() => undefined);
        },
      });
      const key = checkpointKey(String(job.id), 'result');
      await store.set(key, JSON.stringify(await packFolder(checkpointDir)), 'EX', KEEP_FINISHED_SECONDS);
      options.say(`finished job ${job.id}: ${result.epochsCompleted} epochs in ${result.seconds.toFixed(1)} s`);
      return encodePayload({ result: { ...result, backend: `${result.backend} on ${me}` }, key, worker: me } satisfies TrainJobResult);
    } catch (error) {
      // Stopping: the job goes back to the queue, to be trained again from its start. (`return
      // await`: the finally below must not run while giveBack's rejection has no handler yet — the
      // wasm backend turns an unhandled rejection into a crash.)
      if (controller.signal.aborted) return await giveBack(job, token);
      throw error;
    } finally {
      running.delete(String(job.id));
      await rm(scratch, { recursive: true, force: true });
    }
  };

  const worker = new Worker(QUEUE_NAME, processor, {
    connection,
    concurrency: options.concurrency,
    lockDuration: options.lockSeconds * 1000,
    stalledInterval: Math.min(30_000, (options.lockSeconds * 1000) / 2),
    maxStalledCount: 2,
    removeOnComplete: { age: KEEP_FINISHED_SECONDS },
    removeOnFail: { age: KEEP_FINISHED_SECONDS },
  });
  worker.on('error', (error) => options.say(`queue error: ${error.message}`));
  const onSignal = () => halt({ code: 0, why: 'stopped by a signal' });
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  await worker.waitUntilReady();
  options.say(`waiting for jobs on ${redactUrl(options.url)} (queue ${QUEUE_NAME}, backend ${backend.detail}, concurrency ${options.concurrency}, lock ${options.lockSeconds} s)`);
  await done;
  await worker.close();
  process.removeListener('SIGTERM', onSignal);
  process.removeListener('SIGINT', onSignal);
  store.disconnect();
  connection.disconnect();
  const why = stop as Stop | null;
  options.say(why?.code ? `stopped: ${why.why}` : `stopped${returned > 0 ? ` (${counted(returned, 'job')} in flight went back to the queue)` : ''}`);
  return why?.code ?? 0;
}
