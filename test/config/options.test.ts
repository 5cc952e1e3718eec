import { describe, expect, it, test } from 'vitest';
import { UserError } from '../../src/errors.ts';
import { clockShare, learnRateAt, resolveOptions, toMatlabCall } from '../../src/config/options.ts';

describe('resolveOptions', () => {
  it("applies MATLAB's defaults", () => {
    expect(resolveOptions({})).toEqual({
      solver: 'sgdm',
      initialLearnRate: 0.01,
      momentum: 0.9,
      maxEpochs: 30,
      miniBatchSize: 128,
      shuffle: 'once',
      l2Regularization: 1e-4,
      gradientThreshold: Infinity,
      gradientThresholdMethod: 'l2norm',
      learnRateSchedule: 'none',
      learnRateDropFactor: 0.1,
      learnRateDropPeriod: 10,
      validationFrequency: 50,
      validationPatience: Infinity,
      outputNetwork: 'last-iteration',
      seed: 0,
    });
  });

  test.each([
    ['sgdm', 0.01],
    ['adam', 0.001],
    ['rmsprop', 0.001],
  ] as const)('default InitialLearnRate for %s is %s', (solver, rate) => {
    expect(resolveOptions({ solver }).initialLearnRate).toBe(rate);
    expect(resolveOptions({ solver, initialLearnRate: 0.5 }).initialLearnRate).toBe(0.5);
  });

  it('reads null (JSON for Infinity) and undefined as "not given"', () => {
    const stored = JSON.parse(JSON.stringify(resolveOptions({ maxEpochs: 7 })));
    expect(stored.gradientThreshold).toBeNull();
    expect(resolveOptions(stored)).toEqual(resolveOptions({ maxEpochs: 7 }));
    expect(resolveOptions({ maxEpochs: undefined }).maxEpochs).toBe(30);
  });

  it('keeps given values', () => {
    const o = resolveOptions({ gradientThreshold: 1, gradientThresholdMethod: 'absolute-value', validationPatience: 5, learnRateDropFactor: 0, seed: 42 });
    expect(o).toMatchObject({ gradientThreshold: 1, gradientThresholdMethod: 'absolute-value', validationPatience: 5, learnRateDropFactor: 0, seed: 42 });
  });

  test.each<[Record<string, unknown>, RegExp]>([
    [{ solver: 'sgd' }, /solver must be 'sgdm', 'adam' or 'rmsprop', got 'sgd'/],
    [{ initialLearnRate: 0 }, /initialLearnRate must be a finite number > 0, got 0/],
    [{ initialLearnRate: -1 }, /initialLearnRate must be a finite number > 0/],
    [{ initialLearnRate: Infinity }, /initialLearnRate must be a finite number > 0, got Infinity/],
    [{ initialLearnRate: '0.01' }, /initialLearnRate must be a finite number > 0, got '0.01'/],
    [{ momentum: 1.5 }, /momentum must be a number in \[0, 1\], got 1.5/],
    [{ maxEpochs: 0 }, /maxEpochs must be a positive integer, got 0/],
    [{ maxEpochs: 2.5 }, /maxEpochs must be a positive integer, got 2.5/],
    [{ miniBatchSize: -128 }, /miniBatchSize must be a positive integer/],
    [{ shuffle: 'always' }, /shuffle must be 'once', 'every-epoch' or 'never'/],
    [{ l2Regularization: -1e-4 }, /l2Regularization must be a finite number ≥ 0/],
    [{ gradientThreshold: 0 }, /gradientThreshold must be a number > 0 \(Infinity: no clipping\)/],
    [{ gradientThresholdMethod: 'l1norm' }, /gradientThresholdMethod must be 'l2norm', 'global-l2norm' or 'absolute-value'/],
    [{ learnRateSchedule: 'exponential' }, /learnRateSchedule must be 'none', 'piecewise' or 'cosine', got 'exponential'/],
    [{ learnRateDropFactor: 2 }, /learnRateDropFactor must be a number in \[0, 1\]/],
    [{ learnRateDropPeriod: 0 }, /learnRateDropPeriod must be a positive integer \(epochs\)/],
    [{ validationFrequency: 0.5 }, /validationFrequency must be a positive integer \(iterations\)/],
    [{ validationPatience: 0 }, /validationPatience must be a positive integer or Infinity/],
    [{ outputNetwork: 'best' }, /outputNetwork must be 'last-iteration' or 'best-validation-loss'/],
    [{ seed: -1 }, /seed must be an integer ≥ 0/],
    [{ seed: NaN }, /seed must be an integer ≥ 0, got NaN/],
    [{ learningRate: 0.1 }, /Unknown training option "learningRate". Valid options: solver, initialLearnRate/],
    [{ InitialLearnRate: 0.1 }, /Unknown training option "InitialLearnRate" \(did you mean "initialLearnRate"\?\)/],
  ])('%o → UserError', (given, message) => {
    expect(() => resolveOptions(given)).toThrow(UserError);
    expect(() => resolveOptions(given)).toThrow(message);
  });
});

describe('learnRateAt', () => {
  it("is constant without a schedule", () => {
    const o = resolveOptions({ initialLearnRate: 0.05 });
    expect([1, 2, 10, 11, 30].map((e) => learnRateAt(o, e))).toEqual([0.05, 0.05, 0.05, 0.05, 0.05]);
  });

  test.each([
    [10, 0.1, [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.01]],
    [2, 0.5, [1, 1, 0.5, 0.5, 0.25, 0.25, 0.125]],
    [1, 0, [1, 0, 0]],
  ])('piecewise, period %s, factor %s: initial × factor^floor((epoch-1)/period)', (period, factor, multipliers) => {
    const o = resolveOptions({ initialLearnRate: 0.01, learnRateSchedule: 'piecewise', learnRateDropPeriod: period, learnRateDropFactor: factor });
    multipliers.forEach((m, i) => expect(learnRateAt(o, i + 1)).toBeCloseTo(0.01 * m, 15));
  });
});

describe('cosine (MATLAB R2024b\'s LearnRateSchedule "cosine")', () => {
  const o = resolveOptions({ initialLearnRate: 0.01, learnRateSchedule: 'cosine', maxEpochs: 4 });
  it('anneals over MaxEpochs, updated every epoch: initial × ½(1 + cos(π·(epoch − 1)/MaxEpochs))', () => {
    const expected = [1, 0.853553, 0.5, 0.146447];
    expected.forEach((m, i) => expect(learnRateAt(o, i + 1)).toBeCloseTo(0.01 * m, 8));
    expect(learnRateAt(o, 9)).toBeCloseTo(0, 12); // past MaxEpochs (a continued run): the bottom, not back up
  });
  it('ignores the clock (MATLAB\'s cosine counts epochs)', () => {
    expect(learnRateAt(o, 1, 0.5)).toBeCloseTo(0.01, 12);
  });
  it('is a MATLAB schedule', () => {
    expect(toMatlabCall(o)).toBe("trainingOptions('sgdm', 'MaxEpochs', 4, 'LearnRateSchedule', 'cosine')");
    expect(() => resolveOptions({ learnRateSchedule: 'cosin' })).toThrow(/learnRateSchedule must be 'none', 'piecewise' or 'cosine', got 'cosin'/);
  });
});

describe('the run\'s clock (clockShare)', () => {
  test.each([
    // start, deadline, now → share
    [0, 1000, 0, 0],
    [0, 1000, 749, 0.749],
    [5000, 9000, 8000, 0.75],
    [5000, 9000, 9500, 1],
    [5000, 9000, 4000, 0],
  ])('started %i, deadline %i, now %i → %s', (startedAt, deadline, now, share) => {
    expect(clockShare({ startedAt, deadline, now })).toBeCloseTo(share, 12);
  });
  it('is null (the epochs apply) without a deadline', () => {
    expect(clockShare({ startedAt: 0, deadline: undefined, now: 9 })).toBeNull();
  });
});

describe('the drop on the run\'s clock (learnRateDropAtTime)', () => {
  const o = resolveOptions({ initialLearnRate: 0.01, learnRateSchedule: 'piecewise', learnRateDropPeriod: 2, learnRateDropAtTime: 0.75 });
  it('drops once, by the factor, from that share of the time on, whatever the epoch', () => {
    expect([1, 2, 3, 9].map((e) => learnRateAt(o, e, 0.749))).toEqual([0.01, 0.01, 0.01, 0.01]);
    expect([1, 2, 3, 9].map((e) => learnRateAt(o, e, 0.75))).toEqual([0.001, 0.001, 0.001, 0.001]);
  });
  it('the period applies without a clock, without the option, or without the piecewise schedule', () => {
    expect(learnRateAt(o, 3)).toBeCloseTo(0.001, 15);
    expect(learnRateAt(o, 3, null)).toBeCloseTo(0.001, 15);
    expect(learnRateAt(resolveOptions({ learnRateSchedule: 'piecewise', learnRateDropPeriod: 2 }), 1, 0.9)).toBe(0.01);
    expect(learnRateAt({ ...o, learnRateSchedule: 'none' }, 1, 0.9)).toBe(0.01);
  });
  it('is checked: a share in (0, 1); not a MATLAB option', () => {
    expect(() => resolveOptions({ learnRateDropAtTime: 1 })).toThrow(/learnRateDropAtTime must be a number in \(0, 1\)/);
    expect(() => resolveOptions({ learnRateDropAtTime: 0 })).toThrow(UserError);
    expect(toMatlabCall(o)).not.toMatch(/AtTime/);
  });
});

describe('toMatlabCall', () => {
  it('lists the solver and the non-default options only', () => {
    expect(toMatlabCall(resolveOptions({}))).toBe("trainingOptions('sgdm')");
    expect(
      toMatlabCall(resolveOptions({ initialLearnRate: 0.0001, maxEpochs: 100, miniBatchSize: 200, gradientThreshold: 1, seed: 3 })),
    ).toBe("trainingOptions('sgdm', 'InitialLearnRate', 0.0001, 'MaxEpochs', 100, 'MiniBatchSize', 200, 'GradientThreshold', 1)");
    expect(
      toMatlabCall(
        resolveOptions({
          learnRateSchedule: 'piecewise',
          learnRateDropPeriod: 5,
          validationPatience: 4,
          outputNetwork: 'best-validation-loss',
          shuffle: 'every-epoch',
          l2Regularization: 0.001,
        }),
      ),
    ).toBe(
      "trainingOptions('sgdm', 'Shuffle', 'every-epoch', 'L2Regularization', 0.001, 'LearnRateSchedule', 'piecewise', 'LearnRateDropPeriod', 5, 'ValidationPatience', 4, 'OutputNetwork', 'best-validation-loss')",
    );
  });

  it("uses the solver's own default rate and leaves Momentum out for adam", () => {
    expect(toMatlabCall(resolveOptions({ solver: 'adam' }))).toBe("trainingOptions('adam')");
    expect(toMatlabCall(resolveOptions({ solver: 'adam', initialLearnRate: 0.01, momentum: 0.5 }))).toBe(
      "trainingOptions('adam', 'InitialLearnRate', 0.01)",
    );
  });
});
