import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, test } from 'vitest';
import { UserError } from '../../src/errors.ts';
import { DEFAULT_THRESHOLDS, contextFromCurve, diagnoseRun } from '../../src/diagnosis/index.ts';
import { ACTIONS, ACTION_NAMES, decisionProblem, type OptionParam } from '../../src/actions.ts';
import { optionProblem, resolveOptions } from '../../src/config/options.ts';
import { allowedActions, evidenceOf } from '../../src/machine/rails.ts';
import { BUILT_IN_EXPORTS, BUILT_IN_POLICIES, decideSafely, loadPolicy } from '../../src/policy-loader.ts';
import * as builtInEntry from '../../policies/index.ts';
import type { Policy, PolicyContext } from '../../src/types.ts';

const dir = mkdtempSync(join(tmpdir(), 'flowtune-policy-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
// 'flowtune' is installed where the policy files are (this repository, linked; its built dist/ for a plain Node import).
mkdirSync(join(dir, 'node_modules'));
symlinkSync(fileURLToPath(new URL('../..', import.meta.url)), join(dir, 'node_modules', 'flowtune'), 'dir');
const diagnosisIndex = fileURLToPath(new URL('../../src/diagnosis/index.ts', import.meta.url));

let counter = 0;
/** Writes a policy file into the temp dir; returns its file name (relative to the dir). */
function policyFile(name: string, text: string): string {
  const file = `${counter++}-${name}`;
  writeFileSync(join(dir, file), text);
  return file;
}

// One epoch of a run: still falling (too short for a trend), so the machine is at the trainEnough step.
const curve = { epochs: [{ epoch: 1, loss: 0.5, accuracy: 0.8, valLoss: 0.55, valAccuracy: 0.78, learnRate: 0.01 }], nonFinite: null };
const diagnosis = diagnoseRun(curve);
const { bestEpoch: _bestEpoch, ...standing } = evidenceOf(curve, diagnosis, DEFAULT_THRESHOLDS);
const allowed = allowedActions({ step: 'trainEnough', standing, subject: { runId: 1, isStanding: true, unstable: false }, triedAtStanding: [], trimmed: false, epochsExhausted: false });
const context: PolicyContext = { ...contextFromCurve(curve, diagnosis, 'trainEnough', allowed), budget: { runsLeft: 10, secondsLeft: 600 } };

async function loadError(nameOrPath: string): Promise<UserError> {
  try {
    await loadPolicy(nameOrPath, dir);
  } catch (error) {
    expect(error).toBeInstanceOf(UserError);
    return error as UserError;
  }
  throw new Error(`expected ${nameOrPath} to fail`);
}

describe('loadPolicy: built-in policies', () => {
  test('the built-ins', () => {
    expect(BUILT_IN_POLICIES).toEqual(['flowchart', 'example', 'random', 'no-search']);
  });

  test.each([...BUILT_IN_POLICIES])('%s', async (name) => {
    const { policy, source } = await loadPolicy(name, dir);
    expect(policy.name).toBe(name);
    expect(typeof policy.decide).toBe('function');
    expect(source).toBe(`policies/${name}.ts`);
    const d = decideSafely(policy, context, source);
    expect(context.allowed).toContain(d.action);
  });

  test('flowchart is the default', async () => {
    expect((await loadPolicy(undefined, dir)).policy.name).toBe('flowchart');
  });
});

describe('loadPolicy: user files', () => {
  const body = `{ name: 'mine', description: 'test', decide: (ctx) => ({ action: 'stop', params: {}, reason: 'stop after run ' + ctx.last.id }) }`;
  test.each<[string, string, string]>([
    ['default export (.ts)', 'default.ts', `const p: { name: string } & Record<string, unknown> = ${body};\nexport default p;`],
    ['`policy` export (.mjs)', 'named.mjs', `export const policy = ${body};`],
    ['default factory function (.js)', 'factory.js', `export default function createPolicy() { return ${body}; }`],
    ['async factory under `policy` (.ts)', 'async.ts', `export async function policy() { return ${body}; }`],
    ['a CommonJS module (.cjs) exporting { default: policy }', 'common.cjs', `module.exports = { default: ${body} };`],
    ['a class instance with this-bound decide', 'class.ts', `class P { name = 'mine'; description = 'x'; n = 1; decide() { return { action: 'stop', params: {}, reason: 'stop after run ' + this.n }; } }\nexport default new P();`],
    ['a file importing the diagnosis functions', 'imports.ts', `import { formatNumber } from ${JSON.stringify(diagnosisIndex)};\nexport default { name: 'mine', description: '', decide: () => ({ action: 'stop', params: {}, reason: 'loss ' + formatNumber(0.31234) + ' after run 1' }) };`],
  ])('%s', async (_name, file, text) => {
    const name = policyFile(file, text);
    const { policy, source } = await loadPolicy(name, dir);
    expect(source).toBe(name);
    expect(policy.name).toBe('mine');
    expect(decideSafely(policy, context, source).reason).toMatch(/(run 1|0.312)/);
  });

  test('an absolute path outside cwd is shown absolute', async () => {
    const name = policyFile('abs.mjs', `export default ${body};`);
    const { source } = await loadPolicy(join(dir, name), '/');
    expect(source).toBe(join(dir, name).slice(1));
    const { source: outside } = await loadPolicy(join(dir, name), join(dir, 'sub'));
    expect(outside).toBe(join(dir, name));
  });
});

describe('loadPolicy: faults in one line: what, where, and what to do', () => {
  test.each<[string, string | null, string, RegExp]>([
    ['missing file', null, 'nope.ts', /^Policy file nope\.ts not found \(resolved to .*nope\.ts\)\. Give a built-in policy \(flowchart, example, random, no-search\) or the path .*`tune init-policy nope\.ts` writes a starter/],
    ['TypeScript syntax error: file:line:column', 'syntax.ts', 'export default { name: "x", decide( => 1 };', /^Policy file (\d+-syntax\.ts): syntax error at \1:1:37: Expected identifier but found "=>"\. Fix the file there/],
    ['TypeScript syntax error on line 3', 'syntax3.ts', 'const a = 1;\nconst b = 2;\nconst c: number = ;\nexport default {};', /^Policy file (\d+-syntax3\.ts): syntax error at \1:3:19: Unexpected ";"\./],
    ['JavaScript syntax error: file:line:column (from node --check)', 'syntax.mjs', '// a policy\nexport default { name: "x", decide( => 1 };', /^Policy file (\d+-syntax\.mjs): syntax error at \1:2:37: Unexpected token '=>'\. Fix the file there/],
    ['throws while loading: the line of the throw', 'throws-on-load.mjs', '\n\nthrow new Error("config missing");\nexport default {};', /^Policy file (\d+-throws-on-load\.mjs): it threw while loading at \1:3:7: config missing\. Fix the code that runs when the file is imported \(its top level\)\.$/],
    // The source line (3:5) needs tsx's source maps, which the `tune` process has: test/e2e/policy-files.test.ts.
    ['throws a TypeError in a function at import', 'throws.mts', 'const x: { f?: () => void } = {};\nfunction boot(): void {\n  x.f!();\n}\nboot();\nexport default {};', /^Policy file (\d+-throws\.mts): it threw while loading at \1:\d+:\d+: TypeError: x\.f is not a function\./],
    // tsx runs a TypeScript file outside a "type": "module" package as CommonJS, from a data: URL without source lines: no place rather than a wrong one.
    ['throws at import, TypeScript compiled to CommonJS', 'throws-cjs.ts', 'const x: { f?: () => void } = {};\nx.f!();\nexport default {};', /^Policy file \d+-throws-cjs\.ts: it threw while loading: TypeError: x\.f is not a function\. Fix the code/],
    ['imports a package that is not installed', 'nopkg.mjs', 'import pad from "left-pad-not-installed";\nexport default pad;', /^Policy file \d+-nopkg\.mjs: it imports 'left-pad-not-installed', which is not installed where the file is\. Install it: `npm install left-pad-not-installed` in .+ \(or a folder above it\)\.$/],
    ['imports a file that is not there', 'nofile.ts', 'import { helper } from "./helper-not-here.ts";\nexport default helper;', /^Policy file \d+-nofile\.ts: it imports .*helper-not-here\.ts, which does not exist\. Fix the import's path\.$/],
    ['imports a name flowtune does not export', 'noname-import.mjs', 'import { flowchartPolicyy } from "flowtune";\nexport default flowchartPolicyy;', /^Policy file (\d+-noname-import\.mjs): it imports flowchartPolicyy from 'flowtune' at \1:1, which 'flowtune' does not export\. Check the name \(README\.md, "Your own policy", lists what 'flowtune' exports\)\.$/],
    ['imports a built-in policy from flowtune (its entry is flowtune/policies)', 'moved-import.mjs', 'import { flowchartPolicy } from "flowtune";\nexport default flowchartPolicy;', /^Policy file (\d+-moved-import\.mjs): it imports flowchartPolicy from 'flowtune' at \1:1, which 'flowtune' does not export: the built-in policies are 'flowtune\/policies' \(import \{ flowchartPolicy \} from 'flowtune\/policies'\)\.$/],
    ['no export', 'noexport.mjs', 'export const something = 1;', /^Policy file \d+-noexport\.mjs exports no policy \(found exports: something\)\. Export a Policy as default or as `policy` \(`tune init-policy FILE` writes a starter that does\)\.$/],
    ['no decide', 'nodecide.mjs', 'export default { name: "x", description: "" };', /^Policy file \d+-nodecide\.mjs: its default export is not a policy: it has no decide function\. Export an object \{ name: string, description: string, thresholds\?: \{\.\.\.\}, decide\(context\)/],
    ['decide is not a function', 'decidestring.mjs', 'export const policy = { name: "x", decide: "stop" };', /its export `policy` is not a policy: it has no decide function/],
    ['no name', 'noname.mjs', 'export default { decide: () => ({}) };', /^Policy file \d+-noname\.mjs: its default export is not a policy: it has no name \(a non-empty string\)/],
    ['exports a number', 'number.mjs', 'export default 42;', /^Policy file \d+-number\.mjs: its default export is not a policy: it is number, not a policy object/],
    ['a factory returning the wrong shape', 'factoryshape.mjs', 'export function createPolicy() { return { name: "x" }; }', /^Policy file \d+-factoryshape\.mjs: the policy its export `createPolicy` \(a factory function\) returned is not a policy: it has no decide function/],
    ['factory throws: where', 'factorythrows.mjs', 'export default () => {\n  throw new Error("no config");\n};', /^Policy file (\d+-factorythrows\.mjs): its default export, a factory function, threw at \1:2:9: no config\. Fix the factory, or export the policy object itself\.$/],
    ['unknown threshold', 'threshold.mjs', 'export default { name: "x", thresholds: { gap: 0.1 }, decide: () => ({}) };', /unknown threshold "gap"; known: explodeFactor, riseFraction/],
    ['NaN threshold', 'nanthreshold.mjs', 'export default { name: "x", thresholds: { gapThreshold: NaN }, decide: () => ({}) };', /threshold gapThreshold is NaN; expected a finite number ≥ 0/],
    ['unsupported extension', 'policy.txt', 'export default {}', /has the extension "\.txt"; expected one of \.ts, \.mts, \.js, \.mjs, \.cjs/],
  ])('%s', async (_name, file, text, message) => {
    const name = file === null ? text : policyFile(file, text);
    const error = await loadError(name);
    expect(error.message).toContain(name);
    expect(error.message).toMatch(message);
    expect(error.message).not.toMatch(/\u001b\[/);
    expect(error.message, 'one line').not.toContain('\n');
    expect(error.message).not.toMatch(/namespace|Require stack/);
  });

  test("a CommonJS policy and a clone of flowtune whose dist/ was not built: build it, and where", async () => {
    // A folder whose flowtune is an unbuilt clone: its package.json, no dist/.
    const clone = join(dir, 'unbuilt', 'node_modules', 'flowtune');
    mkdirSync(clone, { recursive: true });
    writeFileSync(join(clone, 'package.json'), readFileSync(fileURLToPath(new URL('../../package.json', import.meta.url))));
    writeFileSync(join(dir, 'unbuilt', 'p.ts'), "import { formatNumber } from 'flowtune';\nexport default formatNumber;\n");
    const error = await loadError('unbuilt/p.ts');
    expect(error.message).toBe(`Policy file unbuilt/p.ts: it imports flowtune, whose compiled dist/ is missing (${join(clone, 'dist/src/index.js')}): build it with \`npm run build\` in ${clone}.`);
  });

  test('a directory is not a policy file', async () => {
    expect((await loadError('.')).message).toMatch(/is not a file/);
  });
});

describe('decideSafely: a throw or an invalid decision names the file and what is invalid', () => {
  const policyReturning = (value: unknown): Policy => ({ name: 'p', description: '', decide: () => value as never });
  const dropoutParams = /its parameters: rate \(drop probability \(default 0\.2\)\); afterLayer \(0-based index of the layer it follows/;
  test.each<[string, Policy, RegExp]>([
    ['decide throws', { name: 'p', description: '', decide: () => { throw new Error('boom at run 3'); } }, /Policy file my\.ts: decide\(\) threw: boom at run 3/],
    ['unknown action', policyReturning({ action: 'explode', params: {}, reason: 'why 1' }), /invalid decision: unknown action "explode" \(actions: lowerLearnRate, raiseLearnRate, clipGradients, .*, revert, stop\)\. Expected \{ action: one of lowerLearnRate, .*stop; params: that action's parameters/],
    ['missing action', policyReturning({ params: {}, reason: 'why 1' }), /unknown action undefined/],
    // Issue 9: a misspelt parameter trained the default 0.2 without a word.
    ['a misspelt parameter (rat for rate)', policyReturning({ action: 'addDropout', params: { rat: 0.5 }, reason: 'gap 0.15' }), /invalid decision: addDropout has no parameter "rat"; its parameters: rate \(drop probability \(default 0\.2\)\); afterLayer/],
    ['another action\u2019s parameter', policyReturning({ action: 'widen', params: { filters: 40 }, reason: 'gap 0.15' }), /widen has no parameter "filters"; its parameters: factor \(filters × factor, rounded \(default 2\)\)/],
    ['a parameter for an action that takes none', policyReturning({ action: 'stop', params: { now: true }, reason: 'done after 3 runs' }), /stop has no parameter "now"; it takes none/],
    ['a seed (not an action parameter: the machine owns seeds)', policyReturning({ action: 'addEpochs', params: { maxEpochs: 20, seed: -1 }, reason: 'still falling at 10' }), /addEpochs has no parameter "seed"; its parameters: maxEpochs/],
    ['NaN learn rate', policyReturning({ action: 'lowerLearnRate', params: { initialLearnRate: NaN }, reason: 'diverged at 0.01' }), /params\.initialLearnRate must be a finite number > 0, got NaN \(lowerLearnRate\)/],
    ['negative learn rate', policyReturning({ action: 'raiseLearnRate', params: { initialLearnRate: -0.1 }, reason: 'slow at 0.0001' }), /params\.initialLearnRate must be a finite number > 0, got -0\.1 \(raiseLearnRate\)/],
    ['Infinity epochs', policyReturning({ action: 'addEpochs', params: { maxEpochs: Infinity }, reason: 'more 1' }), /params\.maxEpochs must be a positive integer, got Infinity \(addEpochs\)/],
    ['fractional maxEpochs', policyReturning({ action: 'trimEpochs', params: { maxEpochs: 27.5 }, reason: 'min at 27.5' }), /params\.maxEpochs must be a positive integer, got 27\.5 \(trimEpochs\)/],
    ['dropout rate 1', policyReturning({ action: 'addDropout', params: { rate: 1 }, reason: 'gap 0.2' }), /params\.rate of addDropout must be a number in \(0, 1\), got 1/],
    ['an object for a number', policyReturning({ action: 'addDropout', params: { rate: { value: 0.2 } }, reason: 'gap 0.15' }), /params\.rate of addDropout must be a number in \(0, 1\), got \{"value":0\.2\}/],
    ['a string for a number', policyReturning({ action: 'widen', params: { factor: 'two' }, reason: 'converged at 0.3' }), /params\.factor of widen must be a number in \(0, 16\), got "two"/],
    ['fractional filters', policyReturning({ action: 'deepen', params: { filters: 40.5 }, reason: 'converged at 0.3' }), /params\.filters of deepen must be a whole number in \[1, 4096\], got 40\.5/],
    ['a schedule this action does not set', policyReturning({ action: 'addLearnRateSchedule', params: { learnRateSchedule: 'none' }, reason: 'gap 0.2' }), /params\.learnRateSchedule of addLearnRateSchedule must be one of "piecewise", got "none"/],
    ['an unknown solver', policyReturning({ action: 'changeSolver', params: { solver: 'sgd' }, reason: 'slow at 0.01' }), /params\.solver must be 'sgdm', 'adam' or 'rmsprop', got 'sgd' \(changeSolver\)/],
    ['params not an object', policyReturning({ action: 'stop', params: 'none', reason: 'done 1' }), /params is not an object/],
    ['params an array', policyReturning({ action: 'addDropout', params: [0.2], reason: 'gap 0.2' }), /params is not an object/],
    ['empty reason', policyReturning({ action: 'stop', params: {}, reason: '' }), /reason is empty \(say why, quoting the numbers\)/],
    ['blank reason', policyReturning({ action: 'stop', params: {}, reason: '   ' }), /reason is empty/],
    ['not an object', policyReturning('stop'), /it is string, not an object/],
    ['null', policyReturning(null), /it is null, not an object/],
    ['a promise', policyReturning(Promise.resolve({ action: 'stop', params: {}, reason: 'x' })), /it is a Promise; decide must be synchronous/],
  ])('%s', (_name, policy, message) => {
    let error: unknown;
    try {
      decideSafely(policy, context, 'my.ts');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(UserError);
    expect((error as Error).message).toMatch(/^Policy file my\.ts: /);
    expect((error as Error).message).toMatch(message);
  });

  test('the misspelt parameter\u2019s message names the action, the parameter and every allowed one', () => {
    expect(() => decideSafely(policyReturning({ action: 'addDropout', params: { rat: 0.5 }, reason: 'gap 0.15' }), context, 'my.ts')).toThrow(dropoutParams);
  });

  test('a valid decision is returned as a copy', () => {
    const params = { rate: 0.2, afterLayer: 3 };
    const d = decideSafely(policyReturning({ action: 'addDropout', params, reason: 'gap 0.15 > 0.10' }), context, 'my.ts');
    expect(d).toEqual({ action: 'addDropout', params, reason: 'gap 0.15 > 0.10' });
    expect(d.params).not.toBe(params);
  });

  test('params may be left out: every parameter has a default', () => {
    expect(decideSafely(policyReturning({ action: 'stop', reason: 'done after 1 run' }), context, 'my.ts')).toEqual({ action: 'stop', params: {}, reason: 'done after 1 run' });
  });

  test('a loaded broken user policy fails at decide with its file name', async () => {
    const name = policyFile('bad-decision.mjs', 'export default { name: "x", description: "", decide: () => ({ action: "lowerLearnRate", params: { initialLearnRate: NaN }, reason: "diverged" }) };');
    const { policy, source } = await loadPolicy(name, dir);
    expect(() => decideSafely(policy, context, source)).toThrow(`Policy file ${name}: decide() returned an invalid decision: params.initialLearnRate must be a finite number > 0, got NaN (lowerLearnRate)`);
  });

  test('a loaded user policy with a misspelt parameter is a user error naming the file, the action and the parameters', async () => {
    const name = policyFile('rat.ts', 'export default { name: "x", description: "", decide: () => ({ action: "addDropout", params: { rat: 0.5 }, reason: "gap 0.15" }) };');
    const { policy, source } = await loadPolicy(name, dir);
    let error: unknown;
    try {
      decideSafely(policy, context, source);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(UserError);
    expect((error as Error).message).toContain(`Policy file ${name}: decide() returned an invalid decision: addDropout has no parameter "rat"`);
    expect((error as Error).message).toMatch(dropoutParams);
  });
});

// ───────────── one rule for training options ─────────────

/** Every parameter of the registry that sets a training option. */
const OPTION_PARAMS = ACTION_NAMES.flatMap((action) =>
  Object.entries(ACTIONS[action].params as Record<string, { kind: string }>)
    .filter(([, spec]) => spec.kind === 'option')
    .map(([key, spec]) => ({ action, key, spec: spec as OptionParam })),
);
const SAMPLES: unknown[] = [-1, 0, 1e-4, 0.5, 1, 1.5, 3, 10, 1e6, NaN, Infinity, -Infinity, 'sgdm', 'adam', 'piecewise', 'none', 'l2norm', 'x', true, {}, [1]];

describe('action parameters that set a training option follow the rule of src/config/options.ts', () => {
  test('the registry has option parameters, and none of them is the seed', () => {
    expect(OPTION_PARAMS.map((p) => `${p.action}.${p.key}`)).toEqual(
      expect.arrayContaining(['lowerLearnRate.initialLearnRate', 'addEpochs.maxEpochs', 'addL2.l2Regularization', 'clipGradients.gradientThreshold', 'changeSolver.solver', 'addLearnRateSchedule.learnRateDropPeriod']),
    );
    expect(OPTION_PARAMS.some((p) => p.spec.option === 'seed')).toBe(false);
  });

  test.each(OPTION_PARAMS.map((p) => [`${p.action}.${p.key}`, p] as const))('%s: accepted exactly when the option accepts it, with the same words', (_name, { action, key, spec }) => {
    for (const value of SAMPLES) {
      const optionRule = optionProblem(spec.option, value);
      const narrowed = spec.values !== undefined && !(spec.values as readonly unknown[]).includes(value);
      const problem = decisionProblem({ action, params: { [key]: value }, reason: 'because of 0.3' });
      const label = `${action} ${key} = ${String(value)}`;
      if (optionRule === null && !narrowed) {
        expect(problem, label).toBeNull();
        expect(() => resolveOptions({ [spec.option]: value }), label).not.toThrow();
      } else {
        expect(problem, label).not.toBeNull();
        if (!narrowed) {
          expect(problem, label).toBe(`params.${optionRule!.replace(/^\w+/, key)} (${action})`);
          expect(() => resolveOptions({ [spec.option]: value }), label).toThrow(`Training option ${optionRule}.`);
        }
      }
    }
  });

  test('a negative seed fails the options rule (and no decision can set a seed)', () => {
    expect(optionProblem('seed', -1)).toBe('seed must be an integer ≥ 0, got -1');
    expect(() => resolveOptions({ seed: -1 })).toThrow(UserError);
    expect(decisionProblem({ action: 'changeSolver', params: { seed: 3 }, reason: 'slow at 0.01' })).toMatch(/^changeSolver has no parameter "seed"/);
  });
});

test("the loader's list of flowtune/policies' names (for the moved-import message) is the entry's exports", () => {
  expect([...BUILT_IN_EXPORTS].sort()).toEqual(Object.keys(builtInEntry).sort());
});
