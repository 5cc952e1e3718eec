/**
 * The run in flight in the stored study (src/study/live.ts): written through a real study store,
 * throttled, with a time left from the epochs already trained; cleared when the run is saved.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import type { ProgressSink } from '../../src/progress.ts';
import { startingStudyRecord } from '../../src/store/schema.ts';
import { readStudyFile, StudyStore } from '../../src/store/study-store.ts';
import { MIN_WRITE_SECONDS, recordingProgress, REFRESH_SECONDS } from '../../src/study/live.ts';
import type { TrainProgress } from '../../src/training/trainer.ts';
import { finishedStudy } from '../report/__fixtures__/studies.ts';

async function openStore(snapshot: unknown = null) {
  const dir = path.join(await mkdtemp(path.join(tmpdir(), 'live-')), 'study');
  const record = startingStudyRecord({
    config: { name: 'study', budgetSeconds: 600 } as never,
    dataset: { name: 'fashion', trainCount: 50000, validationCount: 10000, testCount: 10000, classNames: [] },
    policy: { name: 'flowchart', source: 'built-in' },
    snapshot,
  });
  return StudyStore.create(dir, record);
}

function recorder() {
  const calls: string[] = [];
  const sink: ProgressSink = {
    runStarted: (id) => calls.push(`started ${id}`),
    training: (id, _s, p) => calls.push(`training ${id} ${p.iteration}`),
    runFinished: (r) => calls.push(`finished ${r.id}`),
    decision: () => calls.push('decision'),
    message: (t) => calls.push(`message ${t}`),
    result: (t) => calls.push(`result ${t}`),
  };
  return { sink, calls };
}

const progress = (epoch: number, iteration: number, maxEpochs = 5): TrainProgress => ({ epoch, maxEpochs, iteration, loss: 0.5, valAccuracy: epoch > 1 ? 0.8 : null, imagesPerSecond: 1000 });

describe('the run in flight, stored', () => {
  test('passes everything on, writes the first iteration at once, then at most every few seconds when an epoch begins', async () => {
    const store = await openStore();
    let now = 1_000_000;
    const { sink, calls } = recorder();
    const live = recordingProgress(sink, store, () => now);
    live.runStarted(4, 'capacity', 'widen factor=2');
    live.training(4, 'capacity', progress(1, 1), 500);
    await store.flush();
    expect(calls).toEqual(['started 4', 'training 4 1']);
    expect(readStudyFile(store.file).inFlight).toMatchObject({ runId: 4, stage: 'capacity', what: 'widen factor=2', epoch: 1, maxEpochs: 5, iteration: 1, secondsLeft: null, budgetSecondsLeft: 500 });

    // Within the same epoch, before the refresh interval: nothing more is written.
    now += 1000;
    live.training(4, 'capacity', progress(1, 20), 499);
    await store.flush();
    expect(readStudyFile(store.file).inFlight!.iteration).toBe(1);

    // Epoch 2 begins 4 s after the start: written, with the time left at that pace (4 epochs of 4 s).
    now += 3000;
    live.training(4, 'capacity', progress(2, 41), 496);
    await store.flush();
    expect(readStudyFile(store.file).inFlight).toMatchObject({ epoch: 2, iteration: 41, secondsLeft: 16, valAccuracy: 0.8 });

    // Epoch 3 begins too soon after that write: skipped; a refresh comes after REFRESH_SECONDS.
    now += (MIN_WRITE_SECONDS - 0.5) * 1000;
    live.training(4, 'capacity', progress(3, 61), 494);
    await store.flush();
    expect(readStudyFile(store.file).inFlight!.epoch).toBe(2);
    now += REFRESH_SECONDS * 1000;
    live.training(4, 'capacity', progress(3, 70), 484);
    await store.flush();
    expect(readStudyFile(store.file).inFlight).toMatchObject({ epoch: 3, iteration: 70 });

    // Saving the run clears it.
    await store.saveRun({ ...finishedStudy().runs[0], id: 4 });
    expect(readStudyFile(store.file).inFlight).toBeNull();
    await store.close();
  });

  test('the time left is capped by the planned length of a confirmation or final run and by the budget', async () => {
    const store = await openStore({ value: { finalise: 'training' }, context: { pending: { runId: 9, seconds: 30 } } });
    let now = 0;
    const live = recordingProgress(recorder().sink, store, () => now);
    live.runStarted(9, 'finalise', 'final');
    live.training(9, 'finalise', progress(11, 1, 100), 1000);
    await store.flush();
    now = 10_000;
    live.training(9, 'finalise', progress(12, 50, 100), 990);
    await store.flush();
    // 89 epochs at 10 s would be 890 s; the plan leaves 20 s.
    expect(readStudyFile(store.file).inFlight!.secondsLeft).toBeCloseTo(20, 6);
    now = 20_000;
    live.training(9, 'finalise', progress(13, 100, 100), 5);
    await store.flush();
    expect(readStudyFile(store.file).inFlight!.secondsLeft).toBeCloseTo(5, 6);
    await store.close();
  });

  test('a store that cannot write does not stop the run', async () => {
    const store = await openStore();
    const live = recordingProgress(recorder().sink, store, () => 0);
    await store.close(); // lock released: every write is refused
    expect(() => live.training(1, 'baseline', progress(1, 1), null)).not.toThrow();
    await new Promise((r) => setTimeout(r, 10));
  });
});
