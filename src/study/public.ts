/**
 * The published declarations of 'flowtune/study' (package.json "types"; emitted into dist/ by
 * tsconfig.study.json, declarations only): the types, and runStudy's signature. The entry's code
 * is src/study/api.ts, which the package runs from its sources through tsx, as `tune` does
 * (bin/flowtune-study.mjs); test/study/run-study.test.ts checks that its runStudy is this one.
 * Declared apart so that the declarations hold nothing of the study runner.
 */
import type { RunStudyOptions, StudyResult } from './api-types.ts';

export type { RunStudyOptions, StudyProgress, StudyResult } from './api-types.ts';
export type { ProgressSink } from '../progress.ts';
export { UserError, isUserError } from '../errors.ts';

/**
 * Runs a study (or resumes one, with `resume`) to its end and returns what it stored. A mistake in
 * the options or inputs rejects with the UserError `tune` would print, before any training; a
 * study that ran and failed resolves with status 'failed' and its `error`.
 */
export declare function runStudy(options: RunStudyOptions): Promise<StudyResult>;
