/**
 * The study plot: each run's validation accuracy (on the fixed validation set) with error bars of
 * its noise (±2 SE of the paired difference that decided its verdict), coloured by verdict, and
 * the standing configuration's accuracy as a step line. Its data and Vega-Lite spec; plots.ts
 * renders it. PURE.
 */
import type { TopLevelSpec } from 'vega-lite';
import type { RunRecord, StudyRecord } from '../store/records.ts';
import { DIVERGED_COLOR, WIDTH, finite, type SpecOptions } from './plot-style.ts';

/**
 * The data of the study plot: one row per run, in order. Exported for tests.
 *
 * `accuracy` is the run's output network on the fixed validation set (older studies: its
 * validation accuracy on the search subset); `low`/`high` are ±margin standard errors of the
 * paired accuracy difference with the incumbent it was judged against, or, for a run without a
 * judgement, ±2 binomial standard errors of its own accuracy; `incumbent` is the accuracy of the
 * configuration standing after the run.
 */
export function studyPlotData(study: StudyRecord) {
  let incumbent: number | null = null;
  const byId = new Map(study.runs.map((r) => [r.id, r]));
  const accuracyOf = (run: RunRecord | undefined): number | null => {
    if (!run || run.result?.stopReason?.kind === 'nonFinite') return null;
    if (run.evaluation && !finite(run.evaluation.loss)) return null;
    const a = run.evaluation?.accuracy ?? run.valAccuracy;
    return finite(a) ? a * 100 : null;
  };
  return study.runs.map((run) => {
    const acc = accuracyOf(run);
    const j = run.judgement;
    let half: number | null = null;
    let bar: 'paired' | 'binomial' | null = null;
    if (j && finite(j.accuracySE) && finite(j.margin) && acc !== null) {
      half = j.margin * j.accuracySE * 100;
      bar = 'paired';
    } else if (run.evaluation && acc !== null && finite(run.evaluation.images) && run.evaluation.images > 0) {
      const p = acc / 100;
      half = 2 * Math.sqrt((p * (1 - p)) / run.evaluation.images) * 100;
      bar = 'binomial';
    }
    const searchRun = run.kind !== 'final' && run.kind !== 'confirm' && run.kind !== 'replicate';
    const stands = run.verdict === 'baseline' || run.verdict === 'kept' || (run.verdict === 'tie' && j?.kept === true);
    if (searchRun && stands && acc !== null) incumbent = acc;
    else if (searchRun && j && incumbent === null) incumbent = accuracyOf(byId.get(j.against));
    const diverged = run.result?.stopReason?.kind === 'nonFinite';
    return {
      run: run.id,
      label: String(run.id),
      accuracy: acc,
      low: half === null ? null : acc! - half,
      high: half === null ? null : acc! + half,
      bar,
      incumbent,
      verdict: diverged ? 'diverged' : acc === null ? 'no validation' : String(run.verdict),
    };
  });
}

const VERDICT_COLORS: Record<string, string> = {
  baseline: '#0072BD',
  kept: '#2CA02C',
  reverted: '#7F7F7F',
  tie: '#EDB120',
  replicate: '#4DBEEE',
  confirm: '#D95319',
  final: '#7E2F8E',
  pending: '#BBBBBB',
  diverged: DIVERGED_COLOR,
  'no validation': '#BBBBBB',
};

/** The Vega-Lite spec of the study plot: each run's validation accuracy with its noise as error bars. */
export function studyPlotSpec(study: StudyRecord, opts: SpecOptions = {}): TopLevelSpec {
  const rows = studyPlotData(study);
  const values = rows.map((r) => r.accuracy).filter(finite);
  const lows = rows.map((r) => r.low).filter(finite);
  const highs = rows.map((r) => r.high).filter(finite);
  const min = Math.min(...values, ...lows);
  const max = Math.max(...values, ...highs);
  const domain = values.length ? [Math.max(0, Math.floor(min - 1)), Math.min(100, Math.ceil(max + 1))] : [0, 100];
  const points = rows.map((r) => ({ ...r, y: r.accuracy ?? domain[0] }));
  const bars = rows.filter((r) => r.low !== null && r.high !== null);
  const line = rows.filter((r) => r.incumbent !== null);
  const verdicts = Object.keys(VERDICT_COLORS).filter((v) => rows.some((r) => r.verdict === v));
  const order = rows.map((r) => r.label);
  const x = { field: 'label', type: 'ordinal', title: 'Run', sort: order, axis: { labelAngle: 0 } };
  const y = { type: 'quantitative', title: 'Validation accuracy (%)', scale: { domain, zero: false, clamp: true } };
  const fixedSet = study.runs.some((r) => r.evaluation);
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: {
      text: `Study ${study.config?.name ?? ''}: validation accuracy of each run, with its noise`,
      subtitle: [
        fixedSet ? 'dots: each run on the fixed validation set; line: the configuration standing after it' : 'dots: each run on its validation subset; line: the configuration standing after it',
        'bars: ±2 SE of the paired difference with the incumbent (judged runs), else of the accuracy itself',
      ],
      anchor: 'start',
    },
    background: 'white',
    width: Math.max(240, Math.min(WIDTH, 48 * rows.length)),
    height: 240,
    layer: [
      {
        data: { values: line },
        mark: { type: 'line', interpolate: 'step-after', color: '#333333', strokeWidth: 1.2, strokeDash: [4, 3] },
        encoding: { x, y: { ...y, field: 'incumbent' } },
      },
      {
        data: { values: bars },
        mark: { type: 'rule', strokeWidth: 1.5, color: '#555555' },
        encoding: { x, y: { ...y, field: 'low' }, y2: { field: 'high' } },
      },
      {
        data: { values: points },
        mark: { type: 'point', filled: true, size: 60 },
        encoding: {
          x,
          y: { ...y, field: 'y' },
          color: {
            field: 'verdict',
            type: 'nominal',
            title: 'Verdict',
            scale: { domain: verdicts, range: verdicts.map((v) => VERDICT_COLORS[v]) },
          },
          shape: { field: 'verdict', type: 'nominal', scale: { domain: verdicts, range: verdicts.map((v) => (v === 'diverged' ? 'cross' : 'circle')) } },
          ...(opts.hover
            ? {
                tooltip: [
                  { field: 'run', type: 'ordinal', title: 'Run' },
                  { field: 'verdict', type: 'nominal', title: 'Verdict' },
                  { field: 'accuracy', type: 'quantitative', title: 'Validation accuracy (%)', format: '.2f' },
                  { field: 'low', type: 'quantitative', title: 'Bar from (%)', format: '.2f' },
                  { field: 'high', type: 'quantitative', title: 'Bar to (%)', format: '.2f' },
                ],
              }
            : {}),
        },
      },
    ],
    config: { view: { stroke: '#999999' }, font: 'sans-serif' },
  } as unknown as TopLevelSpec;
}

