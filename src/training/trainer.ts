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
 *   0.9, ε 1e-8). The rate of each epoch comes from `learnRateAt`.
 * - Mini-batches: the training images are uploaded once per run into one tensor; each batch is a
 *   `tf.gather` with a slice of the epoch's order tensor. The last partial batch of an epoch is
 *   DISCARDED, as MATLAB does; a batch size larger than the training set is reduced to its size.
 * - Shuffle 'once' (before the first epoch), 'every-epoch', 'never', with a seeded PRNG whose state
 *   is checkpointed. Weights are initialised from the seed by this module (Glorot uniform, MATLAB's
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
import { Mulberry32, deriveSeed, shuffleInPlace } from '../util/random.ts';
import { mean } from '../util/stats.ts';
import { iterationsPerEpoch } from '../util/batching.ts';
import { augmentBatch, augmentDraws } from '../data/augment.ts';
import { performance } from 'node:perf_hooks';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { UserError } from '../errors.ts';
import type {
  DataView,
  EpochRecord,
  IterationRecord,
  NetworkSpec,
  RunResult,
  StopReason,
  TrainingHistory,
  TrainingOptions,
  ValidationRecord,
} from '../types.ts';
import { activeBackend } from './backend.ts';
import { buildModel, forwardTraining, regularisedWeights } from './model.ts';
import { type UploadedImages, gatherImages, uploadImages } from './upload.ts';
import { EVAL_BATCH_SIZE, evaluateUploaded } from './evaluate.ts';
import { clipGradients, disposeOptimizer, makeOptimizer, setLearnRate } from './optimizer.ts';
import {
  type CheckpointState,
  LAST_DIR,
  readCheckpointState,
  readOptimizerState,
  readSavedWeights,
  saveModel,
  saveOptimizerState,
  writeCheckpointState,
} from './checkpoint.ts';
import { describeNetwork, outputUnits, paramCount, validateNetwork } from '../config/network.ts';
import { augments, learnRateAt, resolveOptions } from '../config/options.ts';

import type { TrainProgress } from '../types.ts';
export type { TrainProgress };

export interface TrainRequest {
  network: NetworkSpec;
  /** Resolved options (resolveOptions is applied again: nulls read as defaults). */
  options: TrainingOptions;
  train: DataView;
  /** May be empty (no validation: valLoss null, bestEpoch null). */
  validation: DataView;
  /** Where to write the checkpoint (created if missing). */
  checkpointDir: string;
  /**
   * Continue a finished run for more epochs: `options.maxEpochs` is the new TOTAL. Weights,
   * optimizer state, counters and the shuffle PRNG come from its checkpoint; the returned history
   * starts with `result.history`. Same network and training data required; continuing a run that
   * stopped mid-epoch (patience, non-finite) starts with the next epoch.
   */
  continueFrom?: { checkpointDir: string; result: RunResult } | null;
  /** Wall-clock deadline (ms since the epoch), checked at epoch boundaries → stopReason 'budget'. */
  deadline?: number;
  /**
   * Check the deadline before every iteration too (a final run that fills its budget): the run
   * stops mid-epoch, validates, and records the partial epoch (stopReason 'budget'). Default:
   * epoch boundaries only.
   */
  deadlineMidEpoch?: boolean;
  /** Called after every iteration; keep it cheap. */
  onProgress?: (progress: TrainProgress) => void;
  signal?: AbortSignal;
}

// ───────────────────────────── the loop ─────────────────────────────

interface LoopConfig {
  network: NetworkSpec;
  options: TrainingOptions;
  train: DataView;
  validation: DataView | null;
  checkpointDir: string | null;
  continueFrom: { checkpointDir: string; result: RunResult } | null;
  deadline?: number;
  deadlineMidEpoch?: boolean;
  onProgress?: (progress: TrainProgress) => void;
  signal?: AbortSignal;
}

function backendName(): string {
  const name = tf.getBackend();
  const active = activeBackend();
  if (active && (active.name === name || (active.name === 'tensorflow-gpu' && name === 'tensorflow'))) return active.name;
  return name;
}

function emptyHistory(): TrainingHistory {
  return { iterations: [], validations: [], epochs: [] };
}

function copyHistory(history: TrainingHistory): TrainingHistory {
  return {
    iterations: history.iterations.map((r) => ({ ...r })),
    validations: history.validations.map((r) => ({ ...r })),
    epochs: history.epochs.map((r) => ({ ...r })),
  };
}


/** What the network and the data fix for the whole run. */
interface LoopShape {
  numClasses: number;
  trainCount: number;
  /** The mini-batch size, reduced to the training set's size when larger. */
  batchSize: number;
  /** Full batches per epoch: the last partial batch is discarded, as in MATLAB. */
  batchesPerEpoch: number;
}

/** Everything a run carries from one step to the next. Tensors are disposed by `disposeLoop`. */
interface LoopState {
  config: LoopConfig;
  options: TrainingOptions;
  shape: LoopShape;
  model: tf.Sequential;
  optimizer: tf.Optimizer;
  /** The trainable variables, always in the same order (tfjs optimizers keep their slots by position). */
  variables: tf.Variable[];
  /** The weights L2 regularisation applies to. */
  decayed: tf.LayerVariable[];
  trainData: UploadedImages | null;
  valData: UploadedImages | null;
  /** outputNetwork 'best-validation-loss': a copy of the weights at the best validation so far. */
  keepBest: boolean;
  bestCopy: tf.Tensor[] | null;
  prng: Mulberry32;
  order: number[];
  shuffled: boolean;
  /** The last epoch trained in. */
  epoch: number;
  epochsCompleted: number;
  iteration: number;
  imagesTrained: number;
  /** Iterations of the last epoch (≠ batchesPerEpoch when it stopped early). */
  lastEpochIterations: number;
  best: CheckpointState['best'];
  history: TrainingHistory;
  lastValAccuracy: number | null;
  stop: StopReason | null;
}

/**
 * The whole run, as named steps: check the inputs, set up (fresh, or restored from the checkpoint
 * being continued), upload the data, run epochs until a stop, write the checkpoint, report.
 */
async function runLoop(config: LoopConfig): Promise<RunResult> {
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

/** The network is valid and fits the data (classes, image size); the training set is not empty. */
function checkLoopInputs(config: LoopConfig, options: TrainingOptions): LoopShape {
  const { network, train } = config;
  validateNetwork(network);
  const numClasses = outputUnits(network);
  for (const [role, view] of [['training', train], ['validation', config.validation]] as const) {
    if (view && view.indices.length > 0 && view.set.classNames.length !== numClasses) {
      throw new UserError(
        `The network's final fc layer has ${numClasses} units but the ${role} data "${view.set.name}" has ${view.set.classNames.length} classes; set the last fc layer's units to ${view.set.classNames.length}.`,
      );
    }
    const [h, w, c] = network.inputShape;
    if (view && (view.set.height !== h || view.set.width !== w || view.set.channels !== c)) {
      throw new UserError(
        `The network expects ${h}×${w}×${c} images but the ${role} data "${view.set.name}" has ${view.set.height}×${view.set.width}×${view.set.channels}; change the network's inputShape.`,
      );
    }
  }
  const trainCount = train.indices.length;
  if (trainCount === 0) throw new UserError('No training images: the training split is empty.');
  const batchSize = Math.min(options.miniBatchSize, trainCount);
  return { numClasses, trainCount, batchSize, batchesPerEpoch: iterationsPerEpoch(trainCount, options.miniBatchSize) };
}

/** A fresh run: the model initialised from the seed, a new optimizer, the shuffle stream at its start. */
function setUpLoop(config: LoopConfig, options: TrainingOptions, shape: LoopShape): LoopState {
  const model = buildModel(config.network, options.seed);
  let optimizer: tf.Optimizer;
  try {
    optimizer = makeOptimizer(options);
  } catch (error) {
    model.dispose();
    throw error;
  }
  const history = config.continueFrom ? copyHistory(config.continueFrom.result.history) : emptyHistory();
  return {
    config,
    options,
    shape,
    model,
    optimizer,
    variables: model.trainableWeights.map((w) => w.read() as tf.Variable),
    decayed: regularisedWeights(model),
    trainData: null,
    valData: null,
    keepBest: options.outputNetwork === 'best-validation-loss',
    bestCopy: null,
    prng: new Mulberry32(deriveSeed(options.seed, 'shuffle')),
    order: Array.from({ length: shape.trainCount }, (_, i) => i),
    shuffled: false,
    epoch: 0,
    epochsCompleted: 0,
    iteration: 0,
    imagesTrained: 0,
    lastEpochIterations: 0,
    best: { valLoss: null, epoch: null, iteration: null, sinceBest: 0 },
    history,
    lastValAccuracy: history.validations.at(-1)?.accuracy ?? null,
    stop: null,
  };
}

/** Continue a finished run: weights, optimizer slots, best copy, counters and the shuffle stream from its checkpoint. */
async function restoreLoop(s: LoopState, dir: string): Promise<void> {
  const { network } = s.config;
  const state = await readCheckpointState(dir);
  if (describeNetwork(state.network) !== describeNetwork(network)) {
    throw new Error(`continueFrom: the network differs from the one checkpointed in ${dir}`);
  }
  if (state.trainCount !== s.shape.trainCount) {
    throw new Error(`continueFrom: ${dir} was trained on ${state.trainCount} images, this run has ${s.shape.trainCount}`);
  }
  const last = await readSavedWeights(join(dir, state.lastWeightsDir));
  s.model.loadWeights(last);
  tf.dispose(last);
  const saved = await readOptimizerState(dir);
  if (saved.className !== s.optimizer.getClassName()) {
    tf.dispose(saved.weights.map((w) => w.tensor));
    throw new Error(`continueFrom: ${dir} holds ${saved.className} optimizer state, but the solver is ${s.options.solver}`);
  }
  await s.optimizer.setWeights(saved.weights);
  tf.dispose(saved.weights.map((w) => w.tensor));
  if (s.keepBest && state.bestWeightsDir !== null) {
    const bestWeights = await readSavedWeights(join(dir, state.bestWeightsDir));
    s.bestCopy = s.model.weights.map((w) => bestWeights[w.originalName]);
    const used = new Set(s.bestCopy);
    tf.dispose(Object.values(bestWeights).filter((t) => !used.has(t)));
  }
  s.prng.state = state.shuffleState;
  s.order = state.order;
  s.shuffled = state.shuffled;
  s.epoch = state.epoch;
  s.epochsCompleted = state.epochsCompleted;
  s.iteration = state.iterationsCompleted;
  s.imagesTrained = s.config.continueFrom!.result.imagesTrained;
  s.best = { ...state.best };
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
  const rate = learnRateAt(options, epoch);
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

/** The checkpoint: last-iteration state always (for warm starts), the output network per outputNetwork. */
async function writeLoopCheckpoint(s: LoopState, dir: string): Promise<void> {
  let lastWeightsDir: CheckpointState['lastWeightsDir'] = '.';
  let bestWeightsDir: CheckpointState['bestWeightsDir'] = null;
  if (s.keepBest && s.bestCopy) {
    await saveModel(s.model, join(dir, LAST_DIR));
    lastWeightsDir = LAST_DIR;
    s.model.setWeights(s.bestCopy);
    bestWeightsDir = '.';
  }
  await saveModel(s.model, dir);
  await saveOptimizerState(s.optimizer, dir);
  await writeCheckpointState(dir, {
    format: 'flowtune-checkpoint/1',
    network: s.config.network,
    options: s.options,
    epoch: s.epoch,
    epochsCompleted: s.epochsCompleted,
    iterationsCompleted: s.iteration,
    iterationInEpoch: s.epochsCompleted === s.epoch ? 0 : s.lastEpochIterations,
    trainCount: s.shape.trainCount,
    shuffleState: s.prng.state,
    shuffled: s.shuffled,
    order: s.order,
    best: s.best,
    lastWeightsDir,
    bestWeightsDir,
  });
}

function loopResult(s: LoopState, seconds: number): RunResult {
  return {
    history: s.history,
    backend: backendName(),
    stopReason: s.stop ?? { kind: 'completed' },
    bestEpoch: s.best.epoch,
    bestValLoss: s.best.valLoss,
    paramCount: paramCount(s.config.network),
    checkpointDir: s.config.checkpointDir ?? '',
    epochsCompleted: s.epochsCompleted,
    iterationsCompleted: s.iteration,
    imagesTrained: s.imagesTrained,
    seconds,
  };
}

function disposeLoop(s: LoopState): void {
  if (s.bestCopy) tf.dispose(s.bestCopy);
  if (s.trainData) tf.dispose([s.trainData.images, s.trainData.labels]);
  if (s.valData) tf.dispose([s.valData.images, s.valData.labels]);
  disposeOptimizer(s.optimizer);
  s.model.dispose();
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

// ───────────────────────────── public entry points ─────────────────────────────

/**
 * Trains one run and writes its checkpoint. Counts in the result (epochsCompleted,
 * iterationsCompleted, imagesTrained) and the history are cumulative over a continued run;
 * `seconds` is this call's wall time only (what the continuation cost).
 */
export async function trainRun(request: TrainRequest): Promise<RunResult> {
  return runLoop({
    network: request.network,
    options: request.options,
    train: request.train,
    validation: request.validation,
    checkpointDir: request.checkpointDir,
    continueFrom: request.continueFrom ?? null,
    deadline: request.deadline,
    deadlineMidEpoch: request.deadlineMidEpoch,
    onProgress: request.onProgress,
    signal: request.signal,
  });
}

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
  const count = Math.min(train.indices.length, Math.max(options.miniBatchSize, images));
  const result = await benchEpochs(network, { ...options, shuffle: 'never' }, { set: train.set, indices: train.indices.subarray(0, count) }, 2);
  const last = result.epochs.at(-1);
  const evalView = { set: validation.set, indices: validation.indices.subarray(0, Math.min(EVAL_BATCH_SIZE, validation.indices.length)) };
  return {
    imagesPerSecond: last && last.imagesPerSecond > 0 ? last.imagesPerSecond : result.imagesPerSecond,
    evalImagesPerSecond: evalView.indices.length > 0 ? await evaluationSpeed(network, evalView) : NaN,
  };
}
