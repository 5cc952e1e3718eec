/**
 * Data augmentation: the pure batch transform (src/data/augment.ts) on tiny made-up images, and
 * the trainer applying it to training batches only, on a task where a mirror destroys the label.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { augmentBatch, augmentDraws } from '../../src/data/augment.ts';
import { augments, resolveOptions, toMatlabAugmenter } from '../../src/config/options.ts';
import { applyDecision } from '../../src/actions.ts';
import { defaultNetwork } from '../../src/config/network.ts';
import { initBackend } from '../../src/training/backend.ts';
import { trainRun } from '../../src/training/trainer.ts';
import type { NetworkSpec } from '../../src/types.ts';
import type { DataView, ImageSet } from '../../src/data/image-set.ts';

/** A 3×3 single-channel image with pixel values 1..9, row-major. */
const ramp = Float32Array.from({ length: 9 }, (_, i) => i + 1);

describe('augmentBatch', () => {
  it.each([
    { draw: { dx: 0, dy: 0, mirror: false }, want: [1, 2, 3, 4, 5, 6, 7, 8, 9] },
    { draw: { dx: 0, dy: 0, mirror: true }, want: [3, 2, 1, 6, 5, 4, 9, 8, 7] },
    { draw: { dx: 1, dy: 0, mirror: false }, want: [0, 1, 2, 0, 4, 5, 0, 7, 8] },
    { draw: { dx: -1, dy: 0, mirror: false }, want: [2, 3, 0, 5, 6, 0, 8, 9, 0] },
    { draw: { dx: 0, dy: 1, mirror: false }, want: [0, 0, 0, 1, 2, 3, 4, 5, 6] },
    { draw: { dx: 1, dy: -1, mirror: true }, want: [0, 6, 5, 0, 9, 8, 0, 0, 0] },
  ])('$draw', ({ draw, want }) => {
    expect(Array.from(augmentBatch(ramp, [1, 3, 3, 1], [draw]))).toEqual(want);
  });

  it('moves every channel of a pixel together and leaves its input as it was', () => {
    const rgb = Float32Array.from({ length: 2 * 2 * 3 }, (_, i) => i);
    const out = augmentBatch(rgb, [1, 2, 2, 3], [{ dx: 0, dy: 0, mirror: true }]);
    expect(Array.from(out)).toEqual([3, 4, 5, 0, 1, 2, 9, 10, 11, 6, 7, 8]);
    expect(rgb[0]).toBe(0);
  });

  it('draws shifts in [−N, N] and mirrors about half of the images, the same for the same seed', () => {
    const draws = augmentDraws(4000, { reflectX: true, translateX: 2, translateY: 1 }, 7);
    expect(new Set(draws.map((d) => d.dx))).toEqual(new Set([-2, -1, 0, 1, 2]));
    expect(new Set(draws.map((d) => d.dy))).toEqual(new Set([-1, 0, 1]));
    const mirrored = draws.filter((d) => d.mirror).length / draws.length;
    expect(mirrored).toBeGreaterThan(0.45);
    expect(mirrored).toBeLessThan(0.55);
    const aug = { reflectX: true, translateX: 2, translateY: 2 };
    expect(augmentDraws(50, aug, 7)).toEqual(augmentDraws(50, aug, 7));
    expect(augmentDraws(50, aug, 8)).not.toEqual(augmentDraws(50, aug, 7));
    expect(augmentDraws(3, { reflectX: false, translateX: 0, translateY: 0 }, 1)).toEqual([
      { dx: 0, dy: 0, mirror: false },
      { dx: 0, dy: 0, mirror: false },
      { dx: 0, dy: 0, mirror: false },
    ]);
  });
});

describe('the augmentData action and its options', () => {
  it('sets MATLAB imageDataAugmenter-like options, checked like every option', () => {
    const subject = { network: defaultNetwork(), options: resolveOptions({}) };
    const change = applyDecision(subject, { action: 'augmentData', params: {}, reason: 'gap 12 points' }, { lastLearnRate: 0.01, bestEpoch: null, epochsTrained: 10 });
    expect(change.options).toMatchObject({ randXReflection: true, randXTranslation: 2, randYTranslation: 2 });
    expect(change.network).toBe(subject.network);
    expect(augments(change.options)).toBe(true);
    expect(augments(subject.options)).toBe(false);
    expect(toMatlabAugmenter(change.options)).toBe("imageDataAugmenter('RandXReflection', true, 'RandXTranslation', [-2 2], 'RandYTranslation', [-2 2])");
    expect(toMatlabAugmenter(subject.options)).toBeNull();
    expect(() => resolveOptions({ randXTranslation: 1.5 })).toThrow(/randXTranslation must be a whole number of pixels in \[0, 8\]/);
    expect(() => resolveOptions({ randXReflection: 'yes' })).toThrow(/randXReflection must be true or false/);
  });
});

/** 8×8 images: class 0 a bright bar in the left half, class 1 in the right half (a mirror swaps them). */
function bars(n: number, seed: number): ImageSet {
  let s = seed >>> 0;
  const random = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296);
  const images = new Float32Array(n * 64);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const k = i % 2;
    for (let p = 0; p < 64; p++) images[i * 64 + p] = random() * 0.3;
    const col = k === 0 ? 1 + Math.floor(random() * 2) : 5 + Math.floor(random() * 2);
    for (let r = 1; r < 7; r++) images[i * 64 + r * 8 + col] += 0.7;
    labels[i] = k;
  }
  return { name: 'bars', images, labels, count: n, height: 8, width: 8, channels: 1, classNames: ['left', 'right'] };
}
const all = (set: ImageSet): DataView => ({ set, indices: Uint32Array.from({ length: set.count }, (_, i) => i) });

describe('training with augmentation (real tfjs)', () => {
  const dirs: string[] = [];
  const net: NetworkSpec = {
    inputShape: [8, 8, 1],
    layers: [{ type: 'conv', filters: 4, kernelSize: 3, padding: 'same' }, { type: 'batchnorm' }, { type: 'relu' }, { type: 'maxpool', poolSize: 2, stride: 2 }, { type: 'fc', units: 2 }],
  };
  const train = all(bars(256, 1));
  const validation = all(bars(64, 2));
  const run = (extra: Record<string, unknown>) => {
    const dir = mkdtempSync(join(tmpdir(), 'flowtune-augment-'));
    dirs.push(dir);
    const options = resolveOptions({ miniBatchSize: 32, validationFrequency: 8, maxEpochs: 6, initialLearnRate: 0.05, ...extra });
    return trainRun({ network: net, options, train, validation, checkpointDir: dir });
  };
  beforeAll(async () => {
    await initBackend('wasm');
  });
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  it('mirrors training batches only: a left/right task cannot be learnt from mirrored batches, and is without them', async () => {
    const plain = await run({});
    const mirrored = await run({ randXReflection: true });
    const last = (r: typeof plain) => r.history.epochs.at(-1)!;
    expect(last(plain).accuracy).toBeGreaterThan(0.9);
    expect(last(plain).valAccuracy).toBeGreaterThan(0.9);
    // Half of the mirrored batches carry the other class's picture: training accuracy stays near chance.
    expect(last(mirrored).accuracy).toBeLessThan(0.7);
    // Shifts by a pixel keep the bars in their half: the task stays learnable, the curve differs from the plain run's.
    const shifted = await run({ randXTranslation: 1, randYTranslation: 1 });
    expect(last(shifted).valAccuracy).toBeGreaterThan(0.9);
    expect(shifted.history.epochs.map((e) => e.loss)).not.toEqual(plain.history.epochs.map((e) => e.loss));
    // The same seed augments the same way.
    const again = await run({ randXTranslation: 1, randYTranslation: 1 });
    expect(again.history.epochs.map((e) => e.loss)).toEqual(shifted.history.epochs.map((e) => e.loss));
  });
});
