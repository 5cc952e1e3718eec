/**
 * `tune diagnose FILE [--json]`: read a standalone training history (Keras History JSON or MATLAB
 * training-info CSV), diagnose it and ask a policy for the first step, as if the file were the
 * baseline run of a study. The file reading lives here, at the edge; the parsing
 * (diagnosis/history-parse.ts) and the rest (diagnosis/standalone.ts) are pure.
 */
import { readFileSync } from 'node:fs';
import { diagnoseRun } from './diagnosis/diagnose.ts';
import { KERAS_EXPECTED, MATLAB_EXPECTED, parseHistory, type AccuracyUnit, type ParsedHistory } from './diagnosis/history-parse.ts';
import { contextFromCurve, type FileDiagnosis } from './diagnosis/standalone.ts';
import { resolveThresholds } from './diagnosis/thresholds.ts';
import { allowedActions, baselineRails, evidenceOf } from './machine/rails.ts';
import { UserError } from './errors.ts';
import { decideSafely } from './policy-loader.ts';
import type { Policy, TrainingCurve } from './types.ts';

/** Read a Keras History JSON or MATLAB training-info CSV file. Throws UserError naming the file and the fault. */
export function readHistoryFile(path: string, options: { accuracyUnit?: AccuracyUnit } = {}): TrainingCurve {
  return readHistory(path, options).curve;
}

/** Read a history file, and how its accuracies were read (fractions or percentages). */
export function readHistory(path: string, options: { accuracyUnit?: AccuracyUnit } = {}): ParsedHistory {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new UserError(`History file ${path} not found. Give the path of ${KERAS_EXPECTED} or ${MATLAB_EXPECTED}.`);
    throw new UserError(`History file ${path} cannot be read (${(error as Error).message}).`);
  }
  return parseHistory(text.replace(/^\uFEFF/, ''), path, options);
}

/** Diagnose a history file with the policy's thresholds and ask the policy for the first step. */
export function diagnoseFile(path: string, policy: Policy, source: string = policy.name, options: { accuracyUnit?: AccuracyUnit } = {}): FileDiagnosis {
  const { curve, accuracy } = readHistory(path, options);
  const diagnosis = diagnoseRun(curve, policy.thresholds);
  // The actions the machine would allow after this run, had it been a study's baseline.
  const { bestEpoch: _bestEpoch, ...evidence } = evidenceOf(curve, diagnosis, resolveThresholds(policy.thresholds));
  const rails = baselineRails(evidence);
  return { diagnosis, decision: decideSafely(policy, contextFromCurve(curve, diagnosis, rails.step, allowedActions(rails)), source), accuracy };
}
