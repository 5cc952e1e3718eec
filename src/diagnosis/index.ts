/** Diagnosis: pure functions over a run's TrainingCurve. No I/O: files are read at the edge (src/history-file.ts). */
export { DEFAULT_THRESHOLDS, TREND_EPSILON, resolveThresholds } from './thresholds.ts';
export { diverged, oscillating, tooSlow, type DivergedEvidence, type OscillatingEvidence, type TooSlowEvidence } from './stability.ts';
export { underfitting, overfitting, accuracyGapAt, type UnderfittingEvidence, type OverfittingEvidence } from './fit.ts';
export type { Evidence, LabelCheck } from './check.ts';
export { diagnoseRun, checkAll, LABEL_PRIORITY } from './diagnose.ts';
export { curveFromHistory } from './curve.ts';
export {
  linearTrend,
  tCritical,
  significantlyFalling,
  significantlyRising,
  smoothed,
  smoothedMinimum,
  lastWindow,
  trendWindowSize,
  type LinearTrend,
} from './trend.ts';
export { pairedDifference, poolReplicates, accuracyInterval, type PerImage, type PairedDifference } from './paired.ts';
export {
  finitePoints,
  watchedLoss,
  slope,
  minimumPoint,
  lastEpochOf,
  type Point,
  type WatchedLoss,
} from './series.ts';
export { formatNumber, formatAgainst, formatChange, formatPercent } from '../util/format.ts';
export {
  parseHistory,
  parseHistoryText,
  parseJsonWithNonFinite,
  splitCsv,
  detectAccuracyUnit,
  AMBIGUOUS_BELOW,
  KERAS_EXPECTED,
  MATLAB_EXPECTED,
  type AccuracyUnit,
  type AccuracyReading,
  type AccuracyColumn,
  type ParsedHistory,
} from './history-parse.ts';
export { contextFromCurve, formatDiagnosis, runSummaryFromCurve, seededRandom, type FileDiagnosis } from './standalone.ts';
