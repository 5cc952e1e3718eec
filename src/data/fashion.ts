/**
 * Where Fashion-MNIST comes from: the four official files, their checksums, the places looked
 * in, and the download from the official mirror.
 *
 * Order of places (the first holding all four files wins):
 *   1. an explicit folder (--data-dir / FASHION_MNIST_DIR) — when given, the ONLY place looked in;
 *   2. data/fashion/ in the project;
 *   3. /usr/share/datasets/fashion-mnist/ (Debian's dataset-fashion-mnist, installed by `npm run setup`);
 *   4. a download from the official mirror into data/fashion/, where the machine is online.
 */
import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { UserError } from '../errors.ts';
import { isGzip } from './idx.ts';

/** The ten Fashion-MNIST classes, by label. */
export const FASHION_CLASS_NAMES: readonly string[] = Object.freeze([
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
]);

/** The four files of an IDX data set, by role. Names without `.gz`; both forms are accepted. */
export const IDX_FILE_NAMES = Object.freeze({
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
});
export type IdxRole = keyof typeof IDX_FILE_NAMES;
export const IDX_ROLES: readonly IdxRole[] = ['trainImages', 'trainLabels', 'testImages', 'testLabels'];

/**
 * SHA-256 of the DECOMPRESSED official files (header included). Mirrors and distributions
 * recompress the archives (Debian's .gz files differ from upstream's), but the IDX content is
 * byte-identical everywhere. Computed from Debian's dataset-fashion-mnist 0.0~git20200523;
 * their MD5s equal the upstream raw-file MD5s (f4a8712d…, 9018921c…, 8181f547…, 15d48437…).
 */
export const FASHION_SHA256: Readonly<Record<IdxRole, string>> = Object.freeze({
  trainImages: 'c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888',
  trainLabels: 'bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9',
  testImages: '5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b',
  testLabels: '0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34',
});

export const FASHION_COUNTS = Object.freeze({ train: 60_000, test: 10_000 });
export const FASHION_IMAGE_SIZE = Object.freeze({ rows: 28, cols: 28 });

/**
 * The official mirror. Its S3 website endpoint serves plain http; https is tried first in case
 * that changes. The content is verified by FASHION_SHA256 before it is kept, so http is safe.
 */
export const FASHION_MIRRORS: readonly string[] = Object.freeze([
  'https://fashion-mnist.s3-website.eu-central-1.amazonaws.com/',
  'http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/',
]);

/** Debian's dataset-fashion-mnist installs the files here. */
export const SYSTEM_FASHION_DIR = '/usr/share/datasets/fashion-mnist';

/** The project root: the nearest folder above this module with a package.json (two levels up from src/data). */
export const PROJECT_ROOT = findProjectRoot(dirname(fileURLToPath(import.meta.url)));

/** data/fashion/ in the project. */
export const PROJECT_FASHION_DIR = join(PROJECT_ROOT, 'data', 'fashion');

/** The four files found in one folder, by role (absolute paths). */
export type IdxFiles = Record<IdxRole, string>;

/** The file of each role present in `dir` (`name.gz` preferred over `name`), and the roles missing. */
export function findIdxFiles(dir: string): { files: Partial<IdxFiles>; missing: IdxRole[]; folderExists: boolean } {
  const folderExists = isDirectory(dir);
  const files: Partial<IdxFiles> = {};
  const missing: IdxRole[] = [];
  for (const role of IDX_ROLES) {
    const base = join(dir, IDX_FILE_NAMES[role]);
    const found = folderExists ? [`${base}.gz`, base].find(isFile) : undefined;
    if (found) files[role] = found;
    else missing.push(role);
  }
  return { files, missing, folderExists };
}

export interface LocateOptions {
  /** Explicit folder (--data-dir / FASHION_MNIST_DIR): the only place looked in. Default null. */
  dataDir?: string | null;
  /** The project's data folder. Default `<project>/data/fashion`. (Tests point it elsewhere.) */
  projectDir?: string;
  /** Debian's folder. Default /usr/share/datasets/fashion-mnist. */
  systemDir?: string;
  /** Try the official mirror when no folder has the files. Default true. */
  download?: boolean;
  /** Milliseconds to wait for the mirror to answer each request. Default 10000. */
  downloadTimeoutMs?: number;
  /** Mirror base URLs, tried in order. Default FASHION_MIRRORS. */
  mirrors?: readonly string[];
  /** Progress messages (downloads only). Default: none. */
  log?: (message: string) => void;
}

/** Where the Fashion-MNIST files were found: the folder and the four files. */
export interface FashionLocation {
  folder: string;
  files: IdxFiles;
}

/** Find the four Fashion-MNIST files, downloading them if need be; a UserError listing every place otherwise. */
export async function locateFashion(options: LocateOptions = {}): Promise<FashionLocation> {
  if (options.dataDir) {
    const folder = resolve(options.dataDir);
    const found = findIdxFiles(folder);
    if (found.missing.length === 0) return { folder, files: found.files as IdxFiles };
    throw new UserError(
      `Fashion-MNIST not found in ${folder}, the folder named by --data-dir or FASHION_MNIST_DIR (when a folder is named, it is the only place looked in): ` +
        `${describeMissing(found)}.\n${howToGetFiles(options.projectDir ?? PROJECT_FASHION_DIR, true)}`,
    );
  }
  const projectDir = resolve(options.projectDir ?? PROJECT_FASHION_DIR);
  const systemDir = resolve(options.systemDir ?? SYSTEM_FASHION_DIR);
  const looked: string[] = [];
  for (const [folder, what] of [
    [projectDir, "the project's data folder"],
    [systemDir, "Debian's dataset-fashion-mnist"],
  ] as const) {
    const found = findIdxFiles(folder);
    if (found.missing.length === 0) return { folder, files: found.files as IdxFiles };
    looked.push(`${folder} (${what}): ${describeMissing(found)}`);
  }
  if (options.download ?? true) {
    try {
      const files = await downloadFashion(projectDir, options);
      return { folder: projectDir, files };
    } catch (error) {
      looked.push(`download from the official mirror into ${projectDir}: ${error instanceof Error ? error.message : String(error)}`);
    }
  } else {
    looked.push('download from the official mirror: not tried (downloads turned off)');
  }
  throw new UserError(
    `Fashion-MNIST not found. Looked in:\n${looked.map((l) => `  - ${l}`).join('\n')}\n${howToGetFiles(projectDir, false)}`,
  );
}

/**
 * Download the files missing from `dir` from the official mirror, verify each against
 * FASHION_SHA256, and only then move it into place (so no partial or wrong file is left behind).
 * Throws a plain Error saying what failed; locateFashion turns it into part of its message.
 */
export async function downloadFashion(dir: string, options: LocateOptions = {}): Promise<IdxFiles> {
  const mirrors = options.mirrors ?? FASHION_MIRRORS;
  const timeoutMs = options.downloadTimeoutMs ?? 10_000;
  const present = findIdxFiles(dir);
  const files: Partial<IdxFiles> = { ...present.files };
  for (const role of present.missing) {
    const name = `${IDX_FILE_NAMES[role]}.gz`;
    const failures: string[] = [];
    let body: Uint8Array | null = null;
    for (const mirror of mirrors) {
      const url = new URL(name, mirror).href;
      try {
        options.log?.(`Downloading ${url} …`);
        body = await fetchBytes(url, timeoutMs);
        break;
      } catch (error) {
        failures.push(`${url}: ${describeFetchError(error)}`);
      }
    }
    if (!body) throw new Error(`failed (${failures.join('; ')})`);
    verifyDownload(role, name, body);
    await mkdir(dir, { recursive: true });
    const target = join(dir, name);
    const partial = `${target}.partial-${process.pid}`;
    try {
      await writeFile(partial, body);
      await rename(partial, target);
    } catch (error) {
      await rm(partial, { force: true });
      throw new Error(`could not write ${target} (${describeFetchError(error)})`);
    }
    files[role] = target;
  }
  return files as IdxFiles;
}

/** Fetch a URL into memory: `timeoutMs` for the answer to start, five minutes for the body. */
async function fetchBytes(url: string, timeoutMs: number): Promise<Uint8Array> {
  const controller = new AbortController();
  let timer = setTimeout(() => controller.abort(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  try {
    const response = await fetch(url, { signal: controller.signal, redirect: 'follow' });
    if (!response.ok) throw new Error(`HTTP ${response.status} ${response.statusText}`);
    clearTimeout(timer);
    timer = setTimeout(() => controller.abort(new Error('download took longer than 5 minutes')), 300_000);
    return new Uint8Array(await response.arrayBuffer());
  } finally {
    clearTimeout(timer);
  }
}

function verifyDownload(role: IdxRole, name: string, body: Uint8Array): void {
  let content: Uint8Array;
  try {
    content = isGzip(body) ? gunzipSync(body) : body;
  } catch (error) {
    throw new Error(`${name} arrived corrupt (${describeFetchError(error)}); nothing was kept`);
  }
  const actual = createHash('sha256').update(content).digest('hex');
  if (actual !== FASHION_SHA256[role]) {
    throw new Error(`${name} arrived with SHA-256 ${actual} of its content, expected ${FASHION_SHA256[role]}; nothing was kept`);
  }
}

function describeMissing(found: ReturnType<typeof findIdxFiles>): string {
  if (!found.folderExists) return 'no such folder';
  return `missing ${found.missing.map((r) => `${IDX_FILE_NAMES[r]}[.gz]`).join(', ')}`;
}

function howToGetFiles(projectDir: string, explicit: boolean): string {
  const names = IDX_ROLES.map((r) => `${IDX_FILE_NAMES[r]}.gz`).join(', ');
  const put = explicit
    ? `put the four files (${names}; gzip or plain, also without .gz) into that folder, or into ${projectDir} and drop --data-dir / FASHION_MNIST_DIR`
    : `put the four files (${names}; gzip or plain, also without .gz) into ${projectDir}, or pass --data-dir DIR (or set FASHION_MNIST_DIR) for a folder that holds them`;
  return `To get the files, either:\n  - run \`npm run setup\`, which installs Debian's dataset-fashion-mnist package (files in ${SYSTEM_FASHION_DIR}), or\n  - ${put}.`;
}

function describeFetchError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = (error as { cause?: unknown }).cause;
  if (cause instanceof Error) {
    const code = (cause as { code?: unknown }).code;
    return `${error.message}: ${typeof code === 'string' && !cause.message.includes(code) ? `${code} ` : ''}${cause.message}`;
  }
  return error.message;
}

function findProjectRoot(start: string): string {
  let dir = start;
  for (;;) {
    if (isFile(join(dir, 'package.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) return resolve(start, '..', '..');
    dir = parent;
  }
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function isDirectory(path: string): boolean {
  return statSync(path, { throwIfNoEntry: false })?.isDirectory() === true;
}
