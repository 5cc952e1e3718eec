/**
 * `tune serve`'s server over a real reports folder, with real HTTP requests to 127.0.0.1 on a free
 * port: the pages of finished, running, failed and unreadable studies; live change events; and
 * its safety — nothing outside reports/ (`..`, encoded slashes and dots, backslashes, symlinks),
 * only GET and HEAD, loopback by default, only loopback Host names.
 */
import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { UserError } from '../../src/errors.ts';
import { writeReport } from '../../src/report/write.ts';
import { exposureWarning, isLoopback, startServer, type RunningServer } from '../../src/serve/server.ts';
import { stringifyStudy } from '../../src/store/study-store.ts';
import type { StudyRecord } from '../../src/store/records.ts';
import { divergedStudy, finishedStudy, inFlightRun, runningStudy } from '../report/__fixtures__/studies.ts';

const SECRET = 'TOP-SECRET-CONTENT';
let root: string;
let reports: string;
let server: RunningServer;

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One raw HTTP request: the path is sent exactly as given (no URL normalisation by a client). */
function http(rawPath: string, opts: { method?: string; headers?: Record<string, string> } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: server.port, path: rawPath, method: opts.method ?? 'GET', headers: opts.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function writeStudy(name: string, study: StudyRecord): Promise<string> {
  const dir = path.join(reports, name);
  await mkdir(dir, { recursive: true });
  // As the store writes: a temporary file renamed into place.
  await writeFile(path.join(dir, 'study.json.tmp'), stringifyStudy(study));
  await rename(path.join(dir, 'study.json.tmp'), path.join(dir, 'study.json'));
  return dir;
}

const running = (): StudyRecord => ({
  ...runningStudy(),
  snapshot: { value: { capacity: 'training' }, status: 'active' },
  inFlight: inFlightRun({ budgetSecondsLeft: null }),
});

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'flowtune-serve-'));
  reports = path.join(root, 'reports');
  await writeFile(path.join(root, 'secret.txt'), SECRET);
  const finished = await writeStudy('finished', finishedStudy());
  await writeReport(finishedStudy(), finished);
  await mkdir(path.join(finished, 'model'));
  await writeFile(path.join(finished, 'model', 'model.json'), '{"format":"layers-model"}');
  await symlink(path.join(root, 'secret.txt'), path.join(finished, 'leak'));
  await writeStudy('failed', { ...divergedStudy(), status: 'failed', statusReason: 'the policy kept choosing refused actions (5 in a row)' });
  await writeStudy('running', running());
  await mkdir(path.join(reports, 'corrupt'));
  await writeFile(path.join(reports, 'corrupt', 'study.json'), '{"config": {"name": "corrupt"');
  await symlink(root, path.join(reports, 'link'));
  server = await startServer({ reportsDir: reports, port: 0, pollMs: 100 });
});

afterAll(async () => {
  await server?.close();
  await rm(root, { recursive: true, force: true });
});

describe('tune serve: pages', () => {
  test('binds 127.0.0.1 by default', () => {
    expect(server.host).toBe('127.0.0.1');
    expect(server.url).toBe(`http://127.0.0.1:${server.port}/`);
    expect(isLoopback('127.0.0.1') && isLoopback('localhost') && isLoopback('::1')).toBe(true);
    expect(exposureWarning('127.0.0.1', 8080)).toBeNull();
    expect(exposureWarning('0.0.0.0', 8080)).toMatch(/^warning: --host 0\.0\.0\.0 makes every study .* readable by anyone .* port 8080/);
  });

  test('the list shows every study, the unreadable one with why', async () => {
    const r = await http('/');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toMatch(/text\/html/);
    for (const name of ['finished', 'failed', 'running', 'corrupt']) expect(r.body).toContain(`data-study="${name}"`);
    expect(r.body).toMatch(/data-study="corrupt">.*badge unreadable.*study\.json/);
    expect(r.body).toMatch(/data-study="running">.*run 3, epoch 4 of 10/);
    expect(r.body).not.toContain('data-study="link"'); // a symlinked folder is not listed
  });

  test('a finished study is its report in HTML, with the lit flowchart and its plots', async () => {
    const r = await http('/studies/finished/');
    expect(r.status).toBe(200);
    expect(r.headers['content-security-policy']).toMatch(/script-src 'self'/);
    expect(r.headers['x-content-type-options']).toBe('nosniff');
    for (const s of ['<h2 id="summary">Summary</h2>', '<h2 id="decision-log">Decision log</h2>', '<h2 id="what-to-use">What to use</h2>', 'class done current', 'data-plot="run-9"']) expect(r.body).toContain(s);
    expect((await http('/studies/finished')).headers.location).toBe('/studies/finished/');
  });

  test('a corrupt study.json is an error panel on that study; the others are served as before', async () => {
    const r = await http('/studies/corrupt/');
    expect(r.status).toBe(200);
    expect(r.body).toContain("This study's record cannot be read.");
    expect(r.body).toContain('is not a readable study file');
    expect((await http('/api/studies/corrupt')).status).toBe(200);
    expect((await http('/api/studies/corrupt/plots/study')).status).toBe(404);
    expect((await http('/studies/finished/')).status).toBe(200);
    expect((await http('/')).status).toBe(200);
  });

  test('a failed study shows its failure; a running one its run in flight', async () => {
    expect((await http('/studies/failed/')).body).toContain('<strong>The study failed:</strong> the policy kept choosing refused actions (5 in a row)');
    const live = (await http('/studies/running/')).body;
    expect(live).toContain('In flight: run 3');
    expect(live).toContain('<span class="time-left">≈ 20 s</span>');
    expect(live).toContain('class capacity_training current');
  });

  test('the API gives the parts with their hashes and each plot spec', async () => {
    const page = JSON.parse((await http('/api/studies/finished')).body);
    expect(page.parts.map((p: { id: string }) => p.id)).toContain('log');
    expect(page.parts.every((p: { hash: string }) => /^[0-9a-f]{16}$/.test(p.hash))).toBe(true);
    expect(Object.keys(page.plots)).toContain('run-3');
    const spec = JSON.parse((await http('/api/studies/finished/plots/run-3')).body);
    expect(spec.vconcat[0].layer.at(-1).encoding.tooltip[1]).toMatchObject({ field: 'epoch' });
    expect((await http('/api/studies/finished/plots/run-77')).status).toBe(404);
    expect((await http('/api/studies/nope')).status).toBe(404);
  });

  test("the study's own files, and the browser assets from node_modules", async () => {
    const md = await http('/studies/finished/report.md');
    expect(md.status).toBe(200);
    expect(md.headers['content-type']).toMatch(/text\/markdown/);
    expect(md.body).toContain('## Decision log');
    expect((await http('/studies/finished/plots/study.svg')).headers['content-type']).toBe('image/svg+xml');
    expect((await http('/studies/finished/model')).headers.location).toBe('/studies/finished/model/');
    expect((await http('/studies/finished/model/')).body).toContain('<a href="model.json">model.json</a>');
    for (const [asset, start] of [['vega.min.js', '!function'], ['vega-embed.min.js', ''], ['mermaid.min.js', ''], ['page.js', '// tune serve']]) {
      const a = await http(`/assets/${asset}`);
      expect(a.status, asset).toBe(200);
      expect(a.headers['content-type']).toMatch(/text\/javascript/);
      expect(a.body.startsWith(start)).toBe(true);
    }
  });
});

describe('tune serve: safety', () => {
  test.each([
    '/studies/finished/../../secret.txt',
    '/studies/../secret.txt',
    '/studies/finished/%2e%2e/%2e%2e/secret.txt',
    '/studies/finished/..%2f..%2fsecret.txt',
    '/studies/finished/%2e%2e%2f%2e%2e%2fsecret.txt',
    '/studies/finished/%2E%2E%2F%2E%2E%2Fsecret.txt',
    '/studies/..%2fsecret.txt/',
    '/studies/..%2f..%2freports%2ffinished/..%2f..%2fsecret.txt',
    '/studies/finished/%5c..%5c..%5csecret.txt',
    '/studies/finished/..%5c..%5csecret.txt',
    '/studies/finished/secret.txt%00',
    '/studies/finished/leak',
    '/studies/link/secret.txt',
    '/studies/link/',
    '/api/studies/link',
    '/api/studies/..%2f..%2f/plots/study',
    '/api/studies/link/events',
    '/assets/..%2f..%2f..%2fsecret.txt',
    '/assets/%2e%2e%2fpackage.json',
    '//etc/passwd',
    '/studies/finished/%252e%252e/%252e%252e/secret.txt',
  ])('%s is refused (403/404) and leaks nothing', async (raw) => {
    const r = await http(raw);
    expect([403, 404]).toContain(r.status);
    expect(r.body).not.toContain(SECRET);
    expect(r.body).not.toContain('root:');
  });

  test('the symlinks point where the test thinks: outside reports/, readable there', async () => {
    // So the refusals above are the server's doing, not a broken fixture.
    const { readFile } = await import('node:fs/promises');
    expect(await readFile(path.join(reports, 'finished', 'leak'), 'utf8')).toBe(SECRET);
    expect(await readFile(path.join(reports, 'link', 'secret.txt'), 'utf8')).toBe(SECRET);
  });

  test.each(['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'])('%s is refused: no write endpoints', async (method) => {
    for (const p of ['/', '/studies/finished/', '/studies/finished/report.md', '/api/studies/finished']) {
      const r = await http(p, { method });
      expect(r.status, `${method} ${p}`).toBe(405);
      expect(r.headers.allow).toBe('GET, HEAD');
    }
  });

  test('HEAD answers like GET without a body', async () => {
    const r = await http('/studies/finished/report.md', { method: 'HEAD' });
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toMatch(/text\/markdown/);
    expect(r.body).toBe('');
    expect((await http('/api/studies/finished/events', { method: 'HEAD' })).status).toBe(200);
  });

  test('only loopback Host names are answered (no DNS rebinding)', async () => {
    expect((await http('/', { headers: { Host: 'attacker.example' } })).status).toBe(403);
    expect((await http('/studies/finished/report.md', { headers: { Host: `attacker.example:${server.port}` } })).status).toBe(403);
    expect((await http('/', { headers: { Host: `localhost:${server.port}` } })).status).toBe(200);
  });
});

describe('tune serve: live', () => {
  /** Opens an event stream and resolves each time an event of `type` arrives. */
  function events(rawPath: string) {
    const seen: Array<{ event: string; at: number }> = [];
    let wake: (() => void) | null = null;
    const req = request({ host: '127.0.0.1', port: server.port, path: rawPath }, (res) => {
      expect(res.headers['content-type']).toMatch(/text\/event-stream/);
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        for (const m of chunk.matchAll(/^event: (\w+)$/gm)) seen.push({ event: m[1], at: Date.now() });
        wake?.();
      });
    });
    req.on('error', () => undefined);
    req.end();
    return {
      seen,
      async next(event: string, timeoutMs: number): Promise<number> {
        const deadline = Date.now() + timeoutMs;
        for (;;) {
          const hit = seen.findIndex((e) => e.event === event);
          if (hit >= 0) return seen.splice(hit, 1)[0].at;
          if (Date.now() > deadline) throw new Error(`no "${event}" event within ${timeoutMs} ms (saw ${JSON.stringify(seen)})`);
          await new Promise<void>((r) => {
            wake = r;
            setTimeout(r, 50);
          });
        }
      },
      close: () => req.destroy(),
    };
  }

  test("a study's record written again is a change event within 2 s; the page then shows the new decision", async () => {
    const stream = events('/api/studies/running/events');
    await stream.next('ready', 5000);
    const before = JSON.parse((await http('/api/studies/running')).body);
    const study = running();
    study.decisions = [...study.decisions, { afterRun: 2, stage: 'capacity', at: '2026-12-01T10:00:40.000Z', decision: { action: 'widen', params: { factor: 2 }, reason: 'capacity: run 2 converged (a test decision)' } }];
    study.inFlight = { ...study.inFlight!, epoch: 5 };
    const written = Date.now();
    await writeStudy('running', study);
    const at = await stream.next('change', 2000);
    expect(at - written).toBeLessThan(2000);
    stream.close();
    const after = JSON.parse((await http('/api/studies/running')).body);
    const hash = (page: { parts: Array<{ id: string; hash: string; html: string }> }, id: string) => page.parts.find((p) => p.id === id)!;
    expect(hash(after, 'log').hash).not.toBe(hash(before, 'log').hash);
    expect(hash(after, 'log').html).toContain('widen factor=2');
    expect(hash(after, 'live').html).toContain('data-epoch="5"');
    expect(hash(after, 'run-1').hash).toBe(hash(before, 'run-1').hash);
  });

  test('a new study folder is a change event on the list', async () => {
    const stream = events('/api/events');
    await stream.next('ready', 5000);
    await writeStudy('newcomer', finishedStudy());
    await stream.next('change', 2000);
    stream.close();
    expect((await http('/')).body).toContain('data-study="newcomer"');
  });
});

describe('tune serve: starting', () => {
  test('no reports folder is a user error saying what to do', async () => {
    const error = await startServer({ reportsDir: path.join(root, 'nowhere'), port: 0 }).catch((e) => e);
    expect(error).toBeInstanceOf(UserError);
    expect(error.message).toMatch(/^No reports folder at .*nowhere: .*--reports DIR/);
  });

  test('a port in use is a user error naming it', async () => {
    const error = await startServer({ reportsDir: reports, port: server.port }).catch((e) => e);
    expect(error).toBeInstanceOf(UserError);
    expect(error.message).toBe(`Port ${server.port} on 127.0.0.1 is already in use (another \`tune serve\`?): pick another with --port N, or --port 0 for any free port.`);
  });
});
