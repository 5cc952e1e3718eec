/**
 * Image folders (--data FOLDER): a few hundred PNG and JPEG files written by the tests, grayscale
 * and colour, two sizes, split folders or not, and broken files.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { detectFormat, openDataset } from '../../src/data/dataset.ts';
import { CARVED_TEST_SHARE } from '../../src/data/split.ts';
import { summariseDataset, trainValidationSplit } from '../../src/data/summary.ts';
import { encodeImage, patternPixels, writeImageFolder } from './image-fixtures.ts';
import { userError } from './user-error.ts';

let root: string;
let counter = 0;
let colour: string; // flat: 3 classes × 70 images, 16×16 and 12×20, colour
let gray: string; // train/ val/ test/: 4 classes, 10×10 and 14×14, grayscale

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'flowtune-images-'));
  colour = join(root, 'colour');
  await writeImageFolder(colour, { classes: ['red', 'green', 'blue'], splits: { '': 70 }, channels: 3, sizes: [[16, 16], [12, 20]] });
  gray = join(root, 'gray');
  await writeImageFolder(gray, { classes: ['a', 'b', 'c', 'd'], splits: { train: 30, val: 6, test: 8 }, channels: 1, sizes: [[10, 10], [14, 14]] });
}, 120_000);
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function copyOf(dir: string): Promise<string> {
  const target = join(root, `copy${++counter}`);
  const { cp } = await import('node:fs/promises');
  await cp(dir, target, { recursive: true });
  return target;
}

describe('an image folder without splits (colour, two sizes, PNG and JPEG)', () => {
  test('classes from the folder names, sorted; the most common size; three channels; a test split carved out and sealed', async () => {
    expect(detectFormat(colour)).toBe('folder');
    const ds = await openDataset({ data: colour });
    expect(ds.format).toBe('folder');
    expect(ds.classNames).toEqual(['blue', 'green', 'red']);
    expect([ds.train.height, ds.train.width, ds.train.channels]).toEqual([16, 16, 3]);
    expect(ds.train.count + ds.testCount).toBe(210);
    expect(ds.testCount).toBe(Math.round(210 * CARVED_TEST_SHARE)); // 30: 10 per class
    expect(ds.info.testClassCounts).toEqual([10, 10, 10]);
    expect(ds.info.testCarved).toBe(true);
    expect(ds.info.testFrom).toMatch(/carved out of the image folder \(no test\/ folder\): 14\.3 % of its images/);
    expect(ds.info.resized).toMatch(/^\d+ images resized \(stretched\) to 16×16 \(the most common size of the 2 sizes among the training images\)$/);
    expect(ds.validation).toBeNull();
    expect(Object.keys(ds)).not.toContain('test');
    expect(Object.isFrozen(ds)).toBe(true);
    const test1 = await ds.loadTest();
    expect(test1.count).toBe(30);
    expect(await ds.loadTest()).toBe(test1);
    expect(test1.images.length).toBe(30 * 16 * 16 * 3);
  });

  test('pixels: a PNG of the right size is read exactly, channels last, scaled to 0..1', async () => {
    const dir = join(root, `exact${++counter}`);
    await writeImageFolder(dir, { classes: ['x', 'y'], splits: { train: 4, test: 2 }, channels: 3, sizes: [[6, 5]] });
    const ds = await openDataset({ data: dir });
    // train/x holds images 0..3 of class 0: 0 and 2 are PNG (lossless), in file-name order.
    const expected = patternPixels(0, 2, 6, 5, 3);
    const size = 6 * 5 * 3;
    const got = Array.from(ds.train.images.subarray(2 * size, 3 * size), (v) => Math.round(v * 255));
    expect(got).toEqual(Array.from(expected));
    expect(ds.train.images).toBeInstanceOf(Float32Array);
  });

  test('--image-size resizes every image', async () => {
    const ds = await openDataset({ data: colour, imageSize: [8, 12] });
    expect([ds.train.height, ds.train.width, ds.train.channels]).toEqual([8, 12, 3]);
    expect(ds.info.resized).toMatch(/^210 images resized \(stretched\) to 8×12 \(--image-size\)$/);
  });
});

describe('an image folder with train/, val/ and test/ (grayscale, two sizes)', () => {
  test('one channel; validation from val/, the sealed test from test/; counts per class', async () => {
    const ds = await openDataset({ data: gray });
    expect(ds.classNames).toEqual(['a', 'b', 'c', 'd']);
    expect([ds.train.height, ds.train.width, ds.train.channels]).toEqual([10, 10, 1]);
    expect(ds.train.count).toBe(120);
    expect(ds.validation?.count).toBe(24);
    expect(ds.testCount).toBe(32);
    expect(ds.info).toMatchObject({ testCarved: false, validationFrom: 'the val/ folder', testFrom: 'the test/ folder' });
    const split = trainValidationSplit(ds, { validationSize: 10_000, seed: 0 }); // the given val/ wins over the size
    expect([split.train.indices.length, split.validation.indices.length]).toEqual([120, 24]);
    expect(split.validation.set).toBe(ds.validation);
    const summary = summariseDataset(ds, split, 0);
    expect(summary.classCounts).toEqual({ train: [30, 30, 30, 30], validation: [6, 6, 6, 6], test: [8, 8, 8, 8] });
    expect(summary.imageShape).toEqual([10, 10, 1]);
  });

  test('one colour image among grayscale ones makes every image three channels (grey repeated)', async () => {
    const dir = await copyOf(gray);
    await writeFile(join(dir, 'train', 'a', 'zz-colour.png'), await encodeImage(patternPixels(1, 1, 10, 10, 3), 10, 10, 3, 'png'));
    const ds = await openDataset({ data: dir });
    expect(ds.train.channels).toBe(3);
    const first = Array.from(ds.train.images.subarray(0, 3)); // a grey PNG: R = G = B
    expect(first[0]).toBe(first[1]);
    expect(first[1]).toBe(first[2]);
  });

  test('files that are not PNG or JPEG are ignored and counted', async () => {
    const dir = await copyOf(gray);
    await writeFile(join(dir, 'train', 'a', 'notes.txt'), 'not an image');
    await writeFile(join(dir, 'README.md'), '# my data');
    await writeFile(join(dir, 'train', 'b', '.DS_Store'), 'hidden'); // hidden files are not counted
    const ds = await openDataset({ data: dir });
    expect(ds.info.ignoredFiles).toBe(2);
    expect(ds.train.count).toBe(120);
  });
});

describe('broken images and layouts', () => {
  test('a corrupt image is exit 2 naming the file, and says how to skip it', async () => {
    const dir = await copyOf(gray);
    const bad = join(dir, 'train', 'c', 'broken.png');
    await writeFile(bad, 'this is not a PNG');
    const text = await userError(openDataset({ data: dir }));
    expect(text).toContain(bad);
    expect(text).toMatch(/cannot be decoded as an image \(.+\)\. Replace or remove the file, or pass --skip-bad/);
  });

  test('a truncated PNG (its header reads fine) fails when decoded', async () => {
    const dir = await copyOf(gray);
    const good = join(dir, 'train', 'b', 'train-b-000.png');
    const bytes = await readFile(good);
    await writeFile(good, bytes.subarray(0, bytes.length - 30));
    expect(await userError(openDataset({ data: dir }))).toContain(good);
  });

  test('--skip-bad leaves the broken files out and lists them with the reason', async () => {
    const dir = await copyOf(gray);
    const bad = join(dir, 'train', 'c', 'broken.png');
    await writeFile(bad, 'this is not a PNG');
    const ds = await openDataset({ data: dir, skipBad: true });
    expect(ds.train.count).toBe(120);
    expect(ds.info.skipped).toEqual([{ path: bad, reason: expect.stringMatching(/unsupported image format/) }]);
  });

  test('a corrupt image in the sealed test/ folder fails at open, before anything else is decoded', async () => {
    const dir = await copyOf(gray);
    const bad = join(dir, 'test', 'd', 'broken.jpg');
    await writeFile(bad, Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 16, 1, 2, 3]));
    expect(await userError(openDataset({ data: dir }))).toContain(bad);
  });

  test.each([
    ['a test class that training lacks', async (dir: string) => mkdir(join(dir, 'test', 'e')).then(() => writeFile(join(dir, 'test', 'e', 'x.png'), 'x')), /test split has a class folder "e" that .* does not have/],
    ['an empty class folder', async (dir: string) => mkdir(join(dir, 'train', 'e')), /the class "e" has no PNG or JPEG images/],
    ['val/ without train/', async (dir: string) => rm(join(dir, 'train'), { recursive: true }), /has val\/ and test\/ but no train\/ folder/],
  ])('%s is a UserError', async (_, change, message) => {
    const dir = await copyOf(gray);
    await change(dir);
    expect(await userError(openDataset({ data: dir }))).toMatch(message);
  });

  test('a single class folder is refused: a classifier needs two', async () => {
    const dir = join(root, `one${++counter}`);
    await writeImageFolder(dir, { classes: ['only'], splits: { '': 5 }, channels: 1, sizes: [[4, 4]] });
    expect(await userError(openDataset({ data: dir }))).toMatch(/one class folder \(only\)/);
  });

  test('flags that do not apply to image folders are refused', async () => {
    expect(await userError(openDataset({ data: gray, testData: 'x.csv' }))).toMatch(/--test-data x\.csv applies to CSV data only; --data .* is read as an image folder/);
  });
});

describe('memory', () => {
  test('above --max-memory the pixels are kept as bytes; far above, the data set is refused with what to do', async () => {
    // 210 images of 16×16×3 = 161,280 pixels: 1.2 MiB as float32 (×8 while training), 158 KiB as bytes.
    const small = await openDataset({ data: colour, maxMemoryBytes: 1024 ** 2 });
    expect(small.info.storage.storage).toBe('bytes');
    expect(small.train.images).toBeInstanceOf(Uint8Array);
    expect((await small.loadTest()).images).toBeInstanceOf(Uint8Array);
    const text = await userError(openDataset({ data: colour, maxMemoryBytes: 100_000 }));
    expect(text).toMatch(/too large for --max-memory 97\.7 KiB: 210 images of 16×16×3 need 158 KiB even as bytes .*Raise --max-memory \(e\.g\. --max-memory 1M\).*--image-size/);
  });
});
