import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, test, vi } from 'vitest';
import { userError } from './user-error.ts';
import { clearDatasetCache, loadFashion, loadIdxFolder, openDataset } from '../../src/data/dataset.ts';
import { FASHION_MIRRORS, IDX_FILE_NAMES, PROJECT_FASHION_DIR, SYSTEM_FASHION_DIR, locateFashion } from '../../src/data/fashion.ts';
import { encodeIdx, writeIdxFile } from '../../src/data/idx.ts';
import { gzipSync } from 'node:zlib';

let root: string;
let counter = 0;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'flowtune-dataset-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});
afterEach(() => {
  vi.unstubAllGlobals();
  clearDatasetCache();
});

async function freshDir(): Promise<string> {
  const dir = join(root, `d${++counter}`);
  await mkdir(dir, { recursive: true });
  return dir;
}

interface Synthetic {
  rows?: number;
  cols?: number;
  channels?: number;
  train?: number;
  test?: number;
  trainLabels?: number[];
  testLabels?: number[];
  gzip?: boolean;
}

/** A small IDX data set: pixel value of item i, byte j is (i + j) % 256; labels i % 10. */
async function writeSynthetic(dir: string, s: Synthetic = {}): Promise<void> {
  const { rows = 4, cols = 3, channels = 1, train = 20, test = 10, gzip = false } = s;
  const shape = channels === 1 ? [rows, cols] : [rows, cols, channels];
  const per = rows * cols * channels;
  const pixels = (n: number) => {
    const out = new Uint8Array(n * per);
    for (let i = 0; i < n; i++) for (let j = 0; j < per; j++) out[i * per + j] = (i + j) % 256;
    return out;
  };
  const labels = (n: number, given?: number[]) => given ?? Array.from({ length: n }, (_, i) => i % 10);
  const ext = gzip ? '.gz' : '';
  await writeIdxFile(join(dir, IDX_FILE_NAMES.trainImages + ext), [train, ...shape], pixels(train), { gzip });
  await writeIdxFile(join(dir, IDX_FILE_NAMES.trainLabels + ext), [train], labels(train, s.trainLabels), { gzip });
  await writeIdxFile(join(dir, IDX_FILE_NAMES.testImages + ext), [test, ...shape], pixels(test), { gzip });
  await writeIdxFile(join(dir, IDX_FILE_NAMES.testLabels + ext), [test], labels(test, s.testLabels), { gzip });
}

describe('loadIdxFolder (--data DIR)', () => {
  test.each([false, true])('reads a folder (gzip %s): pixels scaled to 0..1 in one Float32Array, labels, class names "0".."9"', async (gzip) => {
    const dir = await freshDir();
    await writeSynthetic(dir, { gzip, rows: 16, cols: 16 }); // 256 pixels: every byte value 0..255 appears in item 0
    const ds = await loadIdxFolder(dir);
    expect(ds.name).toBe(dir);
    expect(ds.source).toBe(dir);
    expect(ds.classNames).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    const { train } = ds;
    expect([train.count, train.height, train.width, train.channels]).toEqual([20, 16, 16, 1]);
    expect(train.images).toBeInstanceOf(Float32Array);
    expect(train.images.length).toBe(20 * 256);
    for (let j = 0; j < 256; j++) expect(train.images[j]).toBe(Math.fround(j / 255));
    expect(train.images[256 + 255]).toBe(0); // item 1, byte 255: (1 + 255) % 256 = 0
    expect(Array.from(train.labels)).toEqual(Array.from({ length: 20 }, (_, i) => i % 10));
    expect(train.classNames).toEqual(ds.classNames);
    expect(ds.testCount).toBe(10);
  });

  test('plain and gzip files may be mixed, and .gz is preferred when both exist', async () => {
    const dir = await freshDir();
    await writeSynthetic(dir);
    await writeIdxFile(join(dir, `${IDX_FILE_NAMES.trainLabels}.gz`), [20], new Array(20).fill(7), { gzip: true });
    const ds = await loadIdxFolder(dir);
    expect(ds.files.trainLabels.endsWith('.gz')).toBe(true);
    expect(ds.files.trainImages.endsWith('.gz')).toBe(false);
    expect(new Set(ds.train.labels)).toEqual(new Set([7]));
  });

  test('the test set is sealed: read only by loadTest(), cached like the training set', async () => {
    const dir = await freshDir();
    await writeSynthetic(dir);
    const ds = await loadIdxFolder(dir);
    expect(Object.keys(ds)).not.toContain('test');
    expect(Object.isFrozen(ds)).toBe(true);
    const test1 = await ds.loadTest();
    expect(test1.count).toBe(10);
    expect(test1.images.length).toBe(10 * 12);
    expect(await ds.loadTest()).toBe(test1);
  });

  test('the training set is cached per resolved folder: a second open reads nothing and copies nothing', async () => {
    const dir = await freshDir();
    await writeSynthetic(dir);
    const first = await loadIdxFolder(dir);
    await unlink(join(dir, IDX_FILE_NAMES.trainImages)); // gone from disk, still in the cache…
    await writeFile(join(dir, IDX_FILE_NAMES.trainImages), ''); // …and an empty stand-in so the folder still looks complete
    const second = await loadIdxFolder(dir);
    expect(second.train).toBe(first.train);
    const third = await loadIdxFolder(relative(process.cwd(), dir)); // the same folder spelled another way
    expect(third.train.images).toBe(first.train.images);
    expect(third.train.name).toBe(relative(process.cwd(), dir));
    clearDatasetCache();
    expect(await userError(loadIdxFolder(dir))).toMatch(/train-images-idx3-ubyte: truncated: only 0 bytes/);
  });

  test('a failed load is not remembered: fixing the file fixes the next load', async () => {
    const dir = await freshDir();
    await writeSynthetic(dir, { trainLabels: [...new Array(19).fill(0), 10] });
    expect(await userError(loadIdxFolder(dir))).toMatch(/label 10 at item 19/);
    await writeSynthetic(dir);
    expect((await loadIdxFolder(dir)).train.count).toBe(20);
  });

  test('images with channels (IDX with 4 dimensions)', async () => {
    const dir = await freshDir();
    await writeSynthetic(dir, { rows: 2, cols: 2, channels: 3 });
    const ds = await loadIdxFolder(dir);
    expect([ds.train.height, ds.train.width, ds.train.channels]).toEqual([2, 2, 3]);
    expect(ds.train.images.length).toBe(20 * 12);
  });

  test('classes.txt names the classes, one per line in label order, and sets their number', async () => {
    const dir = await freshDir();
    await writeSynthetic(dir, { trainLabels: Array.from({ length: 20 }, (_, i) => i % 12), testLabels: new Array(10).fill(11) });
    const names = Array.from({ length: 12 }, (_, i) => `class ${i}`);
    await writeFile(join(dir, 'classes.txt'), `\uFEFF${names.join('\r\n')}\r\n\r\n`);
    const ds = await loadIdxFolder(dir);
    expect(ds.classNames).toEqual(names);
    expect((await ds.loadTest()).classNames).toEqual(names);
  });

  test('without classes.txt a label of 10 or more is out of range, and the message says how to name more classes', async () => {
    const dir = await freshDir();
    await writeSynthetic(dir, { trainLabels: Array.from({ length: 20 }, (_, i) => i % 12) });
    const text = await userError(loadIdxFolder(dir));
    expect(text).toMatch(/train-labels-idx1-ubyte: label 10 at item 10 \(0-based\) is out of range: there are 10 classes, so labels must be 0–9 \(2 labels out of range\)/);
    expect(text).toContain(`add ${join(dir, 'classes.txt')} with one class name per line`);
  });

  test('a test label beyond the classes of classes.txt fails when the data set is opened, not when the test set is read', async () => {
    const dir = await freshDir();
    await writeSynthetic(dir, { trainLabels: new Array(20).fill(0), testLabels: [0, 0, 0, 3, 0, 0, 0, 0, 0, 0] });
    await writeFile(join(dir, 'classes.txt'), 'cat\ndog\nbird\n');
    const text = await userError(loadIdxFolder(dir));
    expect(text).toMatch(/t10k-labels-idx1-ubyte: label 3 at item 3 \(0-based\) is out of range: there are 3 classes, so labels must be 0–2/);
    expect(text).toContain('The classes are the 3 lines of');
  });

  test.each([
    ['', /classes.txt: is empty/],
    ['a\n\nb\n', /classes.txt: line 2 is blank/],
    ['a\nb\na\n', /class name "a" appears on lines 1 and 3/],
  ])('a bad classes.txt (%j) is a UserError', async (content, message) => {
    const dir = await freshDir();
    await writeSynthetic(dir);
    await writeFile(join(dir, 'classes.txt'), content);
    expect(await userError(loadIdxFolder(dir))).toMatch(message);
  });

  test('images and labels that do not pair one to one', async () => {
    const dir = await freshDir();
    await writeSynthetic(dir);
    await writeIdxFile(join(dir, IDX_FILE_NAMES.trainLabels), [19], new Array(19).fill(1));
    const text = await userError(loadIdxFolder(dir));
    expect(text).toBe(
      `${join(dir, IDX_FILE_NAMES.trainImages)} holds 20 images but ${join(dir, IDX_FILE_NAMES.trainLabels)} holds 19 labels: images and labels must pair one to one. Replace it with a complete, uncorrupted copy.`,
    );
  });

  test('test images and labels that do not pair fail when the data set is opened, not at the end', async () => {
    const dir = await freshDir();
    await writeSynthetic(dir);
    await writeIdxFile(join(dir, IDX_FILE_NAMES.testLabels), [9], new Array(9).fill(1));
    expect(await userError(loadIdxFolder(dir))).toMatch(/t10k-images-idx3-ubyte holds 10 images but .*t10k-labels-idx1-ubyte holds 9 labels/);
  });

  test('test images of another size than the training images', async () => {
    const dir = await freshDir();
    await writeSynthetic(dir);
    await writeIdxFile(join(dir, IDX_FILE_NAMES.testImages), [10, 3, 4], new Uint8Array(120));
    expect(await userError(loadIdxFolder(dir))).toMatch(
      /t10k-images-idx3-ubyte: its images are 3×4, but the training images \(.*\) are 4×3: both sets must have the same image size/,
    );
  });

  test('a corrupt gzip inside a folder names the file', async () => {
    const dir = await freshDir();
    await writeSynthetic(dir);
    const gz = gzipSync(encodeIdx([20], new Array(20).fill(1)));
    await writeFile(join(dir, `${IDX_FILE_NAMES.trainLabels}.gz`), gz.subarray(0, gz.length - 9));
    expect(await userError(loadIdxFolder(dir))).toMatch(/train-labels-idx1-ubyte\.gz: corrupt or truncated gzip data/);
  });

  test('a folder missing files lists them and says what --data takes', async () => {
    const dir = await freshDir();
    await writeSynthetic(dir);
    await unlink(join(dir, IDX_FILE_NAMES.testImages));
    await unlink(join(dir, IDX_FILE_NAMES.testLabels));
    const text = await userError(loadIdxFolder(dir));
    expect(text).toMatch(`No IDX data set in ${dir} (given to --data): missing t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz].`);
    expect(text).toMatch(/--data takes 'fashion'; a folder holding the four files .*; an image folder with one subfolder of PNG or JPEG files per class .*; or a CSV file/);
    expect(await userError(loadIdxFolder(join(dir, 'nope')))).toMatch(/nope \(given to --data\): no such folder/);
  });

  test("openDataset: a folder goes to the generic loader; 'fashion' to Fashion-MNIST", async () => {
    const dir = await freshDir();
    await writeSynthetic(dir);
    expect((await openDataset({ data: dir })).train.count).toBe(20);
    // Fashion-MNIST's checks refuse the same small folder.
    expect(await userError(openDataset({ data: 'fashion', dataDir: dir }))).toMatch(/holds 10 images according to its header, but Fashion-MNIST's test set has 10,000/);
  });
});

describe('Fashion-MNIST checks on files that are not Fashion-MNIST', () => {
  test('wrong counts and sizes are named with the file, and the fix fits an explicit folder', async () => {
    const dir = await freshDir();
    await writeSynthetic(dir, { test: 10_000, rows: 28, cols: 28, train: 5 });
    const text = await userError(loadFashion({ dataDir: dir }));
    expect(text).toMatch(
      new RegExp(`^${join(dir, IDX_FILE_NAMES.trainLabels)}: holds 5 labels according to its header, but Fashion-MNIST's training set has 60,000\\. Replace it with the official file, or drop --data-dir / FASHION_MNIST_DIR`),
    );
    const small = await freshDir();
    await writeSynthetic(small, { test: 10_000 });
    expect(await userError(loadFashion({ dataDir: small }))).toMatch(/t10k-images-idx3-ubyte: its images are 4×3, but Fashion-MNIST's images are 28×28/);
  });
});

describe('where Fashion-MNIST is looked for', () => {
  /** A folder with four empty files: locateFashion only looks for names. */
  async function folderWithNames(gzip = true, skip: string[] = []): Promise<string> {
    const dir = await freshDir();
    for (const name of Object.values(IDX_FILE_NAMES)) if (!skip.includes(name)) await writeFile(join(dir, name + (gzip ? '.gz' : '')), '');
    return dir;
  }

  test('an explicit folder is the only place looked in, even when the others hold the files', async () => {
    const project = await folderWithNames();
    const system = await folderWithNames();
    const explicit = await folderWithNames(false);
    expect(await locateFashion({ dataDir: explicit, projectDir: project, systemDir: system })).toEqual({
      folder: explicit,
      files: {
        trainImages: join(explicit, 'train-images-idx3-ubyte'),
        trainLabels: join(explicit, 'train-labels-idx1-ubyte'),
        testImages: join(explicit, 't10k-images-idx3-ubyte'),
        testLabels: join(explicit, 't10k-labels-idx1-ubyte'),
      },
    });
    const empty = await freshDir();
    const fetchMock = vi.fn(async () => new Response('never'));
    vi.stubGlobal('fetch', fetchMock);
    const text = await userError(locateFashion({ dataDir: empty, projectDir: project, systemDir: system }));
    expect(text).toMatch(`Fashion-MNIST not found in ${empty}, the folder named by --data-dir or FASHION_MNIST_DIR (when a folder is named, it is the only place looked in): missing train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz].`);
    expect(text).toContain('npm run setup');
    expect(text).not.toContain(system);
    expect(fetchMock).not.toHaveBeenCalled();
  });

  test('data/fashion comes before the Debian folder, which is used when data/fashion lacks a file', async () => {
    const system = await folderWithNames();
    const project = await folderWithNames(false);
    expect((await locateFashion({ projectDir: project, systemDir: system })).folder).toBe(project);
    const partial = await folderWithNames(true, [IDX_FILE_NAMES.testLabels]);
    expect((await locateFashion({ projectDir: partial, systemDir: system })).folder).toBe(system);
  });

  test('by default the project folder is <project root>/data/fashion, found from the module, not the working directory', () => {
    const projectRoot = fileURLToPath(new URL('../../', import.meta.url));
    expect(PROJECT_FASHION_DIR).toBe(join(projectRoot, 'data', 'fashion'));
    expect(SYSTEM_FASHION_DIR).toBe('/usr/share/datasets/fashion-mnist');
  });

  test('nothing anywhere and no download: every place is named, with the two ways to get the files', async () => {
    const project = join(await freshDir(), 'data', 'fashion');
    const system = await folderWithNames(true, [IDX_FILE_NAMES.trainImages]);
    const text = await userError(locateFashion({ projectDir: project, systemDir: system, download: false }));
    expect(text).toBe(
      [
        'Fashion-MNIST not found. Looked in:',
        `  - ${project} (the project's data folder): no such folder`,
        `  - ${system} (Debian's dataset-fashion-mnist): missing train-images-idx3-ubyte[.gz]`,
        '  - download from the official mirror: not tried (downloads turned off)',
        'To get the files, either:',
        `  - run \`npm run setup\`, which installs Debian's dataset-fashion-mnist package (files in ${SYSTEM_FASHION_DIR}), or`,
        `  - put the four files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz; gzip or plain, also without .gz) into ${project}, or pass --data-dir DIR (or set FASHION_MNIST_DIR) for a folder that holds them.`,
      ].join('\n'),
    );
  });

  test('offline: the download is tried on every mirror, fails, and the failure is part of the message', async () => {
    const project = join(await freshDir(), 'fashion');
    const system = await freshDir();
    const fetchMock = vi.fn(async (url: string | URL | Request) => {
      throw new TypeError('fetch failed', { cause: Object.assign(new Error(`getaddrinfo ENOTFOUND ${new URL(String(url)).host}`), { code: 'ENOTFOUND' }) });
    });
    vi.stubGlobal('fetch', fetchMock);
    const text = await userError(locateFashion({ projectDir: project, systemDir: system }));
    expect(fetchMock).toHaveBeenCalledTimes(FASHION_MIRRORS.length);
    expect(String(fetchMock.mock.calls[0][0])).toBe(`${FASHION_MIRRORS[0]}train-images-idx3-ubyte.gz`);
    expect(text).toMatch(
      `  - download from the official mirror into ${project}: failed (${FASHION_MIRRORS[0]}train-images-idx3-ubyte.gz: fetch failed: getaddrinfo ENOTFOUND fashion-mnist.s3-website.eu-central-1.amazonaws.com; `,
    );
    expect(text).toContain('npm run setup');
    expect(existsSync(project)).toBe(false);
  });

  test('a download that is not Fashion-MNIST (or an HTTP error) is not kept', async () => {
    const project = join(await freshDir(), 'fashion');
    vi.stubGlobal(
      'fetch',
      vi.fn(async (url: string | URL | Request) =>
        String(url).startsWith('https:') ? new Response('gone', { status: 404, statusText: 'Not Found' }) : new Response(gzipSync(encodeIdx([1, 28, 28], new Uint8Array(784)))),
      ),
    );
    const text = await userError(locateFashion({ projectDir: project, systemDir: await freshDir() }));
    expect(text).toMatch(/train-images-idx3-ubyte\.gz arrived with SHA-256 [0-9a-f]{64} of its content, expected c59f468a2f672dc8\w+; nothing was kept/);
    expect(existsSync(project) ? await readdir(project) : []).toEqual([]);
  });

  test('a mirror that does not answer in time is abandoned after the timeout', async () => {
    vi.stubGlobal(
      'fetch',
      vi.fn(
        (_url: string | URL | Request, init?: RequestInit) =>
          new Promise<Response>((_, reject) => init?.signal?.addEventListener('abort', () => reject(init.signal?.reason))),
      ),
    );
    const started = Date.now();
    const text = await userError(locateFashion({ projectDir: join(await freshDir(), 'x'), systemDir: await freshDir(), downloadTimeoutMs: 50, mirrors: ['http://mirror.invalid/'] }));
    expect(Date.now() - started).toBeLessThan(2000);
    expect(text).toContain('http://mirror.invalid/train-images-idx3-ubyte.gz: no answer within 50 ms');
  });

  test.skipIf(!existsSync(SYSTEM_FASHION_DIR))('a download from the mirror lands in data/fashion after its checksum is verified (served from Debian’s files)', async () => {
    const project = join(await freshDir(), 'data', 'fashion');
    const served: string[] = [];
    vi.stubGlobal(
      'fetch',
      vi.fn(async (url: string | URL | Request) => {
        const name = new URL(String(url)).pathname.slice(1);
        served.push(name);
        return new Response(await readFile(join(SYSTEM_FASHION_DIR, name)));
      }),
    );
    // The project folder already has one (empty) file: only the three missing ones are fetched.
    await mkdir(project, { recursive: true });
    await writeFile(join(project, IDX_FILE_NAMES.trainImages), '');
    const found = await locateFashion({ projectDir: project, systemDir: await freshDir() });
    expect(found.folder).toBe(project);
    expect(served).toEqual(['train-labels-idx1-ubyte.gz', 't10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz']);
    expect((await readdir(project)).sort()).toEqual([
      't10k-images-idx3-ubyte.gz',
      't10k-labels-idx1-ubyte.gz',
      'train-images-idx3-ubyte',
      'train-labels-idx1-ubyte.gz',
    ]);
    expect(await readFile(join(project, 't10k-labels-idx1-ubyte.gz'))).toEqual(await readFile(join(SYSTEM_FASHION_DIR, 't10k-labels-idx1-ubyte.gz')));
  });
});
