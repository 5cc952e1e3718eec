/**
 * Opening a data set given to --data: Fashion-MNIST (checked against its official checksums), a
 * folder of IDX files in the same layout (MNIST and relatives; structure checked, no checksums),
 * an image folder (class subfolders of PNG/JPEG files, image-folder.ts) or a CSV file in the
 * Kaggle layout (csv.ts).
 *
 * The training set is loaded when the data set is opened; the test set is sealed behind
 * `loadTest()`, which only the final evaluation calls. It is nevertheless CHECKED when the data
 * set is opened — every file read in full: header, counts, label range, checksum (Fashion-MNIST),
 * decodable images — so that a corrupt test file stops a study within seconds, before any
 * training; what is read for the check is dropped (IDX) or kept inside the closure (images, CSV).
 * Pixels are scaled to 0..1 into one Float32Array per set, or kept as bytes above --max-memory
 * (memory.ts). IDX sets are cached per resolved files for the life of the process, so a second
 * open (or a second loadTest) reads nothing and copies nothing.
 */
import { readdirSync, statSync } from 'node:fs';
import { stat, realpath } from 'node:fs/promises';
import { resolve } from 'node:path';
import { UserError } from '../errors.ts';
import type { ImageSet } from './image-set.ts';
import { countLabels } from './assemble.ts';
import { numberedClassNames, readClassesFile } from './classes.ts';
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
import { type IdxExpectation, readIdxFile, readIdxHeader } from './idx.ts';
import { formatInt } from '../util/format.ts';
import { DEFAULT_MAX_MEMORY, type MemoryPlan, type PixelStorage, planMemory, storePixels } from './memory.ts';

/** What --data named: Fashion-MNIST, a folder of IDX files, an image folder, or a CSV file. */
export type DataFormat = 'fashion' | 'idx' | 'folder' | 'csv';

/** How the data set was put together, for the report (see summary.ts). */
export interface DatasetInfo {
  format: DataFormat;
  /** How image sizes were unified, or null when nothing was resized. */
  resized: string | null;
  /** Where a given validation split comes from (e.g. "the val/ folder"), or null: held out by the study. */
  validationFrom: string | null;
  /** Where the sealed test split comes from. */
  testFrom: string;
  /** True when the data had no test split and one was carved out (stratified, sealed). */
  testCarved: boolean;
  /** Files left out with --skip-bad, and why. */
  skipped: Array<{ path: string; reason: string }>;
  /** Files in image folders that are not PNG or JPEG. */
  ignoredFiles: number;
  storage: MemoryPlan;
  /** Test images per class: counted when the test split is checked; nothing else of it leaves loadTest(). */
  testClassCounts: number[];
}

/** An opened data set. The test set is checked at open but handed out only by `loadTest()`. */
export interface Dataset {
  /** 'fashion', or the folder or file as given to --data. */
  name: string;
  format: DataFormat;
  /** The folder (or CSV file) the data is read from (absolute). */
  source: string;
  /** The files read, by role: the four IDX files; train/val/test folders; train/test CSV files (absolute paths). */
  files: Readonly<Record<string, string>>;
  /** Class names by label. */
  classNames: string[];
  /** The training set (before any hold-out split). */
  train: ImageSet;
  /** A validation split given with the data (an image folder's val/), or null: the study holds one out of `train`. */
  validation: ImageSet | null;
  /** Number of test images. */
  testCount: number;
  /** How the data set was put together (format, test origin, skipped files, storage), for the report. */
  info: Readonly<DatasetInfo>;
  /** The sealed test set. Only the final evaluation should call this. Cached. */
  loadTest(): Promise<ImageSet>;
}

export interface OpenDatasetOptions extends LocateOptions {
  /**
   * 'fashion' (default) for Fashion-MNIST, a folder of IDX files, an image folder, or a CSV file
   * (--data PATH). `dataDir` and the download apply to 'fashion' only.
   */
  data?: string;
  /** [height, width]: image folders are resized to it; CSV rows are laid out as it. Default: from the data. */
  imageSize?: [number, number] | null;
  /** The test CSV file (--test-data), when not found beside the training file by name. */
  testData?: string | null;
  /** Leave out images that cannot be decoded (listed in `info.skipped`). Default false. */
  skipBad?: boolean;
  /** --max-memory in bytes. Default DEFAULT_MAX_MEMORY. */
  maxMemoryBytes?: number;
}

/** What one set (train or test) must look like. */
interface SetSpec {
  name: string;
  classNames: string[];
  images: IdxExpectation;
  labels: IdxExpectation;
}

const trainCache = new Map<string, Promise<LoadedSet>>();
const testCache = new Map<string, Promise<LoadedSet>>();

/**
 * What `--data` names, without reading it: 'fashion'; 'csv' for a .csv or .csv.gz file; 'folder'
 * for a folder with subfolders and no IDX file; else 'idx' (a missing or empty folder too, so that
 * its message lists what --data takes).
 */
export function detectFormat(data: string): DataFormat {
  if (data === 'fashion' || data === 'fashion-mnist') return 'fashion';
  const path = resolve(data);
  const info = statSync(path, { throwIfNoEntry: false });
  if (info?.isFile()) return 'csv';
  if (info?.isDirectory() && findIdxFiles(path).missing.length === IDX_ROLES.length && hasSubfolders(path)) return 'folder';
  return 'idx';
}

/** Open the data set `data` names: Fashion-MNIST ('fashion', the default), a folder of IDX files, an image folder, or a CSV file. */
export async function openDataset(options: OpenDatasetOptions = {}): Promise<Dataset> {
  const data = options.data ?? 'fashion';
  const limit = options.maxMemoryBytes ?? DEFAULT_MAX_MEMORY;
  const format = detectFormat(data);
  const onlyFor = (flag: string, formats: string, note: string) =>
    new UserError(`${flag} applies to ${formats} only; --data ${data} is read as ${FORMAT_WORDS[format]}. ${note}`);
  if (options.testData && format !== 'csv') throw onlyFor(`--test-data ${options.testData}`, 'CSV data', 'An image folder takes a test/ folder beside train/; IDX folders their t10k files.');
  if (options.skipBad && format !== 'folder') throw onlyFor('--skip-bad', 'image folders', 'In IDX and CSV files every image is checked, and a broken file is an error.');
  if (options.imageSize && (format === 'idx' || format === 'fashion')) throw onlyFor('--image-size', 'image folders and CSV files', 'IDX images keep their size.');
  switch (format) {
    case 'fashion':
      return loadFashion({ ...options, maxMemoryBytes: limit });
    case 'csv': {
      if (!/\.csv(\.gz)?$/i.test(data)) {
        throw new UserError(`${resolve(data)} (given to --data) is a file but not a .csv file. --data takes 'fashion', a folder of IDX files, an image folder (one subfolder per class), or a CSV file (label,pixel1,…).`);
      }
      const { openCsv } = await import('./csv.ts'); // (the image and CSV readers load only when used)
      return openCsv(data, { imageSize: options.imageSize, testData: options.testData, maxMemoryBytes: limit });
    }
    case 'folder': {
      const { openImageFolder } = await import('./open-folder.ts');
      return openImageFolder(data, { imageSize: options.imageSize, skipBad: options.skipBad, maxMemoryBytes: limit });
    }
    case 'idx':
      return loadIdxFolder(data, { maxMemoryBytes: limit });
  }
}

const FORMAT_WORDS: Record<DataFormat, string> = {
  fashion: 'Fashion-MNIST',
  idx: 'a folder of IDX files',
  folder: 'an image folder',
  csv: 'a CSV file',
};

/** Whether `dir` has subfolders (class or split folders of an image folder). */
function hasSubfolders(dir: string): boolean {
  const entries = (() => {
    try {
      return readdirSync(dir, { withFileTypes: true });
    } catch {
      return [];
    }
  })();
  return entries.some((e) => !e.name.startsWith('.') && (e.isDirectory() || (e.isSymbolicLink() && statSync(resolve(dir, e.name), { throwIfNoEntry: false })?.isDirectory() === true)));
}

/** Find (see locateFashion for the order of places), check and load Fashion-MNIST. */
export async function loadFashion(options: LocateOptions & { maxMemoryBytes?: number } = {}): Promise<Dataset> {
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
  return openFolder('fashion', 'fashion', folder, files, options.maxMemoryBytes ?? DEFAULT_MAX_MEMORY, {
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
export async function loadIdxFolder(dir: string, options: { maxMemoryBytes?: number } = {}): Promise<Dataset> {
  const folder = resolve(dir);
  const found = findIdxFiles(folder);
  if (found.missing.length > 0) {
    const what = found.folderExists
      ? `missing ${found.missing.map((r) => `${IDX_FILE_NAMES[r]}[.gz]`).join(', ')}`
      : 'no such folder';
    throw new UserError(
      `No IDX data set in ${folder} (given to --data): ${what}. --data takes 'fashion'; a folder holding the four files ` +
        `${IDX_ROLES.map((r) => IDX_FILE_NAMES[r]).join(', ')} (each gzip or plain, with or without .gz, ` +
        `and optionally classes.txt with one class name per line); an image folder with one subfolder of PNG or JPEG files per class ` +
        `(optionally inside train/, val/ and test/); or a CSV file (label,pixel1,…,pixelN).`,
    );
  }
  const classesFile = await readClassesFile(folder);
  const classNames = classesFile ? { names: classesFile.names, source: classesFile.path } : { names: numberedClassNames(10), source: 'default' };
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
  return openFolder(dir, 'idx', folder, found.files as IdxFiles, options.maxMemoryBytes ?? DEFAULT_MAX_MEMORY, { train: spec, test: spec });
}

/** Forget every cached set (tests; or to free memory). */
export function clearDatasetCache(): void {
  trainCache.clear();
  testCache.clear();
  sealedChecks.clear();
}

async function openFolder(
  name: string,
  format: 'fashion' | 'idx',
  folder: string,
  files: IdxFiles,
  maxMemoryBytes: number,
  specs: { train: SetSpec; test: SetSpec },
): Promise<Dataset> {
  const classNames = specs.train.classNames;
  // 1. Every header (magic, dimensions, counts, image size): cheap, and the first thing wrong is named.
  const testImagesHeader = await readIdxHeader(files.testImages, specs.test.images);
  const testLabelsHeader = await readIdxHeader(files.testLabels, specs.test.labels);
  const pixelsPer = testImagesHeader.dims.slice(1).reduce((a, b) => a * b, 1);
  const trainStorage = { limitBytes: maxMemoryBytes, testPixels: testLabelsHeader.dims[0] * pixelsPer };
  if (!trainCache.has(await setKey(files.trainImages, files.trainLabels, specs.train, trainStorage))) {
    await readIdxHeader(files.trainLabels, specs.train.labels);
    await readIdxHeader(files.trainImages, specs.train.images);
  }
  // 2. The sealed test files in full (issue 9): length, pairing, label range and checksum, so that a
  //    corrupt test file fails at the start of a study, not after its search. Nothing read is kept
  //    but the count and the class counts (for the report).
  const sealed = await checkSealedTest(files, specs.test);
  // 3. The training set (cached), its storage planned from its size and the test set's.
  const { set: train, memory } = await cachedSet(trainCache, files.trainImages, files.trainLabels, specs.train, trainStorage);
  const trainShape = train.channels === 1 ? `${train.height}×${train.width}` : `${train.height}×${train.width}×${train.channels}`;
  const testShape = testImagesHeader.dims.slice(1).join('×');
  if (trainShape !== testShape) {
    throw new UserError(
      `${files.testImages}: its images are ${testShape}, but the training images (${files.trainImages}) are ${trainShape}: both sets must have the same image size. ${specs.test.images.fix ?? ''}`.trim(),
    );
  }
  const info: DatasetInfo = {
    format,
    resized: null,
    validationFrom: null,
    testFrom: `${files.testImages} and ${files.testLabels}`,
    testCarved: false,
    skipped: [],
    ignoredFiles: 0,
    storage: memory!,
    testClassCounts: [...sealed.classCounts],
  };
  const dataset: Dataset = {
    name,
    format,
    source: folder,
    files: Object.freeze({ ...files }),
    classNames: [...classNames],
    train,
    validation: null,
    testCount: sealed.count,
    info: Object.freeze(info),
    loadTest: async () => (await cachedSet(testCache, files.testImages, files.testLabels, specs.test, memory!.storage)).set,
  };
  return Object.freeze(dataset);
}

/** Test files already checked in this process, by path, size and modification time (a second open reads nothing). */
const sealedChecks = new Map<string, Promise<{ count: number; classCounts: number[] }>>();

/** Reads the test files in full and checks them (see parseIdx); returns only their count and class counts. */
async function checkSealedTest(files: IdxFiles, spec: SetSpec): Promise<{ count: number; classCounts: number[] }> {
  const identity = async (path: string) => {
    const info = await stat(path);
    return `${await realpath(path)}:${info.size}:${info.mtimeMs}`;
  };
  const key = [spec.images.sha256 ? 'checked' : 'structure', await identity(files.testImages), await identity(files.testLabels), spec.classNames.join('\n')].join('\0');
  let pending = sealedChecks.get(key);
  if (!pending) {
    pending = (async () => {
      const labels = await readIdxFile(files.testLabels, spec.labels);
      const classCounts = countLabels(labels.data, spec.classNames.length);
      const images = await readIdxFile(files.testImages, spec.images);
      const count = checkPairing(files.testImages, images.dims, files.testLabels, labels.dims[0], spec.images.fix);
      return { count, classCounts };
    })();
    sealedChecks.set(key, pending);
    pending.catch(() => sealedChecks.delete(key));
  }
  return pending;
}

/** A loaded set and, for a training set, the memory plan that chose its storage. */
interface LoadedSet {
  set: ImageSet;
  memory: MemoryPlan | null;
}

/**
 * The set for these files from the cache, or loaded (concurrent callers share one load).
 * `storage` is fixed (the test set: the training set's), or planned once the set's size is known.
 */
async function cachedSet(
  cache: Map<string, Promise<LoadedSet>>,
  imagesPath: string,
  labelsPath: string,
  spec: SetSpec,
  storage: PixelStorage | { limitBytes: number; testPixels: number },
): Promise<LoadedSet> {
  const key = await setKey(imagesPath, labelsPath, spec, storage);
  let pending = cache.get(key);
  if (!pending) {
    pending = loadSet(imagesPath, labelsPath, spec, storage);
    cache.set(key, pending);
    pending.catch(() => cache.delete(key)); // a failed load is retried next time, not remembered
  }
  const loaded = await pending;
  // Same pixels under another name (the same folder given two ways): a new object, no copy.
  return loaded.set.name === spec.name ? loaded : { ...loaded, set: { ...loaded.set, name: spec.name } };
}

async function setKey(imagesPath: string, labelsPath: string, spec: SetSpec, storage: PixelStorage | { limitBytes: number; testPixels: number }): Promise<string> {
  return [
    spec.images.sha256 ? 'checked' : 'structure',
    typeof storage === 'string' ? storage : `${storage.limitBytes}:${storage.testPixels}`,
    await realpath(imagesPath),
    await realpath(labelsPath),
    spec.classNames.join('\n'),
  ].join('\0');
}

async function loadSet(imagesPath: string, labelsPath: string, spec: SetSpec, storage: PixelStorage | { limitBytes: number; testPixels: number }): Promise<LoadedSet> {
  // Labels first: small, so a broken labels file fails before 47 MB of images are decompressed.
  const labels = await readIdxFile(labelsPath, spec.labels);
  const images = await readIdxFile(imagesPath, spec.images);
  const count = checkPairing(imagesPath, images.dims, labelsPath, labels.dims[0], spec.images.fix);
  const pixels = images.data.length;
  const memory =
    typeof storage === 'string'
      ? null
      : planMemory({ trainAndValidation: pixels, test: storage.testPixels }, storage.limitBytes, `${formatInt(count)} training images of ${images.dims.slice(1).join('×')} and the test images`);
  const kind = memory ? memory.storage : (storage as PixelStorage);
  return {
    set: {
      name: spec.name,
      images: kind === 'bytes' ? images.data.slice() : storePixels(images.data, kind), // a copy either way, so the decompressed file can be freed
      labels: labels.data.slice(),
      count,
      height: images.dims[1],
      width: images.dims[2],
      channels: images.dims[3] ?? 1,
      classNames: [...spec.classNames],
    },
    memory,
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

function fashionFix(folder: string, explicit: boolean): string {
  if (explicit) {
    return `Replace it with the official file, or drop --data-dir / FASHION_MNIST_DIR to use ${PROJECT_FASHION_DIR} or ${SYSTEM_FASHION_DIR}.`;
  }
  if (resolve(folder) === resolve(SYSTEM_FASHION_DIR)) {
    return `Reinstall Debian's package (\`apt-get install --reinstall dataset-fashion-mnist\`), or put the official files into ${PROJECT_FASHION_DIR}.`;
  }
  return `Delete it and run \`npm run setup\` (Debian's copy in ${SYSTEM_FASHION_DIR} is used once ${folder} lacks the file), or replace it with the official file.`;
}
