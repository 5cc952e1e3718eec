/** bench/ahead-sim.mjs: the replay of a recorded study with W workers and runs trained ahead, on made-up runs. */
import { describe, expect, test } from 'vitest';
import { guessesFor, recordedRuns, replay, type ReplayRun as Run } from '../../bench/ahead-sim.mjs';
const run = (id: number, verdict: string, over: Partial<Run> = {}): Run => ({
  id,
  kind: 'search',
  verdict,
  fidelity: 'subset',
  parentId: 1,
  replicateOf: null,
  changed: verdict !== 'baseline',
  seconds: 10,
  gap: 1,
  ...over,
});

describe('guessesFor', () => {
  test.each<[string, Run[], number, { chain: number[]; replicate: number | null; wrong: boolean; overrun: boolean }]>([
    ['a not-kept chain, ended by a kept run', [run(1, 'baseline', { parentId: null }), run(2, 'reverted'), run(3, 'reverted'), run(4, 'kept'), run(5, 'reverted', { parentId: 4 })], 1, { chain: [2, 3], replicate: null, wrong: false, overrun: true }],
    ['a kept candidate: its guesses are wrong', [run(1, 'baseline', { parentId: null }), run(2, 'kept'), run(3, 'reverted', { parentId: 2 })], 1, { chain: [], replicate: null, wrong: true, overrun: true }],
    ['a tie with its replicate, then the next candidate', [run(1, 'baseline', { parentId: null }), run(2, 'tie'), run(3, 'replicate', { kind: 'replicate', replicateOf: 2 }), run(4, 'reverted')], 1, { chain: [3], replicate: 2, wrong: false, overrun: false }],
    ['the chain stops at a rung climb', [run(1, 'baseline', { parentId: null }), run(2, 'reverted'), run(3, 'baseline', { fidelity: 'full', changed: false, parentId: 1 })], 1, { chain: [], replicate: null, wrong: false, overrun: false }],
  ])('%s', (_name, runs, i, expected) => {
    expect(guessesFor(runs, i)).toEqual(expected);
  });
});

describe('replay', () => {
  const chain = [run(1, 'baseline', { parentId: null }), run(2, 'reverted'), run(3, 'reverted'), run(4, 'reverted', { gap: 0 })];

  test('one worker replays the recorded times: runs and gaps in turn', () => {
    expect(replay(chain, 1)).toEqual({ seconds: 4 * 10 + 3, adopted: 0, dropped: 0 });
  });

  test('two workers: each next candidate trains beside the one before; the study waits only for what is left', () => {
    // run 1 (0–10) +1; run 2 at 11 with run 3 ahead (11–21): 21 +1; run 3 adopted at 22 with run 4 ahead (22–32): +1 → 23; run 4 adopted at 32.
    expect(replay(chain, 2)).toEqual({ seconds: 32, adopted: 2, dropped: 0 });
  });

  test('a kept candidate: its guess holds the second worker and is dropped; nothing is adopted', () => {
    const kept = [run(1, 'baseline', { parentId: null }), run(2, 'kept'), run(3, 'reverted', { parentId: 2, gap: 0 })];
    expect(replay(kept, 2)).toEqual({ seconds: 10 + 1 + 10 + 1 + 10, adopted: 0, dropped: 1 });
  });

  test('the replicate a close call asks for trains beside its candidate', () => {
    const close = [run(1, 'baseline', { parentId: null }), run(2, 'tie', { seconds: 30 }), run(3, 'replicate', { kind: 'replicate', replicateOf: 2, seconds: 30, gap: 0 })];
    expect(replay(close, 2)).toEqual({ seconds: 11 + 30 + 1, adopted: 1, dropped: 0 });
  });
});

describe('recordedRuns', () => {
  test('durations and gaps from the stored times, up to the final run', () => {
    const at = (s: number) => new Date(Date.UTC(2026, 11, 3) + s * 1000).toISOString();
    const stored = (id: number, kind: string, start: number, end: number) => ({ id, kind, verdict: kind === 'final' ? 'final' : 'reverted', startedAt: at(start), finishedAt: at(end), fidelity: { kind: 'subset' }, parentId: 1, replicateOf: null, change: {} });
    const study = { createdAt: at(0), runs: [stored(1, 'search', 0, 10), stored(2, 'search', 12, 20), stored(3, 'final', 25, 100)] };
    expect(recordedRuns(study).map((r: Run) => [r.id, r.seconds, r.gap])).toEqual([
      [1, 10, 2],
      [2, 8, 5],
    ]);
  });
});
