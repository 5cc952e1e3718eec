/**
 * The hang watchdog of a long-running command (`tune` running a study, `tune worker`). Every
 * step of the training loop lets the event loop run at least every 50 ms, so a main thread that
 * has not run a timer for many minutes is stuck in one call that will not return: seen once in a
 * 30-minute benchmark study, the threaded wasm backend's main thread spun at 100% CPU in one
 * training step for 45 minutes while its helper threads slept (tfjs #4025 describes the same
 * symptom in browsers). JavaScript cannot interrupt that call, and no signal handler of the stuck
 * thread runs, so a helper thread watches a heartbeat the main thread writes every second and,
 * when it is older than the limit, says why on stderr and ends the process with SIGKILL. Finished
 * work is already on disk (every run is stored before the next starts), so the study resumes
 * (`tune --resume NAME`) and a worker's job goes back to the queue when its lock expires.
 *
 * FLOWTUNE_WATCHDOG_SECONDS sets the limit (default WATCHDOG_SECONDS; 0 turns it off).
 */
import { Worker } from 'node:worker_threads';
import { UserError } from './errors.ts';

/** Fifteen minutes: far beyond any single call of a healthy run (an epoch yields every 50 ms). */
export const WATCHDOG_SECONDS = 900;

const SOURCE = `
const { workerData } = require('node:worker_threads');
const { writeSync } = require('node:fs');
const beat = new Float64Array(workerData.beat);
setInterval(() => {
  const silent = Date.now() - beat[0];
  if (silent > workerData.limitMs) {
    writeSync(2, workerData.message.replace('{seconds}', String(Math.round(silent / 1000))) + '\\n');
    process.kill(process.pid, 'SIGKILL');
  }
}, workerData.everyMs);
`;

/** The limit in seconds from FLOWTUNE_WATCHDOG_SECONDS (0: off), or a UserError naming the variable. */
export function watchdogSeconds(env: NodeJS.ProcessEnv = process.env): number {
  const given = env.FLOWTUNE_WATCHDOG_SECONDS;
  if (given === undefined || given.trim() === '') return WATCHDOG_SECONDS;
  const seconds = Number(given);
  if (!Number.isFinite(seconds) || seconds < 0) {
    throw new UserError(`FLOWTUNE_WATCHDOG_SECONDS=${given}: expected a number of seconds ≥ 0 (0 turns the hang watchdog off; default ${WATCHDOG_SECONDS}).`);
  }
  return seconds;
}

/**
 * Starts the watchdog: `message` is printed (with {seconds} replaced) before the process is
 * killed. Returns a function that stops it. Neither the heartbeat nor the helper keeps the
 * process alive.
 */
export function startWatchdog(message: string, seconds = watchdogSeconds()): () => void {
  if (seconds === 0) return () => undefined;
  const beat = new Float64Array(new SharedArrayBuffer(8));
  beat[0] = Date.now();
  const heartbeat = setInterval(() => (beat[0] = Date.now()), 1000);
  heartbeat.unref();
  const limitMs = seconds * 1000;
  const worker = new Worker(SOURCE, { eval: true, workerData: { beat: beat.buffer, limitMs, everyMs: Math.max(250, Math.min(10_000, limitMs / 4)), message } });
  worker.unref();
  return () => {
    clearInterval(heartbeat);
    void worker.terminate();
  };
}
