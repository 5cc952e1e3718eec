/**
 * runStudy ('flowtune/study'): real short studies through the API on a tiny stratified subset of
 * Fashion-MNIST (the e2e tests' settings: 500 training / 300 validation images, 2 epochs, no time
 * budget, wasm), whose result is what the study stored; a bad option is the UserError the CLI
 * prints, before anything is written; a signal stops a study resumably, and the same policy object
 * resumes it; a policy that throws is a failed study. And the entry itself: its published
 * declaration, its declarations build, and its plain-Node module (bin/flowtune-study.mjs).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, expectTypeOf, test } from 'vitest';
import { isUserError, runStudy, UserError, type RunStudyOptions } from 'flowtune/study';
import { flowchartPolicy } from 'flowtune/policies';
import type * as Published from '../../src/study/public.ts';
import { main } from '../../src/cli.ts';
import { decideSafely, policyObject } from '../../src/policy-loader.ts';
import { studyConfigFrom } from '../../src/study/config.ts';
import { readStudyFile } from '../../src/store/study-store.ts';
import { HAVE_FASHION, ROOT, tempReports } from '../e2e/helpers.ts';

/** SMALL_STUDY of test/e2e/helpers.ts, as options. */
const SMALL = {
  data: 'fashion',
  validationSize: 2000,
  subset: 500,
  validationSubset: 300,
  maxEpochs: 2,
  budget: 0,
  finalFull: false,
  backend: 'wasm',
} as const satisfies RunStudyOptions;

/** The same, as the CLI's flags. */
const SMALL_FLAGS = ['--data', 'fashion', '--validation-size', '2000', '--subset', '500', '--validation-subset', '300', '--max-epochs', '2', '--budget', '0', '--no-final-full', '--backend', 'wasm'];

const rejection = (promise: Promise<unknown>): Promise<Error> =>
  promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: Error) => error,
  );

describe('the flowtune/study entry', () => {
  test('its published declaration (src/study/public.ts) is the implementation\u2019s signature', () => {
    expectTypeOf(runStudy).toEqualTypeOf<typeof Published.runStudy>();
  });

  test('its declarations build (tsconfig.study.json, as `npm run build` runs it)', () => {
    const out = mkdtempSync(path.join(tmpdir(), 'flowtune-study-dts-'));
    try {
      const tsc = spawnSync(process.execPath, [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.study.json', '--outDir', out], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
      expect(tsc.stdout + tsc.stderr).toBe('');
      expect(tsc.status).toBe(0);
      const dts = readFileSync(path.join(out, 'src', 'study', 'public.d.ts'), 'utf8');
      expect(dts).toContain('export declare function runStudy(options: RunStudyOptions): Promise<StudyResult>;');
      // Declarations only, and nothing of the study runner.
      expect(existsSync(path.join(out, 'src', 'study', 'run.d.ts'))).toBe(false);
      expect(existsSync(path.join(out, 'src', 'study', 'public.js'))).toBe(false);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  test('in a plain Node process (condition "default": bin/flowtune-study.mjs) it loads and checks its options', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'flowtune-study-node-'));
    try {
      const script = path.join(dir, 'script.mjs');
      writeFileSync(
        script,
        `const { runStudy, isUserError } = await import(${JSON.stringify(path.join(ROOT, 'bin', 'flowtune-study.mjs'))});\n` +
          `try { await runStudy({ maxRuns: -1, reportsDir: ${JSON.stringify(dir)} }); } catch (error) { console.log(isUserError(error), error.message); }\n`,
      );
      const r = spawnSync(process.execPath, [script], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toBe('true --max-runs -1 is not valid: give a whole number ≥ 0.\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('a policy object', () => {
  test('is checked like a policy file\u2019s export; the report and messages name it as the object passed to runStudy', () => {
    const { policy, source } = policyObject({ ...flowchartPolicy, name: 'mine' });
    expect(policy.name).toBe('mine');
    expect(source).toBe("the policy object 'mine' passed to runStudy");
    const throws = { ...policy, decide: () => { throw new Error('no idea'); } };
    expect(() => decideSafely(throws, {} as never, source)).toThrow(new UserError("The policy object 'mine' passed to runStudy: decide() threw: no idea"));
    expect(() => decideSafely({ ...policy, decide: () => ({}) as never }, {} as never, source)).toThrow(/^The policy object 'mine' passed to runStudy: decide\(\) returned an invalid decision: /);
    // A file's messages are as they were.
    expect(() => decideSafely(throws, {} as never, 'my-policy.ts')).toThrow(new UserError('Policy file my-policy.ts: decide() threw: no idea'));
  });
});

describe('runStudy: bad options', () => {
  let reports = '';
  afterAll(() => reports && rmSync(reports, { recursive: true, force: true }));

  test.each([
    // (`--flag=value`: a value starting with '-' after a space is refused by the CLI's parser as ambiguous.)
    [{ maxRuns: -1 }, ['--max-runs=-1']],
    [{ budget: '3 weeks' }, ['--budget=3 weeks']],
    [{ budget: -5 }, ['--budget=-5']],
    [{ subset: 1.5 }, ['--subset=1.5']],
    [{ initialLearnRate: 0 }, ['--initial-learn-rate=0']],
    [{ solver: 'sgd' as never }, ['--solver=sgd']],
    [{ name: 'my study' }, ['--name=my study']],
    [{ validationSize: 0 }, ['--validation-size=0']],
    [{ imageSize: [0, 28] as [number, number] }, ['--image-size=0x28']],
    [{ maxMemory: '1K' }, ['--max-memory=1K']],
    [{ backend: 'tpu' as never }, ['--backend=tpu']],
    [{ logLevel: 'loud' as never }, ['--log-level=loud']],
    [{ policy: 'no-such-policy.ts' }, ['--policy=no-such-policy.ts']],
  ] satisfies [RunStudyOptions, string[]][])('%j throws the UserError `tune %s` prints, and writes nothing', async (options, flags) => {
    reports ||= await tempReports();
    const api = await rejection(runStudy({ ...options, reportsDir: reports, quiet: true }));
    const cli = await rejection(main(['--data', 'fashion', ...flags, '--reports', reports, '--quiet']));
    expect(isUserError(cli), cli.stack).toBe(true);
    expect(api).toBeInstanceOf(UserError);
    expect(api.message).toBe(cli.message);
    expect(readdirSync(reports)).toEqual([]);
  });

  test.each([
    [{ maxRun: 3 } as never, /^runStudy: unknown option maxRun\. The options are data, dataDir, .*, quiet, progress, signal\.$/],
    [{ policy: { name: 'half' } as never }, /^The policy passed to runStudy is not a policy: it has no decide function\. Pass an object \{ name: string, /],
    [{ policy: (() => flowchartPolicy) as never }, /^The policy passed to runStudy is not a policy: it is function, not a policy object\./],
    [{ resume: 'old', budget: '1h' }, /^runStudy: resume continues study "old" with its stored configuration; leave out budget /],
    [{ resume: 'old', policy: 'flowchart' }, /^runStudy: resume continues study "old" with its stored configuration; leave out policy /],
    [{ resume: 'none-such' }, /^No study at .*none-such: .*study\.json does not exist\./],
  ])('%j: a UserError of its own, nothing written', async (options, message) => {
    reports ||= await tempReports();
    const error = await rejection(runStudy({ ...options, reportsDir: reports, quiet: true }));
    expect(error, error.stack).toBeInstanceOf(UserError);
    expect(error.message).toMatch(message);
    expect(readdirSync(reports)).toEqual([]);
  });

  test('a signal aborted before the call: rejects with its reason and starts nothing', async () => {
    reports ||= await tempReports();
    const stop = new AbortController();
    stop.abort(new Error('not today'));
    await expect(runStudy({ ...SMALL, reportsDir: reports, signal: stop.signal, quiet: true })).rejects.toThrow('not today');
    expect(readdirSync(reports)).toEqual([]);
  });
});

describe.skipIf(!HAVE_FASHION)('runStudy: a real study on a small subset', () => {
  const policy = { ...flowchartPolicy, name: 'scripted' };

  test(
    'with a policy object: the result is what the study stored; its configuration is the one `tune` builds from the same flags',
    async () => {
      const reports = await tempReports();
      const finished: number[] = [];
      const results: string[] = [];
      const result = await runStudy({
        ...SMALL,
        maxRuns: 2,
        name: 'api',
        reportsDir: reports,
        policy,
        progress: { runFinished: (run) => finished.push(run.id), result: (text) => results.push(text) },
      });
      const dir = path.join(reports, 'api');
      const study = readStudyFile(path.join(dir, 'study.json'));
      expect(study.status).toBe('finished');
      expect(result).toMatchObject({
        name: 'api',
        dir,
        status: 'done',
        statusReason: study.statusReason,
        budgetExhausted: study.budget.exhausted,
        testAccuracy: study.final!.testAccuracy,
        finalRunId: study.final!.runId,
        reportPath: path.join(dir, 'report.md'),
      });
      expect(result.budgetExhausted).toBe(true); // the run budget (2) ended the search: `tune` exits 3
      expect(result.error).toBeUndefined();
      expect(result.study).toEqual(study);
      expect(study.runs.filter((r) => r.verdict !== 'final')).toHaveLength(2);
      expect(result.testAccuracy).toBeGreaterThan(0.5); // far above chance (10%) even on 500 images
      // The configuration: what `tune` builds from the same flags, but the policy is the object's name.
      const flags = { data: 'fashion', 'validation-size': '2000', subset: '500', 'validation-subset': '300', 'max-epochs': '2', budget: '0', 'no-final-full': true, backend: 'wasm', 'max-runs': '2', name: 'api', policy: 'scripted' };
      expect(study.config).toEqual({ ...(await studyConfigFrom(flags)), policyObject: true });
      expect(study.policy).toEqual({ name: 'scripted', source: "the policy object 'scripted' passed to runStudy" });
      // The report names the policy object and gives the same test accuracy.
      const report = readFileSync(result.reportPath!, 'utf8');
      expect(report).toContain("- **Policy:** scripted (the policy object 'scripted' passed to runStudy)");
      expect(report).toContain(`Run ${result.finalRunId}'s weights on the `);
      expect(report).toContain(`accuracy ${(result.testAccuracy! * 100).toFixed(2)}%`);
      // The progress went to the callbacks given (and nothing to stderr).
      expect(finished.length).toBeGreaterThan(0);
      for (const id of finished) expect(study.runs.map((r) => r.id)).toContain(id);
      expect(results).toEqual([expect.stringContaining(`test accuracy ${(result.testAccuracy! * 100).toFixed(2)}%`)]);
      expect(results[0]).toContain(result.reportPath!);
      expect(existsSync(path.join(dir, 'study.lock'))).toBe(false);
    },
    600_000,
  );

  test(
    'a signal stops it resumably; `tune --resume` refuses a policy object it cannot have, runStudy resumes it with the same one',
    async () => {
      const reports = await tempReports();
      const stop = new AbortController();
      const options = { ...SMALL, maxRuns: 2, name: 'stopped', reportsDir: reports, policy };
      const stopped = await runStudy({ ...options, signal: stop.signal, progress: { runFinished: () => stop.abort() } });
      const dir = path.join(reports, 'stopped');
      const file = path.join(dir, 'study.json');
      const onDisk = readStudyFile(file);
      expect(onDisk.status).toBe('stopped');
      expect(stopped).toMatchObject({
        name: 'stopped',
        dir,
        status: 'stopped',
        statusReason: onDisk.statusReason,
        testAccuracy: onDisk.final?.testAccuracy ?? null,
        finalRunId: onDisk.final?.runId ?? null,
        reportPath: path.join(dir, 'report.md'),
      });
      expect(stopped.statusReason).toBe("stopped by the caller's signal; continue with runStudy({ resume: 'stopped', policy }) with the same policy object");
      expect(onDisk.runs.length).toBeGreaterThanOrEqual(1);
      expect(readFileSync(stopped.reportPath!, 'utf8')).toContain(`**stopped: ${stopped.statusReason}**`);
      expect(existsSync(path.join(dir, 'study.lock'))).toBe(false);

      // The CLI cannot pass the object: it says how to resume instead, and leaves the study as it was.
      const cli = await rejection(main(['--resume', 'stopped', '--reports', reports]));
      expect(isUserError(cli), cli.stack).toBe(true);
      expect(cli.message).toBe(
        "Study \"stopped\" was started by runStudy ('flowtune/study') with the policy object 'scripted', which only a script can pass: resume it with runStudy({ resume: 'stopped', policy }) with the same policy object.",
      );
      // Another policy object is refused too.
      const other = await rejection(runStudy({ resume: 'stopped', reportsDir: reports, policy: { ...flowchartPolicy, name: 'other' }, quiet: true }));
      expect(other.message).toBe("Study \"stopped\" was started with the policy object 'scripted'; the policy passed is 'other'. Resume it with the same policy, or start a new study.");
      expect(readStudyFile(file).status).toBe('stopped');

      const resumed = await runStudy({ resume: 'stopped', reportsDir: reports, policy, quiet: true });
      const after = readStudyFile(file);
      expect(after.status).toBe('finished');
      expect(resumed).toMatchObject({ status: 'done', testAccuracy: after.final!.testAccuracy, finalRunId: after.final!.runId });
      expect(after.runs[0].startedAt).toBe(onDisk.runs[0].startedAt); // run 1 was not trained again
      expect(after.runs.filter((r) => r.verdict !== 'final')).toHaveLength(2);
    },
    600_000,
  );

  test(
    'a policy whose decide() throws: status failed, its UserError names the policy object, the baseline is kept',
    async () => {
      const reports = await tempReports();
      const throws = { ...flowchartPolicy, name: 'throws', decide: () => { throw new Error('no idea'); } };
      const result = await runStudy({ ...SMALL, maxRuns: 2, name: 'failed', reportsDir: reports, policy: throws, quiet: true });
      const study = readStudyFile(path.join(reports, 'failed', 'study.json'));
      expect(study.status).toBe('failed');
      expect(result).toMatchObject({ status: 'failed', statusReason: study.statusReason, testAccuracy: null, finalRunId: null });
      expect(result.error).toBeInstanceOf(UserError);
      expect(result.error!.message).toMatch(/^The policy object 'throws' passed to runStudy: decide\(\) threw: no idea/);
      expect(result.error!.message).toContain(`finished run(s) are kept in ${path.join(reports, 'failed')}`);
      expect(study.runs.length).toBeGreaterThanOrEqual(1);
      // `tune` would have exited 2 with the same message.
      expect(result.study).toEqual(study);
    },
    600_000,
  );
});
