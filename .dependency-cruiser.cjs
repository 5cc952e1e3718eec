/**
 * flowtune's layering, checked by dependency-cruiser (cruising src, policies, bin and bench; run by `npm test`: test/architecture.test.ts;
 * by hand: `npm run lint:deps`).
 *
 *   - Only src/training/ touches TensorFlow.js.
 *   - src/diagnosis/ and policies/ are pure: numbers in, labels and decisions out. No file, process,
 *     network or thread I/O, neither directly nor through a module that does it.
 *   - src/config/ (the network spec, its edits and the training options) is pure: no tfjs, no I/O.
 *   - src/util/ (the seeded RNG, small statistics, mini-batch arithmetic) is pure; every layer may use it.
 *   - src/report/ renders a stored study without I/O: only its writer (write.ts), `tune list`
 *     (list.ts) and its index touch files; Markdown, terminal text, plots and the HTML pages of
 *     `tune serve` (page.ts, html.ts, flowchart.ts) are pure.
 *   - src/store/records.ts (the stored study's types, and `reasonOf`) is pure; the rest of src/store/ does I/O.
 *   - src/serve/ is `tune serve`'s HTTP server (I/O): it reads the stored studies and hands them to
 *     the pure page renderers; nothing pure imports it.
 *   - The package's public entries are pure: `flowtune` (src/index.ts: the types, the action
 *     registry, diagnosis and config), `flowtune/policies` (policies/index.ts: the built-in
 *     policies, which import `flowtune`; no import circles) and `flowtune/testing` (src/testing/:
 *     the policy contract kit, which builds its contexts with the machine's rails, src/machine/rails.ts,
 *     pure functions of the evidence that live beside the machine that uses them).
 *   - `flowtune/study` (src/study/api.ts: runStudy) is the one entry that does I/O: it runs a study,
 *     as `tune` does, so it lives with the study runner (src/study/) and nothing pure imports it.
 *
 * Dependencies are those of the code that runs: type-only imports (`import type`) do not count
 * (tsPreCompilationDeps: false), dynamic `import()` does.
 */

/** Node built-ins that do I/O (each also as `node:x`). */
const NODE_IO = ['fs', 'fs/promises', 'child_process', 'net', 'http', 'https', 'http2', 'worker_threads', 'cluster', 'dgram', 'dns', 'tls', 'readline', 'inspector'];
/** npm packages that do I/O. */
const NPM_IO = ['pino', 'lowdb', 'steno', 'tsx', '@hono/node-server', 'playwright-core', 'bullmq', 'ioredis'];
/** flowtune's own modules that do I/O (read or write files, load code, train, drive a study). */
const PROJECT_IO = [
  // The store reads and writes studies; its record types (records.ts, with the pure reasonOf) are pure.
  '^src/store/(?!records\\.ts$)',
  '^src/data/',
  '^src/training/',
  // The machine drives a study; its rails (which actions each step allows) are pure functions.
  '^src/machine/(?!rails\\.ts$)',
  '^src/policy-loader\\.ts$',
  '^src/history-file\\.ts$',
  '^src/report/(index|write|list)\\.ts$',
  '^src/study/',
  '^src/serve/',
  // The job queue (BullMQ on Redis): `tune worker` and the study's queue trainer.
  '^src/queue/',
  '^src/version\\.ts$',
  '^src/cli\\.ts$',
  '^bin/',
];

const escape = (s) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
/** Resolved paths of the I/O built-ins and packages. */
const NODE_IO_PATHS = NODE_IO.map((m) => `^(node:)?${escape(m)}$`);
const NPM_IO_PATHS = NPM_IO.map((m) => `(^|/)node_modules/${escape(m)}/|^${escape(m)}(/|$)`);
const TFJS_PATHS = ['(^|/)node_modules/@tensorflow/', '^@tensorflow/'];

const PURE = '^(src/diagnosis/|src/config/|src/testing/|src/util/|policies/|src/(index|actions|types|errors|policy-shape)\\.ts$|src/machine/rails\\.ts$|src/store/records\\.ts$)|^src/report/(?!(index|write|list)\\.ts$)';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'tfjs-only-in-training',
      severity: 'error',
      comment: 'Only src/training/ imports TensorFlow.js (@tensorflow/*); everything else works on specs, histories and numbers.',
      from: { pathNot: '^src/training/' },
      to: { path: TFJS_PATHS },
    },
    {
      name: 'pure-no-io',
      severity: 'error',
      comment:
        'src/diagnosis/, src/config/, policies/ and the report renderers (src/report/ but index, write, list) are pure: they import no I/O module (Node fs, child_process, net, http, worker_threads, ...; pino, lowdb) ' +
        'and none of flowtune\'s modules that do I/O (store, data, training, machine, policy loader, report writer, study, cli). ' +
        'Read files at the edge (e.g. src/history-file.ts) and pass the contents in.',
      from: { path: PURE },
      to: { path: [...NODE_IO_PATHS, ...NPM_IO_PATHS, ...PROJECT_IO] },
    },
    {
      name: 'pure-reaches-no-io',
      severity: 'error',
      comment: 'Nor indirectly: no chain of imports from a pure module ends in an I/O module or TensorFlow.js.',
      from: { path: PURE },
      to: { path: [...NODE_IO_PATHS, ...NPM_IO_PATHS, ...TFJS_PATHS], reachable: true },
    },
    {
      name: 'no-circular',
      severity: 'error',
      comment:
        'No import circles: a module and what it imports form a tree, so that each layer can be read (and tested) without the ones above it. ' +
        'Break a circle by moving the shared piece down (a type to the module that owns the concept, a helper to src/util/).',
      from: {},
      to: { circular: true },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      comment: 'An import that does not resolve cannot be checked (optional backends excepted: src/training loads them dynamically).',
      from: { pathNot: '^src/training/' },
      to: { couldNotResolve: true },
    },
  ],
  options: {
    // Cruise the product (src, policies, bin); follow nothing into node_modules, but still see which package is imported.
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: false,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      // 'flowtune-source' first: `import ... from 'flowtune'` (the policies' import) is src/index.ts, as under tsx.
      conditionNames: ['flowtune-source', 'import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.js', '.mjs', '.cjs', '.json'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
