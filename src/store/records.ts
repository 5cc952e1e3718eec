/**
 * The stored study: what the store keeps (reports/<study>/study.json) and what reports, `tune list`
 * and `tune serve` read. Types (and `reasonOf`), pure; not part of `flowtune`'s public contract (src/types.ts,
 * whose types these records embed). The format's version and migrations: schema.ts.
 */
import type {
  Decision,
  Diagnosis,
  Fidelity,
  Judgement,
  NetworkSpec,
  RunEvaluation,
  RunKind,
  Stage,
  StopReason,
  Throughput,
  TrainingHistory,
  TrainingOptions,
  Verdict,
} from '../types.ts';

/** Everything `tune` was asked to do; stored with the study so `--resume` needs no flags. */
export interface StudyConfig {
  /** Study name: the folder under reports/. */
  name: string;
  /** 'fashion' or a folder of IDX files. */
  data: string;
  /** Explicit data folder (--data-dir / FASHION_MNIST_DIR), if any. */
  dataDir: string | null;
  /** Validation hold-out size carved from the training set. Default 10000. */
  validationSize: number;
  /** Training images per search run (stratified subset); null = all. */
  searchSubset: number | null;
  /** Validation images per search run; null = all. */
  searchValidationSubset: number | null;
  /** Whether the final model retrains on the full training split. */
  finalFullData: boolean;
  /**
   * Whether the long final run trains on the validation images too (the final refit; `--no-final-refit`
   * turns it off). Absent (studies recorded before it) = false, so a resumed study decides as it did.
   */
  finalRefit?: boolean;
  seed: number;
  /** Policy file path, or a built-in name ('flowchart', 'random', 'example'); with `policyObject`, the object's name. */
  policy: string;
  /**
   * The policy was an object passed to runStudy ('flowtune/study'), named `policy`: a resume must
   * be given it again. Absent (older records too) = false: a built-in name or a file.
   */
  policyObject?: boolean;
  /** Wall-clock budget in seconds; null = none. */
  budgetSeconds: number | null;
  /** Maximum training runs; null = none. */
  maxRuns: number | null;
  /** Forced backend, or null for automatic choice. */
  backend: string | null;
  /** Network and options of the baseline run. */
  baseNetwork: NetworkSpec;
  baseOptions: TrainingOptions;
  /** --image-size: [height, width] images are resized to (folders) or laid out as (CSV); null/absent = from the data. */
  imageSize?: [number, number] | null;
  /** --test-data: the labelled test file of a CSV data set, when not found beside it by name; null/absent = none. */
  testData?: string | null;
  /** --skip-bad: leave out unreadable or corrupt images (listed in the report) instead of stopping. Absent = false. */
  skipBad?: boolean;
  /** --max-memory in bytes: above it pixels are kept as bytes, or the data set is refused. Absent = the default (2 GiB). */
  maxMemoryBytes?: number;
}

/** What one training run returns. Plain data: safe to store as JSON. */
export interface RunResult {
  history: TrainingHistory;
  backend: string;
  stopReason: StopReason;
  /** 1-based epoch of minimum validation loss, or null when there was no finite validation. */
  bestEpoch: number | null;
  bestValLoss: number | null;
  paramCount: number;
  /** Folder with model.json + weights (tfjs format) and optimizer state, for warm starts. */
  checkpointDir: string;
  epochsCompleted: number;
  iterationsCompleted: number;
  imagesTrained: number;
  seconds: number;
}

export interface RunRecord {
  id: number; // 1-based
  stage: Stage;
  startedAt: string; // ISO time
  finishedAt: string;
  network: NetworkSpec;
  options: TrainingOptions;
  fidelity: Fidelity;
  /** The incumbent run this one changed, or null for the baseline. */
  parentId: number | null;
  /** The decision that produced this run's configuration (null for the baseline). */
  change: Decision | null;
  /** When this run continued another's checkpoint (addEpochs), that run's id. */
  continuedFrom: number | null;
  /** The run whose configuration this one changes when it is not the incumbent (stabilising a diverged candidate). */
  basedOn?: number | null;
  /** For a replicate: the candidate run it repeats with another seed. */
  replicateOf?: number | null;
  result: RunResult;
  diagnosis: Diagnosis;
  /** What the run was for (a search step, a replicate, a confirmation side, the final run); its verdict says how it came out. */
  kind: RunKind;
  verdict: Verdict;
  throughput?: Throughput;
  /** The output network on the study's fixed validation set (null until evaluated). */
  evaluation?: RunEvaluation | null;
  /** The paired comparison that decided the verdict (null for the baseline and the final run). */
  judgement?: Judgement | null;
  bestValAccuracy: number | null;
  /** Final training accuracy and validation accuracy at the output network's epoch. */
  trainAccuracy: number | null;
  valAccuracy: number | null;
}

/**
 * One entry of the decision log: every decision, including those that need no run (trimEpochs,
 * stop): the policy's (`by` absent or 'policy'), or the machine's own (`by: 'machine'`).
 */
export type DecisionRecord = PolicyDecisionRecord | MachineDecisionRecord;

interface DecisionRecordBase {
  /** The run whose result prompted it. */
  afterRun: number;
  stage: Stage;
  at: string;
}

/** A decision of the policy: an action of the registry with its parameters and reason. */
export interface PolicyDecisionRecord extends DecisionRecordBase {
  by?: 'policy';
  decision: Decision;
  /** Set when the machine refused the decision (the action is not allowed at this step): why. */
  refused?: string;
  machine?: never;
  reason?: never;
}

/** A decision the machine takes itself (the budget, the finalists, the final run's plan and weights, the climb): which one, and why in words. */
export interface MachineDecisionRecord extends DecisionRecordBase {
  by: 'machine';
  machine: MachineDecisionKind;
  reason: string;
  decision?: never;
  refused?: never;
}

/** Why a decision of either kind was taken, in words. */
export function reasonOf(record: DecisionRecord): string {
  return record.by === 'machine' ? record.reason : record.decision.reason;
}

/** The machine's own decisions. */
export type MachineDecisionKind =
  /** The budget ended the search. */
  | 'budget'
  /** Which finalists go on (a larger tie or a cheaper one confirmed at equal time, or a cheaper configuration instead). */
  | 'finalists'
  /** The final run's plan: its length in images and its schedule. */
  | 'finalRun'
  /** The final weights: the final run or the finalist it retrains. */
  | 'finalWeights'
  /** --no-final-full: the search weights are final. */
  | 'noFinalFull'
  /** The search climbs to the full-data rung (or does not, and why). */
  | 'fidelity'
  /** A decision of an older flowtune whose sentence names none of the above. */
  | 'other';

export interface FinalEvaluation {
  runId: number;
  testAccuracy: number;
  testLoss: number;
  testCount: number;
  /** Per class, in classNames order. */
  perClassAccuracy: number[];
  /** confusion[actual][predicted] counts. */
  confusion: number[][];
  modelDir: string;
  evaluatedAt: string;
}

export type StudyStatus = 'running' | 'finished' | 'stopped' | 'failed';

export interface StudyRecord {
  /**
   * Version of the stored format (STUDY_SCHEMA_VERSION in src/store/schema.ts). Files written
   * before it existed are version 1 and are migrated when read.
   */
  schemaVersion: number;
  config: StudyConfig;
  createdAt: string;
  updatedAt: string;
  status: StudyStatus;
  /** Why it stopped or failed, or what stopped it early (budget). */
  statusReason: string | null;
  dataset: { name: string; trainCount: number; validationCount: number; testCount: number; classNames: string[]; summary?: DatasetSummary };
  backend: string | null;
  policy: { name: string; source: string };
  budget: { secondsUsed: number; runsUsed: number; exhausted: boolean };
  runs: RunRecord[];
  decisions: DecisionRecord[];
  /** The incumbent run id. */
  incumbentId: number | null;
  final: FinalEvaluation | null;
  /**
   * What the policy would try next with more budget: its answer when asked once more, at the end of
   * the search, with the time and runs limits lifted (null when it would stop anyway).
   */
  nextWithMoreBudget?: { decision: Decision; allowed: boolean } | null;
  /** The XState persisted snapshot after the last transition. */
  snapshot: unknown;
  /**
   * The run being trained, as of its latest progress write (src/study/live.ts), for readers of a
   * running study (`tune serve`); null between runs. Absent in records written before it existed.
   */
  inFlight?: InFlightRun | null;
}

/** A training run's progress, reported at every iteration (the trainer's onProgress; the run in flight stores it). */
export interface TrainProgress {
  /** The epoch being trained (1-based, counted across continuations) and the run's MaxEpochs. */
  epoch: number;
  maxEpochs: number;
  iteration: number;
  /** This iteration's mini-batch loss. */
  loss: number;
  /** The latest validation accuracy (0..1), or null before the first validation. */
  valAccuracy: number | null;
  /** Training throughput of the current epoch so far. */
  imagesPerSecond: number;
}

/** A run in flight: where its training is and how long it has left, as stored while it trains. */
export interface InFlightRun extends TrainProgress {
  runId: number;
  stage: Stage;
  /** What it tries, as the terminal's "run N stage: …" line says it. */
  what: string;
  /** ISO time the run started, and of this progress write. */
  startedAt: string;
  at: string;
  /**
   * Estimated seconds until the run ends, at `at`: its remaining epochs at the pace of its finished
   * ones, capped by its planned length and by the budget; null until one epoch has finished.
   */
  secondsLeft: number | null;
  /** Seconds left in the study's whole budget at `at` (null: no time budget). */
  budgetSecondsLeft: number | null;
}

/** What a study's data turned out to be, for the report (src/data/summary.ts builds it; absent in older studies). */
export interface DatasetSummary {
  /** 'fashion' (checked against the official checksums), 'idx' (a folder of IDX files), 'folder' (class subfolders of images), 'csv'. */
  format: 'fashion' | 'idx' | 'folder' | 'csv';
  /** [height, width, channels] of every image as trained on. */
  imageShape: [number, number, number];
  /** How the images got that size: e.g. "resized from 5 sizes (most common 32×32) to 32×32"; null when nothing was resized. */
  resized: string | null;
  /** Images per class (classNames order) in each split. */
  classCounts: { train: number[]; validation: number[]; test: number[] };
  /** Where the validation images come from, e.g. "held out of the training set (stratified, seed 0)" or "the val/ folder". */
  validationFrom: string;
  /** Where the sealed test images come from, e.g. "the test/ folder", or how they were carved out. */
  testFrom: string;
  /** True when no test split was given and one was carved out of the data (sealed all the same). */
  testCarved: boolean;
  /** Files left out with --skip-bad: path and why. */
  skipped: Array<{ path: string; reason: string }>;
  /** Files in the folders that are not PNG or JPEG (ignored). */
  ignoredFiles: number;
  /** How the pixels are held: 'float32' (4 bytes each) or 'bytes' (1 byte each, scaled per batch), and the estimate in bytes. */
  storage: { kind: 'float32' | 'bytes'; estimatedBytes: number; limitBytes: number };
}
