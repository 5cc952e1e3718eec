/**
 * `tune serve` in a real browser: headless Chromium (Debian's `chromium`, driven by playwright-core)
 * watches a real short study on a Fashion-MNIST subset. The list shows the study as soon as it
 * exists; its page shows the run in flight with its epoch and time left, the flowchart with the
 * current state lit, the plots drawn by vega-embed, and a decision row appearing without a reload;
 * at the end, the finished study. The screenshot it takes is the README's (UPDATE_SCREENSHOT=1
 * writes it to docs/serve.png).
 *
 * Skipped, saying so, only where no Chromium is installed (or no Fashion-MNIST to train on).
 */
import { existsSync } from 'node:fs';
import { copyFile, readFile } from 'node:fs/promises';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, describe, expect, test } from 'vitest';
import { startServer, type RunningServer } from '../../src/serve/server.ts';
import { HAVE_FASHION, ROOT, tempReports, tuneAsync } from '../e2e/helpers.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
if (!HAVE_CHROMIUM) console.warn(`test/serve/browser.test.ts skipped: no Chromium at ${CHROMIUM} (Debian: apt-get install chromium; or set CHROMIUM_PATH).`);
else if (!HAVE_FASHION) console.warn('test/serve/browser.test.ts skipped: no Fashion-MNIST to train on (Debian: apt-get install dataset-fashion-mnist).');

/** A short real study: 3 search runs of 5 epochs on 8,192 images, each a few seconds per epoch on 2 shared cores. */
const STUDY = ['--data', 'fashion', '--validation-size', '2000', '--subset', '8192', '--validation-subset', '500', '--max-epochs', '5', '--max-runs', '3', '--budget', '10m', '--no-final-full', '--backend', 'wasm'];

let browser: Browser | null = null;
let server: RunningServer | null = null;
afterAll(async () => {
  await browser?.close();
  await server?.close();
});

/** The numbers the page shows now (read from the page's DOM, as a person sees them). Runs in the browser. */
function shown(page: Page) {
  return page.evaluate(() => {
    // The test's TypeScript has no DOM library: the browser's globals, untyped.
    const { document, window } = globalThis as any;
    const live = document.querySelector('[data-part="live"] [data-run]');
    const log = [...document.querySelectorAll('[data-part="log"] tbody tr')];
    return {
      status: (document.querySelector('[data-part="head"] .badge')?.textContent ?? null) as string | null,
      run: live ? Number(live.dataset.run) : null,
      epoch: live ? Number(live.dataset.epoch) : null,
      epochText: (live?.querySelector('dd')?.textContent ?? null) as string | null,
      timeLeft: (live?.querySelector('.time-left')?.textContent ?? null) as string | null,
      logRows: log.length,
      lastDecision: (log.at(-1)?.textContent ?? null) as string | null,
      latest: document.querySelectorAll('[data-part="live"] table.latest tbody tr').length as number,
      current: (document.querySelector('[data-part="flowchart"] .flowchart g.current')?.id ?? null) as string | null,
      plots: document.querySelectorAll('figure.plot .vega svg.marks').length as number,
      unreloaded: window.__unreloaded === true,
    };
  });
}

/** Marks the page: a reload would lose the mark. */
const mark = (page: Page) => page.evaluate(() => ((globalThis as any).__unreloaded = true));

async function until<T>(what: string, read: () => Promise<T>, ok: (value: T) => boolean, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value = await read();
  while (!ok(value)) {
    if (Date.now() > deadline) throw new Error(`${what}: not seen within ${timeoutMs / 1000} s; the page shows ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 100));
    value = await read();
  }
  return value;
}

describe.skipIf(!HAVE_CHROMIUM || !HAVE_FASHION)('tune serve in headless Chromium, watching a real study', () => {
  test('the run in flight, a decision appearing without reload, the finished study; a screenshot', async () => {
    const reports = await tempReports();
    server = await startServer({ reportsDir: reports, port: 0 });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    const page = await browser.newPage({ viewport: { width: 1280, height: 1180 } });
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (m) => m.type() === 'error' && problems.push(`console: ${m.text()}`));

    // The list, open before the study exists, shows it when it appears (no reload).
    await page.goto(server.url);
    await mark(page);
    const child = tuneAsync([...STUDY, '--name', 'live', '--reports', reports]);
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    try {
      await page.waitForSelector('tr[data-study="live"] a', { timeout: 120_000 });
      expect((await shown(page)).unreloaded).toBe(true);
      await page.click('tr[data-study="live"] a');
      await page.waitForURL(/\/studies\/live\/$/);
      await mark(page);

      // The run in flight: its epoch of its MaxEpochs, then its time left once an epoch has finished.
      const flying = await until('a run in flight with its time left', () => shown(page), (s) => s.run !== null && /^≈ /.test(s.timeLeft ?? ''), 180_000);
      expect(flying.status).toBe('running');
      expect(flying.epochText).toMatch(new RegExp(`^${flying.epoch} of \\d+`));
      expect(flying.current).toMatch(/_training-/); // the flowchart lights the state that trains it

      // A decision appears in the log without a reload, while the study goes on.
      const before = await shown(page);
      const after = await until('a new decision in the log', () => shown(page), (s) => s.logRows > before.logRows, 180_000);
      expect(after.unreloaded).toBe(true);
      expect(after.lastDecision).toBeTruthy();

      // The screenshot the README shows: a run in flight with its time left, and a decision already taken.
      const ready = await until('a run in flight after a decision', () => shown(page), (s) => s.run !== null && /^≈ /.test(s.timeLeft ?? '') && s.logRows >= 2 && s.plots > 0, 180_000);
      expect(ready.latest).toBeGreaterThanOrEqual(2); // the latest decisions, with their why, under the run in flight
      const shot = path.join(reports, 'serve.png');
      await page.screenshot({ path: shot });
      const png = await readFile(shot);
      expect(png.subarray(1, 4).toString()).toBe('PNG');
      expect(png.readUInt32BE(16)).toBe(1280); // IHDR width
      if (process.env.UPDATE_SCREENSHOT) await copyFile(shot, path.join(ROOT, 'docs', 'serve.png'));

      // The end: the same page, still not reloaded, shows the finished study.
      const code = await exited;
      expect(code, stderr).toBe(3); // the run budget ended the search: "stopped by budget with a result"
      const done = await until('the finished study', () => shown(page), (s) => s.status === 'finished', 30_000);
      expect(done).toMatchObject({ run: null, unreloaded: true });
      await page.waitForSelector('[data-part="summary"] >> text=Test accuracy:', { timeout: 10_000 });
      expect(await page.textContent('[data-part="summary"]')).toMatch(/Test accuracy: \d+\.\d\d%/);
      await until('the flowchart at its end', () => shown(page), (s) => /state-done-/.test(s.current ?? ''), 10_000);
      expect(problems).toEqual([]);
    } finally {
      child.kill('SIGKILL');
    }
  }, 600_000);
});
