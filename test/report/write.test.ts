import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { renderReport } from '../../src/report/markdown.ts';
import { writeAtomic, writeReport } from '../../src/report/write.ts';
import { finishedStudy, runningStudy } from './__fixtures__/studies.ts';
import { svgProblems } from './__fixtures__/svg.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'flowtune-report-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('writeReport', () => {
  test('writes report.md and every plot, leaving no temporary file', async () => {
    const study = finishedStudy();
    const result = await writeReport(study, dir);
    expect(result.report).toBe(path.resolve(dir, 'report.md'));
    expect(await readFile(result.report, 'utf8')).toBe(renderReport(study));
    expect((await readdir(dir)).sort()).toEqual(['plots', 'report.md']);
    const plots = (await readdir(path.join(dir, 'plots'))).sort();
    expect(plots).toEqual([...finishedStudy().runs.map((r) => `run-${r.id}.svg`), 'study.svg'].sort());
    for (const f of plots) expect(svgProblems(await readFile(path.join(dir, 'plots', f), 'utf8'))).toEqual([]);
    // every plot the report links exists
    for (const [, link] of (await readFile(result.report, 'utf8')).matchAll(/!\[[^\]]*\]\(([^)]+)\)/g)) {
      await expect(stat(path.join(dir, link))).resolves.toBeTruthy();
    }
  });

  test('after the next run only the new run plot and the study plot are rendered', async () => {
    const study = runningStudy();
    const first = await writeReport({ ...study, runs: study.runs.slice(0, 1) }, dir);
    expect(first.rendered).toEqual(['plots/run-1.svg', 'plots/study.svg']);
    const second = await writeReport(study, dir);
    expect(second.rendered).toEqual(['plots/run-2.svg', 'plots/study.svg']);
    const third = await writeReport(study, dir);
    expect(third.rendered).toEqual(['plots/study.svg']);
  });

  test('a stale, foreign or forced plot is rendered again', async () => {
    const study = runningStudy();
    await writeReport(study, dir);
    // the run changed (e.g. its diagnosis was set after the first write): stale fingerprint
    study.runs[0].diagnosis = { ...study.runs[0].diagnosis, label: 'oscillating' };
    // a plot someone replaced by hand: no fingerprint
    await writeFile(path.join(dir, 'plots', 'run-2.svg'), '<svg xmlns="http://www.w3.org/2000/svg"></svg>');
    expect((await writeReport(study, dir)).rendered).toEqual(['plots/run-1.svg', 'plots/run-2.svg', 'plots/study.svg']);
    expect((await writeReport(study, dir, { refresh: [2] })).rendered).toEqual(['plots/run-2.svg', 'plots/study.svg']);
  });

  test('plots: false writes only the report', async () => {
    const out = path.join(dir, 'nested', 'study');
    await writeReport(finishedStudy(), out, { plots: false });
    expect(await readdir(out)).toEqual(['report.md']);
  });
});

describe('writeAtomic', () => {
  test('replaces the file whole; a failed write leaves the old file and no temporary', async () => {
    const file = path.join(dir, 'report.md');
    await writeAtomic(file, 'old');
    await writeAtomic(file, 'new');
    expect(await readFile(file, 'utf8')).toBe('new');
    await expect(writeAtomic(path.join(dir, 'missing', 'report.md'), 'x')).rejects.toThrow(/ENOENT/);
    expect(await readdir(dir)).toEqual(['report.md']);
  });

  test('a reader polling during many rewrites never sees a partial report', async () => {
    const file = path.join(dir, 'report.md');
    const a = 'A'.repeat(200_000);
    const b = 'B'.repeat(300_000);
    await writeAtomic(file, a);
    let stop = false;
    const seen = new Set<number>();
    const reader = (async () => {
      while (!stop) seen.add((await readFile(file, 'utf8')).length);
    })();
    for (let i = 0; i < 20; i++) await writeAtomic(file, i % 2 ? a : b);
    stop = true;
    await reader;
    for (const n of seen) expect([a.length, b.length]).toContain(n);
  });
});
