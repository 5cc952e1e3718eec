/**
 * One training run: a network spec + MATLAB-style training options → a RunResult and a
 * checkpoint folder. A hand-written loop (tfjs `fit` can neither clip gradients MATLAB's way nor
 * apply MATLAB's L2), the only training loop in flowtune: `trainRun` and the bench's
 * `benchEpochs` both run `runLoop`.
 *
 * What each iteration does, and where it follows MATLAB (`trainNetwork` + `trainingOptions`):
 *
 * - Loss = softmax cross-entropy (mean over the mini-batch, computed from logits with logSoftmax)
 *   + `l2Regularization / 2 · Σ w²` over the WEIGHTS of convolutions and fully connected layers.
 *   This is MATLAB's regularised loss E_R(θ) = E(θ) + λ·Ω(w), Ω(w) = ½·wᵀw, whose gradient adds
 *   λ·w. Biases are not decayed (MATLAB's BiasL2Factor defaults to 0). Batch-norm scale/offset
 *   are not decayed either, as types.ts specifies; note that MATLAB's batchNormalizationLayer has
 *   ScaleL2Factor/OffsetL2Factor = 1 by default, so MATLAB does decay them (a small difference).
 *   The recorded iteration loss includes the L2 term (it is what is minimised); validation loss
 *   is the plain cross-entropy (what the network predicts), as in `evaluate.ts`.
 * - Gradients: `tf.variableGrads` over the model's trainable variables only, always in the same
 *   order (tfjs optimizers keep their slots by position). The first convolution (on the image)
 *   has a custom gradient without the image gradient that tfjs's fused conv2d always computes.
 * - One sync per iteration reads [loss, correct, Σ(g·0)]; the last is NaN iff some gradient
 *   element is NaN or ±Infinity (unlike a squared norm, it cannot overflow for finite
 *   gradients). A non-finite loss or gradient stops the run BEFORE the update: stopReason
 *   `nonFinite` with that iteration, and that iteration is not recorded in the history.
 * - Clipping (gradientThreshold < Infinity), MATLAB's three methods: 'l2norm' scales each
 *   parameter tensor's gradient to L2 norm ≤ threshold; 'global-l2norm' scales all gradients by one
 *   factor so their global norm ≤ threshold; 'absolute-value' clips elements to ±threshold. Norms
 *   are computed overflow-safely (max·‖g/max‖).
 * - Solvers: sgdm = tf.train.momentum (tfjs: v ← m·v + g, w ← w − lr·v; MATLAB: v ← m·v − lr·g,
 *   w ← w + v: identical while the rate is constant, they differ only in how momentum carries
 *   across a piecewise drop); adam (β1 0.9, β2 0.999, ε 1e-8: MATLAB's defaults); rmsprop (decay
 *   0.9, ε 1e-8). The rate of each epoch comes from `learnRateAt` (on the run's clock with
 *   learnRateDropAtTime and a deadline: `clockShare`).
 * - Mini-batches: the training images are uploaded once per run into one tensor; each batch is a
 *   `tf.gather` with a slice of the epoch's order tensor. The last partial batch of an epoch is
 *   DISCARDED, as MATLAB does; a batch size larger than the training set is reduced to its size.
 * - Shuffle 'once' (before the first epoch), 'every-epoch', 'never', with a seeded PRNG whose state
 *   is checkpointed. Weights are initialised from the seed by model.ts (Glorot uniform, MATLAB's
 *   default for convolution and fully connected weights; zero biases; batch-norm scale 1,
 *   offset 0), drawn in JavaScript so every backend starts from the same numbers. Dropout masks
 *   are seeded by (seed, iteration, layer): the layer's own `seed` would repeat one mask forever.
 * - Data augmentation (randXReflection, randXTranslation, randYTranslation: MATLAB's
 *   imageDataAugmenter) of each training batch after it is gathered, seeded per iteration
 *   (src/data/augment.ts); validation, evaluation and test images are never augmented.
 * - Batch normalisation: tfjs layer with momentum 0.9 and ε 1e-5 (MATLAB's MeanDecay 0.1 /
 *   VarianceDecay 0.1 and Epsilon 1e-5; the tfjs default momentum 0.99 would leave the inference
 *   statistics far behind in short runs). MATLAB's final "population" statistics pass is not done.
 * - Validation every `validationFrequency` iterations and at the end of every epoch (once when both
 *   fall on one iteration), in batches of 1000 with training=false and no tape. MATLAB's
 *   ValidationPatience: stop when this many validations in a row were ≥ the best loss so far.
 * - A `deadline` is checked at epoch boundaries (at least one epoch runs), or before every
 *   iteration with `deadlineMidEpoch` (the partial epoch is validated and recorded); `signal` is checked
 *   before every iteration and aborts by throwing its reason.
 *
 * Run `initBackend()` (backend.ts) before training; this module uses whichever backend is active.
 */
import { deriveSeed, shuffleInPlace } from '../util/random.ts';
import { mean } from '../util/stats.ts';
import { augmentBatch, augmentDraws } from '../data/augment.ts';
import { performance } from 'node:perf_hooks';
import * as tf from '@tensorflow/tfjs';
import type { EpochRecord, IterationRecord, TrainingOptions, ValidationRecord } from '../types.ts';
import type { RunResult } from '../store/records.ts';
import { forwardTraining } from './model.ts';
import { type UploadedImages, gatherImages, uploadImages } from './upload.ts';
import { evaluateUploaded } from './evaluate.ts';
import { clipGradients, setLearnRate } from './optimizer.ts';
import {
  type LoopConfig,
  type LoopState,
  checkLoopInputs,
  disposeLoop,
  loopResult,
  restoreLoop,
  setUpLoop,
  writeLoopCheckpoint,
} from './loop-state.ts';
import { augments, clockShare, learnRateAt, resolveOptions } from '../config/options.ts';

/**
 * The whole run, as named steps: check the inputs, set up (fresh, or restored from the checkpoint
 * being continued), upload the data, run epochs until a stop, write the checkpoint, report.
 */
export async function runLoop(config: LoopConfig): Promise<RunResult> {
  const started = performance.now();
  const options = resolveOptions(config.options as unknown as Record<string, unknown>);
  const shape = checkLoopInputs(config, options);
  const state = setUpLoop(config, options, shape);
  try {
    if (config.continueFrom) await restoreLoop(state, config.continueFrom.checkpointDir);
    state.trainData = uploadImages(config.train);
    state.valData = config.validation && config.validation.indices.length > 0 ? uploadImages(config.validation) : null;
    while (!state.stop && state.epoch < options.maxEpochs) {
      await runEpoch(state);
      if (!state.stop && state.epoch < options.maxEpochs && config.deadline !== undefined && Date.now() >= config.deadline) {
        state.stop = { kind: 'budget', epoch: state.epoch };
      }
    }
    state.stop ??= { kind: 'completed' };
    if (config.checkpointDir) await writeLoopCheckpoint(state, config.checkpointDir);
    return loopResult(state, (performance.now() - started) / 1000);
  } finally {
    disposeLoop(state);
  }
}

/**
 * One epoch: its learning rate, its shuffle, then its iterations, each followed by a validation
 * when due (every validationFrequency iterations and at the end of the epoch). Sets `s.stop` on a
 * non-finite step or when validation patience runs out; records the epoch when it completed (or
 * when a patience stop ended it).
 */
async function runEpoch(s: LoopState): Promise<void> {
  const { options, config } = s;
  const { batchSize, batchesPerEpoch, numClasses } = s.shape;
  const epoch = ++s.epoch;
  const epochStart = performance.now();
  let validationMs = 0;
  const rate = learnRateAt(options, epoch, clockShare({ startedAt: s.startedAt, deadline: config.deadline, now: Date.now() }));
  setLearnRate(s.optimizer, rate);
  if (options.shuffle === 'every-epoch' || (options.shuffle === 'once' && !s.shuffled)) {
    shuffleInPlace(s.order, () => s.prng.next());
    s.shuffled = true;
  }
  const orderTensor = tf.tensor1d(Int32Array.from(s.order.slice(0, batchesPerEpoch * batchSize)), 'int32');
  const losses: number[] = [];
  const accuracies: number[] = [];
  let endValidation: ValidationRecord | null = null;
  let lastYield = performance.now();
  try {
    for (let b = 0; b < batchesPerEpoch; b++) {
      // Let the event loop run (signals, timers) at least every 50 ms: a wasm training step
      // resolves its promises as microtasks, so without this SIGINT/SIGTERM wait for the run's end.
      if (performance.now() - lastYield > 50) {
        await new Promise((resolve) => setImmediate(resolve));
        lastYield = performance.now();
      }
      if (config.signal?.aborted) throw config.signal.reason ?? new Error('training aborted');
      if (config.deadlineMidEpoch && config.deadline !== undefined && losses.length > 0 && Date.now() >= config.deadline) {
        s.stop = { kind: 'budget', epoch };
        if (s.valData && s.history.validations.at(-1)?.iteration !== s.iteration) {
          const t0 = performance.now();
          endValidation = await validate(s, epoch);
          validationMs += performance.now() - t0;
        } else {
          endValidation = s.history.validations.at(-1) ?? null;
        }
        break;
      }
      const iteration = ++s.iteration;
      const step = await trainStep({
        model: s.model,
        optimizer: s.optimizer,
        variables: s.variables,
        decayed: s.decayed,
        data: s.trainData!,
        order: orderTensor,
        start: b * batchSize,
        batchSize,
        numClasses,
        options,
        dropoutSeed: `${options.seed}:${iteration}`,
      });
      if (step.nonFinite) {
        s.stop = { kind: 'nonFinite', iteration, epoch, what: step.nonFinite };
        s.iteration--; // not a completed iteration
        break;
      }
      s.imagesTrained += batchSize;
      losses.push(step.loss);
      accuracies.push(step.accuracy);
      s.history.iterations.push({ iteration, epoch, loss: step.loss, accuracy: step.accuracy, learnRate: rate } satisfies IterationRecord);
      const endOfEpoch = b === batchesPerEpoch - 1;
      if (s.valData && (iteration % options.validationFrequency === 0 || endOfEpoch)) {
        const t0 = performance.now();
        const record = await validate(s, epoch);
        validationMs += performance.now() - t0;
        if (endOfEpoch) endValidation = record;
        if (s.best.sinceBest >= options.validationPatience) {
          s.stop = { kind: 'validationPatience', epoch };
          endValidation = record;
        }
      }
      const trainSeconds = (performance.now() - epochStart - validationMs) / 1000;
      config.onProgress?.({
        epoch,
        maxEpochs: options.maxEpochs,
        iteration,
        loss: step.loss,
        valAccuracy: s.lastValAccuracy,
        imagesPerSecond: trainSeconds > 0 ? (losses.length * batchSize) / trainSeconds : 0,
      });
      if (s.stop) break;
    }
  } finally {
    orderTensor.dispose();
  }
  const complete = losses.length === batchesPerEpoch;
  if (complete) s.epochsCompleted = epoch;
  // A full epoch, or the partial epoch a patience or deadline stop ended (its last validation is its end).
  if (complete || s.stop?.kind === 'validationPatience' || s.stop?.kind === 'budget') {
    const seconds = (performance.now() - epochStart) / 1000;
    const trainSeconds = seconds - validationMs / 1000;
    s.history.epochs.push({
      epoch,
      learnRate: rate,
      loss: mean(losses),
      accuracy: mean(accuracies),
      valLoss: endValidation?.loss ?? null,
      valAccuracy: endValidation?.accuracy ?? null,
      seconds,
      imagesPerSecond: trainSeconds > 0 ? (losses.length * batchSize) / trainSeconds : 0,
    } satisfies EpochRecord);
  }
  s.lastEpochIterations = losses.length;
  // An epoch stopped before its first iteration did not happen.
  if (losses.length === 0 && !complete) s.epoch--;
}

/** Validation loss and accuracy now; updates the best so far (and its weight copy) and the patience count. */
async function validate(s: LoopState, atEpoch: number): Promise<ValidationRecord | null> {
  if (!s.valData) return null;
  const { loss, accuracy } = await evaluateUploaded(s.model, s.valData, s.shape.numClasses);
  const record: ValidationRecord = { iteration: s.iteration, epoch: atEpoch, loss, accuracy };
  s.history.validations.push(record);
  s.lastValAccuracy = accuracy;
  if (Number.isFinite(loss) && (s.best.valLoss === null || loss < s.best.valLoss)) {
    s.best = { valLoss: loss, epoch: atEpoch, iteration: s.iteration, sinceBest: 0 };
    if (s.keepBest) {
      if (s.bestCopy) tf.dispose(s.bestCopy);
      s.bestCopy = s.model.weights.map((w) => tf.clone(w.read()));
    }
  } else {
    s.best.sinceBest++;
  }
  return record;
}

interface StepResult {
  loss: number;
  accuracy: number;
  nonFinite: 'loss' | 'gradient' | null;
}

/** One iteration's inputs: the batch is `order[start, start + batchSize)` of the uploaded images. */
interface StepInput {
  model: tf.Sequential;
  optimizer: tf.Optimizer;
  variables: tf.Variable[];
  decayed: tf.LayerVariable[];
  data: UploadedImages;
  order: tf.Tensor1D;
  start: number;
  batchSize: number;
  numClasses: number;
  options: TrainingOptions;
  dropoutSeed: string;
}

/** One iteration: forward, loss, gradients, one sync, then (if all finite) clip and update. */
async function trainStep(input: StepInput): Promise<StepResult> {
  const { model, optimizer, variables, decayed, data, order, start, batchSize, numClasses, options, dropoutSeed } = input;
  const [gathered, labels, oneHot] = tf.tidy(() => {
    const idx = tf.slice(order, start, batchSize);
    const y = tf.gather(data.labels, idx);
    return [gatherImages(data, idx), y, tf.oneHot(y, numClasses).toFloat()];
  });
  const x = augments(options) ? augmentedImages(gathered, options, dropoutSeed) : gathered;
  const lambda = options.l2Regularization;
  let correct: tf.Tensor | null = null;
  let grads: tf.NamedTensorMap = {};
  let value: tf.Scalar | null = null;
  let stats: tf.Tensor | null = null;
  try {
    ({ value, grads } = tf.variableGrads(() => {
      const logits = forwardTraining(model, x, dropoutSeed);
      correct = tf.keep(tf.sum(tf.equal(tf.argMax(logits, 1), labels).toFloat()));
      const crossEntropy = tf.neg(tf.mean(tf.sum(tf.mul(oneHot, tf.logSoftmax(logits)), 1)));
      if (lambda === 0) return crossEntropy as tf.Scalar;
      const squares = tf.addN(decayed.map((w) => tf.sum(tf.square(w.read()))));
      return tf.add(crossEntropy, tf.mul(lambda / 2, squares)) as tf.Scalar;
    }, variables));
    const gradList = variables.map((v) => grads[v.name]);
    stats = tf.tidy(() => tf.stack([value!, correct!, tf.addN(gradList.map((g) => tf.sum(tf.mul(g, 0))))]));
    const [loss, correctCount, check] = await stats.data();
    const result: StepResult = { loss, accuracy: correctCount / batchSize, nonFinite: null };
    if (!Number.isFinite(loss)) result.nonFinite = 'loss';
    else if (!Number.isFinite(check)) result.nonFinite = 'gradient';
    else {
      const clipped = tf.tidy(() => clipGradients(gradList, options).map((g) => (g === undefined ? g : tf.clone(g))));
      try {
        optimizer.applyGradients(variables.map((v, i) => ({ name: v.name, tensor: clipped[i] })));
      } finally {
        tf.dispose(clipped);
      }
    }
    return result;
  } finally {
    tf.dispose([gathered, x, labels, oneHot]);
    if (correct) tf.dispose(correct);
    if (value) value.dispose();
    tf.dispose(Object.values(grads));
    if (stats) stats.dispose();
  }
}

/**
 * A training batch augmented as the options say (src/data/augment.ts: reflection and shifts drawn
 * per image from the run's seed and the iteration), as a new tensor. The pixels come back to
 * JavaScript for it: 128 images of 28×28 are 100k numbers, well under a millisecond either way.
 */
function augmentedImages(x: tf.Tensor4D, options: TrainingOptions, iterationSeed: string): tf.Tensor4D {
  const shape = x.shape as [number, number, number, number];
  const augmentation = { reflectX: options.randXReflection === true, translateX: options.randXTranslation ?? 0, translateY: options.randYTranslation ?? 0 };
  const draws = augmentDraws(shape[0], augmentation, deriveSeed(options.seed, `augment:${iterationSeed}`));
  return tf.tensor4d(augmentBatch(x.dataSync() as Float32Array, shape, draws), shape, 'float32');
}
