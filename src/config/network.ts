/**
 * Network specs: the default network of the notes, shape checking, parameter counts, words and
 * MATLAB layers; the edits the flowchart's remedies make (dropout, wider, deeper, another filter
 * size) are network-edits.ts's.
 *
 * PURE: no tfjs here, so policies and the machine can use it. The trainer turns a spec into a
 * tfjs model (training/model.ts `buildModel`). Every function returns a new spec; none mutates its input.
 *
 * Layer indices are 0-based positions in `spec.layers` everywhere (edit parameters and error
 * messages alike: "layers[3] (maxpool 2×2 stride 2)").
 */
import { UserError } from '../errors.ts';
import type { LayerSpec, NetworkSpec } from '../types.ts';

/** The shape flowing between layers: an image (height × width × channels) or a flat vector. */
export type ActivationShape = { kind: 'image'; height: number; width: number; channels: number } | { kind: 'flat'; units: number };

/** A convolution layer of a spec. */
export type ConvLayer = Extract<LayerSpec, { type: 'conv' }>;

/** The network's convolutions, in order (the layers the capacity steps read and edit). */
export function convolutionsOf(spec: Pick<NetworkSpec, 'layers'>): ConvLayer[] {
  return spec.layers.filter((l): l is ConvLayer => l.type === 'conv');
}

/**
 * The notes' network: 28×28×1 image input → 3×3 convolution with 20 filters ('same') → batch
 * normalisation → ReLU → 2×2 max pooling with stride 2 → fully connected 10 (softmax implied).
 */
export function defaultNetwork(): NetworkSpec {
  return {
    inputShape: [28, 28, 1],
    layers: [
      { type: 'conv', filters: 20, kernelSize: 3, stride: 1, padding: 'same' },
      { type: 'batchnorm' },
      { type: 'relu' },
      { type: 'maxpool', poolSize: 2, stride: 2 },
      { type: 'fc', units: 10 },
    ],
  };
}

/** Features the first fully connected layer may receive before `fitNetworkToData` pools harder (Fashion's 14×14×20 = 3,920; 32×32 colour's 16×16×20 = 5,120). */
export const MAX_FC_FEATURES = 8192;

/**
 * The network fitted to a data set: `inputShape` set to the images' [height, width, channels] and
 * the final fully connected layer to one unit per class. When the first fully connected layer
 * would receive more than MAX_FC_FEATURES features (large images), the last max pooling before it
 * gets the smallest larger square window (and equal stride) that brings them under the limit, so
 * the classifier stays about the size of Fashion-MNIST's. A network that already fits is returned
 * unchanged (the same object); 28×28×1 with 10 classes leaves the default network as it is.
 */
export function fitNetworkToData(spec: NetworkSpec, data: { height: number; width: number; channels: number; classes: number }): NetworkSpec {
  const { height, width, channels, classes } = data;
  const fc = finalFcIndex(spec);
  const units = (spec.layers[fc] as Extract<LayerSpec, { type: 'fc' }>).units;
  if (spec.inputShape[0] === height && spec.inputShape[1] === width && spec.inputShape[2] === channels && units === classes) return spec;
  const next = clone(spec);
  next.inputShape = [height, width, channels];
  next.layers[fc] = { type: 'fc', units: classes };
  const firstFc = next.layers.findIndex((l) => l.type === 'fc');
  let pool = -1;
  for (let i = firstFc - 1; i >= 0; i--) if (next.layers[i].type === 'maxpool') { pool = i; break; }
  const features = (): number => {
    const shapes = validateNetwork(next);
    const before = firstFc === 0 ? { kind: 'image' as const, height, width, channels } : shapes[firstFc - 1];
    return before.kind === 'image' ? before.height * before.width * before.channels : before.units;
  };
  if (pool >= 0) {
    const original = next.layers[pool] as Extract<LayerSpec, { type: 'maxpool' }>;
    for (let size = original.poolSize; features() > MAX_FC_FEATURES && size < Math.min(height, width); ) {
      size++;
      next.layers[pool] = { type: 'maxpool', poolSize: size, stride: size };
    }
  }
  validateNetwork(next);
  return next;
}

/** A copy of the spec (its layers copied one level deep: every layer's fields are plain values). */
export function clone(spec: NetworkSpec): NetworkSpec {
  return { inputShape: [...spec.inputShape] as [number, number, number], layers: spec.layers.map((l) => ({ ...l })) };
}

export function isPositiveInteger(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= 1;
}

/** One layer in words, as used in error messages: "conv 3×3, 20 filters, stride 1, 'same'". */
function layerWords(layer: LayerSpec): string {
  switch (layer.type) {
    case 'conv':
      return `conv ${layer.kernelSize}×${layer.kernelSize}, ${layer.filters} filters, stride ${layer.stride ?? 1}, '${layer.padding ?? 'same'}'`;
    case 'maxpool':
      return `maxpool ${layer.poolSize}×${layer.poolSize} stride ${layer.stride}`;
    case 'dropout':
      return `dropout ${layer.rate}`;
    case 'fc':
      return `fc ${layer.units}`;
    default:
      return (layer as { type: string }).type;
  }
}

function fail(index: number, layer: LayerSpec, problem: string): never {
  throw new UserError(`Network layers[${index}] (${layerWords(layer)}): ${problem}`);
}

function shapeText(shape: ActivationShape): string {
  return shape.kind === 'image' ? `${shape.height}×${shape.width}×${shape.channels}` : `${shape.units}`;
}

/**
 * Checks a spec and returns the activation shape after every layer (`shapes[i]` is the output of
 * `layers[i]`). Throws a UserError naming the layer index and the problem: a bad field, a
 * spatial size shrinking below 1, a convolution or pooling after a fully connected layer, or a
 * network that does not end in a fully connected layer (softmax is implied after it).
 */
export function validateNetwork(spec: NetworkSpec): ActivationShape[] {
  if (spec == null || typeof spec !== 'object') throw new UserError('Network spec must be an object with inputShape and layers.');
  const input = spec.inputShape;
  if (!Array.isArray(input) || input.length !== 3 || !input.every(isPositiveInteger)) {
    throw new UserError(
      `Network inputShape must be [height, width, channels] of positive integers, got ${JSON.stringify(input)}.`,
    );
  }
  if (!Array.isArray(spec.layers) || spec.layers.length === 0) {
    throw new UserError('Network has no layers: it needs at least a final fully connected layer (fc).');
  }
  let shape: ActivationShape = { kind: 'image', height: input[0], width: input[1], channels: input[2] };
  const shapes: ActivationShape[] = [];
  spec.layers.forEach((layer, i) => {
    switch (layer?.type) {
      case 'conv': {
        if (!isPositiveInteger(layer.filters)) fail(i, layer, `filters must be a positive integer, got ${layer.filters}.`);
        if (!isPositiveInteger(layer.kernelSize)) fail(i, layer, `kernelSize must be a positive integer, got ${layer.kernelSize}.`);
        const stride = layer.stride ?? 1;
        if (!isPositiveInteger(stride)) fail(i, layer, `stride must be a positive integer, got ${stride}.`);
        const padding = layer.padding ?? 'same';
        if (padding !== 'same' && padding !== 'valid') fail(i, layer, `padding must be 'same' or 'valid', got ${JSON.stringify(padding)}.`);
        if (shape.kind !== 'image') fail(i, layer, 'a convolution cannot follow a fully connected layer (its input is flat).');
        const out = (n: number) => (padding === 'same' ? Math.ceil(n / stride) : Math.floor((n - layer.kernelSize) / stride) + 1);
        const height = out(shape.height);
        const width = out(shape.width);
        if (height < 1 || width < 1) {
          fail(i, layer, `spatial size shrinks below 1 (input ${shapeText(shape)}, output ${height}×${width}); use a smaller kernel, 'same' padding, or fewer pooling layers before it.`);
        }
        shape = { kind: 'image', height, width, channels: layer.filters };
        break;
      }
      case 'maxpool': {
        if (!isPositiveInteger(layer.poolSize)) fail(i, layer, `poolSize must be a positive integer, got ${layer.poolSize}.`);
        if (!isPositiveInteger(layer.stride)) fail(i, layer, `stride must be a positive integer, got ${layer.stride}.`);
        if (shape.kind !== 'image') fail(i, layer, 'max pooling cannot follow a fully connected layer (its input is flat).');
        const height = Math.floor((shape.height - layer.poolSize) / layer.stride) + 1;
        const width = Math.floor((shape.width - layer.poolSize) / layer.stride) + 1;
        if (height < 1 || width < 1) {
          fail(i, layer, `spatial size shrinks below 1 (input ${shapeText(shape)} is smaller than the ${layer.poolSize}×${layer.poolSize} window); remove this pooling layer or a block before it.`);
        }
        shape = { kind: 'image', height, width, channels: shape.channels };
        break;
      }
      case 'batchnorm':
      case 'relu':
        break;
      case 'dropout':
        if (typeof layer.rate !== 'number' || !(layer.rate >= 0 && layer.rate < 1)) {
          fail(i, layer, `rate must be a number in [0, 1), got ${layer.rate}.`);
        }
        break;
      case 'fc':
        if (!isPositiveInteger(layer.units)) fail(i, layer, `units must be a positive integer, got ${layer.units}.`);
        shape = { kind: 'flat', units: layer.units };
        break;
      default:
        throw new UserError(
          `Network layers[${i}]: unknown layer type ${JSON.stringify((layer as { type?: unknown })?.type)}; ` +
            'use one of conv, batchnorm, relu, maxpool, dropout, fc.',
        );
    }
    shapes.push(shape);
  });
  const last = spec.layers[spec.layers.length - 1];
  if (last.type !== 'fc') {
    fail(spec.layers.length - 1, last, 'the last layer must be fully connected (fc, one unit per class); softmax is implied after it.');
  }
  return shapes;
}

/**
 * Learnable parameters, counted as MATLAB counts "Learnables": convolution weights and biases,
 * batch-normalisation scale and offset (2 per channel), fully connected weights and biases. The
 * batch-normalisation moving mean and variance (2 per channel, MATLAB's TrainedMean and
 * TrainedVariance, tfjs's non-trainable weights) are NOT counted unless
 * `includeBatchNormStatistics` is set. Default network: 180+20 + 40 + 39200+10 = 39450.
 */
export function paramCount(spec: NetworkSpec, options: { includeBatchNormStatistics?: boolean } = {}): number {
  const shapes = validateNetwork(spec);
  let previous: ActivationShape = { kind: 'image', height: spec.inputShape[0], width: spec.inputShape[1], channels: spec.inputShape[2] };
  let total = 0;
  spec.layers.forEach((layer, i) => {
    const inputs = previous.kind === 'image' ? previous.channels : previous.units;
    if (layer.type === 'conv') total += layer.kernelSize * layer.kernelSize * inputs * layer.filters + layer.filters;
    if (layer.type === 'batchnorm') total += (options.includeBatchNormStatistics ? 4 : 2) * inputs;
    if (layer.type === 'fc') {
      const features = previous.kind === 'image' ? previous.height * previous.width * previous.channels : previous.units;
      total += features * layer.units + layer.units;
    }
    previous = shapes[i];
  });
  return total;
}

/** One line, e.g. `28×28×1 → conv3×3×20 → bn → relu → maxpool2 → fc10`. */
export function describeNetwork(spec: NetworkSpec): string {
  const parts = [spec.inputShape.join('×')];
  for (const layer of spec.layers) {
    switch (layer.type) {
      case 'conv': {
        let text = `conv${layer.kernelSize}×${layer.kernelSize}×${layer.filters}`;
        if ((layer.stride ?? 1) !== 1) text += `/s${layer.stride}`;
        if ((layer.padding ?? 'same') !== 'same') text += ` ${layer.padding}`;
        parts.push(text);
        break;
      }
      case 'batchnorm':
        parts.push('bn');
        break;
      case 'relu':
        parts.push('relu');
        break;
      case 'maxpool':
        parts.push(layer.stride === layer.poolSize ? `maxpool${layer.poolSize}` : `maxpool${layer.poolSize}/s${layer.stride}`);
        break;
      case 'dropout':
        parts.push(`dropout${layer.rate}`);
        break;
      case 'fc':
        parts.push(`fc${layer.units}`);
        break;
      default:
        parts.push(String((layer as { type: unknown }).type));
    }
  }
  return parts.join(' → ');
}

/**
 * The same network as a MATLAB layer array (Deep Learning Toolbox), one layer a line:
 * `imageInputLayer([28 28 1], 'Normalization', 'none')` (flowtune scales pixels to 0..1 and does
 * not normalise further) … `fullyConnectedLayer(10)`, `softmaxLayer`, `classificationLayer`.
 */
export function toMatlabLayers(spec: NetworkSpec): string {
  const lines = [`imageInputLayer([${spec.inputShape.join(' ')}], 'Normalization', 'none')`];
  for (const layer of spec.layers) {
    switch (layer.type) {
      case 'conv': {
        const stride = (layer.stride ?? 1) !== 1 ? `, 'Stride', ${layer.stride}` : '';
        const padding = (layer.padding ?? 'same') === 'same' ? ", 'Padding', 'same'" : '';
        lines.push(`convolution2dLayer(${layer.kernelSize}, ${layer.filters}${padding}${stride})`);
        break;
      }
      case 'batchnorm':
        lines.push('batchNormalizationLayer');
        break;
      case 'relu':
        lines.push('reluLayer');
        break;
      case 'maxpool':
        lines.push(`maxPooling2dLayer(${layer.poolSize}, 'Stride', ${layer.stride})`);
        break;
      case 'dropout':
        lines.push(`dropoutLayer(${layer.rate})`);
        break;
      case 'fc':
        lines.push(`fullyConnectedLayer(${layer.units})`);
        break;
    }
  }
  lines.push('softmaxLayer', 'classificationLayer');
  return `[\n    ${lines.join('\n    ')}]`;
}

/** Index of the final fully connected layer (the classifier). */
export function finalFcIndex(spec: NetworkSpec): number {
  for (let i = spec.layers.length - 1; i >= 0; i--) if (spec.layers[i].type === 'fc') return i;
  throw new UserError('Network has no fully connected (fc) layer.');
}

/** Units of the final fully connected layer: the number of classes the network predicts. */
export function outputUnits(spec: NetworkSpec): number {
  const layer = spec.layers[finalFcIndex(spec)];
  return (layer as Extract<LayerSpec, { type: 'fc' }>).units;
}

/**
 * Floating-point operations per image (a multiply-add counts 2), from the spec alone:
 * `forward` for inference; `training` for one training step (forward, the input gradient of
 * every layer but the first convolution on the image, and the filter gradient of every
 * convolution and fully connected layer: each about as costly as the forward product).
 * Convolutions and fully connected layers only; batch norm, ReLU, pooling and dropout are
 * memory-bound and left out. Used for GFLOP/s in `tune bench` and for relative cost estimates.
 */
export function networkFlops(spec: NetworkSpec): { forward: number; training: number } {
  const shapes = validateNetwork(spec);
  let previous: ActivationShape = { kind: 'image', height: spec.inputShape[0], width: spec.inputShape[1], channels: spec.inputShape[2] };
  let forward = 0;
  let training = 0;
  let first = true; // no input gradient is needed for the image
  spec.layers.forEach((layer, i) => {
    const out = shapes[i];
    let flops = 0;
    if (layer.type === 'conv' && previous.kind === 'image' && out.kind === 'image') {
      flops = 2 * out.height * out.width * layer.kernelSize * layer.kernelSize * previous.channels * layer.filters;
    } else if (layer.type === 'fc') {
      const features = previous.kind === 'image' ? previous.height * previous.width * previous.channels : previous.units;
      flops = 2 * features * layer.units;
    }
    if (flops > 0) {
      forward += flops;
      training += flops * (first ? 2 : 3);
      first = false;
    }
    previous = out;
  });
  return { forward, training };
}
