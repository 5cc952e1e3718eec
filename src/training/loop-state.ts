/**
 * What a training run carries from one step to the next (`LoopState`), and its life around the
 * loop in loop.ts: the inputs checked, a fresh set-up or one restored from the checkpoint being
 * continued, the checkpoint written, the result reported, the tensors disposed.
 */
import { Mulberry32, deriveSeed } from '../util/random.ts';
import { iterationsPerEpoch } from '../util/batching.ts';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { UserError } from '../errors.ts';
import type { NetworkSpec, StopReason, TrainingHistory, TrainingOptions } from '../types.ts';
import type { DataView } from '../data/image-set.ts';
import type { RunResult, TrainProgress } from '../store/records.ts';
import { activeBackend } from './backend.ts';
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
import { buildModel, regularisedWeights } from './model.ts';
import type { UploadedImages } from './upload.ts';
import { disposeOptimizer, makeOptimizer } from './optimizer.ts';

export interface LoopConfig {
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
export interface LoopShape {
  numClasses: number;
  trainCount: number;
  /** The mini-batch size, reduced to the training set's size when larger. */
  batchSize: number;
  /** Full batches per epoch: the last partial batch is discarded, as in MATLAB. */
  batchesPerEpoch: number;
}

/** Everything a run carries from one step to the next. Tensors are disposed by `disposeLoop`. */
export interface LoopState {
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
  /** Wall-clock ms when the run was set up (the start of the time learnRateDropAtTime shares out). */
  startedAt: number;
}

/** The network is valid and fits the data (classes, image size); the training set is not empty. */
export function checkLoopInputs(config: LoopConfig, options: TrainingOptions): LoopShape {
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
export function setUpLoop(config: LoopConfig, options: TrainingOptions, shape: LoopShape): LoopState {
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
    startedAt: Date.now(),
  };
}

/**
 * Continue a finished run: weights, optimizer slots, best copy, counters and the shuffle stream from
 * its checkpoint; its image order too when it trained on as many images as this run does.
 */
export async function restoreLoop(s: LoopState, dir: string): Promise<void> {
  const { network } = s.config;
  const state = await readCheckpointState(dir);
  if (describeNetwork(state.network) !== describeNetwork(network)) {
    throw new Error(`continueFrom: the network differs from the one checkpointed in ${dir}`);
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
  // Other training images (a final run on the training and validation images together): the
  // weights and solver state carry over, the order starts afresh and is shuffled as a new run's.
  if (state.trainCount === s.shape.trainCount) {
    s.order = state.order;
    s.shuffled = state.shuffled;
  }
  s.epoch = state.epoch;
  s.epochsCompleted = state.epochsCompleted;
  s.iteration = state.iterationsCompleted;
  s.imagesTrained = s.config.continueFrom!.result.imagesTrained;
  s.best = { ...state.best };
}

/** The checkpoint: last-iteration state always (for warm starts), the output network per outputNetwork. */
export async function writeLoopCheckpoint(s: LoopState, dir: string): Promise<void> {
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

export function loopResult(s: LoopState, seconds: number): RunResult {
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

export function disposeLoop(s: LoopState): void {
  if (s.bestCopy) tf.dispose(s.bestCopy);
  if (s.trainData) tf.dispose([s.trainData.images, s.trainData.labels]);
  if (s.valData) tf.dispose([s.valData.images, s.valData.labels]);
  disposeOptimizer(s.optimizer);
  s.model.dispose();
}
