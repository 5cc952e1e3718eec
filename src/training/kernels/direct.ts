/**
 * flowtune's direct wasm loops for the kernels patches.ts and conv2dBackpropFilter.ts replace
 * (runtime.ts runs them; formulas in wasm/fused.c): SmallDense (fully connected products with ≤ 12
 * outputs), ConvDirect (register-blocked convolution: FusedConv2D, Conv2DBackpropInput),
 * Elementwise (evaluation's batch norm as x·a + b, ReLU), Winograd / Winograd4 (3×3 and 5×5
 * convolutions and filter gradients, stride 1), ChannelPadding (channel counts widened to a
 * multiple of 4) and FilterGradDirect (Conv2DBackpropFilter for multiples of 4). Each gives the
 * cpu backend's numbers (test/training/kernels.fused.test.ts, kernels.patches.test.ts) and
 * returns null when its case, its lever or the backend is not one it covers.
 */
import * as tf from '@tensorflow/tfjs';
import {
  backendMemory,
  kernelSwitches as switches,
  pointer,
  runnerOrNull,
  share,
  up4,
  withScratch,
  type Runner,
  type TensorInfo,
  type WasmBackendInternals,
} from './runtime.ts';

/** The runner for a small-dense product, or null when it is off or the module cannot run here. */
function smallDenseRunner(backend: tf.KernelBackend, ...ts: TensorInfo[]): Runner | null {
  if (!switches.smallDense || ts.some((t) => t.dtype !== 'float32')) return null;
  return runnerOrNull(backend as unknown as WasmBackendInternals);
}

/** The largest output count the fully connected products take (the logits of up to 12 classes). */
export const SMALL_DENSE_MAX = 12;

/**
 * a [m, k] · w [k, n] (+ bias [n]) for n ≤ 12 (a fully connected layer's logits), a direct SIMD
 * loop (wasm/fused.c fc_forward; XNNPACK packs w on every call and wastes most of its 8-wide
 * tiles); null when it does not apply. The operands are 2-D views of the caller's tensors.
 * Used by patches.ts for _FusedMatMul and BatchMatMul; off with FLOWTUNE_WASM_PATCHES_OFF=SmallDense.
 */
export function denseSmallN(backend: tf.KernelBackend, a: TensorInfo, w: TensorInfo, bias: TensorInfo | null): TensorInfo | null {
  const [m, k] = a.shape;
  const [k2, n] = w.shape;
  if (a.shape.length !== 2 || w.shape.length !== 2 || k !== k2 || n < 1 || n > SMALL_DENSE_MAX || m < 1) return null;
  if (bias && (bias.shape.length !== 1 || bias.shape[0] !== n)) return null;
  const runner = smallDenseRunner(backend, a, w, ...(bias ? [bias] : []));
  if (!runner) return null;
  const b = backend as unknown as WasmBackendInternals;
  const y = b.makeOutput([m, n], 'float32');
  const pa = pointer(b, a);
  const py = pointer(b, y);
  // scratch: w padded to [k, 12], then the bias padded to 12
  withScratch(b, k * 12 + 12, (w12) => {
    const bias12 = w12 + k * 12 * 4;
    runner.fns.pad12(pointer(b, w), k, n, w12);
    runner.fns.pad12(bias ? pointer(b, bias) : 0, 1, bias ? n : 0, bias12);
    runner.parallel('fc_forward', (part) => [pa, ...share(m, runner.parts, part), k, w12, bias12, n, py]);
  });
  return y;
}

/**
 * aᵀ · dy for a [r, k] (k a multiple of 4) and dy [r, n], n ≤ 12 (a fully connected layer's
 * weight gradient): [k, n], a direct SIMD loop (wasm/fused.c fc_grad_wt); null when it does not apply.
 */
export function denseSmallNGradWeights(backend: tf.KernelBackend, a: TensorInfo, dy: TensorInfo): TensorInfo | null {
  const [r, k] = a.shape;
  const [r2, n] = dy.shape;
  if (a.shape.length !== 2 || dy.shape.length !== 2 || r !== r2 || k % 4 !== 0 || k < 4 || n < 1 || n > SMALL_DENSE_MAX) return null;
  const runner = smallDenseRunner(backend, a, dy);
  if (!runner) return null;
  const b = backend as unknown as WasmBackendInternals;
  const out = b.makeOutput([k, n], 'float32');
  const pa = pointer(b, a);
  // scratch: dy padded to [r, 12], then wt [12, k]
  withScratch(b, r * 12 + 12 * k, (dy12) => {
    const wt = dy12 + r * 12 * 4;
    runner.fns.pad12(pointer(b, dy), r, n, dy12);
    runner.parallel('fc_grad_wt', (part) => {
      const [q0, q1] = share(k / 4, runner.parts, part);
      return [pa, r, k, dy12, 4 * q0, 4 * q1, wt];
    });
    runner.fns.transpose(wt, 0, n, n, k, pointer(b, out));
  });
  return out;
}

/**
 * dy · wᵀ for dy [r, n], n ≤ 12, and w [k, n] (k a multiple of 4): the gradient of a fully connected
 * layer's input, [r, k], a direct SIMD loop (wasm/fused.c fc_grad_a); null when it does not apply.
 */
export function denseSmallNGradInput(backend: tf.KernelBackend, dy: TensorInfo, w: TensorInfo): TensorInfo | null {
  const [r, n] = dy.shape;
  const [k, n2] = w.shape;
  if (dy.shape.length !== 2 || w.shape.length !== 2 || n !== n2 || k % 4 !== 0 || k < 4 || n < 1 || n > SMALL_DENSE_MAX) return null;
  const runner = smallDenseRunner(backend, dy, w);
  if (!runner) return null;
  const b = backend as unknown as WasmBackendInternals;
  const out = b.makeOutput([r, k], 'float32');
  const pdy = pointer(b, dy);
  const po = pointer(b, out);
  withScratch(b, n * k, (wt) => {
    runner.fns.transpose(pointer(b, w), 0, k, k, n, wt);
    runner.parallel('fc_grad_a', (part) => [pdy, ...share(r, runner.parts, part), n, wt, k, po]);
  });
  return out;
}

/**
 * A convolution (dilation 1, channels last, optional bias [co]) of x [n, h, w, ci] with filter
 * [fh, fw, ci, co] to [n, oh, ow, co], the input padded by (top, left) (and whatever the output
 * size implies at the bottom and right), ci and co multiples of 4, with the register-blocked SIMD
 * loop of wasm/fused.c; null when it does not apply. Used by patches.ts for FusedConv2D and for
 * Conv2DBackpropInput (the flipped filter); off with FLOWTUNE_WASM_PATCHES_OFF=ConvDirect.
 */
export function conv2dDirect(
  backend: tf.KernelBackend,
  x: TensorInfo,
  filter: TensorInfo,
  out: { height: number; width: number; strideHeight: number; strideWidth: number; top: number; left: number },
  bias: TensorInfo | null = null,
): TensorInfo | null {
  if (!switches.convDirect || x.shape.length !== 4 || filter.shape.length !== 4) return null;
  const [n, h, w, ci] = x.shape;
  const [fh, fw, fci, co] = filter.shape;
  if (fci !== ci || x.dtype !== 'float32' || filter.dtype !== 'float32') return null;
  if (bias && (bias.shape.length !== 1 || bias.shape[0] !== co || bias.dtype !== 'float32')) return null;
  const { height: oh, width: ow, strideHeight: sh, strideWidth: sw, top, left } = out;
  if (oh < 1 || ow < 1 || top < 0 || left < 0) return null;
  const b = backend as unknown as WasmBackendInternals;
  const runner = runnerOrNull(b);
  if (!runner) return null;
  if (ci % 4 !== 0 || co % 4 !== 0) {
    // Channel counts that are not multiples of 4: zeros widen x, the filter and the bias to the
    // next multiple of 4, the kernel runs on those, and the extra output channels are dropped.
    if (!switches.channelPadding || ci < 2) return null; // one input channel: ConvC1's case
    return withWideChannels(b, runner, [x, ci], [filter, [fh * fw, ci, co]], bias, (xw, fwide, bw) =>
      conv2dDirect(backend, xw, fwide, out, bw),
    );
  }
  const y = b.makeOutput([n, oh, ow, co], 'float32');
  const px = pointer(b, x);
  const pf = pointer(b, filter);
  const py = pointer(b, y);
  const pb = bias ? pointer(b, bias) : 0;
  if (switches.winograd && sh === 1 && sw === 1 && fh === fw && (fh === 3 || fh === 5)) {
    winogradConv(runner, b, fh, { px, pf, pb, py }, [n, h, w, ci], [oh, ow, co], top, left);
    return y;
  }
  const hp = (oh - 1) * sh + fh;
  const wp = (ow - 1) * sw + fw;
  withScratch(b, n * hp * wp * ci, (xp) =>
    runner.parallel('conv2d_direct', (part) => [
      px, ...share(n, runner.parts, part), h, w, ci, pf, pb, oh, ow, co, fh, fw, sh, sw, top, left, xp, py,
    ]),
  );
  return y;
}

/**
 * x·a + b per channel (a, b: [c]; c % 4 = 0) in one threaded SIMD pass: FusedBatchNorm with
 * per-channel statistics, whose a and b patches.ts computes; null when it does not apply.
 */
export function scaleShiftDirect(backend: tf.KernelBackend, x: TensorInfo, a: TensorInfo, b: TensorInfo): TensorInfo | null {
  const c = x.shape[x.shape.length - 1];
  if (!switches.elementwise || x.dtype !== 'float32' || c % 4 !== 0 || a.shape.join() !== String(c) || b.shape.join() !== String(c)) return null;
  const be = backend as unknown as WasmBackendInternals;
  const runner = runnerOrNull(be);
  if (!runner) return null;
  const y = be.makeOutput(x.shape, 'float32');
  const positions = tf.util.sizeFromShape(x.shape) / c;
  const [px, pa, pb, py] = [x, a, b, y].map((t) => pointer(be, t));
  runner.parallel('scale_shift', (part) => [px, ...share(positions, runner.parts, part), c, pa, pb, py]);
  return y;
}

/** x ≤ 0 ? +0 : x (NaN passes) in one threaded SIMD pass, for the Relu kernel; null when it does not apply. */
export function reluDirect(backend: tf.KernelBackend, x: TensorInfo): TensorInfo | null {
  if (!switches.elementwise || x.dtype !== 'float32') return null;
  const be = backend as unknown as WasmBackendInternals;
  const runner = runnerOrNull(be);
  if (!runner) return null;
  const size = tf.util.sizeFromShape(x.shape);
  const y = be.makeOutput(x.shape, 'float32');
  if (size === 0) return y;
  const [px, py] = [pointer(be, x), pointer(be, y)];
  runner.parallel('relu', (part) => {
    const [q0, q1] = share(Math.ceil(size / 4), runner.parts, part);
    return [px, 4 * q0, Math.min(size, 4 * q1), py];
  });
  return y;
}

/** Output tiles per chunk of the Winograd kernels (wasm/winograd.py WINO_TILES). */
const WINO_TILES = 32;

/**
 * The Winograd output tile: 4×4 (F(4×4, 3×3): 36 products per 16 outputs, 4× fewer than direct;
 * F(4×4, 5×5): 64 per 16, 6.25× fewer) or, with Winograd4 off, 2×2 (F(2×2, r×r): 2.25× and 2.78×).
 */
function winogradTile(): 2 | 4 {
  return switches.winograd4 ? 4 : 2;
}

/**
 * conv2dDirect's case r×r (r = 3 or 5), stride 1, by Winograd F(2×2, r×r) (wasm/winograd.h):
 * (r + 1)² products per 2×2 output tile instead of 4r², i.e. 2.25× (3×3) and 2.78× (5×5) fewer
 * multiplications, for transforms of the input, filter and output that cost little beside them
 * at the channel counts of flowtune's deeper layers. The filter is transformed once per call.
 */
function winogradConv(
  runner: Runner,
  b: WasmBackendInternals,
  r: 3 | 5,
  p: { px: number; pf: number; pb: number; py: number },
  [n, h, w, ci]: number[],
  [oh, ow, co]: number[],
  top: number,
  left: number,
): void {
  const m = winogradTile();
  const a2 = (m + r - 1) * (m + r - 1);
  const hp = m * Math.ceil(oh / m) + r - 1;
  const wp = m * Math.ceil(ow / m) + r - 1;
  const padFloats = 4 * Math.ceil((n * hp * wp * ci) / 4);
  const uFloats = a2 * ci * co;
  const perPart = a2 * WINO_TILES * (ci + co);
  // scratch: the padded input, the transformed filter, then per part v (a²·tiles·ci) and mt (a²·tiles·co)
  withScratch(b, padFloats + uFloats + runner.parts * perPart, (scratch) => {
    const u = scratch + padFloats * 4;
    const v = (part: number) => u + uFloats * 4 + part * perPart * 4;
    runner.fns[`winograd${m}x${r}_filter`](p.pf, ci, co, u);
    runner.parallel(`conv2d_winograd${m}x${r}`, (part) => [
      p.px, ...share(n, runner.parts, part), h, w, ci, u, p.pb, oh, ow, co, top, left, scratch, v(part), v(part) + a2 * WINO_TILES * ci * 4, p.py,
    ]);
  });
}

/**
 * conv2dFilterGradDirect's case r×r (r = 3 or 5), stride 1, by Winograd F(r×r, 2×2)
 * (wasm/winograd.h): per 2×2 tile of dy, (r + 1)² products per channel pair instead of 4r², summed
 * over tiles in the transformed domain and transformed back once. Per part: float32 sums per image,
 * double across images (as the direct loop); the finish adds the parts and transforms back.
 */
function winogradFilterGrad(
  runner: Runner,
  b: WasmBackendInternals,
  r: 3 | 5,
  p: { px: number; pdy: number; pdw: number },
  [n, h, w, ci]: number[],
  [oh, ow, co]: number[],
  top: number,
  left: number,
): void {
  const m = winogradTile();
  const a2 = (m + r - 1) * (m + r - 1);
  const parts = runner.parts;
  const hp = m * Math.ceil(oh / m) + r - 1;
  const wp = m * Math.ceil(ow / m) + r - 1;
  const padFloats = 4 * Math.ceil((n * hp * wp * ci) / 4);
  const size = a2 * ci * co;
  const perPart = a2 * WINO_TILES * (ci + co) + size; // v, dt, m (floats)
  // scratch: the padded input, parts × size doubles (out), then per part v, dt and m
  withScratch(b, padFloats + parts * (2 * size + perPart), (scratch) => {
    const out = (part: number) => scratch + padFloats * 4 + part * size * 8;
    const v = (part: number) => scratch + padFloats * 4 + parts * size * 8 + part * perPart * 4;
    const dt = (part: number) => v(part) + a2 * WINO_TILES * ci * 4;
    const mt = (part: number) => dt(part) + a2 * WINO_TILES * co * 4;
    runner.parallel(`filter_grad_winograd${m}x${r}`, (part) => [
      p.px, ...share(n, parts, part), h, w, ci, p.pdy, oh, ow, co, top, left, scratch, v(part), dt(part), mt(part), out(part),
    ]);
    runner.fns[`filter_grad_winograd${m}x${r}_finish`](out(0), parts, ci, co, mt(0), p.pdw);
  });
}

/** A copy of t ([rows, cs] as laid out) with cd channels: zeros added (cd > cs) or channels dropped (cd < cs). */
function copyChannels(b: WasmBackendInternals, runner: Runner, t: TensorInfo, shape: number[], cd: number): TensorInfo {
  const cs = t.shape[t.shape.length - 1];
  const rows = tf.util.sizeFromShape(t.shape) / cs;
  const out = b.makeOutput([...shape.slice(0, -1), cd], 'float32');
  const [ps, pd] = [pointer(b, t), pointer(b, out)];
  runner.parallel('copy_channels', (part) => [ps, ...share(rows, runner.parts, part), cs, cd, pd]);
  return out;
}

/**
 * x with its last axis cut to its first `cd` entries, or widened to `cd` with zeros, in one
 * threaded pass (float32); null when it does not apply. patches.ts uses it for the Slice and PadV2
 * kernels of that shape (the channel padding's slices and pads; tfjs's wasm Slice of the last
 * axis is a slow generic loop).
 */
export function resizeLastAxis(backend: tf.KernelBackend, x: TensorInfo, cd: number): TensorInfo | null {
  if (!switches.channelPadding || x.dtype !== 'float32' || x.shape.length < 2 || cd < 1) return null;
  const b = backend as unknown as WasmBackendInternals;
  const runner = runnerOrNull(b);
  if (!runner || tf.util.sizeFromShape(x.shape) === 0) return null;
  return copyChannels(b, runner, x, x.shape, cd);
}

/**
 * Runs `f` on x, a filter [taps, ci, co] and a bias widened to channel counts that are multiples
 * of 4 (zeros; x and ci only when widenInput), and narrows its output ([..., co4]) back to co
 * channels; null when f declines.
 */
export function withWideChannels(
  b: WasmBackendInternals,
  runner: Runner,
  [x, ci]: [TensorInfo, number],
  [filter, [taps, fci, co]]: [TensorInfo, number[]],
  bias: TensorInfo | null,
  f: (x: TensorInfo, filter: TensorInfo, bias: TensorInfo | null) => TensorInfo | null,
  widenInput = true,
): TensorInfo | null {
  const [ci4, co4] = [widenInput ? up4(ci) : ci, up4(co)];
  const temps: TensorInfo[] = [];
  try {
    const xw = ci4 === ci ? x : copyChannels(b, runner, x, x.shape, ci4);
    if (xw !== x) temps.push(xw);
    const fwide = b.makeOutput([...filter.shape.slice(0, -2), ci4, co4], 'float32');
    temps.push(fwide);
    const heap = backendMemory(b)!.buffer;
    const src = new Float32Array(heap, pointer(b, filter), taps * fci * co);
    const dst = new Float32Array(heap, pointer(b, fwide), taps * ci4 * co4).fill(0);
    for (let t = 0; t < taps; t++) for (let c = 0; c < fci; c++) dst.set(src.subarray((t * fci + c) * co, (t * fci + c + 1) * co), (t * ci4 + c) * co4);
    let bw: TensorInfo | null = null;
    if (bias) {
      bw = b.makeOutput([co4], 'float32');
      temps.push(bw);
      new Float32Array(heap, pointer(b, bw), co4).fill(0).set(new Float32Array(heap, pointer(b, bias), co));
    }
    const wide = f(xw, fwide, bw);
    if (!wide) return null;
    temps.push(wide);
    return copyChannels(b, runner, wide, wide.shape, co);
  } finally {
    for (const t of temps) b.disposeData(t.dataId);
  }
}

/**
 * Conv2DBackpropFilter for input and output channel counts that are multiples of 4, dilation 1,
 * channels last, with the register-blocked SIMD loop of wasm/fused.c (no im2col copy, no GEMM
 * repacking); null when the case or the backend is not one it covers. Called by
 * conv2dBackpropFilter.ts; off with FLOWTUNE_WASM_PATCHES_OFF=FilterGradDirect.
 */
export function conv2dFilterGradDirect(
  backend: tf.KernelBackend,
  x: TensorInfo,
  dy: TensorInfo,
  info: ReturnType<typeof tf.backend_util.computeConv2DInfo>,
): TensorInfo | null {
  if (!switches.filterGradDirect) return null;
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: ci, outHeight: oh, outWidth: ow, outChannels: co } = info;
  const { filterHeight: fh, filterWidth: fw, strideHeight: sh, strideWidth: sw } = info;
  if (info.dilationHeight !== 1 || info.dilationWidth !== 1 || oh < 1 || ow < 1) return null;
  if (info.dataFormat !== 'channelsLast' || x.dtype !== 'float32' || dy.dtype !== 'float32') return null;
  const b = backend as unknown as WasmBackendInternals;
  const runner = runnerOrNull(b);
  if (!runner) return null;
  if (ci % 4 !== 0 || co % 4 !== 0) {
    // Not multiples of 4: the gradient of the widened convolution (zeros in the extra channels of
    // x and dy), its extra rows and columns dropped.
    if (!switches.channelPadding || ci < 2) return null; // one input channel: FilterGradC1's case
    const [ci4, co4] = [up4(ci), up4(co)];
    const xw = ci4 === ci ? x : copyChannels(b, runner, x, x.shape, ci4);
    const dyw = co4 === co ? dy : copyChannels(b, runner, dy, dy.shape, co4);
    try {
      const wide = conv2dFilterGradDirect(backend, xw, dyw, { ...info, inChannels: ci4, outChannels: co4, inShape: [n, h, w, ci4], outShape: [n, oh, ow, co4], filterShape: [fh, fw, ci4, co4] } as typeof info);
      if (!wide) return null;
      const dw = b.makeOutput([fh, fw, ci, co], 'float32');
      const heap = backendMemory(b)!.buffer;
      const src = new Float32Array(heap, pointer(b, wide), fh * fw * ci4 * co4);
      const dst = new Float32Array(heap, pointer(b, dw), fh * fw * ci * co);
      for (let t = 0; t < fh * fw; t++) for (let c = 0; c < ci; c++) dst.set(src.subarray((t * ci4 + c) * co4, (t * ci4 + c) * co4 + co), (t * ci + c) * co);
      b.disposeData(wide.dataId);
      return dw;
    } finally {
      if (xw !== x) b.disposeData(xw.dataId);
      if (dyw !== dy) b.disposeData(dyw.dataId);
    }
  }
  const parts = runner.parts;
  const dw = b.makeOutput([fh, fw, ci, co], 'float32');
  const px = pointer(b, x);
  const pdy = pointer(b, dy);
  const { top, left } = info.padInfo;
  if (switches.winograd && sh === 1 && sw === 1 && fh === fw && (fh === 3 || fh === 5)) {
    winogradFilterGrad(runner, b, fh, { px, pdy, pdw: pointer(b, dw) }, [n, h, w, ci], [oh, ow, co], top, left);
    return dw;
  }
  const hp = (oh - 1) * sh + fh;
  const wp = (ow - 1) * sw + fw;
  const padFloats = 2 * Math.ceil((n * hp * wp * ci) / 2);
  const size = fh * fw * ci * co;
  // scratch: the padded input, parts × size doubles, parts × size floats
  withScratch(b, padFloats + parts * 3 * size, (scratch) => {
    const partial = (part: number) => scratch + padFloats * 4 + part * size * 8;
    const acc = (part: number) => scratch + padFloats * 4 + parts * size * 8 + part * size * 4;
    runner.parallel('conv2d_filter_grad', (part) => [
      px, ...share(n, parts, part), h, w, ci, pdy, oh, ow, co, fh, fw, sh, sw, top, left, scratch, partial(part), acc(part),
    ]);
    runner.fns.sum_parts(partial(0), parts, size, size, pointer(b, dw));
  });
  return dw;
}
