import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { decimate, renderPlots, renderRunPlot, renderStudyPlot, runPlotData, runPlotFingerprint, readFingerprint, smooth, studyPlotData } from '../../src/report/plots.ts';
import type { StudyRecord } from '../../src/types.ts';
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
    const run = finishedStudy().runs[2]; // 20 epochs, continued from run 2
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
    expect(runPlotData(run).stop).toMatchObject({ kind: 'budget', iteration: 210, label: 'stopped: study budget ran out (epoch 14)' });
    expect(svgTexts(await renderRunPlot(run))).toContain('stopped: study budget ran out (epoch 14)');
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
  test('best validation accuracy so far against cumulative images', async () => {
    const study = finishedStudy();
    expect(studyPlotData(study).map((r) => [r.run, r.images, r.accuracy && Math.round(r.accuracy * 10) / 10, r.best && Math.round(r.best * 10) / 10, r.verdict])).toEqual([
      [1, 30_000, 71, 71, 'baseline'],
      [2, 60_000, 85, 85, 'kept'],
      [3, 120_000, 89.3, 89.3, 'kept'],
      [4, 186_000, 86.4, 89.3, 'reverted'],
      [5, 1_286_000, 90.9, 90.9, 'final'],
    ]);
    const svg = await renderStudyPlot(study);
    expect(svgProblems(svg)).toEqual([]);
    const texts = svgTexts(svg);
    expect(texts).toEqual(expect.arrayContaining(['Images trained (cumulative)', 'Validation accuracy (%)', 'kept', 'reverted', 'final', '1', '5']));
  });

  test('a diverged run sits at 0 as a cross; an empty study still renders', async () => {
    const rows = studyPlotData(divergedStudy());
    expect(rows[0]).toMatchObject({ run: 1, accuracy: null, best: null, verdict: 'diverged' });
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
