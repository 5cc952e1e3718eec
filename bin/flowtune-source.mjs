// A module-resolution hook for the `tune` process (registered by bin/tune.js): resolve with the
// "flowtune-source" export condition, so that `import ... from 'flowtune'` in the built-in policies
// and in a user's policy loads flowtune's TypeScript sources (src/index.ts, run by tsx): the very
// modules the CLI runs, never a second copy from dist/ (package.json "exports").
export async function resolve(specifier, context, nextResolve) {
  return nextResolve(specifier, { ...context, conditions: [...context.conditions, 'flowtune-source'] });
}
