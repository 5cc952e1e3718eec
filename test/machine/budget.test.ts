/** The pure budget plans (src/machine/budget.ts) on made-up numbers. */
import { describe, expect, test } from 'vitest';
import { confirmPlan, finalReserveSeconds, imagesNeeded, planFinalRun, type DataSizes } from '../../src/machine/budget.ts';
import { resolveOptions } from '../../src/config/options.ts';

const sizes: DataSizes = { searchTrain: 8192, fullTrain: 50_000, fullValidation: 10_000, test: 10_000 };
const speed = (imagesPerSecond: number) => ({ imagesPerSecond, evalImagesPerSecond: 3 * imagesPerSecond });
const standing = resolveOptions({ maxEpochs: 10 });

describe('imagesNeeded: the search evidence as passes over the full split', () => {
  test('5 epochs of a 8,192-image subset ask for 5 passes over 50,000 images', () => {
    expect(imagesNeeded(5 * 8192, sizes)).toBeCloseTo(5 * 50_000, 0);
  });
});

describe('planFinalRun', () => {
  const plan = (imagesPerSecond: number, secondsLeft: number, passes: number, stillImproving = false) =>
    planFinalRun({ secondsLeft, speed: speed(imagesPerSecond), sizes, standing, epochsDone: 0, evidence: { imagesToMinimum: passes * 8192, stillImproving, searchEpochs: 10 } });

  test.each([
    // ips, seconds left, passes the search needed → learnRateDropPeriod (a third of the run, or two thirds of a short one)
    [13_000, 600, 5, 47], // a cheap network with far more time than it needs (140 epochs): annealed over all of them, not frozen after 5
    [5_000, 600, 8, 18], // 54 epochs
    [2_000, 600, 20, 8], // 22 epochs affordable
    [20_000, 30, 5, 3], // a short run (4 epochs): one drop at two thirds
  ])('%i img/s, %i s left, %i passes → drop every %i epochs', (ips, left, passes, period) => {
    const p = plan(ips, left, passes);
    expect(p.options.learnRateSchedule).toBe('piecewise');
    expect(p.options.learnRateDropPeriod).toBe(period);
    const planned = Math.ceil(p.images / 50_000 - 1e-9);
    expect(p.options.learnRateDropPeriod! * (planned >= 6 ? 3 : 1.5)).toBeGreaterThanOrEqual(planned);
    expect(p.options.outputNetwork).toBe('last-iteration');
  });

  test('a run that ends still improving, no longer than its evidence asks: a constant rate, the standing output network', () => {
    const p = plan(2_000, 600, 40, true);
    expect(p.options.learnRateSchedule).toBeUndefined();
    expect(p.options.outputNetwork).toBeUndefined();
    expect(p.reason).toMatch(/it may end still improving/);
  });

  test('fills the time left, stopping at its deadline, after the closing evaluations', () => {
    const p = plan(13_000, 600, 5);
    expect(p.seconds).toBeGreaterThan(0.9 * 600);
    expect(p.seconds).toBeLessThan(600);
    // Room for a run faster than planned (its deadline stops it); the schedule covers the expected epochs.
    expect(p.maxEpochs).toBe(Math.ceil((1.25 * p.images) / 50_000 - 1e-9));
    expect(p.options.learnRateDropPeriod).toBe(Math.ceil(Math.ceil(p.images / 50_000 - 1e-9) / 3));
    expect(p.reason).toMatch(/MaxEpochs \d+ leaves room should it train faster than planned/);
    expect(p.reason).toMatch(/it stops at its deadline, mid-epoch if need be/);
  });

  test('without a time budget: the passes the evidence asks for', () => {
    const p = planFinalRun({ secondsLeft: null, speed: speed(1000), sizes, standing, epochsDone: 0, evidence: { imagesToMinimum: 6 * 8192, stillImproving: false, searchEpochs: 10 } });
    expect(p.maxEpochs).toBe(6);
    expect(p.seconds).toBeNull();
  });
});

describe('finalReserveSeconds', () => {
  test('at least 30% of the budget; more when a slow network needs it', () => {
    expect(finalReserveSeconds(1800, speed(10_000), 5 * 8192, sizes)).toBeCloseTo(540, 0);
    expect(finalReserveSeconds(1800, speed(500), 10 * 8192, sizes)).toBeGreaterThan(1000);
  });
});

describe('confirmPlan: a much cheaper finalist is confirmed at equal time', () => {
  const incumbent = { runId: 3, validationLoss: 0.30, ...speed(2000) };
  const cheaper = { runId: 1, validationLoss: 0.34, ...speed(10_000) };
  test('both get the same seconds; the slower fewer epochs', () => {
    const p = confirmPlan(incumbent, [cheaper], 600, sizes, 500_000)!;
    expect(p.finalists.map((f) => f.runId)).toEqual([3, 1]);
    expect(p.finalists[0].epochs).toBeLessThan(p.finalists[1].epochs);
    expect(p.seconds).toBeLessThanOrEqual(0.15 * 600);
  });
  test('nothing to confirm when no finalist is twice as fast', () => {
    expect(confirmPlan(incumbent, [{ ...cheaper, ...speed(3000) }], 600, sizes, 500_000)).toBeNull();
  });
  test('an incumbent too slow for one epoch in its share: finalised if the time affords its evidence, else the cheaper', () => {
    const slow = { ...incumbent, ...speed(200) };
    expect(confirmPlan(slow, [cheaper], 600, sizes, 50_000)!.finalists).toEqual([{ runId: 3, epochs: 0 }]);
    expect(confirmPlan(slow, [cheaper], 600, sizes, 500_000)!.finalists).toEqual([{ runId: 1, epochs: 0 }]);
  });
});
