/**
 * flowtune's public API: the types a policy is written against, the diagnosis functions a policy
 * may call, and the pieces a program can drive directly.
 */
export type * from './types.ts';
export { UserError, isUserError } from './errors.ts';
export * from './diagnosis/index.ts';
export { readHistoryFile, diagnoseFile } from './history-file.ts';
export { defaultNetwork, addDropout, widen, deepen, changeFilterSize, paramCount, describeNetwork } from './config/network.ts';
export { resolveOptions, learnRateAt, toMatlabCall } from './config/options.ts';
export { tuneMachine } from './machine/machine.ts';
export { StudyStore } from './store/study-store.ts';
export { runStudy } from './study/index.ts';
