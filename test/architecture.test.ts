/**
 * The layering rules of .dependency-cruiser.cjs, run by dependency-cruiser's own command line:
 * the repository has no violation, and a set of deliberate violations in a scratch copy of the
 * layout is caught rule by rule (so the check cannot pass by checking nothing).
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, test } from 'vitest';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DEPCRUISE = path.join(ROOT, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruise.mjs');

interface Violation {
  from: string;
  to: string;
  rule: { name: string; severity: string };
}
interface CruiseResult {
  modules: { source: string; dependencies: { resolved: string }[] }[];
  summary: { violations: Violation[]; totalCruised: number; ruleSetUsed: { forbidden: { name: string }[] } };
}

/** Runs `depcruise src policies bin bench --config .dependency-cruiser.cjs` in `cwd`, as `npm run lint:deps` does. */
function cruise(cwd: string): CruiseResult {
  const r = spawnSync(process.execPath, [DEPCRUISE, 'src', 'policies', 'bin', 'bench', '--config', '.dependency-cruiser.cjs', '--output-type', 'json'], {
    cwd,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    timeout: 120_000,
  });
  if (r.status !== 0) throw new Error(`depcruise failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout) as CruiseResult;
}

const brief = (v: Violation) => `${v.rule.name}: ${v.from} → ${v.to}`;

describe('layering (dependency-cruiser)', () => {
  test('the repository keeps its layers: tfjs only in src/training, no I/O in diagnosis, config, policies or report rendering', () => {
    const result = cruise(ROOT);
    expect(result.summary.violations.map(brief)).toEqual([]);
    // It looked at the real code: every rule is there, and the edges the rules are about were seen.
    expect(result.summary.ruleSetUsed.forbidden.map((r) => r.name)).toEqual(['tfjs-only-in-training', 'pure-no-io', 'pure-reaches-no-io', 'no-circular', 'not-to-unresolvable']);
    const sources = result.modules.map((m) => m.source);
    for (const file of ['src/diagnosis/diagnose.ts', 'src/config/network.ts', 'policies/flowchart.ts', 'src/training/trainer.ts', 'src/cli.ts', 'src/report/markdown.ts', 'src/report/terminal.ts']) expect(sources).toContain(file);
    const model = result.modules.find((m) => m.source === 'src/training/model.ts')!;
    expect(model.dependencies.some((d) => /node_modules\/@tensorflow\//.test(d.resolved))).toBe(true);
    // The built-in policies import 'flowtune' like a user's policy; here that is the pure entry, src/index.ts.
    const flowchart = result.modules.find((m) => m.source === 'policies/flowchart.ts')!;
    expect(flowchart.dependencies.map((d) => d.resolved)).toEqual(['src/index.ts']);
    expect(sources).toContain('src/testing/index.ts');
  });

  describe('deliberate violations in a scratch copy of the layout', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'flowtune-layers-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));
    const files: Record<string, string> = {
      // Allowed: tfjs in training, I/O in store/report, type-only imports, pure helpers.
      'src/training/model.ts': `import * as tf from '@tensorflow/tfjs';\nexport const backend = () => tf.getBackend();\n`,
      'src/store/store.ts': `import { writeFile } from 'node:fs/promises';\nexport interface Saved { id: number }\nexport const save = (s: Saved) => writeFile('x', String(s.id));\n`,
      'src/report/write.ts': `import { readFileSync } from 'node:fs';\nexport const read = () => readFileSync('x', 'utf8');\n`,
      'src/report/markdown.ts': `import type { Saved } from '../store/store.ts';\nexport const render = (s: Saved) => String(s.id);\n`,
      'src/diagnosis/pure.ts': `import type { Saved } from '../store/store.ts';\nexport const id = (s: Saved) => s.id;\n`,
      'src/misc/helper.ts': `import { execSync } from 'node:child_process';\nexport const helper = () => execSync('true');\n`,
      'policies/ok.ts': `import { id } from '../src/diagnosis/pure.ts';\nexport const decide = id;\n`,
      'bin/tune.js': `import '../src/training/model.ts';\n`,
      'bench/run.mjs': `import { spawnSync } from 'node:child_process';\nspawnSync('true');\n`,
      'src/machine/rails.ts': `export const allowed = (x: number) => x > 0;\n`,
      'src/machine/machine.ts': `import { writeFileSync } from 'node:fs';\nexport const save = () => writeFileSync('x', '');\n`,
      'src/testing/ok.ts': `import { allowed } from '../machine/rails.ts';\nexport const a = allowed;\n`,
      // Violations.
      'src/report/chart.ts': `import * as tf from '@tensorflow/tfjs';\nexport const t = tf;\n`,
      'src/report/table.ts': `import { read } from './write.ts';\nexport const t = read;\n`,
      'src/diagnosis/reads.ts': `import { readFileSync } from 'node:fs';\nexport const r = () => readFileSync('x');\n`,
      'src/diagnosis/logs.ts': `import pino from 'pino';\nexport const log = pino();\n`,
      'src/diagnosis/stores.ts': `import { save } from '../store/store.ts';\nexport const s = save;\n`,
      'src/diagnosis/indirect.ts': `import { helper } from '../misc/helper.ts';\nexport const h = helper;\n`,
      'src/util/io.ts': `import { readFileSync } from 'node:fs';\nexport const r = readFileSync;\n`,
      'src/diagnosis/dynamic.ts': `export const w = () => import('node:worker_threads');\n`,
      'src/config/net.ts': `import * as tf from '@tensorflow/tfjs';\nexport const t = tf;\n`,
      'src/config/opts.ts': `import { writeFileSync } from 'fs';\nexport const w = writeFileSync;\n`,
      'policies/mine.ts': `import { spawn } from 'node:child_process';\nexport const s = spawn;\n`,
      'bench/tf.ts': `import * as tf from '@tensorflow/tfjs';\nexport const t = tf;\n`,
      'src/testing/drives.ts': `import { save } from '../machine/machine.ts';\nexport const s = save;\n`,
      'src/index.ts': `import { readFileSync } from 'node:fs';\nexport const r = readFileSync;\n`,
    };
    for (const [file, text] of Object.entries(files)) {
      mkdirSync(path.join(dir, path.dirname(file)), { recursive: true });
      writeFileSync(path.join(dir, file), text);
    }
    copyFileSync(path.join(ROOT, '.dependency-cruiser.cjs'), path.join(dir, '.dependency-cruiser.cjs'));
    copyFileSync(path.join(ROOT, 'tsconfig.json'), path.join(dir, 'tsconfig.json'));
    copyFileSync(path.join(ROOT, 'package.json'), path.join(dir, 'package.json'));
    symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'), 'dir');

    test('each is caught by its rule, and nothing allowed is flagged', () => {
      const violations = cruise(dir).summary.violations.map((v) => `${v.rule.name}: ${v.from}`);
      expect([...new Set(violations)].sort()).toEqual(
        [
          'tfjs-only-in-training: src/report/chart.ts',
          'tfjs-only-in-training: src/config/net.ts',
          'tfjs-only-in-training: bench/tf.ts',
          'pure-no-io: src/diagnosis/reads.ts',
          'pure-no-io: src/diagnosis/logs.ts',
          'pure-no-io: src/diagnosis/stores.ts',
          'pure-no-io: src/diagnosis/dynamic.ts',
          'pure-no-io: src/config/opts.ts',
          'pure-no-io: policies/mine.ts',
          'pure-no-io: src/report/table.ts',
          'pure-no-io: src/testing/drives.ts',
          'pure-no-io: src/index.ts',
          'pure-no-io: src/util/io.ts',
          // Reachability covers the direct cases too, and catches the indirect one.
          'pure-reaches-no-io: src/diagnosis/reads.ts',
          'pure-reaches-no-io: src/diagnosis/logs.ts',
          'pure-reaches-no-io: src/diagnosis/stores.ts',
          'pure-reaches-no-io: src/diagnosis/indirect.ts',
          'pure-reaches-no-io: src/diagnosis/dynamic.ts',
          'pure-reaches-no-io: src/config/net.ts',
          'pure-reaches-no-io: src/config/opts.ts',
          'pure-reaches-no-io: policies/mine.ts',
          'pure-reaches-no-io: src/report/table.ts',
          'pure-reaches-no-io: src/report/chart.ts',
          'pure-reaches-no-io: src/testing/drives.ts',
          'pure-reaches-no-io: src/index.ts',
          'pure-reaches-no-io: src/util/io.ts',
        ].sort(),
      );
    });
  });
});
