/** The command line: help, user errors (exit 2, no stack trace), list, diagnose, broken policies. */
import { existsSync } from 'node:fs';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { parseDuration } from '../../src/cli.ts';
import { readStudyFile } from '../../src/store/study-store.ts';
import { HAVE_FASHION, ROOT, SMALL_STUDY, tempReports, tune } from './helpers.ts';

describe('parseDuration', () => {
  test.each([
    ['30m', 1800],
    ['1h', 3600],
    ['1h30m', 5400],
    ['90s', 90],
    ['45', 45],
    ['0', null],
  ])('%s → %s', (text, seconds) => {
    expect(parseDuration(text)).toBe(seconds);
  });
  test.each(['30 minutes', 'm', '-5m', ''])('%j is rejected', (text) => {
    expect(() => parseDuration(text)).toThrow(/--budget .* is not a duration/);
  });
});

describe('tune, the binary', () => {
  test('--help lists every subcommand, one line each', () => {
    const { code, stdout } = tune(['--help']);
    expect(code).toBe(0);
    for (const sub of ['tune --data fashion', 'tune --resume', 'tune diagnose', 'tune report', 'tune list', 'tune serve', 'tune bench']) expect(stdout).toContain(sub);
  });

  test.each([
    [['--bogus'], /Unknown option '--bogus'/],
    [['--data', 'fashion', '--budget', 'soon'], /--budget soon is not a duration/],
    [['--data', 'fashion', '--solver', 'sgd'], /--solver sgd is not valid: use one of sgdm, adam, rmsprop/],
    [['--data', 'fashion', '--backend', 'tpu'], /--backend tpu is not valid/],
    [['--data', 'fashion', '--max-runs', 'many'], /--max-runs many is not valid/],
    [['frobnicate'], /Unknown command "frobnicate"/],
    [[], /Nothing to do/],
    [['report'], /needs a study name/],
  ])('%j is a user error: exit 2, no stack trace', (args, message) => {
    const { code, stderr } = tune(args as string[]);
    expect(code).toBe(2);
    expect(stderr).toMatch(message);
    expect(stderr).not.toMatch(/\n\s+at /);
  });

  test('a missing data folder names every place looked in and how to get the files', async () => {
    const empty = await mkdtemp(path.join(tmpdir(), 'nodata-'));
    const { code, stderr } = tune(['--data', 'fashion', '--data-dir', empty, '--reports', await tempReports()]);
    expect(code).toBe(2);
    expect(stderr).toContain(empty);
    expect(stderr).toMatch(/npm run setup/);
    expect(stderr).not.toMatch(/\n\s+at /);
  });

  test('tune list on an empty reports folder says how to start', async () => {
    const reports = await tempReports();
    const { code, stdout } = tune(['list', '--reports', reports]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/No studies in .*tune --data fashion/);
  });

  test('--resume of an unknown study is a user error', async () => {
    const { code, stderr } = tune(['--resume', 'nope', '--reports', await tempReports()]);
    expect(code).toBe(2);
    expect(stderr).toMatch(/No study at/);
  });

  test('tune diagnose reads a Keras history with NaN and answers in JSON', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'hist-'));
    const file = path.join(dir, 'history.json');
    await writeFile(file, '{"loss": [2.3, 5.1, NaN], "accuracy": [0.1, 0.1, 0.1], "val_loss": [2.3, 6.0, NaN], "val_accuracy": [0.1, 0.1, 0.1], "lr": [0.1, 0.1, 0.1]}');
    const { code, stdout } = tune(['diagnose', file, '--json']);
    expect(code).toBe(0);
    const answer = JSON.parse(stdout);
    expect(answer).toMatchObject({ diagnosis: 'diverged', action: 'lowerLearnRate' });
    expect(answer.params.initialLearnRate).toBeCloseTo(0.01);
  });

  test('tune diagnose refuses accuracies whose unit cannot be told (exit 2), and takes --accuracy-unit', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'hist-'));
    const file = path.join(dir, 'info.csv');
    await writeFile(file, 'Epoch,Iteration,TrainingLoss,TrainingAccuracy,ValidationLoss,ValidationAccuracy\n1,1,2.3,0.004,2.3,0.005\n2,2,2.29,0.006,2.29,0.008\n');
    const refused = tune(['diagnose', file]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/^tune: History file .*info\.csv: the accuracies are too small to tell fractions from percentages .* Give --accuracy-unit fraction or --accuracy-unit percent to say which\.\n$/);
    const given = tune(['diagnose', file, '--accuracy-unit', 'percent']);
    expect(given.code, given.stderr).toBe(0);
    expect(given.stdout).toMatch(/^accuracy: {2}read as percentages \(0–100\) as --accuracy-unit says/);
  });

  test('tune report example reproduces the committed report byte for byte, without writing the study or locking it', async () => {
    const reports = await tempReports();
    await cp(path.join(ROOT, 'reports', 'example'), path.join(reports, 'example'), { recursive: true });
    await rm(path.join(reports, 'example', 'report.md'));
    const { code, stdout, stderr } = tune(['report', 'example', '--reports', reports]);
    expect(code, stderr).toBe(0);
    expect(stdout.trim()).toBe(path.join(reports, 'example', 'report.md'));
    expect(await readFile(path.join(reports, 'example', 'report.md'), 'utf8')).toBe(await readFile(path.join(ROOT, 'reports', 'example', 'report.md'), 'utf8'));
    // The stored study (format version 1) is read, not rewritten; readers take no lock.
    expect(await readFile(path.join(reports, 'example', 'study.json'), 'utf8')).toBe(await readFile(path.join(ROOT, 'reports', 'example', 'study.json'), 'utf8'));
    expect(existsSync(path.join(reports, 'example', 'study.lock'))).toBe(false);
  });
});

describe.skipIf(!HAVE_FASHION)('a broken policy during a real study', () => {
  test('a policy that throws stops the study cleanly: exit 2, the file named, the finished run kept', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'policy-'));
    const file = path.join(dir, 'thrower.ts');
    await writeFile(file, `export default { name: 'thrower', description: 'throws', decide() { throw new Error('no idea what to do'); } };\n`);
    const reports = await tempReports();
    const { code, stderr } = tune([...SMALL_STUDY, '--max-epochs', '1', '--policy', file, '--name', 'broken', '--reports', reports]);
    expect(code).toBe(2);
    expect(stderr).toContain('thrower.ts');
    expect(stderr).toContain('no idea what to do');
    expect(stderr).not.toMatch(/\n\s+at /);
    const study = readStudyFile(path.join(reports, 'broken', 'study.json'));
    expect(study.status).toBe('failed');
    expect(study.runs).toHaveLength(1);
    expect(existsSync(path.join(reports, 'broken', 'study.lock'))).toBe(false); // released on a user error
  });
});
