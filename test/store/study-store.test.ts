import { existsSync } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { UserError } from '../../src/errors.ts';
import { STUDY_SCHEMA_VERSION, startingStudyRecord } from '../../src/store/schema.ts';
import { parseStudy, readStudyFile, stringifyStudy, StudyStore } from '../../src/store/study-store.ts';
import type { StudyRecord } from '../../src/store/records.ts';

function emptyStudy(): StudyRecord {
  return startingStudyRecord({
    config: { name: 's', gradientThreshold: Infinity } as never,
    createdAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:00:00.000Z',
    dataset: { name: 'fashion', trainCount: 50000, validationCount: 10000, testCount: 10000, classNames: [] },
    policy: { name: 'flowchart', source: 'built-in' },
  });
}

describe('study file encoding', () => {
  test.each([Number.NaN, Infinity, -Infinity, 0, -0.5, 1e-300])('keeps %s exactly', (value) => {
    const study = { ...emptyStudy(), snapshot: { loss: value, nested: [value, 'NaN'] } };
    const back = parseStudy(stringifyStudy(study)).snapshot as { loss: number; nested: [number, string] };
    expect(Object.is(back.loss, value) || (value === 0 && back.loss === 0)).toBe(true);
    expect(back.nested[1]).toBe('NaN'); // a string stays a string
  });

  test('a corrupt file is a user error naming it', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'store-'));
    const file = path.join(dir, 'study.json');
    await (await import('node:fs/promises')).writeFile(file, '{"config": ');
    expect(() => readStudyFile(file)).toThrow(UserError);
    expect(() => readStudyFile(file)).toThrow(file);
  });
});

describe('StudyStore', () => {
  test('create, update in order, reopen', async () => {
    const dir = path.join(await mkdtemp(path.join(tmpdir(), 'store-')), 'study-a');
    const store = await StudyStore.create(dir, emptyStudy());
    // Many updates without awaiting each: they apply in order and the file ends with all of them.
    const writes = Array.from({ length: 20 }, (_, i) => store.update((s) => { s.decisions.push({ afterRun: i, stage: 'baseline', decision: { action: 'stop', params: {}, reason: String(i) }, at: '' }); }));
    await Promise.all(writes);
    await store.close();
    const reopened = await StudyStore.open(dir);
    expect(reopened.study.decisions.map((d) => d.afterRun)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(JSON.parse(await readFile(path.join(dir, 'study.json'), 'utf8')).config.gradientThreshold).toEqual({ $num: 'Infinity' });
  });

  test('refuses to overwrite an existing study, and says how to resume it', async () => {
    const dir = path.join(await mkdtemp(path.join(tmpdir(), 'store-')), 'study-b');
    await StudyStore.create(dir, emptyStudy());
    await expect(StudyStore.create(dir, emptyStudy())).rejects.toThrow(/tune --resume study-b/);
  });

  test('opening a missing study is a user error', async () => {
    const dir = path.join(await mkdtemp(path.join(tmpdir(), 'store-')), 'nope');
    await expect(StudyStore.open(dir)).rejects.toThrow(UserError);
  });

  test('saveRun replaces a run with the same id and counts search runs', async () => {
    const dir = path.join(await mkdtemp(path.join(tmpdir(), 'store-')), 'study-c');
    const store = await StudyStore.create(dir, emptyStudy());
    const run = (id: number, verdict: string, kind = 'search') => ({ id, kind, verdict }) as never;
    await store.saveRun(run(2, 'kept'));
    await store.saveRun(run(1, 'baseline'));
    await store.saveRun(run(2, 'reverted'));
    await store.saveRun(run(3, 'final', 'final'));
    expect(store.study.runs.map((r) => [r.id, r.verdict])).toEqual([[1, 'baseline'], [2, 'reverted'], [3, 'final']]);
    expect(store.study.budget.runsUsed).toBe(2);
  });
});

describe('schemaVersion: the stored format', () => {
  async function fileWith(record: unknown): Promise<{ dir: string; file: string }> {
    const dir = path.join(await mkdtemp(path.join(tmpdir(), 'store-')), 'versioned');
    await (await import('node:fs/promises')).mkdir(dir);
    const file = path.join(dir, 'study.json');
    await (await import('node:fs/promises')).writeFile(file, typeof record === 'string' ? record : stringifyStudy(record as never));
    return { dir, file };
  }
  function version1(): Record<string, unknown> {
    const { schemaVersion: _, ...v1 } = emptyStudy();
    return v1;
  }

  test('a version-1 file (no schemaVersion) loads as the current version, and is stamped when written', async () => {
    const { dir, file } = await fileWith(version1());
    expect(readStudyFile(file)).toEqual({ ...version1(), schemaVersion: STUDY_SCHEMA_VERSION });
    const store = await StudyStore.open(dir);
    expect(store.study.schemaVersion).toBe(3);
    expect(JSON.parse(await readFile(file, 'utf8')).schemaVersion).toBeUndefined(); // reading does not write
    await store.update((s) => void (s.statusReason = 'resumed'));
    await store.close();
    const written = await readFile(file, 'utf8');
    expect(written.startsWith('{\n  "schemaVersion": 3,\n')).toBe(true);
    expect(parseStudy(written)).toMatchObject({ schemaVersion: 3, statusReason: 'resumed', runs: [] });
  });

  test('a version-1 study (the example as first committed) loads, upgraded', () => {
    const study = readStudyFile(path.resolve(import.meta.dirname, '../report/__fixtures__/example-v1-study.json'));
    expect(study.schemaVersion).toBe(STUDY_SCHEMA_VERSION);
    expect(study.runs.length).toBeGreaterThan(0);
    // Its runs got their kind from their verdicts (schema 3).
    expect(study.runs.every((r) => ['search', 'replicate', 'confirm', 'final'].includes(r.kind))).toBe(true);
    expect(study.runs.filter((r) => r.verdict === 'final').map((r) => r.kind)).toEqual(['final']);
  });

  test('version 2 → 3: each run takes its kind from the verdict that stood for it', async () => {
    const runs = ['baseline', 'kept', 'reverted', 'tie', 'pending', 'replicate', 'confirm', 'final'].map((verdict, i) => ({ id: i + 1, verdict }));
    const { file } = await fileWith({ ...emptyStudy(), schemaVersion: 2, runs });
    expect(readStudyFile(file).runs.map((r) => [r.verdict, r.kind])).toEqual([
      ['baseline', 'search'],
      ['kept', 'search'],
      ['reverted', 'search'],
      ['tie', 'search'],
      ['pending', 'search'],
      ['replicate', 'replicate'],
      ['confirm', 'confirm'],
      ['final', 'final'],
    ]);
  });

  test('the committed example study loads', () => {
    const study = readStudyFile(path.resolve(import.meta.dirname, '../../reports/example/study.json'));
    expect(study.status).toBe('finished');
    expect(study.final?.testCount).toBe(10_000);
  });

  test('a new study is written with the current version first in the file', async () => {
    const dir = path.join(await mkdtemp(path.join(tmpdir(), 'store-')), 'fresh');
    const store = await StudyStore.create(dir, { ...emptyStudy(), schemaVersion: 1 });
    await store.close();
    expect((await readFile(path.join(dir, 'study.json'), 'utf8')).startsWith('{\n  "schemaVersion": 3,\n')).toBe(true);
  });

  test('a file written by a newer flowtune is refused with what to do, before any lock is taken', async () => {
    const { dir, file } = await fileWith({ ...emptyStudy(), schemaVersion: STUDY_SCHEMA_VERSION + 1 });
    const message = `${file} was written by a newer flowtune (study format version 4; this flowtune reads up to version 3): upgrade flowtune to use this study, or start a new study.`;
    expect(() => readStudyFile(file)).toThrow(UserError);
    expect(() => readStudyFile(file)).toThrow(message);
    await expect(StudyStore.open(dir)).rejects.toThrow(message);
    expect(existsSync(path.join(dir, 'study.lock'))).toBe(false);
  });

  test.each([['"two"'], ['0'], ['1.5'], ['null']])('schemaVersion %s is not a version: a user error naming the file', async (version) => {
    const { file } = await fileWith(`{"schemaVersion": ${version}, "runs": []}`);
    expect(() => readStudyFile(file)).toThrow(UserError);
    expect(() => readStudyFile(file)).toThrow(`${file}: schemaVersion ${version} is not a version number`);
  });

  test('a file that is JSON but not a record is a user error', async () => {
    const { file } = await fileWith('[1, 2]');
    expect(() => readStudyFile(file)).toThrow(`${file} is not a study record`);
  });
});
