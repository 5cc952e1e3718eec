/**
 * Made-up runs and the contexts the machine would hand a policy after them: the scenario
 * histories of the contract kit, and the builders to write more. PURE.
 *
 * A context is built the way the machine builds it: each run is diagnosed with the policy's
 * thresholds (diagnoseRun), the flowchart step and the actions it allows come from the machine's
 * own rails (src/machine/rails.ts: evidenceOf, nextStep, allowedActions), and the budget, the
 * actions tried and the seeded random stream are filled in as in a study.
 */
import type { ActionName, Decision } from '../actions.ts';
import { defaultNetwork } from '../config/network.ts';
import { DEFAULT_OPTIONS } from '../config/options.ts';
import { diagnoseRun } from '../diagnosis/diagnose.ts';
import { seededRandom } from '../diagnosis/standalone.ts';
import { resolveThresholds } from '../diagnosis/thresholds.ts';
import { allowedActions, evidenceOf, nextStep, type RailState } from '../machine/rails.ts';
import type { DiagnosisLabel, DiagnosisThresholds, Judgement, NetworkSpec, PolicyContext, RunSummary, Stage, TrainingCurve, TrainingOptions } from '../types.ts';

// ───────────────────────────── curves ─────────────────────────────

const range = (n: number, f: (epoch: number) => number): number[] => Array.from({ length: n }, (_, i) => f(i + 1));

/** A TrainingCurve from per-epoch columns (1-based epochs; a missing column is null). */
export function curveOf(cols: { loss: number[]; acc?: number[]; valLoss?: number[]; valAcc?: number[] }, nonFinite: TrainingCurve['nonFinite'] = null): TrainingCurve {
  return {
    epochs: cols.loss.map((loss, i) => ({
      epoch: i + 1,
      loss,
      accuracy: cols.acc?.[i] ?? null,
      valLoss: cols.valLoss?.[i] ?? null,
      valAccuracy: cols.valAcc?.[i] ?? null,
      learnRate: null,
    })),
    nonFinite,
  };
}

/**
 * Training curves, one per diagnosis (under the default thresholds), and the edge cases. Each is
 * a function: some take a parameter (a scale, a gap) to vary the numbers.
 */
export const CURVES = {
  /** Training loss became NaN at iteration 37 (epoch 3) after two finite epochs: diverged. */
  diverged: () => curveOf({ loss: [2.1, 1.9], acc: [0.3, 0.35], valLoss: [2.0, 1.95], valAcc: [0.3, 0.33] }, { iteration: 37, epoch: 3, what: 'loss' }),
  /** Loss swinging between 0.8 and 1.4 without a trend for 8 epochs: oscillating. */
  oscillating: () =>
    curveOf({ loss: [0.9, 1.3, 0.8, 1.4, 0.85, 1.35, 0.9, 1.3], acc: range(8, () => 0.6), valLoss: [1.0, 1.4, 0.9, 1.5, 0.95, 1.45, 1.0, 1.4], valAcc: range(8, () => 0.55) }),
  /** Validation loss down 25% in `n` epochs, accuracy about 0.73: stable but too slow. */
  tooSlow: (n = 20) =>
    curveOf({ loss: range(n, (e) => 1.02 - 0.0125 * e), acc: range(n, (e) => 0.7 + 0.0017 * e), valLoss: range(n, (e) => 1.0125 - 0.0131 * e), valAcc: range(n, (e) => 0.705 + 0.0013 * e) }),
  /** Validation loss still falling beyond its noise at the end, 0.44 → 0.37 over epochs 6–10 (× `scale`): underfitting. */
  underfitting: (scale = 1) =>
    curveOf({
      loss: [0.85, 0.62, 0.5, 0.43, 0.38, 0.35, 0.32, 0.3, 0.29, 0.28],
      acc: [0.7, 0.78, 0.82, 0.84, 0.86, 0.87, 0.88, 0.88, 0.89, 0.89],
      valLoss: [0.9, 0.7, 0.6, 0.52, 0.47, 0.44, 0.41, 0.39, 0.38, 0.37].map((v) => v * scale),
      valAcc: [0.68, 0.75, 0.79, 0.82, 0.84, 0.85, 0.86, 0.86, 0.87, 0.87],
    }),
  /**
   * Validation loss lowest at epoch 27 of 100 (smoothed minimum: epoch 28), then rising to 0.53:
   * overfitting, with the rise that trimEpochs answers. `gap` lowers validation accuracy.
   */
  overfittingRising: (gap = 0) =>
    curveOf({
      loss: range(100, (e) => Math.exp(-e / 20) + 0.02),
      acc: range(100, (e) => 0.7 + 0.29 * (1 - Math.exp(-e / 15))),
      valLoss: range(100, (e) => (e <= 27 ? 0.312 + (27 - e) * 0.02 : 0.312 + (e - 27) * 0.003)),
      valAcc: range(100, (e) => 0.7 + (0.2 - gap) * (1 - Math.exp(-e / 10))),
    }),
  /** Flat validation loss and a train − validation accuracy gap of `gap` (0.15) at epoch 30: overfitting. */
  overfittingGap: (gap = 0.15) =>
    curveOf({
      loss: range(30, (e) => 0.5 * Math.exp(-e / 8) + 0.08),
      acc: range(30, (e) => 0.82 + gap - 0.2 * Math.exp(-e / 4)),
      valLoss: range(30, (e) => 0.45 + 0.25 * Math.exp(-e / 4)),
      valAcc: range(30, (e) => 0.82 - 0.1 * Math.exp(-e / 4)),
    }),
  /** Both losses flat by epoch 30, gap 0.05: converged. */
  converged: () =>
    curveOf({
      loss: range(30, (e) => 0.6 * Math.exp(-e / 6) + 0.25),
      acc: range(30, (e) => 0.91 - 0.2 * Math.exp(-e / 6)),
      valLoss: range(30, (e) => 0.3 + 0.4 * Math.exp(-e / 3)),
      valAcc: range(30, (e) => 0.86 - 0.15 * Math.exp(-e / 3)),
    }),
  /** A single epoch: no trend can be fitted. */
  oneEpoch: () => curveOf({ loss: [0.9], acc: [0.7], valLoss: [0.8], valAcc: [0.72] }),
  /** Every value NaN from the first iteration. */
  allNaN: () => curveOf({ loss: [NaN, NaN, NaN], acc: [NaN, NaN, NaN], valLoss: [NaN, NaN, NaN], valAcc: [NaN, NaN, NaN] }, { iteration: 1, epoch: 1, what: 'loss' }),
} as const;

// ───────────────────────────── runs ─────────────────────────────

/** What a made-up run may set besides its curve. */
export interface RunExtras {
  /** Training options (default: MATLAB's, with maxEpochs = the curve's epochs). */
  options?: Partial<TrainingOptions>;
  /** Network (default: the notes' network, defaultNetwork()). */
  network?: NetworkSpec;
  /** The decision that led to it. */
  change?: Decision | null;
  /** Its paired verdict against the incumbent. */
  judgement?: Judgement | null;
  /** Thresholds to diagnose it with (a policy's; default: DEFAULT_THRESHOLDS). */
  thresholds?: Partial<DiagnosisThresholds>;
  /** Seconds it took (default 10). */
  seconds?: number;
  /** The images it trained on (default: a 3,000-image search subset). */
  fidelity?: RunSummary['fidelity'];
}

/** A finished run as a policy sees it (RunSummary), from a made-up curve, diagnosed like the machine does. */
export function scenarioRun(id: number, stage: Stage, curve: TrainingCurve, extras: RunExtras = {}): RunSummary {
  const diagnosis = diagnoseRun(curve, extras.thresholds);
  const vals = curve.epochs.filter((e) => typeof e.valLoss === 'number' && Number.isFinite(e.valLoss));
  const best = vals.reduce<(typeof vals)[number] | null>((b, e) => (b === null || (e.valLoss as number) < (b.valLoss as number) ? e : b), null);
  const accs = curve.epochs.map((e) => e.valAccuracy).filter((a): a is number => typeof a === 'number' && Number.isFinite(a));
  return {
    id,
    stage,
    network: extras.network ?? defaultNetwork(),
    options: { ...DEFAULT_OPTIONS, maxEpochs: curve.epochs.length || 1, ...extras.options },
    fidelity: extras.fidelity ?? { trainImages: 3000, validationImages: 1000, kind: 'subset' },
    curve,
    diagnosis,
    bestValLoss: best ? (best.valLoss as number) : null,
    bestValAccuracy: accs.length ? Math.max(...accs) : null,
    bestEpoch: best ? best.epoch : null,
    seconds: extras.seconds ?? 10,
    change: extras.change ?? null,
    judgement: extras.judgement ?? null,
  };
}

// ───────────────────────────── contexts ─────────────────────────────

/** A study's situation after some runs: what the machine knows when it asks the policy. */
export interface ScenarioSpec {
  /** Every finished run, oldest first (scenarioRun). */
  runs: RunSummary[];
  /** The standing run's id (default: the last). */
  incumbent?: number;
  /** A diverged candidate the machine asks to fix first (`context.subjectRun`). */
  subject?: number;
  /** The step the study was in; the step asked about follows from the evidence, as in the machine. Default 'baseline'. */
  after?: Stage;
  /** Actions tried since the standing configuration was last replaced. */
  tried?: ActionName[];
  /** maxEpochs of the standing configuration was trimmed at its validation minimum. */
  trimmed?: boolean;
  /** More epochs were tried on the standing configuration and did not help. */
  epochsExhausted?: boolean;
  /** The standing options, where they differ from the incumbent's (after trimEpochs). */
  standing?: Partial<TrainingOptions>;
  /** Runs left (default 20) and seconds of search time left (default Infinity). */
  runsLeft?: number;
  secondsLeft?: number;
  /** Seed of `context.random` (default 1). */
  seed?: number;
  /** Decisions the machine refused at this step, with why. */
  refused?: PolicyContext['refused'];
  /** The policy's thresholds, for the rails' evidence (the runs should be diagnosed with the same). */
  thresholds?: Partial<DiagnosisThresholds>;
  /**
   * Asked as `tune diagnose FILE` asks, about a history read from a file: no `standing` and no
   * `subjectRun` in the context (both are optional in PolicyContext), and no budget limit.
   */
  fromFile?: boolean;
  /** The fidelity rung (default 'subset'): 'full' is the flowchart walked again on all the training images. */
  fidelity?: 'subset' | 'full';
  /** The learning-rate ladder is open (the study stays at stabilise while it is). Default false. */
  rateOpen?: boolean;
}

/** What the machine's rails say after these runs: the step and the evidence its guards read. */
export function scenarioRails(spec: ScenarioSpec): RailState {
  const last = spec.runs[spec.runs.length - 1];
  const incumbent = runById(spec, spec.incumbent ?? last.id);
  const t = resolveThresholds(spec.thresholds);
  const { bestEpoch: _bestEpoch, ...standing } = evidenceOf(incumbent.curve, incumbent.diagnosis, t);
  const candidate = spec.subject === undefined ? null : runById(spec, spec.subject);
  const state = {
    standing,
    subject: candidate
      ? { runId: candidate.id, isStanding: false, unstable: evidenceOf(candidate.curve, candidate.diagnosis, t).unstable }
      : { runId: incumbent.id, isStanding: true, unstable: standing.unstable },
    triedAtStanding: spec.tried ?? [],
    trimmed: spec.trimmed ?? spec.fidelity === 'full',
    epochsExhausted: spec.epochsExhausted ?? spec.fidelity === 'full',
    fidelity: spec.fidelity ?? 'subset',
    rateOpen: spec.rateOpen ?? false,
  };
  return { ...state, step: nextStep({ ...state, step: spec.after ?? (spec.fidelity === 'full' ? 'regularise' : 'baseline') }) };
}

function runById(spec: ScenarioSpec, id: number): RunSummary {
  const run = spec.runs.find((r) => r.id === id);
  if (!run) throw new Error(`scenario: no run ${id} among runs ${spec.runs.map((r) => r.id).join(', ')}`);
  return run;
}

/** The PolicyContext the machine would hand a policy in this situation. */
export function scenarioContext(spec: ScenarioSpec): PolicyContext {
  const last = spec.runs[spec.runs.length - 1];
  const incumbent = runById(spec, spec.incumbent ?? last.id);
  const rails = scenarioRails(spec);
  if (spec.fromFile) {
    return {
      stage: rails.step,
      allowed: allowedActions(rails),
      refused: spec.refused ?? [],
      last,
      incumbent,
      runs: spec.runs,
      tried: spec.tried ?? [],
      budget: { runsLeft: Infinity, secondsLeft: Infinity },
      random: seededRandom(spec.seed ?? 1),
    };
  }
  return {
    stage: rails.step,
    allowed: allowedActions(rails),
    refused: spec.refused ?? [],
    subjectRun: spec.subject ?? null,
    standing: { network: incumbent.network, options: { ...incumbent.options, ...spec.standing } },
    last,
    incumbent,
    runs: spec.runs,
    tried: spec.tried ?? [],
    budget: { runsLeft: spec.runsLeft ?? 20, secondsLeft: spec.secondsLeft ?? Infinity },
    fidelity: spec.fidelity ?? 'subset',
    random: seededRandom(spec.seed ?? 1),
  };
}

// ───────────────────────────── the contract's scenarios ─────────────────────────────

/** A situation of the contract: a name, the diagnosis at stake, and how to build it for a policy. */
export interface Scenario {
  name: string;
  /** The diagnosis of the run the policy is asked about (the subject, else the incumbent), under the default thresholds. */
  diagnosis: DiagnosisLabel;
  /** The situation, its runs diagnosed with `thresholds` (a policy's), as the machine would. */
  spec(thresholds?: Partial<DiagnosisThresholds>): ScenarioSpec;
}

type Recipe = Omit<ScenarioSpec, 'runs' | 'thresholds'> & { runs: Array<[number, Stage, TrainingCurve, Omit<RunExtras, 'thresholds'>?]> };

const scenario = (name: string, diagnosis: DiagnosisLabel, recipe: () => Recipe): Scenario => ({
  name,
  diagnosis,
  spec(thresholds) {
    const { runs, ...rest } = recipe();
    return { ...rest, thresholds, runs: runs.map(([id, stage, curve, extras]) => scenarioRun(id, stage, curve, { ...extras, thresholds })) };
  },
});

/**
 * The situations every policy must answer: each diagnosis at the start of a study, a 1-epoch and
 * an all-NaN history, diverged candidates, remedies exhausted, and a spent budget.
 */
export const SCENARIOS: readonly Scenario[] = [
  scenario('a diverged baseline (NaN at epoch 3)', 'diverged', () => ({ runs: [[1, 'baseline', CURVES.diverged()]] })),
  scenario('an oscillating baseline', 'oscillating', () => ({ runs: [[1, 'baseline', CURVES.oscillating(), { options: { initialLearnRate: 0.1 } }]] })),
  scenario('a too slow baseline (learn rate 0.0001)', 'tooSlow', () => ({ runs: [[1, 'baseline', CURVES.tooSlow(), { options: { initialLearnRate: 0.0001 } }]] })),
  scenario('an underfitting baseline (still falling at epoch 10)', 'underfitting', () => ({ runs: [[1, 'baseline', CURVES.underfitting()]] })),
  scenario('an overfitting baseline: validation loss rising after epoch 27', 'overfitting', () => ({ runs: [[1, 'baseline', CURVES.overfittingRising()]] })),
  scenario('an overfitting baseline: a 15-point accuracy gap', 'overfitting', () => ({ runs: [[1, 'baseline', CURVES.overfittingGap()]] })),
  scenario('a converged baseline', 'converged', () => ({ runs: [[1, 'baseline', CURVES.converged()]] })),
  scenario('a 1-epoch history', 'underfitting', () => ({ runs: [[1, 'baseline', CURVES.oneEpoch()]] })),
  scenario('an all-NaN history', 'diverged', () => ({ runs: [[1, 'baseline', CURVES.allNaN()]] })),
  scenario('a diverged capacity candidate', 'diverged', () => ({
    runs: [
      [1, 'baseline', CURVES.converged()],
      [2, 'capacity', CURVES.diverged(), { change: { action: 'widen', params: { factor: 2 }, reason: 'converged at 0.3: widen ×2' } }],
    ],
    incumbent: 1,
    subject: 2,
    after: 'capacity',
  })),
  scenario('an all-NaN regularise candidate', 'diverged', () => ({
    runs: [
      [1, 'baseline', CURVES.overfittingGap()],
      [2, 'regularise', CURVES.allNaN(), { change: { action: 'addL2', params: { l2Regularization: 0.001 }, reason: 'gap 0.15 > 0.1' } }],
    ],
    incumbent: 1,
    subject: 2,
    after: 'regularise',
  })),
  scenario('still falling, and more epochs did not help', 'underfitting', () => ({ runs: [[1, 'baseline', CURVES.underfitting()]], epochsExhausted: true })),
  scenario('trimmed at the validation minimum (epoch 28)', 'overfitting', () => ({
    runs: [[1, 'baseline', CURVES.overfittingRising()]],
    trimmed: true,
    after: 'trimEpochs',
    standing: { maxEpochs: 28 },
  })),
  scenario('an accuracy gap with every remedy tried', 'overfitting', () => ({
    runs: [[1, 'baseline', CURVES.overfittingGap()]],
    tried: ['addDropout', 'addL2', 'addLearnRateSchedule'],
    after: 'regularise',
  })),
  scenario('converged with every capacity change tried', 'converged', () => ({
    runs: [[1, 'baseline', CURVES.converged()]],
    tried: ['deepen', 'deepen', 'widen', 'changeFilterSize'],
    after: 'capacity',
  })),
  scenario('a history read from a file (tune diagnose: no standing configuration, no budget limit)', 'overfitting', () => ({ runs: [[1, 'baseline', CURVES.overfittingGap()]], fromFile: true })),
  scenario('5 s of search time left', 'converged', () => ({ runs: [[1, 'baseline', CURVES.converged()]], secondsLeft: 5 })),
  scenario('no runs left', 'underfitting', () => ({ runs: [[1, 'baseline', CURVES.underfitting()]], runsLeft: 0 })),
  scenario('a converged baseline at the learning-rate ladder (step 1 with a stable run)', 'converged', () => ({ runs: [[1, 'baseline', CURVES.converged()]], rateOpen: true })),
  scenario('the full-data rung: a run on all the images, a 5-point gap', 'converged', () => ({
    runs: [
      [1, 'baseline', CURVES.converged()],
      [2, 'baseline', CURVES.converged(), { fidelity: { trainImages: 50000, validationImages: 2000, kind: 'full' }, options: { maxEpochs: 12, learnRateSchedule: 'piecewise', learnRateDropPeriod: 4 } }],
    ],
    fidelity: 'full',
  })),
  scenario('the full-data rung with its remedies and capacity changes tried', 'converged', () => ({
    runs: [
      [1, 'baseline', CURVES.converged()],
      [2, 'baseline', CURVES.converged(), { fidelity: { trainImages: 50000, validationImages: 2000, kind: 'full' }, options: { maxEpochs: 12, learnRateSchedule: 'piecewise', learnRateDropPeriod: 4 } }],
    ],
    fidelity: 'full',
    tried: ['augmentData', 'addDropout', 'addL2', 'widen', 'deepen', 'addBlockConv'],
    after: 'capacity',
  })),
];
