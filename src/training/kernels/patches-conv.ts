/**
 * Patched wasm kernels of convolutions and pooling (patches.ts applies them; same numbers as the
 * cpu backend, test/training/kernels.patches.test.ts): MaxPoolGrad, Conv2DBackpropInput with
 * stride 1, FusedConv2D without activation (kernels/direct.ts `conv2dDirect`, fused.ts's first layer).
 */
import * as tf from '@tensorflow/tfjs';
import { callKernel } from './conv2dBackpropFilter.ts';
import { conv2dDirect } from './direct.ts';
import { conv2dC1Inference } from './fused.ts';
import type { TensorInfo, WasmBackendInternals as WasmBackend } from './runtime.ts';

// ───────────────────────────── MaxPoolGrad ─────────────────────────────

export function maxPoolGrad(args: {
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

export function conv2DBackpropInputStride1(original: tf.KernelConfig) {
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
      // flowtune's direct SIMD convolution when it applies (kernels/direct.ts), else XNNPACK's.
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

/** conv2d + bias without activation, channels last, dilation 1: kernels/direct.ts `conv2dDirect` when it applies; else the original. */
export function fusedConv2DDirect(original: tf.KernelConfig) {
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
