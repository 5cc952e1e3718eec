/** Finalist eligibility (src/machine/finalists.ts) on made-up runs. */
import { describe, expect, test } from 'vitest';
import { finalistCandidates, type FinalistFacts } from '../../src/machine/finalists.ts';

const run = (runId: number, over: Partial<FinalistFacts> = {}): FinalistFacts => ({
  runId,
  verdict: 'reverted',
  judgement: null,
  evaluated: true,
  unstable: false,
  params: 40_000,
  network: 'net-a',
  imagesPerSecond: 5000,
  ...over,
});

describe('finalistCandidates', () => {
  const incumbent = run(5, { verdict: 'kept', judgement: { kept: true, against: 1, z: 3 }, params: 70_000, network: 'net-b', imagesPerSecond: 2000 });

  test('the cheaper alternatives: earlier incumbents (a baseline, kept, a tie kept on cost), evaluated and stable; never the incumbent, a reverted run or a tie that stood down', () => {
    const runs = [
      run(1, { verdict: 'baseline' }),
      run(2, { verdict: 'kept', judgement: { kept: true, against: 1, z: 2.5 } }),
      run(3, { verdict: 'tie', judgement: { kept: true, against: 2, z: 0.4 } }),
      run(4, { verdict: 'reverted', judgement: { kept: false, against: 2, z: -3 } }),
      run(6, { verdict: 'kept', unstable: true }),
      run(7, { verdict: 'kept', evaluated: false }),
      incumbent,
    ];
    expect(finalistCandidates(runs, incumbent).others).toEqual([1, 2, 3]);
  });

  test.each([
    // what the tie is → a larger candidate?, nominally ahead?
    ['tied with the incumbent, ahead, more parameters', { judgement: { kept: false, against: 5, z: 0.8 }, params: 160_000, network: 'net-c', imagesPerSecond: 1000 }, true, true],
    ['tied with the incumbent, ahead, more parameters, as fast', { judgement: { kept: false, against: 5, z: 0.8 }, params: 160_000, network: 'net-c', imagesPerSecond: 2000 }, true, true],
    ['tied with the incumbent, behind, slower', { judgement: { kept: false, against: 5, z: -0.5 }, params: 160_000, network: 'net-c', imagesPerSecond: 1000 }, true, false],
    ['tied with an earlier incumbent, slower', { judgement: { kept: false, against: 2, z: 1.2 }, params: 90_000, network: 'net-c', imagesPerSecond: 1500 }, true, false],
    ['tied, within the cost tolerance of the incumbent', { judgement: { kept: false, against: 2, z: 1.2 }, params: 90_000, network: 'net-c', imagesPerSecond: 1900 }, false, false],
    ['tied, the incumbent\'s own network (another option)', { judgement: { kept: false, against: 5, z: -0.2 }, params: 70_000, network: 'net-b', imagesPerSecond: 1000 }, false, false],
    ['tied with the incumbent, ahead, fewer parameters, as fast', { judgement: { kept: false, against: 5, z: 0.8 }, params: 30_000, network: 'net-c', imagesPerSecond: 2000 }, false, false],
  ] as const)('a tie that stood down, %s → larger %s, nominally ahead %s', (_what, over, isCandidate, ahead) => {
    const tie = run(8, { verdict: 'tie', ...over });
    const { larger } = finalistCandidates([run(1, { verdict: 'baseline' }), incumbent, tie], incumbent);
    expect(larger).toEqual(isCandidate ? [{ runId: 8, nominallyAhead: ahead }] : []);
  });

  test('an unstable or unevaluated tie is never a candidate', () => {
    const over = { verdict: 'tie' as const, judgement: { kept: false, against: 5, z: 0.8 }, params: 160_000, network: 'net-c', imagesPerSecond: 1000 };
    expect(finalistCandidates([incumbent, run(8, { ...over, unstable: true }), run(9, { ...over, evaluated: false })], incumbent).larger).toEqual([]);
  });
});
