/**
 * `tune serve`'s routes (Hono), over a reports folder, read-only:
 *
 *   GET /                               the list of studies          GET /api/studies          the same, as parts (JSON)
 *   GET /studies/NAME/                  a study's page               GET /api/studies/NAME     the same, as parts (JSON)
 *   GET /studies/NAME/FILE              a file of the study's folder GET /api/studies/NAME/plots/ID  a plot's Vega-Lite spec
 *   GET /api/events, /api/studies/NAME/events   server-sent events: `change` when the record(s) on disk change
 *   GET /assets/NAME                    vega, vega-lite, vega-embed, mermaid, the page's script and style
 *
 * Every page is rendered from the stored study, read the way `tune report` reads it
 * (readStudyFile), and cached until the file changes. Only GET and HEAD are answered; paths are
 * resolved inside the reports folder after symlinks (files.ts); when bound to a loopback address
 * only requests that name a loopback host are answered (a web page elsewhere cannot rebind a DNS
 * name to this server).
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { Hono, type Context } from 'hono';
import { streamSSE } from 'hono/streaming';
import { listStudies } from '../report/list.ts';
import { contentHash } from '../report/plots.ts';
import { escapeHtml } from '../report/html.ts';
import { listPage, pageDocument, pageParts, pagePlotSpec, studyPage, type Page } from '../report/page.ts';
import { readStudyFile, STUDY_FILE } from '../store/study-store.ts';
import type { StudyRecord } from '../store/records.ts';
import { contentType, fileSignature, readAsset, resolveInside, safeSegment } from './files.ts';

export interface AppOptions {
  reportsDir: string;
  /** The machine's Mermaid diagram (src/machine/diagram.ts). */
  diagram: string;
  /** Only answer requests whose Host is a loopback name (the server is bound to one). */
  loopbackOnly: boolean;
  /** How often an event stream looks at the record on disk (ms). Default 500. */
  pollMs?: number;
}

const SECURITY_HEADERS: Record<string, string> = {
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

const LOOPBACK_HOST = /^(localhost|127(?:\.\d{1,3}){3}|\[::1\])(:\d+)?$/i;

interface Loaded {
  signature: string;
  study: StudyRecord | null;
  error: string | null;
  /** Rendered when first asked for. */
  page: Page | null;
}

export function createApp(opts: AppOptions): Hono {
  const pollMs = opts.pollMs ?? 500;
  const reports = opts.reportsDir;
  const cache = new Map<string, Loaded>();
  const app = new Hono();

  app.use(async (c, next) => {
    if (c.req.method !== 'GET' && c.req.method !== 'HEAD') {
      return c.text('tune serve is read-only: only GET and HEAD are answered.\n', 405, { Allow: 'GET, HEAD', ...SECURITY_HEADERS });
    }
    if (opts.loopbackOnly && !LOOPBACK_HOST.test(c.req.header('host') ?? '')) {
      return c.text('This server answers requests for localhost only (it is bound to a loopback address).\n', 403, SECURITY_HEADERS);
    }
    await next();
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) c.header(k, v);
  });

  /** The study folder NAME (raw segment) resolved inside the reports folder, or an error response. */
  async function studyDir(c: Context, raw: string): Promise<{ dir: string; name: string } | Response> {
    const name = safeSegment(raw);
    const found = name === null ? null : await resolveInside(reports, [raw]);
    if (!found || !found.ok) return c.text(`No such study.\n`, found && !found.ok ? found.status : 403);
    if (!found.directory) return c.text('No such study.\n', 404);
    return { dir: found.file, name: name! };
  }

  /** A study's record (or why it cannot be read), read again only when the file changed. */
  async function load(dir: string): Promise<Loaded> {
    const file = path.join(dir, STUDY_FILE);
    const signature = await fileSignature(file);
    const hit = cache.get(dir);
    if (hit && hit.signature === signature) return hit;
    let loaded: Loaded;
    try {
      loaded = { signature, study: readStudyFile(file), error: null, page: null };
    } catch (error) {
      loaded = { signature, study: null, error: (error as Error).message, page: null };
    }
    cache.delete(dir);
    if (cache.size >= 8) cache.delete(cache.keys().next().value!); // the least recently read
    cache.set(dir, loaded);
    return loaded;
  }

  /** A study's page, rendered again only when its record changed. */
  async function page(dir: string, name: string): Promise<Page> {
    const loaded = await load(dir);
    loaded.page ??= loaded.study ? studyPage({ name, study: loaded.study }, opts.diagram) : studyPage({ name, error: loaded.error! }, opts.diagram);
    return loaded.page;
  }

  /** The list reads the records through the same cache (a study writes its record every few seconds while it trains). */
  const listed = async () => {
    const rows = await listStudies(reports, async (file) => {
      const loaded = await load(path.dirname(file));
      if (!loaded.study) throw new Error(loaded.error ?? 'unreadable');
      return loaded.study;
    });
    return listPage(rows, reports);
  };

  /** Server-sent events: `change` whenever `signature()` changes (the page then fetches itself again). */
  function events(c: Context, signature: () => Promise<string>) {
    if (c.req.method === 'HEAD') return c.body(null, 200, { 'Content-Type': 'text/event-stream' });
    return streamSSE(c, async (stream) => {
      let last = await signature();
      await stream.writeSSE({ event: 'ready', data: last, retry: 1000 });
      while (!stream.aborted && !stream.closed) {
        await stream.sleep(pollMs);
        const now = await signature();
        if (now !== last) {
          last = now;
          await stream.writeSSE({ event: 'change', data: now });
        }
      }
    });
  }

  /** The reports folder's signature: its study folders and their records. */
  async function listSignature(): Promise<string> {
    const entries = await readdir(reports, { withFileTypes: true }).catch(() => []);
    const dirs = entries.filter((e) => e.isDirectory()).map((e) => e.name).sort();
    const signatures = await Promise.all(dirs.map((d) => fileSignature(path.join(reports, d, STUDY_FILE))));
    return contentHash(dirs.map((d, i) => `${d}=${signatures[i]}`));
  }

  const listUrls = { api: '/api/studies', events: '/api/events' };
  app.get('/', async (c) => c.html(pageDocument(await listed(), listUrls, { charts: false })));
  app.get('/api/studies', async (c) => c.json(pageParts(await listed()), 200, { 'Cache-Control': 'no-store' }));
  app.get('/api/events', (c) => events(c, listSignature));

  app.get('/api/studies/:name', async (c) => {
    const found = await studyDir(c, rawSegments(c)[3]);
    if (found instanceof Response) return found;
    return c.json(pageParts(await page(found.dir, found.name)), 200, { 'Cache-Control': 'no-store' });
  });
  app.get('/api/studies/:name/events', async (c) => {
    const found = await studyDir(c, rawSegments(c)[3]);
    if (found instanceof Response) return found;
    return events(c, () => fileSignature(path.join(found.dir, STUDY_FILE)));
  });
  app.get('/api/studies/:name/plots/:plot', async (c) => {
    const found = await studyDir(c, rawSegments(c)[3]);
    if (found instanceof Response) return found;
    const { study } = await load(found.dir);
    const spec = study ? pagePlotSpec(study, c.req.param('plot')) : null;
    return spec ? c.json(spec, 200, { 'Cache-Control': 'no-store' }) : c.text('No such plot.\n', 404);
  });

  app.get('/studies/:name', (c) => c.redirect(`/studies/${rawSegments(c)[2]}/`, 301));
  app.get('/studies/:name/*', async (c) => {
    const [, , raw, ...rest] = rawSegments(c);
    const found = await studyDir(c, raw);
    if (found instanceof Response) return found;
    const api = `/api/studies/${encodeURIComponent(found.name)}`;
    if (rest.length === 0 || (rest.length === 1 && rest[0] === '')) {
      return c.html(pageDocument(await page(found.dir, found.name), { api, events: `${api}/events`, plots: `${api}/plots` }, { charts: true }));
    }
    const trailing = rest.at(-1) === '';
    const target = await resolveInside(found.dir, trailing ? rest.slice(0, -1) : rest);
    if (!target.ok) return c.text(target.status === 404 ? 'No such file.\n' : 'Forbidden.\n', target.status);
    if (target.directory && !trailing) return c.redirect(`${new URL(c.req.url).pathname}/`, 301);
    if (target.directory) return c.html(await folderIndex(target.file, rest.filter((s) => s !== '').map((s) => safeSegment(s)!).join('/')));
    return c.body(new Uint8Array(await readFile(target.file)), 200, { 'Content-Type': contentType(target.file) });
  });

  app.get('/favicon.ico', (c) => c.body(null, 204));
  app.get('/assets/:file', async (c) => {
    const asset = await readAsset(c.req.param('file'));
    if (!asset) return c.text('No such asset.\n', 404);
    return c.body(new Uint8Array(asset.body), 200, { 'Content-Type': asset.type, 'Cache-Control': 'max-age=300' });
  });

  app.notFound((c) => c.text('Not found.\n', 404, SECURITY_HEADERS));
  app.onError((error, c) => {
    console.error(error);
    return c.text(`Internal error (a bug): ${error.message}\n`, 500, SECURITY_HEADERS);
  });
  return app;
}

/** The request path's raw (still percent-encoded) segments: ['', 'studies', 'NAME', ...]. */
function rawSegments(c: Context): string[] {
  return new URL(c.req.url).pathname.split('/');
}

/** A plain listing of a folder inside a study (the report links `model/`). */
async function folderIndex(dir: string, rel: string): Promise<string> {
  const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name));
  const items = entries.map((e) => {
    const name = e.name + (e.isDirectory() ? '/' : '');
    return `<li><a href="${encodeURIComponent(e.name)}${e.isDirectory() ? '/' : ''}">${escapeHtml(name)}</a></li>`;
  });
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(rel)}/</title><link rel="stylesheet" href="/assets/page.css"></head><body><main><nav><a href="../">← up</a></nav><h1><code>${escapeHtml(rel)}/</code></h1><ul>${items.join('')}</ul></main></body></html>`;
}
