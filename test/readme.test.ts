/**
 * README.md's "Your own policy" stays true: its action table is the registry's, and its worked
 * example (a policy and its vitest file) type-checks against 'flowtune', loads through the CLI's
 * loader, keeps the contract, and its test passes when run by vitest in a folder of its own.
 * Its "Scripting studies" example type-checks against 'flowtune/study' (test/study/run-study.test.ts
 * runs real studies through the same runStudy).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, test } from 'vitest';
import { actionTable } from 'flowtune';
import { checkPolicy } from 'flowtune/testing';
import { loadPolicy } from '../src/policy-loader.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const README = readFileSync(path.join(ROOT, 'README.md'), 'utf8');

/** `tsc --noEmit` of `files` in `dir`, strict, 'flowtune' resolving to its sources as under tsx: what it says. */
function typecheck(dir: string, files: string[], extra: string[] = []) {
  return spawnSync(
    process.execPath,
    [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--customConditions', 'flowtune-source', '--allowImportingTsExtensions', '--skipLibCheck', '--types', 'node', '--typeRoots', path.join(ROOT, 'node_modules', '@types'), ...extra, ...files],
    { cwd: dir, encoding: 'utf8', timeout: 120_000 },
  );
}

/** The first fenced code block after `marker`. */
function blockAfter(marker: string): string {
  const at = README.indexOf(marker);
  expect(at, marker).toBeGreaterThan(-1);
  const m = /```\w*\n([\s\S]*?)```/.exec(README.slice(at));
  return m![1];
}

describe('README.md, "Your own policy"', () => {
  test('the action table is the registry\u2019s', () => {
    const m = /<!-- actions:start[^\n]*-->\n([\s\S]*?)\n<!-- actions:end -->/.exec(README);
    expect(m).not.toBeNull();
    expect(m![1]).toBe(actionTable());
  });

  describe('the worked example', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'flowtune-readme-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ private: true, type: 'module' }));
    mkdirSync(path.join(dir, 'node_modules'));
    symlinkSync(ROOT, path.join(dir, 'node_modules', 'flowtune'), 'dir');
    symlinkSync(path.join(ROOT, 'node_modules', 'vitest'), path.join(dir, 'node_modules', 'vitest'), 'dir');
    const policy = blockAfter('<!-- readme-example:policy');
    const spec = blockAfter('<!-- readme-example:test');
    writeFileSync(path.join(dir, 'adam-when-slow.ts'), policy);
    writeFileSync(path.join(dir, 'adam-when-slow.test.ts'), spec);

    test('loads through the loader and keeps the contract', async () => {
      const loaded = await loadPolicy('adam-when-slow.ts', dir);
      expect(loaded.policy.name).toBe('adam-when-slow');
      expect(checkPolicy(loaded.policy).problems).toEqual([]);
    });

    test('type-checks, the policy and its test, against flowtune', () => {
      const tsc = typecheck(dir, ['adam-when-slow.ts', 'adam-when-slow.test.ts']);
      expect(tsc.stdout + tsc.stderr).toBe('');
      expect(tsc.status).toBe(0);
    });

    test('its test passes, run by vitest there', () => {
      const r = spawnSync(process.execPath, [path.join(ROOT, 'node_modules', 'vitest', 'vitest.mjs'), 'run', '--root', dir, '--reporter', 'verbose'], {
        cwd: dir,
        encoding: 'utf8',
        timeout: 120_000,
        env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' },
      });
      expect(r.status, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toMatch(/✓ .*keeps the contract/);
      expect(r.stdout).toMatch(/✓ .*a slow sgdm run tries adam/);
      expect(r.stdout).toMatch(/Tests\s+2 passed/);
    });
  });
});

describe('README.md, "Scripting studies"', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'flowtune-readme-script-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ private: true, type: 'module' }));
  mkdirSync(path.join(dir, 'node_modules'));
  symlinkSync(ROOT, path.join(dir, 'node_modules', 'flowtune'), 'dir');
  const script = blockAfter('<!-- readme-example:script');

  test('the example calls runStudy from flowtune/study with a policy object', () => {
    expect(script).toMatch(/^\/\/ study\.mts/);
    expect(script).toContain("import { runStudy } from 'flowtune/study';");
    expect(script).toMatch(/await runStudy\(\{/);
  });

  test('type-checks against flowtune/study (its options, its result)', () => {
    writeFileSync(path.join(dir, 'study.mts'), script);
    // The library the repository's code is checked with (tsconfig.json): ES2022 and Node's types.
    const tsc = typecheck(dir, ['study.mts'], ['--lib', 'es2022']);
    expect(tsc.stdout + tsc.stderr).toBe('');
    expect(tsc.status).toBe(0);
  });

  test('a misspelt option does not type-check', () => {
    writeFileSync(path.join(dir, 'typo.mts'), script.replace('maxRuns:', 'maxRun:'));
    const tsc = typecheck(dir, ['typo.mts'], ['--lib', 'es2022']);
    expect(tsc.status).not.toBe(0);
    expect(tsc.stdout).toMatch(/typo\.mts\(\d+,\d+\): error TS2561: Object literal may only specify known properties, but 'maxRun' does not exist in type 'RunStudyOptions'/);
  });
});
