#!/usr/bin/env node
// The `tune` command. It runs the TypeScript sources directly through tsx, so there is no build
// step and a user's policy file may be TypeScript too. 'flowtune' (the import of every policy,
// built-in or the user's) resolves to the same sources (bin/flowtune-source.mjs).
import { register as registerHooks } from 'node:module';
import { register } from 'tsx/esm/api';

registerHooks('./flowtune-source.mjs', import.meta.url);
register();
const { cli } = await import('../src/cli.ts');
await cli(process.argv.slice(2));
