/**
 * Opening a data set: Fashion-MNIST (checked against its official checksums) or any folder of
 * IDX files in the same layout (MNIST and relatives; structure checked, no checksums).
 *
 * The training set is loaded when the data set is opened; the test set is sealed behind
 * `loadTest()`, which only the final evaluation calls. Pixels are scaled to 0..1 into one
 * Float32Array per set, and each set is cached per resolved files for the life of the process,
 * so a second open (or a second loadTest) reads nothing and copies nothing.
 */
import { readFile, realpath } from 'node:fs/promises';
import { resolve } from 'node:path';
import { UserError } from '../errors.ts';
import type { ImageSet } from '../types.ts';
import {
  FASHION_CLASS_NAMES,
  FASHION_COUNTS,
  FASHION_IMAGE_SIZE,
  FASHION_SHA256,
  IDX_FILE_NAMES,
  IDX_ROLES,
  PROJECT_FASHION_DIR,
  SYSTEM_FASHION_DIR,
  findIdxFiles,
  locateFashion,
  type IdxFiles,
  type IdxRole,
  type LocateOptions,
} from './fashion.ts';
import { type IdxExpectation, formatInt, readIdxFile, readIdxHeader } from './idx.ts';

/** An opened data set. The test set is not read until `loadTest()` is called. */
export interface Dataset {
  /** 'fashion', or the folder as given to --data. */
  name: string;
  /** The folder the files are read from (absolute). */
  source: string;
  /** The four files, by role (absolute paths). */
  files: Readonly<IdxFiles>;
  /** Class names by label. */
  classNames: string[];
  /** The training set (before any hold-out split). */
  train: ImageSet;
  /** Number of test images, from the test files' headers (no test image is read). */
  testCount: number;
  /** Read the sealed test set. Only the final evaluation should call this. Cached like `train`. */
  loadTest(): Promise<ImageSet>;
}

export interface OpenDatasetOptions extends LocateOptions {
  /** 'fashion' (default) for Fashion-MNIST, or a folder of IDX files (--data DIR). `dataDir` and the download apply to 'fashion' only. */
  data?: string;
}

/** What one set (train or test) must look like. */
interface SetSpec {
  name: string;
  classNames: string[];
  images: IdxExpectation;
  labels: IdxExpectation;
}

const trainCache = new Map<string, Promise<ImageSet>>();
const testCache = new Map<string, Promise<ImageSet>>();

/** Open Fashion-MNIST (`data` 'fashion', the default) or a folder of IDX files. */
export async function openDataset(options: OpenDatasetOptions = {}): Promise<Dataset> {
  const data = options.data ?? 'fashion';
  if (data === 'fashion' || data === 'fashion-mnist') return loadFashion(options);
  return loadIdxFolder(data);
}

/** Find (see locateFashion for the order of places), check and load Fashion-MNIST. */
export async function loadFashion(options: LocateOptions = {}): Promise<Dataset> {
  const { folder, files } = await locateFashion(options);
  const fix = fashionFix(folder, Boolean(options.dataDir));
  const expect = (role: IdxRole, kind: 'images' | 'labels', part: 'train' | 'test'): IdxExpectation => ({
    kind,
    count: { value: FASHION_COUNTS[part], of: `Fashion-MNIST's ${part === 'train' ? 'training' : 'test'} set` },
    imageSize: { ...FASHION_IMAGE_SIZE, of: "Fashion-MNIST's" },
    classCount: FASHION_CLASS_NAMES.length,
    sha256: { value: FASHION_SHA256[role], of: `Fashion-MNIST's ${IDX_FILE_NAMES[role]}` },
    fix,
  });
  const classNames = [...FASHION_CLASS_NAMES];
  return openFolder('fashion', folder, files, {
    train: { name: 'fashion', classNames, images: expect('trainImages', 'images', 'train'), labels: expect('trainLabels', 'labels', 'train') },
    test: { name: 'fashion', classNames, images: expect('testImages', 'images', 'test'), labels: expect('testLabels', 'labels', 'test') },
  });
}

/**
 * Load any folder of IDX files in the Fashion-MNIST/MNIST layout (train-images-idx3-ubyte[.gz],
 * train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]).
 * Checks structure — magic numbers, dimensions consistent between train and test, counts agreeing
 * with the headers, the file lengths and between images and labels, labels < number of classes —
 * but no checksums. Class names are "0".."9", or the lines of `classes.txt` when the folder has one.
 */
export async function loadIdxFolder(dir: string): Promise<Dataset> {
  const folder = resolve(dir);
  const found = findIdxFiles(folder);
  if (found.missing.length > 0) {
    const what = found.folderExists
      ? `missing ${found.missing.map((r) => `${IDX_FILE_NAMES[r]}[.gz]`).join(', ')}`
      : 'no such folder';
    throw new UserError(
      `No IDX data set in ${folder} (given to --data): ${what}. --data takes 'fashion' or a folder holding the four files ` +
        `${IDX_ROLES.map((r) => IDX_FILE_NAMES[r]).join(', ')} (each gzip or plain, with or without .gz), ` +
        `and optionally classes.txt with one class name per line.`,
    );
  }
  const classNames = await readClassNames(folder);
  const classHint =
    classNames.source === 'default'
      ? `Without a classes.txt the classes are "0".."9"; for more classes, add ${resolve(folder, 'classes.txt')} with one class name per line`
      : `The classes are the ${classNames.names.length} lines of ${classNames.source}`;
  const fix = 'Replace it with a complete, uncorrupted copy.';
  const expect = (kind: 'images' | 'labels'): IdxExpectation => ({
    kind,
    allowChannels: true,
    classCount: classNames.names.length,
    classHint,
    fix,
  });
  const spec: SetSpec = { name: dir, classNames: classNames.names, images: expect('images'), labels: expect('labels') };
  return openFolder(dir, folder, found.files as IdxFiles, { train: spec, test: spec });
}

/** Forget every cached set (tests; or to free memory). */
export function clearDatasetCache(): void {
  trainCache.clear();
  testCache.clear();
}

async function openFolder(name: string, folder: string, files: IdxFiles, specs: { train: SetSpec; test: SetSpec }): Promise<Dataset> {
  const classNames = specs.train.classNames;
  // Check the test files' headers now (without reading them), so that a wrong test file fails
  // at the start of a study rather than at its end.
  const testImages = await readIdxHeader(files.testImages, specs.test.images);
  const testLabels = await readIdxHeader(files.testLabels, specs.test.labels);
  const testCount = checkPairing(files.testImages, testImages.dims, files.testLabels, testLabels.dims[0], specs.test.images.fix);
  const train = await cachedSet(trainCache, files.trainImages, files.trainLabels, specs.train);
  const trainShape = train.channels === 1 ? `${train.height}×${train.width}` : `${train.height}×${train.width}×${train.channels}`;
  const testShape = testImages.dims.slice(1).join('×');
  if (trainShape !== testShape) {
    throw new UserError(
      `${files.testImages}: its images are ${testShape}, but the training images (${files.trainImages}) are ${trainShape}: both sets must have the same image size. ${specs.test.images.fix ?? ''}`.trim(),
    );
  }
  const dataset: Dataset = {
    name,
    source: folder,
    files: Object.freeze({ ...files }),
    classNames: [...classNames],
    train,
    testCount,
    loadTest: () => cachedSet(testCache, files.testImages, files.testLabels, specs.test),
  };
  return Object.freeze(dataset);
}

/** The set for these files from the cache, or loaded (concurrent callers share one load). */
async function cachedSet(cache: Map<string, Promise<ImageSet>>, imagesPath: string, labelsPath: string, spec: SetSpec): Promise<ImageSet> {
  const key = [
    spec.images.sha256 ? 'checked' : 'structure',
    await realpath(imagesPath),
    await realpath(labelsPath),
    spec.classNames.join('\n'),
  ].join('\0');
  let pending = cache.get(key);
  if (!pending) {
    pending = loadSet(imagesPath, labelsPath, spec);
    cache.set(key, pending);
    pending.catch(() => cache.delete(key)); // a failed load is retried next time, not remembered
  }
  const set = await pending;
  // Same pixels under another name (the same folder given two ways): a new object, no copy.
  return set.name === spec.name ? set : { ...set, name: spec.name };
}

async function loadSet(imagesPath: string, labelsPath: string, spec: SetSpec): Promise<ImageSet> {
  // Labels first: small, so a broken labels file fails before 47 MB of images are decompressed.
  const labels = await readIdxFile(labelsPath, spec.labels);
  const images = await readIdxFile(imagesPath, spec.images);
  const count = checkPairing(imagesPath, images.dims, labelsPath, labels.dims[0], spec.images.fix);
  return {
    name: spec.name,
    images: toUnitFloats(images.data),
    labels: labels.data.slice(), // a copy, so the decompressed file can be freed
    count,
    height: images.dims[1],
    width: images.dims[2],
    channels: images.dims[3] ?? 1,
    classNames: [...spec.classNames],
  };
}

function checkPairing(imagesPath: string, imageDims: number[], labelsPath: string, labelCount: number, fix: string | undefined): number {
  if (imageDims[0] !== labelCount) {
    throw new UserError(
      `${imagesPath} holds ${formatInt(imageDims[0])} images but ${labelsPath} holds ${formatInt(labelCount)} labels: ` +
        `images and labels must pair one to one. ${fix ?? ''}`.trim(),
    );
  }
  return labelCount;
}

const UNIT = new Float32Array(256).map((_, i) => i / 255);

/** Bytes 0..255 to floats 0..1, into one new Float32Array. */
function toUnitFloats(bytes: Uint8Array): Float32Array {
  const out = new Float32Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) out[i] = UNIT[bytes[i]];
  return out;
}

async function readClassNames(folder: string): Promise<{ names: string[]; source: string }> {
  const path = resolve(folder, 'classes.txt');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ENOENT') {
      return { names: Array.from({ length: 10 }, (_, i) => String(i)), source: 'default' };
    }
    throw new UserError(`${path}: cannot be read (${(error as Error).message}).`);
  }
  const names = text.replace(/^\uFEFF/, '').split(/\r?\n/).map((line) => line.trim());
  while (names.length > 0 && names[names.length - 1] === '') names.pop();
  const blank = names.indexOf('');
  if (names.length === 0) throw new UserError(`${path}: is empty. Put one class name per line, in label order (line 1 names label 0), or delete it to use "0".."9".`);
  if (blank >= 0) throw new UserError(`${path}: line ${blank + 1} is blank. Put one class name per line, in label order (line 1 names label 0).`);
  if (names.length > 256) throw new UserError(`${path}: ${names.length} class names, but IDX labels are single bytes (at most 256 classes).`);
  const seen = new Map<string, number>();
  names.forEach((n, i) => {
    const first = seen.get(n);
    if (first !== undefined) throw new UserError(`${path}: class name "${n}" appears on lines ${first + 1} and ${i + 1}; class names must differ.`);
    seen.set(n, i);
  });
  return { names, source: path };
}

function fashionFix(folder: string, explicit: boolean): string {
  if (explicit) {
    return `Replace it with the official file, or drop --data-dir / FASHION_MNIST_DIR to use ${PROJECT_FASHION_DIR} or ${SYSTEM_FASHION_DIR}.`;
  }
  if (resolve(folder) === resolve(SYSTEM_FASHION_DIR)) {
    return `Reinstall Debian's package (\`apt-get install --reinstall dataset-fashion-mnist\`), or put the official files into ${PROJECT_FASHION_DIR}.`;
  }
  return `Delete it and run \`npm run setup\` (Debian's copy in ${SYSTEM_FASHION_DIR} is used once ${folder} lacks the file), or replace it with the official file.`;
}
