import { describe, expect, test } from 'vitest';
import { CLOSE_HIGH, CLOSE_LOW, COST_TOLERANCE, MARGIN, cheaper, finalRunWins, judge, type Side } from '../../src/machine/verdict.ts';
import type { PerImage } from '../../src/diagnosis/paired.ts';

// ───────────── made-up validation sets ─────────────
//
// N images. The incumbent's per-image losses vary a lot between images (easy ones near 0.05, hard
// ones near 2): pairing must remove that. The candidate's loss on image i is the incumbent's plus
// d_i = μ + S·e_i, with e_i = +1, −1, +1, … (mean 0, sample standard deviation √(N/(N−1))). So the
// paired difference has mean μ and standard error S·√(N/(N−1))/√N = S/√(N−1), and a candidate "z
// standard errors better" is μ = −z·S/√(N−1).

const N = 1000;
const S = 0.2;
const SE = S / Math.sqrt(N - 1);
const alternating = (i: number) => (i % 2 === 0 ? 1 : -1);

const incumbentLosses = Array.from({ length: N }, (_, i) => 0.05 + ((i * 37) % 100) / 50);
/** Correct on 90% of images: wrong on every tenth. */
const incumbentCorrect = Array.from({ length: N }, (_, i) => (i % 10 === 9 ? 0 : 1));
const incumbentImages: PerImage = { losses: incumbentLosses, correct: incumbentCorrect };

/**
 * A candidate `z` standard errors better in loss (negative z: worse), with the given noise pattern.
 * Correctness: the incumbent's, with `lost` images it got right now wrong and `gained` it got wrong now right.
 */
function candidateImages(z: number, options: { pattern?: (i: number) => number; lost?: number; gained?: number } = {}): { losses: number[]; correct: number[] } {
  const { pattern = alternating, lost = 0, gained = 0 } = options;
  const mu = -z * SE;
  const correct = [...incumbentCorrect];
  let l = 0;
  let g = 0;
  for (let i = 0; i < N; i++) {
    // Lose images 0, 2, 4, … (right for the incumbent); gain images 9, 19, 29, … (wrong for it).
    if (l < lost && i % 2 === 0 && correct[i] === 1) (correct[i] = 0), l++;
    if (g < gained && i % 10 === 9) (correct[i] = 1), g++;
  }
  return { losses: incumbentLosses.map((loss, i) => loss + mu + S * pattern(i)), correct };
}

/** The standard error of a paired accuracy difference of `k` images changed the same way out of N. */
const accuracySE = (k: number) => Math.sqrt((k * (N - k)) / N / (N - 1)) / Math.sqrt(N);

function side(runId: number, perImage: PerImage | PerImage[], rest: Partial<Side> = {}): Side {
  return { runId, perImage: Array.isArray(perImage) ? perImage : [perImage], imagesPerSecond: 1000, epochs: 10, params: 2000, ...rest };
}
const incumbent = (rest: Partial<Side> = {}) => side(1, incumbentImages, rest);

describe('the made-up sets are what their names say', () => {
  test.each([3.2, 2.5, 0.5, -2.5])('a candidate %s SE better has that z, with the SE computed by hand', (z) => {
    const j = judge(side(2, candidateImages(z)), incumbent());
    expect(j.lossSE).toBeCloseTo(SE, 12);
    expect(j.lossDiff).toBeCloseTo(-z * SE, 12);
    expect(j.z).toBeCloseTo(z, 9);
    expect(j.images).toBe(N);
  });

  test('accuracy: 30 images lost of 1000 is a paired difference of −3 points, −5.6 SE', () => {
    const j = judge(side(2, candidateImages(0, { lost: 30 })), incumbent());
    expect(j.accuracyDiff).toBeCloseTo(-0.03, 12);
    expect(j.accuracySE).toBeCloseTo(accuracySE(30), 12);
    expect(j.accuracyDiff / j.accuracySE).toBeCloseTo(-0.03 / accuracySE(30), 9);
    expect(j.candidate.accuracy).toBeCloseTo(0.87, 12);
    expect(j.incumbent.accuracy).toBeCloseTo(0.9, 12);
  });
});

describe('judge: kept, reverted or tie, with a 2-SE margin', () => {
  test.each<[string, Side, Side, { outcome: string; kept: boolean; close: boolean }, RegExp]>([
    ['a true improvement of 3.2 SE is kept', side(2, candidateImages(3.2)), incumbent(), { outcome: 'better', kept: true, close: false }, /^better beyond the 2 SE margin: .*\(paired difference −?[\d.e-]+ ± [\d.e-]+, 3.2 SE\)/],
    ['half a standard error is a tie; at equal cost and size the incumbent stands', side(2, candidateImages(0.5)), incumbent(), { outcome: 'tie', kept: false, close: false }, /^tie \(within the 2 SE margin\): .*; the incumbent is the cheaper or simpler, so it stands$/],
    ['a tie keeps the cheaper: a candidate twice as fast is kept', side(2, candidateImages(0.5), { imagesPerSecond: 2000 }), incumbent(), { outcome: 'tie', kept: true, close: false }, /; 2× the incumbent's speed; the candidate is the cheaper or simpler, so it stands$/],
    ['a tie keeps the cheaper: a candidate with half the epochs is kept', side(2, candidateImages(-0.5), { epochs: 5 }), incumbent(), { outcome: 'tie', kept: true, close: false }, /the candidate is the cheaper/],
    ['a tie reverts the dearer: a candidate three times slower', side(2, candidateImages(1.5), { imagesPerSecond: 333 }), incumbent(), { outcome: 'tie', kept: false, close: true }, /0.333× the incumbent's speed; the incumbent is the cheaper or simpler, so it stands$/],
    ['a tie reverts the dearer: a candidate with twice the epochs', side(2, candidateImages(0.5), { epochs: 20 }), incumbent(), { outcome: 'tie', kept: false, close: false }, /the incumbent is the cheaper/],
    ['a tie at equal cost keeps the simpler (fewer parameters)', side(2, candidateImages(0.5), { params: 1000 }), incumbent(), { outcome: 'tie', kept: true, close: false }, /the candidate is the cheaper or simpler/],
    ['worse beyond the margin (−2.5 SE) is reverted', side(2, candidateImages(-2.5)), incumbent(), { outcome: 'worse', kept: false, close: false }, /^worse beyond the 2 SE margin: .*, -2.5 SE\)/],
    ['worse beyond the margin is reverted even when cheaper', side(2, candidateImages(-2.5), { imagesPerSecond: 5000 }), incumbent(), { outcome: 'worse', kept: false, close: false }, /^worse beyond/],
    ['accuracy clearly worse (−3 pt, −5.6 SE) with loss unchanged is reverted', side(2, candidateImages(0, { lost: 30 })), incumbent(), { outcome: 'worse', kept: false, close: false }, /accuracy 90.00% → 87.00% \(−3.00 pt ± 0.54 pt\)/],
    ['accuracy clearly better (+3 pt) with loss unchanged is kept', side(2, candidateImages(0, { gained: 30 })), incumbent(), { outcome: 'better', kept: true, close: false }, /accuracy 90.00% → 93.00% \(\+3.00 pt/],
    // Issue 10: the 5×5 candidate was kept on validation loss while its accuracy fell.
    ['loss better by 3.2 SE but accuracy worse by 5.6 SE: a tie, not a win', side(2, candidateImages(3.2, { lost: 30 })), incumbent(), { outcome: 'tie', kept: false, close: false }, /^tie \(loss and accuracy disagree beyond the 2 SE margin \(3.2 and -5.\d+ SE\)\)/],
  ])('%s', (_name, candidate, inc, expected, summary) => {
    const j = judge(candidate, inc);
    expect({ outcome: j.outcome, kept: j.kept, close: j.close }).toEqual(expected);
    expect(j.summary).toMatch(summary);
    expect(j.margin).toBe(MARGIN);
    expect(j.against).toBe(1);
  });

  test.each<[string, Side, Side, boolean, number, RegExp]>([
    ['a NaN loss on one image: the candidate diverged, reverted', side(2, { ...candidateImages(5), losses: candidateImages(5).losses.map((l, i) => (i === 7 ? NaN : l)) }), incumbent(), false, -Infinity, /^run 2 has non-finite validation losses \(diverged\): reverted$/],
    ['an Infinity loss: reverted', side(2, { ...candidateImages(5), losses: candidateImages(5).losses.map((l, i) => (i === 0 ? Infinity : l)) }), incumbent(), false, -Infinity, /non-finite validation losses/],
    ['an unstable candidate (diverged while training) with finite, better losses: reverted', side(2, candidateImages(5), { unstable: true }), incumbent(), false, -Infinity, /^run 2 diverged or circled while training: reverted$/],
    ['a finite candidate beats an incumbent with non-finite losses', side(2, candidateImages(-5)), side(1, { ...incumbentImages, losses: incumbentLosses.map((l, i) => (i === 3 ? NaN : l)) }), true, Infinity, /^run 1 diverged; run 2 trained stably \(validation accuracy 90.00%\): kept$/],
    ['a stable candidate beats an unstable incumbent, whatever the losses', side(2, candidateImages(-5)), incumbent({ unstable: true }), true, Infinity, /^run 1 diverged; run 2 trained stably/],
  ])('%s', (_name, candidate, inc, kept, z, summary) => {
    const j = judge(candidate, inc);
    expect(j.kept).toBe(kept);
    expect(j.outcome).toBe(kept ? 'better' : 'unstable');
    expect(j.z).toBe(z);
    expect(j.close).toBe(false);
    expect(j.summary).toMatch(summary);
  });

  test('the summary quotes the numbers: losses, the paired difference with its SE, accuracies, speed', () => {
    const j = judge(side(2, candidateImages(3.2), { imagesPerSecond: 500 }), incumbent());
    const loss = (x: number) => String(Number(x.toPrecision(3)));
    expect(j.summary).toContain(`validation loss ${loss(j.incumbent.loss)} → ${loss(j.candidate.loss)}`);
    expect(j.summary).toContain(`± ${loss(SE)}, 3.2 SE`);
    expect(j.summary).toContain(`on the same ${N} images; 0.5× the incumbent's speed`);
    expect(j.imagesPerSecond).toEqual({ candidate: 500, incumbent: 1000 });
  });
});

describe('close calls: 1–3 SE better is flagged for a replicate, unless replicated', () => {
  test.each<[number, string, boolean, boolean]>([
    [0.5, 'tie', false, false],
    [1.5, 'tie', false, true],
    [2.5, 'better', true, true],
    [3.2, 'better', true, false],
    [-1.5, 'tie', false, false],
  ])('%s SE → %s (kept %s), close %s', (z, outcome, kept, close) => {
    const j = judge(side(2, candidateImages(z)), incumbent());
    expect(j).toMatchObject({ outcome, kept, close });
    expect(judge(side(2, candidateImages(z)), incumbent(), { replicated: true }).close).toBe(false);
  });

  test('the thresholds are the stated ones', () => {
    expect([CLOSE_LOW, MARGIN, CLOSE_HIGH, COST_TOLERANCE]).toEqual([1, 2, 3, 0.1]);
  });
});

describe('pooled replicates: the second seed decides a close call', () => {
  // Two replicates with the same mean gain and different noise: +1,−1,+1,−1… and +1,+1,−1,−1….
  // Pooled, the noise is 1,0,0,−1,… (sample sd √(N/2/(N−1))), so the SE shrinks by √2.
  const inPairs = (i: number) => (i % 4 < 2 ? 1 : -1);
  const z1 = 1.5;
  const first = candidateImages(z1);
  const second = candidateImages(z1, { pattern: inPairs });

  test('each replicate alone is a close tie', () => {
    for (const replicate of [first, second]) expect(judge(side(2, replicate), incumbent())).toMatchObject({ outcome: 'tie', close: true });
  });

  test('pooled, the same gain is 1.5 × √2 = 2.12 SE: kept, and no longer a close call', () => {
    const j = judge(side(2, [first, second], { replicateIds: [5] }), incumbent(), { replicated: true });
    expect(j.lossSE).toBeCloseTo(S / Math.sqrt(2 * (N - 1)), 12);
    expect(j.z).toBeCloseTo(z1 * Math.SQRT2, 9);
    expect(j).toMatchObject({ outcome: 'better', kept: true, close: false, pooled: [2, 5] });
    expect(j.candidate.loss).toBeCloseTo(j.incumbent.loss - z1 * SE, 12);
  });

  test('a replicate that loses the gain pools into a tie', () => {
    const j = judge(side(2, [first, candidateImages(-1.5, { pattern: inPairs })], { replicateIds: [5] }), incumbent(), { replicated: true });
    expect(j.lossDiff).toBeCloseTo(0, 12);
    expect(j).toMatchObject({ outcome: 'tie', close: false });
  });
});

describe('cheaper: cost = epochs / images per second, 10% tolerance, then fewer parameters', () => {
  const base = { runId: 1, perImage: [], imagesPerSecond: 1000, epochs: 10, params: 2000 } satisfies Side;
  test.each<[string, Partial<Side>, boolean]>([
    ['twice as fast', { imagesPerSecond: 2000 }, true],
    ['half the epochs', { epochs: 5 }, true],
    ['twice the epochs at twice the speed: same cost, same size', { epochs: 20, imagesPerSecond: 2000 }, false],
    ['5% faster (within the tolerance), fewer parameters', { imagesPerSecond: 1050, params: 1500 }, true],
    ['5% faster (within the tolerance), more parameters', { imagesPerSecond: 1050, params: 2500 }, false],
    ['15% faster, more parameters', { imagesPerSecond: 1150, params: 9000 }, true],
    ['three times slower, fewer parameters', { imagesPerSecond: 333, params: 100 }, false],
  ])('candidate %s → cheaper %s', (_name, candidate, expected) => {
    expect(cheaper({ ...base, ...candidate }, base)).toBe(expected);
  });
});

describe('finalRunWins: the final weights go to the higher validation accuracy, loss breaking a tie', () => {
  const finite = { candidate: true, incumbent: true };
  test.each([
    // accuracyDiff, lossDiff, final run wins
    [0.004, 0.02, true], // more accurate with a higher (over-confident) loss: the long annealed run is kept
    [-0.004, -0.02, false], // lower loss but less accurate: the finalist it retrains is kept
    [0, -0.001, true],
    [0, 0, true],
    [0, 0.001, false],
  ])('accuracy %f, loss %f → %s', (accuracyDiff, lossDiff, wins) => {
    expect(finalRunWins({ accuracyDiff, lossDiff, finite })).toBe(wins);
  });
  test('a final run with non-finite losses never wins; against a non-finite finalist it always does', () => {
    expect(finalRunWins({ accuracyDiff: 0.05, lossDiff: -1, finite: { candidate: false, incumbent: true } })).toBe(false);
    expect(finalRunWins({ accuracyDiff: -0.05, lossDiff: 1, finite: { candidate: true, incumbent: false } })).toBe(true);
  });
});
