import { describe, expect, test } from 'vitest';
import { accuracyInterval, pairedDifference, poolReplicates, type PerImage } from '../../src/diagnosis/index.ts';

const side = (losses: number[], correct: number[]): PerImage => ({ losses, correct });

describe('pairedDifference: candidate − incumbent, image by image (values by hand)', () => {
  test('four images', () => {
    // Loss differences −1, 0, −1, 0: mean −0.5, sample sd √(4 × 0.25 / 3) = √(1/3), SE √(1/3) / 2.
    // Correctness differences 1, 0, 0, 0: mean 0.25, sample sd √((0.75² + 3 × 0.25²) / 3) = 0.5, SE 0.25.
    const d = pairedDifference(side([1, 2, 3, 4], [1, 1, 0, 1]), side([2, 2, 4, 4], [0, 1, 0, 1]));
    expect(d.images).toBe(4);
    expect(d.lossDiff).toBeCloseTo(-0.5, 12);
    expect(d.lossSE).toBeCloseTo(Math.sqrt(1 / 3) / 2, 12);
    expect(d.accuracyDiff).toBeCloseTo(0.25, 12);
    expect(d.accuracySE).toBeCloseTo(0.25, 12);
    expect(d.candidate).toEqual({ loss: 2.5, accuracy: 0.75 });
    expect(d.incumbent).toEqual({ loss: 3, accuracy: 0.5 });
    expect(d.finite).toEqual({ candidate: true, incumbent: true });
  });

  test('pairing removes the variation between images: a constant per-image gain has no noise', () => {
    // Per-image losses from 0.01 to 5 (easy and hard images); the candidate is 0.1 lower on every one.
    const incumbent = Array.from({ length: 500 }, (_, i) => 0.01 + (i % 50) / 10);
    const d = pairedDifference(side(incumbent.map((l) => l - 0.1), incumbent.map(() => 1)), side(incumbent, incumbent.map(() => 1)));
    expect(d.lossDiff).toBeCloseTo(-0.1, 12);
    expect(d.lossSE).toBeCloseTo(0, 12);
    // Unpaired, the two means would differ by 0.1 with a standard error near 1.44 / √500 × √2 ≈ 0.09.
  });

  test('the difference is signed candidate − incumbent: swapping the sides negates it, the SE stays', () => {
    const a = side([0.3, 0.5, 0.2, 0.9], [1, 0, 1, 0]);
    const b = side([0.4, 0.4, 0.6, 0.8], [1, 1, 0, 0]);
    const ab = pairedDifference(a, b);
    const ba = pairedDifference(b, a);
    expect(ba.lossDiff).toBeCloseTo(-ab.lossDiff, 12);
    expect(ba.lossSE).toBeCloseTo(ab.lossSE, 12);
    expect(ba.accuracyDiff).toBeCloseTo(-ab.accuracyDiff, 12);
  });

  test.each([
    ['NaN', NaN],
    ['Infinity', Infinity],
  ])('a %s loss marks its side not finite', (_name, bad) => {
    const d = pairedDifference(side([0.3, bad, 0.2], [1, 0, 1]), side([0.3, 0.4, 0.2], [1, 0, 1]));
    expect(d.finite).toEqual({ candidate: false, incumbent: true });
    expect(pairedDifference(side([0.3, 0.4, 0.2], [1, 0, 1]), side([0.3, bad, 0.2], [1, 0, 1])).finite).toEqual({ candidate: true, incumbent: false });
  });

  test('typed arrays (as stored: Float32 losses, Uint8 correctness) work like plain arrays', () => {
    const d = pairedDifference({ losses: Float32Array.from([1, 2, 3, 4]), correct: Uint8Array.from([1, 1, 0, 1]) }, { losses: Float32Array.from([2, 2, 4, 4]), correct: Uint8Array.from([0, 1, 0, 1]) });
    expect(d.lossDiff).toBeCloseTo(-0.5, 6);
    expect(d.accuracyDiff).toBeCloseTo(0.25, 12);
  });

  test('one image: a difference but no standard error', () => {
    const d = pairedDifference(side([0.2], [1]), side([0.5], [0]));
    expect(d.lossDiff).toBeCloseTo(-0.3, 12);
    expect(d.lossSE).toBeNaN();
  });

  test('different image sets are a bug, not a comparison', () => {
    expect(() => pairedDifference(side([1, 2], [1, 1]), side([1, 2, 3], [1, 1, 1]))).toThrow(/2 candidate images vs 3 incumbent images/);
    expect(() => pairedDifference(side([1, 2], [1]), side([1, 2], [1, 1]))).toThrow(/same set/);
  });
});

describe('poolReplicates: per-image means over seeds', () => {
  test('two replicates: mean loss, fraction correct', () => {
    const pooled = poolReplicates([side([0.2, 0.4, 1.0], [1, 1, 0]), side([0.4, 0.2, 0.6], [1, 0, 0])]);
    expect(Array.from(pooled.losses)).toEqual([0.30000000000000004, 0.30000000000000004, 0.8].map((x) => expect.closeTo(x, 12)));
    expect(Array.from(pooled.correct)).toEqual([1, 0.5, 0]);
  });

  test('three replicates', () => {
    const pooled = poolReplicates([side([0.3], [1]), side([0.6], [0]), side([0.9], [1])]);
    expect(pooled.losses[0]).toBeCloseTo(0.6, 12);
    expect(pooled.correct[0]).toBeCloseTo(2 / 3, 12);
  });

  test('one replicate is itself', () => {
    const only = side([0.3, 0.4], [1, 0]);
    expect(poolReplicates([only])).toBe(only);
  });

  test('none, or different image sets, are errors', () => {
    expect(() => poolReplicates([])).toThrow(/no replicate/);
    expect(() => poolReplicates([side([1, 2], [1, 1]), side([1], [1])])).toThrow(/different images/);
  });
});

describe('accuracyInterval: the 95% Wilson score interval', () => {
  test.each<[string, number, number, number, number]>([
    // p = 0.9, n = 100: centre (0.9 + 1.96²/200) / (1 + 1.96²/100) = 0.8852,
    // half 1.96 × √(0.0009 + 1.96²/40000) / 1.0384 = 0.0596 → [0.8256, 0.9448] (the textbook interval).
    ['90 of 100', 0.9, 100, 0.8256, 0.9448],
    // p = 0: centre = half = (1.96²/20) / (1 + 1.96²/10) = 0.1388 → [0, 0.2775], not the Wald [0, 0].
    ['0 of 10', 0, 10, 0, 0.2775],
    ['10 of 10', 1, 10, 0.7225, 1],
    // Issue 10's figure: 89.33% on 10,000 test images is ±0.6 points.
    ['89.33% of 10,000', 0.8933, 10_000, 0.8871, 0.8992],
  ])('%s → [%s, %s]', (_name, accuracy, count, low, high) => {
    const interval = accuracyInterval(accuracy, count);
    expect(interval.low).toBeCloseTo(low, 4);
    expect(interval.high).toBeCloseTo(high, 4);
  });

  test('a wider z gives a wider interval around the same centre', () => {
    const narrow = accuracyInterval(0.9, 100, 1);
    const wide = accuracyInterval(0.9, 100, 2.576);
    expect(wide.high - wide.low).toBeGreaterThan(narrow.high - narrow.low);
    expect(narrow.low).toBeLessThan(0.9);
    expect(narrow.high).toBeGreaterThan(0.9);
  });

  test.each([
    ['no images', 0.9, 0],
    ['a NaN accuracy', NaN, 100],
  ])('%s: no interval', (_name, accuracy, count) => {
    const interval = accuracyInterval(accuracy, count);
    expect(interval.low).toBeNaN();
    expect(interval.high).toBeNaN();
  });
});
