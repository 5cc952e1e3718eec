/**
 * What a running study holds (store, data, policy, clock), and the small helpers the adapters
 * share: the clock, run folders, per-image validation files, the read-only views policies get.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Dataset } from '../data/dataset.ts';
import { curveFromHistory, type PerImage } from '../diagnosis/index.ts';
import type { ProgressSink } from '../progress.ts';
import type { StudyStore } from '../store/study-store.ts';
import type { EvaluateRequest, EvaluationResult } from '../training/evaluate.ts';
import type { TrainRequest } from '../training/trainer.ts';
import type { PendingRun } from '../machine/machine.ts';
import { iterationsPerEpoch as iterationsIn } from '../util/batching.ts';
import { median } from '../util/stats.ts';
import type { DiagnosisThresholds, NetworkSpec, Policy, RunSummary, Throughput, TrainingOptions } from '../types.ts';
import type { DataView } from '../data/image-set.ts';
import { unionView } from '../data/split.ts';
import type { RunRecord, RunResult, StudyConfig } from '../store/records.ts';

/** The two things a study asks of training/: train a run, evaluate a network. Tests give a fake. */
export interface StudyTrainer {
  trainRun(request: TrainRequest): Promise<RunResult>;
  evaluate(request: EvaluateRequest): Promise<EvaluationResult>;
  /** A candidate network's training and evaluation speed, from a few real batches. */
  probeSpeed(network: NetworkSpec, options: TrainingOptions, train: DataView, validation: DataView, images?: number): Promise<{ imagesPerSecond: number; evalImagesPerSecond: number }>;
  /** How many runs it can train at once (queue workers connected); absent: one. */
  parallelRuns?(): Promise<number>;
}

/** A run's training, started: what its record needs when it finishes. */
export interface TrainedRun {
  result: RunResult;
  startedAt: string;
  options: TrainingOptions;
  data: { train: DataView; validation: DataView };
  parent: RunRecord | null;
}

/** A run trained ahead of the machine's asking (ahead.ts). */
export interface AheadRun {
  run: Promise<TrainedRun>;
  settled: boolean;
  abort: AbortController;
  /** Fired when a run adopts it (TrainRequest.needed). */
  needed: AbortController;
}

export interface StudyEnv {
  config: StudyConfig;
  dir: string;
  store: StudyStore;
  log: Logger;
  progress: ProgressSink;
  policy: Policy;
  policySource: string;
  thresholds: DiagnosisThresholds;
  dataset: Dataset;
  /** Search runs train on `search.train` and validate (once per epoch) on `search.validation`. */
  search: { train: DataView; validation: DataView };
  /** The full split: confirmation and final runs train on it; every verdict compares on `full.validation`. */
  full: { train: DataView; validation: DataView };
  /** Wall-clock ms when this process started working on the study, and seconds used before it. */
  sessionStart: number;
  secondsBefore: number;
  /** Aborted by SIGINT/SIGTERM: the run in flight stops at its next iteration. */
  abort: AbortController;
  trainer: StudyTrainer;
  /** Wall-clock milliseconds (Date.now; a fake clock in tests). */
  clock: () => number;
  /** Probed speeds of candidate networks, by their one-line description (a probe costs a few seconds). */
  speeds: Map<string, { imagesPerSecond: number; evalImagesPerSecond: number }>;
  /** Runs started beside another (PendingRun.alongside), by id, until the machine comes to them. */
  besideRuns: Map<number, Promise<TrainedRun>>;
  /** Runs trained ahead (ahead.ts), by what they train (trainingKey), until a run adopts them. */
  aheadRuns: Map<string, AheadRun>;
  /** The policy's next choices should the candidate `after` not be kept (ahead.ts nextIfReverted), to train ahead beside it. */
  nextAhead?: { after: number; runs: PendingRun[] } | null;
  /** The error that failed the study (kept whole: a user's mistake exits 2, a bug 1). */
  failure: unknown;
}

export function secondsUsed(env: StudyEnv): number {
  return env.secondsBefore + (env.clock() - env.sessionStart) / 1000;
}

/** Seconds left in the whole budget (null: no time budget). */
export function totalSecondsLeft(env: StudyEnv): number | null {
  const budget = env.config.budgetSeconds;
  return budget === null ? null : budget - secondsUsed(env);
}

export function runDir(env: StudyEnv, runId: number): string {
  return path.join(env.dir, 'runs', `run-${runId}`);
}

/** Iterations in one epoch of `view` at the options' batch size (src/util/batching.ts). */
export function iterationsPerEpoch(view: DataView, miniBatchSize: number): number {
  return iterationsIn(view.indices.length, miniBatchSize);
}

/** Measured training speed of a run: median epoch throughput; seconds per epoch of this call (validation included). */
export function throughputOf(run: Pick<RunRecord, 'result'>, epochsThisCall: number): Throughput {
  const speeds = run.result.history.epochs.map((e) => e.imagesPerSecond).filter((x) => x > 0);
  return { imagesPerSecond: speeds.length === 0 ? 0 : median(speeds), secondsPerEpoch: run.result.seconds / Math.max(1, epochsThisCall) };
}

// ───────────────────────────── per-image validation results ─────────────────────────────

/** File of a run's per-image validation results, relative to the study folder. */
export function perImageFile(runId: number): string {
  return path.join('runs', `run-${runId}`, 'validation.bin');
}

/** Writes Float32 losses then Uint8 correctness, little-endian. */
export async function writePerImage(env: StudyEnv, runId: number, perImage: { losses: Float32Array; correct: Uint8Array }): Promise<string> {
  const file = perImageFile(runId);
  const n = perImage.losses.length;
  const buffer = Buffer.alloc(n * 5);
  for (let i = 0; i < n; i++) buffer.writeFloatLE(perImage.losses[i], i * 4);
  buffer.set(perImage.correct, n * 4);
  await mkdir(path.dirname(path.join(env.dir, file)), { recursive: true });
  await writeFile(path.join(env.dir, file), buffer);
  return file;
}

export async function readPerImage(env: StudyEnv, file: string, images: number): Promise<PerImage> {
  const buffer = await readFile(path.join(env.dir, file));
  if (buffer.length !== images * 5) throw new Error(`${file}: ${buffer.length} bytes, expected ${images * 5} for ${images} images`);
  const losses = new Float32Array(images);
  for (let i = 0; i < images; i++) losses[i] = buffer.readFloatLE(i * 4);
  return { losses, correct: new Uint8Array(buffer.subarray(images * 4)) };
}

// ───────────────────────────── what policies see ─────────────────────────────

/** The read-only view of a stored run that policies get. */
export function summariseRun(run: RunRecord): RunSummary {
  return Object.freeze({
    id: run.id,
    stage: run.stage,
    network: run.network,
    options: run.options,
    fidelity: run.fidelity,
    curve: curveFromHistory(run.result.history, run.result.stopReason),
    diagnosis: run.diagnosis,
    bestValLoss: run.result.bestValLoss,
    bestValAccuracy: run.bestValAccuracy,
    bestEpoch: run.result.bestEpoch,
    seconds: run.result.seconds,
    verdict: run.verdict,
    change: run.change,
    continuedFrom: run.continuedFrom,
    throughput: run.throughput,
    evaluation: run.evaluation ?? null,
    judgement: run.judgement ?? null,
  });
}

const refitViews = new WeakMap<StudyEnv['full'], DataView | null>();

/**
 * The training and validation images together, what a final refit trains on; null when the
 * validation images are a set of their own (a data set's validation folder), not held out of the
 * training images.
 */
export function trainAndValidation(env: Pick<StudyEnv, 'full'>): DataView | null {
  if (!refitViews.has(env.full)) refitViews.set(env.full, unionView(env.full.train, env.full.validation));
  return refitViews.get(env.full)!;
}
