#!/usr/bin/env node
/**
 * Side by side: tfjs (`tune bench`'s runBench, via bench/tfjs_bench.ts) and the PyTorch reference
 * (bench/torch_reference.py, Debian's python3-torch), run in turn N times per network on the same
 * machine, so that load from other processes hits both alike. Prints each run, then per network
 * the median images/s of each and the ratio tfjs / torch.
 *
 *   node bench/compare.mjs [--runs 3] [--networks default,deep2,deep3] [--backend wasm] [--threads 2]
 *                          [--epochs 1] [--json]
 *
 * Environment passes through (e.g. FLOWTUNE_WASM_THREADS, FLOWTUNE_WASM_PATCHES_OFF, FLOWTUNE_FUSED_THREADS to measure a
 * lever). Results are also appended to bench/results/compare.jsonl (git-ignored).
 */
import { spawnSync } from 'node:child_process';
import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    networks: { type: 'string', default: 'default' },
    backend: { type: 'string', default: 'wasm' },
    threads: { type: 'string', default: '2' },
    epochs: { type: 'string', default: '1' },
    loop: { type: 'string', default: 'trainer' },
    python: { type: 'string', default: '/usr/bin/python3' },
    json: { type: 'boolean', default: false },
  },
});

const runs = Number(values.runs);
const networks = values.networks.split(',').map((s) => s.trim()).filter(Boolean);

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

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const summary = [];
mkdirSync(join(root, 'bench', 'results'), { recursive: true });
for (const network of networks) {
  const tfjs = [];
  const torch = [];
  let detail = '';
  for (let i = 0; i < runs; i++) {
    const t = run(
      process.execPath,
      [join(root, 'node_modules', 'tsx', 'dist', 'cli.mjs'), 'bench/tfjs_bench.ts', '--backend', values.backend, '--network', network, '--epochs', values.epochs, '--loop', values.loop],
      'tfjs bench',
    );
    detail = t.detail ?? t.backend;
    tfjs.push(t.imagesPerSecond);
    const p = run(
      values.python,
      ['bench/torch_reference.py', '--network', network, '--threads', values.threads, '--epochs', values.epochs],
      'torch reference',
    );
    torch.push(p.imagesPerSecond);
    if (!values.json) console.log(`${network} run ${i + 1}/${runs}: tfjs ${t.imagesPerSecond} img/s (${detail}), torch ${p.imagesPerSecond} img/s (${p.threads} threads)`);
  }
  const row = {
    network,
    backend: detail,
    tfjsMedian: median(tfjs),
    torchMedian: median(torch),
    ratio: Math.round((median(tfjs) / median(torch)) * 1000) / 1000,
    tfjs,
    torch,
    env: {
      FLOWTUNE_WASM_THREADS: process.env.FLOWTUNE_WASM_THREADS ?? null,
      FLOWTUNE_WASM_PATCHES_OFF: process.env.FLOWTUNE_WASM_PATCHES_OFF ?? null,
      FLOWTUNE_FUSED_THREADS: process.env.FLOWTUNE_FUSED_THREADS ?? null,
    },
    at: new Date().toISOString(),
  };
  summary.push(row);
  appendFileSync(join(root, 'bench', 'results', 'compare.jsonl'), `${JSON.stringify(row)}\n`);
}

if (values.json) {
  for (const row of summary) console.log(JSON.stringify(row));
} else {
  console.log('\nnetwork   tfjs median   torch median   tfjs/torch');
  for (const r of summary) {
    console.log(`${r.network.padEnd(9)} ${String(r.tfjsMedian).padStart(11)}   ${String(r.torchMedian).padStart(12)}   ${r.ratio.toFixed(3).padStart(10)}`);
  }
}
