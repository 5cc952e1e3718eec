/** Running a study: the orchestration (run.ts), the machine's actors (adapters.ts) and what they share (env.ts). */
export { runStudy, interruptStudy, studyMachine, type StudyOutcome, type StudyRunOptions } from './run.ts';
export { summariseRun } from './env.ts';
