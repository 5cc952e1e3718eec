import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { listStudies, renderStudyList } from '../../src/report/list.ts';
import { stringifyStudy } from '../../src/store/study-store.ts';
import type { StudyRecord } from '../../src/store/records.ts';
import { budgetStoppedStudy, divergedStudy, finishedStudy } from './__fixtures__/studies.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'flowtune-list-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function store(name: string, study: StudyRecord | string) {
  await mkdir(path.join(dir, name), { recursive: true });
  await writeFile(path.join(dir, name, 'study.json'), typeof study === 'string' ? study : stringifyStudy(study));
}

describe('listStudies', () => {
  test('an empty folder, and a folder that does not exist, list nothing', async () => {
    expect(await listStudies(dir)).toEqual([]);
    expect(await listStudies(path.join(dir, 'nope'))).toEqual([]);
    expect(renderStudyList([], 'reports')).toBe('No studies in reports. Start one with `tune --data fashion`.\n');
  });

  test('reads each reports/<name>/study.json, skips other folders, newest first', async () => {
    await store('fashion-finished', finishedStudy());
    await store('fashion-diverged', divergedStudy());
    await store('fashion-budget', budgetStoppedStudy());
    await mkdir(path.join(dir, 'not-a-study'));
    await writeFile(path.join(dir, 'stray.json'), '{}');
    const rows = await listStudies(dir);
    expect(rows.map((r) => [r.name, r.status, r.runs, r.bestValAccuracy && Math.round(r.bestValAccuracy * 1000) / 10, r.testAccuracy])).toEqual([
      ['fashion-finished', 'finished', 9, 93.6, 0.9023],
      ['fashion-budget', 'stopped', 3, 87.2, null],
      ['fashion-diverged', 'running', 2, 86, null],
    ]);
    expect(rows[0].dir).toBe(path.join(dir, 'fashion-finished'));
    expect(renderStudyList(rows, 'reports')).toMatchInlineSnapshot(`
      "| Study            | Status                                             | Runs | Best val acc | Test acc | Updated                 |
      | :--------------- | :------------------------------------------------- | ---: | -----------: | -------: | :---------------------- |
      | fashion-finished | finished                                           |    9 |       93.60% |   90.23% | 2025-11-27 22:11:34 UTC |
      | fashion-budget   | stopped: time budget of 1 min used up during run 3 |    3 |       87.20% |        — | 2025-11-27 22:01:00 UTC |
      | fashion-diverged | running                                            |    2 |       86.00% |        — | 2025-11-27 22:00:17 UTC |

      3 studies in reports.
      "
    `);
  });

  test('an unreadable study.json is listed as unreadable, not fatal', async () => {
    await store('broken', '{ "config": ');
    await store('ok', finishedStudy());
    const rows = await listStudies(dir);
    expect(rows.map((r) => [r.name, r.status])).toEqual([
      ['ok', 'finished'],
      ['broken', 'unreadable'],
    ]);
    expect(rows[1].statusReason).toMatch(/^study\.json: /);
    expect(renderStudyList(rows)).toMatch(/\| broken +\| unreadable: study\.json: /);
  });

  test('a study written by a newer flowtune is listed as unreadable, saying so', async () => {
    await store('future', { ...finishedStudy(), schemaVersion: 99 });
    const [row] = await listStudies(dir);
    expect(row.status).toBe('unreadable');
    expect(row.statusReason).toMatch(/^study\.json: the study file was written by a newer flowtune \(study format version 99; .*upgrade flowtune/);
  });
});
