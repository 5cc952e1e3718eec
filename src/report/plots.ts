/**
 * Training-progress plots as MATLAB draws them, rendered headless to SVG: Vega-Lite specs,
 * compiled to Vega, rendered by `vega.View#toSVG()` with `renderer: 'none'` (no browser, no canvas).
 *
 * - Run plot: accuracy (%) on top, loss below, against iteration; training solid, validation
 *   dashed with dots; epoch boundaries as grey vertical rules; a divergence marked in red.
 * - Study plot (study-plot.ts): each run's validation accuracy (on the fixed validation set) with error bars of its
 *   noise (±2 SE of the paired difference that decided its verdict), coloured by verdict, and the
 *   standing configuration's accuracy as a step line.
 *
 * Non-finite values (NaN, ±Infinity, and null, which is how JSON may have stored them) are
 * dropped from plot data: Vega's scales break on them. Each SVG carries a fingerprint comment of
 * its inputs so the writer can tell a stale plot from a current one without re-rendering it.
 */
import { createHash } from 'node:crypto';
import { parse, View } from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { RunRecord, StudyRecord } from '../store/records.ts';
import { changeText, MISSING } from './format.ts';
import { formatNumber } from '../util/format.ts';
import { runPlotPath, STUDY_PLOT_PATH } from './paths.ts';
import { ACCURACY_COLORS, DIVERGED_COLOR, LOSS_COLORS, PANEL_HEIGHT, STOPPED_COLOR, VALIDATION_COLOR, WIDTH, finite, type SpecOptions } from './plot-style.ts';
import { studyPlotData, studyPlotSpec } from './study-plot.ts';

export { studyPlotData, studyPlotSpec } from './study-plot.ts';
export type { SpecOptions } from './plot-style.ts';

/** Bump when the look of the plots changes: every stored SVG then counts as stale. */
export const PLOT_VERSION = 2;

/** At most this many points per series (about two per horizontal pixel); longer series keep each bucket's min and max. */
export const MAX_POINTS_PER_SERIES = 1200;

const SMOOTHED = 'Training (smoothed)';
const TRAINING = 'Training';
const VALIDATION = 'Validation';
const SERIES = [SMOOTHED, TRAINING, VALIDATION];
/** Weight of the exponential moving average behind the smoothed training curve (debiased, as TensorBoard's). */
export const SMOOTHING = 0.9;

interface Point {
  iteration: number;
  value: number;
  series: string;
  /** The epoch the point belongs to (shown on hover in the page's interactive plots). */
  epoch?: number;
}

/**
 * Keeps at most `max` points: each bucket of consecutive points contributes its minimum and
 * maximum (in iteration order), so spikes survive where a plain stride would drop them.
 */
export function decimate<T extends { iteration: number; value: number }>(points: T[], max = MAX_POINTS_PER_SERIES): T[] {
  if (points.length <= max) return points;
  const buckets = Math.max(1, Math.floor(max / 2));
  const size = points.length / buckets;
  const out: T[] = [];
  for (let b = 0; b < buckets; b++) {
    const slice = points.slice(Math.floor(b * size), Math.floor((b + 1) * size));
    if (slice.length === 0) continue;
    let lo = slice[0];
    let hi = slice[0];
    for (const p of slice) {
      if (p.value < lo.value) lo = p;
      if (p.value > hi.value) hi = p;
    }
    if (lo === hi) out.push(lo);
    else out.push(...(lo.iteration < hi.iteration ? [lo, hi] : [hi, lo]));
  }
  const last = points[points.length - 1];
  if (out[out.length - 1] !== last) out.push(last);
  return out;
}

/** Debiased exponential moving average of a series, renamed. */
export function smooth(points: Point[], weight = SMOOTHING, series = SMOOTHED): Point[] {
  let avg = 0;
  let norm = 0;
  return points.map((p) => {
    avg = weight * avg + (1 - weight) * p.value;
    norm = weight * norm + (1 - weight);
    return { iteration: p.iteration, value: avg / norm, series, epoch: p.epoch };
  });
}

/** Where and why a run stopped early, for an annotation: a divergence in red, a budget or patience stop in grey. */
function stopMark(run: RunRecord, lastIteration: number | null): { kind: string; iteration: number; label: string; color: string } | null {
  const stop = run.result?.stopReason;
  if (stop?.kind === 'nonFinite' && finite(stop.iteration)) {
    return { kind: stop.kind, iteration: stop.iteration, label: `NaN ${stop.what} at iteration ${stop.iteration} (epoch ${stop.epoch})`, color: DIVERGED_COLOR };
  }
  if (lastIteration === null) return null;
  if (stop?.kind === 'budget') return { kind: stop.kind, iteration: lastIteration, label: `stopped: study budget ran out (epoch ${stop.epoch})`, color: STOPPED_COLOR };
  if (stop?.kind === 'validationPatience') return { kind: stop.kind, iteration: lastIteration, label: `stopped: validation patience (epoch ${stop.epoch})`, color: STOPPED_COLOR };
  return null;
}

/** The data of one run's plot, non-finite values removed. Exported for tests. */
export function runPlotData(run: RunRecord) {
  const history = run.result?.history ?? { iterations: [], validations: [], epochs: [] };
  const iterations = (history.iterations ?? []).filter((r) => finite(r?.iteration));
  const validations = (history.validations ?? []).filter((r) => finite(r?.iteration));
  const series = (rows: Array<{ iteration: number; epoch?: number }>, pick: (r: any) => unknown, scale: number, name: string): Point[] =>
    rows.flatMap((r) => {
      const v = pick(r);
      return finite(v) ? [{ iteration: r.iteration, value: v * scale, series: name, epoch: r.epoch }] : [];
    });
  const trainingAccuracy = series(iterations, (r) => r.accuracy, 100, TRAINING);
  const trainingLoss = series(iterations, (r) => r.loss, 1, TRAINING);
  const accuracy = {
    raw: decimate(trainingAccuracy),
    lines: [...decimate(smooth(trainingAccuracy)), ...series(validations, (r) => r.accuracy, 100, VALIDATION)],
  };
  const loss = {
    raw: decimate(trainingLoss),
    lines: [...decimate(smooth(trainingLoss)), ...series(validations, (r) => r.loss, 1, VALIDATION)],
  };
  // Epoch boundaries: after the last iteration of every epoch but the last one.
  const lastOfEpoch = new Map<number, number>();
  for (const r of iterations) if (finite(r.epoch)) lastOfEpoch.set(r.epoch, Math.max(lastOfEpoch.get(r.epoch) ?? -Infinity, r.iteration));
  const epochs = [...lastOfEpoch.entries()].sort((a, b) => a[0] - b[0]);
  const boundaries = epochs.slice(0, -1).map(([epoch, iteration]) => ({ iteration: iteration + 0.5, epoch }));
  const xs = [...iterations.map((r) => r.iteration), ...validations.map((r) => r.iteration)];
  const lastIteration = xs.length ? xs.reduce((a, b) => Math.max(a, b)) : null;
  const stop = stopMark(run, lastIteration);
  if (stop) xs.push(stop.iteration);
  // Continued runs count iterations from their parent's: start the axis where this run starts.
  const domain: [number, number] = xs.length
    ? [xs.reduce((a, b) => Math.min(a, b)) - 1, xs.reduce((a, b) => Math.max(a, b))]
    : [0, 1];
  // Leave room right of a divergence so its rule does not sit on the frame.
  if (stop?.kind === 'nonFinite') domain[1] += Math.max(1, Math.round(0.02 * (domain[1] - domain[0])));
  return { accuracy, loss, boundaries, stop, domain };
}

/** A transparent point layer over every curve: the point nearest the pointer shows, with its numbers as a tooltip. */
function hoverLayer(points: Point[], metric: 'accuracy' | 'loss', x: Record<string, unknown>): Record<string, unknown> {
  const name = `hover_${metric}`;
  return {
    data: { values: points },
    params: [{ name, select: { type: 'point', nearest: true, on: 'pointerover', clear: 'pointerout' } }],
    mark: { type: 'point', filled: true, size: 50, color: '#000000', clip: true },
    encoding: {
      x,
      y: { field: 'value', type: 'quantitative' },
      opacity: { condition: { param: name, empty: false, value: 0.8 }, value: 0 },
      tooltip: [
        { field: 'series', type: 'nominal', title: 'Series' },
        { field: 'epoch', type: 'quantitative', title: 'Epoch' },
        { field: 'iteration', type: 'quantitative', title: 'Iteration', format: 'd' },
        { field: 'value', type: 'quantitative', title: metric === 'accuracy' ? 'Accuracy (%)' : 'Loss', format: metric === 'accuracy' ? '.2f' : '.4~g' },
      ],
    },
  };
}

function panel(data: ReturnType<typeof runPlotData>, metric: 'accuracy' | 'loss', showXTitle: boolean, hover = false): Record<string, unknown> {
  const values = data[metric];
  const colors = metric === 'accuracy' ? ACCURACY_COLORS : LOSS_COLORS;
  const x = {
    field: 'iteration',
    type: 'quantitative',
    title: showXTitle ? 'Iteration' : null,
    scale: { domain: data.domain, nice: false, zero: false },
    axis: { labels: showXTitle, grid: false, format: 'd' },
  };
  const legend = { title: null, orient: 'right', symbolType: 'stroke' };
  const encoding = {
    x,
    y: {
      field: 'value',
      type: 'quantitative',
      title: metric === 'accuracy' ? 'Accuracy (%)' : 'Loss',
      scale: metric === 'accuracy' ? { domain: [0, 100] } : { zero: true },
    },
    color: { field: 'series', type: 'nominal', scale: { domain: SERIES, range: [...colors, VALIDATION_COLOR] }, legend },
    strokeDash: { field: 'series', type: 'nominal', scale: { domain: SERIES, range: [[1, 0], [1, 0], [5, 3]] }, legend },
  };
  const layers: Record<string, unknown>[] = [
    {
      data: { values: data.boundaries },
      mark: { type: 'rule', color: '#BBBBBB', strokeWidth: 0.7 },
      encoding: { x },
    },
    // Raw training curve first, so the smoothed and validation curves draw over it.
    { data: { values: values.raw }, mark: { type: 'line', strokeWidth: 0.8, clip: true }, encoding },
    { data: { values: values.lines }, mark: { type: 'line', strokeWidth: 1.4, clip: true }, encoding },
    {
      data: { values: values.lines.filter((p) => p.series === VALIDATION) },
      mark: { type: 'point', filled: true, size: 14, color: VALIDATION_COLOR, clip: true },
      encoding: { x, y: { field: 'value', type: 'quantitative' } },
    },
  ];
  if (data.stop) {
    const d = data.stop;
    const right = d.iteration > (data.domain[0] + data.domain[1]) / 2;
    layers.push(
      { data: { values: [d] }, mark: { type: 'rule', color: d.color, strokeWidth: 1.5 }, encoding: { x } },
      {
        data: { values: [d] },
        mark: { type: 'text', color: d.color, align: right ? 'right' : 'left', dx: right ? -4 : 4, baseline: 'top', fontSize: 11 },
        encoding: { x, y: { value: 4 }, text: { field: 'label' } },
      },
    );
  }
  if (hover) layers.push(hoverLayer([...values.raw, ...values.lines], metric, x));
  return { width: WIDTH, height: PANEL_HEIGHT, layer: layers, resolve: { scale: { y: 'shared' } } };
}

/** The Vega-Lite spec of one run's training-progress plot. */
export function runPlotSpec(run: RunRecord, opts: SpecOptions = {}): TopLevelSpec {
  const data = runPlotData(run);
  const change = changeText(run);
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: {
      text: `Run ${run.id}: ${run.stage}${change === run.stage ? '' : ` — ${change}`}`,
      subtitle: `diagnosis: ${run.diagnosis?.label ?? '—'}; ${run.options?.solver ?? ''} initialLearnRate ${formatNumber(run.options?.initialLearnRate, 3, MISSING)}`,
      anchor: 'start',
    },
    background: 'white',
    vconcat: [panel(data, 'accuracy', false, opts.hover), panel(data, 'loss', true, opts.hover)],
    resolve: { scale: { color: 'independent', strokeDash: 'independent' }, legend: { color: 'independent' } },
    config: { view: { stroke: '#999999' }, font: 'sans-serif' },
  } as unknown as TopLevelSpec;
}

/** Compiles and renders a Vega-Lite spec to an SVG string, headless. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new View(parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Puts the fingerprint comment right after the opening `<svg ...>` tag. */
function stamp(svg: string, fingerprint: string): string {
  const end = svg.indexOf('>');
  return end < 0 ? svg : `${svg.slice(0, end + 1)}<!-- flowtune ${fingerprint} -->${svg.slice(end + 1)}`;
}

/** The fingerprint stamped in an SVG, or null. */
export function readFingerprint(svg: string): string | null {
  return /<!-- flowtune (\S+) -->/.exec(svg.slice(0, 2000))?.[1] ?? null;
}

/** A short hash of a JSON value (NaN and ±Infinity included): fingerprints of plots and of a page's parts. */
export function contentHash(value: unknown): string {
  return createHash('sha1')
    .update(JSON.stringify(value, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v)))
    .digest('hex')
    .slice(0, 16);
}

/**
 * A cheap fingerprint of what a run plot shows. A stored run does not change once finished, so
 * the lengths and the ends of the history stand for the whole of it (hashing every iteration
 * of a long run on every report write would cost more than it saves).
 */
export function runPlotFingerprint(run: RunRecord): string {
  const h = run.result?.history;
  const ends = <T>(xs: T[] | undefined) => [xs?.length ?? 0, xs?.[0] ?? null, xs?.[Math.floor((xs?.length ?? 0) / 2)] ?? null, xs?.at(-1) ?? null];
  return `v${PLOT_VERSION}-run${run.id}-${contentHash([
    run.stage,
    run.change,
    run.diagnosis?.label,
    run.options?.solver,
    run.options?.initialLearnRate,
    run.result?.stopReason,
    ends(h?.iterations),
    ends(h?.validations),
  ])}`;
}

export function studyPlotFingerprint(study: StudyRecord): string {
  return `v${PLOT_VERSION}-study-${contentHash([study.config?.name, studyPlotData(study)])}`;
}

/** One run's plot as SVG. */
export async function renderRunPlot(run: RunRecord): Promise<string> {
  return stamp(await renderSvg(runPlotSpec(run)), runPlotFingerprint(run));
}

/** The study plot as SVG. */
export async function renderStudyPlot(study: StudyRecord): Promise<string> {
  return stamp(await renderSvg(studyPlotSpec(study)), studyPlotFingerprint(study));
}

export interface PlotOptions {
  /** Render only these runs' plots (default: every run). The study plot is always rendered. */
  runIds?: Iterable<number>;
}

/** Plots keyed by their path relative to the report: `plots/run-<id>.svg`, `plots/study.svg`. */
export async function renderPlots(study: StudyRecord, opts: PlotOptions = {}): Promise<Map<string, string>> {
  const wanted = opts.runIds ? new Set(opts.runIds) : null;
  const out = new Map<string, string>();
  for (const run of study.runs) {
    if (wanted && !wanted.has(run.id)) continue;
    out.set(runPlotPath(run.id), await renderRunPlot(run));
  }
  out.set(STUDY_PLOT_PATH, await renderStudyPlot(study));
  return out;
}
