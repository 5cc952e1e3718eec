import { describe, expect, test } from 'vitest';
import { imagesPerEpoch, iterationsPerEpoch } from '../../src/util/batching.ts';
import { Mulberry32, mulberry32, shuffleInPlace } from '../../src/util/random.ts';
import { mean, median, standardDeviation } from '../../src/util/stats.ts';

describe('small statistics', () => {
  test.each([
    [[], NaN, NaN, NaN],
    [[3], 3, 3, 0],
    [[1, 2, 3, 10], 4, 2.5, Math.sqrt(12.5)],
    [[5, 1, 3], 3, 3, Math.sqrt(8 / 3)],
  ])('%j: mean %d, median %d, sd %d', (values, m, med, sd) => {
    expect(mean(values)).toEqual(m);
    expect(median(values)).toEqual(med);
    if (Number.isNaN(sd)) expect(standardDeviation(values)).toBeNaN();
    else expect(standardDeviation(values)).toBeCloseTo(sd, 12);
  });

  test('median does not reorder its input', () => {
    const values = [3, 1, 2];
    median(values);
    expect(values).toEqual([3, 1, 2]);
  });
});

describe('mini-batches of an epoch: the last partial batch is dropped', () => {
  test.each([
    [50_000, 128, 390, 49_920],
    [8192, 128, 64, 8192],
    [100, 128, 1, 100], // a batch larger than the data is the data
    [0, 128, 1, 0],
  ])('%d images at %d: %d iterations, %d images', (count, batch, iterations, images) => {
    expect(iterationsPerEpoch(count, batch)).toBe(iterations);
    expect(imagesPerEpoch(count, batch)).toBe(images);
  });
});

describe('one mulberry32', () => {
  test('the stream with its state is the function stream, and resumes exactly from a saved state', () => {
    const f = mulberry32(42);
    const g = new Mulberry32(42);
    const first = Array.from({ length: 5 }, () => f());
    expect(Array.from({ length: 5 }, () => g.next())).toEqual(first);
    const saved = g.state;
    const next = Array.from({ length: 3 }, () => g.next());
    const resumed = new Mulberry32(0);
    resumed.state = saved;
    expect(Array.from({ length: 3 }, () => resumed.next())).toEqual(next);
  });

  test('a shuffle is a permutation, the same for the same seed', () => {
    const a = shuffleInPlace(Array.from({ length: 20 }, (_, i) => i), mulberry32(7));
    const b = shuffleInPlace(Array.from({ length: 20 }, (_, i) => i), mulberry32(7));
    expect(a).toEqual(b);
    expect([...a].sort((x, y) => x - y)).toEqual(Array.from({ length: 20 }, (_, i) => i));
  });
});
