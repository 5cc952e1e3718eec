// 'flowtune/study' in a Node process outside this repository (package.json "exports", condition
// "default"): a study runs flowtune's TypeScript sources through tsx, exactly as the `tune` command
// does (bin/tune.js). Importing it registers, in this process, tsx and the "flowtune-source"
// resolution (bin/flowtune-source.mjs: 'flowtune' in a policy is then flowtune's sources), and
// loads src/study/api.ts. Its declarations are dist/src/study/public.d.ts (src/study/public.ts).
import { register as registerHooks } from 'node:module';
import { register } from 'tsx/esm/api';

registerHooks('./flowtune-source.mjs', import.meta.url);
register();
const api = await import('../src/study/api.ts');

export const { runStudy, UserError, isUserError } = api;
