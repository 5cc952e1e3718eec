/**
 * CSV files in the Kaggle Fashion-MNIST layout: one image per row, `label,pixel1,…,pixelN`, pixels
 * whole numbers 0–255, row-major and channels last (for colour, R,G,B of the first pixel, then of
 * the second, …). A header row is recognised by its names; the label is the column named `label`
 * (or `class`, `target`), else the first. Labels are class numbers 0…K−1 (named by a
 * `classes.txt` beside the file, else "0"…) or class names (sorted, label 0 first). Plain or gzip.
 *
 * Images are square, from N — N = S² is S×S×1, N = 3·S² is S×S×3 — unless --image-size H×W says
 * otherwise (then N / (H·W) is the number of channels). The CSV's pixels are not resized.
 *
 * The test file: --test-data FILE, else the file named like the training file with "train"
 * replaced by "test" (fashion-mnist_train.csv → fashion-mnist_test.csv), else none and a test split
 * is carved out of the training rows. It is parsed and checked in full when the data set is opened,
 * and kept sealed in the closure of `loadTest()`.
 */
import { createReadStream, existsSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { createGunzip } from 'node:zlib';
import { UserError } from '../errors.ts';
import { type RawSplit, assembleDataset } from './assemble.ts';
import { MAX_CLASSES, checkDistinct, numberedClassNames, readClassesFile } from './classes.ts';
import type { Dataset } from './dataset.ts';
import { counted, formatInt } from '../util/format.ts';
import { DEFAULT_MAX_MEMORY, planMemory } from './memory.ts';
import { CARVED_TEST_MAX, CARVED_TEST_SHARE, carveTestSplit } from './split.ts';

export interface OpenCsvOptions {
  /** [height, width] of the images in each row; default square from the number of pixel columns. */
  imageSize?: [number, number] | null;
  /** The test file; default the training file's name with "train" → "test", when that file exists. */
  testData?: string | null;
  maxMemoryBytes?: number;
}

/** Header names taken as the label column (case-insensitive); otherwise the first column is the label. */
export const LABEL_COLUMN_NAMES: readonly string[] = ['label', 'labels', 'class', 'target'];

/** A parsed CSV file: the raw label texts, and the pixel bytes of every row. */
export interface CsvContent {
  path: string;
  header: string[] | null;
  columns: number;
  labelColumn: number;
  labels: string[];
  /** Line number (1-based) of each row, for messages. */
  lines: Uint32Array;
  bytes: Uint8Array;
  count: number;
}

/** The test file beside `trainPath` by name ("train" → "test", keeping the case), or null. */
export function testFileBeside(trainPath: string): string | null {
  const name = basename(trainPath);
  if (!/train/i.test(name)) return null;
  const swapped = name.replace(/train/gi, (m) => (m === 'TRAIN' ? 'TEST' : m[0] === 'T' ? 'Test' : 'test'));
  const candidate = join(dirname(trainPath), swapped);
  return existsSync(candidate) ? candidate : null;
}

export async function openCsv(file: string, options: OpenCsvOptions = {}): Promise<Dataset> {
  const trainPath = resolve(file);
  let testPath: string | null = null;
  if (options.testData) {
    testPath = resolve(options.testData);
    if (!existsSync(testPath)) throw new UserError(`${testPath} (given to --test-data): no such file. Name the labelled test CSV, or leave --test-data out to carve a test split out of ${trainPath}.`);
  } else {
    testPath = testFileBeside(trainPath);
  }
  const train = await parseCsv(trainPath);
  const pixelsPer = train.columns - 1;
  const shape = csvImageShape(trainPath, pixelsPer, options.imageSize ?? null);
  // The sealed test file is parsed and checked in full now: a broken one fails before any training.
  const test = testPath ? await parseCsv(testPath, train) : null;

  const classesFile = await readClassesFile(dirname(trainPath));
  const numeric = train.labels.every((l) => /^\d+$/.test(l));
  let classNames: string[];
  if (numeric) {
    const max = train.labels.reduce((m, l) => Math.max(m, Number(l)), 0);
    classNames = classesFile?.names ?? numberedClassNames(Math.max(2, max + 1));
    if (classNames.length > MAX_CLASSES) {
      throw new UserError(`${trainPath}: label ${max} means ${max + 1} classes; flowtune handles at most ${MAX_CLASSES}.`);
    }
  } else {
    classNames = classesFile?.names ?? [...new Set(train.labels)].sort();
    if (classNames.length > MAX_CLASSES) throw new UserError(`${trainPath}: ${classNames.length} distinct labels; flowtune handles at most ${MAX_CLASSES} classes.`);
    checkDistinct(classNames, (a, b) => `${trainPath}: class names ${a + 1} and ${b + 1} are equal`);
  }
  const hint = classesFile
    ? `The classes are the ${classNames.length} lines of ${classesFile.path}.`
    : numeric
      ? `The classes are 0–${classNames.length - 1}, from the training file's largest label; add ${join(dirname(trainPath), 'classes.txt')} with one class name per line to name them or to have more.`
      : `The classes are the ${classNames.length} labels of the training file: ${classNames.slice(0, 12).join(', ')}${classNames.length > 12 ? ', …' : ''}.`;
  const trainLabels = labelIndices(train, classNames, numeric, hint);
  const testLabels = test ? labelIndices(test, classNames, numeric, hint) : null;

  let trainSplit: RawSplit = { bytes: train.bytes, labels: trainLabels, count: train.count };
  let testSplit: RawSplit;
  if (test && testLabels) {
    testSplit = { bytes: test.bytes, labels: testLabels, count: test.count };
  } else {
    const carved = carveTestSplit(trainLabels, classNames.length);
    testSplit = pick(trainSplit, carved.test, pixelsPer);
    trainSplit = pick(trainSplit, carved.rest, pixelsPer);
  }
  const memory = planMemory(
    { trainAndValidation: trainSplit.count * pixelsPer, test: testSplit.count * pixelsPer },
    options.maxMemoryBytes ?? DEFAULT_MAX_MEMORY,
    `${formatInt(trainSplit.count + testSplit.count)} images of ${shape.join('×')}`,
  );
  return assembleDataset({
    name: file,
    format: 'csv',
    source: trainPath,
    files: testPath ? { train: trainPath, test: testPath } : { train: trainPath },
    classNames,
    shape,
    train: trainSplit,
    validation: null,
    test: testSplit,
    memory,
    info: {
      resized: null,
      validationFrom: null,
      testFrom: testPath
        ? `${testPath}${options.testData ? ' (--test-data)' : ' (found beside the training file by name)'}`
        : `carved out of ${trainPath} (no test file: none named by --test-data, and ${/train/i.test(basename(trainPath)) ? 'no file named like it with "train" → "test"' : 'its name has no "train" to swap for "test"'}): ` +
          `${Math.round(CARVED_TEST_SHARE * 1000) / 10} % of its rows (at most ${formatInt(CARVED_TEST_MAX)}), stratified by class, with a fixed seed, so every study of this file is tested on the same images`,
      testCarved: !testPath,
      skipped: [],
      ignoredFiles: 0,
    },
  });
}

/**
 * [height, width, channels] of N pixel columns: --image-size H×W gives N / (H·W) channels;
 * otherwise N = S² is S×S×1 and N = 3·S² is S×S×3.
 */
export function csvImageShape(path: string, pixels: number, imageSize: [number, number] | null): [number, number, number] {
  if (imageSize) {
    const [h, w] = imageSize;
    const channels = pixels / (h * w);
    if (!Number.isInteger(channels) || channels < 1) {
      throw new UserError(`${path}: ${formatInt(pixels)} pixel columns do not make images of ${h}×${w} (--image-size): that needs a multiple of ${formatInt(h * w)} columns (${h}×${w}×channels).`);
    }
    return [h, w, channels];
  }
  const side = Math.round(Math.sqrt(pixels));
  if (side * side === pixels) return [side, side, 1];
  const colourSide = Math.round(Math.sqrt(pixels / 3));
  if (colourSide * colourSide * 3 === pixels) return [colourSide, colourSide, 3];
  throw new UserError(
    `${path}: ${formatInt(pixels)} pixel columns are not a square grey image (S×S) nor a square colour image (S×S×3). Give the size with --image-size HxW (e.g. --image-size 24x32).`,
  );
}

/** The rows `indices` of a split (copies). */
function pick(split: RawSplit, indices: Uint32Array, pixels: number): RawSplit {
  const bytes = new Uint8Array(indices.length * pixels);
  const labels = new Uint8Array(indices.length);
  indices.forEach((row, i) => {
    bytes.set(split.bytes.subarray(row * pixels, (row + 1) * pixels), i * pixels);
    labels[i] = split.labels[row];
  });
  return { bytes, labels, count: indices.length };
}

function labelIndices(content: CsvContent, classNames: string[], numeric: boolean, hint: string): Uint8Array {
  const index = new Map(classNames.map((name, i) => [name, i]));
  const out = new Uint8Array(content.count);
  for (let row = 0; row < content.count; row++) {
    const text = content.labels[row];
    const label = numeric ? (/^\d+$/.test(text) ? Number(text) : -1) : (index.get(text) ?? -1);
    if (label < 0 || label >= classNames.length) {
      const bad = content.labels.filter((l) => (numeric ? !/^\d+$/.test(l) || Number(l) >= classNames.length : !index.has(l))).length;
      throw new UserError(
        `${content.path}: line ${content.lines[row]}: label "${text}" is ${numeric ? `out of range: there are ${classNames.length} classes, so labels must be 0–${classNames.length - 1}` : 'not one of the classes'} ` +
          `(${counted(bad, 'label')} like it). ${hint}`,
      );
    }
    out[row] = label;
  }
  return out;
}

/**
 * Reads a CSV file (plain or gzip) row by row. With `like`, the file must have its layout (the
 * same number of columns and label column): the test file of a training file.
 */
export async function parseCsv(path: string, like?: CsvContent): Promise<CsvContent> {
  const fail = (what: string): never => {
    throw new UserError(`${path}: ${what}`);
  };
  let gzip = false;
  try {
    const handle = await open(path, 'r');
    const head = Buffer.alloc(2);
    await handle.read(head, 0, 2, 0);
    await handle.close();
    gzip = head[0] === 0x1f && head[1] === 0x8b;
  } catch (error) {
    fail(`cannot be read (${(error as Error).message}).`);
  }
  const parser = new RowParser(path, like);
  const source = createReadStream(path);
  const stream = gzip ? source.pipe(createGunzip()) : source;
  let carry: Buffer | null = null;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      const buf: Buffer = carry && carry.length > 0 ? Buffer.concat([carry, chunk]) : chunk;
      let start = 0;
      for (let end = buf.indexOf(10, start); end >= 0; end = buf.indexOf(10, start)) {
        parser.line(buf, start, end);
        start = end + 1;
      }
      carry = Buffer.from(buf.subarray(start));
    }
  } catch (error) {
    if (error instanceof UserError) throw error;
    fail(`cannot be read${gzip ? ' (corrupt or truncated gzip data)' : ''}: ${(error as Error).message}. Replace it with a complete copy.`);
  }
  if (carry && carry.length > 0) parser.line(carry, 0, carry.length);
  return parser.finish();
}

class RowParser {
  private lineNumber = 0;
  private header: string[] | null = null;
  private columns = -1;
  private labelColumn = 0;
  private labels: string[] = [];
  private lines = new Uint32Array(1024);
  private bytes = new Uint8Array(0);
  private count = 0;

  constructor(
    private readonly path: string,
    private readonly like?: CsvContent,
  ) {}

  private fail(what: string): never {
    throw new UserError(`${this.path}: ${what}`);
  }

  line(buf: Buffer, start: number, end: number): void {
    this.lineNumber++;
    if (end > start && buf[end - 1] === 13) end--; // \r\n
    if (end === start) return; // blank line
    if (this.columns < 0) {
      if (this.first(buf.toString('utf8', start, end).replace(/^\uFEFF/, ''))) return;
    }
    this.row(buf, start, end);
  }

  /** The first non-blank line: a header (returns true) or the first row (sets the layout from it). */
  private first(text: string): boolean {
    const fields = text.split(',').map((f) => f.trim().replace(/^"(.*)"$/, '$1'));
    const nonNumeric = fields.filter((f) => !/^\d+$/.test(f)).length;
    const isHeader = nonNumeric > 1 || (fields.length > 1 && nonNumeric === fields.length);
    const columns = fields.length;
    let labelColumn = 0;
    if (isHeader) {
      const named = fields.findIndex((f) => LABEL_COLUMN_NAMES.includes(f.toLowerCase()));
      labelColumn = named >= 0 ? named : 0;
    }
    if (columns < 2) this.fail(`line ${this.lineNumber} has ${columns} column: a row needs a label and at least one pixel (label,pixel1,…,pixelN).`);
    if (this.like) {
      if (columns === this.like.columns - 1) {
        this.fail(
          `has ${columns} columns but the training file ${this.like.path} has ${this.like.columns}: it looks like a test file without labels ` +
            '(as in Kaggle competitions), which cannot measure accuracy. Name a labelled test file with --test-data, or leave it out and a test split is carved out of the training file.',
        );
      }
      if (columns !== this.like.columns) this.fail(`has ${columns} columns but the training file ${this.like.path} has ${this.like.columns}: both must hold the same images (label,pixel1,…).`);
      if (labelColumn !== this.like.labelColumn && isHeader) {
        this.fail(`its label is column ${labelColumn + 1} but the training file's is column ${this.like.labelColumn + 1}.`);
      }
      labelColumn = this.like.labelColumn;
    }
    this.columns = columns;
    this.labelColumn = labelColumn;
    if (isHeader) this.header = fields;
    return isHeader;
  }

  private row(buf: Buffer, start: number, end: number): void {
    const pixels = this.columns - 1;
    if ((this.count + 1) * pixels > this.bytes.length) {
      const grown = new Uint8Array(Math.max(1024 * pixels, this.bytes.length * 2));
      grown.set(this.bytes);
      this.bytes = grown;
    }
    if (this.count >= this.lines.length) {
      const grown = new Uint32Array(this.lines.length * 2);
      grown.set(this.lines);
      this.lines = grown;
    }
    let column = 0;
    let out = this.count * pixels;
    let fieldStart = start;
    for (let i = start; i <= end; i++) {
      if (i < end && buf[i] !== 44) continue; // ','
      if (column >= this.columns) this.fail(`line ${this.lineNumber} has more than ${this.columns} columns (the ${this.header ? 'header' : 'first row'} has ${this.columns}).`);
      if (column === this.labelColumn) {
        this.labels.push(buf.toString('utf8', fieldStart, i).trim().replace(/^"(.*)"$/, '$1'));
      } else {
        let value = 0;
        let digits = 0;
        for (let j = fieldStart; j < i; j++) {
          const c = buf[j];
          if (c >= 48 && c <= 57) {
            value = value * 10 + (c - 48);
            digits++;
          } else if (c !== 32 && c !== 34 && c !== 9) {
            digits = -1;
            break;
          }
        }
        if (digits <= 0 || value > 255) {
          const text = buf.toString('utf8', fieldStart, i).trim();
          const name = this.header ? this.header[column] : `column ${column + 1}`;
          this.fail(`line ${this.lineNumber}, ${name}: "${text}" is not a pixel value: pixels must be whole numbers from 0 to 255.`);
        }
        this.bytes[out++] = value;
      }
      column++;
      fieldStart = i + 1;
    }
    if (column !== this.columns) this.fail(`line ${this.lineNumber} has ${column} columns, but the ${this.header ? 'header' : 'first row'} has ${this.columns}.`);
    this.lines[this.count] = this.lineNumber;
    this.count++;
  }

  finish(): CsvContent {
    if (this.count === 0) this.fail(this.columns < 0 ? 'is empty.' : 'has a header but no rows.');
    return {
      path: this.path,
      header: this.header,
      columns: this.columns,
      labelColumn: this.labelColumn,
      labels: this.labels,
      lines: this.lines.slice(0, this.count),
      bytes: this.bytes.slice(0, this.count * (this.columns - 1)),
      count: this.count,
    };
  }
}
