import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { decimate, renderPlots, renderRunPlot, renderStudyPlot, runPlotData, runPlotFingerprint, readFingerprint, smooth, studyPlotData } from '../../src/report/plots.ts';
import type { StudyRecord } from '../../src/store/records.ts';
import { budgetStoppedStudy, divergedStudy, emptyStudy, finishedStudy, longRun } from './__fixtures__/studies.ts';
import { svgPaths, svgProblems, svgTexts } from './__fixtures__/svg.ts';

let warn: ReturnType<typeof vi.spyOn>;
beforeEach(() => {
  warn = vi.spyOn(console, 'warn');
});
afterEach(() => {
  // Vega and Vega-Lite report spec problems through console.warn: the plots must raise none.
  expect(warn).not.toHaveBeenCalled();
  warn.mockRestore();
});

/** Curve paths: Vega draws line marks as paths with many segments; axes and symbols are short. */
const curves = (svg: string) => svgPaths(svg).filter((d) => (d.match(/L/g) ?? []).length >= 5);

describe('run plot', () => {
  test('a normal run: well-formed SVG, both panels, both series, epoch rules, fingerprint', async () => {
    const run = finishedStudy().runs[1]; // epochs 1–20: run 1's 10 and the 10 it continued with
    const svg = await renderRunPlot(run);
    expect(svgProblems(svg)).toEqual([]);
    const texts = svgTexts(svg);
    // one legend per panel (MATLAB colours differ between accuracy and loss)
    expect(texts.filter((t) => t === 'Training')).toHaveLength(2);
    expect(texts.filter((t) => t === 'Validation')).toHaveLength(2);
    expect(texts.filter((t) => t === 'Training (smoothed)')).toHaveLength(2);
    expect(texts).toContain('Accuracy (%)');
    expect(texts).toContain('Loss');
    expect(texts).toContain('Iteration');
    // raw, smoothed and validation curves in each of the two panels
    expect(curves(svg)).toHaveLength(6);
    // 20 epochs → 19 boundaries, drawn in each panel
    expect(runPlotData(run).boundaries).toHaveLength(19);
    expect(readFingerprint(svg)).toBe(runPlotFingerprint(run));
    expect(svg).not.toMatch(/NaN|Infinity/);
  });

  test('a diverged run: no NaN reaches Vega, the divergence is annotated', async () => {
    const run = divergedStudy().runs[0];
    const data = runPlotData(run);
    expect(data.loss.raw.map((p) => p.iteration)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    expect(data.stop).toMatchObject({ kind: 'nonFinite', iteration: 12, label: 'NaN loss at iteration 12 (epoch 1)' });
    expect(data.domain[1]).toBeGreaterThan(12);
    const svg = await renderRunPlot(run);
    expect(svgProblems(svg)).toEqual([]);
    expect(svg).not.toMatch(/NaN(?! loss at)/); // only in the annotation
    expect(svgTexts(svg).filter((t) => t === 'NaN loss at iteration 12 (epoch 1)')).toHaveLength(2);
    expect(svgTexts(svg)).toEqual(expect.arrayContaining(['Training', 'Validation']));
    expect(curves(svg).length).toBeGreaterThanOrEqual(4); // raw and smoothed training, two panels; no validation
  });

  test('a run cut short by the budget is annotated where it stopped; a completed run is not', async () => {
    const run = budgetStoppedStudy().runs[2];
    expect(runPlotData(run).stop).toMatchObject({ kind: 'budget', iteration: 128, label: 'stopped: study budget ran out (epoch 4)' });
    expect(svgTexts(await renderRunPlot(run))).toContain('stopped: study budget ran out (epoch 4)');
    expect(runPlotData(finishedStudy().runs[0]).stop).toBeNull();
  });

  test('a run stored through plain JSON (NaN → null) and a run with an empty history still render', async () => {
    const stored = JSON.parse(JSON.stringify(divergedStudy().runs[0]));
    expect(svgProblems(await renderRunPlot(stored))).toEqual([]);
    const empty = { ...stored, result: { ...stored.result, history: { iterations: [], validations: [], epochs: [] } } };
    expect(svgProblems(await renderRunPlot(empty))).toEqual([]);
  });

  test('about 500 iterations render quickly', async () => {
    const run = longRun(500);
    await renderRunPlot(run); // warm up
    const t0 = performance.now();
    const svg = await renderRunPlot(run);
    const ms = performance.now() - t0;
    expect(svgProblems(svg)).toEqual([]);
    expect(ms).toBeLessThan(1000);
  });
});

describe('study plot', () => {
  test('each run on the fixed validation set, with error bars of its noise and the standing configuration as a line', async () => {
    const study = finishedStudy();
    const rows = studyPlotData(study);
    const round = (x: number | null) => (x === null ? null : Math.round(x * 100) / 100);
    expect(rows.map((r) => [r.run, round(r.accuracy), r.bar, round(r.incumbent), r.verdict])).toEqual([
      [1, 86, 'binomial', 86, 'baseline'],
      [2, 87.2, 'paired', 87.2, 'kept'],
      [3, 89, 'paired', 89, 'kept'],
      [4, 89.3, 'paired', 89, 'tie'],
      [5, 88.9, 'binomial', 89, 'replicate'],
      [6, 88.1, 'paired', 89, 'reverted'],
      [7, 91.5, 'binomial', 89, 'confirm'],
      [8, 90.9, 'paired', 89, 'confirm'],
      [9, 93.6, 'binomial', 89, 'final'],
    ]);
    // A judged run's bar is ±margin standard errors of its paired accuracy difference.
    const run3 = study.runs[2];
    const r3 = rows[2];
    expect(r3.high! - r3.accuracy!).toBeCloseTo(run3.judgement!.margin * run3.judgement!.accuracySE * 100, 10);
    expect(r3.accuracy! - r3.low!).toBeCloseTo(r3.high! - r3.accuracy!, 10);
    // Without a judgement: ±2 binomial standard errors of its own accuracy on the fixed set.
    const r1 = rows[0];
    expect(r1.high! - r1.accuracy!).toBeCloseTo(2 * Math.sqrt((0.86 * 0.14) / 1000) * 100, 10);
    const svg = await renderStudyPlot(study);
    expect(svgProblems(svg)).toEqual([]);
    const texts = svgTexts(svg);
    expect(texts).toEqual(expect.arrayContaining(['Run', 'Validation accuracy (%)', 'kept', 'tie', 'replicate', 'confirm', 'final', '1', '9']));
    // The error bars are drawn: one rule per run with a bar (vertical lines in the SVG).
    expect((svg.match(/<line /g) ?? []).length).toBeGreaterThanOrEqual(rows.filter((r) => r.bar).length);
  });

  test('a diverged run sits at the bottom as a cross; an empty study still renders', async () => {
    const rows = studyPlotData(divergedStudy());
    expect(rows[0]).toMatchObject({ run: 1, verdict: 'diverged' });
    expect(svgTexts(await renderStudyPlot(divergedStudy()))).toContain('diverged');
    expect(svgProblems(await renderStudyPlot(emptyStudy()))).toEqual([]);
  });
});

describe('renderPlots', () => {
  test('keys are paths relative to the report; runIds limits the run plots', async () => {
    const study = finishedStudy();
    expect([...(await renderPlots(study, { runIds: [2] })).keys()]).toEqual(['plots/run-2.svg', 'plots/study.svg']);
    const small: StudyRecord = { ...study, runs: study.runs.slice(0, 2) };
    expect([...(await renderPlots(small)).keys()]).toEqual(['plots/run-1.svg', 'plots/run-2.svg', 'plots/study.svg']);
  });
});

describe('decimate and smooth', () => {
  const pts = (values: number[]) => values.map((value, i) => ({ iteration: i + 1, value, series: 'Training' }));

  test('short series pass through', () => {
    const p = pts([1, 2, 3]);
    expect(decimate(p, 10)).toBe(p);
  });

  test('long series keep spikes, order and the last point', () => {
    const values = Array.from({ length: 1000 }, (_, i) => (i === 537 ? 50 : 1 + (i % 7) / 10));
    const out = decimate(pts(values), 100);
    expect(out.length).toBeLessThanOrEqual(101);
    expect(out.some((p) => p.value === 50)).toBe(true);
    expect(out.at(-1)!.iteration).toBe(1000);
    expect(out.map((p) => p.iteration)).toEqual([...out.map((p) => p.iteration)].sort((a, b) => a - b));
  });

  test('smoothing is a debiased moving average: starts at the first value, constant stays constant', () => {
    expect(smooth(pts([4, 4, 4])).map((p) => p.value)).toEqual([4, 4, 4]);
    const s = smooth(pts([0, 10]), 0.5).map((p) => p.value);
    expect(s[0]).toBe(0);
    expect(s[1]).toBeCloseTo(10 * 0.5 / 0.75);
  });
});
