/**
 * One training run: a network spec + MATLAB-style training options → a RunResult and a
 * checkpoint folder (`trainRun`). The run is the training loop of loop.ts, whose header says what
 * each iteration does and where it follows MATLAB; the model is built by model.ts, the data
 * uploaded by upload.ts, the solver made by optimizer.ts, validation run by evaluate.ts, and the
 * run's state set up, restored, checkpointed and disposed by loop-state.ts.
 *
 * Run `initBackend()` (backend.ts) before training; training uses whichever backend is active.
 */
import type { NetworkSpec, TrainingOptions } from '../types.ts';
import type { DataView } from '../data/image-set.ts';
import type { RunResult } from '../store/records.ts';
import { runLoop } from './loop.ts';

import type { TrainProgress } from '../store/records.ts';
export type { TrainProgress };

export interface TrainRequest {
  network: NetworkSpec;
  /** Resolved options (resolveOptions is applied again: nulls read as defaults). */
  options: TrainingOptions;
  train: DataView;
  /** May be empty (no validation: valLoss null, bestEpoch null). */
  validation: DataView;
  /** Where to write the checkpoint (created if missing). */
  checkpointDir: string;
  /**
   * Continue a finished run for more epochs: `options.maxEpochs` is the new TOTAL. Weights,
   * optimizer state, counters and the shuffle PRNG come from its checkpoint; the returned history
   * starts with `result.history`. Same network required; on the same training images the epoch
   * order continues too, on others (more images: the final refit) it starts afresh. Continuing a
   * run that stopped mid-epoch (patience, non-finite) starts with the next epoch.
   */
  continueFrom?: { checkpointDir: string; result: RunResult } | null;
  /** Wall-clock deadline (ms since the epoch), checked at epoch boundaries → stopReason 'budget'. */
  deadline?: number;
  /**
   * Check the deadline before every iteration too (a final run that fills its budget): the run
   * stops mid-epoch, validates, and records the partial epoch (stopReason 'budget'). Default:
   * epoch boundaries only.
   */
  deadlineMidEpoch?: boolean;
  /** Called after every iteration; keep it cheap. */
  onProgress?: (progress: TrainProgress) => void;
  signal?: AbortSignal;
  /**
   * Fires when a run trained ahead is needed now (study/ahead.ts): a trainer that queues runs at a
   * lower priority moves it to the front. Training in process ignores it.
   */
  needed?: AbortSignal;
}

/**
 * Trains one run and writes its checkpoint. Counts in the result (epochsCompleted,
 * iterationsCompleted, imagesTrained) and the history are cumulative over a continued run;
 * `seconds` is this call's wall time only (what the continuation cost).
 */
export async function trainRun(request: TrainRequest): Promise<RunResult> {
  return runLoop({
    network: request.network,
    options: request.options,
    train: request.train,
    validation: request.validation,
    checkpointDir: request.checkpointDir,
    continueFrom: request.continueFrom ?? null,
    deadline: request.deadline,
    deadlineMidEpoch: request.deadlineMidEpoch,
    onProgress: request.onProgress,
    signal: request.signal,
  });
}
