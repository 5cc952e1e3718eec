/**
 * Evaluation of a trained network on a labelled set: on the fixed validation set after every
 * search run (per-image losses for paired verdicts), and once on the sealed test set by the final
 * stage. Loss is the mean softmax cross-entropy (no L2 term), as the trainer's validation loss.
 */
import type * as tf from '@tensorflow/tfjs';
import { UserError } from '../errors.ts';
import type { DataView, ImageSet, NetworkSpec } from '../types.ts';
import { loadSavedModel } from './checkpoint.ts';
import { outputUnits, validateNetwork } from '../config/network.ts';
import { evaluateUploaded } from './trainer.ts';
import { uploadImages } from './upload.ts';

export { loadSavedModel };

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
