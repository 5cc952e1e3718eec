/**
 * The run in flight, kept in the study's record while it trains, so that a reader of the stored
 * study (`tune serve`'s page) can show its epoch and time left: a ProgressSink that passes every
 * call on to the terminal's and stores the training progress through the study store.
 *
 * A write re-serialises the whole record (megabytes late in a study), so progress is stored at a
 * run's first iteration, then when an epoch begins at most every MIN_WRITE_SECONDS, and otherwise
 * every REFRESH_SECONDS; never while the previous progress write is still on its way. The store
 * clears it when the run is saved (StudyStore.saveRun).
 */
import type { ProgressSink } from '../progress.ts';
import type { StudyStore } from '../store/study-store.ts';
import type { Stage } from '../types.ts';
import type { InFlightRun } from '../store/records.ts';

/** Progress is written at most this often (seconds), a run's first iteration excepted. */
export const MIN_WRITE_SECONDS = 2;
/** Within a long epoch, progress is written again after this many seconds. */
export const REFRESH_SECONDS = 10;

interface Current {
  runId: number;
  stage: Stage;
  what: string;
  startedAt: number;
  /** The epoch of the run's first progress (continued runs start past their parent's epochs). */
  firstEpoch: number | null;
  epoch: number | null;
  /** When the epoch being trained began (the previous one finished). */
  epochStartedAt: number;
}

/** The planned length (seconds) of a confirmation or final run, from the machine's stored snapshot. */
function plannedSeconds(snapshot: unknown, runId: number): number | null {
  const pending = (snapshot as { context?: { pending?: { runId?: number; seconds?: number | null } | null } } | null)?.context?.pending;
  return pending?.runId === runId && typeof pending.seconds === 'number' ? pending.seconds : null;
}

/**
 * Seconds the run has left at `now`: its remaining epochs at the pace of the ones it finished,
 * capped by its planned length and by the budget left; null before its first epoch ends.
 */
export function runSecondsLeft(c: Current, maxEpochs: number, now: number, planned: number | null, budgetLeft: number | null): number | null {
  if (c.firstEpoch === null || c.epoch === null || c.epoch <= c.firstEpoch) return null;
  const perEpoch = (c.epochStartedAt - c.startedAt) / 1000 / (c.epoch - c.firstEpoch);
  let left = Math.max(0, (maxEpochs - c.epoch + 1) * perEpoch - (now - c.epochStartedAt) / 1000);
  if (planned !== null) left = Math.min(left, Math.max(0, planned - (now - c.startedAt) / 1000));
  if (budgetLeft !== null) left = Math.min(left, Math.max(0, budgetLeft));
  return left;
}

/** `inner`, plus the run in flight written to `store` (throttled). */
export function recordingProgress(inner: ProgressSink, store: Pick<StudyStore, 'saveInFlight' | 'study'>, clock: () => number = Date.now): ProgressSink {
  let current: Current | null = null;
  let writing = false;
  let lastWrite = -Infinity;
  let lastKey = '';
  return {
    ...inner,
    runStarted(runId, stage, what) {
      current = { runId, stage, what, startedAt: clock(), firstEpoch: null, epoch: null, epochStartedAt: clock() };
      inner.runStarted(runId, stage, what);
    },
    training(runId, stage, p, secondsLeft) {
      inner.training(runId, stage, p, secondsLeft);
      const now = clock();
      if (!current || current.runId !== runId) current = { runId, stage, what: stage, startedAt: now, firstEpoch: null, epoch: null, epochStartedAt: now };
      const c = current;
      c.firstEpoch ??= p.epoch;
      if (c.epoch !== p.epoch) {
        if (c.epoch !== null) c.epochStartedAt = now;
        c.epoch = p.epoch;
      }
      const key = `${runId}:${p.epoch}`;
      const firstOfRun = !lastKey.startsWith(`${runId}:`);
      const since = (now - lastWrite) / 1000;
      const due = firstOfRun || (key !== lastKey && since >= MIN_WRITE_SECONDS) || since >= REFRESH_SECONDS;
      if (writing || !due) return;
      const record: InFlightRun = {
        runId,
        stage,
        what: c.what,
        startedAt: new Date(c.startedAt).toISOString(),
        at: new Date(now).toISOString(),
        epoch: p.epoch,
        maxEpochs: p.maxEpochs,
        iteration: p.iteration,
        loss: p.loss,
        valAccuracy: p.valAccuracy,
        imagesPerSecond: p.imagesPerSecond,
        secondsLeft: runSecondsLeft(c, p.maxEpochs, now, plannedSeconds(store.study.snapshot, runId), secondsLeft),
        budgetSecondsLeft: secondsLeft,
      };
      writing = true;
      lastWrite = now;
      lastKey = key;
      // Best effort: a progress line that cannot be stored must not stop the run (the run's own save reports a broken store).
      store.saveInFlight(record).then(
        () => (writing = false),
        () => (writing = false),
      );
    },
  };
}
