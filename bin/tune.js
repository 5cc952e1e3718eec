#!/usr/bin/env node
// The `tune` command. It runs the TypeScript sources directly through tsx, so there is no build
// step and a user's policy file may be TypeScript too.
import { register } from 'tsx/esm/api';

register();
const { cli } = await import('../src/cli.ts');
await cli(process.argv.slice(2));
