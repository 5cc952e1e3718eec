/**
 * The policy contract: what a policy sees (PolicyContext, RunSummary and what they hold: the
 * network, the training options, the curve, the diagnosis, the judgement) and what it returns (a
 * Decision). This is what `flowtune` (src/index.ts) exports; none of it depends on tfjs, so
 * diagnosis, policies and report rendering stay pure.
 *
 * Not here: the stored study (StudyRecord, RunRecord, DecisionRecord, a run's RunResult, ...) is
 * src/store/records.ts; the images held in memory (ImageSet, DataView) are src/data/image-set.ts.
 *
 * Direction of travel: data → trainer → history → diagnosis → decision → next config.
 */

// ───────────────────────────── network ─────────────────────────────

/** One layer of a network spec. Softmax is implied after the last fully connected layer. */
export type LayerSpec =
  /** 2-D convolution; `stride` defaults to 1, `padding` to 'same'. */
  | { type: 'conv'; filters: number; kernelSize: number; stride?: number; padding?: 'same' | 'valid' }
  /** Batch normalisation over the channel axis. */
  | { type: 'batchnorm' }
  /** Rectified linear unit. */
  | { type: 'relu' }
  /** Max pooling, square window. */
  | { type: 'maxpool'; poolSize: number; stride: number }
  /** Dropout with the given drop probability, active only while training. */
  | { type: 'dropout'; rate: number }
  /** Fully connected layer (flattens its input first when needed). */
  | { type: 'fc'; units: number };

/** A JSON-serialisable layer stack. */
export interface NetworkSpec {
  /** [height, width, channels] */
  inputShape: [number, number, number];
  layers: LayerSpec[];
}

// ───────────────────────────── training options ─────────────────────────────

export type Solver = 'sgdm' | 'adam' | 'rmsprop';

/** MATLAB trainingOptions, camelCase. Defaults are MATLAB's unless stated. */
export interface TrainingOptions {
  /** Optimiser. Default 'sgdm'. */
  solver: Solver;
  /** Default 0.01 for sgdm, 0.001 for adam and rmsprop. */
  initialLearnRate: number;
  /** sgdm momentum. Default 0.9. */
  momentum: number;
  /** Default 30. */
  maxEpochs: number;
  /** Default 128. */
  miniBatchSize: number;
  /** Default 'once'. */
  shuffle: 'once' | 'every-epoch' | 'never';
  /** L2 factor on weights (not biases, not batch-norm parameters). Default 1e-4. */
  l2Regularization: number;
  /** Default Infinity (no clipping). */
  gradientThreshold: number;
  /** Default 'l2norm'. */
  gradientThresholdMethod: 'l2norm' | 'global-l2norm' | 'absolute-value';
  /**
   * Default 'none'. 'piecewise' drops the rate by learnRateDropFactor every learnRateDropPeriod
   * epochs; 'cosine' (MATLAB R2024b's LearnRateSchedule "cosine": cosineLearnRate over MaxEpochs,
   * updated every epoch) anneals it from initialLearnRate towards 0 along half a cosine.
   */
  learnRateSchedule: 'none' | 'piecewise' | 'cosine';
  /** Default 0.1. */
  learnRateDropFactor: number;
  /** Epochs between drops. Default 10. */
  learnRateDropPeriod: number;
  /** Iterations between validations. Default 50. */
  validationFrequency: number;
  /** Validations without improvement before stopping. Default Infinity. */
  validationPatience: number;
  /** Default 'last-iteration'. */
  outputNetwork: 'last-iteration' | 'best-validation-loss';
  /** Seed for weight init, shuffling and dropout. Default 0. */
  seed: number;
  /**
   * Data augmentation of the training batches, on the fly (MATLAB's `imageDataAugmenter`
   * properties, given to `augmentedImageDatastore`; not trainingOptions in MATLAB, kept with them
   * here because a run's configuration is its network and these options). Validation and test
   * images are never augmented. Absent: off.
   *
   * Mirror each image left–right with probability ½ (MATLAB RandXReflection). Default false.
   */
  randXReflection?: boolean;
  /** Shift each image by a whole number of pixels drawn uniformly from [−N, N] horizontally (MATLAB RandXTranslation [-N N]); the edge fills with 0. Default 0. */
  randXTranslation?: number;
  /** The same vertically (MATLAB RandYTranslation [-N N]). Default 0. */
  randYTranslation?: number;
  /**
   * flowtune's, not MATLAB's: with the 'piecewise' schedule and a run that has a deadline, the rate
   * drops once, by learnRateDropFactor, at the first epoch that starts after this share (0..1) of
   * the time from the run's start to its deadline — on the run's own clock, so a run faster or
   * slower than planned still anneals for the same share of its time. Without a deadline
   * learnRateDropPeriod applies as in MATLAB. Absent: off.
   */
  learnRateDropAtTime?: number;
}

// ───────────────────────────── a run's history ─────────────────────────────

/** Per iteration (mini-batch). */
export interface IterationRecord {
  iteration: number; // 1-based, counted across epochs (and across continuations)
  epoch: number; // 1-based
  loss: number;
  accuracy: number; // 0..1
  learnRate: number;
}

/** At each validation point. */
export interface ValidationRecord {
  iteration: number;
  epoch: number;
  loss: number;
  accuracy: number; // 0..1
}

/** Per epoch. Validation fields are those of the validation at the end of the epoch. */
export interface EpochRecord {
  epoch: number; // 1-based
  learnRate: number;
  loss: number; // mean training loss over the epoch's iterations
  accuracy: number; // mean training accuracy over the epoch
  valLoss: number | null;
  valAccuracy: number | null;
  seconds: number;
  imagesPerSecond: number;
}

export type StopReason =
  /** All maxEpochs were trained. */
  | { kind: 'completed' }
  /** A loss or gradient went NaN/Infinity; no further batch was spent. */
  | { kind: 'nonFinite'; iteration: number; epoch: number; what: 'loss' | 'gradient' }
  /** validationPatience validations without improvement. */
  | { kind: 'validationPatience'; epoch: number }
  /** The study's deadline arrived during the run. */
  | { kind: 'budget'; epoch: number };

export interface TrainingHistory {
  iterations: IterationRecord[];
  validations: ValidationRecord[];
  epochs: EpochRecord[];
}

// ───────────────────────────── diagnosis ─────────────────────────────

/** The diagnosis labels (fixed; other tools may rely on them). */
export type DiagnosisLabel =
  /** A non-finite loss or gradient, or loss exploding well above its start. */
  | 'diverged'
  /** No downward trend with large swings: the "circling" of a too-large learning rate. */
  | 'oscillating'
  /** Stable but far too slow for the budget: validation loss has much room to fall, accuracy low. */
  | 'tooSlow'
  /** Validation loss still falling at the last epoch. */
  | 'underfitting'
  /** Validation loss has a minimum well before the end and rises after it, or a big train/validation gap. */
  | 'overfitting'
  /** None of the above. */
  | 'converged';

/**
 * The epoch-level curve that diagnosis reads. The trainer's history maps onto it, and so do
 * Keras History JSON and MATLAB training-info CSV (see `tune diagnose`).
 */
export interface TrainingCurve {
  epochs: Array<{
    epoch: number;
    loss: number;
    accuracy: number | null;
    valLoss: number | null;
    valAccuracy: number | null;
    learnRate: number | null;
  }>;
  /** Set when training stopped on a non-finite value. */
  nonFinite?: { iteration: number; epoch: number; what: 'loss' | 'gradient' } | null;
}

/** Thresholds that decide the labels. Policies own them; defaults live in diagnosis/. */
export interface DiagnosisThresholds {
  /** Loss above start × this counts as exploding. */
  explodeFactor: number;
  /** Validation loss rising this fraction above its minimum counts as rising. */
  riseFraction: number;
  /** The minimum must be at least this many epochs before the end to count as overfitting. */
  minEpochsAfterMinimum: number;
  /** Train − validation accuracy gap (0..1) above which it is overfitting. */
  gapThreshold: number;
  /** Relative fall of validation loss over the last epochs that still counts as "falling". */
  stillFallingFraction: number;
  /** Validation accuracy below this (0..1) while stable counts as too slow, if the loss also barely moved. */
  tooSlowAccuracy: number;
  /** Relative loss fall over the whole run below which learning counts as too slow. */
  tooSlowFall: number;
  /** Swing (std of epoch-to-epoch loss change relative to mean loss) above which, without trend, it oscillates. */
  oscillationSwing: number;
}

export interface Diagnosis {
  label: DiagnosisLabel;
  /** Every label whose test fired, strongest first; `label` is the first. */
  findings: DiagnosisLabel[];
  /** The numbers that justify the label (epochs 1-based). */
  evidence: Record<string, number | string | boolean | null>;
  /** One sentence quoting those numbers. */
  summary: string;
}

// ───────────────────────────── decisions and policies ─────────────────────────────

/** Actions and typed decisions live in the action registry (one place): see actions.ts. */
import type { ActionName, Decision } from './actions.ts';
export type { ActionName, Decision } from './actions.ts';

/** The flowchart stages, in order. */
export type Stage = 'baseline' | 'stabilise' | 'trainEnough' | 'trimEpochs' | 'regularise' | 'capacity' | 'finalise';

/** A finished run, as handed to policies (read-only). */
export interface RunSummary {
  readonly id: number;
  readonly stage: Stage;
  readonly network: Readonly<NetworkSpec>;
  readonly options: Readonly<TrainingOptions>;
  readonly fidelity: Readonly<Fidelity>;
  readonly curve: Readonly<TrainingCurve>;
  readonly diagnosis: Readonly<Diagnosis>;
  readonly bestValLoss: number | null;
  readonly bestValAccuracy: number | null;
  readonly bestEpoch: number | null;
  readonly seconds: number;
  /** Kept, reverted or baseline (absent for a history read from a file). */
  readonly verdict?: Verdict;
  /** The decision that produced this run's configuration (null for the baseline). */
  readonly change?: Readonly<Decision> | null;
  /** The run whose checkpoint this one continued (addEpochs), or null. */
  readonly continuedFrom?: number | null;
  /** Measured training speed. */
  readonly throughput?: Readonly<Throughput>;
  /** Its output network on the study's fixed validation set (all of the hold-out). */
  readonly evaluation?: Readonly<RunEvaluation> | null;
  /** The paired comparison with the incumbent that decided its verdict. */
  readonly judgement?: Readonly<Judgement> | null;
}

/** How much data and how many epochs a run used. */
export interface Fidelity {
  /** Training images used. */
  trainImages: number;
  /** Validation images used. */
  validationImages: number;
  /** 'subset' during search, 'full' for the final model. */
  kind: 'subset' | 'full';
  /**
   * The validation images were among its training images (a final run on the training and
   * validation images together): no held-out evaluation of it exists. Absent = false.
   */
  trainsOnValidation?: boolean;
}

export interface PolicyContext {
  /** The flowchart step the machine is in (the stage of the study). */
  readonly stage: Stage;
  /**
   * The actions this step allows (the machine's rails). An action outside this list is refused,
   * recorded with the reason, and the policy is asked again (see `refused`).
   */
  readonly allowed: readonly ActionName[];
  /** The decisions the machine refused at this step since the last run, with why (latest last). */
  readonly refused: readonly { readonly decision: Readonly<Decision>; readonly reason: string }[];
  /**
   * The configuration the next change applies to: the standing one, or, in the stabilise step
   * after a candidate diverged, that candidate's (its id in `subjectRun`).
   */
  readonly subjectRun?: number | null;
  /** The run just finished. */
  readonly last: RunSummary;
  /** The incumbent: the run whose configuration currently stands (best so far). */
  readonly incumbent: RunSummary;
  /**
   * The configuration that stands now: the incumbent's, after any trimEpochs (which changes
   * maxEpochs without a run). Absent for a history read from a file.
   */
  readonly standing?: Readonly<{ network: NetworkSpec; options: TrainingOptions }>;
  /** Every finished run, oldest first. */
  readonly runs: readonly RunSummary[];
  /** Actions already tried at each stage, to avoid repeating a reverted remedy. */
  readonly tried: readonly ActionName[];
  /**
   * Budget left for the search: runs, and seconds before the time kept for the final run
   * (Infinity without a budget).
   */
  readonly budget: { runsLeft: number; secondsLeft: number };
  /**
   * The fidelity rung of the search: 'subset' (runs on the search subset, the default), or 'full'
   * (the flowchart walked again on all the training images, every run the rung's epochs, annealed;
   * `tried` then lists what was tried at this rung). Absent for a history read from a file.
   */
  readonly fidelity?: 'subset' | 'full';
  /** A seeded random number in [0,1) for policies that sample (deterministic per study). */
  readonly random: () => number;
}

/**
 * A policy decides. The built-in flowchart policy implements exactly this interface;
 * so does a user's policy file (default export or `policy` export).
 */
export interface Policy {
  name: string;
  description: string;
  /** Thresholds used to diagnose runs for this policy (partial: the rest are defaults). */
  thresholds?: Partial<DiagnosisThresholds>;
  /** Pure: which remedy next, and why. */
  decide(context: PolicyContext): Decision;
}

// ───────────────────────────── judged runs (what a RunSummary carries) ─────────────────────────────

/** What became of a run. */
export type Verdict =
  /** Trained, not judged yet. */
  | 'pending'
  /** The first run: nothing to compare with. */
  | 'baseline'
  /** Better than the incumbent beyond the noise margin: it became the incumbent. */
  | 'kept'
  /** Worse than the incumbent beyond the margin, or diverged: the incumbent stands. */
  | 'reverted'
  /** Within the noise margin of the incumbent: the cheaper, simpler of the two stands (`judgement.kept`). */
  | 'tie'
  /** A second seed of a candidate whose call was close; pooled into that candidate's judgement. */
  | 'replicate'
  /** A higher-fidelity run (full training split, equal time) deciding between finalists. */
  | 'confirm'
  /** The final run on the full training split. */
  | 'final';

/**
 * What a run was for, apart from its verdict: a step of the search (the baseline and the runs of
 * the full-data rung included), a candidate's second seed, one side of a confirmation, or the
 * final run.
 */
export type RunKind = 'search' | 'replicate' | 'confirm' | 'final';

/** A run's output network on the study's fixed validation set (the one verdicts compare on). */
export interface RunEvaluation {
  images: number;
  loss: number;
  accuracy: number;
  /** Per-image losses and correctness, relative to the study folder (Float32 then Uint8). */
  file: string;
}

/**
 * A paired comparison of a candidate with the incumbent on the same validation images, and what
 * was decided. Differences are candidate − incumbent: a negative loss difference is better.
 */
export interface Judgement {
  /** The incumbent run compared with. */
  against: number;
  images: number;
  /** Runs whose per-image losses were averaged for the candidate (the run, and any replicate). */
  pooled: number[];
  candidate: { loss: number; accuracy: number };
  incumbent: { loss: number; accuracy: number };
  /** Mean paired loss difference and its standard error. */
  lossDiff: number;
  lossSE: number;
  /** Paired accuracy difference (0..1 units) and its standard error. */
  accuracyDiff: number;
  accuracySE: number;
  /** Improvement in standard errors: −lossDiff / lossSE (positive = candidate better). */
  z: number;
  /** Standard errors an improvement must exceed (the noise margin). */
  margin: number;
  /** Training images per second, candidate and incumbent (measured). */
  imagesPerSecond: { candidate: number; incumbent: number };
  outcome: 'better' | 'worse' | 'tie' | 'unstable';
  /** Whether the candidate became the incumbent (a tie keeps the cheaper, simpler one). */
  kept: boolean;
  /** Close to the margin: a replicate with another seed decides (when the budget allows). */
  close: boolean;
  /** One sentence with the numbers. */
  summary: string;
}

/** Measured speed of a run (training only, validation excluded). */
export interface Throughput {
  imagesPerSecond: number;
  /** Wall seconds per epoch of the run, its validation included. */
  secondsPerEpoch: number;
  /** Images per second when evaluating on the fixed validation set (forward only). */
  evalImagesPerSecond?: number;
}
