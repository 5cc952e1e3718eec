/**
 * Speed measurements with the product's own parts: training throughput of the real loop
 * (`benchEpochs`, and `timedTraining` with `benchOptions` for `tune bench` and bench/), the agent's evaluation throughput
 * (`evaluationSpeed`), and a candidate's speed before its run (`probeSpeed`, for the search's budget).
 */
import { performance } from 'node:perf_hooks';
import type { EpochRecord, NetworkSpec, TrainingOptions } from '../types.ts';
import type { DataView } from '../data/image-set.ts';
import { runLoop } from './loop.ts';
import { buildModel } from './model.ts';
import { uploadImages } from './upload.ts';
import { EVAL_BATCH_SIZE, evaluateUploaded } from './evaluate.ts';
import { outputUnits } from '../config/network.ts';
import { resolveOptions } from '../config/options.ts';
import { imagesPerEpoch } from '../util/batching.ts';

export interface BenchResult {
  backend: string;
  /** Per epoch, as recorded by the loop (the first includes warm-up). */
  epochs: EpochRecord[];
  /** Training images per second over all epochs. */
  imagesPerSecond: number;
}

/**
 * For the bench: trains `epochs` epochs of `network` on `train` with the real loop (no
 * validation, no checkpoint) and reports throughput.
 */
export async function benchEpochs(network: NetworkSpec, options: TrainingOptions, train: DataView, epochs: number): Promise<BenchResult> {
  const result = await runLoop({
    network,
    options: { ...options, maxEpochs: epochs },
    train,
    validation: null,
    checkpointDir: null,
    continueFrom: null,
  });
  const imagesPerEpoch = result.imagesTrained / Math.max(1, result.history.epochs.length);
  const trainSeconds = result.history.epochs.reduce((a, e) => a + (e.imagesPerSecond > 0 ? imagesPerEpoch / e.imagesPerSecond : 0), 0);
  return { backend: result.backend, epochs: result.history.epochs, imagesPerSecond: trainSeconds > 0 ? result.imagesTrained / trainSeconds : 0 };
}

/**
 * Images per second of the agent's evaluation (evaluateUploaded: loss, accuracy, per-image losses
 * and predictions) over `view`, images already on the backend, after a warm-up batch. The weights
 * are the seeded initial ones: speed does not depend on their values.
 */
export async function evaluationSpeed(spec: NetworkSpec, view: DataView): Promise<number> {
  const model = buildModel(spec, 0);
  const data = uploadImages(view);
  const numClasses = outputUnits(spec);
  try {
    const warm = uploadImages({ set: view.set, indices: view.indices.subarray(0, Math.min(EVAL_BATCH_SIZE, view.indices.length)) });
    try {
      await evaluateUploaded(model, warm, numClasses, { predictions: true, losses: true });
    } finally {
      warm.images?.dispose();
      warm.labels.dispose();
    }
    const started = performance.now();
    await evaluateUploaded(model, data, numClasses, { predictions: true, losses: true });
    return data.count / ((performance.now() - started) / 1000);
  } finally {
    data.images?.dispose();
    data.labels.dispose();
    model.dispose();
  }
}

/**
 * A candidate's speed before its run: two epochs of the real loop on a few batches (the first
 * warms up), and an evaluation pass, so the search's budget sees what a network really costs on
 * this backend (flops alone misjudge small networks, which are not compute-bound).
 */
export async function probeSpeed(
  network: NetworkSpec,
  options: TrainingOptions,
  train: DataView,
  validation: DataView,
  images = 512,
): Promise<{ imagesPerSecond: number; evalImagesPerSecond: number }> {
  return { imagesPerSecond: await probeTrainingSpeed(network, options, train, images), evalImagesPerSecond: await probeEvaluationSpeed(network, validation) };
}

/**
 * probeSpeed's training part: training images per second over two epochs of `images` images (the
 * first warms up). A queue worker measures it on its own machine.
 */
export async function probeTrainingSpeed(network: NetworkSpec, options: TrainingOptions, train: DataView, images = 512): Promise<number> {
  const count = Math.min(train.indices.length, Math.max(options.miniBatchSize, images));
  const result = await benchEpochs(network, { ...options, shuffle: 'never' }, { set: train.set, indices: train.indices.subarray(0, count) }, 2);
  const last = result.epochs.at(-1);
  return last && last.imagesPerSecond > 0 ? last.imagesPerSecond : result.imagesPerSecond;
}

/**
 * probeSpeed's evaluation part: images per second evaluating a batch of the validation images
 * (NaN without any). A study that trains on queue workers measures it where it evaluates.
 */
export async function probeEvaluationSpeed(network: NetworkSpec, validation: DataView): Promise<number> {
  const evalView = { set: validation.set, indices: validation.indices.subarray(0, Math.min(EVAL_BATCH_SIZE, validation.indices.length)) };
  return evalView.indices.length > 0 ? evaluationSpeed(network, evalView) : NaN;
}

/** The bench's training options: MATLAB's defaults (sgdm, rate 0.01, momentum 0.9, L2 1e-4), reshuffled every epoch. */
export function benchOptions(miniBatchSize: number) {
  return resolveOptions({ solver: 'sgdm', initialLearnRate: 0.01, momentum: 0.9, miniBatchSize, shuffle: 'every-epoch' });
}

/**
 * For `tune bench`: a warm-up epoch, then `epochs` timed epochs of loop.ts's loop. Wall seconds per epoch come from
 * the loop's own epoch records; CPU seconds are the process's over the timed call, per epoch.
 */
export async function timedTraining(
  spec: NetworkSpec,
  train: DataView,
  options: { miniBatchSize: number; epochs: number },
): Promise<{ seconds: number[]; cpuSeconds: number[] }> {
  const trainingOptions = benchOptions(options.miniBatchSize);
  await benchEpochs(spec, trainingOptions, train, 1); // warm-up: JIT, kernel setup, memory
  const cpuStarted = process.cpuUsage();
  const result = await benchEpochs(spec, trainingOptions, train, options.epochs);
  const cpu = process.cpuUsage(cpuStarted);
  const images = imagesPerEpoch(train.indices.length, options.miniBatchSize);
  const seconds = result.epochs.map((e) => images / e.imagesPerSecond);
  const cpuPerEpoch = (cpu.user + cpu.system) / 1e6 / options.epochs;
  return { seconds, cpuSeconds: seconds.map(() => cpuPerEpoch) };
}

