/**
 * Image folders in the layout of Keras' `image_dataset_from_directory` and torchvision's
 * `ImageFolder`: one subfolder per class holding PNG or JPEG files (subfolders of a class folder
 * are walked too), either directly in the folder given to --data, or in `train/` with optional
 * `val/` (or `valid/`, `validation/`) and `test/` beside it.
 *
 *   pets/cat/001.png  pets/dog/002.jpg                       → one split: a test split is carved out
 *   pets/train/cat/…  pets/val/cat/…  pets/test/cat/…        → the given splits
 *
 * Class names are the class folders' names, sorted (label 0 is the first), as in Keras and
 * torchvision. Images are decoded with sharp (libvips) and resized — stretched, as Keras does — to
 * --image-size, or by default to the most common size of the training and validation images.
 * Grayscale stays one channel; if any training or validation image has colour, every image is
 * read as three (sRGB; alpha dropped, grayscale repeated). Files with other extensions are
 * ignored and counted; an image that cannot be decoded is a UserError naming it, or, with
 * --skip-bad, left out and listed.
 *
 * The test split's files are decoded when the folder is opened (so a broken test image fails
 * at the start, not after the search), but their pixels stay inside the returned closure.
 */
import { readdir, stat } from 'node:fs/promises';
import { extname, join, resolve } from 'node:path';
import sharp from 'sharp';
import { UserError } from '../errors.ts';
import { MAX_CLASSES } from './classes.ts';
import { formatInt } from '../util/format.ts';
import { carveTestSplit } from './split.ts';
import type { RawSplit } from './assemble.ts';

/** File extensions read as images (case-insensitive). */
export const IMAGE_EXTENSIONS: readonly string[] = ['.png', '.jpg', '.jpeg'];

/** Folder names of the splits, first name preferred in messages. */
export const SPLIT_FOLDER_NAMES = Object.freeze({
  train: ['train', 'training'],
  validation: ['val', 'valid', 'validation'],
  test: ['test', 'testing'],
});
type SplitName = keyof typeof SPLIT_FOLDER_NAMES;

export interface ImageFolderOptions {
  /** [height, width] to resize every image to; default the most common size of the training (and validation) images. */
  imageSize?: [number, number] | null;
  /** Leave out files that cannot be decoded (listed in the result) instead of failing. Default false. */
  skipBad?: boolean;
  /** Images decoded at once (sharp runs them on libuv's thread pool). Default 8. */
  concurrency?: number;
}

/** One image file and its class. */
interface Entry {
  path: string;
  label: number;
}

/** The scan of a folder: the files of each split, with labels. */
export interface FolderScan {
  root: string;
  classNames: string[];
  /** The folders each split was read from (absolute); `test` absent when carved. */
  folders: Partial<Record<SplitName, string>>;
  train: Entry[];
  validation: Entry[] | null;
  test: Entry[];
  testCarved: boolean;
  ignoredFiles: number;
}

export interface DecodedFolder {
  scan: FolderScan;
  shape: [number, number, number];
  /** How sizes were unified, for the report; null when every image already had the target size. */
  resized: string | null;
  train: RawSplit;
  validation: RawSplit | null;
  test: RawSplit;
  skipped: Array<{ path: string; reason: string }>;
}

/**
 * Lists the splits, classes and files of an image folder. With no test/ folder, a stratified
 * test split is carved out of the training files here (see carveTestSplit), before anything is
 * decoded.
 */
export async function scanImageFolder(dir: string): Promise<FolderScan> {
  const root = resolve(dir);
  const top = await subfolders(root, dir);
  const split = (name: SplitName) => top.find((f) => SPLIT_FOLDER_NAMES[name].includes(f.toLowerCase()));
  const trainName = split('train');
  const valName = split('validation');
  const testName = split('test');
  let ignoredFiles = 0;
  const folders: Partial<Record<SplitName, string>> = {};
  if (!trainName && (valName || testName)) {
    throw new UserError(
      `${root} (given to --data) has ${[valName, testName].filter(Boolean).map((n) => `${n}/`).join(' and ')} but no train/ folder: ` +
        'put the training images into train/<class>/ beside them, or put the class folders directly into the folder.',
    );
  }
  const trainDir = trainName ? join(root, trainName) : root;
  if (trainName) ignoredFiles += (await readdir(root, { withFileTypes: true })).filter((e) => e.isFile() && !e.name.startsWith('.')).length;
  folders.train = trainDir;
  const classNames = (await subfolders(trainDir, dir)).filter((name) => trainName !== undefined || !isSplitName(name)).sort();
  if (classNames.length === 0) {
    throw new UserError(
      `${trainDir} has no class folders. An image folder holds one subfolder per class with its PNG or JPEG files ` +
        `(e.g. ${join(trainDir, 'cat', '001.png')}), optionally inside train/, val/ and test/.`,
    );
  }
  if (classNames.length > MAX_CLASSES) throw new UserError(`${trainDir} has ${classNames.length} class folders; flowtune handles at most ${MAX_CLASSES} classes.`);
  if (classNames.length < 2) throw new UserError(`${trainDir} has one class folder (${classNames[0]}): a classifier needs at least two classes, one folder each.`);

  const listSplit = async (splitDir: string, role: string, mustHaveAll: boolean): Promise<Entry[]> => {
    const entries: Entry[] = [];
    const present = await subfolders(splitDir, dir);
    ignoredFiles += (await readdir(splitDir, { withFileTypes: true })).filter((e) => e.isFile() && !e.name.startsWith('.')).length;
    for (const name of present) {
      if (splitDir === root && isSplitName(name)) continue;
      const label = classNames.indexOf(name);
      if (label < 0) {
        throw new UserError(
          `${join(splitDir, name)}: the ${role} split has a class folder "${name}" that ${trainDir} does not have ` +
            `(its classes: ${classNames.join(', ')}). Every class needs training images; rename or remove the folder.`,
        );
      }
      const files = await imageFiles(join(splitDir, name));
      ignoredFiles += files.ignored;
      if (mustHaveAll && files.images.length === 0) {
        throw new UserError(`${join(splitDir, name)}: the class "${name}" has no PNG or JPEG images; add some, or remove the folder.`);
      }
      for (const path of files.images) entries.push({ path, label });
    }
    return entries;
  };

  const train = await listSplit(trainDir, 'training', true);
  let validation: Entry[] | null = null;
  if (valName) {
    folders.validation = join(root, valName);
    validation = await listSplit(folders.validation, 'validation', false);
    if (validation.length === 0) throw new UserError(`${folders.validation} holds no PNG or JPEG images in class folders; fill it or remove it.`);
  }
  let test: Entry[];
  let rest = train;
  let testCarved = false;
  if (testName) {
    folders.test = join(root, testName);
    test = await listSplit(folders.test, 'test', false);
    if (test.length === 0) throw new UserError(`${folders.test} holds no PNG or JPEG images in class folders; fill it or remove it.`);
  } else {
    const labels = Uint8Array.from(train, (e) => e.label);
    const carved = carveTestSplit(labels, classNames.length);
    test = Array.from(carved.test, (i) => train[i]);
    rest = Array.from(carved.rest, (i) => train[i]);
    testCarved = true;
  }
  return { root, classNames, folders, train: rest, validation, test, testCarved, ignoredFiles };
}

/**
 * Scans, checks and decodes an image folder: the test split first (a broken test image fails
 * before the rest is read), then validation and training. `plan` is called with the pixel
 * counts once the shape is known, before any pixel is decoded, so a data set too large for
 * memory is refused at once.
 */
export async function decodeImageFolder(dir: string, options: ImageFolderOptions = {}, plan?: (shape: [number, number, number], counts: { trainAndValidation: number; test: number }) => void): Promise<DecodedFolder> {
  const scan = await scanImageFolder(dir);
  const skipped: Array<{ path: string; reason: string }> = [];
  const concurrency = options.concurrency ?? 8;
  sharp.cache(false); // thousands of distinct files: libvips' operation cache only costs memory here

  // Headers only: sizes and colour, to choose the shape.
  const searchEntries = [...scan.train, ...(scan.validation ?? [])];
  const headers = new Map<string, { width: number; height: number; colour: boolean }>();
  const bad = new Set<string>();
  const fail = (path: string, error: unknown) => {
    const reason = decodeError(error);
    if (!options.skipBad) {
      throw new UserError(
        `${path}: cannot be decoded as an image (${reason}). Replace or remove the file, or pass --skip-bad to leave out such files (they are listed in the report).`,
      );
    }
    bad.add(path);
    skipped.push({ path, reason });
  };
  await inPool([...scan.test, ...searchEntries], concurrency, async (entry) => {
    try {
      const meta = await sharp(entry.path).metadata();
      if (!meta.width || !meta.height) throw new Error('no width or height in its header');
      const bands = (meta.channels ?? 1) - (meta.hasAlpha ? 1 : 0);
      headers.set(entry.path, { width: meta.width, height: meta.height, colour: bands >= 3 && meta.space !== 'b-w' && meta.space !== 'grey16' });
    } catch (error) {
      fail(entry.path, error);
    }
  });
  const usable = (entries: Entry[]) => entries.filter((e) => !bad.has(e.path));
  const sizes = new Map<string, number>();
  let colour = false;
  for (const entry of usable(searchEntries)) {
    const h = headers.get(entry.path)!;
    sizes.set(`${h.height}x${h.width}`, (sizes.get(`${h.height}x${h.width}`) ?? 0) + 1);
    if (h.colour) colour = true;
  }
  if (sizes.size === 0) throw new UserError(`${scan.root}: no training image could be decoded (${skipped.length} skipped).`);
  const common = [...sizes.entries()].sort((a, b) => b[1] - a[1] || area(b[0]) - area(a[0]) || a[0].localeCompare(b[0]))[0][0];
  const [height, width] = options.imageSize ?? (common.split('x').map(Number) as [number, number]);
  const channels = colour ? 3 : 1;
  const shape: [number, number, number] = [height, width, channels];
  const pixels = height * width * channels;
  plan?.(shape, { trainAndValidation: usable(searchEntries).length * pixels, test: usable(scan.test).length * pixels });

  let resizedCount = 0;
  const decodeSplit = async (entries: Entry[]): Promise<RawSplit> => {
    const list = usable(entries);
    const bytes = new Uint8Array(list.length * pixels);
    const ok = new Uint8Array(list.length);
    await inPool(list.map((entry, i) => ({ entry, i })), concurrency, async ({ entry, i }) => {
      const header = headers.get(entry.path)!;
      try {
        let image = sharp(entry.path, { failOn: 'error' });
        if (header.width !== width || header.height !== height) {
          image = image.resize(width, height, { fit: 'fill' });
          resizedCount++;
        }
        image = image.removeAlpha().toColourspace(channels === 1 ? 'b-w' : 'srgb');
        const { data, info } = await image.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
        if (info.width !== width || info.height !== height || info.channels !== channels || data.length !== pixels) {
          throw new Error(`decoded to ${info.width}×${info.height}×${info.channels} instead of ${width}×${height}×${channels}`);
        }
        bytes.set(data, i * pixels);
        ok[i] = 1;
      } catch (error) {
        fail(entry.path, error);
      }
    });
    return compact(bytes, Uint8Array.from(list, (e) => e.label), ok, pixels);
  };
  // The sealed test split first: a broken test image stops the study before anything else.
  const test = await decodeSplit(scan.test);
  const validation = scan.validation ? await decodeSplit(scan.validation) : null;
  const train = await decodeSplit(scan.train);
  for (const [label, name] of scan.classNames.entries()) {
    if (!train.labels.includes(label)) {
      throw new UserError(`${join(scan.folders.train!, name)}: every image of class "${name}" was left out as unreadable (${skipped.length} files skipped); the class has no training images.`);
    }
  }
  const distinct = sizes.size;
  const resized =
    resizedCount === 0
      ? null
      : `${formatInt(resizedCount)} images resized (stretched) to ${height}×${width}` +
        (options.imageSize ? ' (--image-size)' : ` (the most common size of the ${distinct} sizes among the training images)`);
  return { scan, shape, resized, train, validation, test, skipped: skipped.sort((a, b) => a.path.localeCompare(b.path)) };
}

function area(size: string): number {
  const [h, w] = size.split('x').map(Number);
  return h * w;
}

/** Drops the slots of images that failed (ok[i] = 0). */
function compact(bytes: Uint8Array, labels: Uint8Array, ok: Uint8Array, pixels: number): RawSplit {
  const keep = ok.reduce((a, b) => a + b, 0);
  if (keep === ok.length) return { bytes, labels, count: keep };
  const outBytes = new Uint8Array(keep * pixels);
  const outLabels = new Uint8Array(keep);
  let j = 0;
  for (let i = 0; i < ok.length; i++) {
    if (!ok[i]) continue;
    outBytes.set(bytes.subarray(i * pixels, (i + 1) * pixels), j * pixels);
    outLabels[j++] = labels[i];
  }
  return { bytes: outBytes, labels: outLabels, count: keep };
}

function isSplitName(name: string): boolean {
  return Object.values(SPLIT_FOLDER_NAMES).some((names) => names.includes(name.toLowerCase()));
}

/** Names of the non-hidden subfolders of `dir`, sorted. */
async function subfolders(dir: string, given: string): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (error) {
    const code = (error as { code?: string }).code;
    throw new UserError(`${dir} (from --data ${given}): ${code === 'ENOENT' ? 'no such folder' : code === 'ENOTDIR' ? 'not a folder' : (error as Error).message}.`);
  }
  const names: string[] = [];
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    if (e.isDirectory() || (e.isSymbolicLink() && (await stat(join(dir, e.name)).catch(() => null))?.isDirectory())) names.push(e.name);
  }
  return names.sort();
}

/** Image files under a class folder (recursively, sorted), and the count of other non-hidden files. */
async function imageFiles(dir: string): Promise<{ images: string[]; ignored: number }> {
  const images: string[] = [];
  let ignored = 0;
  const walk = async (folder: string): Promise<void> => {
    const entries = (await readdir(folder, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const path = join(folder, e.name);
      const kind = e.isSymbolicLink() ? await stat(path).catch(() => null) : e;
      if (kind?.isDirectory()) await walk(path);
      else if (kind?.isFile() && IMAGE_EXTENSIONS.includes(extname(e.name).toLowerCase())) images.push(path);
      else ignored++;
    }
  };
  await walk(dir);
  return { images, ignored };
}

/** Runs `work` over `items`, at most `limit` at a time; the first error stops the rest and is thrown. */
async function inPool<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed: unknown = null;
  const worker = async () => {
    while (failed === null && next < items.length) {
      const item = items[next++];
      try {
        await work(item);
      } catch (error) {
        failed ??= error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failed !== null) throw failed;
}

/** sharp's (libvips') message, first distinct lines only. */
function decodeError(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  const lines = [...new Set(text.split('\n').map((l) => l.trim()).filter(Boolean))];
  return lines.slice(0, 2).join('; ');
}
