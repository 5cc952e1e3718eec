/** The hang watchdog (src/watchdog.ts): real processes, one stuck for good, one healthy. */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { UserError } from '../src/errors.ts';
import { WATCHDOG_SECONDS, watchdogSeconds } from '../src/watchdog.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const SCRIPT = path.join(ROOT, 'test', 'store', 'fixtures', 'hang-process.ts');
const run = (how: 'hang' | 'idle', seconds: number) => spawnSync(process.execPath, ['--import', 'tsx', SCRIPT, how, String(seconds)], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });

describe('the hang watchdog', () => {
  test('a main thread stuck in a call that never returns is killed after the limit, saying why', () => {
    const r = run('hang', 1);
    expect(r.signal).toBe('SIGKILL');
    expect(r.stderr).toMatch(/started\nwatchdog: nothing has run for \d+ s\n/);
  });

  test('a process whose event loop runs is left alone', () => {
    const r = run('idle', 1);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/nothing has run/);
  });

  test.each([
    [undefined, WATCHDOG_SECONDS],
    ['', WATCHDOG_SECONDS],
    ['0', 0],
    ['60', 60],
  ])('FLOWTUNE_WATCHDOG_SECONDS=%s → %s s', (given, seconds) => {
    expect(watchdogSeconds({ FLOWTUNE_WATCHDOG_SECONDS: given })).toBe(seconds);
  });

  test('a limit that is not a number of seconds is a user error naming the variable', () => {
    expect(() => watchdogSeconds({ FLOWTUNE_WATCHDOG_SECONDS: '-1' })).toThrow(UserError);
    expect(() => watchdogSeconds({ FLOWTUNE_WATCHDOG_SECONDS: 'ten' })).toThrow(/FLOWTUNE_WATCHDOG_SECONDS=ten: expected a number of seconds ≥ 0/);
  });
});
