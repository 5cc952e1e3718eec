/** CSV files in the Kaggle Fashion-MNIST layout (--data train.csv), written by the tests. */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { csvImageShape, testFileBeside } from '../../src/data/csv.ts';
import { detectFormat, openDataset } from '../../src/data/dataset.ts';
import { csvText, patternRows } from './image-fixtures.ts';
import { userError } from './user-error.ts';

let root: string;
let counter = 0;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'flowtune-csv-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function folder(): Promise<string> {
  const dir = join(root, `d${++counter}`);
  await mkdir(dir, { recursive: true });
  return dir;
}

describe('Kaggle-style CSV', () => {
  test('fashion-mnist_train.csv finds fashion-mnist_test.csv beside it; 784 columns are 28×28×1; pixels exact', async () => {
    const dir = await folder();
    const train = patternRows(10, 6, 28, 28, 1);
    await writeFile(join(dir, 'fashion-mnist_train.csv'), csvText(train));
    await writeFile(join(dir, 'fashion-mnist_test.csv'), csvText(patternRows(10, 2, 28, 28, 1, 100)));
    expect(detectFormat(join(dir, 'fashion-mnist_train.csv'))).toBe('csv');
    const ds = await openDataset({ data: join(dir, 'fashion-mnist_train.csv') });
    expect(ds.format).toBe('csv');
    expect([ds.train.height, ds.train.width, ds.train.channels]).toEqual([28, 28, 1]);
    expect(ds.train.count).toBe(60);
    expect(ds.classNames).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    expect(ds.testCount).toBe(20);
    expect(ds.info.testCarved).toBe(false);
    expect(ds.info.testFrom).toBe(`${join(dir, 'fashion-mnist_test.csv')} (found beside the training file by name)`);
    expect(ds.info.testClassCounts).toEqual(new Array(10).fill(2));
    expect(Array.from(ds.train.labels.subarray(0, 12))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]);
    expect(Array.from(ds.train.images.subarray(784 * 3, 784 * 4), (v) => Math.round(v * 255))).toEqual(Array.from(train[3].pixels));
    expect(Object.keys(ds)).not.toContain('test');
    const test1 = await ds.loadTest();
    expect(test1.count).toBe(20);
    expect(await ds.loadTest()).toBe(test1);
  });

  test('colour: 3·S² columns are S×S×3, channels last; classes.txt names the classes; gzip is read', async () => {
    const dir = await folder();
    const rows = patternRows(3, 7, 8, 8, 3);
    await writeFile(join(dir, 'Train.csv.gz'), gzipSync(csvText(rows)));
    await writeFile(join(dir, 'classes.txt'), 'cat\ndog\nbird\n');
    const ds = await openDataset({ data: join(dir, 'Train.csv.gz') });
    expect([ds.train.height, ds.train.width, ds.train.channels]).toEqual([8, 8, 3]);
    expect(ds.classNames).toEqual(['cat', 'dog', 'bird']);
    expect(ds.train.count + ds.testCount).toBe(21);
    expect(ds.info.testCarved).toBe(true); // no Test.csv.gz beside it
    expect(ds.info.testFrom).toMatch(/^carved out of .*Train\.csv\.gz \(no test file: none named by --test-data, and no file named like it with "train" → "test"\): 14\.3 % of its rows/);
  });

  test('--test-data names the test file; --image-size lays out non-square images; labels may be class names; no header', async () => {
    const dir = await folder();
    const named = (rows: ReturnType<typeof patternRows>) => rows.map((r) => ({ label: ['ship', 'car', 'plane'][r.label], pixels: r.pixels }));
    await writeFile(join(dir, 'mine.csv'), csvText(named(patternRows(3, 5, 4, 6, 1)), { header: false }));
    await writeFile(join(dir, 'held-out.csv'), csvText(named(patternRows(3, 2, 4, 6, 1, 50)), { header: false }));
    const ds = await openDataset({ data: join(dir, 'mine.csv'), testData: join(dir, 'held-out.csv'), imageSize: [4, 6] });
    expect([ds.train.height, ds.train.width, ds.train.channels]).toEqual([4, 6, 1]);
    expect(ds.classNames).toEqual(['car', 'plane', 'ship']);
    expect(ds.train.count).toBe(15);
    expect(ds.testCount).toBe(6);
    expect(ds.info.testFrom).toMatch(/held-out\.csv \(--test-data\)$/);
  });

  test('the label column is found by name in the header', async () => {
    const dir = await folder();
    const lines = ['p1,p2,p3,p4,label', '1,2,3,4,1', '5,6,7,8,0', '9,10,11,12,1', '0,0,0,0,0', '1,1,1,1,1', '2,2,2,2,0', '3,3,3,3,1'];
    await writeFile(join(dir, 'train.csv'), lines.join('\r\n'));
    await writeFile(join(dir, 'test.csv'), [lines[0], '4,3,2,1,0', '8,7,6,5,1'].join('\n'));
    const ds = await openDataset({ data: join(dir, 'train.csv') });
    expect([ds.train.height, ds.train.width]).toEqual([2, 2]);
    expect(Array.from(ds.train.labels)).toEqual([1, 0, 1, 0, 1, 0, 1]);
    expect(Array.from(ds.train.images.subarray(0, 4), (v) => Math.round(v * 255))).toEqual([1, 2, 3, 4]);
  });

  test.each([
    [[2, 2, 1], 4, null],
    [[28, 28, 1], 784, null],
    [[32, 32, 3], 3072, null],
    [[24, 32, 1], 768, [24, 32]],
    [[10, 10, 3], 300, [10, 10]],
  ] as Array<[number[], number, [number, number] | null]>)('shape %j from %i pixel columns (--image-size %j)', (shape, pixels, size) => {
    expect(csvImageShape('x.csv', pixels, size)).toEqual(shape);
  });

  test('shapes that cannot be guessed ask for --image-size', () => {
    expect(() => csvImageShape('x.csv', 770, null)).toThrow(/770 pixel columns are not a square grey image .* --image-size HxW/);
    expect(() => csvImageShape('x.csv', 768, [10, 10])).toThrow(/do not make images of 10×10 \(--image-size\): that needs a multiple of 100 columns/);
  });

  test('the test file beside the training file, by name', async () => {
    const dir = await folder();
    await writeFile(join(dir, 'mnist_TRAIN.csv'), '');
    await writeFile(join(dir, 'mnist_TEST.csv'), '');
    expect(testFileBeside(join(dir, 'mnist_TRAIN.csv'))).toBe(join(dir, 'mnist_TEST.csv'));
    expect(testFileBeside(join(dir, 'data.csv'))).toBeNull();
  });
});

describe('broken CSV files are UserErrors naming the file and line, found when the data set is opened', () => {
  const header = 'label,pixel1,pixel2,pixel3,pixel4';
  const good = ['0,1,2,3,4', '1,5,6,7,8', '0,9,9,9,9', '1,0,0,0,0', '0,1,1,1,1', '1,2,2,2,2', '0,3,3,3,3', '1,4,4,4,4'];
  test.each([
    ['a pixel above 255', [header, ...good.slice(0, 3), '1,1,256,3,4'], /train\.csv: line 5, pixel2: "256" is not a pixel value: pixels must be whole numbers from 0 to 255/],
    ['a fractional pixel', [header, '0,0.5,0,0,0', ...good], /line 2, pixel1: "0\.5" is not a pixel value/],
    ['a short row', [header, ...good, '1,2,3'], /line 10 has 3 columns, but the header has 5/],
    ['a long row', [header, '1,2,3,4,5,6', ...good], /line 2 has more than 5 columns/],
    ['only a header', [header], /has a header but no rows/],
  ])('%s', async (_, lines, message) => {
    const dir = await folder();
    await writeFile(join(dir, 'train.csv'), lines.join('\n'));
    expect(await userError(openDataset({ data: join(dir, 'train.csv') }))).toMatch(message);
  });

  test('a test label out of range stops the opening, naming the test file and the line', async () => {
    const dir = await folder();
    await writeFile(join(dir, 'train.csv'), [header, ...good].join('\n'));
    await writeFile(join(dir, 'test.csv'), [header, '0,1,2,3,4', '12,1,2,3,4'].join('\n'));
    const text = await userError(openDataset({ data: join(dir, 'train.csv') }));
    expect(text).toMatch(new RegExp(`^${join(dir, 'test.csv')}: line 3: label "12" is out of range: there are 2 classes, so labels must be 0–1 \\(1 label like it\\)\\. The classes are 0–1, from the training file's largest label`));
  });

  test("a Kaggle competition test file (no label column) is explained", async () => {
    const dir = await folder();
    await writeFile(join(dir, 'train.csv'), [header, ...good].join('\n'));
    await writeFile(join(dir, 'test.csv'), ['pixel1,pixel2,pixel3,pixel4', '1,2,3,4'].join('\n'));
    expect(await userError(openDataset({ data: join(dir, 'train.csv') }))).toMatch(/test\.csv: has 4 columns but the training file .* has 5: it looks like a test file without labels/);
  });

  test('--test-data that does not exist', async () => {
    const dir = await folder();
    await writeFile(join(dir, 'train.csv'), [header, ...good].join('\n'));
    expect(await userError(openDataset({ data: join(dir, 'train.csv'), testData: join(dir, 'nope.csv') }))).toMatch(/nope\.csv \(given to --test-data\): no such file/);
  });

  test('--skip-bad does not apply to CSV', async () => {
    const dir = await folder();
    await writeFile(join(dir, 'train.csv'), [header, ...good].join('\n'));
    expect(await userError(openDataset({ data: join(dir, 'train.csv'), skipBad: true }))).toMatch(/--skip-bad applies to image folders only; --data .* is read as a CSV file/);
  });
});
