/**
 * `flowtune/study`: run a study from a script, as `tune --data ...` does, and get its result.
 *
 *   import { runStudy } from 'flowtune/study';
 *   const result = await runStudy({ data: 'fashion', policy: 'flowchart', budget: '30m' });
 *
 * The options are the CLI's study flags with typed names (`maxRuns: 3` is `--max-runs 3`); they go
 * through the CLI's own checks (src/study/config.ts), so a bad one throws the UserError `tune`
 * prints, before anything is written. The policy may also be a Policy object (the interface a
 * policy file exports, e.g. `flowchartPolicy` from 'flowtune/policies'). The study does I/O (the
 * data, reports/NAME/, training), which is why this is an entry of its own and not part of the
 * pure 'flowtune'. Nothing here exits the process or installs signal handlers: `signal` stops a
 * study resumably.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { UserError } from '../errors.ts';
import { policyObject, type LoadedPolicy } from '../policy-loader.ts';
import { terminalProgress, type ProgressSink } from '../progress.ts';
import type { StudyConfig } from '../store/records.ts';
import type { RunStudyOptions, StudyProgress, StudyResult } from './api-types.ts';
import { studyStartFrom, type Flags, type StudyFlag } from './config.ts';
import { noun } from '../util/format.ts';

export type { RunStudyOptions, StudyProgress, StudyResult } from './api-types.ts';
export { UserError, isUserError } from '../errors.ts';

/** Each option and the flag it is. */
const FLAG_OF = {
  data: 'data',
  dataDir: 'data-dir',
  imageSize: 'image-size',
  testData: 'test-data',
  skipBad: 'skip-bad',
  maxMemory: 'max-memory',
  name: 'name',
  policy: 'policy',
  budget: 'budget',
  maxRuns: 'max-runs',
  subset: 'subset',
  validationSubset: 'validation-subset',
  validationSize: 'validation-size',
  finalFull: 'no-final-full',
  finalRefit: 'no-final-refit',
  maxEpochs: 'max-epochs',
  initialLearnRate: 'initial-learn-rate',
  solver: 'solver',
  miniBatchSize: 'mini-batch-size',
  seed: 'seed',
  backend: 'backend',
  reportsDir: 'reports',
  resume: 'resume',
  redis: 'redis',
  logLevel: 'log-level',
} as const satisfies Partial<Record<keyof RunStudyOptions, StudyFlag>>;

/** The options that are not flags. */
const OTHER_OPTIONS = ['quiet', 'progress', 'signal'] as const satisfies readonly (keyof RunStudyOptions)[];

/** With `resume`, the options that may be given too (the rest is the stored configuration). */
const WITH_RESUME: readonly string[] = ['resume', 'reportsDir', 'policy', 'redis', 'logLevel', ...OTHER_OPTIONS];

/**
 * The options as the flags `tune` would be given (`maxRuns: 3` → `--max-runs 3`); a policy object
 * is checked, and its name stands for it.
 */
function flagsOf(options: RunStudyOptions): { flags: Flags<StudyFlag>; policy: LoadedPolicy | undefined } {
  if (typeof options !== 'object' || options === null) throw new UserError('runStudy takes an options object, e.g. runStudy({ data: \'fashion\', budget: \'30m\' }).');
  const known = [...Object.keys(FLAG_OF), ...OTHER_OPTIONS];
  const given = Object.keys(options).filter((key) => options[key as keyof RunStudyOptions] !== undefined);
  const unknown = given.filter((key) => !known.includes(key));
  if (unknown.length > 0) throw new UserError(`runStudy: unknown ${noun(unknown.length, 'option')} ${unknown.join(', ')}. The options are ${known.join(', ')}.`);
  if (options.resume !== undefined) {
    const stored = given.filter((key) => !WITH_RESUME.includes(key) || (key === 'policy' && typeof options.policy === 'string'));
    if (stored.length > 0) {
      throw new UserError(`runStudy: resume continues study "${options.resume}" with its stored configuration; leave out ${stored.join(', ')} (a policy given to resume is the object the study was started with).`);
    }
  }
  // Anything but a name or a path is meant as a Policy object, and checked as one.
  const policy = options.policy !== undefined && typeof options.policy !== 'string' ? policyObject(options.policy) : undefined;
  const flags: Flags<StudyFlag> = {};
  for (const [option, flag] of Object.entries(FLAG_OF) as [keyof typeof FLAG_OF, StudyFlag][]) {
    const value: unknown = option === 'policy' && policy ? policy.policy.name : options[option];
    if (value === undefined) continue;
    if (option === 'finalFull' || option === 'finalRefit') flags[flag] = value === false;
    else if (option === 'skipBad') flags[flag] = Boolean(value);
    else if (option === 'imageSize' && Array.isArray(value)) flags[flag] = value.join('x');
    else flags[flag] = typeof value === 'string' ? value : String(value);
  }
  return { flags, policy };
}

/** Every method of a progress sink: the caller's, or nothing. */
function sinkOf(progress: StudyProgress): ProgressSink {
  const call =
    <K extends keyof ProgressSink>(key: K) =>
    (...args: Parameters<ProgressSink[K]>): void => {
      const method = progress[key] as ((...a: Parameters<ProgressSink[K]>) => void) | undefined;
      if (typeof method === 'function') method.apply(progress, args);
    };
  return {
    runStarted: call('runStarted'),
    training: call('training'),
    runFinished: call('runFinished'),
    decision: call('decision'),
    message: call('message'),
    result: call('result'),
  };
}

const STATUS = { finished: 'done', stopped: 'stopped', failed: 'failed' } as const;

/**
 * Runs a study (or resumes one, with `resume`) to its end and returns what it stored. A mistake in
 * the options or inputs (a bad value, data that is not there, a policy file that does not load, a
 * study of that name that exists) rejects with the UserError `tune` would print, before any
 * training; a study that ran and failed resolves with status 'failed' and its `error`.
 */
export async function runStudy(options: RunStudyOptions): Promise<StudyResult> {
  const { flags, policy } = flagsOf(options);
  options.signal?.throwIfAborted();
  const { target, ...start } = await studyStartFrom(flags);
  // The study runner (and TensorFlow.js) loads when a study starts, as under `tune`.
  const { runStudy: runStudyRecord } = await import('./run.ts');
  const { readStudyFile, STUDY_FILE } = await import('../store/study-store.ts');
  const config: StudyConfig | string = typeof target === 'string' || !policy ? target : { ...target, policyObject: true };
  const progress = options.progress ? sinkOf(options.progress) : options.quiet ? sinkOf({}) : terminalProgress(process.stderr, false);
  const outcome = await runStudyRecord(config, { ...start, progress, policy, signal: options.signal });
  // What the study stored, as a reader of its folder sees it.
  const study = readStudyFile(path.join(outcome.dir, STUDY_FILE));
  if (study.status === 'running') throw new Error(`study "${study.config.name}" ended with the status "running" in ${outcome.dir} (a bug)`);
  const report = path.join(outcome.dir, 'report.md');
  return {
    name: study.config.name,
    dir: outcome.dir,
    status: STATUS[study.status],
    statusReason: study.statusReason,
    budgetExhausted: study.budget.exhausted,
    testAccuracy: study.final?.testAccuracy ?? null,
    finalRunId: study.final?.runId ?? null,
    reportPath: existsSync(report) ? report : null,
    ...(outcome.error ? { error: outcome.error } : {}),
    study,
  };
}
