/**
 * EVERY change flowtune makes to the behaviour of a tfjs dependency lives in this module.
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
 *    convolutions' forward pass): flowtune's direct SIMD convolution (kernels/fused.ts
 *    `conv2dDirect`), 25–40% faster than XNNPACK's on the bench networks' layers. Else the original.
 *  - _FusedMatMul and BatchMatMul of a fully connected layer with ≤ 12 outputs (the logits): the
 *    product, aᵀ·dy and dy·wᵀ are flowtune's direct SIMD loops (kernels/fused.ts); XNNPACK packed
 *    the weights on every call and left most of its 8-wide tiles empty. Other shapes as before.
 *  - GatherV2 along axis 0 (a mini-batch taken from the uploaded images): wasm's C++ loop copied
 *    element by element with index arithmetic (~4 ms for 128 images); now one copy per row.
 *  - MaxPoolGrad: wasm's C++ kernel took ~28 ms on [128, 28, 28, 20] (2×2 pool); now one JS pass
 *    over the windows, a special case for the common 2×2/2 tiling (same first-maximum rule as the
 *    cpu backend).
 *  - Conv2DBackpropInput with stride 1: wasm used a naive C++ loop; now it is the forward
 *    convolution of dy with the flipped, transposed filter: flowtune's direct SIMD loop
 *    (kernels/fused.ts `conv2dDirect`) when the channel counts are multiples of 4, else XNNPACK's.
 *    Other strides keep the original.
 *  - Threads: tfjs starts only the single-threaded wasm build under Node; `startThreadedWasm`
 *    starts the threaded SIMD build (XNNPACK with a pool of N threads). See its comment.
 *  - FusedBatchNorm gradient (tfjs-core, all backends): the original tiles 1/σ to the activation
 *    shape; this one broadcasts. Same formula otherwise.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { callKernel } from './conv2dBackpropFilter.ts';
import { conv2dC1Inference, conv2dDirect, denseSmallN, reluDirect, resizeLastAxis, scaleShiftDirect, denseSmallNGradInput, denseSmallNGradWeights } from './fused.ts';

type TensorInfo = tf.TensorInfo;

/** The wasm backend as these kernels use it (its public-but-untyped internals). */
interface WasmBackend extends tf.KernelBackend {
  makeOutput(shape: number[], dtype: tf.DataType): TensorInfo;
  typedArrayFromHeap(t: TensorInfo): Float32Array | Int32Array | Uint8Array;
  disposeData(dataId: object, force?: boolean): boolean;
  incRef(dataId: object): void;
}

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
      // One threaded SIMD pass (kernels/fused.ts, lever Elementwise) where it applies, else Multiply then Add.
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

/** Relu in one threaded SIMD pass (kernels/fused.ts `reluDirect`, lever Elementwise; wasm's is a single-threaded loop), else the original. */
function reluThreaded(original: tf.KernelConfig) {
  return (args: { inputs: { x: TensorInfo }; backend: WasmBackend }): TensorInfo =>
    reluDirect(args.backend, args.inputs.x) ?? (original.kernelFunc(args as never) as TensorInfo);
}

// ───────────────────────────── Slice, PadV2 of the last axis ─────────────────────────────

/** Slice keeping every leading axis whole and the first entries of the last (the channel padding's narrowing): one threaded pass (kernels/fused.ts `resizeLastAxis`), else the original. */
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

// ───────────────────────────── BatchMatMul ─────────────────────────────

function batchMatMulTransposed(original: tf.KernelConfig) {
  return (args: {
    inputs: { a: TensorInfo; b: TensorInfo };
    attrs: { transposeA: boolean; transposeB: boolean };
    backend: WasmBackend;
  }): TensorInfo => {
    const { a, b } = args.inputs;
    const { transposeA, transposeB } = args.attrs;
    const backend = args.backend;
    const batchA = a.shape.slice(0, -2).reduce((p, d) => p * d, 1);
    const batchB = b.shape.slice(0, -2).reduce((p, d) => p * d, 1);
    if (batchA !== 1 || batchB !== 1 || a.dtype !== 'float32' || b.dtype !== 'float32') {
      return original.kernelFunc(args as never) as TensorInfo;
    }
    const [ra, ca] = a.shape.slice(-2);
    const [rb, cb] = b.shape.slice(-2);
    const [k, m] = transposeA ? [ra, ca] : [ca, ra];
    const n = transposeB ? rb : cb;
    const outShape = [...(a.shape.length > b.shape.length ? a.shape : b.shape).slice(0, -2), m, n];
    // A fully connected layer with few outputs (kernels/fused.ts): its product, weight gradient
    // aᵀ·dy and input gradient dy·wᵀ as direct SIMD loops.
    const a2 = { dataId: a.dataId, shape: [ra, ca], dtype: a.dtype };
    const b2 = { dataId: b.dataId, shape: [rb, cb], dtype: b.dtype };
    const small =
      !transposeA && !transposeB
        ? denseSmallN(backend, a2, b2, null)
        : transposeA && !transposeB
          ? denseSmallNGradWeights(backend, a2, b2)
          : !transposeA && transposeB
            ? denseSmallNGradInput(backend, a2, b2)
            : null;
    if (small) return { ...small, shape: outShape };
    if (!transposeA && !transposeB) return original.kernelFunc(args as never) as TensorInfo;
    const temps: TensorInfo[] = [];
    // Elements moved by transposes: out = op(a)·op(b) directly, or out = (op(b)ᵀ·op(a)ᵀ)ᵀ, where
    // op(b)ᵀ is b itself when transposeB (likewise a) and only the small product is transposed.
    const direct = (transposeA ? k * m : 0) + (transposeB ? k * n : 0);
    const swapped = (transposeB ? 0 : k * n) + (transposeA ? 0 : k * m) + m * n;
    try {
      if (swapped < direct) {
        const lhs = transpose2d(backend, b, !transposeB, temps); // [n, k]
        const rhs = transpose2d(backend, a, !transposeA, temps); // [k, m]
        const outT = original.kernelFunc({ inputs: { a: lhs, b: rhs }, attrs: { transposeA: false, transposeB: false }, backend } as never) as TensorInfo;
        temps.push(outT);
        const out = transpose2d(backend, { dataId: outT.dataId, shape: [n, m], dtype: outT.dtype }, true, []); // [m, n]
        return { ...out, shape: outShape };
      }
      const as2 = transpose2d(backend, a, transposeA, temps);
      const bs2 = transpose2d(backend, b, transposeB, temps);
      const out = original.kernelFunc({
        inputs: { a: as2, b: bs2 },
        attrs: { transposeA: false, transposeB: false },
        backend,
      } as never) as TensorInfo;
      return { ...out, shape: outShape };
    } finally {
      for (const t of temps) backend.disposeData(t.dataId);
    }
  };
}

/** The 2-D matrix of a batch-1 operand, transposed when asked (JS loop: small matrices, no wasm call). */
function transpose2d(backend: WasmBackend, t: TensorInfo, transpose: boolean, temps: TensorInfo[]): TensorInfo {
  const rows = t.shape[t.shape.length - 2];
  const cols = t.shape[t.shape.length - 1];
  if (!transpose) return { dataId: t.dataId, shape: [rows, cols], dtype: t.dtype };
  const out = backend.makeOutput([cols, rows], 'float32');
  temps.push(out);
  const src = backend.typedArrayFromHeap(t);
  const dst = backend.typedArrayFromHeap(out);
  // Blocked transpose for cache friendliness.
  const block = 32;
  for (let r0 = 0; r0 < rows; r0 += block) {
    const r1 = Math.min(rows, r0 + block);
    for (let c0 = 0; c0 < cols; c0 += block) {
      const c1 = Math.min(cols, c0 + block);
      for (let r = r0; r < r1; r++) {
        const base = r * cols;
        for (let c = c0; c < c1; c++) dst[c * rows + r] = src[base + c];
      }
    }
  }
  return out;
}

// ───────────────────────────── _FusedMatMul ─────────────────────────────

/** a·b + bias with few outputs (no transposes, no activation): kernels/fused.ts `denseSmallN`; else the original. */
function fusedMatMulSmallN(original: tf.KernelConfig) {
  return (args: {
    inputs: { a: TensorInfo; b: TensorInfo; bias?: TensorInfo; preluActivationWeights?: TensorInfo };
    attrs: { transposeA: boolean; transposeB: boolean; activation?: string };
    backend: WasmBackend;
  }): TensorInfo => {
    const { a, b, bias, preluActivationWeights } = args.inputs;
    const { transposeA, transposeB, activation } = args.attrs;
    const batchA = a.shape.slice(0, -2).reduce((p, d) => p * d, 1);
    const batchB = b.shape.slice(0, -2).reduce((p, d) => p * d, 1);
    if (!transposeA && !transposeB && preluActivationWeights == null && (activation == null || activation === 'linear') && batchA === 1 && batchB === 1) {
      const [m, k] = a.shape.slice(-2);
      const [k2, n] = b.shape.slice(-2);
      const y = denseSmallN(
        args.backend,
        { dataId: a.dataId, shape: [m, k], dtype: a.dtype },
        { dataId: b.dataId, shape: [k2, n], dtype: b.dtype },
        bias ?? null,
      );
      if (y) return { ...y, shape: [...(a.shape.length > b.shape.length ? a.shape : b.shape).slice(0, -2), m, n] };
    }
    return original.kernelFunc(args as never) as TensorInfo;
  };
}

// ───────────────────────────── GatherV2 ─────────────────────────────

function gatherRows(original: tf.KernelConfig) {
  return (args: {
    inputs: { x: TensorInfo; indices: TensorInfo };
    attrs: { axis: number; batchDims: number };
    backend: WasmBackend;
  }): TensorInfo => {
    const { x, indices } = args.inputs;
    const backend = args.backend;
    const axis = tf.util.parseAxisParam(args.attrs.axis, x.shape)[0];
    if (axis !== 0 || (args.attrs.batchDims ?? 0) !== 0 || x.dtype === 'string' || x.dtype === 'complex64' || indices.dtype !== 'int32') {
      return original.kernelFunc(args as never) as TensorInfo;
    }
    const rows = x.shape[0];
    const row = x.shape.slice(1).reduce((a, b) => a * b, 1);
    const idx = backend.typedArrayFromHeap(indices);
    for (let i = 0; i < idx.length; i++) {
      // The original's check and message.
      if (!(idx[i] <= rows - 1 && idx[i] >= 0)) throw new Error(`GatherV2: the index value ${idx[i]} is not in [0, ${rows - 1}]`);
    }
    const out = backend.makeOutput([...indices.shape, ...x.shape.slice(1)], x.dtype);
    const src = backend.typedArrayFromHeap(x);
    const dst = backend.typedArrayFromHeap(out);
    const at = backend.typedArrayFromHeap(indices); // re-read: makeOutput may have moved the heap
    for (let i = 0; i < at.length; i++) dst.set(src.subarray(at[i] * row, (at[i] + 1) * row), i * row);
    return out;
  };
}

// ───────────────────────────── MaxPoolGrad ─────────────────────────────

function maxPoolGrad(args: {
  inputs: { dy: TensorInfo; input: TensorInfo; output: TensorInfo };
  attrs: {
    filterSize: [number, number] | number;
    strides: [number, number] | number;
    pad: 'valid' | 'same' | number;
    dimRoundingMode?: 'floor' | 'round' | 'ceil';
  };
  backend: WasmBackend;
}): TensorInfo {
  const { dy, input } = args.inputs;
  const { filterSize, strides, pad, dimRoundingMode } = args.attrs;
  const backend = args.backend;
  const info = tf.backend_util.computePool2DInfo(
    input.shape as [number, number, number, number],
    filterSize,
    strides,
    1,
    pad,
    dimRoundingMode,
  );
  const dx = backend.makeOutput(input.shape, 'float32');
  const x = backend.typedArrayFromHeap(input);
  const g = backend.typedArrayFromHeap(dy);
  const out = backend.typedArrayFromHeap(dx);
  const { batchSize, inHeight, inWidth, inChannels: c, outHeight, outWidth, strideHeight, strideWidth } = info;
  const fh = info.effectiveFilterHeight;
  const fw = info.effectiveFilterWidth;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  if (fh === 2 && fw === 2 && strideHeight === 2 && strideWidth === 2 && inHeight === 2 * outHeight && inWidth === 2 * outWidth) {
    maxPoolGrad2x2(x, g, out, batchSize * outHeight, outWidth, c);
    return dx;
  }
  out.fill(0);
  let gi = 0;
  for (let b = 0; b < batchSize; b++) {
    const xb = b * inHeight * inWidth * c;
    for (let oh = 0; oh < outHeight; oh++) {
      const r0 = oh * strideHeight - top;
      const rMin = Math.max(0, r0);
      const rMax = Math.min(inHeight, r0 + fh);
      for (let ow = 0; ow < outWidth; ow++) {
        const c0 = ow * strideWidth - left;
        const cMin = Math.max(0, c0);
        const cMax = Math.min(inWidth, c0 + fw);
        for (let d = 0; d < c; d++, gi++) {
          // First maximum in row-major window order, as tfjs's cpu backend (pool_utils.maxPoolPositions).
          let best = Number.NEGATIVE_INFINITY;
          let at = -1;
          for (let r = rMin; r < rMax; r++) {
            let i = xb + (r * inWidth + cMin) * c + d;
            for (let col = cMin; col < cMax; col++, i += c) {
              const v = x[i];
              if (v > best) {
                best = v;
                at = i;
              }
            }
          }
          if (at >= 0) out[at] += g[gi];
        }
      }
    }
  }
  return dx;
}

/**
 * The common 2×2 / stride 2 pool tiling its input exactly: each input position belongs to one
 * window, so every output value is written once (no zero fill, no accumulation). First maximum
 * in row-major order, as the general path; a window with a NaN takes the general rule too.
 */
function maxPoolGrad2x2(
  x: Float32Array | Int32Array | Uint8Array,
  g: Float32Array | Int32Array | Uint8Array,
  out: Float32Array | Int32Array | Uint8Array,
  rows: number, // batch × outHeight
  outWidth: number,
  c: number,
): void {
  const rowStride = 2 * outWidth * c; // one input row
  let gi = 0;
  for (let r = 0; r < rows; r++) {
    const base = 2 * r * rowStride;
    for (let ow = 0; ow < outWidth; ow++) {
      const i0 = base + 2 * ow * c;
      for (let d = 0; d < c; d++, gi++) {
        const i00 = i0 + d;
        const i01 = i00 + c;
        const i10 = i00 + rowStride;
        const i11 = i10 + c;
        const a = x[i00];
        const b = x[i01];
        const e = x[i10];
        const f = x[i11];
        const v = g[gi];
        // Strict ">" from the first element: the first maximum wins, NaN never does.
        let at = a > Number.NEGATIVE_INFINITY ? 0 : -1;
        let best = at === 0 ? a : Number.NEGATIVE_INFINITY;
        if (b > best) {
          best = b;
          at = 1;
        }
        if (e > best) {
          best = e;
          at = 2;
        }
        if (f > best) at = 3;
        out[i00] = at === 0 ? v : 0;
        out[i01] = at === 1 ? v : 0;
        out[i10] = at === 2 ? v : 0;
        out[i11] = at === 3 ? v : 0;
      }
    }
  }
}

// ───────────────────────────── Conv2DBackpropInput ─────────────────────────────

function conv2DBackpropInputStride1(original: tf.KernelConfig) {
  return (args: {
    inputs: { dy: TensorInfo; filter: TensorInfo };
    attrs: {
      strides: [number, number] | number;
      pad: 'valid' | 'same' | number | number[][];
      dataFormat: 'NHWC' | 'NCHW';
      dimRoundingMode?: 'floor' | 'round' | 'ceil';
      inputShape: [number, number, number, number];
    };
    backend: WasmBackend;
  }): TensorInfo => {
    const { dy, filter } = args.inputs;
    const { strides, pad, dataFormat, dimRoundingMode, inputShape } = args.attrs;
    const backend = args.backend;
    const format = tf.backend_util.convertConv2DDataFormat(dataFormat);
    const info = tf.backend_util.computeConv2DInfo(
      inputShape,
      filter.shape as [number, number, number, number],
      strides,
      1,
      pad as 'same',
      dimRoundingMode,
      false,
      format,
    );
    if (info.strideHeight !== 1 || info.strideWidth !== 1 || format !== 'channelsLast' || dy.dtype !== 'float32') {
      return original.kernelFunc(args as never) as TensorInfo;
    }
    const { filterHeight: fh, filterWidth: fw, inChannels: ci, outChannels: co } = info;
    const { top, bottom, left, right } = info.padInfo;
    if (Math.min(fh - 1 - top, fh - 1 - bottom, fw - 1 - left, fw - 1 - right) < 0) {
      return original.kernelFunc(args as never) as TensorInfo;
    }
    // wFlipped[kh, kw, co, ci] = w[fh-1-kh, fw-1-kw, ci, co]
    const flipped = backend.makeOutput([fh, fw, co, ci], 'float32');
    try {
      const w = backend.typedArrayFromHeap(filter);
      const f = backend.typedArrayFromHeap(flipped);
      for (let kh = 0; kh < fh; kh++) {
        for (let kw = 0; kw < fw; kw++) {
          const src = ((fh - 1 - kh) * fw + (fw - 1 - kw)) * ci * co;
          const dst = (kh * fw + kw) * co * ci;
          for (let i = 0; i < ci; i++) {
            for (let o = 0; o < co; o++) f[dst + o * ci + i] = w[src + i * co + o];
          }
        }
      }
      // flowtune's direct SIMD convolution when it applies (kernels/fused.ts), else XNNPACK's.
      const direct = conv2dDirect(backend, dy, flipped, {
        height: inputShape[1],
        width: inputShape[2],
        strideHeight: 1,
        strideWidth: 1,
        top: fh - 1 - top,
        left: fw - 1 - left,
      });
      if (direct) return direct;
      const dx = callKernel(
        'Conv2D',
        backend,
        { x: dy, filter: flipped },
        {
          strides: [1, 1],
          dilations: [1, 1],
          pad: [
            [0, 0],
            [fh - 1 - top, fh - 1 - bottom],
            [fw - 1 - left, fw - 1 - right],
            [0, 0],
          ],
          dataFormat: 'NHWC',
        },
      );
      if (dx.shape.join() !== inputShape.join()) {
        backend.disposeData(dx.dataId);
        return original.kernelFunc(args as never) as TensorInfo;
      }
      return dx;
    } finally {
      backend.disposeData(flipped.dataId);
    }
  };
}

// ───────────────────────────── FusedConv2D ─────────────────────────────

/** conv2d + bias without activation, channels last, dilation 1: kernels/fused.ts `conv2dDirect` when it applies; else the original. */
function fusedConv2DDirect(original: tf.KernelConfig) {
  return (args: {
    inputs: { x: TensorInfo; filter: TensorInfo; bias?: TensorInfo; preluActivationWeights?: TensorInfo };
    attrs: {
      strides: [number, number] | number;
      pad: 'valid' | 'same' | number | number[][];
      dataFormat: 'NHWC' | 'NCHW';
      dilations: [number, number] | number;
      dimRoundingMode?: 'floor' | 'round' | 'ceil';
      activation?: string;
    };
    backend: WasmBackend;
  }): TensorInfo => {
    const { x, filter, bias, preluActivationWeights } = args.inputs;
    const { strides, pad, dataFormat, dilations, dimRoundingMode, activation } = args.attrs;
    const format = tf.backend_util.convertConv2DDataFormat(dataFormat);
    if (format === 'channelsLast' && preluActivationWeights == null && (activation == null || activation === 'linear') && x.shape.length === 4) {
      const info = tf.backend_util.computeConv2DInfo(
        x.shape as [number, number, number, number],
        filter.shape as [number, number, number, number],
        strides,
        dilations ?? 1,
        pad as 'same',
        dimRoundingMode,
        false,
        format,
      );
      if (info.dilationHeight === 1 && info.dilationWidth === 1 && info.inChannels === 1 && typeof pad === 'string') {
        // One input channel (the first layer on grey images, in evaluation): flowtune's loop (ConvC1).
        const y = conv2dC1Inference(args.backend, x, filter, bias ?? null, { strides, pad, dilations });
        if (y) return y;
      }
      if (info.dilationHeight === 1 && info.dilationWidth === 1) {
        const y = conv2dDirect(
          args.backend,
          x,
          filter,
          {
            height: info.outHeight,
            width: info.outWidth,
            strideHeight: info.strideHeight,
            strideWidth: info.strideWidth,
            top: info.padInfo.top,
            left: info.padInfo.left,
          },
          bias ?? null,
        );
        if (y) return y;
      }
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

// ───────────────────────────── threaded wasm in Node ─────────────────────────────

/**
 * Starts tfjs-backend-wasm's threaded SIMD build under Node and registers it as the 'wasm'
 * backend, in place of the single-threaded one tfjs picks in Node. Resolves to the number of
 * threads XNNPACK got.
 *
 * tfjs 4.22 does not do this itself (flags_wasm.js: WASM_HAS_MULTITHREAD_SUPPORT is false under
 * Node, tfjs issue #3830) because its `init()` hands emscripten the pthread worker script and the
 * main script as `blob:` URLs, which Node's worker_threads refuse. Here the same emscripten
 * factory (wasm-out/tfjs-backend-wasm-threaded-simd.js, shipped in the package) gets file paths
 * instead: the worker script (shipped as a string in wasm-out/…worker.js) is written once to the
 * temp folder. Three more adjustments, all local to this start-up:
 *  - emscripten sizes the pool from `os.cpus().length / 2` (it assumes two hyper-threads per
 *    core) and caps the requested count there; `os.cpus` is widened during the factory call only.
 *  - a timer keeps Node's event loop alive while the (unref'd) workers load.
 *  - the module's HEAPU8 view is refreshed when the shared memory has grown (tfjs reads it
 *    directly; emscripten refreshes it only inside its own accessors).
 * The pool's running workers are unref'd after start (see `unrefWasmWorkers`) so the process
 * can still exit when it is done.
 */
export async function startThreadedWasm(threads: number, wasmDir: string): Promise<void> {
  const require = createRequire(import.meta.url);
  const factoryPath = require.resolve('@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.js');
  const workerSource = (require('@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.worker.js') as {
    wasmWorkerContents: string;
  }).wasmWorkerContents;
  // As tfjs's init(): the template string turned "\n" escapes into newlines inside string literals.
  const workerCode = workerSource.replace(/\n/g, '\\n');
  const hash = createHash('sha256').update(workerCode).digest('hex').slice(0, 12);
  const workerPath = join(tmpdir(), `flowtune-tfjs-wasm-${PATCHED_VERSIONS['tfjs-backend-wasm']}-${hash}.worker.cjs`);
  if (!existsSync(workerPath) || readFileSync(workerPath, 'utf8') !== workerCode) {
    const partial = `${workerPath}.${process.pid}.tmp`;
    writeFileSync(partial, workerCode);
    renameSync(partial, workerPath);
  }
  const factory = require(factoryPath) as (config: Record<string, unknown>) => Promise<EmscriptenModule>;
  const wasmBinary = join(wasmDir, 'tfjs-backend-wasm-threaded-simd.wasm');
  const realCpus = os.cpus;
  const keepAlive = setInterval(() => undefined, 1000);
  let mod: EmscriptenModule;
  try {
    os.cpus = () => {
      const cpus = realCpus();
      return Array.from({ length: Math.max(cpus.length, 2 * threads) }, (_, i) => cpus[i % cpus.length]);
    };
    mod = await factory({
      locateFile: (path: string, prefix: string) =>
        path.endsWith('.worker.js') ? workerPath : path.endsWith('.wasm') ? wasmBinary : prefix + path,
      mainScriptUrlOrBlob: factoryPath,
    });
  } finally {
    os.cpus = realCpus;
    clearInterval(keepAlive);
  }
  let heap = mod.HEAPU8;
  Object.defineProperty(mod, 'HEAPU8', {
    configurable: true,
    get: () => (heap.buffer === mod.wasmMemory.buffer ? heap : (heap = new Uint8Array(mod.wasmMemory.buffer))),
    set: (value: Uint8Array) => {
      heap = value;
    },
  });
  mod.tfjs = {
    init: mod.cwrap('init', null, []),
    initWithThreadsCount: mod.cwrap('init_with_threads_count', null, ['number']),
    getThreadsCount: mod.cwrap('get_threads_count', 'number', []),
    registerTensor: mod.cwrap('register_tensor', null, ['number', 'number', 'number']),
    disposeData: mod.cwrap('dispose_data', null, ['number']),
    dispose: mod.cwrap('dispose', null, []),
  };
  const wasm = require('@tensorflow/tfjs-backend-wasm') as {
    BackendWasm: new (module: unknown) => tf.KernelBackend;
    setThreadsCount(n: number): void;
  };
  wasm.setThreadsCount(threads);
  threadedModule = mod;
  tf.removeBackend('wasm');
  tf.registerBackend('wasm', () => new wasm.BackendWasm(mod), 2);
}

/** Lets the process exit although XNNPACK's pool threads (Node workers) wait for work forever. */
export function unrefWasmWorkers(): void {
  for (const worker of threadedModule?.PThread.runningWorkers ?? []) worker.unref();
}

/** Whether the 'wasm' backend is the threaded build started by `startThreadedWasm`. */
export function threadedWasmStarted(): boolean {
  return threadedModule !== null;
}

interface EmscriptenModule {
  HEAPU8: Uint8Array;
  wasmMemory: { buffer: ArrayBufferLike };
  PThread: { runningWorkers: Array<{ unref(): void }> };
  cwrap(name: string, returnType: string | null, argTypes: string[]): (...args: number[]) => number;
  tfjs?: Record<string, unknown>;
}

let threadedModule: EmscriptenModule | null = null;
