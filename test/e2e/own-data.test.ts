/**
 * `tune` on the user's own data, end to end with the real binary: a study on a colour image folder
 * and one on a Kaggle-style CSV written by the test (seconds each), broken data refused with exit 2
 * before any training, and issue 9's case: a copy of Debian's Fashion-MNIST with one test label set
 * to 12 is refused at the start, naming the file, with no study begun.
 */
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { readStudyFile } from '../../src/store/study-store.ts';
import { csvText, patternRows, writeImageFolder } from '../data/image-fixtures.ts';
import { HAVE_FASHION, tempReports, tune } from './helpers.ts';

let root: string;
let colour: string;
beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'flowtune-own-e2e-'));
  colour = path.join(root, 'shapes');
  // 3 classes × 100 colour images, 32×32 and 24×40, PNG and JPEG; no test/ folder.
  await writeImageFolder(colour, { classes: ['circle', 'square', 'triangle'], splits: { '': 100 }, channels: 3, sizes: [[32, 32], [24, 40]] });
}, 120_000);
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const SHORT = ['--budget', '1m', '--subset', '0', '--validation-subset', '0', '--max-epochs', '3', '--mini-batch-size', '16', '--max-runs', '2', '--backend', 'wasm'];

describe('a study on an image folder', () => {
  test('finishes with a report naming its classes, the carved test split said so, and a 32×32×3 model', async () => {
    const reports = await tempReports();
    const { code, stderr } = tune(['--data', colour, ...SHORT, '--name', 'shapes', '--reports', reports]);
    expect([0, 3], stderr).toContain(code);
    expect(stderr).toMatch(/search on 214 training \/ 43 validation images/);
    const dir = path.join(reports, 'shapes');
    const study = await readStudyFile(path.join(dir, 'study.json'));
    expect(study.dataset.classNames).toEqual(['circle', 'square', 'triangle']);
    expect(study.final?.testCount).toBe(43);
    expect(study.dataset.summary).toMatchObject({ format: 'folder', imageShape: [32, 32, 3], testCarved: true, classCounts: { test: [15, 14, 14] } });
    expect(study.runs[0].network.inputShape).toEqual([32, 32, 3]);
    const report = await readFile(path.join(dir, 'report.md'), 'utf8');
    expect(report).toContain('## Data');
    expect(report).toMatch(/\*\*Images:\*\* 32×32×3 \(colour\), 3 classes, from an image folder/);
    expect(report).toMatch(/carved out: the data had no test split of its own/);
    for (const name of ['circle', 'square', 'triangle']) expect(report).toMatch(new RegExp(`\\| ${name} +\\|`));
    const model = JSON.parse(await readFile(path.join(dir, 'model', 'model.json'), 'utf8'));
    expect(model.modelTopology.config.layers[0].config.batch_input_shape).toEqual([null, 32, 32, 3]);
  });

  test('a broken image is exit 2 naming it, before any study is begun; --skip-bad leaves it out and the report lists it', async () => {
    const broken = path.join(root, 'broken');
    await cp(colour, broken, { recursive: true });
    const bad = path.join(broken, 'square', 'zz-broken.png');
    await writeFile(bad, 'not a PNG');
    const reports = await tempReports();
    const refused = tune(['--data', broken, ...SHORT, '--name', 'b', '--reports', reports]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(bad);
    expect(refused.stderr).not.toMatch(/\n\s+at /);
    expect(existsSync(path.join(reports, 'b'))).toBe(false);
    const skipped = tune(['--data', broken, ...SHORT, '--max-runs', '1', '--no-final-full', '--skip-bad', '--name', 's', '--reports', reports]);
    expect([0, 3], skipped.stderr).toContain(skipped.code);
    const report = await readFile(path.join(reports, 's', 'report.md'), 'utf8');
    expect(report).toMatch(/\*\*Skipped \(--skip-bad\):\*\* 1 file that could not be decoded:/);
    expect(report).toContain(bad);
  });
});

describe('a study on a Kaggle-style CSV', () => {
  test('train.csv with test.csv beside it and a classes.txt: finishes, the report names the classes and the test file', async () => {
    const dir = path.join(root, 'csv');
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'train.csv'), csvText(patternRows(3, 60, 12, 12, 1)));
    await writeFile(path.join(dir, 'test.csv'), csvText(patternRows(3, 10, 12, 12, 1, 500)));
    await writeFile(path.join(dir, 'classes.txt'), 'horizontal\nvertical\nother\n');
    const reports = await tempReports();
    const { code, stderr } = tune(['--data', path.join(dir, 'train.csv'), ...SHORT, '--name', 'csv', '--reports', reports]);
    expect([0, 3], stderr).toContain(code);
    const study = await readStudyFile(path.join(reports, 'csv', 'study.json'));
    expect(study.final?.testCount).toBe(30);
    expect(study.dataset.summary).toMatchObject({ format: 'csv', imageShape: [12, 12, 1], testCarved: false });
    const report = await readFile(path.join(reports, 'csv', 'report.md'), 'utf8');
    expect(report).toContain(`${path.join(dir, 'test.csv')} (found beside the training file by name)`);
    for (const name of ['horizontal', 'vertical', 'other']) expect(report).toMatch(new RegExp(`\\| ${name} +\\|`));
  });
});

describe('the flags of your own data', () => {
  test('tune --help documents them', () => {
    const { stdout } = tune(['--help']);
    for (const flag of ['--image-size HxW', '--test-data FILE', '--skip-bad', '--max-memory SIZE']) expect(stdout).toContain(flag);
  });

  test.each([
    [['--image-size', 'big'], /--image-size big is not valid: give height x width in pixels, e.g. 32x32/],
    [['--max-memory', 'lots'], /--max-memory lots is not valid/],
    [['--validation-size', '1.5'], /--validation-size 1\.5 is not valid/],
  ])('%j is exit 2', (flags, message) => {
    const { code, stderr } = tune(['--data', colour, ...flags]);
    expect(code).toBe(2);
    expect(stderr).toMatch(message);
  });

  test('--skip-bad with Fashion-MNIST is refused', () => {
    const { code, stderr } = tune(['--data', 'fashion', '--skip-bad']);
    expect(code).toBe(2);
    expect(stderr).toMatch(/--skip-bad applies to image folders only; --data fashion is read as Fashion-MNIST/);
  });
});

describe.skipIf(!HAVE_FASHION)('issue 9: the sealed test files are checked at the start', () => {
  test('a copy of Debian’s Fashion-MNIST with one test label set to 12: exit 2 naming the file, no training, no study', async () => {
    const copy = path.join(root, 'fashion-copy');
    await cp('/usr/share/datasets/fashion-mnist', copy, { recursive: true });
    const labels = path.join(copy, 't10k-labels-idx1-ubyte.gz');
    const content = gunzipSync(await readFile(labels));
    content[8 + 4321] = 12; // after the 8-byte header: the label of test image 4321
    await writeFile(labels, gzipSync(content));
    const reports = await tempReports();
    const { code, stderr } = tune(['--data', 'fashion', '--data-dir', copy, '--name', 'corrupt', '--reports', reports]);
    expect(code).toBe(2);
    expect(stderr).toContain(`${labels}: label 12 at item 4321 (0-based) is out of range: there are 10 classes, so labels must be 0–9`);
    expect(stderr).not.toMatch(/run 1|\n\s+at /); // no run started, no stack trace
    expect(existsSync(path.join(reports, 'corrupt'))).toBe(false); // the study was never created
  });
});
