import { describe, expect, test } from 'vitest';
import { UserError } from '../../src/errors.ts';
import { classCounts, fullView, holdoutSplit, stratifiedQuotas, stratifiedSubset } from '../../src/data/split.ts';
import type { DataView, ImageSet } from '../../src/data/image-set.ts';

/** A set with the given number of items per class, labels interleaved; no pixels (splits never read them). */
function setWithClasses(sizes: number[]): ImageSet {
  const labels: number[] = [];
  const left = [...sizes];
  while (left.some((n) => n > 0)) {
    left.forEach((n, label) => {
      if (n > 0) {
        labels.push(label);
        left[label]--;
      }
    });
  }
  return {
    name: 'synthetic',
    images: new Float32Array(0),
    labels: Uint8Array.from(labels),
    count: labels.length,
    height: 1,
    width: 1,
    channels: 1,
    classNames: sizes.map((_, i) => `c${i}`),
  };
}

const fashionLike = setWithClasses(new Array(10).fill(6000));
const skewed = setWithClasses([100, 50, 30, 7, 13]);

function expectPartition(parts: DataView[], whole: DataView) {
  const all = parts.flatMap((p) => Array.from(p.indices)).sort((a, b) => a - b);
  expect(all).toEqual(Array.from(whole.indices).sort((a, b) => a - b));
  for (const p of parts) {
    expect(p.set).toBe(whole.set); // a view: no pixel copied
    const ascending = p.indices.every((v, i) => i === 0 || v > p.indices[i - 1]);
    expect(ascending).toBe(true);
  }
}

describe('stratifiedQuotas (largest remainder)', () => {
  test.each<[number[], number, number[]]>([
    [[6000, 6000, 6000], 3000, [1000, 1000, 1000]],
    [[100, 50, 30, 7, 13], 50, [25, 13, 7, 2, 3]], // exact 25, 12.5, 7.5, 1.75, 3.25: leftovers to .75, then .5 of the larger class
    [[10, 10, 10], 2, [1, 1, 0]], // ties: lower label first
    [[5, 1], 6, [5, 1]],
    [[5, 0, 5], 4, [2, 0, 2]],
    [[3, 3], 0, [0, 0]],
  ])('sizes %j, k %i → %j', (sizes, k, quotas) => {
    const got = stratifiedQuotas(sizes, k);
    expect(got).toEqual(quotas);
    expect(got.reduce((a, b) => a + b, 0)).toBe(k);
    got.forEach((q, i) => expect(q).toBeLessThanOrEqual(sizes[i]));
  });
});

describe('holdoutSplit', () => {
  test('Fashion-like 60,000 → 50,000 + 10,000: exactly 1,000 validation and 5,000 training images per class', () => {
    const { train, validation } = holdoutSplit(fashionLike, { seed: 0 });
    expect(classCounts(validation)).toEqual(new Array(10).fill(1000));
    expect(classCounts(train)).toEqual(new Array(10).fill(5000));
    expectPartition([train, validation], fullView(fashionLike));
  });

  test('skewed classes keep their shares (per-class counts exact)', () => {
    const { train, validation } = holdoutSplit(skewed, { validationSize: 50, seed: 3 });
    expect(classCounts(validation)).toEqual([25, 13, 7, 2, 3]);
    expect(classCounts(train)).toEqual([75, 37, 23, 5, 10]);
    expectPartition([train, validation], fullView(skewed));
  });

  test('a fraction in (0, 1) holds out that share, as cvpartition HoldOut p does', () => {
    const { validation } = holdoutSplit(skewed, { validationSize: 0.2, seed: 1 }); // 40 of 200
    expect(validation.indices.length).toBe(40);
    expect(classCounts(validation)).toEqual(stratifiedQuotas([100, 50, 30, 7, 13], 40));
  });

  test('deterministic: same seed, same indices; another seed, other indices', () => {
    const a = holdoutSplit(fashionLike, { seed: 11 });
    const b = holdoutSplit(fashionLike, { seed: 11 });
    const c = holdoutSplit(fashionLike, { seed: 12 });
    expect(Array.from(a.validation.indices)).toEqual(Array.from(b.validation.indices));
    expect(Array.from(a.train.indices)).toEqual(Array.from(b.train.indices));
    expect(Array.from(c.validation.indices)).not.toEqual(Array.from(a.validation.indices));
    // and not merely shifted: the two validation sets overlap about as much as chance says (1/6 of 10,000)
    const inA = new Set(a.validation.indices);
    const overlap = Array.from(c.validation.indices).filter((i) => inA.has(i)).length;
    expect(overlap).toBeGreaterThan(1300);
    expect(overlap).toBeLessThan(2100);
  });

  test('the default seed is 0 and the default size 10,000', () => {
    const a = holdoutSplit(fashionLike);
    const b = holdoutSplit(fashionLike, { seed: 0, validationSize: 10_000 });
    expect(Array.from(a.validation.indices)).toEqual(Array.from(b.validation.indices));
  });

  test('splits a view (e.g. a subset) without leaving it', () => {
    const subset = stratifiedSubset(fullView(fashionLike), 3000, 5);
    const { train, validation } = holdoutSplit(subset, { validationSize: 500, seed: 5 });
    expect(classCounts(validation)).toEqual(new Array(10).fill(50));
    expectPartition([train, validation], subset);
  });

  test('validation size 0 holds out nothing', () => {
    const { train, validation } = holdoutSplit(skewed, { validationSize: 0 });
    expect(validation.indices.length).toBe(0);
    expect(train.indices.length).toBe(200);
  });

  test.each([
    [200, /leaves no training images: the set to split has 200/],
    [1e6, /leaves no training images/],
    [-5, /Validation size -5 is not valid/],
    [12.5, /Validation size 12.5 is not valid/],
    [Number.NaN, /Validation size NaN is not valid/],
  ])('validation size %s is a UserError', (validationSize, message) => {
    expect(() => holdoutSplit(skewed, { validationSize })).toThrow(UserError);
    expect(() => holdoutSplit(skewed, { validationSize })).toThrow(message);
  });
});

describe('stratifiedSubset', () => {
  test('per-class counts are exact and the subset lies inside the view', () => {
    const { train } = holdoutSplit(fashionLike, { seed: 2 });
    const subset = stratifiedSubset(train, 5003, 4);
    expect(classCounts(subset)).toEqual([501, 501, 501, 500, 500, 500, 500, 500, 500, 500]);
    const inTrain = new Set(train.indices);
    expect(Array.from(subset.indices).every((i) => inTrain.has(i))).toBe(true);
    expect(new Set(subset.indices).size).toBe(5003);
  });

  test('skewed classes keep their shares', () => {
    expect(classCounts(stratifiedSubset(fullView(skewed), 20, 0))).toEqual([10, 5, 3, 1, 1]);
  });

  test('deterministic per seed, different across seeds, and not the hold-out choice for the same seed', () => {
    const view = fullView(fashionLike);
    const a = Array.from(stratifiedSubset(view, 1000, 7).indices);
    expect(Array.from(stratifiedSubset(view, 1000, 7).indices)).toEqual(a);
    expect(Array.from(stratifiedSubset(view, 1000, 8).indices)).not.toEqual(a);
    const heldOut = Array.from(holdoutSplit(fashionLike, { validationSize: 1000, seed: 7 }).validation.indices);
    expect(heldOut).not.toEqual(a);
  });

  test('n at least the view size returns the view itself', () => {
    const view = fullView(skewed);
    expect(stratifiedSubset(view, 200, 1)).toBe(view);
    expect(stratifiedSubset(view, 10_000, 1)).toBe(view);
  });

  test.each([0, -1, 2.5, Number.NaN])('subset size %s is a UserError', (n) => {
    expect(() => stratifiedSubset(fullView(skewed), n, 0)).toThrow(/Subset size .* is not valid/);
  });
});

test('classCounts and fullView', () => {
  const view = fullView(skewed);
  expect(view.indices.length).toBe(200);
  expect(classCounts(view)).toEqual([100, 50, 30, 7, 13]);
});
