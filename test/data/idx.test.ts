import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { userError } from './user-error.ts';
import { type IdxExpectation, encodeIdx, parseIdx, readIdxFile, readIdxHeader, writeIdxFile } from '../../src/data/idx.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flowtune-idx-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** 5 images of 4×3 with pixel values 0..59. */
const pixels = Uint8Array.from({ length: 5 * 4 * 3 }, (_, i) => i);
const images = encodeIdx([5, 4, 3], pixels);
const labels = encodeIdx([5], [0, 1, 2, 9, 3]);
const imagesExpect: IdxExpectation = { kind: 'images' };
const labelsExpect: IdxExpectation = { kind: 'labels', classCount: 10 };

async function write(name: string, bytes: Uint8Array): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, bytes);
  return path;
}

describe('reading well-formed IDX files', () => {
  test.each([
    ['plain', false],
    ['gzip', true],
  ])('%s images: header, dimensions, data and the checksum of the decompressed content', async (_, gzip) => {
    const path = join(dir, `ok-images-${gzip}`);
    await writeIdxFile(path, [5, 4, 3], pixels, { gzip });
    const content = await readIdxFile(path, imagesExpect);
    expect(content.magic).toBe(2051);
    expect(content.dims).toEqual([5, 4, 3]);
    expect(content.headerBytes).toBe(16);
    expect(Array.from(content.data)).toEqual(Array.from(pixels));
    expect(content.sha256).toBe(createHash('sha256').update(images).digest('hex'));
  });

  test('labels, gzip or plain, have magic 2049 and one dimension', async () => {
    for (const gzip of [false, true]) {
      const path = join(dir, `ok-labels-${gzip}`);
      await writeIdxFile(path, [5], [0, 1, 2, 9, 3], { gzip });
      const content = await readIdxFile(path, labelsExpect);
      expect(content.magic).toBe(2049);
      expect(Array.from(content.data)).toEqual([0, 1, 2, 9, 3]);
    }
  });

  test('a file named .gz that is not compressed (a browser unpacked it) is read by its content', async () => {
    const path = await write('unpacked-by-browser.gz', images);
    expect((await readIdxFile(path, imagesExpect)).dims).toEqual([5, 4, 3]);
  });

  test('the expected checksum, count and image size are accepted when they match', async () => {
    const path = await write('checked', images);
    const sha = createHash('sha256').update(images).digest('hex');
    const content = await readIdxFile(path, {
      kind: 'images',
      count: { value: 5, of: 'the set' },
      imageSize: { rows: 4, cols: 3, of: 'its' },
      sha256: { value: sha, of: 'the set' },
    });
    expect(content.sha256).toBe(sha);
  });

  test('4-dimensional images are read only when channels are allowed', async () => {
    const path = join(dir, 'rgb');
    await writeIdxFile(path, [2, 2, 2, 3], new Uint8Array(24));
    expect((await readIdxFile(path, { kind: 'images', allowChannels: true })).dims).toEqual([2, 2, 2, 3]);
    expect(await userError(readIdxFile(path, imagesExpect))).toMatch(/wrong magic number 2052 .* expected 2051 for an IDX images file/);
  });

  test('readIdxHeader reads just the header of a large gzip file', async () => {
    const big = join(dir, 'big.gz');
    await writeIdxFile(big, [2000, 28, 28], new Uint8Array(2000 * 784).map((_, i) => (i * 7919) % 251), { gzip: true });
    const header = await readIdxHeader(big, { kind: 'images', count: { value: 2000, of: 'x' } });
    expect(header).toEqual({ magic: 2051, dims: [2000, 28, 28], headerBytes: 16 });
  });
});

describe('every broken file is a UserError naming the file and what is wrong', () => {
  const gz = gzipSync(images);
  const flipped = Uint8Array.from(gz);
  flipped[Math.floor(gz.length / 2)] ^= 0xff; // damage the deflate stream
  const badCrc = Uint8Array.from(gz);
  badCrc[gz.length - 6] ^= 0xff; // damage the CRC-32 trailer only
  const withHeader = (magic: number, ...dims: number[]) => {
    const b = new Uint8Array(4 + 4 * dims.length);
    const v = new DataView(b.buffer);
    v.setUint32(0, magic);
    dims.forEach((d, i) => v.setUint32(4 + 4 * i, d));
    return b;
  };

  test.each<[string, Uint8Array, IdxExpectation, RegExp]>([
    ['truncated plain file', images.subarray(0, images.length - 10), imagesExpect, /truncated: its header says 5 images of 4×3, which is 76 bytes with the header, but the file has only 66 bytes/],
    ['truncated gzip', gz.subarray(0, gz.length - 12), imagesExpect, /corrupt or truncated gzip data \(.*unexpected end of file/],
    ['corrupt gzip stream', flipped, imagesExpect, /corrupt or truncated gzip data/],
    ['gzip with a wrong CRC', badCrc, imagesExpect, /corrupt or truncated gzip data \(.*incorrect data check/],
    ['gzip signature and nothing else', Uint8Array.of(0x1f, 0x8b, 8), imagesExpect, /corrupt or truncated gzip data/],
    ['empty file', new Uint8Array(0), imagesExpect, /truncated: only 0 bytes, too short for an IDX header/],
    ['header cut inside the dimensions', images.subarray(0, 10), imagesExpect, /truncated: only 10 bytes, shorter than its 16-byte IDX header/],
    ['labels where images are expected', labels, imagesExpect, /wrong magic number 2049 \(0x00000801\), expected 2051 for an IDX images file \(that is a labels file: are the images and labels files swapped\?\)/],
    ['images where labels are expected', images, labelsExpect, /wrong magic number 2051 \(0x00000803\), expected 2049 for an IDX labels file \(that is an images file/],
    ['not IDX at all', new TextEncoder().encode('PK\u0003\u0004 a zip file, really'), imagesExpect, /wrong magic number \d+ \(0x504b0304\), expected 2051 .*\(not an IDX file\)/],
    ['an HTML error page', new TextEncoder().encode('<html><body>404 Not Found</body></html>'), labelsExpect, /wrong magic number .*HTML or XML page/],
    ['IDX of another data type (0x0D floats)', withHeader(0x0d03, 1, 1, 1), imagesExpect, /wrong magic number 3331 \(0x00000d03\)/],
    ['more bytes than the header says', Uint8Array.of(...images, 1, 2, 3), imagesExpect, /the item count disagrees with the file length: its header says 5 images of 4×3, which is 76 bytes with the header, but the file has 79 bytes \(3 too many\)/],
    ['a labels count larger than the file', withHeader(2049, 9), labelsExpect, /truncated: its header says 9 labels, which is 17 bytes with the header, but the file has only 8 bytes/],
    ['zero items', withHeader(2051, 0, 28, 28), imagesExpect, /its header says it holds no images/],
    ['a zero dimension', withHeader(2051, 3, 0, 28), imagesExpect, /zero dimension \(3×0×28\)/],
    ['a count other than expected', images, { kind: 'images', count: { value: 60000, of: "Fashion-MNIST's training set" } }, /holds 5 images according to its header, but Fashion-MNIST's training set has 60,000/],
    ['an image size other than expected', images, { kind: 'images', imageSize: { rows: 28, cols: 28, of: "Fashion-MNIST's" } }, /its images are 4×3, but Fashion-MNIST's images are 28×28/],
    ['a label out of range', encodeIdx([6], [0, 1, 12, 9, 10, 3]), labelsExpect, /label 12 at item 2 \(0-based\) is out of range: there are 10 classes, so labels must be 0–9 \(2 labels out of range\)/],
  ])('%s', async (name, bytes, expectation, message) => {
    const path = await write(name.replace(/\W+/g, '-'), bytes);
    const text = await userError(readIdxFile(path, { ...expectation, fix: 'FIX-HINT.' }));
    expect(text).toMatch(message);
    expect(text.startsWith(`${path}: `)).toBe(true);
    expect(text.endsWith('FIX-HINT.')).toBe(true);
  });

  test('a gzip file whose content is truncated says so after decompression', async () => {
    const path = await write('truncated-inside.gz', gzipSync(images.subarray(0, 40)));
    expect(await userError(readIdxFile(path, imagesExpect))).toMatch(/the file has only 40 bytes after decompression/);
  });

  test('a checksum mismatch names the file, the actual and the expected hash, and what to do', async () => {
    const path = await write('other-content.gz', gzipSync(images));
    const actual = createHash('sha256').update(images).digest('hex');
    const expected = 'ab'.repeat(32);
    const text = await userError(
      readIdxFile(path, { kind: 'images', sha256: { value: expected, of: "Fashion-MNIST's train-images-idx3-ubyte" }, fix: 'Delete it and run `npm run setup`.' }),
    );
    expect(text).toBe(
      `${path}: checksum mismatch: the SHA-256 of its decompressed content is ${actual}, but Fashion-MNIST's train-images-idx3-ubyte has ${expected}. ` +
        "The file is well-formed IDX but not the official Fashion-MNIST's train-images-idx3-ubyte (another data set such as MNIST, or altered). Delete it and run `npm run setup`.",
    );
  });

  test('a truncated file is reported as truncated, not as a checksum mismatch', async () => {
    const path = await write('truncated-checked', images.subarray(0, 50));
    const text = await userError(readIdxFile(path, { kind: 'images', sha256: { value: '00'.repeat(32), of: 'x' } }));
    expect(text).toMatch(/truncated/);
    expect(text).not.toMatch(/checksum/);
  });

  test('a file that cannot be read', async () => {
    const path = join(dir, 'does-not-exist');
    expect(await userError(readIdxFile(path, imagesExpect))).toMatch(new RegExp(`^${path}: cannot be read \\(ENOENT`));
    expect(await userError(readIdxHeader(path, imagesExpect))).toMatch(/cannot be read \(ENOENT/);
  });

  test('readIdxHeader checks magic and count, and reports a header cut short', async () => {
    const swapped = await write('header-swapped.gz', gzipSync(labels));
    expect(await userError(readIdxHeader(swapped, imagesExpect))).toMatch(/wrong magic number 2049/);
    const short = await write('header-short.gz', gzipSync(images.subarray(0, 9)));
    expect(await userError(readIdxHeader(short, imagesExpect))).toMatch(/truncated: only 9 bytes, shorter than its 16-byte IDX header after decompression/);
    const counted = await write('header-count', images);
    expect(await userError(readIdxHeader(counted, { kind: 'images', count: { value: 10000, of: 'the test set' } }))).toMatch(
      /holds 5 images according to its header, but the test set has 10,000/,
    );
  });

  test('parseIdx on bytes in memory uses the path only in messages', () => {
    expect(() => parseIdx('memory://x', labels, imagesExpect)).toThrow(/^memory:\/\/x: wrong magic number 2049/);
  });
});
