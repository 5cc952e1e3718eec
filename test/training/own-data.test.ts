/**
 * Data sets of any H×W×C through the trainer: colour images (the fused first-layer kernel is for
 * one input channel, so colour falls back to tfjs's convolution — checked against the cpu backend)
 * and pixels kept as bytes (above --max-memory: converted one batch at a time, same numbers as floats).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, test } from 'vitest';
import { toUnitFloats } from '../../src/data/memory.ts';
import { mulberry32 } from '../../src/util/random.ts';
import { resolveOptions } from '../../src/config/options.ts';
import { type BackendName, initBackend } from '../../src/training/backend.ts';
import { evaluateModel } from '../../src/training/evaluate.ts';
import { conv2dC1 } from '../../src/training/kernels/fused.ts';
import { fusedKernelsAvailable } from '../../src/training/kernels/runtime.ts';
import { trainRun } from '../../src/training/trainer.ts';
import { gatherImages, sliceImages, uploadImages } from '../../src/training/upload.ts';
import { buildModel, forwardTraining } from '../../src/training/model.ts';
import type { NetworkSpec } from '../../src/types.ts';
import type { DataView, ImageSet } from '../../src/data/image-set.ts';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
const freshDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'flowtune-own-'));
  dirs.push(d);
  return d;
};

/** `n` colour images 12×12×3 as bytes, 3 classes: class k is brighter in channel k. */
function colourBytes(n: number, seed: number): { bytes: Uint8Array; labels: Uint8Array } {
  const random = mulberry32(seed);
  const bytes = new Uint8Array(n * 12 * 12 * 3);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    labels[i] = i % 3;
    for (let p = 0; p < 144; p++) for (let c = 0; c < 3; c++) bytes[(i * 144 + p) * 3 + c] = Math.floor(random() * 120) + (c === i % 3 ? 100 : 0);
  }
  return { bytes, labels };
}

function set(bytes: Uint8Array, labels: Uint8Array, asBytes: boolean): ImageSet {
  return { name: 'colour', images: asBytes ? bytes : toUnitFloats(bytes), labels, count: labels.length, height: 12, width: 12, channels: 3, classNames: ['r', 'g', 'b'] };
}

const view = (s: ImageSet, indices?: number[]): DataView => ({ set: s, indices: Uint32Array.from(indices ?? Array.from({ length: s.count }, (_, i) => i)) });

const network: NetworkSpec = {
  inputShape: [12, 12, 3],
  layers: [
    { type: 'conv', filters: 8, kernelSize: 3, padding: 'same' },
    { type: 'batchnorm' },
    { type: 'relu' },
    { type: 'maxpool', poolSize: 2, stride: 2 },
    { type: 'fc', units: 3 },
  ],
};

const train = colourBytes(96, 1);
const validation = colourBytes(30, 2);
const options = resolveOptions({ miniBatchSize: 16, maxEpochs: 2, validationFrequency: 3, initialLearnRate: 0.05 });

async function run(backend: BackendName, asBytes: boolean) {
  await initBackend(backend);
  return trainRun({
    network,
    options,
    train: view(set(train.bytes, train.labels, asBytes), Array.from({ length: 90 }, (_, i) => 95 - i)), // a view in another order
    validation: view(set(validation.bytes, validation.labels, asBytes)),
    checkpointDir: freshDir(),
  });
}

describe('colour images (3 channels)', () => {
  test('the one-channel fused convolution declines them on wasm, and the fallback gives the cpu backend’s loss and gradients', async () => {
    await initBackend('wasm');
    expect(fusedKernelsAvailable()).toBe(true);
    const x3 = tf.zeros([2, 12, 12, 3]) as tf.Tensor4D;
    expect(conv2dC1(x3, tf.zeros([3, 3, 3, 8]) as tf.Tensor4D, tf.zeros([8]) as tf.Tensor1D, { strides: 1, pad: 'same' })).toBeNull();
    const xv = toUnitFloats(train.bytes.subarray(0, 6 * 432));
    const grads = async (backend: BackendName, ours: boolean) => {
      await initBackend(backend);
      const model = buildModel(network, 3);
      const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
      const x = tf.tensor4d(xv, [6, 12, 12, 3]);
      const forward = () => (ours ? forwardTraining(model, x, 'seed') : (model.apply(x, { training: true }) as tf.Tensor));
      const { value, grads: g } = tf.variableGrads(() => tf.sum(tf.square(forward())) as tf.Scalar, variables);
      const out = [Array.from(await value.data()), ...(await Promise.all(variables.map(async (v) => Array.from(await g[v.name].data()))))];
      tf.dispose([x, value, ...Object.values(g)]);
      model.dispose();
      return out;
    };
    const expected = await grads('cpu', false);
    const got = await grads('wasm', true);
    expect(got).toHaveLength(expected.length);
    got.forEach((values, i) => {
      const scale = Math.max(1, ...expected[i].map(Math.abs));
      const worst = Math.max(...values.map((v, j) => Math.abs(v - expected[i][j]) / scale));
      expect(worst, `output ${i}`).toBeLessThan(i === 0 ? 1e-5 : 2e-4);
    });
  });

  test('a short run on wasm follows the cpu backend’s, and learns the colours', async () => {
    const cpu = await run('cpu', false);
    const wasm = await run('wasm', false);
    expect(wasm.history.iterations.length).toBe(10); // 90 images / 16 = 5 batches × 2 epochs
    wasm.history.iterations.forEach((it, i) => expect(Math.abs(it.loss - cpu.history.iterations[i].loss)).toBeLessThan(1e-3));
    expect(wasm.history.validations.at(-1)!.accuracy).toBeGreaterThan(0.6);
  });
});

describe('pixels kept as bytes (above --max-memory)', () => {
  test('upload keeps the bytes; a gathered or sliced batch equals the float32 path', async () => {
    await initBackend('wasm');
    const asFloats = uploadImages(view(set(train.bytes, train.labels, false), [5, 9, 2, 40]));
    const asBytes = uploadImages(view(set(train.bytes, train.labels, true), [5, 9, 2, 40]));
    expect(asBytes.images).toBeUndefined();
    expect(asBytes.bytes?.pixels).toBe(train.bytes); // no copy
    const idx = tf.tensor1d([3, 0, 2], 'int32');
    expect(Array.from(await gatherImages(asBytes, idx).data())).toEqual(Array.from(await gatherImages(asFloats, idx).data()));
    expect(Array.from(await sliceImages(asBytes, 1, 3).data())).toEqual(Array.from(await sliceImages(asFloats, 1, 3).data()));
    expect(Array.from(await asBytes.labels.data())).toEqual([train.labels[5], train.labels[9], train.labels[2], train.labels[40]]);
    tf.dispose([asFloats.images!, asFloats.labels, asBytes.labels, idx]);
  });

  test('training and evaluation give the same numbers from bytes as from floats', async () => {
    const floats = await run('wasm', false);
    const bytes = await run('wasm', true);
    expect(bytes.history.iterations.map((i) => i.loss)).toEqual(floats.history.iterations.map((i) => i.loss));
    expect(bytes.history.validations).toEqual(floats.history.validations);
    const evaluate = (asBytes: boolean, dir: string) => evaluateModel({ checkpointDir: dir, network, test: set(validation.bytes, validation.labels, asBytes) });
    const a = await evaluate(false, floats.checkpointDir);
    const b = await evaluate(true, floats.checkpointDir);
    expect([b.loss, b.accuracy]).toEqual([a.loss, a.accuracy]);
  });
});
