/**
 * A training history from outside a study (`tune diagnose FILE`: a Keras History JSON or MATLAB
 * training-info CSV, parsed by history-parse.ts) seen as the baseline run of a study, so that a
 * policy can be asked for the first step: the run summary a policy reads, its context (the step
 * comes from the machine's rails: machine/rails.ts `baselineRails`), a seeded random stream, and the
 * answer's text. Pure: the file is read by
 * src/history-file.ts.
 */
import type { ActionName, Decision, Diagnosis, PolicyContext, RunSummary, Stage, TrainingCurve } from '../types.ts';
import { defaultNetwork } from '../config/network.ts';
import { DEFAULT_OPTIONS } from '../config/options.ts';
import { finitePoints, minimumPoint } from './series.ts';
import type { AccuracyReading } from './history-parse.ts';
import { mulberry32 } from '../util/random.ts';

/** What `tune diagnose` answers: the diagnosis of the history and the policy's first decision. */
export interface FileDiagnosis {
  diagnosis: Diagnosis;
  decision: Decision;
  /** How the file's accuracies were read: fractions or percentages, detected or given. */
  accuracy?: AccuracyReading;
}

/**
 * A RunSummary for a standalone curve. Options unknown: MATLAB's defaults with initialLearnRate
 * from the curve's first learn rate (else MATLAB's 0.01) and maxEpochs = its last epoch.
 * Network unknown: the notes' network (3×3 conv of 20, batch norm, ReLU, max pool, fc 10).
 */
export function runSummaryFromCurve(curve: TrainingCurve, diagnosis: Diagnosis, id = 1, stage: Stage = 'baseline'): RunSummary {
  // Keras stores float32 rates (0.0010000000474974513): keep 6 significant digits.
  const first = finitePoints(curve, 'learnRate')[0]?.value;
  const rate = first === undefined ? undefined : Number(first.toPrecision(6));
  const best = minimumPoint(finitePoints(curve, 'valLoss'));
  const bestAccuracy = finitePoints(curve, 'valAccuracy').reduce<number | null>((m, p) => (m === null || p.value > m ? p.value : m), null);
  const lastEpoch = curve.epochs.length > 0 ? curve.epochs[curve.epochs.length - 1].epoch : 0;
  return {
    id,
    stage,
    network: defaultNetwork(),
    options: { ...DEFAULT_OPTIONS, initialLearnRate: rate ?? DEFAULT_OPTIONS.initialLearnRate, maxEpochs: Math.max(1, lastEpoch) },
    fidelity: { trainImages: 0, validationImages: 0, kind: 'subset' },
    curve,
    diagnosis,
    bestValLoss: best?.value ?? null,
    bestValAccuracy: bestAccuracy,
    bestEpoch: best?.epoch ?? null,
    seconds: 0,
  };
}

/** A deterministic random stream for policies that sample: the shared mulberry32 (src/util/random.ts). */
export function seededRandom(seed: number): () => number {
  return mulberry32(seed);
}

/**
 * The context a policy decides in for a standalone history: its one run is both last and
 * incumbent, no budget limit; `stage` and `allowed` are the step and the actions the machine's
 * rails give after it as a study's baseline (machine/rails.ts `baselineRails`, `allowedActions`).
 */
export function contextFromCurve(curve: TrainingCurve, diagnosis: Diagnosis, stage: Stage, allowed: readonly ActionName[]): PolicyContext {
  const run = runSummaryFromCurve(curve, diagnosis);
  return {
    stage,
    allowed,
    refused: [],
    last: run,
    incumbent: run,
    runs: [run],
    tried: [],
    budget: { runsLeft: Infinity, secondsLeft: Infinity },
    random: seededRandom(0),
  };
}

/** Text for the terminal, or one line of JSON: {"diagnosis","action","params","reason","accuracyUnit"}. */
export function formatDiagnosis(result: FileDiagnosis, json: boolean): string {
  const { diagnosis, decision, accuracy } = result;
  if (json) {
    return JSON.stringify({ diagnosis: diagnosis.label, action: decision.action, params: decision.params, reason: decision.reason, ...(accuracy ? { accuracyUnit: accuracy.how === 'none' ? null : accuracy.unit } : {}) });
  }
  const params = Object.entries(decision.params).map(([k, v]) => `${k}: ${typeof v === 'string' ? JSON.stringify(v) : v}`);
  const lines = [
    ...(accuracy ? [`accuracy:  ${accuracy.note}`] : []),
    `diagnosis: ${diagnosis.label}${diagnosis.findings.length > 1 ? ` (findings: ${diagnosis.findings.join(', ')})` : ''}`,
    `  ${diagnosis.summary}`,
    `decision:  ${decision.action}${params.length > 0 ? ` {${params.join(', ')}}` : ''}`,
    `  ${decision.reason}`,
  ];
  return lines.join('\n');
}
