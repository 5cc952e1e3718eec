/**
 * src/training/kernels/batchNorm.ts: the closed-form batch norm gives tfjs's own numbers (tf.moments
 * + tf.batchNorm + autodiff, and tf.layers.batchNormalization) on the cpu and wasm backends.
 */
import { describe, expect, test } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initBackend, type BackendName } from '../../src/training/backend.ts';
import { batchNormLayerTraining, batchNormTraining } from '../../src/training/kernels/batchNorm.ts';

function values(n: number, seed: number, offset = 0): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1 + offset;
  }
  return out;
}

async function arrays(ts: tf.Tensor[]): Promise<Float32Array[]> {
  return Promise.all(ts.map(async (t) => (await t.data()) as Float32Array));
}

function maxRelDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let scale = 1;
  for (const v of b) scale = Math.max(scale, Math.abs(v));
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / scale);
  return worst;
}

describe('batchNormTraining', () => {
  test.each([
    ['cpu', [4, 5, 5, 3]],
    ['wasm', [4, 5, 5, 3]],
    ['wasm', [16, 6]],
    ['wasm', [32, 7, 7, 20]],
    ['cpu', [2, 3, 3, 1]],
  ] as Array<[BackendName, number[]]>)('on %s, %j: output, statistics and all three gradients match tfjs autodiff', async (backend, shape) => {
    await initBackend(backend);
    const c = shape[shape.length - 1];
    const size = shape.reduce((a, b) => a * b, 1);
    const x = tf.tensor(values(size, size, 0.7), shape); // a non-zero mean, as conv outputs have
    const gamma = tf.tensor1d(values(c, 2, 1.2));
    const beta = tf.tensor1d(values(c, 3));
    const dy = tf.tensor(values(size, 4), shape);
    const axes = shape.map((_, i) => i).slice(0, -1);
    const eps = 1e-5;

    const ours = tf.grads((xx: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => batchNormTraining(xx, g, b, eps).y.mul(dy).sum())([x, gamma, beta]);
    const theirs = tf.grads((xx: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
      const { mean, variance } = tf.moments(xx, axes);
      return tf.batchNorm(xx, mean, variance, b, g, eps).mul(dy).sum();
    })([x, gamma, beta]);
    const { y, mean, variance } = batchNormTraining(x, gamma, beta, eps);
    const m = tf.moments(x, axes);
    const [oy, om, ov, ...oGrads] = await arrays([y, mean, variance, ...ours]);
    const [ty, tm, tv, ...tGrads] = await arrays([tf.batchNorm(x, m.mean, m.variance, beta, gamma, eps), m.mean, m.variance, ...theirs]);
    expect(maxRelDiff(oy, ty)).toBeLessThan(1e-5);
    expect(maxRelDiff(om, tm)).toBeLessThan(1e-5);
    expect(maxRelDiff(ov, tv)).toBeLessThan(1e-5);
    for (let i = 0; i < 3; i++) expect(maxRelDiff(oGrads[i], tGrads[i])).toBeLessThan(2e-4);
    tf.dispose([x, gamma, beta, dy, ...ours, ...theirs, y, mean, variance, m.mean, m.variance]);
  });

  test('the gradient is not the zero map: it sums to ~0 per channel, as a batch norm gradient must, but is not 0', async () => {
    await initBackend('wasm');
    const x = tf.tensor(values(2 * 4 * 4 * 3, 9), [2, 4, 4, 3]);
    const dy = tf.tensor(values(x.size, 10), x.shape);
    const dx = tf.grad((xx: tf.Tensor) => batchNormTraining(xx, tf.ones([3]), tf.zeros([3])).y.mul(dy).sum())(x);
    const perChannel = await tf.sum(dx, [0, 1, 2]).data();
    for (const v of perChannel) expect(Math.abs(v)).toBeLessThan(1e-4);
    expect(await tf.max(tf.abs(dx)).data()).not.toEqual(new Float32Array([0]));
  });
});

describe('batchNormLayerTraining', () => {
  test.each(['cpu', 'wasm'] as BackendName[])('on %s: same output, moving statistics and gradients as layer.apply(training)', async (backend) => {
    await initBackend(backend);
    const make = () => {
      const layer = tf.layers.batchNormalization({ axis: -1, momentum: 0.9, epsilon: 1e-5 });
      layer.build([null, 5, 5, 4]);
      layer.setWeights([
        tf.tensor1d(values(4, 5, 1)), // gamma
        tf.tensor1d(values(4, 6)), // beta
        tf.tensor1d(values(4, 7)), // moving mean
        tf.tensor1d(values(4, 8, 2)), // moving variance
      ]);
      return layer;
    };
    const x = tf.tensor(values(3 * 5 * 5 * 4, 11, 0.5), [3, 5, 5, 4]);
    const dy = tf.tensor(values(x.size, 12), x.shape);
    const ours = make();
    const theirs = make();
    const run = (layer: tf.layers.Layer, useOurs: boolean) => {
      const vars = layer.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val);
      const { value, grads } = tf.variableGrads(() => {
        const y = useOurs ? batchNormLayerTraining(layer as never, x)! : (layer.apply(x, { training: true }) as tf.Tensor);
        return y.mul(dy).sum() as tf.Scalar;
      }, vars);
      return { value, grads: vars.map((v) => grads[v.name]) };
    };
    const a = run(ours, true);
    const b = run(theirs, false);
    expect(a.grads).toHaveLength(2); // gamma, beta
    expect(maxRelDiff((await a.value.data()) as Float32Array, (await b.value.data()) as Float32Array)).toBeLessThan(1e-5);
    for (let i = 0; i < b.grads.length; i++) {
      expect(maxRelDiff((await a.grads[i].data()) as Float32Array, (await b.grads[i].data()) as Float32Array)).toBeLessThan(2e-4);
    }
    const weightsA = await arrays(ours.getWeights());
    const weightsB = await arrays(theirs.getWeights());
    weightsA.forEach((w, i) => expect(maxRelDiff(w, weightsB[i])).toBeLessThan(1e-5));
    expect(maxRelDiff(weightsA[2], values(4, 7))).toBeGreaterThan(1e-3); // the moving mean did move
  });

  test('declines layers it does not reproduce (no center/scale)', async () => {
    await initBackend('cpu');
    const layer = tf.layers.batchNormalization({ axis: -1, center: false });
    layer.build([null, 4]);
    expect(batchNormLayerTraining(layer as never, tf.zeros([2, 4]))).toBeNull();
  });
});
