import { describe, expect, test } from 'vitest';
import { formatDuration, progressLine, runLine, terminalProgress } from '../src/progress.ts';
import { finishedStudy } from './report/__fixtures__/studies.ts';

function fakeStream(isTTY: boolean) {
  const writes: string[] = [];
  return { writes, stream: { isTTY, columns: 200, write: (s: string) => writes.push(s) } as unknown as NodeJS.WriteStream };
}

const p = (epoch: number, iteration: number, valAccuracy: number | null) => ({ epoch, maxEpochs: 3, iteration, loss: 0.5, valAccuracy, imagesPerSecond: 1000 });

describe('progress output', () => {
  test.each([
    [5, '5s'],
    [65, '1m05s'],
    [3725, '1h02m'],
    [Infinity, '∞'],
  ])('formatDuration(%s) = %s', (s, text) => expect(formatDuration(s)).toBe(text));

  test('the progress line has run, stage, epoch, iteration, loss, validation accuracy, speed and budget', () => {
    expect(progressLine(2, 'stabilise', p(1, 7, 0.8123), 90)).toBe(
      'run 2 stabilise  epoch 1/3  iter 7  loss 0.5000  val acc 81.2%  1000 img/s  budget left 1m30s',
    );
    expect(progressLine(1, 'baseline', p(1, 1, null), null)).toContain('val acc —');
    expect(progressLine(1, 'baseline', { ...p(1, 1, Number.NaN), loss: Number.NaN }, null)).toContain('loss NaN');
  });

  test('not on a terminal: one plain line per epoch (its last state), then the decision', () => {
    const { writes, stream } = fakeStream(false);
    const sink = terminalProgress(stream, false);
    sink.training(1, 'baseline', p(1, 1, null), null);
    sink.training(1, 'baseline', p(1, 2, 0.5), null);
    sink.training(1, 'baseline', p(2, 3, 0.5), null);
    sink.training(1, 'baseline', p(2, 4, 0.6), null);
    const at = '2026-12-01T10:00:00.000Z';
    sink.decision({ afterRun: 1, stage: 'trainEnough', at, decision: { action: 'addEpochs', params: { maxEpochs: 6 }, reason: 'still falling' } });
    sink.decision({ afterRun: 1, stage: 'finalise', at, by: 'machine', machine: 'finalists', reason: 'both train on all 50000 images' });
    expect(writes.join('')).toBe(
      [
        'run 1 baseline  epoch 1/3  iter 2  loss 0.5000  val acc 50.0%  1000 img/s',
        'run 1 baseline  epoch 2/3  iter 4  loss 0.5000  val acc 60.0%  1000 img/s',
        '→ after run 1: addEpochs maxEpochs=6 — still falling',
        '→ the machine (finalists): both train on all 50000 images',
        '',
      ].join('\n'),
    );
    expect(writes.some((w) => w.includes('\r'))).toBe(false);
  });

  test('on a terminal the line redraws in place; --quiet prints only the result', () => {
    const tty = fakeStream(true);
    const sink = terminalProgress(tty.stream, false);
    sink.training(1, 'baseline', p(1, 1, null), null);
    sink.training(1, 'baseline', p(1, 2, null), null);
    expect(tty.writes.every((w) => w.startsWith('\r\x1b[2K'))).toBe(true);
    const quiet = fakeStream(false);
    const q = terminalProgress(quiet.stream, true);
    q.training(1, 'baseline', p(1, 1, 0.5), null);
    q.message('hello');
    q.result('test accuracy 90%');
    expect(quiet.writes.join('')).toBe('test accuracy 90%\n');
  });

  test('a finished run: its verdict with the paired difference and the margin, worded as in the report', () => {
    const runs = finishedStudy().runs;
    expect(runLine(runs[2])).toBe('run 3 capacity ✔ kept: loss −0.03986 ± 0.006328 (6.3 SE better; margin 2 SE), accuracy +1.80 ± 0.42 pt; on 4,096 images; underfitting, 34s');
    expect(runLine(runs[0])).toBe('run 1 baseline ● baseline: validation accuracy 86.00%; underfitting, 12s');
  });
});
