import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fullView, holdoutSplit, openDataset, stratifiedSubset } from '../../src/data/index.ts';
import { UserError } from '../../src/errors.ts';
import { initBackend, parseBackendName } from '../../src/training/backend.ts';
import { fileHandler, saveModel } from '../../src/training/checkpoint.ts';
import { evaluateModel, loadSavedModel } from '../../src/training/evaluate.ts';
import { defaultNetwork } from '../../src/config/network.ts';
import { resolveOptions } from '../../src/config/options.ts';
import { trainRun } from '../../src/training/trainer.ts';
import { buildModel } from '../../src/training/model.ts';
import type { NetworkSpec } from '../../src/types.ts';
import type { DataView, ImageSet } from '../../src/data/image-set.ts';

/** 8×8 images, 3 classes: a bright row at the top, middle or bottom, over noise. */
function rowImages(n: number, seed: number): ImageSet {
  let s = seed >>> 0;
  const random = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
  const images = new Float32Array(n * 64);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const k = i % 3;
    labels[i] = k;
    for (let p = 0; p < 64; p++) images[i * 64 + p] = random() * 0.5;
    const row = [1, 4, 6][k];
    for (let c = 0; c < 8; c++) images[i * 64 + row * 8 + c] += 0.5;
  }
  return { name: 'rows', images, labels, count: n, height: 8, width: 8, channels: 1, classNames: ['top', 'middle', 'bottom'] };
}

const network: NetworkSpec = {
  inputShape: [8, 8, 1],
  layers: [{ type: 'conv', filters: 3, kernelSize: 3 }, { type: 'batchnorm' }, { type: 'relu' }, { type: 'maxpool', poolSize: 2, stride: 2 }, { type: 'fc', units: 3 }],
};
const all = (set: ImageSet): DataView => ({ set, indices: Uint32Array.from({ length: set.count }, (_, i) => i) });

let root: string;
let baseline: number;
beforeAll(async () => {
  // FLOWTUNE_BACKEND=cpu runs these on another backend; by default the automatic choice (wasm here).
  await initBackend(process.env.FLOWTUNE_BACKEND ? parseBackendName(process.env.FLOWTUNE_BACKEND) : undefined);
  root = mkdtempSync(join(tmpdir(), 'flowtune-evaluate-'));
  baseline = tf.memory().numTensors;
});
afterAll(() => rmSync(root, { recursive: true, force: true }));
afterEach(() => expect(tf.memory().numTensors).toBe(baseline));

describe('saved models', () => {
  it('reload with identical predictions, in the standard tfjs layers format', async () => {
    const dir = join(root, 'saved');
    const model = buildModel(network, 11);
    await saveModel(model, dir);
    const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
    expect(json.format).toBe('layers-model');
    expect(json.weightsManifest).toEqual([{ paths: ['weights.bin'], weights: expect.any(Array) }]);
    expect(json.weightsManifest[0].weights.map((w: { name: string }) => w.name)).toContain('bn2/moving_variance');

    const loaded = await loadSavedModel(dir);
    const again = await tf.loadLayersModel(fileHandler(dir)); // the public tfjs path works too
    const x = tf.tensor4d(rowImages(16, 5).images, [16, 8, 8, 1]);
    const [a, b, c] = [model, loaded, again].map((m) => m.predict(x) as tf.Tensor);
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
    expect(Array.from(c.dataSync())).toEqual(Array.from(a.dataSync()));
    tf.dispose([x, a, b, c]);
    model.dispose();
    loaded.dispose();
    again.dispose();
  });

  it('a missing checkpoint is a UserError that names the file', async () => {
    await expect(loadSavedModel(join(root, 'nowhere'))).rejects.toThrow(UserError);
    await expect(loadSavedModel(join(root, 'nowhere'))).rejects.toThrow(/nowhere\/model.json does not exist/);
  });
});

describe('evaluateModel', () => {
  it("agrees with the trainer's last validation, and its confusion matrix adds up", async () => {
    const validation = all(rowImages(90, 2));
    const r = await trainRun({
      network,
      options: resolveOptions({ maxEpochs: 3, miniBatchSize: 16, validationFrequency: 1000 }),
      train: all(rowImages(96, 1)),
      validation,
      checkpointDir: join(root, 'trained'),
    });
    const last = r.history.validations.at(-1)!;
    const e = await evaluateModel({ checkpointDir: r.checkpointDir, network, test: validation, classNames: ['top', 'middle', 'bottom'] });
    expect(e.loss).toBeCloseTo(last.loss, 5);
    expect(e.accuracy).toBe(last.accuracy);
    expect(e.count).toBe(90);
    expect(e.confusion.map((row) => row.reduce((a, b) => a + b, 0))).toEqual([30, 30, 30]);
    const diagonal = e.confusion.reduce((a, row, k) => a + row[k], 0);
    expect(diagonal / 90).toBeCloseTo(e.accuracy, 12);
    expect(e.perClassAccuracy).toEqual(e.confusion.map((row, k) => row[k] / 30));
    // Per image: the losses average to the loss, the correct flags to the accuracy.
    expect(e.perImage.losses).toHaveLength(90);
    expect(e.perImage.correct).toHaveLength(90);
    expect(Array.from(e.perImage.losses).reduce((a, b) => a + b, 0) / 90).toBeCloseTo(e.loss, 5);
    expect(Array.from(e.perImage.correct).reduce((a, b) => a + b, 0) / 90).toBeCloseTo(e.accuracy, 12);
    expect(Math.min(...e.perImage.losses)).toBeGreaterThanOrEqual(0);
  });

  it('takes a model in memory (and leaves it to the caller) or an ImageSet', async () => {
    const model = buildModel(network, 0);
    const set = rowImages(30, 9);
    const fromSet = await evaluateModel({ model, test: set });
    const fromView = await evaluateModel({ model, test: all(set) });
    expect(fromView).toEqual(fromSet);
    expect(fromSet.confusion.flat().reduce((a, b) => a + b, 0)).toBe(30);
    model.dispose(); // still usable until here
  });

  it('rejects a network that predicts another number of classes', async () => {
    const model = buildModel(network, 0);
    await expect(evaluateModel({ model, network: { ...network, layers: [...network.layers.slice(0, -1), { type: 'fc', units: 10 }] }, test: rowImages(6, 1) })).rejects.toThrow(
      /The network predicts 10 classes but the evaluation data has 3/,
    );
    model.dispose();
  });
});

// End to end on real data (a few seconds): a stratified subset of Fashion-MNIST, the notes'
// default network, evaluated on part of the real test set.
describe.skipIf(!existsSync('/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz'))('Fashion-MNIST end to end', () => {
  it('the default network learns well above chance (10%) from 800 images in 3 epochs', async () => {
    const data = await openDataset();
    const { train, validation } = holdoutSplit(data.train, { validationSize: 10_000, seed: 0 });
    const r = await trainRun({
      network: defaultNetwork(),
      options: resolveOptions({ maxEpochs: 3, miniBatchSize: 32, initialLearnRate: 0.01, validationFrequency: 1000 }),
      train: stratifiedSubset(train, 800, 0),
      validation: stratifiedSubset(validation, 400, 0),
      checkpointDir: join(root, 'fashion'),
    });
    expect(r.stopReason).toEqual({ kind: 'completed' });
    expect(r.history.epochs.at(-1)!.valAccuracy).toBeGreaterThan(0.55);
    const test = stratifiedSubset(fullView(await data.loadTest()), 500, 0);
    const e = await evaluateModel({ checkpointDir: r.checkpointDir, network: defaultNetwork(), test, classNames: data.classNames });
    expect(e.accuracy).toBeGreaterThan(0.55);
    expect(e.perClassAccuracy).toHaveLength(10);
    expect(e.confusion.flat().reduce((a, b) => a + b, 0)).toBe(500);
  });
});
