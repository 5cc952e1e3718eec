/** `tune serve` from the command line: what it prints, its user errors (exit 2, no stack), Ctrl-C. */
import { mkdir, mkdtemp } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { tune, tuneAsync } from '../e2e/helpers.ts';

/** Runs `tune serve ARGS` until it prints its address, then sends SIGINT; resolves with what it printed and its exit code. */
function serveUntilListening(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string; page: number }> {
  return new Promise((resolve, reject) => {
    const child = tuneAsync(['serve', ...args]);
    let stdout = '';
    let stderr = '';
    let page = 0;
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.stderr.on('data', (d) => (stderr += d));
    child.stdout.on('data', async (d) => {
      stdout += d;
      const url = /(http:\/\/\S+\/)/.exec(stdout)?.[1];
      if (!url || page) return;
      page = (await fetch(url.replace('0.0.0.0', '127.0.0.1'))).status;
      child.kill('SIGINT');
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, page });
    });
  });
}

describe('tune serve, the command', () => {
  test('serves until Ctrl-C, then exits 0; 127.0.0.1 by default, without a warning', async () => {
    const reports = await mkdtemp(path.join(tmpdir(), 'flowtune-serve-cli-'));
    const r = await serveUntilListening(['--port', '0', '--reports', reports]);
    expect(r.stdout).toMatch(new RegExp(`^tune serve: http://127\\.0\\.0\\.1:\\d+/ — the studies in ${reports}, read-only, live\\. Ctrl-C stops\\.`));
    expect(r.page).toBe(200);
    expect(r.stderr).not.toMatch(/warning/);
    expect(r.code).toBe(0);
  });

  test('--host 0.0.0.0 warns that anyone who reaches the machine can read the studies', async () => {
    const reports = await mkdtemp(path.join(tmpdir(), 'flowtune-serve-cli-'));
    const r = await serveUntilListening(['--host', '0.0.0.0', '--port', '0', '--reports', reports]);
    expect(r.stderr).toMatch(/^warning: --host 0\.0\.0\.0 makes every study under the reports folder readable by anyone who can reach this machine on port \d+/);
    expect(r.page).toBe(200);
    expect(r.code).toBe(0);
  });

  test.each([
    [['--port', 'http'], /--port http is not valid: give a whole number from 1 to 65535/],
    [['--port', '70000'], /--port 70000 is not valid/],
    [['--reports', '/nonexistent/flowtune-reports'], /No reports folder at \/nonexistent\/flowtune-reports: .*runs one\. Start a study first/],
    [['--host', '203.0.113.9', '--port', '0'], /--host 203\.0\.113\.9 is not an address of this machine: use 127\.0\.0\.1 \(the default\)/],
  ])('%j is a user error: exit 2, no stack trace', async (args, message) => {
    const reports = await mkdtemp(path.join(tmpdir(), 'flowtune-serve-cli-'));
    const { code, stderr } = tune(['serve', '--reports', reports, ...(args as string[])]);
    expect(stderr).toMatch(message);
    expect(code).toBe(2);
    expect(stderr).not.toMatch(/\n\s+at /);
  });

  test('a port in use: exit 2, naming the port and what to do', async () => {
    const reports = await mkdtemp(path.join(tmpdir(), 'flowtune-serve-cli-'));
    await mkdir(reports, { recursive: true });
    const blocker = createServer();
    const port = await new Promise<number>((r) => blocker.listen(0, '127.0.0.1', () => r((blocker.address() as { port: number }).port)));
    try {
      const { code, stderr } = tune(['serve', '--port', String(port), '--reports', reports]);
      expect(stderr).toBe(`tune: Port ${port} on 127.0.0.1 is already in use (another \`tune serve\`?): pick another with --port N, or --port 0 for any free port.\n`);
      expect(code).toBe(2);
    } finally {
      blocker.close();
    }
  });
});
