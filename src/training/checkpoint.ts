/**
 * A run's folder on disk, in the standard TensorFlow.js layers format, without tfjs-node.
 *
 * tfjs's `file://` handlers come with @tensorflow/tfjs-node, which flowtune does not require, so
 * this module writes the same files itself: `model.json` (topology + a weights manifest pointing at
 * `weights.bin`) and `weights.bin` (all weights, float32, in manifest order). `tf.loadLayersModel`
 * with `fileHandler(dir)` (or tfjs-node's `file://…/model.json`) loads them.
 *
 * Layout of a checkpoint folder:
 *
 * | file | what |
 * | --- | --- |
 * | `model.json`, `weights.bin` | the OUTPUT network (last iteration, or best validation loss per `outputNetwork`) |
 * | `last/model.json`, `last/weights.bin` | the last-iteration weights, only when they differ from the output (best-validation-loss) |
 * | `optimizer.json`, `optimizer.bin` | the solver's state (`optimizer.getWeights()`: iteration count, momentum / moments) |
 * | `state.json` | counters, shuffle PRNG state and order, best-validation bookkeeping: what a warm start needs |
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { UserError } from '../errors.ts';
import type { NetworkSpec, TrainingOptions } from '../types.ts';

export const MODEL_JSON = 'model.json';
export const WEIGHTS_BIN = 'weights.bin';
export const LAST_DIR = 'last';
export const OPTIMIZER_JSON = 'optimizer.json';
export const OPTIMIZER_BIN = 'optimizer.bin';
export const STATE_JSON = 'state.json';

/** Writes via a temporary file and a rename, so a crash never leaves half a file under the real name. */
async function writeAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, data);
  await rename(tmp, path);
}

function toArrayBuffer(bytes: Buffer): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}

async function readOrExplain(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new UserError(`${what} not found: ${path} does not exist. Point to a folder written by a finished training run.`);
    }
    throw error;
  }
}

/**
 * An IOHandler that saves to / loads from `dir` as `model.json` + `weights.bin`, the layout of
 * tfjs-node's `file://` handler. Use with `model.save(fileHandler(dir))` and
 * `tf.loadLayersModel(fileHandler(dir))`.
 */
export function fileHandler(dir: string): tf.io.IOHandler {
  return {
    async save(artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
      if (artifacts.modelTopology instanceof ArrayBuffer) {
        throw new Error('fileHandler saves layers models (JSON topology) only');
      }
      await mkdir(dir, { recursive: true });
      const weightsManifest: tf.io.WeightsManifestConfig = [{ paths: [WEIGHTS_BIN], weights: artifacts.weightSpecs ?? [] }];
      const modelJSON: tf.io.ModelJSON = {
        modelTopology: artifacts.modelTopology as {},
        format: artifacts.format,
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy ?? null,
        weightsManifest,
      };
      if (artifacts.trainingConfig != null) modelJSON.trainingConfig = artifacts.trainingConfig;
      if (artifacts.userDefinedMetadata != null) modelJSON.userDefinedMetadata = artifacts.userDefinedMetadata;
      const weights = artifacts.weightData == null ? new ArrayBuffer(0) : tf.io.CompositeArrayBuffer.join(artifacts.weightData);
      // Weights first: a model.json on disk always has its weights.
      await writeAtomic(join(dir, WEIGHTS_BIN), new Uint8Array(weights));
      await writeAtomic(join(dir, MODEL_JSON), JSON.stringify(modelJSON));
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    },
    async load(): Promise<tf.io.ModelArtifacts> {
      const json = JSON.parse((await readOrExplain(join(dir, MODEL_JSON), 'Saved model')).toString('utf8')) as tf.io.ModelJSON;
      return tf.io.getModelArtifactsForJSON(json, async (manifest) => {
        const specs: tf.io.WeightsManifestEntry[] = [];
        const buffers: ArrayBuffer[] = [];
        for (const group of manifest) {
          specs.push(...group.weights);
          for (const path of group.paths) buffers.push(toArrayBuffer(await readOrExplain(join(dir, path), 'Model weights')));
        }
        return [specs, tf.io.CompositeArrayBuffer.join(buffers)];
      });
    },
  };
}

/** Saves a layers model as `dir/model.json` + `dir/weights.bin`. */
export async function saveModel(model: tf.LayersModel, dir: string): Promise<void> {
  await model.save(fileHandler(dir));
}

/** Loads the model saved in `dir` (model.json + weights.bin) as a tf.LayersModel. The caller disposes it. */
export async function loadSavedModel(dir: string): Promise<tf.LayersModel> {
  return tf.loadLayersModel(fileHandler(dir));
}

/** The weights saved in `dir`, by their saved names (e.g. `conv1/kernel`). The caller disposes the tensors. */
export async function readSavedWeights(dir: string): Promise<tf.NamedTensorMap> {
  const artifacts = await fileHandler(dir).load!();
  if (artifacts.weightData == null || artifacts.weightSpecs == null) throw new Error(`${dir}/${MODEL_JSON} has no weights`);
  return tf.io.decodeWeights(artifacts.weightData, artifacts.weightSpecs);
}

/** Saves `optimizer.getWeights()` (iteration count first, then the slots in gradient order). */
export async function saveOptimizerState(optimizer: tf.Optimizer, dir: string): Promise<void> {
  const named = await optimizer.getWeights();
  try {
    const { data, specs } = await tf.io.encodeWeights(named, 'optimizer');
    await mkdir(dir, { recursive: true });
    await writeAtomic(join(dir, OPTIMIZER_BIN), new Uint8Array(data));
    await writeAtomic(join(dir, OPTIMIZER_JSON), JSON.stringify({ className: optimizer.getClassName(), specs }));
  } finally {
    // getWeights() makes a fresh scalar for the iteration count (always first); the rest are the
    // optimizer's own variables and must stay.
    named[0]?.tensor.dispose();
  }
}

/** The saved optimizer state, in saved order, for `optimizer.setWeights`. The caller disposes the tensors. */
export async function readOptimizerState(dir: string): Promise<{ className: string; weights: Array<{ name: string; tensor: tf.Tensor }> }> {
  const meta = JSON.parse((await readOrExplain(join(dir, OPTIMIZER_JSON), 'Optimizer state')).toString('utf8')) as {
    className: string;
    specs: tf.io.WeightsManifestEntry[];
  };
  const data = toArrayBuffer(await readOrExplain(join(dir, OPTIMIZER_BIN), 'Optimizer state'));
  const map = tf.io.decodeWeights(data, meta.specs);
  return { className: meta.className, weights: meta.specs.map((s) => ({ name: s.name, tensor: map[s.name] })) };
}

/** Everything besides tensors that a warm start needs. */
export interface CheckpointState {
  format: 'flowtune-checkpoint/1';
  network: NetworkSpec;
  options: TrainingOptions;
  /** The last epoch trained in (1-based; 0 before training). The next epoch is `epoch + 1`. */
  epoch: number;
  /** Full epochs trained so far. */
  epochsCompleted: number;
  iterationsCompleted: number;
  /** Iterations done in `epoch` when the run stopped mid-epoch (patience, non-finite), else 0. */
  iterationInEpoch: number;
  /** Training images in the run (the order below is over positions 0..trainCount-1 of the training view). */
  trainCount: number;
  /** Shuffle PRNG state after the last shuffle. */
  shuffleState: number;
  /** Whether the 'once' shuffle has happened. */
  shuffled: boolean;
  /** The current order of training positions. */
  order: number[];
  /** Best validation so far (null: none), the validations since it (for validationPatience). */
  best: { valLoss: number | null; epoch: number | null; iteration: number | null; sinceBest: number };
  /** Where the last-iteration weights are, relative to the folder: '.' or 'last'. */
  lastWeightsDir: '.' | typeof LAST_DIR;
  /** Where the best-validation weights are ('.' when the output network is the best one), or null. */
  bestWeightsDir: '.' | null;
}

export async function writeCheckpointState(dir: string, state: CheckpointState): Promise<void> {
  await mkdir(dir, { recursive: true });
  // JSON has no Infinity: options keep null there, and resolveOptions reads null as the default (Infinity).
  await writeAtomic(join(dir, STATE_JSON), JSON.stringify(state));
}

export async function readCheckpointState(dir: string): Promise<CheckpointState> {
  const state = JSON.parse((await readOrExplain(join(dir, STATE_JSON), 'Checkpoint state')).toString('utf8')) as CheckpointState;
  if (state.format !== 'flowtune-checkpoint/1') throw new UserError(`${join(dir, STATE_JSON)} is not a flowtune checkpoint (format ${String(state.format)}).`);
  return state;
}
