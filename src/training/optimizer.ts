/**
 * The solver of a run (MATLAB's sgdm, adam and rmsprop as tfjs optimizers), its learning rate
 * per epoch, and MATLAB's gradient clipping.
 */
import * as tf from '@tensorflow/tfjs';
import type { TrainingOptions } from '../types.ts';
import { learnRateAt } from '../config/options.ts';

export function makeOptimizer(options: TrainingOptions): tf.Optimizer {
  const rate = learnRateAt(options, 1);
  switch (options.solver) {
    case 'sgdm':
      return tf.train.momentum(rate, options.momentum, false);
    case 'adam':
      return tf.train.adam(rate, 0.9, 0.999, 1e-8);
    case 'rmsprop':
      return tf.train.rmsprop(rate, 0.9, 0, 1e-8, false);
  }
}

export function setLearnRate(optimizer: tf.Optimizer, rate: number): void {
  // (tfjs optimizers override `instanceof` to accept any optimizer, so ask for the class name.)
  const name = optimizer.getClassName();
  if (name === 'SGD' || name === 'Momentum') (optimizer as tf.SGDOptimizer).setLearningRate(rate); // keeps −rate as a scalar
  else (optimizer as unknown as { learningRate: number }).learningRate = rate; // adam, rmsprop read it at every step
}

export function disposeOptimizer(optimizer: tf.Optimizer): void {
  optimizer.dispose();
  // MomentumOptimizer.dispose() does not dispose the learning-rate scalar SGDOptimizer keeps.
  if (optimizer.getClassName() === 'Momentum') {
    const c = (optimizer as unknown as { c?: tf.Tensor }).c;
    if (c && !c.isDisposed) c.dispose();
  }
}

/** Clipped gradients (MATLAB's GradientThreshold / GradientThresholdMethod); the same tensors when the threshold is Infinity. Call inside tidy. */
export function clipGradients(grads: tf.Tensor[], options: Pick<TrainingOptions, 'gradientThreshold' | 'gradientThresholdMethod'>): tf.Tensor[] {
  const threshold = options.gradientThreshold;
  if (!Number.isFinite(threshold)) return grads;
  if (options.gradientThresholdMethod === 'absolute-value') return grads.map((g) => tf.clipByValue(g, -threshold, threshold));
  // Overflow-safe L2 norms: max|g| · ‖g / max|g|‖.
  const scaleOf = grads.map((g) => tf.max(tf.abs(g)));
  const norms = grads.map((g, i) => tf.mul(scaleOf[i], tf.norm(tf.div(g, tf.maximum(scaleOf[i], 1e-30)))));
  if (options.gradientThresholdMethod === 'l2norm') {
    return grads.map((g, i) => tf.mul(g, tf.minimum(1, tf.div(threshold, norms[i]))));
  }
  const stacked = tf.stack(norms);
  const top = tf.max(stacked);
  const global = tf.mul(top, tf.norm(tf.div(stacked, tf.maximum(top, 1e-30))));
  const factor = tf.minimum(1, tf.div(threshold, global));
  return grads.map((g) => tf.mul(g, factor));
}
