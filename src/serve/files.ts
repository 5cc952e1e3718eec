/**
 * What `tune serve` may read: files inside the reports folder (checked after every symlink is
 * resolved) and a fixed list of browser assets (vega, vega-lite, vega-embed and mermaid from
 * node_modules, the page's own script and style). Nothing else, and nothing is ever written.
 */
import { existsSync, realpathSync } from 'node:fs';
import { readFile, realpath, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** A request path's segment, decoded, or null when it could step out of its folder or is not a name. */
export function safeSegment(raw: string): string | null {
  let name: string;
  try {
    name = decodeURIComponent(raw);
  } catch {
    return null;
  }
  if (name === '' || name === '.' || name === '..' || /[/\\\0]/.test(name)) return null;
  return name;
}

export type Resolved = { ok: true; file: string; directory: boolean } | { ok: false; status: 403 | 404; reason: string };

/**
 * The file or folder that the raw (percent-encoded) `segments` name inside `root`, only when its
 * real path (symlinks resolved) is inside root's real path.
 */
export async function resolveInside(root: string, segments: readonly string[]): Promise<Resolved> {
  const names = segments.map(safeSegment);
  if (names.some((n) => n === null)) return { ok: false, status: 403, reason: 'not a plain file name' };
  let realRoot: string;
  let real: string;
  try {
    realRoot = await realpath(root);
    real = await realpath(path.join(root, ...(names as string[])));
  } catch {
    return { ok: false, status: 404, reason: 'no such file' };
  }
  if (real !== realRoot && !real.startsWith(realRoot + path.sep)) return { ok: false, status: 403, reason: 'outside the reports folder' };
  const info = await stat(real);
  if (!info.isFile() && !info.isDirectory()) return { ok: false, status: 403, reason: 'not a file' };
  return { ok: true, file: real, directory: info.isDirectory() };
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.md': 'text/markdown; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.ndjson': 'application/x-ndjson; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.csv': 'text/csv; charset=utf-8',
};

/** The Content-Type of a served file (binary for anything not listed). */
export function contentType(file: string): string {
  return TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
}

const require = createRequire(import.meta.url);

/** An installed package's folder, found the way Node looks for it (its package.json need not be exported). */
function packageDir(name: string): string {
  for (const dir of require.resolve.paths(name) ?? []) {
    if (existsSync(path.join(dir, name, 'package.json'))) return realpathSync(path.join(dir, name));
  }
  throw new Error(`tune serve: the package ${name} is not installed (npm ci installs it)`);
}

const OWN = path.join(path.dirname(fileURLToPath(import.meta.url)), 'assets');

/** The browser assets, by the name the pages use under /assets/. */
const ASSETS: Record<string, () => string> = {
  'vega.min.js': () => path.join(packageDir('vega'), 'build', 'vega.min.js'),
  'vega-lite.min.js': () => path.join(packageDir('vega-lite'), 'build', 'vega-lite.min.js'),
  'vega-embed.min.js': () => path.join(packageDir('vega-embed'), 'build', 'vega-embed.min.js'),
  'mermaid.min.js': () => path.join(packageDir('mermaid'), 'dist', 'mermaid.min.js'),
  'page.js': () => path.join(OWN, 'page.js'),
  'page.css': () => path.join(OWN, 'page.css'),
};

const assetCache = new Map<string, Buffer>();

/** An asset's content (read once), or null for a name that is not an asset. */
export async function readAsset(name: string): Promise<{ body: Buffer; type: string } | null> {
  const locate = Object.hasOwn(ASSETS, name) ? ASSETS[name] : undefined;
  if (!locate) return null;
  let body = assetCache.get(name);
  if (!body) {
    body = await readFile(locate());
    assetCache.set(name, body);
  }
  return { body, type: contentType(name) };
}

/** A stored file's fingerprint for change detection: 'missing', or its inode, size and modification time. */
export async function fileSignature(file: string): Promise<string> {
  try {
    const s = await stat(file);
    return `${s.ino}:${s.size}:${s.mtimeMs}`;
  } catch {
    return 'missing';
  }
}
