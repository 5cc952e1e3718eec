/**
 * `tune init-policy FILE`: the starter it writes imports 'flowtune', type-checks (TypeScript, and
 * JavaScript through its JSDoc), loads through the CLI's loader, keeps the policy contract, and
 * runs as it is; an existing file is never overwritten (exit 2).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, test } from 'vitest';
import { checkPolicy } from 'flowtune/testing';
import { initPolicy, starterPolicyText } from '../src/init-policy.ts';
import { loadPolicy } from '../src/policy-loader.ts';
import { UserError } from '../src/errors.ts';
import starter from '../policies/starter.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const TUNE = path.join(ROOT, 'bin', 'tune.js');
const TSC = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

// A user's folder with flowtune installed (this repository, linked).
const dir = mkdtempSync(path.join(tmpdir(), 'flowtune-init-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
mkdirSync(path.join(dir, 'node_modules'));
symlinkSync(ROOT, path.join(dir, 'node_modules', 'flowtune'), 'dir');
writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'my-study', private: true, type: 'module' }));

function tune(args: string[]) {
  const r = spawnSync(process.execPath, [TUNE, ...args], { cwd: dir, encoding: 'utf8', env: { ...process.env, FORCE_COLOR: '0' }, timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('the starter (policies/starter.ts)', () => {
  test('keeps the policy contract', () => {
    expect(checkPolicy(starter).problems).toEqual([]);
  });

  test('its own rule: L2 before dropout on an accuracy gap, quoting the gap; elsewhere the flowchart', () => {
    const check = checkPolicy(starter, { seeds: [1] });
    const byScenario = Object.fromEntries(check.results.map((r) => [r.scenario, r.decision]));
    expect(byScenario['an overfitting baseline: a 15-point accuracy gap']).toEqual({
      action: 'addL2',
      params: { l2Regularization: 0.001 },
      reason: 'my-policy: accuracy gap 0.15 (train 0.97, validation 0.82) at epoch 30 of run 1; l2Regularization 0.0001 → 0.001 (L2 before dropout)',
    });
    expect(byScenario['a converged baseline']?.action).toBe('deepen');
    expect(byScenario['a diverged baseline (NaN at epoch 3)']?.action).toBe('lowerLearnRate');
  });
});

describe('tune init-policy FILE', () => {
  test.each([
    ['mine.ts', 'TypeScript'],
    ['mine.mjs', 'JavaScript'],
  ])('%s: written, named after the file, loads, keeps the contract, answers tune diagnose', async (file) => {
    const { code, stdout, stderr } = tune(['init-policy', file]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toContain(`wrote ${file}: a policy that answers like the built-in flowchart`);
    expect(stdout).toContain(`run it:    tune --data fashion --policy ${file}`);
    expect(stdout).not.toContain('not installed'); // flowtune is installed here
    const text = readFileSync(path.join(dir, file), 'utf8');
    expect(text).toBe(starterPolicyText(path.join(dir, file)));
    expect(text).toContain(`name: 'mine'`);
    expect(text).toContain(`tune --data fashion --policy ${file}`);
    expect(text).toMatch(/^import \{ accuracyGapAt, formatNumber.* \} from 'flowtune';$/m);
    expect(text).toMatch(/^import \{ flowchartPolicy \} from 'flowtune\/policies';$/m);
    const { policy, source } = await loadPolicy(file, dir);
    expect(source).toBe(file);
    expect(policy.name).toBe('mine');
    expect(checkPolicy(policy).problems).toEqual([]);
    // It runs as it is, through the real command.
    writeFileSync(path.join(dir, 'history.json'), JSON.stringify({ loss: [1.2, 0.5, 0.3], accuracy: [0.6, 0.85, 0.95], val_loss: [1.1, 0.6, 0.5], val_accuracy: [0.6, 0.8, 0.8] }));
    const answer = tune(['diagnose', 'history.json', '--policy', file, '--json']);
    expect(answer.stderr).toBe('');
    expect(answer.code).toBe(0);
    expect(JSON.parse(answer.stdout)).toMatchObject({ diagnosis: expect.any(String), action: expect.any(String), reason: expect.stringMatching(/\d/) });
  });

  test('the JavaScript starter is plain JavaScript (node --check) and type-checks through its JSDoc', () => {
    const file = path.join(dir, 'typed.mjs');
    writeFileSync(file, starterPolicyText(file));
    expect(spawnSync(process.execPath, ['--check', file], { encoding: 'utf8' }).status).toBe(0);
    const tsc = spawnSync(process.execPath, [TSC, '--noEmit', '--allowJs', '--checkJs', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--customConditions', 'flowtune-source', '--allowImportingTsExtensions', '--skipLibCheck', '--target', 'es2022', file], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
    expect(tsc.stdout + tsc.stderr).toBe('');
    expect(tsc.status).toBe(0);
  });

  test('a JSDoc-typed JavaScript starter with a misspelt parameter fails to type-check (the check is real)', () => {
    const file = path.join(dir, 'typo.mjs');
    writeFileSync(file, starterPolicyText(file).replace("params: { l2Regularization: to }", 'params: { l2Regularisation: to }'));
    const tsc = spawnSync(process.execPath, [TSC, '--noEmit', '--allowJs', '--checkJs', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--customConditions', 'flowtune-source', '--allowImportingTsExtensions', '--skipLibCheck', '--target', 'es2022', file], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
    expect(tsc.status).not.toBe(0);
    expect(tsc.stdout).toMatch(/typo\.mjs\(\d+,\d+\): error TS\d+/);
  });

  test('never overwrites: an existing file is exit 2, untouched', () => {
    writeFileSync(path.join(dir, 'taken.ts'), '// mine, keep\n');
    const { code, stdout, stderr } = tune(['init-policy', 'taken.ts']);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toBe('tune: taken.ts already exists; tune init-policy does not overwrite it. Give another file name, or move that file away first.\n');
    expect(readFileSync(path.join(dir, 'taken.ts'), 'utf8')).toBe('// mine, keep\n');
  });

  test.each<[string[], RegExp]>([
    [['init-policy'], /^tune: tune init-policy needs a file name: tune init-policy my-policy\.ts \(TypeScript\) or my-policy\.mjs \(JavaScript\)\.\n$/],
    [['init-policy', 'policy.txt'], /^tune: init-policy policy\.txt: give a file name ending in \.ts or \.mts \(TypeScript\) or \.js or \.mjs \(JavaScript\)/],
    [['init-policy', 'my policy.ts'], /^tune: init-policy my policy\.ts: the file name becomes the policy's name/],
  ])('%j is a user error: exit 2, one line', (args, message) => {
    const { code, stderr } = tune(args);
    expect(code).toBe(2);
    expect(stderr).toMatch(message);
    expect(stderr.trimEnd()).not.toContain('\n');
  });

  test('a folder without flowtune installed: written, with a note saying what to install', () => {
    const bare = mkdtempSync(path.join(tmpdir(), 'flowtune-bare-'));
    try {
      const lines = initPolicy('sub/p.ts', bare);
      expect(lines[0]).toBe('wrote sub/p.ts: a policy that answers like the built-in flowchart, except that it treats overfitting with L2 before dropout.');
      expect(lines.at(-1)).toBe(`note: the policy imports 'flowtune', which is not installed for sub: before running it, \`npm install PATH\` there (or in a folder above it), PATH being flowtune's folder (${ROOT}) or the tarball its \`npm pack\` makes.`);
      expect(() => initPolicy('sub/p.ts', bare)).toThrow(UserError);
    } finally {
      rmSync(bare, { recursive: true, force: true });
    }
  });
});
