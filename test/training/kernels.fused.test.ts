/**
 * src/training/kernels/fused.ts: the fused batch norm → ReLU → max pool 2×2/2 kernels (WebAssembly
 * SIMD, wasm/fused.c) give the cpu backend's numbers for the unfused ops (tf.moments +
 * tf.batchNorm + tf.relu + tf.maxPool and autodiff), and the layer-level call gives the same
 * outputs, gradients and moving statistics as applying the three tf.layers layers. The committed
 * .wasm modules match a rebuild of wasm/fused.c when clang is installed.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initBackend, type BackendName } from '../../src/training/backend.ts';
import { buildModel, forwardTraining } from '../../src/training/model.ts';
import type { NetworkSpec } from '../../src/types.ts';
import { bnReluPool2Training, bnReluPoolLayersTraining, conv2dC1, conv2dC1Grad, conv2dFilterGradC1 } from '../../src/training/kernels/fused.ts';
import { conv2dDirect, conv2dFilterGradDirect } from '../../src/training/kernels/direct.ts';
import { fusedKernelsAvailable, fusedKernelsBuild, setKernelSwitches } from '../../src/training/kernels/runtime.ts';

/** Deterministic values in [-1, 1) + offset; `ties` rounds them to 0.25 steps so that equal values occur. */
function values(n: number, seed: number, offset = 0, ties = false): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const v = s / 2 ** 31 - 1;
    out[i] = (ties ? Math.round(v * 4) / 4 : v) + offset;
  }
  return out;
}

function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let scale = 1;
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i]));
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / scale);
  return worst;
}

async function dataOf(ts: tf.Tensor[]): Promise<number[][]> {
  return Promise.all(ts.map(async (t) => Array.from(await t.data())));
}

/** y, mean, variance, dx, dgamma, dbeta of maxPool(relu(batchNorm(x))) · dy summed, by tfjs's own ops. */
function reference(x: tf.Tensor4D, gamma: tf.Tensor1D, beta: tf.Tensor1D, dy: tf.Tensor, eps: number): tf.Tensor[] {
  const f = (xx: tf.Tensor4D, g: tf.Tensor1D, b: tf.Tensor1D) => {
    const { mean, variance } = tf.moments(xx, [0, 1, 2]);
    return tf.maxPool(tf.relu(tf.batchNorm(xx, mean, variance, b, g, eps)) as tf.Tensor4D, 2, 2, 'valid');
  };
  const { mean, variance } = tf.moments(x, [0, 1, 2]);
  const grads = tf.grads((xx: tf.Tensor, g: tf.Tensor, b: tf.Tensor) =>
    f(xx as tf.Tensor4D, g as tf.Tensor1D, b as tf.Tensor1D).mul(dy).sum(),
  )([x, gamma, beta]);
  return [f(x, gamma, beta), mean, variance, ...grads];
}

function fused(x: tf.Tensor4D, gamma: tf.Tensor1D, beta: tf.Tensor1D, dy: tf.Tensor, eps: number): tf.Tensor[] {
  const out = bnReluPool2Training(x, gamma, beta, eps);
  expect(out).not.toBeNull();
  const grads = tf.grads((xx: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => bnReluPool2Training(xx, g, b, eps)!.y.mul(dy).sum())([
    x,
    gamma,
    beta,
  ]);
  return [out!.y, out!.mean, out!.variance, ...grads];
}

async function compute(backend: BackendName, shape: number[], offset: number, ties: boolean, f: typeof fused): Promise<number[][]> {
  await initBackend(backend);
  const [n, h, w, c] = shape;
  const result = tf.tidy(() => {
    const x = tf.tensor4d(values(n * h * w * c, n * h * w * c, offset, ties), shape as [number, number, number, number]);
    const gamma = tf.tensor1d(values(c, 2, 1.2));
    const beta = tf.tensor1d(values(c, 3, 0.1));
    const dy = tf.tensor4d(values(n * Math.floor(h / 2) * Math.floor(w / 2) * c, 4), [n, Math.floor(h / 2), Math.floor(w / 2), c]);
    return f(x, gamma, beta, dy, 1e-5);
  });
  const data = await dataOf(result);
  tf.dispose(result);
  return data;
}

/**
 * Every kernel test runs on both builds of wasm/fused.c: relaxed SIMD (f32x4.relaxed_madd, the
 * default where the engine takes it) and plain SIMD128 (FLOWTUNE_WASM_PATCHES_OFF=RelaxedSimd).
 */
describe.each(['relaxed-simd', 'simd'] as const)('%s build', (build) => {
  beforeAll(async () => {
    await initBackend('wasm');
    setKernelSwitches({ relaxedSimd: build === 'relaxed-simd' });
  });
  afterAll(() => setKernelSwitches({ relaxedSimd: true }));
  test('is the build that runs', () => {
    expect(fusedKernelsAvailable()).toBe(true);
    expect(fusedKernelsBuild()).toBe(build);
  });

describe('bnReluPool2Training (wasm) against tfjs ops on cpu', () => {
  test.each([
    [[2, 4, 4, 4], 0.7, false],
    [[3, 7, 5, 8], 0.3, false], // odd sizes: the last row and column belong to no window
    [[4, 6, 6, 20], -0.4, false], // many windows with no positive value
    [[2, 6, 8, 12], 0, true], // ties: the first maximum wins
    [[16, 14, 14, 40], 0.5, false],
    [[3, 6, 6, 6], 0.2, false], // channels not a multiple of 4: widened with zeros
    [[4, 14, 14, 30], 0.1, true],
  ] as Array<[number[], number, boolean]>)('%j (offset %d, ties %s): output, statistics and gradients', async (shape, offset, ties) => {
    const expected = await compute('cpu', shape, offset, ties, reference);
    const got = await compute('wasm', shape, offset, ties, fused);
    const names = ['y', 'mean', 'variance', 'dx', 'dgamma', 'dbeta'];
    got.forEach((g, i) => {
      const diff = maxRelDiff(g, expected[i]);
      expect(diff, names[i]).toBeLessThan(i < 3 ? 1e-5 : 2e-4);
    });
    // The gradient is not trivially zero.
    expect(got[3].some((v) => v !== 0)).toBe(true);
  });

  test('declines what it does not cover: another backend, channels not a multiple of 4 with ChannelPadding off', async () => {
    await initBackend('cpu');
    expect(fusedKernelsAvailable()).toBe(false);
    expect(bnReluPool2Training(tf.zeros([1, 2, 2, 4]), tf.ones([4]), tf.zeros([4]), 1e-5)).toBeNull();
    await initBackend('wasm');
    expect(fusedKernelsAvailable()).toBe(true);
    setKernelSwitches({ channelPadding: false });
    try {
      expect(bnReluPool2Training(tf.zeros([1, 2, 2, 3]), tf.ones([3]), tf.zeros([3]), 1e-5)).toBeNull();
    } finally {
      setKernelSwitches({ channelPadding: true });
    }
    expect(bnReluPool2Training(tf.zeros([1, 2, 2, 3]), tf.ones([3]), tf.zeros([3]), 1e-5)).not.toBeNull();
  });
});

describe('bnReluPoolLayersTraining', () => {
  test('same output, gradients and moving statistics as applying the three layers', async () => {
    const run = async (backend: BackendName, useFused: boolean) => {
      await initBackend(backend);
      const bn = tf.layers.batchNormalization({ axis: -1, momentum: 0.9, epsilon: 1e-5 });
      const relu = tf.layers.reLU();
      const pool = tf.layers.maxPooling2d({ poolSize: 2, strides: 2, padding: 'valid' });
      bn.build([null, 6, 6, 8]);
      bn.setWeights([tf.tensor1d(values(8, 5, 1)), tf.tensor1d(values(8, 6)), tf.tensor1d(values(8, 7)), tf.tensor1d(values(8, 8, 2))]);
      const x = tf.tensor4d(values(3 * 6 * 6 * 8, 11, 0.5), [3, 6, 6, 8]);
      const dy = tf.tensor4d(values(3 * 3 * 3 * 8, 12), [3, 3, 3, 8]);
      const vars = bn.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val);
      const { value, grads } = tf.variableGrads(() => {
        const y = useFused
          ? bnReluPoolLayersTraining(bn as never, relu, pool, x)!
          : (pool.apply(relu.apply(bn.apply(x, { training: true }))) as tf.Tensor);
        return y.mul(dy).sum() as tf.Scalar;
      }, vars);
      const out = await dataOf([value, ...vars.map((v) => grads[v.name]), ...bn.getWeights()]);
      tf.dispose([x, dy, value, ...Object.values(grads)]);
      return out;
    };
    const expected = await run('cpu', false);
    const got = await run('wasm', true);
    expect(got).toHaveLength(7); // loss, dgamma, dbeta, gamma, beta, moving mean, moving variance
    got.forEach((g, i) => expect(maxRelDiff(g, expected[i])).toBeLessThan(i === 1 || i === 2 ? 2e-4 : 1e-5));
  });

  test('declines other layer settings', async () => {
    await initBackend('wasm');
    const bn = tf.layers.batchNormalization({ axis: -1 });
    bn.build([null, 4, 4, 4]);
    const x = tf.zeros([1, 4, 4, 4]);
    expect(bnReluPoolLayersTraining(bn as never, tf.layers.reLU({ maxValue: 6 }), tf.layers.maxPooling2d({ poolSize: 2 }), x)).toBeNull();
    expect(bnReluPoolLayersTraining(bn as never, tf.layers.reLU(), tf.layers.maxPooling2d({ poolSize: 3, strides: 2 }), x)).toBeNull();
    expect(bnReluPoolLayersTraining(bn as never, tf.layers.reLU(), tf.layers.maxPooling2d({ poolSize: 2, padding: 'same' }), x)).toBeNull();
  });
});

describe('conv2dC1 and conv2dC1Grad with filters not a multiple of 4 (widened with zeros)', () => {
  test.each([
    [[3, 12, 12, 1], [5, 5, 1, 30], 1, 'same'],
    [[2, 9, 8, 1], [3, 3, 1, 6], 2, 'valid'],
  ] as Array<[number[], number[], number, 'same' | 'valid']>)('x %j, filter %j, stride %i, %s: conv2d + bias and its gradients on cpu', async (xShape, wShape, stride, pad) => {
    const info = tf.backend_util.computeConv2DInfo(xShape as never, wShape as never, stride, 1, pad);
    const dyShape = [xShape[0], info.outHeight, info.outWidth, wShape[3]];
    const [xv, wv, bv, dyv] = [values(tf.util.sizeFromShape(xShape), 71), values(tf.util.sizeFromShape(wShape), 72), values(wShape[3], 73), values(tf.util.sizeFromShape(dyShape), 74)];
    await initBackend('cpu');
    const expected = await dataOf([
      tf.add(tf.conv2d(tf.tensor4d(xv, xShape as never), tf.tensor4d(wv, wShape as never), stride, pad), tf.tensor1d(bv)),
      tf.engine().runKernel('Conv2DBackpropFilter', { x: tf.tensor(xv, xShape), dy: tf.tensor(dyv, dyShape) }, { strides: stride, pad, dataFormat: 'NHWC', filterShape: wShape } as never) as tf.Tensor,
      tf.sum(tf.tensor(dyv, dyShape), [0, 1, 2]),
    ]);
    await initBackend('wasm');
    const [x, w, b, dy] = [tf.tensor4d(xv, xShape as never), tf.tensor4d(wv, wShape as never), tf.tensor1d(bv), tf.tensor4d(dyv, dyShape as never)];
    const y = conv2dC1(x, w, b, { strides: stride, pad });
    const grads = conv2dC1Grad(x, dy, wShape, { strides: stride, pad });
    expect(y).not.toBeNull();
    expect(grads).not.toBeNull();
    expect(y!.shape).toEqual(dyShape);
    const got = await dataOf([y!, ...grads!]);
    got.forEach((g, i) => expect(maxRelDiff(g, expected[i]), ['y', 'dw', 'dbias'][i]).toBeLessThan(1e-5));
    tf.dispose([x, w, b, dy, y!, ...grads!]);
  });
});

describe('conv2dFilterGradC1 and conv2dC1Grad', () => {
  test.each([
    [[4, 28, 28, 1], [3, 3, 1, 20], 1, 'same'],
    [[2, 9, 7, 1], [3, 2, 1, 8], 2, 'valid'],
    [[3, 28, 28, 1], [5, 5, 1, 40], 1, 'same'],
    [[2, 11, 10, 1], [4, 4, 1, 12], 2, 'same'],
  ] as Array<[number[], number[], number, 'same' | 'valid']>)('x %j, filter %j, stride %i, %s: the cpu backend filter gradient', async (xShape, wShape, stride, pad) => {
    const info = tf.backend_util.computeConv2DInfo(xShape as never, wShape as never, stride, 1, pad);
    const dyShape = [xShape[0], info.outHeight, info.outWidth, wShape[3]];
    const xv = values(tf.util.sizeFromShape(xShape), 21);
    const dyv = values(tf.util.sizeFromShape(dyShape), 22);
    await initBackend('cpu');
    const [expected, expectedBias] = await dataOf([
      tf.engine().runKernel('Conv2DBackpropFilter', { x: tf.tensor(xv, xShape), dy: tf.tensor(dyv, dyShape) }, {
        strides: stride,
        pad,
        dataFormat: 'NHWC',
        filterShape: wShape,
      } as never) as tf.Tensor,
      tf.sum(tf.tensor(dyv, dyShape), [0, 1, 2]),
    ]);
    await initBackend('wasm');
    const x = tf.tensor(xv, xShape);
    const dy = tf.tensor(dyv, dyShape);
    const out = conv2dFilterGradC1(tf.backend(), x, dy, info);
    expect(out).not.toBeNull(); // the direct loop, not im2col
    const dw = tf.engine().makeTensorFromTensorInfo(out!);
    expect(dw.shape).toEqual(wShape);
    const [got] = await dataOf([dw]);
    expect(maxRelDiff(got, expected)).toBeLessThan(1e-5);
    // conv2dC1Grad: the same filter gradient and the bias gradient, in one pass
    const both = conv2dC1Grad(x as tf.Tensor4D, dy as tf.Tensor4D, wShape, { strides: stride, pad });
    expect(both).not.toBeNull();
    const [gotW, gotB] = await dataOf(both!);
    expect(maxRelDiff(gotW, expected)).toBeLessThan(1e-5);
    expect(maxRelDiff(gotB, expectedBias)).toBeLessThan(1e-5);
    tf.dispose([x, dy, dw, ...both!]);
  });
});

describe.each(['4×4', '2×2', 'off'] as const)('conv2dFilterGradDirect (Winograd tiles for 3×3 and 5×5 stride 1: %s)', (winograd) => {
  beforeAll(async () => {
    await initBackend('wasm');
    setKernelSwitches({ winograd: winograd !== 'off' });
    setKernelSwitches({ winograd4: winograd === '4×4' });
  });
  afterAll(() => {
    setKernelSwitches({ winograd: true });
    setKernelSwitches({ winograd4: true });
  });
  test.each([
    [[3, 14, 14, 20], [3, 3, 20, 40], 1, 'same'],
    [[2, 7, 6, 8], [3, 3, 8, 12], 2, 'valid'],
    [[5, 14, 14, 40], [5, 5, 40, 80], 1, 'same'],
    [[3, 7, 7, 40], [3, 3, 40, 80], 1, 'same'],
    [[2, 9, 8, 12], [5, 5, 12, 4], 1, 'valid'],
    [[2, 3, 5, 8], [5, 5, 8, 8], 1, 'same'],
    [[3, 14, 14, 30], [5, 5, 30, 60], 1, 'same'], // channels not multiples of 4: widened with zeros
    [[2, 9, 9, 5], [3, 3, 5, 7], 2, 'valid'],
  ] as Array<[number[], number[], number, 'same' | 'valid']>)('x %j, filter %j, stride %i, %s: the cpu backend filter gradient', async (xShape, wShape, stride, pad) => {
    const info = tf.backend_util.computeConv2DInfo(xShape as never, wShape as never, stride, 1, pad);
    const dyShape = [xShape[0], info.outHeight, info.outWidth, wShape[3]];
    const xv = values(tf.util.sizeFromShape(xShape), 51);
    const dyv = values(tf.util.sizeFromShape(dyShape), 52);
    await initBackend('cpu');
    const [expected] = await dataOf([
      tf.engine().runKernel('Conv2DBackpropFilter', { x: tf.tensor(xv, xShape), dy: tf.tensor(dyv, dyShape) }, {
        strides: stride,
        pad,
        dataFormat: 'NHWC',
        filterShape: wShape,
      } as never) as tf.Tensor,
    ]);
    await initBackend('wasm');
    const x = tf.tensor(xv, xShape);
    const dy = tf.tensor(dyv, dyShape);
    const out = conv2dFilterGradDirect(tf.backend(), x, dy, info);
    expect(out).not.toBeNull(); // the direct loop, not im2col
    const dw = tf.engine().makeTensorFromTensorInfo(out!);
    const [got] = await dataOf([dw]);
    expect(maxRelDiff(got, expected)).toBeLessThan(1e-5);
    tf.dispose([x, dy, dw]);
  });
});

describe.each(['4×4', '2×2', 'off'] as const)('conv2dDirect (Winograd tiles for 3×3 and 5×5 stride 1: %s)', (winograd) => {
  beforeAll(async () => {
    await initBackend('wasm');
    setKernelSwitches({ winograd: winograd !== 'off' });
    setKernelSwitches({ winograd4: winograd === '4×4' });
  });
  afterAll(() => {
    setKernelSwitches({ winograd: true });
    setKernelSwitches({ winograd4: true });
  });
  test.each([
    [[2, 7, 9, 8], [3, 3, 8, 20], 1, 'same'],
    [[3, 10, 11, 4], [2, 3, 4, 12], 2, 'valid'],
    [[5, 14, 14, 40], [5, 5, 40, 80], 1, 'same'],
    [[3, 7, 7, 40], [3, 3, 40, 80], 1, 'same'],
    [[2, 9, 8, 12], [5, 5, 12, 4], 1, 'valid'],
    [[2, 3, 5, 8], [5, 5, 8, 8], 1, 'same'],
    [[3, 14, 14, 30], [5, 5, 30, 60], 1, 'same'], // channels not multiples of 4: widened with zeros
    [[2, 9, 9, 5], [3, 3, 5, 7], 2, 'valid'],
  ] as Array<[number[], number[], number, 'same' | 'valid']>)('x %j, filter %j, stride %i, %s: conv2d on cpu', async (xShape, wShape, stride, pad) => {
    const xv = values(tf.util.sizeFromShape(xShape), 61);
    const wv = values(tf.util.sizeFromShape(wShape), 62);
    await initBackend('cpu');
    const [expected] = await dataOf([tf.conv2d(tf.tensor4d(xv, xShape as never), tf.tensor4d(wv, wShape as never), stride, pad)]);
    await initBackend('wasm');
    const info = tf.backend_util.computeConv2DInfo(xShape as never, wShape as never, stride, 1, pad);
    const x = tf.tensor4d(xv, xShape as never);
    const w = tf.tensor4d(wv, wShape as never);
    const out = conv2dDirect(tf.backend(), x, w, {
      height: info.outHeight,
      width: info.outWidth,
      strideHeight: stride,
      strideWidth: stride,
      top: info.padInfo.top,
      left: info.padInfo.left,
    });
    expect(conv2dDirect(tf.backend(), x, w, { height: 1, width: 1, strideHeight: 1, strideWidth: 1, top: 0, left: 0 }, tf.zeros([3]))).toBeNull();
    expect(out).not.toBeNull();
    const y = tf.engine().makeTensorFromTensorInfo(out!);
    const [got] = await dataOf([y]);
    expect(maxRelDiff(got, expected)).toBeLessThan(1e-5);
    tf.dispose([x, w, y]);
  });
});

describe('conv2dC1', () => {
  test.each([
    [[4, 28, 28, 1], [3, 3, 1, 20], 1, 'same'],
    [[2, 9, 7, 1], [3, 2, 1, 8], 2, 'valid'],
    [[3, 8, 8, 1], [2, 2, 1, 4], 1, 'same'],
    [[2, 10, 9, 1], [3, 3, 1, 12], 3, 'same'],
    [[3, 28, 28, 1], [5, 5, 1, 40], 1, 'same'],
    [[2, 11, 10, 1], [4, 4, 1, 12], 2, 'same'],
    [[2, 9, 9, 1], [5, 5, 1, 4], 1, 'valid'],
  ] as Array<[number[], number[], number, 'same' | 'valid']>)('x %j, filter %j, stride %i, %s: conv2d + bias on cpu', async (xShape, wShape, stride, pad) => {
    const xv = values(tf.util.sizeFromShape(xShape), 31);
    const wv = values(tf.util.sizeFromShape(wShape), 32);
    const bv = values(wShape[3], 33);
    await initBackend('cpu');
    const [expected] = await dataOf([
      tf.add(tf.conv2d(tf.tensor4d(xv, xShape as never), tf.tensor4d(wv, wShape as never), stride, pad), tf.tensor1d(bv)),
    ]);
    await initBackend('wasm');
    const x = tf.tensor4d(xv, xShape as never);
    const w = tf.tensor4d(wv, wShape as never);
    const b = tf.tensor1d(bv);
    const y = conv2dC1(x, w, b, { strides: stride, pad });
    expect(y).not.toBeNull();
    const [got] = await dataOf([y!]);
    expect(maxRelDiff(got, expected)).toBeLessThan(1e-5);
    expect(conv2dC1(tf.zeros([1, 4, 4, 2]) as tf.Tensor4D, tf.zeros([3, 3, 2, 4]) as tf.Tensor4D, tf.zeros([4]) as tf.Tensor1D, { strides: 1, pad: 'same' })).toBeNull();
    expect(conv2dC1(tf.zeros([1, 8, 8, 1]) as tf.Tensor4D, tf.zeros([6, 6, 1, 4]) as tf.Tensor4D, tf.zeros([4]) as tf.Tensor1D, { strides: 1, pad: 'same' })).toBeNull();
    tf.dispose([x, w, b, y!]);
  });
});

describe("the trainer's forward pass with the fused kernels", () => {
  test.each([
    [8, 12, 3],
    [6, 10, 5], // channels not multiples of 4 (widened with zeros), 5×5 filters (Winograd)
  ])('conv (1 channel) %i → bn → relu → pool, conv %i → bn → relu → pool, kernel %i: the tfjs layers’ loss and gradients on cpu', async (f1, f2, k) => {
    const network: NetworkSpec = {
      inputShape: [12, 12, 1],
      layers: [
        { type: 'conv', filters: f1, kernelSize: k },
        { type: 'batchnorm' },
        { type: 'relu' },
        { type: 'maxpool', poolSize: 2, stride: 2 },
        { type: 'conv', filters: f2, kernelSize: k },
        { type: 'batchnorm' },
        { type: 'relu' },
        { type: 'maxpool', poolSize: 2, stride: 2 },
        { type: 'fc', units: 5 },
      ],
    };
    const xv = values(6 * 12 * 12, 41, 0.5);
    const run = async (backend: BackendName, ours: boolean) => {
      await initBackend(backend);
      const model = buildModel(network, 3);
      const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
      const x = tf.tensor4d(xv, [6, 12, 12, 1]);
      const forward = () => (ours ? forwardTraining(model, x, 'seed') : (model.apply(x, { training: true }) as tf.Tensor));
      const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(forward())) as tf.Scalar, variables);
      const out = await dataOf([value, ...variables.map((v) => grads[v.name]), ...model.getWeights()]);
      tf.dispose([x, value, ...Object.values(grads)]);
      model.dispose();
      return out;
    };
    const expected = await run('cpu', false);
    await initBackend('wasm');
    expect(fusedKernelsAvailable()).toBe(true);
    const got = await run('wasm', true);
    expect(got).toHaveLength(expected.length);
    // loss, 10 gradients, then the weights after the moving-statistics updates
    got.forEach((g, i) => expect(maxRelDiff(g, expected[i]), `output ${i}`).toBeLessThan(i >= 1 && i <= 10 ? 2e-4 : 1e-5));
  });
});
});

describe('wasm/fused.c build', () => {
  const dir = fileURLToPath(new URL('../../src/training/kernels/wasm/', import.meta.url));
  const clang = spawnSync('clang', ['--version']).status === 0 && spawnSync('wasm-ld', ['--version']).status === 0;
  const sympy = spawnSync('python3', ['-c', 'import sympy']).status === 0;
  test.skipIf(!sympy)('the committed winograd.h is what winograd.py writes (its matrices checked exactly first)', () => {
    const generated = execFileSync('python3', [join(dir, 'winograd.py')], { maxBuffer: 1 << 26 });
    expect(generated.equals(readFileSync(join(dir, 'winograd.h')))).toBe(true);
  });
  test.skipIf(!clang)('the committed .wasm modules are what build.sh makes from fused.c', () => {
    const out = mkdtempSync(join(tmpdir(), 'flowtune-fused-'));
    try {
      execFileSync('bash', [join(dir, 'build.sh'), out]);
      for (const file of ['fused.wasm', 'fused-shared.wasm', 'fused-relaxed.wasm', 'fused-relaxed-shared.wasm']) {
        expect(readFileSync(join(out, file)).equals(readFileSync(join(dir, file))), file).toBe(true);
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
