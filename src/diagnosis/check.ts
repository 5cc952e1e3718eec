/** What every label test returns, and helpers the tests share. */
import type { TrainingCurve } from '../types.ts';
import { formatNumber } from '../util/format.ts';

export type Evidence = Record<string, number | string | boolean | null>;

/** The result of one label's test. */
export interface LabelCheck<E extends Evidence = Evidence> {
  fired: boolean;
  evidence: E;
  summary: string;
}

export type Curve = Readonly<TrainingCurve>;

/** The learn rate at an epoch (the last one known up to it), for summaries ("" when unknown). */
export function atRate(curve: Curve, epoch: number): string {
  let rate: number | null = null;
  for (const record of curve.epochs) {
    if (record.epoch > epoch) break;
    if (typeof record.learnRate === 'number' && Number.isFinite(record.learnRate)) rate = record.learnRate;
  }
  return rate === null ? '' : ` at learn rate ${formatNumber(rate)}`;
}
