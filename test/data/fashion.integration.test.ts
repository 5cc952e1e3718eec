/**
 * Loads the real Fashion-MNIST files of Debian's dataset-fashion-mnist (`npm run setup` installs
 * it). Skipped, with the reason, only when that folder is absent.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { UserError } from '../../src/errors.ts';
import { type Dataset, openDataset } from '../../src/data/dataset.ts';
import { FASHION_CLASS_NAMES, FASHION_SHA256, IDX_FILE_NAMES, IDX_ROLES, SYSTEM_FASHION_DIR } from '../../src/data/fashion.ts';
import { encodeIdx } from '../../src/data/idx.ts';
import { classCounts, fullView, holdoutSplit } from '../../src/data/split.ts';

const present = IDX_ROLES.every((role) => existsSync(join(SYSTEM_FASHION_DIR, `${IDX_FILE_NAMES[role]}.gz`)));
if (!present) {
  console.warn(`Skipping the Fashion-MNIST integration tests: ${SYSTEM_FASHION_DIR} does not hold the four files (run \`npm run setup\` to install Debian's dataset-fashion-mnist).`);
}

describe.skipIf(!present)(`real Fashion-MNIST from ${SYSTEM_FASHION_DIR}`, () => {
  let scratch: string;
  let ds: Dataset;
  // Point the project folder at an empty place, so the Debian copy is what is read.
  const options = () => ({ projectDir: join(scratch, 'no-project-data'), download: false });

  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'flowtune-fashion-'));
    ds = await openDataset({ data: 'fashion', ...options() });
  });
  afterAll(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  test('the hard-coded checksums are those of the decompressed Debian files', async () => {
    for (const role of IDX_ROLES) {
      const content = gunzipSync(await readFile(join(SYSTEM_FASHION_DIR, `${IDX_FILE_NAMES[role]}.gz`)));
      expect(createHash('sha256').update(content).digest('hex'), role).toBe(FASHION_SHA256[role]);
    }
  });

  test('the training set: 60,000 images of 28×28×1 scaled to 0..1, 6,000 per class, the ten class names', () => {
    expect(ds.name).toBe('fashion');
    expect(ds.source).toBe(SYSTEM_FASHION_DIR);
    expect(ds.classNames).toEqual([...FASHION_CLASS_NAMES]);
    expect(ds.classNames).toEqual(['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot']);
    const { train } = ds;
    expect([train.count, train.height, train.width, train.channels]).toEqual([60_000, 28, 28, 1]);
    expect(train.images instanceof Float32Array).toBe(true);
    expect(train.images.length).toBe(60_000 * 784);
    let min = Infinity;
    let max = -Infinity;
    const { images } = train;
    for (let i = 0; i < images.length; i++) {
      if (images[i] < min) min = images[i];
      if (images[i] > max) max = images[i];
    }
    expect([min, max]).toEqual([0, 1]);
    expect(classCounts(fullView(train))).toEqual(new Array(10).fill(6000));
    expect(ds.testCount).toBe(10_000);
  });

  test('the training set is loaded once per process: a second open, by any route, returns the same arrays', async () => {
    // The same objects prove nothing was read or copied again (no timing: the machines are shared).
    const again = await openDataset({ data: 'fashion', ...options() });
    expect(again.train === ds.train, 'same ImageSet object').toBe(true); // booleans: a failing diff of 47M floats would hang
    const explicit = await openDataset({ data: 'fashion', dataDir: SYSTEM_FASHION_DIR });
    expect(explicit.train === ds.train, 'same ImageSet object via --data-dir').toBe(true);
  });

  test('the sealed test set: 10,000 images, 1,000 per class, read by loadTest() and cached', async () => {
    const testSet = await ds.loadTest();
    expect([testSet.count, testSet.height, testSet.width]).toEqual([10_000, 28, 28]);
    expect(testSet.images.length).toBe(10_000 * 784);
    expect(classCounts(fullView(testSet))).toEqual(new Array(10).fill(1000));
    expect(testSet.images === ds.train.images).toBe(false);
    expect((await ds.loadTest()) === testSet, 'loadTest() cached').toBe(true);
  });

  test('the default hold-out: 50,000 training and 10,000 validation images, 5,000 and 1,000 per class', () => {
    const { train, validation } = holdoutSplit(ds.train, { validationSize: 10_000, seed: 0 });
    expect(classCounts(train)).toEqual(new Array(10).fill(5000));
    expect(classCounts(validation)).toEqual(new Array(10).fill(1000));
  });

  test('a well-formed file that is not the official one is refused by its checksum, naming the file', async () => {
    const dir = join(scratch, 'altered');
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir);
    for (const role of IDX_ROLES) {
      if (role !== 'trainLabels') await symlink(join(SYSTEM_FASHION_DIR, `${IDX_FILE_NAMES[role]}.gz`), join(dir, `${IDX_FILE_NAMES[role]}.gz`));
    }
    const labels = join(dir, IDX_FILE_NAMES.trainLabels); // plain, 60,000 valid labels, but not the real ones
    await writeFile(labels, encodeIdx([60_000], Uint8Array.from({ length: 60_000 }, (_, i) => i % 10)));
    const error = await openDataset({ data: 'fashion', dataDir: dir }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserError);
    expect((error as UserError).message).toMatch(
      new RegExp(`^${labels}: checksum mismatch: the SHA-256 of its decompressed content is [0-9a-f]{64}, but Fashion-MNIST's train-labels-idx1-ubyte has ${FASHION_SHA256.trainLabels}\\.`),
    );
    expect((error as UserError).message).toContain('Replace it with the official file');
  });
});
