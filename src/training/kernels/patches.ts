/**
 * EVERY change flowtune makes to the behaviour of a tfjs dependency lives in this module and its
 * parts: patches-matmul.ts (BatchMatMul, _FusedMatMul, GatherV2), patches-conv.ts (MaxPoolGrad,
 * Conv2DBackpropInput, FusedConv2D) and threaded-wasm.ts (the threaded build's start-up in Node).
 *
 * These replace kernels of @tensorflow/tfjs-backend-wasm 4.22 that are correct but pathologically
 * slow for training (measured with the bench: see bench/README.md), and one tfjs-core gradient.
 * Each replacement falls back to the original kernel for the cases it does not handle, gives the
 * same numbers as tfjs's cpu backend (checked in test/training/kernels.patches.test.ts), and is
 * applied only when the installed versions are the ones it was written against
 * (`PATCHED_VERSIONS`); test/training/kernels.patches.test.ts fails when they change.
 *
 *  - Identity, Cast (same dtype): the engine clones every tensor it saves for the backward pass
 *    with Identity; wasm copied the data each time. Now it shares it (as the cpu backend does).
 *  - Sum over leading axes (per-channel sums of bias and batch-norm gradients and statistics):
 *    wasm transposed the whole activation, then summed; now XNNPACK's average pooling with one
 *    window over the reduced positions (×their count), about 8× faster on [128, 28, 28, 20].
 *  - Mean over leading axes (batch statistics in tf.moments): the same as Sum.
 *  - FusedBatchNorm (forward) with per-channel statistics: wasm's scalar loop; now per-channel
 *    factors and two XNNPACK broadcasting kernels (x·a + b).
 *  - BatchMatMul with a transposed operand: wasm took a scalar fallback loop; now the operand is
 *    transposed first and the XNNPACK GEMM runs, or, when that moves fewer elements, the product
 *    is computed transposed, (op(b)ᵀ·op(a)ᵀ)ᵀ, and only it is transposed (the fc filter gradient
 *    aᵀ·dy: a [128, 3920] stays, the [10, 3920] product is transposed).
 *  - FusedConv2D without activation, channels last, channel counts multiples of 4 (the deeper
 *    convolutions' forward pass): flowtune's direct SIMD convolution (kernels/direct.ts
 *    `conv2dDirect`), 25–40% faster than XNNPACK's on the bench networks' layers. Else the original.
 *  - _FusedMatMul and BatchMatMul of a fully connected layer with ≤ 12 outputs (the logits): the
 *    product, aᵀ·dy and dy·wᵀ are flowtune's direct SIMD loops (kernels/direct.ts); XNNPACK packed
 *    the weights on every call and left most of its 8-wide tiles empty. Other shapes as before.
 *  - GatherV2 along axis 0 (a mini-batch taken from the uploaded images): wasm's C++ loop copied
 *    element by element with index arithmetic (~4 ms for 128 images); now one copy per row.
 *  - MaxPoolGrad: wasm's C++ kernel took ~28 ms on [128, 28, 28, 20] (2×2 pool); now one JS pass
 *    over the windows, a special case for the common 2×2/2 tiling (same first-maximum rule as the
 *    cpu backend).
 *  - Conv2DBackpropInput with stride 1: wasm used a naive C++ loop; now it is the forward
 *    convolution of dy with the flipped, transposed filter: flowtune's direct SIMD loop
 *    (kernels/direct.ts `conv2dDirect`) when the channel counts are multiples of 4, else XNNPACK's.
 *    Other strides keep the original.
 *  - Threads: tfjs starts only the single-threaded wasm build under Node; threaded-wasm.ts
 *    `startThreadedWasm` starts the threaded SIMD build (XNNPACK with a pool of N threads).
 *  - FusedBatchNorm gradient (tfjs-core, all backends): the original tiles 1/σ to the activation
 *    shape; this one broadcasts. Same formula otherwise.
 */
import * as tf from '@tensorflow/tfjs';
import { callKernel } from './conv2dBackpropFilter.ts';
import { reluDirect, resizeLastAxis, scaleShiftDirect } from './direct.ts';
import { conv2DBackpropInputStride1, fusedConv2DDirect, maxPoolGrad } from './patches-conv.ts';
import { batchMatMulTransposed, fusedMatMulSmallN, gatherRows } from './patches-matmul.ts';
import type { TensorInfo, WasmBackendInternals as WasmBackend } from './runtime.ts';

/** The versions these patches were written and checked against. */
export const PATCHED_VERSIONS = { 'tfjs-core': '4.22.0', 'tfjs-backend-wasm': '4.22.0' } as const;

/** Names of the wasm kernels replaced here. */
export const PATCHED_WASM_KERNELS = [
  'Identity',
  'Cast',
  'Sum',
  'Mean',
  'FusedBatchNorm',
  'BatchMatMul',
  'GatherV2',
  'MaxPoolGrad',
  'Conv2DBackpropInput',
  '_FusedMatMul',
  'FusedConv2D',
  'Relu',
  'Slice',
  'PadV2',
] as const;
export type PatchedKernelName = (typeof PATCHED_WASM_KERNELS)[number];

/** Names of the tfjs-core gradients replaced here. */
export const PATCHED_GRADIENTS = ['FusedBatchNorm'] as const;

const originals = new Map<string, tf.KernelConfig>();
let originalFusedBatchNormGrad: tf.GradConfig | undefined;
let applied = false;

/** The original (unpatched) wasm kernel, for tests and fallbacks. */
export function originalWasmKernel(name: PatchedKernelName): tf.KernelConfig {
  const config = originals.get(name) ?? tf.getKernel(name, 'wasm');
  if (!config) throw new Error(`tfjs-backend-wasm has no ${name} kernel`);
  return config;
}

/** The original tfjs-core FusedBatchNorm gradient, for tests. */
export function originalFusedBatchNormGradient(): tf.GradConfig {
  const config = originalFusedBatchNormGrad ?? tf.getGradient('FusedBatchNorm');
  if (!config) throw new Error('tfjs-core has no FusedBatchNorm gradient');
  return config;
}

/** Whether the patches are in place. */
export function wasmPatchesApplied(): boolean {
  return applied;
}

/**
 * Applies the patches (idempotent). Throws when the installed tfjs is not the version they were
 * written against or a kernel they replace is missing: a dependency update must re-check them.
 */
export function applyWasmPatches(wasmVersion: string, skip: ReadonlySet<string> = new Set()): void {
  if (applied) return;
  const core = tf.version_core;
  if (core !== PATCHED_VERSIONS['tfjs-core'] || wasmVersion !== PATCHED_VERSIONS['tfjs-backend-wasm']) {
    throw new Error(
      `flowtune's tfjs patches (src/training/kernels/patches.ts) were written for tfjs-core ` +
        `${PATCHED_VERSIONS['tfjs-core']} and tfjs-backend-wasm ${PATCHED_VERSIONS['tfjs-backend-wasm']}; ` +
        `found ${core} and ${wasmVersion}. Re-check each patch against the new sources, then update PATCHED_VERSIONS.`,
    );
  }
  const replacements: Record<PatchedKernelName, (original: tf.KernelConfig) => tf.KernelFunc> = {
    Identity: () => identity as unknown as tf.KernelFunc,
    Cast: (original) => castSameDtype(original) as unknown as tf.KernelFunc,
    Sum: (original) => sumLeadingAxes(original) as unknown as tf.KernelFunc,
    Mean: (original) => meanLeadingAxes(original) as unknown as tf.KernelFunc,
    FusedBatchNorm: (original) => fusedBatchNormBroadcast(original) as unknown as tf.KernelFunc,
    BatchMatMul: (original) => batchMatMulTransposed(original) as unknown as tf.KernelFunc,
    GatherV2: (original) => gatherRows(original) as unknown as tf.KernelFunc,
    MaxPoolGrad: () => maxPoolGrad as unknown as tf.KernelFunc,
    Conv2DBackpropInput: (original) => conv2DBackpropInputStride1(original) as unknown as tf.KernelFunc,
    _FusedMatMul: (original) => fusedMatMulSmallN(original) as unknown as tf.KernelFunc,
    FusedConv2D: (original) => fusedConv2DDirect(original) as unknown as tf.KernelFunc,
    Relu: (original) => reluThreaded(original) as unknown as tf.KernelFunc,
    Slice: (original) => sliceLastAxis(original) as unknown as tf.KernelFunc,
    PadV2: (original) => padLastAxis(original) as unknown as tf.KernelFunc,
  };
  for (const name of PATCHED_WASM_KERNELS) {
    const original = tf.getKernel(name, 'wasm');
    if (!original) throw new Error(`tfjs-backend-wasm no longer registers ${name}; re-check src/training/kernels/patches.ts`);
    originals.set(name, original);
  }
  for (const name of PATCHED_WASM_KERNELS) {
    if (skip.has(name)) continue;
    const original = originals.get(name)!;
    tf.unregisterKernel(name, 'wasm');
    tf.registerKernel({
      kernelName: name,
      backendName: 'wasm',
      setupFunc: original.setupFunc,
      disposeFunc: original.disposeFunc,
      kernelFunc: replacements[name](original),
    });
  }
  const grad = tf.getGradient('FusedBatchNorm');
  if (!grad || grad.inputsToSave?.join() !== 'x,mean,variance,scale') {
    throw new Error('tfjs-core FusedBatchNorm gradient changed; re-check src/training/kernels/patches.ts');
  }
  originalFusedBatchNormGrad = grad;
  if (!skip.has('FusedBatchNorm')) tf.registerGradient(fusedBatchNormGradConfig);
  applied = true;
}


// ───────────────────────────── Identity, Cast ─────────────────────────────

function identity(args: { inputs: { x: TensorInfo }; backend: WasmBackend }): TensorInfo {
  const { x } = args.inputs;
  args.backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

function castSameDtype(original: tf.KernelConfig) {
  return (args: { inputs: { x: TensorInfo }; attrs: { dtype: tf.DataType }; backend: WasmBackend }): TensorInfo =>
    args.inputs.x.dtype === args.attrs.dtype
      ? identity(args)
      : (original.kernelFunc(args as unknown as Parameters<tf.KernelFunc>[0]) as TensorInfo);
}

// ───────────────────────────── Sum, Mean ─────────────────────────────

/**
 * Sum (or mean) over the leading axes of a float32 tensor via XNNPACK average pooling, or null
 * when the case is not one this handles (then the caller runs the original kernel).
 */
function reduceLeading(
  original: tf.KernelConfig,
  args: { inputs: { x: TensorInfo }; attrs: { axis: number | number[]; keepDims: boolean }; backend: WasmBackend },
  mean: boolean,
): TensorInfo | null {
  const { x } = args.inputs;
  const { axis, keepDims } = args.attrs;
  const backend = args.backend;
  const rank = x.shape.length;
  const axes = tf.util.parseAxisParam(axis, x.shape).sort((a, b) => a - b);
  const leading = axes.length > 0 && axes.length < rank && axes.every((a, i) => a === i);
  if (x.dtype !== 'float32' || !leading) return null;
  const outer = x.shape.slice(0, axes.length).reduce((a, b) => a * b, 1);
  const inner = x.shape.slice(axes.length).reduce((a, b) => a * b, 1);
  if (outer < 64 || inner === 0) return null;
  // [d0, rest, 1, inner] --average pool over a (rest × 1) window--> [d0, 1, 1, inner] means,
  // then the original Sum over d0 (small), then × rest (sum) or ÷ d0 (mean).
  const d0 = axes.length > 1 ? x.shape[0] : 1;
  const rest = outer / d0;
  const view = { dataId: x.dataId, shape: [d0, rest, 1, inner], dtype: x.dtype };
  const pooled = callKernel('AvgPool', backend, { x: view }, { filterSize: [rest, 1], strides: [rest, 1], pad: 'valid' });
  const temps: TensorInfo[] = [pooled];
  try {
    const means = { dataId: pooled.dataId, shape: [d0, inner], dtype: pooled.dtype };
    let summed = means;
    if (d0 > 1) {
      const sumKernel = mean ? originals.get('Sum') ?? tf.getKernel('Sum', 'wasm')! : original;
      summed = sumKernel.kernelFunc({ inputs: { x: means }, attrs: { axis: [0], keepDims: false }, backend } as never) as TensorInfo;
      temps.push(summed);
    }
    const outShape = keepDims ? x.shape.map((d, i) => (i < axes.length ? 1 : d)) : x.shape.slice(axes.length);
    const out = backend.makeOutput(outShape, 'float32');
    const src = backend.typedArrayFromHeap(summed);
    const dst = backend.typedArrayFromHeap(out);
    const factor = mean ? 1 / d0 : rest;
    for (let j = 0; j < inner; j++) dst[j] = src[j] * factor;
    return out;
  } finally {
    for (const t of temps) backend.disposeData(t.dataId);
  }
}

type ReduceArgs = { inputs: { x: TensorInfo }; attrs: { axis: number | number[]; keepDims: boolean }; backend: WasmBackend };

function sumLeadingAxes(original: tf.KernelConfig) {
  return (args: ReduceArgs): TensorInfo => reduceLeading(original, args, false) ?? (original.kernelFunc(args as never) as TensorInfo);
}

function meanLeadingAxes(original: tf.KernelConfig) {
  return (args: ReduceArgs): TensorInfo => reduceLeading(original, args, true) ?? (original.kernelFunc(args as never) as TensorInfo);
}

// ───────────────────────────── FusedBatchNorm (forward) ─────────────────────────────

/**
 * y = x·a + b with a = scale/√(variance+ε), b = offset − mean·a per channel: two XNNPACK
 * broadcasting kernels instead of wasm's scalar loop. Only for per-channel ([C]) statistics.
 */
function fusedBatchNormBroadcast(original: tf.KernelConfig) {
  return (args: {
    inputs: { x: TensorInfo; mean: TensorInfo; variance: TensorInfo; offset?: TensorInfo; scale?: TensorInfo };
    attrs: { varianceEpsilon: number };
    backend: WasmBackend;
  }): TensorInfo => {
    const { x, mean, variance, offset, scale } = args.inputs;
    const backend = args.backend;
    const c = x.shape[x.shape.length - 1];
    const perChannel = (t: TensorInfo | undefined) => t == null || (t.shape.length === 1 && t.shape[0] === c);
    if (x.dtype !== 'float32' || x.shape.length < 2 || ![mean, variance, offset, scale].every(perChannel)) {
      return original.kernelFunc(args as never) as TensorInfo;
    }
    const a = backend.makeOutput([c], 'float32');
    const b = backend.makeOutput([c], 'float32');
    try {
      const av = backend.typedArrayFromHeap(a);
      const bv = backend.typedArrayFromHeap(b);
      const m = backend.typedArrayFromHeap(mean);
      const v = backend.typedArrayFromHeap(variance);
      const g = scale ? backend.typedArrayFromHeap(scale) : null;
      const o = offset ? backend.typedArrayFromHeap(offset) : null;
      for (let j = 0; j < c; j++) {
        // Math.fround: the same float32 steps as the original (rsqrt, then products).
        const inv = Math.fround(1 / Math.fround(Math.sqrt(Math.fround(v[j] + args.attrs.varianceEpsilon))));
        av[j] = g ? Math.fround(g[j] * inv) : inv;
        bv[j] = (o ? o[j] : 0) - Math.fround(m[j] * av[j]);
      }
      // One threaded SIMD pass (kernels/direct.ts, lever Elementwise) where it applies, else Multiply then Add.
      const direct = scaleShiftDirect(backend, x, a, b);
      if (direct) return direct;
      const scaled = callKernel('Multiply', backend, { a: x, b: a }, {});
      try {
        return callKernel('Add', backend, { a: scaled, b }, {});
      } finally {
        backend.disposeData(scaled.dataId);
      }
    } finally {
      backend.disposeData(a.dataId);
      backend.disposeData(b.dataId);
    }
  };
}

// ───────────────────────────── Relu ─────────────────────────────

/** Relu in one threaded SIMD pass (kernels/direct.ts `reluDirect`, lever Elementwise; wasm's is a single-threaded loop), else the original. */
function reluThreaded(original: tf.KernelConfig) {
  return (args: { inputs: { x: TensorInfo }; backend: WasmBackend }): TensorInfo =>
    reluDirect(args.backend, args.inputs.x) ?? (original.kernelFunc(args as never) as TensorInfo);
}

// ───────────────────────────── Slice, PadV2 of the last axis ─────────────────────────────

/** Slice keeping every leading axis whole and the first entries of the last (the channel padding's narrowing): one threaded pass (kernels/direct.ts `resizeLastAxis`), else the original. */
function sliceLastAxis(original: tf.KernelConfig) {
  return (args: { inputs: { x: TensorInfo }; attrs: { begin: number | number[]; size: number | number[] }; backend: WasmBackend }): TensorInfo => {
    const { x } = args.inputs;
    const { begin, size } = args.attrs;
    const rank = x.shape.length;
    if (Array.isArray(begin) && Array.isArray(size) && begin.length === rank && size.length === rank && rank >= 2) {
      const last = size[rank - 1] === -1 ? x.shape[rank - 1] - begin[rank - 1] : size[rank - 1];
      const whole = x.shape.slice(0, -1).every((d, i) => begin[i] === 0 && (size[i] === -1 || size[i] === d));
      if (whole && begin[rank - 1] === 0 && last < x.shape[rank - 1]) {
        const y = resizeLastAxis(args.backend, x, last);
        if (y) return y;
      }
    }
    return original.kernelFunc(args as never) as TensorInfo;
  };
}

/** Zero padding at the end of the last axis only (the channel padding's widening): one threaded pass, else the original. */
function padLastAxis(original: tf.KernelConfig) {
  return (args: { inputs: { x: TensorInfo }; attrs: { paddings: Array<[number, number]>; constantValue: number }; backend: WasmBackend }): TensorInfo => {
    const { x } = args.inputs;
    const { paddings, constantValue } = args.attrs;
    const rank = x.shape.length;
    if (constantValue === 0 && rank >= 2 && paddings.length === rank && paddings.every(([a, b], i) => a === 0 && (b === 0 || i === rank - 1)) && paddings[rank - 1][1] > 0) {
      const y = resizeLastAxis(args.backend, x, x.shape[rank - 1] + paddings[rank - 1][1]);
      if (y) return y;
    }
    return original.kernelFunc(args as never) as TensorInfo;
  };
}

// ───────────────────────────── FusedBatchNorm gradient ─────────────────────────────

/** tfjs-core's FusedBatchNorm gradient, with broadcasting where it tiled. */
const fusedBatchNormGradConfig: tf.GradConfig = {
  kernelName: 'FusedBatchNorm',
  inputsToSave: ['x', 'mean', 'variance', 'scale'],
  gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
    const dyT = dy as tf.Tensor;
    const varianceEpsilon = attrs.varianceEpsilon as number;
    const [x, mean, variance, scale] = saved;
    const scaleValue = scale == null ? tf.scalar(1) : scale;
    const reductionAxes = tf.backend_util.getReductionAxes(mean.shape, x.shape);
    const perChannel = mean.rank === 1;
    const oneOverSqrtVariance = tf.rsqrt(tf.add(variance, tf.scalar(varianceEpsilon)));
    const reduce = (t: tf.Tensor) => (perChannel ? tf.sum(t, reductionAxes) : t);
    return {
      x: () => tf.reshape(tf.mul(dyT, tf.mul(oneOverSqrtVariance, scaleValue)), x.shape),
      mean: () => tf.reshape(reduce(tf.mul(dyT, tf.mul(tf.neg(oneOverSqrtVariance), scaleValue))), mean.shape),
      variance: () => {
        const minusHalfRCube = tf.mul(tf.pow(oneOverSqrtVariance, 3), tf.scalar(-0.5));
        return tf.reshape(reduce(tf.mul(tf.mul(dyT, tf.sub(x, mean)), tf.mul(minusHalfRCube, scaleValue))), mean.shape);
      },
      scale: () => tf.reshape(reduce(tf.mul(dyT, tf.mul(tf.sub(x, mean), oneOverSqrtVariance))), mean.shape),
      offset: () => tf.reshape(reduce(dyT), mean.shape),
    };
  },
};
