/**
 * A broken policy file through the real `tune` process: one line on stderr saying what, where
 * (FILE:LINE:COL, the TypeScript source's line thanks to tsx's source maps) and what to do; exit 2;
 * and a study stops there, before any data is read or any folder is made.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { ROOT, tune } from './helpers.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'flowtune-broken-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ private: true, type: 'module' }));
mkdirSync(path.join(dir, 'node_modules'));
symlinkSync(ROOT, path.join(dir, 'node_modules', 'flowtune'), 'dir');
writeFileSync(path.join(dir, 'history.json'), JSON.stringify({ loss: [1.2, 0.5, 0.3], accuracy: [0.6, 0.85, 0.95], val_loss: [1.1, 0.6, 0.5], val_accuracy: [0.6, 0.8, 0.8] }));

const FILES: Array<[string, string, string]> = [
  ['syntax.ts', 'const a = 1;\nexport default { name: "x", decide( => a };\n', "tune: Policy file syntax.ts: syntax error at syntax.ts:2:37: Expected identifier but found \"=>\". Fix the file there (it must be valid TypeScript or JavaScript)."],
  ['syntax.mjs', 'const a = 1;\nexport default { name: "x", decide( => a };\n', "tune: Policy file syntax.mjs: syntax error at syntax.mjs:2:37: Unexpected token '=>'. Fix the file there (it must be valid TypeScript or JavaScript)."],
  ['throws.ts', 'const settings: { rate?: number } = {};\nfunction read(): number {\n  if (settings.rate === undefined) throw new Error("settings.rate is missing");\n  return settings.rate;\n}\nexport default { name: "x", description: "", rate: read(), decide: () => ({ action: "stop", params: {}, reason: "1" }) };\n', 'tune: Policy file throws.ts: it threw while loading at throws.ts:3:42: settings.rate is missing. Fix the code that runs when the file is imported (its top level).'],
  ['wrong-import.ts', "import { formatNumber, overfit } from 'flowtune';\nexport default { name: 'mine', formatNumber, overfit };\n", "tune: Policy file wrong-import.ts: it imports overfit from 'flowtune' at wrong-import.ts:1, which 'flowtune' does not export. Check the name (README.md, \"Your own policy\", lists what 'flowtune' exports)."],
  ['no-export.ts', "import { flowchartPolicy } from 'flowtune/policies';\nexport const mine = { ...flowchartPolicy, name: 'mine' };\n", 'tune: Policy file no-export.ts exports no policy (found exports: mine). Export a Policy as default or as `policy` (`tune init-policy FILE` writes a starter that does).'],
  ['shape.mjs', "export default { name: 'mine', decide: 'stop' };\n", 'tune: Policy file shape.mjs: its default export is not a policy: it has no decide function. Export an object { name: string, description: string, thresholds?: {...}, decide(context) { return { action, params, reason } } }.'],
  ['missing-package.ts', "import leftPad from 'left-pad-not-installed';\nexport default leftPad;\n", `tune: Policy file missing-package.ts: it imports 'left-pad-not-installed', which is not installed where the file is. Install it: \`npm install left-pad-not-installed\` in ${dir} (or a folder above it).`],
];
for (const [file, text] of FILES) writeFileSync(path.join(dir, file), text);

describe('a broken policy file, through tune', () => {
  test.each(FILES)('%s: exit 2, one line', (file, _text, line) => {
    const { code, stdout, stderr } = tune(['diagnose', 'history.json', '--policy', file], dir);
    expect(stdout).toBe('');
    expect(stderr).toBe(line + '\n');
    expect(code).toBe(2);
  });

  test("a policy in a folder where flowtune is not installed: what to install, and where", () => {
    const bare = mkdtempSync(path.join(tmpdir(), 'flowtune-bare-'));
    try {
      writeFileSync(path.join(bare, 'mine.ts'), "import { formatNumber } from 'flowtune';\nexport default { name: 'mine', description: '', decide: () => ({ action: 'stop', params: {}, reason: formatNumber(1) }) };\n");
      writeFileSync(path.join(bare, 'history.json'), readFileSync(path.join(dir, 'history.json')));
      const { code, stderr } = tune(['diagnose', 'history.json', '--policy', 'mine.ts'], bare);
      expect(code).toBe(2);
      expect(stderr).toBe(`tune: Policy file mine.ts: it imports 'flowtune', which is not installed where the file is. Install it: \`npm install PATH\` in ${bare} (or a folder above it), PATH being flowtune's folder (${ROOT}) or the tarball its \`npm pack\` makes.\n`);
    } finally {
      rmSync(bare, { recursive: true, force: true });
    }
  });

  test('a study stops at the policy, before the data and without a study folder', () => {
    const reports = path.join(dir, 'reports');
    const { code, stderr } = tune(['--data', 'fashion', '--policy', 'throws.ts', '--reports', reports, '--budget', '1m'], dir);
    expect(code).toBe(2);
    expect(stderr).toBe(FILES[2][2] + '\n');
    expect(existsSync(reports)).toBe(false);
  });
});
