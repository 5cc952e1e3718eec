import { describe, expect, test } from 'vitest';
import { deriveSeed, mulberry32, randomInt, shuffleInPlace } from '../../src/util/random.ts';

describe('mulberry32', () => {
  test('matches the reference implementation (splits must stay reproducible across versions)', () => {
    // Reference values of the widely published mulberry32 for seed 1 and seed 42.
    const one = mulberry32(1);
    expect([one(), one(), one()]).toEqual([0.6270739405881613, 0.002735721180215478, 0.5274470399599522]);
    const answer = mulberry32(42);
    expect(answer()).toBe(0.6011037519201636);
  });

  test('same seed, same sequence; other seed, other sequence; values in [0, 1)', () => {
    const a = mulberry32(7);
    const b = mulberry32(7);
    const c = mulberry32(8);
    const xs = Array.from({ length: 1000 }, () => a());
    expect(Array.from({ length: 1000 }, () => b())).toEqual(xs);
    expect(Array.from({ length: 1000 }, () => c())).not.toEqual(xs);
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
  });

  test('roughly uniform: each tenth of [0, 1) gets 10% ± 1% of 100,000 draws', () => {
    const random = mulberry32(123);
    const bins = new Array<number>(10).fill(0);
    for (let i = 0; i < 100_000; i++) bins[Math.floor(random() * 10)]++;
    for (const count of bins) expect(Math.abs(count - 10_000)).toBeLessThan(1_000);
  });

  test('negative, fractional and huge seeds are accepted and distinct from nearby ones', () => {
    const first = (seed: number) => mulberry32(seed)();
    const values = [-1, 0, 0.5, 1, 2 ** 32, 2 ** 32 + 1, 2 ** 40].map(first);
    expect(new Set(values).size).toBe(values.length);
    expect(() => mulberry32(Number.NaN)).toThrow(/finite/);
  });
});

describe('helpers', () => {
  test('deriveSeed depends on both the seed and the label, deterministically', () => {
    expect(deriveSeed(0, 'holdout')).toBe(deriveSeed(0, 'holdout'));
    expect(deriveSeed(0, 'holdout')).not.toBe(deriveSeed(0, 'subset'));
    expect(deriveSeed(0, 'holdout')).not.toBe(deriveSeed(1, 'holdout'));
    expect(Number.isInteger(deriveSeed(5, 'x')) && deriveSeed(5, 'x') >= 0 && deriveSeed(5, 'x') < 2 ** 32).toBe(true);
  });

  test('randomInt stays in [0, n) and reaches both ends', () => {
    const random = mulberry32(3);
    const seen = new Set(Array.from({ length: 500 }, () => randomInt(random, 5)));
    expect([...seen].sort()).toEqual([0, 1, 2, 3, 4]);
  });

  test('shuffleInPlace permutes typed and plain arrays, deterministically per seed', () => {
    const a = shuffleInPlace(Uint32Array.from({ length: 100 }, (_, i) => i), mulberry32(9));
    const b = shuffleInPlace(Array.from({ length: 100 }, (_, i) => i), mulberry32(9));
    expect(Array.from(a)).toEqual(b);
    expect(Array.from(a).sort((x, y) => x - y)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(Array.from(a)).not.toEqual(Array.from({ length: 100 }, (_, i) => i));
  });
});
