/**
 * Every kernel flowtune registers for wasm is checked against tfjs's cpu backend (the reference
 * implementation) on the same numbers.
 */
import { describe, expect, test } from 'vitest';
import { initBackend, type BackendName } from '../../src/training/backend.ts';
import * as tf from '@tensorflow/tfjs';

/** Deterministic pseudo-random values in [-1, 1). */
function values(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

async function on<T>(backend: BackendName, fn: () => Promise<T>): Promise<T> {
  await initBackend(backend);
  return fn();
}

function maxAbsDiff(a: Float32Array | Int32Array | Uint8Array, b: Float32Array | Int32Array | Uint8Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function maxAbs(a: Float32Array | Int32Array | Uint8Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

describe('Conv2DBackpropFilter on wasm matches the cpu backend', () => {
  test.each([
    // size, inChannels, filters, kernel, stride, padding
    [8, 1, 4, 3, 1, 'same'],
    [8, 1, 4, 3, 2, 'same'],
    [7, 3, 5, 3, 2, 'same'],
    [7, 3, 5, 3, 1, 'valid'],
    [8, 2, 3, 3, 2, 'valid'],
    [9, 2, 3, 5, 2, 'valid'],
    [10, 4, 6, 5, 2, 'same'],
    [11, 4, 6, 5, 1, 'same'],
    [12, 20, 8, 3, 2, 'same'],
    [28, 1, 20, 3, 1, 'same'],
    [14, 20, 40, 3, 1, 'same'],
    [6, 2, 2, 5, 3, 'valid'],
    // one input channel: the direct SIMD loop (kernels/fused.ts) when ≤ 25 taps and filters % 4 = 0
    [9, 1, 8, 3, 2, 'valid'],
    [7, 1, 12, 2, 1, 'same'],
    [10, 1, 4, 1, 1, 'valid'],
    [9, 1, 8, 3, 3, 'same'],
    [6, 1, 8, 5, 1, 'same'],
    [8, 1, 6, 3, 1, 'same'],
    // channel counts that are multiples of 4: the direct SIMD loop (8 + a 4-wide tail of outputs)
    [9, 4, 12, 3, 1, 'same'],
    [10, 8, 8, 3, 2, 'same'],
    [9, 4, 4, 2, 2, 'valid'],
    [7, 12, 20, 5, 1, 'same'],
  ] as Array<[number, number, number, number, number, 'same' | 'valid']>)(
    '%i px, %i channels → %i filters, kernel %i, stride %i, %s',
    async (size, inChannels, filters, kernel, stride, padding) => {
      const batch = 3;
      const xShape: [number, number, number, number] = [batch, size, size, inChannels];
      const wShape: [number, number, number, number] = [kernel, kernel, inChannels, filters];
      const xv = values(batch * size * size * inChannels, size * 31 + inChannels);
      const wv = values(kernel * kernel * inChannels * filters, filters * 7 + kernel);
      const grads = (backend: BackendName) =>
        on(backend, async () => {
          const x = tf.tensor4d(xv, xShape);
          const w = tf.tensor4d(wv, wShape);
          // A non-uniform upstream gradient, so that every position of dy matters.
          const f = (xx: tf.Tensor4D, ww: tf.Tensor4D) => tf.conv2d(xx, ww, stride, padding).square().sum();
          const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => f(a as tf.Tensor4D, b as tf.Tensor4D))([x, w]);
          const out = { dx: await dx.data(), dw: await dw.data(), dwShape: dw.shape };
          tf.dispose([x, w, dx, dw]);
          return out;
        });
      const cpu = await grads('cpu');
      const wasm = await grads('wasm');
      expect(wasm.dwShape).toEqual(wShape);
      const scale = Math.max(1, maxAbs(cpu.dw));
      expect(maxAbsDiff(wasm.dw, cpu.dw) / scale).toBeLessThan(1e-5);
      expect(maxAbsDiff(wasm.dx, cpu.dx) / Math.max(1, maxAbs(cpu.dx))).toBeLessThan(1e-5);
    },
  );

  test('leaks no tensors', async () => {
    const { tf: t } = await initBackend('wasm');
    const x = t.tensor4d(values(2 * 9 * 9 * 2, 3), [2, 9, 9, 2]);
    const w = t.tensor4d(values(3 * 3 * 2 * 4, 4), [3, 3, 2, 4]);
    const before = t.memory().numTensors;
    const bytesBefore = t.memory().numBytes;
    const dw = t.tidy(() => t.grad((ww: tf.Tensor) => t.conv2d(x, ww as tf.Tensor4D, 2, 'same').sum())(w));
    expect(t.memory().numTensors).toBe(before + 1);
    expect(t.memory().numBytes).toBe(bytesBefore + dw.size * 4);
    t.dispose([x, w, dw]);
  });
});
