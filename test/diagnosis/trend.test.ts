import { describe, expect, test } from 'vitest';
import {
  lastWindow,
  linearTrend,
  significantlyFalling,
  significantlyRising,
  smoothed,
  smoothedMinimum,
  tCritical,
  trendWindowSize,
  type Point,
} from '../../src/diagnosis/index.ts';

const points = (values: number[], firstEpoch = 1): Point[] => values.map((value, i) => ({ epoch: firstEpoch + i, value }));

describe('linearTrend: least squares with the standard error of the slope (values by hand)', () => {
  test.each<[string, Point[], { slope: number; slopeSE: number; t: number; dof: number; fittedFirst: number; fittedLast: number }]>([
    // x̄ = 2, ȳ = 2, Sxx = 2, Sxy = 1 → slope 0.5, intercept 1; residuals −0.5, 1, −0.5 → SSE 1.5; SE = √(1.5 / 1 / 2).
    ['1, 3, 2', points([1, 3, 2]), { slope: 0.5, slopeSE: Math.sqrt(0.75), t: 0.5 / Math.sqrt(0.75), dof: 1, fittedFirst: 1.5, fittedLast: 2.5 }],
    // x̄ = 3, ȳ = 3.2, Sxx = 10, Sxy = −10 → slope −1, intercept 6.2; residuals −0.2, −0.2, 0.8, −0.2, −0.2 → SSE 0.8; SE = √(0.8 / 3 / 10).
    ['5, 4, 4, 2, 1', points([5, 4, 4, 2, 1]), { slope: -1, slopeSE: Math.sqrt(0.8 / 30), t: -1 / Math.sqrt(0.8 / 30), dof: 3, fittedFirst: 5.2, fittedLast: 1.2 }],
    // Epochs 2, 4, 6 (validation every other epoch): x̄ = 4, Sxx = 8, Sxy = −0.8 → slope −0.1 per epoch; a perfect fit.
    // (In floating point the residuals are ~1e-17, not 0: t is huge rather than −Infinity.)
    ['0.9, 0.7, 0.5 at epochs 2, 4, 6', [{ epoch: 2, value: 0.9 }, { epoch: 4, value: 0.7 }, { epoch: 6, value: 0.5 }], { slope: -0.1, slopeSE: 0, t: -Infinity, dof: 1, fittedFirst: 0.9, fittedLast: 0.5 }],
    ['1, 2, 3, 4 (exact in binary)', points([1, 2, 3, 4]), { slope: 1, slopeSE: 0, t: Infinity, dof: 2, fittedFirst: 1, fittedLast: 4 }],
    ['flat 0.4, 0.4, 0.4, 0.4', points([0.4, 0.4, 0.4, 0.4]), { slope: 0, slopeSE: 0, t: 0, dof: 2, fittedFirst: 0.4, fittedLast: 0.4 }],
  ])('%s', (_name, pts, expected) => {
    const trend = linearTrend(pts);
    for (const [key, value] of Object.entries(expected)) {
      const actual = trend[key as keyof typeof expected];
      if (Number.isFinite(value)) expect(actual, key).toBeCloseTo(value, 10);
      else {
        expect(Math.sign(actual), key).toBe(Math.sign(value));
        expect(Math.abs(actual), key).toBeGreaterThan(1e12);
      }
    }
    expect(trend.fromEpoch).toBe(pts[0].epoch);
    expect(trend.toEpoch).toBe(pts[pts.length - 1].epoch);
  });

  test('two points: a slope, but no standard error (no degrees of freedom)', () => {
    const trend = linearTrend(points([0.5, 0.3]));
    expect(trend.slope).toBeCloseTo(-0.2, 12);
    expect(trend.slopeSE).toBeNaN();
    expect(trend.dof).toBe(0);
  });

  test.each([
    ['one point', points([0.7]), 0.7],
    ['no point', [], NaN],
  ])('%s: no slope', (_name, pts, value) => {
    const trend = linearTrend(pts);
    expect(trend.slope).toBe(0);
    expect(trend.t).toBe(0);
    expect(trend.slopeSE).toBeNaN();
    if (Number.isNaN(value)) expect(trend.fittedLast).toBeNaN();
    else expect(trend.fittedLast).toBe(value);
  });

  test('the standard error scales with the noise: doubling the residuals doubles it', () => {
    const base = range(8, (e) => 1 - 0.01 * e);
    const noise = range(8, (e) => 0.005 * (-1) ** e);
    const once = linearTrend(points(base.map((v, i) => v + noise[i])));
    const twice = linearTrend(points(base.map((v, i) => v + 2 * noise[i])));
    expect(twice.slopeSE / once.slopeSE).toBeCloseTo(2, 10);
  });
});

function range(n: number, f: (epoch: number) => number): number[] {
  return Array.from({ length: n }, (_, i) => f(i + 1));
}

/**
 * Student's t cumulative probability P(T ≤ t), by Simpson's rule over the density. The constant
 * Γ((ν+1)/2) / (√(νπ) Γ(ν/2)) comes from Γ(1)/Γ(½) = 1/√π, Γ(3/2)/Γ(1) = √π/2 and
 * c(ν+2) = c(ν)·(ν+1)/ν — no gamma function needed.
 */
function studentCdf(t: number, dof: number): number {
  let ratio = dof % 2 === 1 ? 1 / Math.sqrt(Math.PI) : Math.sqrt(Math.PI) / 2;
  for (let v = dof % 2 === 1 ? 1 : 2; v < dof; v += 2) ratio *= (v + 1) / v;
  const density = (x: number) => (ratio / Math.sqrt(dof * Math.PI)) * (1 + (x * x) / dof) ** (-(dof + 1) / 2);
  const steps = 20_000;
  const h = t / steps;
  let sum = density(0) + density(t);
  for (let i = 1; i < steps; i++) sum += density(i * h) * (i % 2 === 1 ? 4 : 2);
  return 0.5 + (sum * h) / 3;
}

describe('tCritical: one-sided 95% critical values of Student\u2019s t', () => {
  test.each([
    [1, 6.314],
    [2, 2.92],
    [3, 2.353],
    [4, 2.132],
    [5, 2.015],
    [10, 1.812],
    [20, 1.725],
    [30, 1.697],
    [31, 1.645],
    [1000, 1.645],
  ])('dof %s → %s', (dof, value) => expect(tCritical(dof)).toBe(value));

  test.each([0, -1, NaN])('dof %s: no degrees of freedom, nothing is significant (Infinity)', (dof) => {
    expect(tCritical(dof)).toBe(Infinity);
  });

  test('every tabled value (1…30) is the 95th percentile: P(T ≤ t) = 0.95 to the table\u2019s precision', () => {
    for (let dof = 1; dof <= 30; dof++) expect(studentCdf(tCritical(dof), dof), `dof ${dof}`).toBeCloseTo(0.95, 3);
  });

  test('the values fall with the degrees of freedom towards the normal 1.645', () => {
    for (let dof = 2; dof <= 31; dof++) expect(tCritical(dof)).toBeLessThan(tCritical(dof - 1));
  });
});

describe('significantlyFalling / significantlyRising: one-sided at 95%', () => {
  test.each<[string, number[], boolean, boolean]>([
    ['a clean fall', [0.5, 0.45, 0.41, 0.38, 0.36], true, false],
    ['a clean rise', [0.36, 0.38, 0.41, 0.45, 0.5], false, true],
    ['noise around a flat line', [0.35, 0.36, 0.34, 0.36, 0.35, 0.34], false, false],
    // t = −2.12 with 2 degrees of freedom (critical 2.92): falling, but not beyond the noise.
    ['a fall of four noisy points (0.41, 0.39, 0.4, 0.37)', [0.41, 0.39, 0.4, 0.37], false, false],
    // A line through two points fits them exactly, but says nothing about the noise: not significant.
    ['two points: no degrees of freedom', [0.5, 0.3], false, false],
    ['two points rising: no degrees of freedom', [0.3, 0.5], false, false],
  ])('%s → falling %s, rising %s', (_name, values, falling, rising) => {
    const trend = linearTrend(points(values));
    expect(significantlyFalling(trend)).toBe(falling);
    expect(significantlyRising(trend)).toBe(rising);
  });

  test('the test is against the critical t of the window\u2019s degrees of freedom', () => {
    // Same slope and noise pattern; 4 points (dof 2) are not enough, 8 points (dof 6) are.
    const short = linearTrend(points(range(4, (e) => 0.5 - 0.01 * e + 0.012 * (-1) ** e)));
    const long = linearTrend(points(range(8, (e) => 0.5 - 0.01 * e + 0.012 * (-1) ** e)));
    expect(significantlyFalling(short)).toBe(false);
    expect(-short.t).toBeLessThan(tCritical(2));
    expect(significantlyFalling(long)).toBe(true);
    expect(-long.t).toBeGreaterThanOrEqual(tCritical(6));
  });
});

describe('smoothed and smoothedMinimum: a centred 3-epoch mean', () => {
  test('each point is the mean of itself and its neighbours (two at the ends)', () => {
    expect(smoothed(points([1, 4, 1, 4]))).toEqual([
      { epoch: 1, value: 2.5 },
      { epoch: 2, value: 2 },
      { epoch: 3, value: 3 },
      { epoch: 4, value: 2.5 },
    ]);
    expect(smoothed(points([0.7]))).toEqual([{ epoch: 1, value: 0.7 }]);
    expect(smoothed([])).toEqual([]);
  });

  test.each<[string, number[], number, number]>([
    // 0.30 is the luckiest point (epoch 6), but its neighbours are high: (0.36 + 0.30 + 0.36) / 3 = 0.34.
    // Around epoch 9: (0.33 + 0.32 + 0.33) / 3 = 0.3267.
    ['one lucky dip does not move it', [0.5, 0.42, 0.38, 0.36, 0.36, 0.3, 0.36, 0.33, 0.32, 0.33, 0.35], 9, (0.33 + 0.32 + 0.33) / 3],
    ['a clean V: at the bottom', [0.5, 0.4, 0.32, 0.3, 0.32, 0.4, 0.5], 4, (0.32 + 0.3 + 0.32) / 3],
    ['still falling: at the end, over the last two', [0.5, 0.4, 0.35, 0.32], 4, (0.35 + 0.32) / 2],
    ['a tie keeps the earliest', [0.5, 0.25, 0.25, 0.5], 2, 1 / 3],
  ])('%s', (_name, values, epoch, value) => {
    const best = smoothedMinimum(points(values));
    expect(best?.epoch).toBe(epoch);
    expect(best?.value).toBeCloseTo(value, 12);
  });

  test('no points: no minimum', () => {
    expect(smoothedMinimum([])).toBeNull();
  });

  test('epochs are kept as given (gaps in validation)', () => {
    const best = smoothedMinimum([2, 4, 6, 8, 10].map((epoch, i) => ({ epoch, value: [0.6, 0.5, 0.3, 0.5, 0.6][i] })));
    expect(best).toEqual({ epoch: 6, value: (0.5 + 0.3 + 0.5) / 3 });
  });
});

describe('windows', () => {
  test.each([
    [1, 1],
    [3, 3],
    [4, 4],
    [7, 4],
    [8, 4],
    [9, 5],
    [10, 5],
    [20, 10],
    [21, 11],
  ])('trendWindowSize(%s) = %s: the last half, at least 4 epochs (all when fewer)', (epochs, size) => {
    expect(trendWindowSize(epochs)).toBe(size);
  });

  test('lastWindow takes the last n points, or all of them', () => {
    const pts = points([5, 4, 3, 2, 1]);
    expect(lastWindow(pts, 2)).toEqual(points([2, 1], 4));
    expect(lastWindow(pts, 9)).toEqual(pts);
  });
});
