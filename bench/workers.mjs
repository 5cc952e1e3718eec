#!/usr/bin/env node
// Workers on one machine: the same fixed-run study trained in process and through the job queue
// (BullMQ on a redis-server started here) with 1, 2 and 4 `tune worker` processes of one wasm
// thread each; per setting the study's wall time and its runs per minute. One setting at a time
// (never two benchmarks at once on a shared machine). Needs Debian's redis-server.
//
//   node bench/workers.mjs [--workers 0,1,2,4] [--runs 6] [--subset 4096] [--epochs 3] [--out FILE]
//
// 0 workers = in process (no --redis), with one wasm thread too, so that the rows differ only by
// the queue. The study has no time budget (--budget 0) and a fixed number of search runs, so every
// setting trains the same runs; its decisions are sequential (one run at a time, as the flowchart
// asks), so extra workers wait: the table shows what the queue costs and where workers idle.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { cpuModel } from './cpu.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    workers: { type: 'string', default: '0,1,2,4' },
    runs: { type: 'string', default: '6' },
    subset: { type: 'string', default: '4096' },
    epochs: { type: 'string', default: '3' },
    out: { type: 'string' },
  },
});
const tune = path.join(root, 'bin', 'tune.js');
const reports = path.join(root, 'bench', 'results', 'workers');
rmSync(reports, { recursive: true, force: true });
mkdirSync(reports, { recursive: true });
const env = { ...process.env, FLOWTUNE_WASM_THREADS: '1', FORCE_COLOR: '0' };


const freePort = () =>
  new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });

async function startRedis() {
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (c) => {
      out += c;
      if (/Ready to accept connections/.test(out)) resolve();
    });
    child.on('exit', (code) => reject(new Error(`redis-server exited ${code}: ${out}`)));
  });
  return { url: `redis://127.0.0.1:${port}`, child };
}

const study = ['--data', 'fashion', '--budget', '0', '--max-runs', values.runs, '--subset', values.subset, '--max-epochs', values.epochs, '--no-final-full', '--backend', 'wasm', '--seed', '0', '--reports', reports, '--quiet'];
const rows = [];
const redis = await startRedis();
try {
  for (const n of values.workers.split(',').map(Number)) {
    const workers = [];
    for (let i = 0; i < n; i++) {
      const w = spawn(process.execPath, [tune, 'worker', '--redis', redis.url, '--backend', 'wasm'], { cwd: root, env, stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      w.stderr.on('data', (c) => (err += c));
      workers.push({ w, ready: new Promise((resolve) => w.stderr.on('data', () => /waiting for jobs/.test(err) && resolve())), log: () => err });
    }
    await Promise.all(workers.map((x) => x.ready));
    const name = n === 0 ? 'in-process' : `workers-${n}`;
    const started = Date.now();
    const r = spawnSync(process.execPath, [tune, ...study, '--name', name, ...(n === 0 ? [] : ['--redis', redis.url])], { cwd: root, env, stdio: ['ignore', 'ignore', 'inherit'] });
    const seconds = (Date.now() - started) / 1000;
    // The study ran synchronously: the workers' lines are read once they have exited.
    await Promise.all(workers.map(({ w }) => new Promise((resolve) => { w.on('exit', resolve); w.kill('SIGTERM'); })));
    const record = JSON.parse(readFileSync(path.join(reports, name, 'study.json'), 'utf8'));
    const runs = record.runs.length;
    const trainSeconds = record.runs.reduce((s, run) => s + run.result.seconds, 0);
    const perWorker = workers.map(({ log }) => (log().match(/finished job/g) ?? []).length);
    // Runs the study adopted from a run trained ahead on a free worker (src/study/ahead.ts), from its log.
    const log = readFileSync(path.join(reports, name, 'log.ndjson'), 'utf8');
    const adopted = (log.match(/"msg":"run adopted from ahead"/g) ?? []).length;
    rows.push({ setting: n === 0 ? 'in process' : `${n} worker${n > 1 ? 's' : ''}`, exit: r.status, seconds, runs, runsPerMinute: (60 * runs) / seconds, trainSeconds, perWorker, adopted });
    console.error(`bench: ${rows.at(-1).setting}: ${runs} runs in ${seconds.toFixed(1)} s (exit ${r.status}; jobs per worker ${perWorker.join(', ') || '—'}; adopted from ahead ${adopted})`);
  }
} finally {
  redis.child.kill('SIGKILL');
}

const lines = [
  `Workers on one machine, ${new Date().toISOString().slice(0, 10)}, ${cpuModel()}, ${cpus().length} cores, one wasm thread per process; ` +
    `a study of ${values.runs} search runs on ${values.subset}-image subsets, ${values.epochs} epochs each, no time budget:`,
  '',
  '| setting | study wall time | runs | runs per minute | training time (sum of runs) | jobs per worker (ahead included) | runs adopted from ahead |',
  '| --- | ---: | ---: | ---: | ---: | --- | ---: |',
  ...rows.map((r) => `| ${r.setting} | ${r.seconds.toFixed(1)} s | ${r.runs} | ${r.runsPerMinute.toFixed(2)} | ${r.trainSeconds.toFixed(1)} s | ${r.perWorker.join(', ') || '—'} | ${r.adopted} |`),
];
const text = lines.join('\n') + '\n';
process.stdout.write(text);
if (values.out) writeFileSync(values.out, text);
