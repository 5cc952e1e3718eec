/**
 * Evaluation of a trained network on a labelled set: on the fixed validation set after every
 * search run (per-image losses for paired verdicts), and once on the sealed test set by the final
 * stage. Loss is the mean softmax cross-entropy (no L2 term), as the trainer's validation loss.
 * `evaluateUploaded` is the pass itself, on images already on the backend: the training loop's
 * validation runs it too.
 */
import * as tf from '@tensorflow/tfjs';
import { UserError } from '../errors.ts';
import type { NetworkSpec } from '../types.ts';
import type { DataView, ImageSet } from '../data/image-set.ts';
import { loadSavedModel } from './checkpoint.ts';
import { outputUnits, validateNetwork } from '../config/network.ts';
import { type UploadedImages, sliceImages, uploadImages } from './upload.ts';

export { loadSavedModel };

/** Validation and evaluation batch size (no tape, so memory is only activations). */
export const EVAL_BATCH_SIZE = 1000;

export interface EvaluateRequest {
  /** A checkpoint folder (its model.json + weights.bin: the run's output network)… */
  checkpointDir?: string;
  /** …or a model in memory (not disposed here). */
  model?: tf.LayersModel;
  /** The network spec, to check the data fits it. */
  network?: NetworkSpec;
  test: ImageSet | DataView;
  /** Class names in label order (default: the data's). */
  classNames?: string[];
}

export interface EvaluationResult {
  /** 0..1 */
  accuracy: number;
  /** Mean cross-entropy. */
  loss: number;
  count: number;
  /** Per class in classNames order, 0..1 (NaN for a class with no images). */
  perClassAccuracy: number[];
  /** confusion[actual][predicted] counts. */
  confusion: number[][];
  /** Per image, in data order: cross-entropy and whether the prediction was right (for paired verdicts). */
  perImage: { losses: Float32Array; correct: Uint8Array };
}

export async function evaluateModel(request: EvaluateRequest): Promise<EvaluationResult> {
  const set = 'set' in request.test ? request.test.set : request.test;
  const classNames = request.classNames ?? set.classNames;
  const numClasses = classNames.length;
  if (request.network) {
    validateNetwork(request.network);
    const units = outputUnits(request.network);
    if (units !== numClasses) {
      throw new UserError(`The network predicts ${units} classes but the evaluation data has ${numClasses} (${classNames.join(', ')}).`);
    }
  }
  if (!request.model && !request.checkpointDir) throw new Error('evaluateModel needs a model or a checkpointDir');
  const model = request.model ?? (await loadSavedModel(request.checkpointDir!));
  const data = uploadImages(request.test);
  try {
    const { loss, accuracy, count, predictions, losses } = await evaluateUploaded(model, data, numClasses, { predictions: true, losses: true });
    const labels = 'set' in request.test ? Array.from(request.test.indices, (i) => set.labels[i]) : Array.from(set.labels.subarray(0, set.count));
    const confusion = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
    labels.forEach((actual, i) => {
      if (actual >= numClasses) throw new UserError(`Label ${actual} of evaluation image ${i} is outside the ${numClasses} classes (${classNames.join(', ')}).`);
      confusion[actual][predictions![i]]++;
    });
    const perClassAccuracy = confusion.map((row, k) => {
      const total = row.reduce((a, b) => a + b, 0);
      return total === 0 ? NaN : row[k] / total;
    });
    const correct = Uint8Array.from(labels, (actual, i) => (predictions![i] === actual ? 1 : 0));
    return { accuracy, loss, count, perClassAccuracy, confusion, perImage: { losses: losses!, correct } };
  } finally {
    data.images?.dispose();
    data.labels.dispose();
    if (!request.model) model.dispose();
  }
}

export interface EvaluationSums {
  /** Mean softmax cross-entropy (no L2 term). */
  loss: number;
  accuracy: number;
  count: number;
  /** Predicted class per image, when asked for. */
  predictions?: Int32Array;
  /** Cross-entropy per image, in data order, when asked for (paired comparisons). */
  losses?: Float32Array;
}

/**
 * Loss and accuracy of `model` (inference mode, no tape) on uploaded images, in batches of
 * `EVAL_BATCH_SIZE`; one sync at the end. Works for any model whose output is logits.
 */
export async function evaluateUploaded(
  model: tf.LayersModel,
  data: UploadedImages,
  numClasses: number,
  options: { predictions?: boolean; losses?: boolean } = {},
): Promise<EvaluationSums> {
  if (data.count === 0) {
    return {
      loss: NaN,
      accuracy: NaN,
      count: 0,
      predictions: options.predictions ? new Int32Array(0) : undefined,
      losses: options.losses ? new Float32Array(0) : undefined,
    };
  }
  let sums = tf.zeros([2]); // [Σ cross-entropy, Σ correct]
  const predictions: tf.Tensor[] = [];
  const losses: tf.Tensor[] = [];
  for (let start = 0; start < data.count; start += EVAL_BATCH_SIZE) {
    const size = Math.min(EVAL_BATCH_SIZE, data.count - start);
    const [next, predicted, perImage] = tf.tidy(() => {
      const x = sliceImages(data, start, size);
      const y = tf.slice(data.labels, start, size);
      const logits = model.apply(x, { training: false }) as tf.Tensor2D;
      const ceEach = tf.neg(tf.sum(tf.mul(tf.oneHot(y, numClasses).toFloat(), tf.logSoftmax(logits)), 1));
      const argmax = tf.argMax(logits, 1);
      const correct = tf.sum(tf.equal(argmax, y).toFloat());
      return [
        tf.add(sums, tf.stack([tf.sum(ceEach), correct])),
        options.predictions ? argmax : tf.scalar(0),
        options.losses ? ceEach : tf.scalar(0),
      ];
    });
    sums.dispose();
    sums = next;
    if (options.predictions) predictions.push(predicted);
    else predicted.dispose();
    if (options.losses) losses.push(perImage);
    else perImage.dispose();
  }
  const [ceSum, correct] = await sums.data();
  sums.dispose();
  const gathered = async <T>(parts: tf.Tensor[], make: (values: ArrayLike<number>) => T): Promise<T> => {
    const all = tf.concat(parts);
    const values = make(await all.data());
    all.dispose();
    tf.dispose(parts);
    return values;
  };
  return {
    loss: ceSum / data.count,
    accuracy: correct / data.count,
    count: data.count,
    predictions: options.predictions ? await gathered(predictions, (v) => Int32Array.from(v)) : undefined,
    losses: options.losses ? await gathered(losses, (v) => Float32Array.from(v)) : undefined,
  };
}
