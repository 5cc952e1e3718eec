/** The pure budget plans (src/machine/budget.ts, final-run.ts) on made-up numbers. */
import { describe, expect, test } from 'vitest';
import { AUGMENT_SLOWDOWN, LONG_FINAL_EPOCHS, RUNG_MIN_EPOCHS, confirmOptions, confirmPlan, finalReserveSeconds, imagesNeeded, planRung, type DataSizes } from '../../src/machine/budget.ts';
import { CLOCK_HEADROOM, FINAL_SPEED_MARGIN, LONG_RUN_DROP_AT, planFinalRun } from '../../src/machine/final-run.ts';
import { augmentationWords } from '../../src/config/options.ts';
import { resolveOptions } from '../../src/config/options.ts';

const sizes: DataSizes = { searchTrain: 8192, fullTrain: 50_000, fullValidation: 10_000, test: 10_000 };
const speed = (imagesPerSecond: number) => ({ imagesPerSecond, evalImagesPerSecond: 3 * imagesPerSecond });
const standing = resolveOptions({ maxEpochs: 10 });

describe('imagesNeeded: the search evidence as passes over the full split', () => {
  test('5 epochs of a 8,192-image subset ask for 5 passes over 50,000 images', () => {
    expect(imagesNeeded(5 * 8192, sizes)).toBeCloseTo(5 * 50_000, 0);
  });
});

describe('planRung: no rung when the search time left affords too few epochs, and says how many', () => {
  // At 10,000 images/s a full epoch with its evaluation takes 5.33 s; a rung run may take a sixth of the time left.
  test.each([
    [10, 'afford 0 epochs a run'],
    [40, 'afford 1 epoch a run'],
    [100, 'afford 3 epochs a run'],
  ])('%i s left: %s', (left, words) => {
    const plan = planRung(left, speed(10_000), sizes);
    expect(plan.epochs).toBeNull();
    expect(plan.reason).toContain(words);
    expect(plan.reason).toContain(`under the ${RUNG_MIN_EPOCHS} a full-data rung needs`);
  });

  test('enough time: a rung of at least RUNG_MIN_EPOCHS epochs', () => {
    expect(planRung(600, speed(10_000), sizes).epochs).toBeGreaterThanOrEqual(RUNG_MIN_EPOCHS);
  });
});

describe('planFinalRun', () => {
  const plan = (imagesPerSecond: number, secondsLeft: number, passes: number, stillImproving = false) =>
    planFinalRun({ secondsLeft, speed: speed(imagesPerSecond), sizes, standing, epochsDone: 0, evidence: { imagesToMinimum: passes * 8192, stillImproving, searchEpochs: 10 } });

  test.each([
    // ips, seconds left, passes the search needed → learnRateDropPeriod (a third of the run, or two thirds of a short one)
    [13_000, 600, 30, 47], // a cheap network with far more time than its first minimum (140 epochs): annealed over all of them, not frozen after 30
    [5_000, 600, 10, 18], // 54 epochs
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
    const p = plan(13_000, 600, 30);
    expect(p.seconds).toBeGreaterThan(0.9 * 600);
    expect(p.seconds).toBeLessThan(600);
    // Room for a run faster than planned (its deadline stops it); the schedule covers the expected epochs.
    expect(p.maxEpochs).toBe(Math.ceil((1.25 * p.images) / 50_000 - 1e-9));
    expect(p.options.learnRateDropPeriod).toBe(Math.ceil(Math.ceil(p.images / 50_000 - 1e-9) / 3));
    expect(p.reason).toMatch(/MaxEpochs \d+ leaves room should it train faster than planned/);
    expect(p.reason).toMatch(/it stops at its deadline, mid-epoch if need be/);
  });

  test.each([
    // ips, seconds left, passes the search needed, epochs a confirmation run trained → the cap (max of 10, 6× the passes, twice the confirmation's)
    [13_000, 600, 5, 0, 30], // 140 epochs affordable
    [13_000, 600, 1, 0, 10], // at least 10
    [13_000, 600, 5, 20, 40], // a run continuing a 20-epoch confirmation doubles it
  ])('a converged network: %i img/s, %i s left, %i passes, %i epochs done → capped at %i epochs, the study ends early', (ips, left, passes, done, cap) => {
    const p = planFinalRun({ secondsLeft: left, speed: speed(ips), sizes, standing, epochsDone: done, evidence: { imagesToMinimum: passes * 8192, stillImproving: false, searchEpochs: 10 } });
    expect(p.maxEpochs).toBe(cap);
    expect(p.plannedEpochs).toBe(cap);
    expect(p.images).toBeCloseTo((cap - done) * 50_000, 0);
    expect(p.options.learnRateDropPeriod).toBe(Math.ceil(cap / 3));
    expect(p.seconds).toBeGreaterThan(0.9 * left); // the deadline still bounds a run slower than planned
    expect(p.reason).toMatch(new RegExp(`^${cap} epochs of 50000 images, not the 1\\d\\d\\.?\\d* the time left affords .*the study ends early`));
  });

  test('no cap when the search was still improving, or when the time left affords no more than the cap', () => {
    expect(plan(13_000, 600, 5, true).maxEpochs).toBeGreaterThan(140);
    const fits = plan(2_000, 600, 5); // 22 epochs affordable, cap 30
    expect(fits.maxEpochs).toBe(Math.ceil(1.25 * (fits.images / 50_000) - 1e-9));
    expect(fits.reason).not.toMatch(/ends early/);
  });

  test('a rung winner\'s schedule: the drop leaves its low-rate phase even when the run is slower than planned (FINAL_SPEED_MARGIN)', () => {
    const rung = resolveOptions({ maxEpochs: 8, learnRateSchedule: 'piecewise', learnRateDropFactor: 0.1, learnRateDropPeriod: 6 });
    const at = (secondsLeft: number | null) =>
      planFinalRun({ secondsLeft, speed: speed(2110), sizes, standing: rung, epochsDone: 0, evidence: { imagesToMinimum: 8 * 50_000, stillImproving: true, searchEpochs: 8 } });
    // The seed-0 study: 555 s left, planned 20.7 epochs; it trained 18 at 0.86× the speed.
    const deadlined = at(555);
    expect(deadlined.plannedEpochs).toBe(21);
    const period = deadlined.options.learnRateDropPeriod!;
    expect(period).toBe(Math.round(0.75 * Math.floor(FINAL_SPEED_MARGIN * (deadlined.images / 50_000))));
    expect(18 - period).toBeGreaterThanOrEqual(5); // five epochs at the low rate even at 0.86× the speed
    expect(deadlined.reason).toMatch(/every 75% of the run: every \d+ epochs here \(of the \d+ epochs it trains should it run 15% slower than planned\)/);
    // No deadline: the plan's own epochs.
    const open = at(null);
    expect(open.options.learnRateDropPeriod).toBe(Math.round(0.75 * open.plannedEpochs));
  });

  describe('the long run: a rung winner retrained for LONG_FINAL_EPOCHS or more trains on augmented batches', () => {
    const rung = resolveOptions({ maxEpochs: 8, learnRateSchedule: 'piecewise', learnRateDropFactor: 0.1, learnRateDropPeriod: 6 });
    const augmentation = { randXReflection: true, randXTranslation: 2, randYTranslation: 2 };
    const rungSizes = { ...sizes, searchTrain: 50_000 }; // a rung run's evidence is on the full split (adapters.ts evidenceSizes)
    const at = (secondsLeft: number | null, given: typeof augmentation | null = augmentation, stillImproving = true, passes = 8) =>
      planFinalRun({ secondsLeft, speed: speed(2110), sizes: rungSizes, standing: rung, epochsDone: 0, evidence: { imagesToMinimum: passes * 50_000, stillImproving, searchEpochs: 8 }, augmentation: given });
    // 2,110 img/s (the 40→80 network), eval 3× that: 23.7 + 1.6 s an epoch; augmented 27.3 + 1.6 s.
    test.each([
      // seconds left → augmented, planned epochs
      [555, false, 21], // the seed-0 study's final run: 20.7 epochs, not long
      [900, true, 30], // 30 augmented epochs (34.3 at the plain speed)
      [1400, true, 47],
    ])('%i s left → augmented %s, %i epochs planned', (left, augmented, planned) => {
      const p = at(left);
      expect(p.plannedEpochs).toBe(planned);
      if (augmented) {
        expect(p.options).toMatchObject(augmentation);
        expect(p.reason).toMatch(/augmented batches \(mirror left–right, shifts up to 2 pixels\): a run of 20 epochs or more, 2.5× the rung's, overfits without/);
        // Planned at the augmented speed: the epochs fit the time.
        expect(p.images / 50_000).toBeCloseTo((0.97 * left - (30_000 / 6330 + 5)) / (50_000 / (2110 / AUGMENT_SLOWDOWN) + 10_000 / 6330), 1);
      } else {
        expect(p.options.randXReflection).toBeUndefined();
        expect(p.reason).not.toMatch(/augmented/);
      }
    });
    test('no augmentation offered (a configuration that augments already): the plain speed, none added', () => {
      const p = at(1400, null);
      expect(p.options.randXReflection).toBeUndefined();
      expect(p.plannedEpochs).toBeGreaterThan(at(1400).plannedEpochs);
    });
    test('a converged network whose useful length is under the long run is not augmented', () => {
      // 3 passes asked → useful 18 epochs < 20: capped, plain.
      const p = at(1400, augmentation, false, 3);
      expect(p.plannedEpochs).toBe(18);
      expect(p.options.randXReflection).toBeUndefined();
      expect(at(1400, augmentation, false, 8).options).toMatchObject(augmentation); // useful 48
    });
    test('the long run drops its rate once, after 75% of its time, on its own clock (LearnRateDropPeriod keeps the planned epoch)', () => {
      const p = at(900);
      expect(p.options).toMatchObject({ learnRateSchedule: 'piecewise', learnRateDropFactor: 0.1, learnRateDropAtTime: LONG_RUN_DROP_AT, learnRateDropPeriod: 23, outputNetwork: 'last-iteration' });
      expect(LONG_RUN_DROP_AT).toBe(0.75);
      expect(p.reason).toMatch(/one drop ×0\.1 after 75% of its time, on its own clock \(about epoch 23 as planned\)/);
      // Its MaxEpochs leaves CLOCK_HEADROOM× the planned epochs (the drop is on the clock, whatever the epochs it reaches).
      expect(CLOCK_HEADROOM).toBe(2);
      expect(p.maxEpochs).toBe(Math.ceil((2 * p.images) / 50_000));
      expect(p.reason).toMatch(new RegExp(`MaxEpochs ${p.maxEpochs} leaves room should it train faster than planned`));
      // A plain final run keeps the standing schedule's epochs.
      expect(at(555).options.learnRateDropAtTime).toBeUndefined();
    });
    test("a converged network's long run: the headroom stops at its useful length", () => {
      // 8 passes asked → useful 48 epochs; 1,400 s affords 47 planned, twice that is beyond it.
      const p = at(1400, augmentation, false, 8);
      expect(p.options.learnRateDropAtTime).toBe(0.75);
      expect(p.plannedEpochs).toBe(47);
      expect(p.maxEpochs).toBe(48);
      // A plain final run keeps EPOCH_HEADROOM.
      const plain = at(555);
      expect(plain.maxEpochs).toBe(Math.ceil((1.25 * plain.images) / 50_000));
    });
    test('a continued run counts its drop from the epochs it adds', () => {
      const p = planFinalRun({ secondsLeft: 900, speed: speed(2110), sizes: rungSizes, standing: rung, epochsDone: 8, evidence: { imagesToMinimum: 8 * 50_000, stillImproving: true, searchEpochs: 8 }, augmentation });
      expect(p.options.learnRateDropAtTime).toBe(0.75);
      expect(p.options.learnRateDropPeriod).toBe(8 + Math.round(0.75 * (p.plannedEpochs - 8)));
    });
    test('without a time budget there is no long run (nor a rung)', () => {
      expect(at(null).options.randXReflection).toBeUndefined();
    });
    test('LONG_FINAL_EPOCHS is two and a half rung runs', () => {
      expect(LONG_FINAL_EPOCHS).toBe(20);
      expect(augmentationWords({ randXTranslation: 3 })).toBe('horizontal shifts up to 3 pixels');
    });
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
  test('at the full-data rung it also keeps the long run: LONG_FINAL_EPOCHS augmented epochs', () => {
    const rungSizes = { ...sizes, searchTrain: 50_000 };
    const plain = finalReserveSeconds(1800, speed(2110), 8 * 50_000, rungSizes);
    const long = finalReserveSeconds(1800, speed(2110), 8 * 50_000, rungSizes, { longFinal: true });
    expect(plain).toBeCloseTo(540, 0);
    // 20 × (50,000 / (2110 / 1.15) + 10,000 / 6330) + closing, over TIME_SAFETY.
    expect(long).toBeCloseTo((20 * (50_000 / (2110 / AUGMENT_SLOWDOWN) + 10_000 / 6330) + 30_000 / 6330 + 5) / 0.97, 0);
    expect(long).toBeGreaterThan(600);
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

describe('confirmPlan: a larger tied finalist is confirmed when the budget pays for its final run', () => {
  const incumbent = { runId: 2, validationLoss: 0.34, ...speed(6000) };
  const baseline = { runId: 1, validationLoss: 0.38, ...speed(14_000) };
  const wide = { runId: 4, validationLoss: 0.335, ...speed(2000), imagesNeeded: 500_000 };
  test('it goes before a cheaper one: equal seconds, whole epochs of the slower, the incumbent first', () => {
    const p = confirmPlan(incumbent, [baseline], 1800, sizes, 500_000, [wide])!;
    expect(p.finalists.map((f) => f.runId)).toEqual([2, 4]);
    const [inc, big] = p.finalists;
    expect(big.epochs).toBeGreaterThanOrEqual(1);
    expect(inc.epochs).toBeGreaterThan(big.epochs);
    // The slower trains whole epochs in its share; both stop at the same deadline.
    const epochSeconds = sizes.fullTrain / 2000 + sizes.fullValidation / 6000;
    expect(p.seconds).toBeCloseTo(big.epochs * epochSeconds, 6);
    expect(p.seconds).toBeLessThanOrEqual(0.15 * 1800);
    expect(p.reason).toMatch(/larger than run 2's/);
  });
  test('the best of several larger ones by validation loss', () => {
    const other = { ...wide, runId: 5, validationLoss: 0.33 };
    expect(confirmPlan(incumbent, [], 1800, sizes, 500_000, [wide, other])!.finalists.map((f) => f.runId)).toEqual([2, 5]);
  });
  test('not when the time left cannot pay for its final run: the cheaper is confirmed instead, or nothing', () => {
    const hungry = { ...wide, imagesNeeded: 5_000_000 }; // 2,500 s at 2,000 images/s
    expect(confirmPlan(incumbent, [baseline], 1800, sizes, 500_000, [hungry])!.finalists.map((f) => f.runId)).toEqual([2, 1]);
    expect(confirmPlan(incumbent, [], 1800, sizes, 500_000, [hungry])).toBeNull();
  });
  test('not when it cannot train one full epoch in its share', () => {
    const crawling = { ...wide, ...speed(100), imagesNeeded: 50_000 };
    expect(confirmPlan(incumbent, [], 1800, sizes, 500_000, [crawling])).toBeNull();
  });
  test('without a time budget nothing is confirmed', () => {
    expect(confirmPlan(incumbent, [baseline], Infinity, sizes, 500_000, [wide])).toBeNull();
  });
});

describe('confirmPlan: a larger network the subset did not reject, when the converged incumbent cannot use the time left', () => {
  // A fast single-layer incumbent whose evidence asks for 4 passes (a useful final run of 24 epochs,
  // about 165 s), and a deeper network that tied with an earlier incumbent, nominally behind it.
  const incumbent = { runId: 3, validationLoss: 0.367, ...speed(8000) };
  const deeper = { runId: 2, validationLoss: 0.377, ...speed(5800), imagesNeeded: 250_000, onlyWhenTimeIsIdle: true };
  const cheaper = { runId: 1, validationLoss: 0.376, ...speed(16_000) };
  test.each([
    // seconds left, incumbent converged → finalists (the incumbent first)
    [520, true, [3, 2]], // 165 s of 520: the time it cannot use goes to the costlier one
    [520, false, [3, 1]], // still improving: it may use the time; the usual much-cheaper check
    [300, true, [3, 1]], // 165 s of 300 is over half: not idle
  ])('%i s left, converged %s → finalists %j', (left, converged, finalists) => {
    const p = confirmPlan(incumbent, [cheaper], left, sizes, 200_000, [deeper], converged)!;
    expect(p.finalists.map((f) => f.runId)).toEqual(finalists);
    if (finalists[1] === 2) expect(p.reason).toMatch(/^run 2's configuration costs more per image than run 3's and the search's subset did not reject it, and run 3's network, converged, is worth a final run of about 1\d\d of the 520 s left/);
  });
  test('a larger tie nominally ahead of the incumbent needs no idle time', () => {
    expect(confirmPlan(incumbent, [cheaper], 300, sizes, 200_000, [{ ...deeper, onlyWhenTimeIsIdle: false }], false)!.finalists.map((f) => f.runId)).toEqual([3, 2]);
  });
});

describe('confirmOptions: a confirmation run anneals like the final run it may become', () => {
  test.each([
    [1, 'none', undefined],
    [2, 'none', undefined],
    [3, 'piecewise', 2],
    [12, 'piecewise', 8],
    [34, 'piecewise', 23],
  ])('%i epochs: schedule %s, drop after %s', (epochs, schedule, period) => {
    const o = confirmOptions(epochs, 390);
    expect(o.maxEpochs).toBe(epochs + 1);
    expect(o.validationFrequency).toBe(390);
    expect(o.learnRateSchedule).toBe(schedule);
    expect(o.learnRateDropPeriod).toBe(period);
    if (schedule === 'piecewise') {
      expect(o.learnRateDropFactor).toBe(0.1);
      expect(o.outputNetwork).toBe('last-iteration');
    } else {
      expect(o.outputNetwork).toBeUndefined();
    }
  });
});
