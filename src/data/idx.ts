/**
 * Reading IDX files (the format of MNIST, Fashion-MNIST and their relatives), gzip or plain.
 *
 * An IDX file is a 4-byte magic number — two zero bytes, a data-type byte (0x08 = unsigned byte,
 * the only type these data sets use) and the number of dimensions — then one big-endian uint32
 * per dimension, then the data, row-major. Images: [count, rows, cols] (magic 2051) or
 * [count, rows, cols, channels]; labels: [count] (magic 2049).
 *
 * Every problem with a file is a UserError that names the file, says what is wrong, and says
 * what to do (`fix`, supplied by the caller who knows where the file came from).
 */
import { createHash } from 'node:crypto';
import { open, readFile, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { constants as zlibConstants, gunzip, gunzipSync, gzipSync } from 'node:zlib';
import { UserError } from '../errors.ts';
import { counted, formatInt } from '../util/format.ts';

const gunzipAsync = promisify(gunzip);

/** Magic number of an IDX file of unsigned bytes with 3 dimensions: images [count, rows, cols]. */
export const IDX_IMAGES_MAGIC = 2051;
/** Magic number of an IDX file of unsigned bytes with 1 dimension: labels [count]. */
export const IDX_LABELS_MAGIC = 2049;
/** Magic number of 4-dimensional unsigned-byte images [count, rows, cols, channels]. */
export const IDX_IMAGES4_MAGIC = 2052;

const DEFAULT_FIX = 'Replace it with a complete, uncorrupted copy.';

export type IdxKind = 'images' | 'labels';

/** What a file must be. Every field but `kind` is optional: absent means "not checked". */
export interface IdxExpectation {
  /** Images (3 or 4 dimensions) or labels (1 dimension). */
  kind: IdxKind;
  /** Allow 4-dimensional images [count, rows, cols, channels]. Default false (3 dimensions only). */
  allowChannels?: boolean;
  /** Exact item count, with the name of what has that many (e.g. "Fashion-MNIST's training set"). */
  count?: { value: number; of: string };
  /** Exact [rows, cols] of every image, with a name for the message. */
  imageSize?: { rows: number; cols: number; of: string };
  /** Labels must be < this; `classHint` is appended to an out-of-range message. */
  classCount?: number;
  classHint?: string;
  /** Expected SHA-256 (hex) of the decompressed content, with the name of the data set. */
  sha256?: { value: string; of: string };
  /** What to do about a broken file; appended to every message. Default: replace it. */
  fix?: string;
}

/** The parsed header: the dimensions, count first. */
export interface IdxHeader {
  magic: number;
  dims: number[];
  /** Bytes taken by the magic number and the dimensions. */
  headerBytes: number;
}

export interface IdxContent extends IdxHeader {
  /** The data after the header (a view into the decompressed file: copy what you keep). */
  data: Uint8Array;
  /** SHA-256 (hex) of the whole decompressed file, header included. */
  sha256: string;
}

/** Whether bytes start with the gzip signature (the extension is not trusted: browsers unpack .gz). */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Read a file and decompress it when it is gzip. File-system and gzip problems are UserErrors. */
export async function readMaybeGzip(path: string, fix = DEFAULT_FIX): Promise<Uint8Array> {
  let raw: Buffer;
  try {
    raw = await readFile(path);
  } catch (error) {
    throw new UserError(`${path}: cannot be read (${describe(error)}). ${fix}`);
  }
  if (!isGzip(raw)) return raw;
  try {
    return markGzip(await gunzipAsync(raw));
  } catch (error) {
    throw new UserError(`${path}: corrupt or truncated gzip data (${describe(error)}). ${fix}`);
  }
}

const decompressed = new WeakSet<Uint8Array>();
function markGzip(bytes: Uint8Array): Uint8Array {
  decompressed.add(bytes);
  return bytes;
}

/** Read, decompress, parse and check one IDX file against `expect`. */
export async function readIdxFile(path: string, expect: IdxExpectation): Promise<IdxContent> {
  const bytes = await readMaybeGzip(path, expect.fix);
  return parseIdx(path, bytes, expect);
}

/**
 * Parse and check an IDX file already in memory. `path` is only used in messages.
 * Checks, in order: header, magic number, dimensions, length against the header, the expected
 * count and image size, label range, and last the checksum (so that a truncated file is reported
 * as truncated, not as a checksum mismatch).
 */
export function parseIdx(path: string, bytes: Uint8Array, expect: IdxExpectation): IdxContent {
  const fix = expect.fix ?? DEFAULT_FIX;
  const fail = (what: string): never => {
    throw new UserError(`${path}: ${what}. ${fix}`);
  };
  const header = parseHeader(path, bytes, expect, fail);
  const itemBytes = header.dims.slice(1).reduce((a, b) => a * b, 1);
  const expectedLength = header.headerBytes + header.dims[0] * itemBytes;
  if (bytes.length !== expectedLength) {
    const promised = `its header says ${describeDims(header.dims, expect.kind)}, which is ${formatInt(expectedLength)} bytes with the header`;
    if (bytes.length < expectedLength) {
      fail(`truncated: ${promised}, but the file has only ${formatInt(bytes.length)} bytes${gzNote(bytes)}`);
    }
    fail(`the item count disagrees with the file length: ${promised}, but the file has ${formatInt(bytes.length)} bytes (${formatInt(bytes.length - expectedLength)} too many)`);
  }
  const data = bytes.subarray(header.headerBytes);
  if (expect.kind === 'labels' && expect.classCount !== undefined) {
    checkLabelRange(data, expect.classCount, expect.classHint, fail);
  }
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  if (expect.sha256 && sha256 !== expect.sha256.value) {
    throw new UserError(
      `${path}: checksum mismatch: the SHA-256 of its decompressed content is ${sha256}, but ${expect.sha256.of} has ${expect.sha256.value}. ` +
        `The file is well-formed IDX but not the official ${expect.sha256.of} (another data set such as MNIST, or altered). ${fix}`,
    );
  }
  return { ...header, data, sha256 };
}

/**
 * Read only the header of an IDX file (decompressing just the first few kilobytes of a gzip),
 * and check it against `expect` (magic, dimensions, count, image size). Used to learn the test
 * set's size and shape without reading it.
 */
export async function readIdxHeader(path: string, expect: IdxExpectation): Promise<IdxHeader> {
  const fix = expect.fix ?? DEFAULT_FIX;
  let head: Uint8Array;
  try {
    const handle = await open(path, 'r');
    try {
      const buffer = Buffer.alloc(64 * 1024);
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
      head = buffer.subarray(0, bytesRead);
    } finally {
      await handle.close();
    }
  } catch (error) {
    throw new UserError(`${path}: cannot be read (${describe(error)}). ${fix}`);
  }
  if (isGzip(head)) {
    try {
      // Z_SYNC_FLUSH: return what the prefix decompresses to instead of failing on the missing end.
      head = markGzip(gunzipSync(head, { finishFlush: zlibConstants.Z_SYNC_FLUSH }));
    } catch (error) {
      throw new UserError(`${path}: corrupt gzip data (${describe(error)}). ${fix}`);
    }
  }
  return parseHeader(path, head, expect, (what) => {
    throw new UserError(`${path}: ${what}. ${fix}`);
  });
}

/**
 * Encode unsigned bytes as an IDX file: dims count first (e.g. [count, rows, cols] for images,
 * [count] for labels). For writing small data sets (tests, conversions).
 */
export function encodeIdx(dims: readonly number[], data: ArrayLike<number>): Uint8Array {
  const items = dims.reduce((a, b) => a * b, 1);
  if (data.length !== items) throw new Error(`encodeIdx: ${data.length} values for dims ${dims.join('×')} (${items})`);
  const out = new Uint8Array(4 + 4 * dims.length + items);
  const view = new DataView(out.buffer);
  view.setUint32(0, 0x0800 + dims.length);
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d));
  out.set(data, 4 + 4 * dims.length);
  return out;
}

/** Write an IDX file, gzip-compressed when `gzip` is true. */
export async function writeIdxFile(path: string, dims: readonly number[], data: ArrayLike<number>, options: { gzip?: boolean } = {}): Promise<void> {
  const bytes = encodeIdx(dims, data);
  await writeFile(path, options.gzip ? gzipSync(bytes) : bytes);
}

function parseHeader(path: string, bytes: Uint8Array, expect: IdxExpectation, fail: (what: string) => never): IdxHeader {
  if (bytes.length < 4) fail(`truncated: only ${bytes.length} bytes, too short for an IDX header${gzNote(bytes)}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0);
  const ndims = bytes[3];
  const allowed =
    expect.kind === 'labels' ? [IDX_LABELS_MAGIC] : expect.allowChannels ? [IDX_IMAGES_MAGIC, IDX_IMAGES4_MAGIC] : [IDX_IMAGES_MAGIC];
  if (!allowed.includes(magic)) {
    fail(`wrong magic number ${magic} (0x${magic.toString(16).padStart(8, '0')}), expected ${allowed.join(' or ')} for an IDX ${expect.kind} file${magicNote(magic, bytes, expect.kind)}`);
  }
  const headerBytes = 4 + 4 * ndims;
  if (bytes.length < headerBytes) {
    fail(`truncated: only ${bytes.length} bytes, shorter than its ${headerBytes}-byte IDX header${gzNote(bytes)}`);
  }
  const dims: number[] = [];
  for (let i = 0; i < ndims; i++) dims.push(view.getUint32(4 + 4 * i));
  if (dims[0] === 0) fail(`its header says it holds no ${expect.kind}`);
  if (dims.slice(1).some((d) => d === 0)) fail(`its header gives a zero dimension (${dims.join('×')})`);
  if (expect.count && dims[0] !== expect.count.value) {
    fail(`holds ${formatInt(dims[0])} ${expect.kind} according to its header, but ${expect.count.of} has ${formatInt(expect.count.value)}`);
  }
  if (expect.kind === 'images' && expect.imageSize) {
    const { rows, cols, of } = expect.imageSize;
    if (dims[1] !== rows || dims[2] !== cols) fail(`its images are ${dims[1]}×${dims[2]}, but ${of} images are ${rows}×${cols}`);
  }
  return { magic, dims, headerBytes };
}

function checkLabelRange(labels: Uint8Array, classCount: number, hint: string | undefined, fail: (what: string) => never): void {
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] >= classCount) {
      let bad = 0;
      for (let j = i; j < labels.length; j++) if (labels[j] >= classCount) bad++;
      fail(
        `label ${labels[i]} at item ${i} (0-based) is out of range: there are ${classCount} classes, so labels must be 0–${classCount - 1}` +
          ` (${counted(bad, 'label')} out of range)${hint ? `. ${hint}` : ''}`,
      );
    }
  }
}

function magicNote(magic: number, bytes: Uint8Array, kind: IdxKind): string {
  if (kind === 'images' && magic === IDX_LABELS_MAGIC) return ' (that is a labels file: are the images and labels files swapped?)';
  if (kind === 'labels' && (magic === IDX_IMAGES_MAGIC || magic === IDX_IMAGES4_MAGIC)) {
    return ' (that is an images file: are the images and labels files swapped?)';
  }
  if (bytes[0] === 0x3c) return ' (the file starts with "<": an HTML or XML page, probably an error page saved instead of the data)';
  if (bytes[0] !== 0 || bytes[1] !== 0) return ' (not an IDX file)';
  return '';
}

function gzNote(bytes: Uint8Array): string {
  return decompressed.has(bytes) ? ' after decompression' : '';
}

function describeDims(dims: number[], kind: IdxKind): string {
  if (kind === 'labels') return `${formatInt(dims[0])} labels`;
  return `${formatInt(dims[0])} images of ${dims.slice(1).join('×')}`;
}

function describe(error: unknown): string {
  if (error && typeof error === 'object') {
    const { code, message } = error as { code?: unknown; message?: unknown };
    if (typeof code === 'string' && typeof message === 'string' && !message.includes(code)) return `${code}: ${message}`;
    if (typeof message === 'string') return message;
  }
  return String(error);
}
