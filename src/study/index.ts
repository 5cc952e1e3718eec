/**
 * Running a study: the orchestration (run.ts), the machine's actors (adapters.ts) and what they
 * share (env.ts). Its flags become its configuration in config.ts; the public runStudy of
 * 'flowtune/study' (api.ts) is a script's way in, as src/cli.ts is the command's, both over run.ts.
 */
export { runStudy, interruptStudy, studyMachine, type StudyOutcome, type StudyRunOptions } from './run.ts';
export { summariseRun } from './env.ts';
