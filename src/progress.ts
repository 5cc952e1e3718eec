/**
 * What the terminal shows while a study runs: one progress line for the current run that redraws
 * in place on a terminal (plain lines, at most one per validation, when not on one), and one line
 * per decision. `--quiet` shows only the final result. Structured logs go to log.ndjson instead.
 */
import { pct as percent } from './report/format.ts';
import { verdictText } from './report/why.ts';
import type { Decision, Stage } from './types.ts';
import type { DecisionRecord, RunRecord, TrainProgress as TrainingProgress } from './store/records.ts';

export interface ProgressSink {
  runStarted(runId: number, stage: Stage, what: string): void;
  training(runId: number, stage: Stage, p: TrainingProgress, secondsLeft: number | null): void;
  runFinished(run: RunRecord): void;
  /**
   * A decision as stored: the policy's (`refused` when the machine refused it: the policy is asked
   * again) or the machine's own (`by: 'machine'`, its kind and reason).
   */
  decision(record: DecisionRecord): void;
  message(text: string): void;
  result(text: string): void;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '∞';
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : m > 0 ? `${m}m${String(r).padStart(2, '0')}s` : `${r}s`;
}

/** A number with fixed decimals; null → '—', NaN and ±Infinity spelled out. */
export function fixed(x: number | null | undefined, digits = 4): string {
  if (x === null || x === undefined) return '—';
  return Number.isFinite(x) ? x.toFixed(digits) : String(x);
}

/** The progress line (pure, for tests). */
export function progressLine(runId: number, stage: Stage, p: TrainingProgress, secondsLeft: number | null): string {
  return (
    `run ${runId} ${stage}  epoch ${p.epoch}/${p.maxEpochs}  iter ${p.iteration}  loss ${fixed(p.loss)}` +
    `  val acc ${percent(p.valAccuracy, 1)}  ${Math.round(p.imagesPerSecond)} img/s` +
    (secondsLeft === null ? '' : `  budget left ${formatDuration(secondsLeft)}`)
  );
}

/** One line per finished run (pure): its verdict with the paired difference and margin, as the report words it. */
export function runLine(run: RunRecord): string {
  const stop = run.result.stopReason;
  const stopText = stop.kind === 'nonFinite' ? `  stopped: non-finite ${stop.what} at iteration ${stop.iteration}` : '';
  return `run ${run.id} ${run.stage} ${verdictText(run)}; ${run.diagnosis.label}, ${formatDuration(run.result.seconds)}${stopText}`;
}

export function terminalProgress(stream: NodeJS.WriteStream, quiet: boolean): ProgressSink {
  const tty = Boolean(stream.isTTY);
  let open = false; // a redrawable line is on screen
  // Plain output keeps the latest line of the current epoch and prints it when the epoch ends.
  let held: { key: string; text: string } | null = null;
  const flushHeld = () => {
    if (held) stream.write(held.text + '\n');
    held = null;
  };
  const clear = () => {
    if (open) stream.write('\r\x1b[2K');
    open = false;
  };
  const line = (text: string) => {
    if (quiet) return;
    clear();
    flushHeld();
    stream.write(text + '\n');
  };
  return {
    runStarted: (runId, stage, what) => line(`run ${runId} ${stage}: ${what}`),
    training(runId, stage, p, secondsLeft) {
      if (quiet) return;
      const text = progressLine(runId, stage, p, secondsLeft);
      if (tty) {
        stream.write('\r\x1b[2K' + text.slice(0, (stream.columns ?? 160) - 1));
        open = true;
      } else {
        // Plain output: one line per epoch (its last state), so a log file stays readable.
        const key = `${runId}:${p.epoch}`;
        if (held && held.key !== key) flushHeld();
        held = { key, text };
      }
    },
    runFinished: (run) => line(runLine(run)),
    decision: (d) =>
      line(
        d.by === 'machine'
          ? `→ the machine (${d.machine}): ${d.reason}`
          : d.refused
            ? `✗ after run ${d.afterRun}: ${d.decision.action} ${formatParams(d.decision.params)} refused — ${d.refused}`
            : `→ after run ${d.afterRun}: ${d.decision.action} ${formatParams(d.decision.params)} — ${d.decision.reason}`,
      ),
    message: (text) => line(text),
    result(text) {
      clear();
      flushHeld();
      stream.write(text + '\n');
    },
  };
}

export function formatParams(params: Decision['params']): string {
  return Object.entries(params)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
}
