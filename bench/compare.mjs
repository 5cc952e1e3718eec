#!/usr/bin/env node
/**
 * Side by side: tfjs (`tune bench`'s runBench, via bench/tfjs_bench.ts) and the PyTorch reference
 * (bench/torch_reference.py, Debian's python3-torch) building the same network from the same
 * JSON spec, run in turn N times per network on the same machine, so that load from other
 * processes hits both alike. Prints each run, then per network the median training and evaluation
 * images/s of each, tfjs's GFLOP/s (flops from the spec), and the ratios tfjs / torch.
 *
 *   node bench/compare.mjs [--runs 3] [--networks default,deep2,k5deep] [--network FILE.json]
 *                          [--backend wasm] [--threads 2] [--epochs 1] [--eval-images 10000] [--json]
 *
 * --networks takes names of src/bench.ts's BENCH_NETWORKS (or "all"); --network FILE adds a
 * network spec file (a report's "Network as JSON"); both can be given. Environment passes through
 * (e.g. FLOWTUNE_WASM_THREADS, FLOWTUNE_WASM_PATCHES_OFF, FLOWTUNE_FUSED_THREADS to measure a
 * lever). Results are also appended to bench/results/compare.jsonl (git-ignored).
 */
import { spawnSync } from 'node:child_process';
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    networks: { type: 'string' },
    network: { type: 'string', multiple: true },
    backend: { type: 'string', default: 'wasm' },
    threads: { type: 'string', default: '2' },
    epochs: { type: 'string', default: '1' },
    'eval-images': { type: 'string', default: '10000' },
    python: { type: 'string', default: '/usr/bin/python3' },
    json: { type: 'boolean', default: false },
  },
});

const ALL = ['default', 'widened', 'deep2', 'deep3', 'k5', 'k5deep', 'k5dropout', 'odd'];
const runs = Number(values.runs);
const named = (values.networks ?? (values.network ? '' : 'default'))
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean)
  .flatMap((s) => (s === 'all' ? ALL : [s]));
const tsx = join(root, 'node_modules', 'tsx', 'dist', 'cli.mjs');
const results = join(root, 'bench', 'results');
mkdirSync(results, { recursive: true });

function lastJson(stdout, what) {
  const line = stdout.trim().split('\n').filter((l) => l.startsWith('{')).pop();
  if (!line) throw new Error(`${what} printed no JSON:\n${stdout}`);
  return JSON.parse(line);
}

function run(cmd, args, what) {
  const result = spawnSync(cmd, args, { cwd: root, encoding: 'utf8', env: process.env, maxBuffer: 1 << 26 });
  if (result.status !== 0) throw new Error(`${what} failed (exit ${result.status}):\n${result.stderr.slice(-4000)}`);
  return lastJson(result.stdout, what);
}

/** [name, spec file] per network: named ones written out by tfjs_bench --print-spec, files as given. */
const networks = [
  ...named.map((name) => {
    const spec = run(process.execPath, [tsx, 'bench/tfjs_bench.ts', '--network', name, '--print-spec'], `spec of ${name}`);
    const file = join(results, `${name}.network.json`);
    writeFileSync(file, `${JSON.stringify(spec)}\n`);
    return [name, file];
  }),
  ...(values.network ?? []).map((file) => [basename(file).replace(/\.json$/i, ''), resolve(file)]),
];

const median = (xs) => {
  const s = [...xs].filter((x) => x !== null && x !== undefined).sort((a, b) => a - b);
  if (s.length === 0) return null;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const ratio = (a, b) => (a && b ? Math.round((a / b) * 1000) / 1000 : null);

const summary = [];
for (const [network, file] of networks) {
  const tfjs = { train: [], eval: [], gflops: [], evalGflops: [] };
  const torch = { train: [], eval: [] };
  const load = []; // the 1-minute load average before each run: other processes on the machine
  let detail = '';
  let layers = '';
  for (let i = 0; i < runs; i++) {
    load.push(Math.round(loadavg()[0] * 100) / 100);
    const t = run(
      process.execPath,
      [tsx, 'bench/tfjs_bench.ts', '--backend', values.backend, '--network', file, '--epochs', values.epochs, '--eval-images', values['eval-images']],
      'tfjs bench',
    );
    detail = t.detail ?? t.backend;
    layers = t.layers;
    tfjs.train.push(t.imagesPerSecond);
    tfjs.gflops.push(t.gflops);
    tfjs.eval.push(t.evaluation?.imagesPerSecond ?? null);
    tfjs.evalGflops.push(t.evaluation?.gflops ?? null);
    const p = run(
      values.python,
      ['bench/torch_reference.py', '--network', file, '--name', network, '--threads', values.threads, '--epochs', values.epochs, '--eval-images', values['eval-images']],
      'torch reference',
    );
    torch.train.push(p.imagesPerSecond);
    torch.eval.push(p.evaluation?.imagesPerSecond ?? null);
    if (!values.json) {
      console.log(
        `${network} run ${i + 1}/${runs} (load ${load.at(-1)}): training tfjs ${t.imagesPerSecond} img/s (${t.gflops} GFLOP/s, ${detail}), torch ${p.imagesPerSecond} img/s (${p.threads} threads); ` +
          `evaluation tfjs ${t.evaluation?.imagesPerSecond ?? '-'}, torch ${p.evaluation?.imagesPerSecond ?? '-'} img/s`,
      );
    }
  }
  const row = {
    network,
    layers,
    backend: detail,
    tfjsMedian: median(tfjs.train),
    torchMedian: median(torch.train),
    ratio: ratio(median(tfjs.train), median(torch.train)),
    tfjsGflops: median(tfjs.gflops),
    evalTfjsMedian: median(tfjs.eval),
    evalTorchMedian: median(torch.eval),
    evalRatio: ratio(median(tfjs.eval), median(torch.eval)),
    evalTfjsGflops: median(tfjs.evalGflops),
    tfjs,
    torch,
    load,
    cpu: cpus()[0]?.model ?? null,
    env: {
      FLOWTUNE_WASM_THREADS: process.env.FLOWTUNE_WASM_THREADS ?? null,
      FLOWTUNE_WASM_PATCHES_OFF: process.env.FLOWTUNE_WASM_PATCHES_OFF ?? null,
      FLOWTUNE_FUSED_THREADS: process.env.FLOWTUNE_FUSED_THREADS ?? null,
    },
    at: new Date().toISOString(),
  };
  summary.push(row);
  appendFileSync(join(results, 'compare.jsonl'), `${JSON.stringify(row)}\n`);
}

if (values.json) {
  for (const row of summary) console.log(JSON.stringify(row));
} else {
  const f = (x) => (x === null ? '-' : typeof x === 'number' && x >= 100 ? Math.round(x).toLocaleString('en-US') : String(x));
  console.log(`\n${cpus()[0]?.model ?? 'CPU ?'}, ${cpus().length} CPUs; ${new Date().toISOString()}; load average before the runs: ${summary.map((r) => r.load.join('/')).join(', ')}`);
  console.log('\n| network | training: tfjs img/s (GFLOP/s) | torch img/s | ratio | evaluation: tfjs img/s (GFLOP/s) | torch img/s | ratio |');
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  for (const r of summary) {
    console.log(
      `| ${r.network} | ${f(r.tfjsMedian)} (${f(r.tfjsGflops)}) | ${f(r.torchMedian)} | **${r.ratio?.toFixed(2) ?? '-'}** | ` +
        `${f(r.evalTfjsMedian)} (${f(r.evalTfjsGflops)}) | ${f(r.evalTorchMedian)} | **${r.evalRatio?.toFixed(2) ?? '-'}** |`,
    );
  }
}
