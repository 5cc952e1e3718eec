import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const source = (file: string) => fileURLToPath(new URL(file, import.meta.url));

export default defineConfig({
  resolve: {
    // 'flowtune', 'flowtune/testing', 'flowtune/policies' and 'flowtune/study' are the package's own sources
    // here, as under tsx (package.json "exports", condition "flowtune-source"): the built-in policies import them.
    alias: [
      { find: /^flowtune$/, replacement: source('./src/index.ts') },
      { find: /^flowtune\/testing$/, replacement: source('./src/testing/index.ts') },
      { find: /^flowtune\/policies$/, replacement: source('./policies/index.ts') },
      { find: /^flowtune\/study$/, replacement: source('./src/study/api.ts') },
    ],
  },
  test: {
    include: ['test/**/*.test.ts'],
    // Training tests are CPU-bound; two cores, so keep parallelism modest.
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
