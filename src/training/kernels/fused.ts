/**
 * Kernels of flowtune's own for the wasm backend, in WebAssembly SIMD (C source, build script and
 * the built modules in ./wasm/; the modules are committed, so nobody needs clang).
 *
 * The module imports tfjs-backend-wasm's own memory, so a kernel reads and writes tensors where the
 * backend keeps them (their heap offsets), without copies. Each step is split between the calling
 * thread and helper threads (see `Runner`). Every kernel gives the cpu backend's numbers (checked
 * in test/training/kernels.fused.test.ts, kernels.test.ts and kernels.patches.test.ts), and each
 * is a lever that FLOWTUNE_WASM_PATCHES_OFF (kernels/index.ts) can leave out, for the bench:
 *
 *  - FusedBlock: the training-mode block batch norm (batch statistics) → ReLU → max pool 2×2/2
 *    ('valid') that every convolution block of flowtune's networks has. tfjs ran it as ~6 kernels
 *    forward (with kernels/batchNorm.ts) plus ReLU and MaxPool, and ~7 + MaxPoolGrad + ReLU's
 *    gradient backward, each a pass over the activations; here it is 3 passes forward (two for the
 *    statistics) and 2 backward, and the ReLU and batch-norm outputs are never written
 *    (`bnReluPoolLayersTraining`, called by trainer.ts; formulas in wasm/fused.c).
 *  - ConvC1: the first convolution on grey images (one input channel, ≤ 25 taps: 3×3 to 5×5), forward and its
 *    filter + bias gradient in one pass (`conv2dC1`, `conv2dC1Grad`, called by trainer.ts);
 *    XNNPACK's convolution is slow for one input channel. FilterGradC1: the same filter gradient
 *    for the Conv2DBackpropFilter kernel (conv2dBackpropFilter.ts).
 *  - FilterGradDirect: Conv2DBackpropFilter for channel counts that are multiples of 4, a
 *    register-blocked loop instead of im2col + GEMM (conv2dBackpropFilter.ts).
 *  - ConvDirect: a register-blocked convolution, used for FusedConv2D (linear activation) and
 *    Conv2DBackpropInput (patches.ts).
 *  - SmallDense: a fully connected layer with ≤ 12 outputs (the logits): its product, weight
 *    gradient and input gradient (_FusedMatMul and BatchMatMul in patches.ts).
 *
 * Each entry point returns null when its case or the backend is not one it covers; the caller then
 * runs what it ran before.
 */
import { readFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { type BatchNormLayerLike, batchNormLayerParts, updateMovingStatistics } from './batchNorm.ts';

type TensorInfo = tf.TensorInfo;

/** The WebAssembly API as used here (tsconfig's lib has no WebAssembly types). */
interface WasmMemory {
  buffer: ArrayBufferLike;
}
const WasmApi = (globalThis as unknown as {
  WebAssembly: {
    Module: new (bytes: Uint8Array) => object;
    Instance: new (module: object, imports: Record<string, Record<string, unknown>>) => { exports: Record<string, unknown> };
  };
}).WebAssembly;

interface WasmBackendInternals extends tf.KernelBackend {
  wasm: { wasmMemory?: WasmMemory; asm?: { memory?: WasmMemory }; tfjs?: { getThreadsCount?: () => number } };
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
  makeOutput(shape: number[], dtype: tf.DataType): TensorInfo;
  disposeData(dataId: object, force?: boolean): boolean;
}

/** The module's functions (pointers are heap offsets; see wasm/fused.c). */
const FUNCTIONS = [
  'sum_parts',
  'channel_sums',
  'moments_finish',
  'bn_relu_pool2_forward',
  'bn_pool_grad_sums',
  'bn_pool_grad_coefficients',
  'bn_relu_pool2_dx',
  'conv2d_filter_grad_c1',
  'conv2d_c1_forward',
  'conv2d_filter_grad',
  'conv2d_direct',
  'pad12',
  'transpose',
  'fc_forward',
  'fc_grad_wt',
  'fc_grad_a',
  ...(['2x3', '4x3', '2x5', '4x5'] as const).flatMap(
    (n) => [`winograd${n}_filter`, `conv2d_winograd${n}`, `filter_grad_winograd${n}`, `filter_grad_winograd${n}_finish`] as const,
  ),
  'scale_shift',
  'relu',
  'copy_channels',
] as const;
type FunctionName = (typeof FUNCTIONS)[number];
type Fn = (...args: number[]) => void;

/** The block's kernel names (registered for the wasm backend unless FLOWTUNE_WASM_PATCHES_OFF has FusedBlock). */
export const BLOCK_KERNEL_NAMES = ['FlowtuneChannelMoments', 'FlowtuneBnReluPool2', 'FlowtuneBnReluPool2Grad'] as const;
/** The first convolution's kernel name (unless FLOWTUNE_WASM_PATCHES_OFF has ConvC1). */
export const CONV_C1_KERNEL_NAME = 'FlowtuneConv2DC1';
/** Its gradient's (filter and bias). */
export const CONV_C1_GRAD_KERNEL_NAME = 'FlowtuneConv2DC1Grad';

const WASM_DIR = new URL('./wasm/', import.meta.url);

/**
 * The module instantiated on one backend memory, and helper threads (Node workers with their own
 * instance on the same memory) that run a share of each parallel step: with the threaded wasm
 * build (shared memory), one helper per XNNPACK thread beyond the first, so that these kernels use
 * the cores XNNPACK's kernels use (its pool idles meanwhile). FLOWTUNE_FUSED_THREADS overrides
 * the count (1 = the calling thread only).
 */
class Runner {
  private readonly helpers: Helper[] = [];
  constructor(
    readonly fns: Record<FunctionName, Fn>,
    module: object,
    memory: WasmMemory,
    threads: number,
  ) {
    for (let i = 1; i < threads; i++) this.helpers.push(new Helper(module, memory));
  }

  get parts(): number {
    return this.helpers.length + 1;
  }

  /** Runs fn with argsOf(part) for every part, part 0 on this thread, the others on the helpers; returns when all are done. */
  parallel(fn: FunctionName, argsOf: (part: number) => number[]): void {
    const started = this.helpers.map((helper, i) => helper.start(FUNCTIONS.indexOf(fn), argsOf(i + 1)));
    this.fns[fn](...argsOf(0));
    this.helpers.forEach((helper, i) => helper.finish(started[i]));
  }
}

/** The code of a helper thread: waits for a job (a sequence number in ctrl[0]), runs it, reports ctrl[1] = that number. */
const HELPER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { module, memory, ctrl, args, names } = workerData;
const c = new Int32Array(ctrl);
const a = new Float64Array(args);
let fns;
try {
  const instance = new WebAssembly.Instance(module, { env: { memory } });
  fns = names.map((name) => instance.exports[name]);
} catch (error) {
  Atomics.store(c, 4, 1);
}
let seen = 0;
for (;;) {
  Atomics.wait(c, 0, seen);
  seen = Atomics.load(c, 0);
  if (Atomics.load(c, 4) === 0) {
    try {
      const argv = [];
      for (let i = 0; i < c[3]; i++) argv.push(a[i]);
      fns[c[2]](...argv);
    } catch (error) {
      Atomics.store(c, 4, 1);
    }
  }
  Atomics.store(c, 1, seen);
  Atomics.notify(c, 1);
}
`;

class Helper {
  private readonly ctrl = new Int32Array(new SharedArrayBuffer(5 * 4)); // [job, done, fn, argc, failed]
  private readonly args = new Float64Array(new SharedArrayBuffer(32 * 8));
  private seq = 0;
  constructor(module: object, memory: WasmMemory) {
    const worker = new Worker(HELPER_SOURCE, {
      eval: true,
      workerData: { module, memory, ctrl: this.ctrl.buffer, args: this.args.buffer, names: FUNCTIONS },
    });
    worker.unref();
  }

  start(fn: number, argv: number[]): number {
    if (Atomics.load(this.ctrl, 4) !== 0) throw new Error('fused kernels: a helper thread failed');
    this.args.set(argv);
    this.ctrl[2] = fn;
    this.ctrl[3] = argv.length;
    this.seq++;
    Atomics.store(this.ctrl, 0, this.seq);
    Atomics.notify(this.ctrl, 0);
    return this.seq;
  }

  finish(seq: number): void {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const done = Atomics.load(this.ctrl, 1);
      if (done === seq) break;
      Atomics.wait(this.ctrl, 1, done, 100);
      if (Date.now() > deadline) throw new Error('fused kernels: a helper thread did not answer within 60 s');
    }
    if (Atomics.load(this.ctrl, 4) !== 0) throw new Error('fused kernels: a helper thread failed');
  }
}

let runners = new WeakMap<WasmMemory, Runner>();

/** The backend's heap (tfjs's threaded build keeps it as wasmMemory, the single-threaded one in asm.memory). */
function backendMemory(backend: WasmBackendInternals): WasmMemory | null {
  return backend.wasm?.wasmMemory ?? backend.wasm?.asm?.memory ?? null;
}

/** Helper threads + this one: FLOWTUNE_FUSED_THREADS, else the backend's XNNPACK thread count (1 without shared memory). */
function threadCount(backend: WasmBackendInternals, shared: boolean): number {
  if (!shared) return 1;
  const forced = Number.parseInt(process.env.FLOWTUNE_FUSED_THREADS ?? '', 10);
  if (Number.isFinite(forced) && forced >= 1) return Math.min(forced, 8);
  const count = backend.wasm?.tfjs?.getThreadsCount?.() ?? 1;
  return Math.max(1, Math.min(8, count));
}

/** runnerFor, with a failure to instantiate read as "not here" (the caller falls back to tfjs). */
function runnerOrNull(backend: WasmBackendInternals): Runner | null {
  try {
    return runnerFor(backend);
  } catch {
    return null;
  }
}

/** The kernels instantiated on the backend's memory (once per memory), or null when that fails. */
function runnerFor(backend: WasmBackendInternals): Runner | null {
  const memory = backendMemory(backend);
  if (!memory) return null;
  let runner = runners.get(memory);
  if (!runner) {
    const shared = typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
    const module = compileKernels(shared);
    const instance = new WasmApi.Instance(module, { env: { memory } });
    runner = new Runner(instance.exports as unknown as Record<FunctionName, Fn>, module, memory, threadCount(backend, shared));
    runners.set(memory, runner);
  }
  return runner;
}

let relaxedSimdEnabled = false;
let relaxedSimdUsed: boolean | null = null;

/** Turns the relaxed-SIMD build of the kernels (fused multiply-add) on or off (set by kernels/index.ts; lever RelaxedSimd). */
export function enableRelaxedSimd(on: boolean): void {
  if (on !== relaxedSimdEnabled) runners = new WeakMap(); // instantiate the other build on next use
  relaxedSimdEnabled = on;
}

/**
 * Which build of the kernels runs: 'relaxed-simd' (f32x4.relaxed_madd, one fused multiply-add
 * where the CPU has FMA) or 'simd' (SIMD128 multiply then add); null before the first kernel ran.
 */
export function fusedKernelsBuild(): 'relaxed-simd' | 'simd' | null {
  return relaxedSimdUsed === null ? null : relaxedSimdUsed ? 'relaxed-simd' : 'simd';
}

/**
 * The kernels' module: the relaxed-SIMD build when it is on and the engine takes it (Node 20's V8
 * needs --experimental-wasm-relaxed-simd, set here at run time when missing; later Node versions
 * have it by default), else the plain SIMD128 build.
 */
function compileKernels(shared: boolean): object {
  const plain = () => new WasmApi.Module(readFileSync(new URL(shared ? 'fused-shared.wasm' : 'fused.wasm', WASM_DIR)));
  if (!relaxedSimdEnabled) {
    relaxedSimdUsed = false;
    return plain();
  }
  const bytes = readFileSync(new URL(shared ? 'fused-relaxed-shared.wasm' : 'fused-relaxed.wasm', WASM_DIR));
  for (const attempt of [0, 1]) {
    try {
      const module = new WasmApi.Module(bytes);
      relaxedSimdUsed = true;
      return module;
    } catch {
      if (attempt === 0) setFlagsFromString('--experimental-wasm-relaxed-simd');
    }
  }
  relaxedSimdUsed = false;
  return plain();
}

/** Whether these kernels can run on the active backend (wasm, the kernels registered, the module loads). */
export function fusedKernelsAvailable(names: readonly string[] = BLOCK_KERNEL_NAMES): boolean {
  if (tf.getBackend() !== 'wasm') return false;
  if (!names.every((name) => tf.getKernel(name, 'wasm') !== undefined)) return false;
  try {
    return runnerFor(tf.backend() as unknown as WasmBackendInternals) !== null;
  } catch {
    return false;
  }
}

function pointer(backend: WasmBackendInternals, t: TensorInfo): number {
  const data = backend.dataIdMap.get(t.dataId);
  if (!data) throw new Error('fused kernel: a tensor is not on the wasm backend');
  return data.memoryOffset;
}

/** Runs f with the heap offset of `floats` floats of scratch (8-byte aligned), freed afterwards. */
function withScratch<T>(backend: WasmBackendInternals, floats: number, f: (scratch: number) => T): T {
  const scratch = backend.makeOutput([floats], 'float32');
  try {
    return f(pointer(backend, scratch));
  } finally {
    backend.disposeData(scratch.dataId);
  }
}

/** [start, end) of part `part` of `parts` near-equal shares of [0, total). */
function share(total: number, parts: number, part: number): [number, number] {
  return [Math.floor((total * part) / parts), Math.floor((total * (part + 1)) / parts)];
}

type KernelArgs<I extends string> = { inputs: Record<I, TensorInfo>; attrs: Record<string, unknown>; backend: WasmBackendInternals };

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
  if (!filterGradC1Enabled) return null;
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
  if (co % 4 !== 0 && filter.shape.length === 4 && filter.shape[2] === 1 && channelPaddingEnabled) {
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
    if (!channelPaddingEnabled) return null;
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
    if (!channelPaddingEnabled) return null;
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

let filterGradC1Enabled = false;
let filterGradDirectEnabled = false;
let convDirectEnabled = false;
let smallDenseEnabled = false;

/** Turns the fully connected products with ≤ 12 outputs on or off (set by kernels/index.ts). */
export function enableSmallDense(on: boolean): void {
  smallDenseEnabled = on;
}

/** The runner for a small-dense product, or null when it is off or the module cannot run here. */
function smallDenseRunner(backend: tf.KernelBackend, ...ts: TensorInfo[]): Runner | null {
  if (!smallDenseEnabled || ts.some((t) => t.dtype !== 'float32')) return null;
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

/** Turns the direct convolution (used for Conv2DBackpropInput) on or off (set by kernels/index.ts). */
export function enableConvDirect(on: boolean): void {
  convDirectEnabled = on;
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
  if (!convDirectEnabled || x.shape.length !== 4 || filter.shape.length !== 4) return null;
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
    if (!channelPaddingEnabled || ci < 2) return null; // one input channel: ConvC1's case
    return withWideChannels(b, runner, [x, ci], [filter, [fh * fw, ci, co]], bias, (xw, fwide, bw) =>
      conv2dDirect(backend, xw, fwide, out, bw),
    );
  }
  const y = b.makeOutput([n, oh, ow, co], 'float32');
  const px = pointer(b, x);
  const pf = pointer(b, filter);
  const py = pointer(b, y);
  const pb = bias ? pointer(b, bias) : 0;
  if (winogradEnabled && sh === 1 && sw === 1 && fh === fw && (fh === 3 || fh === 5)) {
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

let elementwiseEnabled = false;

/** Turns the inference passes (batch norm as x·a + b, ReLU) on or off (set by kernels/index.ts; lever Elementwise). */
export function enableElementwise(on: boolean): void {
  elementwiseEnabled = on;
}

/**
 * x·a + b per channel (a, b: [c]; c % 4 = 0) in one threaded SIMD pass: FusedBatchNorm with
 * per-channel statistics, whose a and b patches.ts computes; null when it does not apply.
 */
export function scaleShiftDirect(backend: tf.KernelBackend, x: TensorInfo, a: TensorInfo, b: TensorInfo): TensorInfo | null {
  const c = x.shape[x.shape.length - 1];
  if (!elementwiseEnabled || x.dtype !== 'float32' || c % 4 !== 0 || a.shape.join() !== String(c) || b.shape.join() !== String(c)) return null;
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
  if (!elementwiseEnabled || x.dtype !== 'float32') return null;
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
let winogradEnabled = false;

let winograd4Enabled = false;

/** Turns the 4×4 output tiles of the Winograd kernels on or off (set by kernels/index.ts; lever Winograd4: off = 2×2 tiles). */
export function enableWinograd4(on: boolean): void {
  winograd4Enabled = on;
}

/**
 * The Winograd output tile: 4×4 (F(4×4, 3×3): 36 products per 16 outputs, 4× fewer than direct;
 * F(4×4, 5×5): 64 per 16, 6.25× fewer) or, with Winograd4 off, 2×2 (F(2×2, r×r): 2.25× and 2.78×).
 */
function winogradTile(): 2 | 4 {
  return winograd4Enabled ? 4 : 2;
}

/** Turns the Winograd convolutions (3×3 and 5×5, stride 1) inside conv2dDirect and conv2dFilterGradDirect on or off (set by kernels/index.ts; lever Winograd). */
export function enableWinograd(on: boolean): void {
  winogradEnabled = on;
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

let channelPaddingEnabled = false;

/** Turns the widening of channel counts that are not multiples of 4 on or off (set by kernels/index.ts; lever ChannelPadding). */
export function enableChannelPadding(on: boolean): void {
  channelPaddingEnabled = on;
}

const up4 = (c: number) => 4 * Math.ceil(c / 4);

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
 * Runs `f` on x, a filter [taps, ci, co] and a bias widened to channel counts that are multiples
 * of 4 (zeros; x and ci only when widenInput), and narrows its output ([..., co4]) back to co
 * channels; null when f declines.
 */
function withWideChannels(
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

/** Turns the direct filter gradient for c_in, c_out multiples of 4 on or off (set by kernels/index.ts). */
export function enableFilterGradDirect(on: boolean): void {
  filterGradDirectEnabled = on;
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
  if (!filterGradDirectEnabled) return null;
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
    if (!channelPaddingEnabled || ci < 2) return null; // one input channel: FilterGradC1's case
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
  if (winogradEnabled && sh === 1 && sw === 1 && fh === fw && (fh === 3 || fh === 5)) {
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

/** Turns the direct one-input-channel filter gradient on or off (set by kernels/index.ts when it registers the wasm kernels). */
export function enableFilterGradC1(on: boolean): void {
  filterGradC1Enabled = on;
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
    if (!channelPaddingEnabled) return null;
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
