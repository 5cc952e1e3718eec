/**
 * The tfjs model of a network spec (`buildModel`, weights initialised from the run's seed) and its
 * forward pass in training mode (`forwardTraining`), which the training loop differentiates.
 */
import { Mulberry32, deriveSeed } from '../util/random.ts';
import * as tf from '@tensorflow/tfjs';
import type { NetworkSpec } from '../types.ts';
import { batchNormLayerTraining } from './kernels/batchNorm.ts';
import { bnReluPoolLayersTraining, conv2dC1, conv2dC1Grad } from './kernels/fused.ts';
import { validateNetwork } from '../config/network.ts';

/**
 * The tfjs model of a spec: a tf.sequential of conv2d / batchNormalization / reLU /
 * maxPooling2d / dropout / flatten / dense (logits, no softmax: softmax is in the loss and in
 * `predictProbabilities`). Layer names are stable (`conv1`, `bn2`, …, by 1-based spec position), so
 * saved weights load by name. Weights are initialised deterministically from `seed`.
 */
export function buildModel(network: NetworkSpec, seed: number): tf.Sequential {
  validateNetwork(network);
  const model = tf.sequential({ name: 'flowtune' });
  let flat = false;
  const first = (): { inputShape?: number[] } => (model.layers.length === 0 ? { inputShape: [...network.inputShape] } : {});
  network.layers.forEach((layer, i) => {
    const n = i + 1;
    switch (layer.type) {
      case 'conv':
        model.add(
          tf.layers.conv2d({
            name: `conv${n}`,
            filters: layer.filters,
            kernelSize: layer.kernelSize,
            strides: layer.stride ?? 1,
            padding: layer.padding ?? 'same',
            kernelInitializer: 'zeros',
            biasInitializer: 'zeros',
            ...first(),
          }),
        );
        break;
      case 'batchnorm':
        model.add(tf.layers.batchNormalization({ name: `bn${n}`, axis: -1, momentum: 0.9, epsilon: 1e-5, ...first() }));
        break;
      case 'relu':
        model.add(tf.layers.reLU({ name: `relu${n}`, ...first() }));
        break;
      case 'maxpool':
        model.add(tf.layers.maxPooling2d({ name: `pool${n}`, poolSize: layer.poolSize, strides: layer.stride, padding: 'valid', ...first() }));
        break;
      case 'dropout':
        model.add(tf.layers.dropout({ name: `drop${n}`, rate: layer.rate, ...first() }));
        break;
      case 'fc':
        if (!flat) {
          model.add(tf.layers.flatten({ name: `flatten${n}`, ...first() }));
          flat = true;
        }
        model.add(tf.layers.dense({ name: `fc${n}`, units: layer.units, kernelInitializer: 'zeros', biasInitializer: 'zeros', ...first() }));
        break;
    }
  });
  initialiseWeights(model, seed);
  return model;
}

/** Glorot-uniform kernels from the seed (one stream per weight name); the rest keep their zero/one initialisers. */
function initialiseWeights(model: tf.LayersModel, seed: number): void {
  for (const weight of model.weights) {
    if (!weight.originalName.endsWith('/kernel')) continue;
    const shape = weight.shape as number[];
    const receptive = shape.length === 4 ? shape[0] * shape[1] : 1;
    const fanIn = receptive * shape[shape.length - 2];
    const fanOut = receptive * shape[shape.length - 1];
    const limit = Math.sqrt(6 / (fanIn + fanOut));
    const prng = new Mulberry32(deriveSeed(seed, `init:${weight.originalName}`));
    const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < values.length; i++) values[i] = (2 * prng.next() - 1) * limit;
    const tensor = tf.tensor(values, shape, 'float32');
    weight.write(tensor);
    tensor.dispose();
  }
}

/** The conv and fc kernels: the weights L2 regularisation applies to. */
export function regularisedWeights(model: tf.LayersModel): tf.LayerVariable[] {
  return model.trainableWeights.filter((w) => w.originalName.endsWith('/kernel'));
}

/**
 * Forward pass in training mode, with seeded dropout masks. Returns logits.
 *
 * A convolution applied to the input image (no trainable layer before it) runs through
 * `convOnInput`, whose gradient is only the filter's and the bias's: tfjs's fused conv2d
 * gradient always computes the input gradient too (Conv2DBackpropInput, ~9% of an iteration of
 * the default network on wasm), although nothing uses a gradient for the image.
 */
export function forwardTraining(model: tf.Sequential, x: tf.Tensor, dropoutSeed: string): tf.Tensor {
  let y = x;
  let inputIsData = true; // no trainable layer applied yet
  const layers = model.layers;
  for (let j = 0; j < layers.length; j++) {
    const layer = layers[j];
    const className = layer.getClassName();
    if (className === 'Dropout') {
      const rate = (layer.getConfig() as { rate: number }).rate;
      if (rate > 0) y = tf.dropout(y, rate, undefined, `${dropoutSeed}:${j}`);
      continue;
    }
    if (className === 'Conv2D' && inputIsData) {
      y = convOnInput(layer, y as tf.Tensor4D);
    } else if (className === 'BatchNormalization') {
      // batch norm → ReLU → max pool 2×2/2 in fused wasm kernels when they apply (kernels/fused.ts),
      // else the batch norm alone with a cheaper gradient (kernels/batchNorm.ts). Both give the
      // layers' outputs, gradients and moving statistics (tested against layer.apply).
      const fused = j + 2 < layers.length ? bnReluPoolLayersTraining(layer, layers[j + 1], layers[j + 2], y) : null;
      if (fused) {
        y = fused;
        j += 2;
      } else {
        y = batchNormLayerTraining(layer, y) ?? (layer.apply(y, { training: true }) as tf.Tensor);
      }
    } else {
      y = layer.apply(y, { training: true }) as tf.Tensor;
    }
    if (layer.trainableWeights.length > 0) inputIsData = false;
  }
  return y;
}

/** The layer's conv2d + bias (the same fused op as Conv2D.call), differentiable in filter and bias only. */
function convOnInput(layer: tf.layers.Layer, x: tf.Tensor4D): tf.Tensor4D {
  const config = layer.getConfig() as { strides: [number, number]; padding: 'same' | 'valid'; activation: string; useBias: boolean };
  if (config.activation !== 'linear' || !config.useBias) return layer.apply(x, { training: true }) as tf.Tensor4D;
  const kernel = layer.trainableWeights.find((w) => w.originalName.endsWith('/kernel'))!.read() as tf.Tensor4D;
  const bias = layer.trainableWeights.find((w) => w.originalName.endsWith('/bias'))!.read() as tf.Tensor1D;
  const strides = config.strides;
  const pad = config.padding;
  const op = tf.customGrad((filter, b) => {
    // A direct SIMD loop on wasm for one input channel (kernels/fused.ts), else tfjs's fused op.
    const value =
      conv2dC1(x, filter as tf.Tensor4D, b as tf.Tensor1D, { strides, pad }) ??
      tf.fused.conv2d({ x, filter: filter as tf.Tensor4D, bias: b as tf.Tensor1D, strides, pad });
    const gradFunc = (dy: tf.Tensor) => {
      const both = conv2dC1Grad(x, dy as tf.Tensor4D, kernel.shape, { strides, pad }); // one pass on wasm
      if (both) return both;
      const dFilter = tf.engine().runKernel(tf.Conv2DBackpropFilter, { x, dy }, {
        strides,
        pad,
        dataFormat: 'NHWC',
        filterShape: kernel.shape,
      } as unknown as tf.NamedAttrMap) as tf.Tensor;
      const dBias = tf.sum(dy, [0, 1, 2]);
      return [dFilter, dBias];
    };
    return { value, gradFunc };
  });
  return op(kernel, bias) as tf.Tensor4D;
}
