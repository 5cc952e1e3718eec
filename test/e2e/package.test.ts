/**
 * The real route of a user's policy, end to end: `npm pack` flowtune, install the tarball into a
 * folder outside the repository (offline: a lockfile made from the repository's own, so every
 * dependency comes from the npm cache that `npm ci` filled), then, in that folder:
 *   - `tune init-policy` writes a TypeScript and a JavaScript starter that import 'flowtune';
 *   - the user's tests import 'flowtune/testing' and run the contract check (node:test, for the
 *     TypeScript policy through tsx, for the JavaScript one with plain Node);
 *   - the user's TypeScript type-checks against the package's declarations, and a misspelt
 *     parameter does not;
 *   - a short real study runs with the policy file and its report names it.
 * About two minutes: pack and install ~20 s, the study ~70 s (its budget is one minute).
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { HAVE_FASHION, ROOT } from './helpers.ts';

const TSC = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const work = mkdtempSync(path.join(tmpdir(), 'flowtune-package-'));
const project = path.join(work, 'my-study');
afterAll(() => rmSync(work, { recursive: true, force: true }));

function run(command: string, args: string[], cwd: string, timeout = 300_000): SpawnSyncReturns<string> {
  return spawnSync(command, args, { cwd, encoding: 'utf8', timeout, env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' } });
}
const said = (r: SpawnSyncReturns<string>) => `exit ${r.status}\n${r.stdout}\n${r.stderr}`;
const tune = (args: string[], timeout?: number) => run(path.join(project, 'node_modules', '.bin', 'tune'), args, project, timeout);

/**
 * `npm pack` of a copy of the package's files (so the build that `prepare` runs writes the copy's
 * dist/, not the one other tests may be reading), with the repository's node_modules for the build.
 */
function pack(): string {
  const stage = path.join(work, 'flowtune');
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { files: string[] };
  for (const entry of [...pkg.files.filter((f) => f !== 'dist'), 'package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'tsconfig.study.json', 'README.md']) {
    cpSync(path.join(ROOT, entry), path.join(stage, entry), { recursive: true });
  }
  symlinkSync(path.join(ROOT, 'node_modules'), path.join(stage, 'node_modules'), 'dir');
  const r = run('npm', ['pack', '--json', '--pack-destination', work], stage);
  if (r.status !== 0) throw new Error(`npm pack failed: ${said(r)}`);
  const [{ filename }] = JSON.parse(r.stdout.slice(r.stdout.indexOf('['))) as [{ filename: string }];
  return path.join(work, filename);
}

/**
 * A project that depends on the tarball, with a lockfile: flowtune from the tarball, its
 * dependencies exactly as in the repository's lockfile (development-only ones left out). `npm ci
 * --offline` then installs from the npm cache without asking the registry anything.
 */
function makeProject(tarball: string): void {
  mkdirSync(project);
  const name = path.basename(tarball);
  cpSync(tarball, path.join(project, name));
  const lock = JSON.parse(readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, Record<string, unknown>> };
  const root = lock.packages[''];
  const packages: Record<string, unknown> = {
    '': { name: 'my-study', dependencies: { flowtune: `file:${name}` } },
    'node_modules/flowtune': {
      version: JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version,
      resolved: `file:${name}`,
      integrity: `sha512-${createHash('sha512').update(readFileSync(tarball)).digest('base64')}`,
      license: root.license,
      dependencies: root.dependencies,
      optionalDependencies: root.optionalDependencies,
      bin: root.bin,
      engines: root.engines,
    },
  };
  for (const [key, entry] of Object.entries(lock.packages)) if (key !== '' && !entry.dev) packages[key] = entry;
  // A user's folder as `npm init` makes it: no "type": "module", so tsx runs its .ts files as CommonJS.
  writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'my-study', private: true, dependencies: { flowtune: `file:${name}` } }, null, 2));
  writeFileSync(path.join(project, 'package-lock.json'), JSON.stringify({ name: 'my-study', lockfileVersion: 3, requires: true, packages }, null, 2));
}

beforeAll(() => {
  makeProject(pack());
  const install = run('npm', ['ci', '--offline', '--no-audit', '--no-fund'], project);
  if (install.status !== 0) throw new Error(`npm ci --offline in ${project} failed (the npm cache should hold every dependency after \`npm ci\` in the repository): ${said(install)}`);
}, 300_000);

describe('flowtune installed from its tarball, outside the repository', () => {
  test('the tarball holds the built JavaScript and declarations, the sources and the CLI, and nothing of the tests', () => {
    const files = run('tar', ['tzf', path.join(project, readFileSync(path.join(project, 'package.json'), 'utf8').match(/file:([^"]+)/)![1])], project).stdout.split('\n');
    for (const f of ['dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/testing/index.js', 'dist/src/testing/index.d.ts', 'dist/policies/flowchart.js', 'dist/src/study/public.d.ts', 'src/index.ts', 'src/cli.ts', 'src/study/api.ts', 'policies/starter.ts', 'bin/tune.js', 'bin/flowtune-source.mjs', 'bin/flowtune-study.mjs']) {
      expect(files).toContain(`package/${f}`);
    }
    expect(files.some((f) => f.startsWith('package/test/'))).toBe(false);
  });

  test('tune init-policy writes starters that import flowtune (no note: it is installed here)', () => {
    for (const file of ['my-policy.ts', 'js-policy.mjs']) {
      const r = tune(['init-policy', file]);
      expect(r.status, said(r)).toBe(0);
      expect(r.stdout).toContain(`wrote ${file}`);
      expect(r.stdout).not.toContain('not installed');
      expect(readFileSync(path.join(project, file), 'utf8')).toMatch(/ from 'flowtune';$/m);
    }
  });

  test("the user's tests import 'flowtune/testing' and pass the contract check: TypeScript (node:test through tsx) and JavaScript (plain node:test)", () => {
    writeFileSync(
      path.join(project, 'my-policy.test.ts'),
      [
        "import { test } from 'node:test';",
        "import assert from 'node:assert/strict';",
        "import { checkPolicy, SCENARIOS } from 'flowtune/testing';",
        "import type { Policy } from 'flowtune';",
        "import { flowchartPolicy } from 'flowtune/policies';",
        "import policy from './my-policy.ts';",
        "test('my-policy keeps the contract', () => {",
        '  const check = checkPolicy(policy);',
        '  assert.deepEqual(check.problems, []);',
        '  assert.equal(check.results.length, SCENARIOS.length * 3);',
        '});',
        "test('a policy that always widens does not', () => {",
        "  const widens: Policy = { ...flowchartPolicy, name: 'widens', decide: () => ({ action: 'widen', params: { factor: 2 }, reason: 'wider ×2' }) };",
        '  assert.match(checkPolicy(widens).problems[0], /decide\\(\\) chose widen, which step stabilise does not allow here/);',
        '});',
        '',
      ].join('\n'),
    );
    writeFileSync(
      path.join(project, 'js-policy.test.mjs'),
      "import { test } from 'node:test';\nimport assert from 'node:assert/strict';\nimport { checkPolicy } from 'flowtune/testing';\nimport policy from './js-policy.mjs';\ntest('js-policy keeps the contract', () => assert.deepEqual(checkPolicy(policy).problems, []));\n",
    );
    const ts = run(process.execPath, ['--import', 'tsx', '--test', 'my-policy.test.ts'], project);
    expect(ts.status, said(ts)).toBe(0);
    expect(ts.stdout).toMatch(/# pass 2\n/);
    const js = run(process.execPath, ['--test', 'js-policy.test.mjs'], project);
    expect(js.status, said(js)).toBe(0);
    expect(js.stdout).toMatch(/# pass 1\n/);
  });

  test("the user's TypeScript type-checks against the package's declarations; a misspelt parameter does not", () => {
    writeFileSync(
      path.join(project, 'typo.ts'),
      "import type { Policy } from 'flowtune';\nexport const policy: Policy = { name: 'typo', description: '', decide: () => ({ action: 'addDropout', params: { rat: 0.5 }, reason: 'gap 0.15' }) };\n",
    );
    const tsconfig = { compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: false, allowImportingTsExtensions: true, types: ['node'] } };
    writeFileSync(path.join(project, 'tsconfig.json'), JSON.stringify({ ...tsconfig, files: ['my-policy.ts', 'my-policy.test.ts'] }));
    // @types/node (for node:test in the test file) is the user's to install; here it comes with a dependency, or is linked from the repository's.
    if (!existsSync(path.join(project, 'node_modules', '@types', 'node'))) {
      mkdirSync(path.join(project, 'node_modules', '@types'), { recursive: true });
      symlinkSync(path.join(ROOT, 'node_modules', '@types', 'node'), path.join(project, 'node_modules', '@types', 'node'), 'dir');
    }
    const good = run(process.execPath, [TSC, '-p', '.'], project);
    expect(good.stdout + good.stderr).toBe('');
    expect(good.status).toBe(0);
    // Older projects resolve without "exports" (moduleResolution node10): "types" and "typesVersions" serve them.
    writeFileSync(path.join(project, 'old.ts'), "import type { Policy } from 'flowtune';\nimport { flowchartPolicy } from 'flowtune/policies';\nimport { checkPolicy } from 'flowtune/testing';\nconst p: Policy = flowchartPolicy;\nexport const problems: string[] = checkPolicy(p).problems;\n");
    writeFileSync(path.join(project, 'tsconfig.node10.json'), JSON.stringify({ compilerOptions: { module: 'commonjs', moduleResolution: 'node10', strict: true, noEmit: true, skipLibCheck: true, types: [] }, files: ['old.ts'] }));
    const old = run(process.execPath, [TSC, '-p', 'tsconfig.node10.json'], project);
    expect(old.stdout + old.stderr).toBe('');
    expect(old.status).toBe(0);
    writeFileSync(path.join(project, 'tsconfig.typo.json'), JSON.stringify({ ...tsconfig, files: ['typo.ts'] }));
    const bad = run(process.execPath, [TSC, '-p', 'tsconfig.typo.json'], project);
    expect(bad.status).not.toBe(0);
    expect(bad.stdout).toMatch(/^typo\.ts\(2,\d+\): error TS2322/m);
  });

  test.skipIf(!HAVE_FASHION)(
    'a short real study with the policy file: exit 0 or 3, the report names the file',
    () => {
      const r = tune(['--data', 'fashion', '--policy', './my-policy.ts', '--budget', '1m', '--subset', '1024', '--reports', 'reports', '--name', 'mine', '--quiet'], 600_000);
      expect([0, 3], said(r)).toContain(r.status);
      const report = readFileSync(path.join(project, 'reports', 'mine', 'report.md'), 'utf8');
      expect(report).toContain('- **Policy:** my-policy (my-policy.ts)');
      expect(r.stdout).toMatch(/% test accuracy — /);
    },
    600_000,
  );
});
