/**
 * The types of 'flowtune/study': runStudy's options, progress and result. Apart from the
 * implementation (api.ts) so that the entry's published declarations (public.ts, emitted by
 * tsconfig.study.json) are these and nothing of the study runner. No I/O here.
 */
import type { ProgressSink } from '../progress.ts';
import type { StudyRecord } from '../store/records.ts';
import type { Policy } from '../types.ts';

export const SOLVERS = ['sgdm', 'adam', 'rmsprop'] as const;
export const BACKENDS = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] as const;
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error'] as const;

/**
 * What a study reports while it runs (the lines `tune` prints): a run started, its training
 * progress, a run finished, a decision, a message, the final result. Give the methods you want;
 * they must not throw.
 */
export type StudyProgress = Partial<ProgressSink>;

/** The options of runStudy: `tune`'s study flags, typed. Absent = the CLI's default. */
export interface RunStudyOptions {
  /** `--data`: 'fashion' (default), a folder of IDX files, an image folder or a CSV file. */
  data?: 'fashion' | (string & {});
  /** `--data-dir`: the only folder Fashion-MNIST is read from (default: FASHION_MNIST_DIR, then the usual places). */
  dataDir?: string;
  /** `--image-size`: image folders and CSV: [height, width], or 'HxW'. */
  imageSize?: [number, number] | string;
  /** `--test-data`: CSV: the labelled test file. */
  testData?: string;
  /** `--skip-bad`: image folders: leave out images that cannot be decoded. */
  skipBad?: boolean;
  /** `--max-memory`: memory for pixels, e.g. '512M', '8G', or bytes (default 2G). */
  maxMemory?: string | number;
  /** `--name`: the study's folder under `reportsDir` (default fashion-<date>-<time>). */
  name?: string;
  /**
   * `--policy`: a Policy object (e.g. `flowchartPolicy` from 'flowtune/policies', or your own), a
   * built-in policy's name ('flowchart', 'example', 'random', 'no-search'), or a policy file's path
   * (default 'flowchart'). A study started with an object is resumed with the same object
   * (`resume`), not by `tune --resume`.
   */
  policy?: Policy | 'flowchart' | 'example' | 'random' | 'no-search' | (string & {});
  /** `--budget`: wall-clock budget, in seconds or as a duration ('30m', '1h30m', '90s'); 0 = none (default '30m'). */
  budget?: number | string;
  /** `--max-runs`: at most this many search runs; 0 = no limit (default 32). */
  maxRuns?: number;
  /** `--subset`: training images per search run, a stratified subset; 0 = all (default 8192). */
  subset?: number;
  /** `--validation-subset`: validation images per search run; 0 = all (default 2000). */
  validationSubset?: number;
  /** `--validation-size`: the validation hold-out: images, or a share below 1 (default 10000 for IDX data). */
  validationSize?: number;
  /** false = `--no-final-full`: finalise the best search run as it is, without retraining on the full split (default true). */
  finalFull?: boolean;
  /** false = `--no-final-refit`: the long final run trains on the training split only, not on the validation images too (default true). */
  finalRefit?: boolean;
  /** `--max-epochs`: MaxEpochs of the first run (default 10). */
  maxEpochs?: number;
  /** `--initial-learn-rate`: InitialLearnRate of the first run (default: the solver's, 0.01 for sgdm). */
  initialLearnRate?: number;
  /** `--solver`: solver of the first run (default 'sgdm'). */
  solver?: (typeof SOLVERS)[number];
  /** `--mini-batch-size`: MiniBatchSize (default 128). */
  miniBatchSize?: number;
  /** `--seed`: seed of the split, subsets, weights and shuffling (default 0). */
  seed?: number;
  /** `--backend`: force a backend (default: the fastest that loads). */
  backend?: (typeof BACKENDS)[number];
  /** `--reports`: where studies are kept (default ./reports, from the current directory). */
  reportsDir?: string;
  /**
   * `--resume`: continue the stopped study of this name instead of starting one. Its stored
   * configuration is used: give none of the options above but `reportsDir` and, for a study
   * started with a policy object, `policy` (the same object).
   */
  resume?: string;
  /** `--redis`: send the training runs to `tune worker`s through this Redis. */
  redis?: string;
  /** `--log-level`: level of reports/NAME/log.ndjson (default 'info'). */
  logLevel?: (typeof LOG_LEVELS)[number];
  /** Print nothing (default: the progress lines `tune` prints, on stderr). Ignored with `progress`. */
  quiet?: boolean;
  /** Receive the progress instead of printing it. */
  progress?: StudyProgress;
  /**
   * Aborting it stops the study as Ctrl-C stops `tune`: the run in flight ends at its next
   * iteration, every finished run is kept, and runStudy resolves with status 'stopped' (resume with
   * `resume`). Already aborted when runStudy is called: it rejects with the signal's reason and
   * starts nothing.
   */
  signal?: AbortSignal;
}

/** A study's end, as stored in its folder (study.json, report.md). */
export interface StudyResult {
  /** The study's name: its folder's name. */
  name: string;
  /** Its folder (absolute): study.json, report.md, log.ndjson, the runs, the model. */
  dir: string;
  /**
   * 'done': finished, with a final model tested once on the sealed test set (`budgetExhausted`:
   * the budget ended the search, `tune` exits 3); 'stopped': stopped by `signal`, resumable;
   * 'failed': the study ran and failed (`error` says why; its finished runs are kept).
   */
  status: 'done' | 'stopped' | 'failed';
  /** Why it stopped or failed, or what ended the search early (the stored `statusReason`). */
  statusReason: string | null;
  /** The search ended because its time or run budget was used up. */
  budgetExhausted: boolean;
  /** The final model's accuracy on the sealed test set, 0..1 (null before a final evaluation). */
  testAccuracy: number | null;
  /** The run whose model was tested (null before a final evaluation). */
  finalRunId: number | null;
  /** The Markdown report (null if none was written). */
  reportPath: string | null;
  /** With status 'failed': a UserError (a mistake, e.g. the policy's decide() threw) or a bug (an Error). */
  error?: Error;
  /**
   * The whole stored record (reports/NAME/study.json): runs, decisions, the final evaluation. Its
   * format is internal to flowtune (not exported by 'flowtune'), and may change between versions.
   */
  study: StudyRecord;
}
