/**
 * Patched wasm kernels of matrix products and gathers (patches.ts applies them; same numbers as
 * the cpu backend, test/training/kernels.patches.test.ts): BatchMatMul with a transposed operand,
 * _FusedMatMul and BatchMatMul with ≤ 12 outputs (kernels/direct.ts's loops), GatherV2 of rows.
 */
import * as tf from '@tensorflow/tfjs';
import { denseSmallN, denseSmallNGradInput, denseSmallNGradWeights } from './direct.ts';
import type { TensorInfo, WasmBackendInternals as WasmBackend } from './runtime.ts';

// ───────────────────────────── BatchMatMul ─────────────────────────────

export function batchMatMulTransposed(original: tf.KernelConfig) {
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
    // A fully connected layer with few outputs (kernels/direct.ts): its product, weight gradient
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

/** a·b + bias with few outputs (no transposes, no activation): kernels/direct.ts `denseSmallN`; else the original. */
export function fusedMatMulSmallN(original: tf.KernelConfig) {
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

export function gatherRows(original: tf.KernelConfig) {
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
