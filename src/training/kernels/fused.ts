/**
 * flowtune's registered wasm kernels (runtime.ts runs them; formulas in wasm/fused.c), each giving
 * the cpu backend's numbers (test/training/kernels.fused.test.ts):
 *
 *  - FusedBlock: training-mode batch norm (batch statistics) → ReLU → max pool 2×2/2, 3 passes
 *    forward and 2 backward instead of ~15 kernels (`bnReluPoolLayersTraining`, called by model.ts).
 *  - ConvC1: the first convolution on grey images (one input channel, ≤ 25 taps), forward and its
 *    filter + bias gradient in one pass (`conv2dC1`, `conv2dC1Grad`, called by model.ts;
 *    `conv2dC1Inference` for patches.ts); FilterGradC1: the same filter gradient for
 *    Conv2DBackpropFilter (conv2dBackpropFilter.ts).
 *
 * Each entry point returns null when its case or the backend is not one it covers; the caller then
 * runs what it ran before.
 */
import * as tf from '@tensorflow/tfjs';
import { type BatchNormLayerLike, batchNormLayerParts, updateMovingStatistics } from './batchNorm.ts';
import { withWideChannels } from './direct.ts';
import {
  CONV_C1_GRAD_KERNEL_NAME,
  CONV_C1_KERNEL_NAME,
  backendMemory,
  fusedKernelsAvailable,
  kernelSwitches as switches,
  pointer,
  runnerFor,
  runnerOrNull,
  share,
  up4,
  withScratch,
  type KernelArgs,
  type Runner,
  type TensorInfo,
  type WasmBackendInternals,
} from './runtime.ts';

function channelMomentsKernel({ inputs, attrs, backend }: KernelArgs<'x'>): TensorInfo[] {
  const { x } = inputs;
  const runner = runnerFor(backend)!;
  const c = x.shape[x.shape.length - 1];
  const positions = tf.util.sizeFromShape(x.shape) / c;
  const [mean, variance, invStd] = [0, 1, 2].map(() => backend.makeOutput([c], 'float32'));
  const parts = runner.parts;
  // scratch: parts × c doubles (partial sums), then parts × c floats (block accumulators)
  withScratch(backend, parts * 3 * c, (scratch) => {
    const partial = (part: number) => scratch + part * c * 8;
    const acc = (part: number) => scratch + parts * c * 8 + part * c * 4;
    const px = pointer(backend, x);
    const pm = pointer(backend, mean);
    runner.parallel('channel_sums', (part) => [px, ...share(positions, parts, part), c, 0, partial(part), acc(part)]);
    runner.fns.moments_finish(scratch, parts, c, positions, attrs.epsilon as number, pm, 0, 0);
    runner.parallel('channel_sums', (part) => [px, ...share(positions, parts, part), c, pm, partial(part), acc(part)]);
    runner.fns.moments_finish(scratch, parts, c, positions, attrs.epsilon as number, pm, pointer(backend, variance), pointer(backend, invStd));
  });
  return [mean, variance, invStd];
}

function bnReluPool2Kernel({ inputs, backend }: KernelArgs<'x' | 'mean' | 'invStd' | 'gamma' | 'beta'>): TensorInfo[] {
  const { x, mean, invStd, gamma, beta } = inputs;
  const runner = runnerFor(backend)!;
  const [n, h, w, c] = x.shape;
  const outShape = [n, Math.floor(h / 2), Math.floor(w / 2), c];
  const y = backend.makeOutput(outShape, 'float32');
  const sel = backend.makeOutput(outShape, 'int32');
  const xw = backend.makeOutput(outShape, 'float32');
  const p = [x, mean, invStd, gamma, beta, y, sel, xw].map((t) => pointer(backend, t));
  runner.parallel('bn_relu_pool2_forward', (part) => [p[0], ...share(n, runner.parts, part), h, w, c, ...p.slice(1)]);
  return [y, sel, xw];
}

function bnReluPool2GradKernel({
  inputs,
  backend,
}: KernelArgs<'dy' | 'sel' | 'xw' | 'x' | 'mean' | 'invStd' | 'gamma'>): TensorInfo[] {
  const { dy, sel, xw, x, mean, invStd, gamma } = inputs;
  const runner = runnerFor(backend)!;
  const parts = runner.parts;
  const [n, h, w, c] = x.shape;
  const windows = n * Math.floor(h / 2) * Math.floor(w / 2);
  const dx = backend.makeOutput(x.shape, 'float32');
  const dGamma = backend.makeOutput([c], 'float32');
  const dBeta = backend.makeOutput([c], 'float32');
  const p = (t: TensorInfo) => pointer(backend, t);
  // scratch: parts × 2c doubles, parts × 2c floats, 3c floats (k, q, r)
  withScratch(backend, parts * 6 * c + 3 * c, (scratch) => {
    const partial = (part: number) => scratch + part * 2 * c * 8;
    const acc = (part: number) => scratch + parts * 2 * c * 8 + part * 2 * c * 4;
    const coef = scratch + parts * 6 * c * 4;
    runner.parallel('bn_pool_grad_sums', (part) => [p(dy), p(sel), p(xw), ...share(windows, parts, part), c, partial(part), acc(part)]);
    runner.fns.bn_pool_grad_coefficients(scratch, parts, c, n * h * w, p(invStd), p(gamma), p(dGamma), p(dBeta), coef);
    runner.parallel('bn_relu_pool2_dx', (part) => [p(dy), p(sel), p(x), ...share(n, parts, part), h, w, c, p(mean), coef, p(dx)]);
  });
  return [dx, dGamma, dBeta];
}

/** Filter and bias gradients for one input channel (shapes as convC1Info checks); dBias null when not wanted. */
function filterGradC1(
  b: WasmBackendInternals,
  runner: Runner,
  x: TensorInfo,
  dy: TensorInfo,
  info: ReturnType<typeof tf.backend_util.computeConv2DInfo>,
  withBias: boolean,
): [TensorInfo, TensorInfo | null] {
  const { batchSize: n, inHeight: h, inWidth: w, outHeight: oh, outWidth: ow, outChannels: co } = info;
  const { filterHeight: fh, filterWidth: fw, strideHeight: sh, strideWidth: sw } = info;
  const parts = runner.parts;
  const hp = (oh - 1) * sh + fh;
  const wp = (ow - 1) * sw + fw;
  const padFloats = 2 * Math.ceil((n * hp * wp) / 2);
  const dw = b.makeOutput([fh, fw, 1, co], 'float32');
  const dBias = withBias ? b.makeOutput([co], 'float32') : null;
  const { top, left } = info.padInfo;
  const px = pointer(b, x);
  const pdy = pointer(b, dy);
  const rows = fh * fw + 1; // the taps, then the bias
  // scratch: the padded input, parts × rows·co doubles, parts × (rows + 1)·co floats (a junk row last)
  withScratch(b, padFloats + parts * (3 * rows + 1) * co, (scratch) => {
    const partial = (part: number) => scratch + padFloats * 4 + part * rows * co * 8;
    const acc = (part: number) => scratch + padFloats * 4 + parts * rows * co * 8 + part * (rows + 1) * co * 4;
    runner.parallel('conv2d_filter_grad_c1', (part) => [
      px, ...share(n, parts, part), h, w, pdy, oh, ow, co, fh, fw, sh, sw, top, left, scratch, partial(part), acc(part),
    ]);
    runner.fns.sum_parts(partial(0), parts, rows * co, fh * fw * co, pointer(b, dw));
    if (dBias) runner.fns.sum_parts(partial(0) + (rows - 1) * co * 8, parts, rows * co, co, pointer(b, dBias));
  });
  return [dw, dBias];
}

/**
 * Conv2DBackpropFilter for one input channel and at most 25 taps, dilation 1, channels last (the
 * first layer on grey images), with the direct SIMD loop of wasm/fused.c; null when the case or
 * the backend is not one it covers (then the caller uses im2col). Called by
 * conv2dBackpropFilter.ts; off with FLOWTUNE_WASM_PATCHES_OFF=FilterGradC1.
 */
export function conv2dFilterGradC1(
  backend: tf.KernelBackend,
  x: TensorInfo,
  dy: TensorInfo,
  info: ReturnType<typeof tf.backend_util.computeConv2DInfo>,
): TensorInfo | null {
  if (!switches.filterGradC1) return null;
  const { inChannels: ci, outHeight: oh, outWidth: ow, outChannels: co, filterHeight: fh, filterWidth: fw } = info;
  if (ci !== 1 || fh * fw > 25 || co % 4 !== 0 || info.dilationHeight !== 1 || info.dilationWidth !== 1 || oh < 1 || ow < 1) return null;
  if (info.dataFormat !== 'channelsLast' || x.dtype !== 'float32' || dy.dtype !== 'float32') return null;
  const b = backend as unknown as WasmBackendInternals;
  const runner = runnerOrNull(b);
  if (!runner) return null;
  return filterGradC1(b, runner, x, dy, info, false)[0];
}

type ConvC1Attrs = { strides: [number, number] | number; pad: 'same' | 'valid' | number };

/** The conv info when conv2dC1 covers x and filter (one input channel, ≤ 25 taps, filters % 4 = 0), else null. */
function convC1Info(xShape: number[], filterShape: number[], attrs: ConvC1Attrs) {
  if (xShape.length !== 4 || filterShape.length !== 4 || xShape[3] !== 1 || filterShape[2] !== 1) return null;
  if (filterShape[0] * filterShape[1] > 25 || filterShape[3] % 4 !== 0) return null;
  const info = tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides,
    1,
    attrs.pad,
  );
  return info.outHeight >= 1 && info.outWidth >= 1 ? info : null;
}

function conv2dC1Kernel({ inputs, attrs, backend }: KernelArgs<'x' | 'filter' | 'bias'>): TensorInfo {
  const { x, filter, bias } = inputs;
  const info = convC1Info(x.shape, filter.shape, attrs as ConvC1Attrs);
  if (!info) throw new Error('FlowtuneConv2DC1: unsupported shapes');
  return conv2dC1Run(backend, runnerFor(backend)!, x, filter, bias, info);
}

function conv2dC1Run(
  backend: WasmBackendInternals,
  runner: Runner,
  x: TensorInfo,
  filter: TensorInfo,
  bias: TensorInfo | null,
  info: ReturnType<typeof tf.backend_util.computeConv2DInfo>,
): TensorInfo {
  const { batchSize: n, inHeight: h, inWidth: w, outHeight: oh, outWidth: ow, outChannels: co } = info;
  const { filterHeight: fh, filterWidth: fw, strideHeight: sh, strideWidth: sw } = info;
  const y = backend.makeOutput([n, oh, ow, co], 'float32');
  const hp = (oh - 1) * sh + fh;
  const wp = (ow - 1) * sw + fw;
  const [px, pf, py] = [x, filter, y].map((t) => pointer(backend, t));
  // scratch: the padded images, then a zero bias when there is none
  withScratch(backend, 4 * Math.ceil((n * hp * wp) / 4) + co, (xp) => {
    const pb = bias ? pointer(backend, bias) : xp + 4 * 4 * Math.ceil((n * hp * wp) / 4);
    if (!bias) new Float32Array(backendMemory(backend)!.buffer, pb, co).fill(0);
    runner.parallel('conv2d_c1_forward', (part) => [
      px, ...share(n, runner.parts, part), h, w, pf, pb, oh, ow, co, fh, fw, sh, sw, info.padInfo.top, info.padInfo.left, xp, py,
    ]);
  });
  return y;
}

/**
 * The FusedConv2D kernel's case of one input channel (≤ 25 taps, filters % 4 = 0, dilation 1,
 * linear activation, channels last): the first layer in inference (evaluation), with the same SIMD
 * loop as conv2dC1; null when it does not apply or ConvC1 is off (then XNNPACK's). Called by patches.ts.
 */
export function conv2dC1Inference(
  backend: tf.KernelBackend,
  x: TensorInfo,
  filter: TensorInfo,
  bias: TensorInfo | null,
  attrs: ConvC1Attrs & { dilations?: number | [number, number] },
): TensorInfo | null {
  if (tf.getKernel(CONV_C1_KERNEL_NAME, 'wasm') === undefined) return null; // the ConvC1 lever is off
  if (x.dtype !== 'float32' || filter.dtype !== 'float32' || (bias && (bias.dtype !== 'float32' || bias.shape.length !== 1 || bias.shape[0] !== filter.shape[3]))) return null;
  const dilations = attrs.dilations ?? 1;
  if ((Array.isArray(dilations) ? dilations : [dilations, dilations]).some((d) => d !== 1)) return null;
  const co = filter.shape[3];
  if (co % 4 !== 0 && filter.shape.length === 4 && filter.shape[2] === 1 && switches.channelPadding) {
    // Filters not a multiple of 4: zero filters widen it, their outputs are dropped (ChannelPadding).
    const b = backend as unknown as WasmBackendInternals;
    const runner = runnerOrNull(b);
    if (!runner) return null;
    const taps = filter.shape[0] * filter.shape[1];
    return withWideChannels(b, runner, [x, 1], [filter, [taps, 1, co]], bias, (xw, fwide, bw) => conv2dC1Inference(backend, xw, fwide, bw, attrs), false);
  }
  const info = convC1Info(x.shape, filter.shape, attrs);
  if (!info) return null;
  const b = backend as unknown as WasmBackendInternals;
  const runner = runnerOrNull(b);
  return runner ? conv2dC1Run(b, runner, x, filter, bias, info) : null;
}

/**
 * conv2d(x, filter) + bias, channels last, dilation 1, for one input channel and at most 25 taps
 * (the first layer on grey images) with the direct SIMD loop of wasm/fused.c (XNNPACK's
 * convolution is slow for one input channel); null when it does not apply (then use
 * tf.fused.conv2d). Not differentiable by itself: the caller's custom gradient provides that.
 */
export function conv2dC1(x: tf.Tensor4D, filter: tf.Tensor4D, bias: tf.Tensor1D, attrs: ConvC1Attrs): tf.Tensor4D | null {
  const co = filter.shape[3];
  if (co % 4 !== 0 && filter.rank === 4 && bias.rank === 1 && bias.shape[0] === co) {
    // Filters not a multiple of 4: zero filters widen it, their outputs are dropped (ChannelPadding).
    if (!switches.channelPadding) return null;
    const extra = up4(co) - co;
    const [filterWide, biasWide] = [tf.pad(filter, [[0, 0], [0, 0], [0, 0], [0, extra]]) as tf.Tensor4D, tf.pad(bias, [[0, extra]]) as tf.Tensor1D];
    const wide = conv2dC1(x, filterWide, biasWide, attrs);
    tf.dispose([filterWide, biasWide]);
    if (!wide) return null;
    const y = tf.slice(wide, [0, 0, 0, 0], [-1, -1, -1, co]);
    wide.dispose();
    return y;
  }
  if (x.dtype !== 'float32' || filter.dtype !== 'float32' || bias.dtype !== 'float32') return null;
  if (bias.rank !== 1 || bias.shape[0] !== filter.shape[3] || !convC1Info(x.shape, filter.shape, attrs)) return null;
  if (!fusedKernelsAvailable([CONV_C1_KERNEL_NAME])) return null;
  return tf.engine().runKernel(CONV_C1_KERNEL_NAME, { x, filter, bias }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor4D;
}

function conv2dC1GradKernel({ inputs, attrs, backend }: KernelArgs<'x' | 'dy'>): TensorInfo[] {
  const { x, dy } = inputs;
  const info = convC1Info(x.shape, (attrs as { filterShape: number[] }).filterShape, attrs as ConvC1Attrs);
  if (!info) throw new Error('FlowtuneConv2DC1Grad: unsupported shapes');
  const [dw, dBias] = filterGradC1(backend, runnerFor(backend)!, x, dy, info, true);
  return [dw, dBias!];
}

/**
 * The filter and bias gradients of `conv2dC1` (dy: the gradient of its output) in one pass over
 * dy; null when conv2dC1 does not apply.
 */
export function conv2dC1Grad(x: tf.Tensor4D, dy: tf.Tensor4D, filterShape: number[], attrs: ConvC1Attrs): [tf.Tensor4D, tf.Tensor1D] | null {
  const co = filterShape[3];
  if (co % 4 !== 0 && dy.rank === 4 && dy.shape[3] === co) {
    // The gradients of the widened convolution (dy widened with zeros), the extra filters dropped.
    if (!switches.channelPadding) return null;
    const extra = up4(co) - co;
    const dyWide = tf.pad(dy, [[0, 0], [0, 0], [0, 0], [0, extra]]) as tf.Tensor4D;
    const wide = conv2dC1Grad(x, dyWide, [...filterShape.slice(0, 3), co + extra], attrs);
    dyWide.dispose();
    if (!wide) return null;
    const out: [tf.Tensor4D, tf.Tensor1D] = [tf.slice(wide[0], [0, 0, 0, 0], [-1, -1, -1, co]), tf.slice(wide[1], 0, co)];
    tf.dispose(wide);
    return out;
  }
  if (x.dtype !== 'float32' || dy.dtype !== 'float32' || !convC1Info(x.shape, filterShape, attrs)) return null;
  if (!fusedKernelsAvailable([CONV_C1_GRAD_KERNEL_NAME])) return null;
  const [dw, dBias] = tf.engine().runKernel(CONV_C1_GRAD_KERNEL_NAME, { x, dy }, { ...attrs, filterShape } as unknown as tf.NamedAttrMap) as tf.Tensor[];
  return [dw as tf.Tensor4D, dBias as tf.Tensor1D];
}

/** The kernel configs kernels/index.ts registers for the wasm backend, by lever name (FLOWTUNE_WASM_PATCHES_OFF). */
export const FUSED_KERNELS: Record<'FusedBlock' | 'ConvC1', readonly tf.KernelConfig[]> = {
  FusedBlock: [
    { kernelName: 'FlowtuneChannelMoments', backendName: 'wasm', kernelFunc: channelMomentsKernel as unknown as tf.KernelFunc },
    { kernelName: 'FlowtuneBnReluPool2', backendName: 'wasm', kernelFunc: bnReluPool2Kernel as unknown as tf.KernelFunc },
    { kernelName: 'FlowtuneBnReluPool2Grad', backendName: 'wasm', kernelFunc: bnReluPool2GradKernel as unknown as tf.KernelFunc },
  ],
  ConvC1: [
    { kernelName: CONV_C1_KERNEL_NAME, backendName: 'wasm', kernelFunc: conv2dC1Kernel as unknown as tf.KernelFunc },
    { kernelName: CONV_C1_GRAD_KERNEL_NAME, backendName: 'wasm', kernelFunc: conv2dC1GradKernel as unknown as tf.KernelFunc },
  ],
};

export interface BnReluPoolOutput {
  /** maxPool2×2/2(relu(batchNorm(x))) */
  y: tf.Tensor4D;
  /** Batch mean per channel (no gradient flows back through it). */
  mean: tf.Tensor1D;
  /** Batch variance per channel, biased. */
  variance: tf.Tensor1D;
}

/**
 * Training-mode batch norm (statistics of the batch) → ReLU → max pool 2×2 stride 2 'valid' of x
 * [n, h, w, c] with the fused kernels; differentiable in x, gamma and beta. Null when they cannot
 * run here (not wasm, c not a multiple of 4, …): then use the unfused ops.
 */
export function bnReluPool2Training(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, epsilon: number): BnReluPoolOutput | null {
  if (x.rank !== 4 || x.dtype !== 'float32' || !fusedKernelsAvailable()) return null;
  const [, h, w, c] = x.shape;
  if (h < 2 || w < 2 || gamma.shape.join() !== String(c) || beta.shape.join() !== String(c)) return null;
  if (c % 4 !== 0) {
    // Channels not a multiple of 4: the block on x, γ and β widened with zeros (ChannelPadding);
    // the extra channels' outputs, statistics and gradients are dropped (pad and slice carry the gradient).
    if (!switches.channelPadding) return null;
    const extra = up4(c) - c;
    const out = bnReluPool2Training(tf.pad(x, [[0, 0], [0, 0], [0, 0], [0, extra]]), tf.pad(gamma, [[0, extra]]), tf.pad(beta, [[0, extra]]), epsilon);
    if (!out) return null;
    const narrow = { y: tf.slice(out.y, [0, 0, 0, 0], [-1, -1, -1, c]), mean: tf.slice(out.mean, 0, c), variance: tf.slice(out.variance, 0, c) };
    tf.dispose([out.mean, out.variance]);
    return narrow;
  }
  const engine = tf.engine();
  // The statistics are computed outside the custom op (closed over, saved for the gradient), so
  // autodiff never walks back through them; their kernel has no gradient of its own.
  const [mean, variance, invStd] = engine.runKernel('FlowtuneChannelMoments', { x }, { epsilon }) as tf.Tensor1D[];
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [xIn, g, b] = args as tf.Tensor[];
    const save = args[3] as tf.GradSaveFunc;
    const [y, sel, xw] = engine.runKernel('FlowtuneBnReluPool2', { x: xIn, mean, invStd, gamma: g, beta: b }, {}) as tf.Tensor[];
    save([xIn, g, sel, xw, mean, invStd]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, gs, sels, xws, means, invs] = saved;
        return engine.runKernel(
          'FlowtuneBnReluPool2Grad',
          { dy, sel: sels, xw: xws, x: xs, mean: means, invStd: invs, gamma: gs },
          {},
        ) as tf.Tensor[];
      },
    };
  });
  const y = op(x, gamma, beta) as tf.Tensor4D;
  invStd.dispose();
  return { y, mean, variance };
}

/** What `bnReluPoolLayersTraining` needs of the three tf.layers layers. */
interface LayerLike {
  getClassName(): string;
  getConfig(): tf.serialization.ConfigDict;
}

/**
 * A tf.layers BatchNormalization → ReLU → MaxPooling2D sequence in training mode with the fused
 * kernels: the same output and moving-statistics updates as applying the three layers (see
 * kernels/batchNorm.ts `batchNormLayerTraining`). Null when the layers or the backend are not a
 * case the kernels cover (then apply the layers).
 */
export function bnReluPoolLayersTraining(
  bn: BatchNormLayerLike,
  relu: LayerLike,
  pool: LayerLike,
  x: tf.Tensor,
): tf.Tensor | null {
  if (relu.getClassName() !== 'ReLU' || pool.getClassName() !== 'MaxPooling2D') return null;
  const reluConfig = relu.getConfig() as { maxValue?: number | null };
  if (reluConfig.maxValue != null) return null;
  const poolConfig = pool.getConfig() as { poolSize?: number[]; strides?: number[]; padding?: string; dataFormat?: string };
  if (
    poolConfig.poolSize?.join() !== '2,2' ||
    poolConfig.strides?.join() !== '2,2' ||
    poolConfig.padding !== 'valid' ||
    (poolConfig.dataFormat ?? 'channelsLast') !== 'channelsLast'
  ) {
    return null;
  }
  const parts = batchNormLayerParts(bn, x);
  if (!parts) return null;
  const out = bnReluPool2Training(x, parts.gamma.read(), parts.beta.read(), parts.epsilon);
  if (!out) return null;
  updateMovingStatistics(parts, out.mean, out.variance);
  out.mean.dispose();
  out.variance.dispose();
  return out.y;
}
