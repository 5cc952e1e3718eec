/**
 * src/training/kernels/patches.ts: every replaced wasm kernel (and the FusedBatchNorm gradient)
 * gives the cpu backend's numbers, and the patches notice when the dependency changes under them.
 */
import { createRequire } from 'node:module';
import { describe, expect, test } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initBackend, type BackendName } from '../../src/training/backend.ts';
import {
  PATCHED_GRADIENTS,
  PATCHED_VERSIONS,
  PATCHED_WASM_KERNELS,
  originalFusedBatchNormGradient,
  originalWasmKernel,
  wasmPatchesApplied,
} from '../../src/training/kernels/patches.ts';
import { threadedWasmStarted } from '../../src/training/kernels/threaded-wasm.ts';

/** Deterministic values in [-1, 1); `ties` rounds them to 0.5 steps so that equal values occur. */
function values(n: number, seed: number, ties = false): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const v = s / 2 ** 31 - 1;
    out[i] = ties ? Math.round(v * 2) / 2 : v;
  }
  return out;
}

/** Runs `fn` on cpu, then on wasm; returns both results (as plain arrays). */
async function onBoth(fn: () => tf.Tensor | tf.Tensor[]): Promise<{ cpu: number[][]; wasm: number[][] }> {
  const run = async (backend: BackendName) => {
    await initBackend(backend);
    const out = tf.tidy(fn);
    const list = Array.isArray(out) ? out : [out];
    const data = await Promise.all(list.map(async (t) => Array.from(await t.data())));
    tf.dispose(list);
    return data;
  };
  const cpu = await run('cpu');
  const wasm = await run('wasm');
  return { cpu, wasm };
}

function expectClose(actual: number[][], expected: number[][], tolerance = 1e-5): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((a, k) => {
    const e = expected[k];
    expect(a.length).toBe(e.length);
    let scale = 1;
    for (const v of e) if (Math.abs(v) > scale) scale = Math.abs(v);
    let worst = 0;
    let at = -1;
    for (let i = 0; i < a.length; i++) {
      const err = Number.isNaN(e[i]) ? (Number.isNaN(a[i]) ? 0 : Infinity) : Math.abs(a[i] - e[i]) / scale;
      if (!(err <= worst)) {
        worst = err;
        at = i;
      }
    }
    expect(worst, `output ${k}, worst at element ${at}: ${a[at]} vs ${e[at]}`).toBeLessThan(tolerance);
  });
}

describe('the dependency the patches were written against', () => {
  test('tfjs-core and tfjs-backend-wasm are the patched versions', () => {
    const require = createRequire(import.meta.url);
    expect(tf.version_core).toBe(PATCHED_VERSIONS['tfjs-core']);
    expect((require('@tensorflow/tfjs-backend-wasm/package.json') as { version: string }).version).toBe(
      PATCHED_VERSIONS['tfjs-backend-wasm'],
    );
  });

  test('the kernels and the gradient they replace are still registered under those names', async () => {
    await initBackend('wasm');
    expect(wasmPatchesApplied()).toBe(true);
    for (const name of PATCHED_WASM_KERNELS) {
      const original = originalWasmKernel(name);
      expect(original.kernelName).toBe(name);
      expect(original.backendName).toBe('wasm');
      // The live registration is the replacement, not the original.
      expect(tf.getKernel(name, 'wasm')?.kernelFunc).not.toBe(original.kernelFunc);
    }
    expect(PATCHED_GRADIENTS).toEqual(['FusedBatchNorm']);
    expect(originalFusedBatchNormGradient().inputsToSave).toEqual(['x', 'mean', 'variance', 'scale']);
    expect(tf.getGradient('FusedBatchNorm')).not.toBe(originalFusedBatchNormGradient());
  });

  test('the threaded build starts in Node (files it needs are where it expects them)', async () => {
    const require = createRequire(import.meta.url);
    const worker = require('@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.worker.js') as {
      wasmWorkerContents?: unknown;
    };
    expect(typeof worker.wasmWorkerContents).toBe('string');
    expect(typeof require('@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.js')).toBe('function');
    const backend = await initBackend('wasm');
    if (process.env.FLOWTUNE_WASM_THREADS === '1') return;
    expect(threadedWasmStarted()).toBe(true);
    expect(backend.detail).toMatch(/\d+ threads?/);
    expect(backend.detail).not.toMatch(/unavailable/);
  });
});

describe('replaced wasm kernels match the cpu backend', () => {
  test('Identity and Cast share data but stay correct after the source is gone', async () => {
    const { tf: t } = await initBackend('wasm');
    const a = t.tensor1d([1, 2, 3]);
    const b = t.clone(a);
    const c = t.cast(a, 'float32');
    const d = t.cast(a, 'int32');
    a.dispose();
    expect(Array.from(await b.data())).toEqual([1, 2, 3]);
    expect(Array.from(await c.data())).toEqual([1, 2, 3]);
    expect(d.dtype).toBe('int32');
    t.dispose([b, c, d]);
  });

  test.each([
    // shape, axes, keepDims
    [[128, 28, 28, 20], [0, 1, 2], false],
    [[7, 5, 3, 4], [0, 1, 2], true],
    [[4096, 10], [0], false],
    [[100, 3, 6], [0, 1], false],
    [[50, 6], [0], true],
    [[9, 8, 7], [0], false],
  ] as Array<[number[], number[], boolean]>)('Sum and Mean of %j over %j (keepDims %s)', async (shape, axes, keepDims) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const v = values(n, n);
    const { cpu, wasm } = await onBoth(() => {
      const x = tf.tensor(v, shape);
      return [tf.sum(x, axes, keepDims), tf.mean(x, axes, keepDims), tf.sum(x, [1])];
    });
    expectClose(wasm, cpu);
  });

  test.each([[[2, 7, 7, 5]], [[3]], [[128, 14, 14, 40]]])('Relu on %j (negative, zero, −0, NaN, ±Infinity): the cpu backend, bit for bit', async (shape) => {
    const v = values(shape.reduce((a, b) => a * b, 1), 11);
    [NaN, -0, Infinity, -Infinity, 0].forEach((special, i) => {
      if (i < v.length) v[(i * 7) % v.length] = special;
    });
    const { cpu, wasm } = await onBoth(() => tf.relu(tf.tensor(v, shape)));
    // exactly the cpu backend's values (Object.is: −0 becomes +0, NaN stays NaN)
    expect(wasm[0].every((y, i) => Object.is(y, cpu[0][i]))).toBe(true);
    expect(cpu[0].every((y, i) => Object.is(y, v[i] <= 0 ? 0 : v[i]))).toBe(true);
  });

  test('Slice and PadV2 of the last axis (the channel padding), and other slices and pads, as the cpu backend', async () => {
    const v = values(2 * 5 * 3 * 7, 13);
    const { cpu, wasm } = await onBoth(() => {
      const x = tf.tensor4d(v, [2, 5, 3, 7]);
      return [
        tf.slice(x, [0, 0, 0, 0], [-1, -1, -1, 6]), // last axis narrowed: flowtune's pass
        tf.slice(x, [0, 0, 0, 0], [2, 5, 3, 1]),
        tf.slice(x, [0, 1, 0, 2], [2, 3, 3, 4]), // other slices: the original kernel
        tf.slice(tf.tensor1d(v), 3, 10),
        tf.pad(x, [[0, 0], [0, 0], [0, 0], [0, 1]]), // last axis widened with zeros: flowtune's pass
        tf.pad(x, [[0, 0], [1, 0], [0, 0], [0, 1]]), // other pads: the original kernel
        tf.pad(x, [[0, 0], [0, 0], [0, 0], [0, 2]], 1.5),
        tf.slice(tf.pad(x, [[0, 0], [0, 0], [0, 0], [0, 1]]), [0, 0, 0, 0], [-1, -1, -1, 7]),
      ];
    });
    expectClose(wasm, cpu, 1e-7);
  });

  test.each([
    [[128, 28, 28, 20], 1e-5],
    [[6, 5, 5, 3], 1e-3],
    [[10, 4], 1e-5],
  ] as Array<[number[], number]>)('FusedBatchNorm forward on %j (ε %s)', async (shape, epsilon) => {
    const c = shape[shape.length - 1];
    const v = values(shape.reduce((a, b) => a * b, 1), 7);
    const [m, s, o, g] = [values(c, 1), values(c, 2).map((x) => x + 1.5), values(c, 3), values(c, 4)];
    const { cpu, wasm } = await onBoth(() => {
      const x = tf.tensor(v, shape);
      return [
        tf.batchNorm(x, tf.tensor1d(m), tf.tensor1d(s), tf.tensor1d(o), tf.tensor1d(g), epsilon),
        tf.batchNorm(x, tf.tensor1d(m), tf.tensor1d(s), undefined, undefined, epsilon),
      ];
    });
    expectClose(wasm, cpu);
  });

  test.each([
    [[128, 3920], [128, 10], true, false],
    [[10, 128], [3920, 10], true, true],
    [[128, 10], [3920, 10], false, true],
    [[5, 7], [7, 3], false, false],
    [[2, 5, 7], [2, 3, 7], false, true],
    [[200, 3], [4, 200], true, true], // the transposed product is cheaper to move
    [[60, 5], [60, 3], true, false],
    // ≤ 12 outputs: kernels/direct.ts's fully connected loops (and their fallbacks at 13, k % 4 ≠ 0)
    [[16, 12], [16, 12], true, false],
    [[9, 12], [20, 12], false, true],
    [[7, 13], [13, 13], false, false],
    [[6, 10], [9, 10], false, true],
  ] as Array<[number[], number[], boolean, boolean]>)('BatchMatMul %j × %j (transposeA %s, transposeB %s)', async (aShape, bShape, ta, tb) => {
    const av = values(aShape.reduce((x, y) => x * y, 1), 11);
    const bv = values(bShape.reduce((x, y) => x * y, 1), 12);
    const { cpu, wasm } = await onBoth(() => tf.matMul(tf.tensor(av, aShape), tf.tensor(bv, bShape), ta, tb));
    expectClose(wasm, cpu, 1e-4);
  });

  test.each([
    [[6, 20], [20, 10], true, 'linear'],
    [[1, 5, 8], [1, 8, 3], false, 'linear'],
    [[4, 8], [8, 12], true, 'relu'], // activation: the original kernel
    [[4, 8], [8, 13], true, 'linear'], // 13 outputs: the original kernel
  ] as Array<[number[], number[], boolean, 'linear' | 'relu']>)('_FusedMatMul %j × %j (bias %s, %s)', async (aShape, bShape, withBias, activation) => {
    const av = values(aShape.reduce((x, y) => x * y, 1), 13);
    const bv = values(bShape.reduce((x, y) => x * y, 1), 14);
    const biasv = values(bShape[bShape.length - 1], 15);
    const { cpu, wasm } = await onBoth(() =>
      tf.fused.matMul({
        a: tf.tensor(av, aShape as never) as tf.Tensor2D,
        b: tf.tensor(bv, bShape as never) as tf.Tensor2D,
        bias: withBias ? tf.tensor1d(biasv) : undefined,
        activation,
      }),
    );
    expectClose(wasm, cpu, 1e-5);
  });

  test.each([
    // size, inChannels, filters, kernel, stride, padding, bias, activation
    [9, 8, 12, 3, 1, 'same', true, 'linear'],
    [7, 4, 8, 3, 2, 'valid', false, 'linear'],
    [10, 12, 4, 2, 2, 'same', true, 'linear'],
    [6, 8, 8, 3, 1, 'same', true, 'relu'], // activation: the original kernel
    [6, 3, 8, 3, 1, 'same', true, 'linear'], // 3 input channels: the original kernel
    [28, 1, 40, 5, 1, 'same', true, 'linear'], // 1 input channel: flowtune's ConvC1 loop (evaluation's first layer)
    [11, 1, 8, 3, 2, 'valid', false, 'linear'], // … without bias
    [9, 1, 6, 3, 1, 'same', true, 'linear'], // 6 filters (not a multiple of 4): widened to 8 with zeros
    [14, 30, 60, 5, 1, 'same', true, 'linear'], // 30 → 60 channels: widened to 32 → 60, Winograd
  ] as Array<[number, number, number, number, number, 'same' | 'valid', boolean, 'linear' | 'relu']>)(
    'FusedConv2D: %i px, %i → %i channels, kernel %i, stride %i, %s (bias %s, %s)',
    async (size, ci, co, k, stride, pad, withBias, activation) => {
      const xv = values(2 * size * size * ci, size + 100);
      const wv = values(k * k * ci * co, co + 100);
      const bv = values(co, 7);
      const { cpu, wasm } = await onBoth(() =>
        tf.fused.conv2d({
          x: tf.tensor4d(xv, [2, size, size, ci]),
          filter: tf.tensor4d(wv, [k, k, ci, co]),
          strides: stride,
          pad,
          bias: withBias ? tf.tensor1d(bv) : undefined,
          activation,
        }),
      );
      expectClose(wasm, cpu, 1e-5);
    },
  );

  test('GatherV2 along axis 0 (float and int rows), and the original out-of-range error', async () => {
    const v = values(20 * 6, 5);
    const idx = [3, 0, 19, 3, 7];
    const { cpu, wasm } = await onBoth(() => {
      const x = tf.tensor(v, [20, 2, 3]);
      return [tf.gather(x, idx), tf.gather(tf.tensor1d([...Array(20).keys()], 'int32'), idx), tf.gather(x, [1, 0], 1)];
    });
    expectClose(wasm, cpu);
    await initBackend('wasm');
    expect(() => tf.gather(tf.tensor2d([1, 2, 3, 4], [2, 2]), [2])).toThrow(/GatherV2: the index value 2 is not in \[0, 1\]/);
  });

  test.each([
    // shape, pool, stride, padding, with ties
    [[3, 8, 8, 4], 2, 2, 'valid', false],
    [[3, 8, 8, 4], 2, 2, 'valid', true],
    [[2, 7, 7, 3], 2, 2, 'valid', true],
    [[2, 9, 9, 3], 3, 2, 'same', true],
    [[2, 6, 6, 2], 3, 1, 'same', false],
  ] as Array<[number[], number, number, 'valid' | 'same', boolean]>)('MaxPoolGrad on %j, pool %i stride %i %s (ties %s)', async (shape, pool, stride, pad, ties) => {
    const v = values(shape.reduce((a, b) => a * b, 1), 99, ties);
    const { cpu, wasm } = await onBoth(() => {
      const x = tf.tensor4d(v, shape as [number, number, number, number]);
      return tf.grad((xx: tf.Tensor) => tf.maxPool(xx as tf.Tensor4D, pool, stride, pad).mul(tf.range(1, 1 + tf.maxPool(x, pool, stride, pad).size).reshape(tf.maxPool(x, pool, stride, pad).shape)).sum())(x);
    });
    expectClose(wasm, cpu);
  });

  test('MaxPoolGrad: a window holding NaN passes the gradient as the cpu backend does', async () => {
    const v = values(1 * 4 * 4 * 2, 3);
    v[0] = Number.NaN;
    v[11] = Number.NaN;
    const { cpu, wasm } = await onBoth(() =>
      tf.grad((xx: tf.Tensor) => tf.maxPool(xx as tf.Tensor4D, 2, 2, 'valid').sum())(tf.tensor4d(v, [1, 4, 4, 2])),
    );
    expectClose(wasm, cpu);
  });

  test.each([
    // size, inChannels, filters, kernel, stride, padding
    [8, 3, 5, 3, 1, 'same'],
    [7, 4, 2, 3, 1, 'valid'],
    [9, 2, 6, 5, 1, 'same'],
    [10, 3, 4, 5, 1, 'valid'],
    [14, 20, 40, 3, 1, 'same'],
    [8, 3, 5, 3, 2, 'same'],
    [9, 2, 3, 3, 2, 'valid'],
    // channel counts multiples of 4: flowtune's direct convolution (kernels/fused.ts conv2dDirect)
    [9, 8, 12, 3, 1, 'valid'],
    [11, 4, 8, 5, 1, 'same'],
    [6, 12, 4, 2, 1, 'same'],
    [5, 8, 8, 3, 1, 'same'],
  ] as Array<[number, number, number, number, number, 'same' | 'valid']>)(
    'Conv2DBackpropInput: %i px, %i → %i channels, kernel %i, stride %i, %s',
    async (size, ci, co, k, stride, pad) => {
      const xv = values(2 * size * size * ci, size);
      const wv = values(k * k * ci * co, co);
      const { cpu, wasm } = await onBoth(() => {
        const x = tf.tensor4d(xv, [2, size, size, ci]);
        const w = tf.tensor4d(wv, [k, k, ci, co]);
        return tf.grad((xx: tf.Tensor) => tf.conv2d(xx as tf.Tensor4D, w, stride, pad).square().sum())(x);
      });
      expectClose(wasm, cpu, 1e-4);
    },
  );
});

describe('the FusedBatchNorm gradient override', () => {
  test.each([
    [[4, 5, 5, 3], true],
    [[6, 4], true],
  ] as Array<[number[], boolean]>)('matches the original tfjs-core gradient on %j (scale %s)', async (shape, withScale) => {
    await initBackend('wasm'); // applies the patches
    expect(tf.getGradient('FusedBatchNorm')).not.toBe(originalFusedBatchNormGradient());
    await initBackend('cpu');
    const c = shape[shape.length - 1];
    const x = tf.tensor(values(shape.reduce((a, b) => a * b, 1), 21), shape);
    const gamma = tf.tensor1d(values(c, 22).map((v) => v + 1.5));
    const beta = tf.tensor1d(values(c, 23));
    const dy = tf.tensor(values(x.size, 24), shape);
    const axes = shape.map((_, i) => i).slice(0, -1);
    const loss = (xx: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
      const { mean, variance } = tf.moments(xx, axes);
      return tf.batchNorm(xx, mean, variance, b, withScale ? g : undefined, 1e-3).mul(dy).sum();
    };
    const wrt = withScale ? [x, gamma, beta] : [x, beta];
    const f = withScale ? loss : (xx: tf.Tensor, b: tf.Tensor) => loss(xx, gamma, b);
    const patched = tf.grads(f)(wrt);
    const replacement = tf.getGradient('FusedBatchNorm')!;
    tf.registerGradient(originalFusedBatchNormGradient());
    try {
      const original = tf.grads(f)(wrt);
      for (let i = 0; i < wrt.length; i++) {
        expectClose([Array.from(await patched[i].data())], [Array.from(await original[i].data())], 1e-4);
      }
    } finally {
      tf.registerGradient(replacement);
    }
  });
});
