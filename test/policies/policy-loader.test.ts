import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, test } from 'vitest';
import { UserError } from '../../src/errors.ts';
import { diagnoseRun, runSummaryFromCurve, seededRandom } from '../../src/diagnosis/index.ts';
import { decideSafely, loadPolicy } from '../../src/policy-loader.ts';
import type { Policy, PolicyContext } from '../../src/types.ts';

const dir = mkdtempSync(join(tmpdir(), 'flowtune-policy-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const diagnosisIndex = fileURLToPath(new URL('../../src/diagnosis/index.ts', import.meta.url));

let counter = 0;
/** Writes a policy file into the temp dir; returns its file name (relative to the dir). */
function policyFile(name: string, text: string): string {
  const file = `${counter++}-${name}`;
  writeFileSync(join(dir, file), text);
  return file;
}

const curve = { epochs: [{ epoch: 1, loss: 0.5, accuracy: 0.8, valLoss: 0.55, valAccuracy: 0.78, learnRate: 0.01 }], nonFinite: null };
const run = runSummaryFromCurve(curve, diagnoseRun(curve));
const context: PolicyContext = {
  stage: 'baseline',
  last: run,
  incumbent: run,
  runs: [run],
  tried: [],
  budget: { runsLeft: 10, secondsLeft: 600 },
  random: seededRandom(1),
};

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
  test.each(['flowchart', 'example', 'random'])('%s', async (name) => {
    const { policy, source } = await loadPolicy(name, dir);
    expect(policy.name).toBe(name);
    expect(typeof policy.decide).toBe('function');
    expect(source).toBe(`policies/${name}.ts`);
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

describe('loadPolicy: faults name the file and the fault', () => {
  test.each<[string, string | null, string, RegExp]>([
    ['missing file', null, 'nope.ts', /Policy file nope\.ts not found \(resolved to .*nope\.ts\)\. Give a built-in policy \(flowchart, example, random\)/],
    ['syntax error', 'syntax.ts', 'export default { name: "x", decide( => 1 };', /Policy file \d+-syntax\.ts does not load: .+\. Fix the file/s],
    ['throws while loading', 'throws-on-load.mjs', 'throw new Error("config missing");\nexport default {};', /Policy file \d+-throws-on-load\.mjs does not load: config missing/],
    ['no export', 'noexport.mjs', 'export const something = 1;', /Policy file \d+-noexport\.mjs exports no policy \(found exports: something\)/],
    ['no decide', 'nodecide.mjs', 'export default { name: "x", description: "" };', /Policy file \d+-nodecide\.mjs: the policy has no decide function/],
    ['decide is not a function', 'decidestring.mjs', 'export default { name: "x", decide: "stop" };', /has no decide function/],
    ['no name', 'noname.mjs', 'export default { decide: () => ({}) };', /Policy file \d+-noname\.mjs: the policy has no name/],
    ['exports a number', 'number.mjs', 'export default 42;', /Policy file \d+-number\.mjs exports number, not a policy object/],
    ['factory throws', 'factorythrows.mjs', 'export default () => { throw new Error("no config"); };', /Policy file \d+-factorythrows\.mjs: its factory function threw: no config/],
    ['unknown threshold', 'threshold.mjs', 'export default { name: "x", thresholds: { gap: 0.1 }, decide: () => ({}) };', /unknown threshold "gap"; known: explodeFactor, riseFraction/],
    ['NaN threshold', 'nanthreshold.mjs', 'export default { name: "x", thresholds: { gapThreshold: NaN }, decide: () => ({}) };', /threshold gapThreshold is NaN; expected a finite number ≥ 0/],
    ['unsupported extension', 'policy.txt', 'export default {}', /has the extension "\.txt"; expected one of \.ts, \.mts, \.js, \.mjs, \.cjs/],
  ])('%s', async (_name, file, text, message) => {
    const name = file === null ? text : policyFile(file, text);
    const error = await loadError(name);
    expect(error.message).toContain(name);
    expect(error.message).toMatch(message);
    expect(error.message).not.toMatch(/\u001b\[/);
  });

  test('a directory is not a policy file', async () => {
    expect((await loadError('.')).message).toMatch(/is not a file/);
  });
});

describe('decideSafely: a throw or an invalid decision names the file and what is invalid', () => {
  const policyReturning = (value: unknown): Policy => ({ name: 'p', description: '', decide: () => value as never });
  test.each<[string, Policy, RegExp]>([
    ['decide throws', { name: 'p', description: '', decide: () => { throw new Error('boom at run 3'); } }, /Policy file my\.ts: decide\(\) threw: boom at run 3/],
    ['unknown action', policyReturning({ action: 'explode', params: {}, reason: 'why 1' }), /invalid decision: unknown action "explode"\. Expected \{ action: one of lowerLearnRate, .*stop;/],
    ['missing action', policyReturning({ params: {}, reason: 'why 1' }), /unknown action undefined/],
    ['NaN param', policyReturning({ action: 'lowerLearnRate', params: { initialLearnRate: NaN }, reason: 'diverged at 0.01' }), /params\.initialLearnRate is NaN \(numbers must be finite\)/],
    ['Infinity param', policyReturning({ action: 'addEpochs', params: { maxEpochs: Infinity }, reason: 'more 1' }), /params\.maxEpochs is Infinity/],
    ['object param', policyReturning({ action: 'addDropout', params: { rate: { value: 0.2 } }, reason: 'gap 0.15' }), /params\.rate is object \(expected a finite number, a string or a boolean\)/],
    ['params missing', policyReturning({ action: 'stop', reason: 'done 1' }), /params is not an object/],
    ['empty reason', policyReturning({ action: 'stop', params: {}, reason: '' }), /reason is empty \(say why, quoting the numbers\)/],
    ['blank reason', policyReturning({ action: 'stop', params: {}, reason: '   ' }), /reason is empty/],
    ['not an object', policyReturning('stop'), /it is string, not an object/],
    ['a promise', policyReturning(Promise.resolve({ action: 'stop', params: {}, reason: 'x' })), /it is a Promise; decide must be synchronous/],
    ['learn rate out of range', policyReturning({ action: 'raiseLearnRate', params: { initialLearnRate: 100 }, reason: 'slow at 10' }), /params\.initialLearnRate is 100 \(expected a number in \(0, 10\]\)/],
    ['fractional maxEpochs', policyReturning({ action: 'trimEpochs', params: { maxEpochs: 27.5 }, reason: 'min at 27.5' }), /params\.maxEpochs is 27\.5 \(expected a whole number 1–10000\)/],
    ['dropout rate 1', policyReturning({ action: 'addDropout', params: { rate: 1 }, reason: 'gap 0.2' }), /params\.rate is 1 \(expected a dropout rate in \(0, 1\)\)/],
    ['unknown schedule', policyReturning({ action: 'addLearnRateSchedule', params: { learnRateSchedule: 'cosine' }, reason: 'gap 0.2' }), /params\.learnRateSchedule is "cosine" \(expected 'none' or 'piecewise'\)/],
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

  test('a valid decision is returned as a copy (other params pass through)', () => {
    const params = { rate: 0.2, afterLayer: 3, note: 'x', flag: true };
    const d = decideSafely(policyReturning({ action: 'addDropout', params, reason: 'gap 0.15 > 0.10' }), context, 'my.ts');
    expect(d).toEqual({ action: 'addDropout', params, reason: 'gap 0.15 > 0.10' });
    expect(d.params).not.toBe(params);
  });

  test('a loaded broken user policy fails at decide with its file name', async () => {
    const name = policyFile('bad-decision.mjs', 'export default { name: "x", description: "", decide: () => ({ action: "lowerLearnRate", params: { initialLearnRate: NaN }, reason: "diverged" }) };');
    const { policy, source } = await loadPolicy(name, dir);
    expect(() => decideSafely(policy, context, source)).toThrow(`Policy file ${name}: decide() returned an invalid decision: params.initialLearnRate is NaN`);
  });
});
