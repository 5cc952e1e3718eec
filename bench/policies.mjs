#!/usr/bin/env node
// The policy benchmark: the same data and budget for each policy, over several seeds, one study
// at a time (never two at once on a shared machine), then per policy the mean ± standard deviation
// of the final test accuracy, the images trained and the share of the budget used.
//
//   node bench/policies.mjs [--budget 10m] [--seeds 0,1,2] [--policies flowchart,random,no-search] [--out FILE] [-- extra tune flags]
//   node bench/policies.mjs --collect NAME,NAME,… [--record] [--out FILE]   (summarise finished studies, e.g. an interrupted or
//                                                                     resumed benchmark's; --record appends their rows, with this
//                                                                     checkout's commit: collect where they ran)
//   node bench/policies.mjs --records 30m [--commit REV]            (summarise the recorded rows of that budget)
//   node bench/policies.mjs --redis URL --parallel N …               (N studies at once, their runs trained by
//                                                                     `tune worker`s on that Redis: README, Several machines)
//
// Every finished study also appends its row (test accuracy, images, budget used, final network,
// CPU model, commit, date) to bench/records/policies.jsonl, which is committed: a 30-minute
// benchmark over three policies and three seeds takes 4.5 hours, longer than a working session,
// so it is run a few studies at a time and summarised from the records (`--records`, with
// `--skip-recorded` to run only the studies not recorded yet for this commit). Each row names
// its CPU and the speed of its run 1 (the same work in every study): rows of different CPUs, or of
// one CPU name whose run 1 speeds differ (two machines), are not side by side, and the summary says so.
//
// `no-search` is the default configuration trained for the whole budget (its final run planned
// like any other). Studies go to bench/results/policies/ (ignored by git); their reports explain
// each result. A claim about a policy rests on the mean ± sd over seeds, never on one study.
// What was measured, dated, with its command, commit and CPU: bench/policies.md.
import { execFileSync, spawn } from 'node:child_process';
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { cpuModel, notSideBySide } from './cpu.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values, positionals } = parseArgs({
  options: {
    budget: { type: 'string', default: '10m' },
    seeds: { type: 'string', default: '0,1,2' },
    policies: { type: 'string', default: 'flowchart,random,no-search' },
    out: { type: 'string' },
    collect: { type: 'string' },
    record: { type: 'boolean', default: false },
    records: { type: 'string' },
    commit: { type: 'string' },
    'skip-recorded': { type: 'boolean', default: false },
    redis: { type: 'string' },
    parallel: { type: 'string', default: '1' },
  },
  allowPositionals: true,
});
const reports = path.join(root, 'bench', 'results', 'policies');
mkdirSync(reports, { recursive: true });
const stamp = new Date().toISOString().replace(/[-:]/g, '').slice(0, 13);


/** Images a study trained: each run's own images (a continuation counts only what it added). */
function imagesTrained(study) {
  const byId = new Map(study.runs.map((r) => [r.id, r]));
  return study.runs.reduce((sum, r) => sum + r.result.imagesTrained - (r.continuedFrom ? byId.get(r.continuedFrom)?.result.imagesTrained ?? 0 : 0), 0);
}

const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
const sd = (xs) => (xs.length < 2 ? 0 : Math.sqrt(xs.reduce((a, x) => a + (x - mean(xs)) ** 2, 0) / (xs.length - 1)));

/** One benchmark row from a study folder (`exit` is null for a collected study: not observed). */
function rowFrom(name, policy, seed, exit, minutes) {
  const study = JSON.parse(readFileSync(path.join(reports, name, 'study.json'), 'utf8'));
  const search = study.runs.filter((r) => r.verdict !== 'final' && r.verdict !== 'confirm');
  const finalRun = study.runs.find((r) => r.id === study.final?.runId);
  return {
    policy,
    seed,
    exit,
    searchRuns: search.length,
    network: finalRun ? finalRun.network.layers.filter((l) => l.type === 'conv').map((l) => `${l.kernelSize}×${l.kernelSize}×${l.filters}`).join('→') : null,
    testAccuracy: study.final?.testAccuracy ?? null,
    imagesTrained: imagesTrained(study),
    budgetUsed: study.config.budgetSeconds ? study.budget.secondsUsed / study.config.budgetSeconds : null,
    budget: study.config.budgetSeconds,
    minutes,
    // The machine's speed on the same work in every study (run 1: the starting configuration on
    // the subset), so that rows of one CPU name from different machines are told apart.
    startImagesPerSecond: study.runs.find((r) => r.id === 1)?.throughput?.imagesPerSecond ?? null,
  };
}

/** Resumes of a killed study before its row is given up ("no result"). */
const MAX_RESUMES = 2;
/** Whether the study has its final test accuracy. */
function finished(name) {
  try {
    return JSON.parse(readFileSync(path.join(reports, name, 'study.json'), 'utf8')).final?.testAccuracy != null;
  } catch {
    return false;
  }
}

const recordsFile = path.join(root, 'bench', 'records', 'policies.jsonl');
function gitCommit() {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}
function readRecords() {
  try {
    return readFileSync(recordsFile, 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l));
  } catch {
    return [];
  }
}
function appendRecord(row, name) {
  mkdirSync(path.dirname(recordsFile), { recursive: true });
  appendFileSync(recordsFile, JSON.stringify({ ...row, name, cpu: cpuModel(), commit: gitCommit(), date: new Date().toISOString() }) + '\n');
}
const minutesOf = (budget) => {
  const m = /^(\d+(?:\.\d+)?)(s|m|h)?$/.exec(budget);
  if (!m) throw new Error(`--budget/--records ${budget}: expected e.g. 10m, 30m, 1800s`);
  return Number(m[1]) * ({ s: 1 / 60, m: 1, h: 60 }[m[2] ?? 'm']);
};

if (values.record && !values.collect) throw new Error('--record goes with --collect NAME,…: a benchmark run records its rows by itself');
const rows = [];
let policies = values.policies.split(',');
let seeds = values.seeds;
if (values.records) {
  const seconds = minutesOf(values.records) * 60;
  const recorded = readRecords().filter((r) => r.budget === seconds && (!values.commit || r.commit === values.commit));
  if (recorded.length === 0) throw new Error(`--records ${values.records}: no recorded study with a ${seconds} s budget${values.commit ? ` at commit ${values.commit}` : ''} in ${recordsFile}`);
  rows.push(...recorded);
  policies = [...new Set(rows.map((r) => r.policy))];
  seeds = [...new Set(rows.map((r) => r.seed))].sort((a, b) => a - b).join(',');
  values.budget = values.records;
} else if (values.collect) {
  for (const name of values.collect.split(',')) {
    const m = /^(.+)-seed(\d+)-\d{8}T\d{4}$/.exec(name);
    if (!m) throw new Error(`--collect ${name}: expected POLICY-seedN-STAMP, a folder in ${reports}`);
    const row = rowFrom(name, m[1], Number(m[2]), null, null);
    if (values.record) {
      if (readRecords().some((r) => r.name === name)) throw new Error(`--collect ${name} --record: recorded already in ${recordsFile}`);
      if (row.testAccuracy === null) throw new Error(`--collect ${name} --record: the study has no test accuracy (not finished): resume it first`);
      appendRecord({ ...row, collected: true }, name);
    }
    rows.push(row);
  }
  policies = [...new Set(rows.map((r) => r.policy))];
  seeds = [...new Set(rows.map((r) => r.seed))].sort((a, b) => a - b).join(',');
  const budgets = [...new Set(rows.map((r) => r.budget))];
  if (budgets.length !== 1) throw new Error(`--collect: the studies have different budgets (${budgets.join(', ')} s); compare like with like`);
  values.budget = `${budgets[0] / 60}m`;
} else {
  const commit = gitCommit();
  const done = values['skip-recorded'] ? readRecords().filter((r) => r.commit === commit && r.budget === minutesOf(values.budget) * 60) : [];
  // Without a queue one study at a time (this machine trains them); with one, --parallel at a time (the workers train them).
  const parallel = values.redis ? Math.max(1, Number(values.parallel) || 1) : 1;
  const tasks = [];
  for (const seed of seeds.split(',')) {
    for (const policy of policies) {
      if (done.some((r) => r.policy === policy && r.seed === Number(seed))) {
        console.error(`bench: ${policy} seed ${seed}: recorded already at commit ${commit}, skipped`);
        continue;
      }
      tasks.push({ policy, seed });
    }
  }
  const runOne = async ({ policy, seed }) => {
    const name = `${policy}-seed${seed}-${stamp}`;
    const queue = values.redis ? ['--redis', values.redis] : [];
    const args = [path.join(root, 'bin', 'tune.js'), '--data', 'fashion', '--policy', policy, '--budget', values.budget, '--seed', seed, '--name', name, '--reports', reports, '--quiet', ...queue, ...positionals];
    const started = Date.now();
    const tuneWith = (argv) => new Promise((resolve) => spawn(process.execPath, argv, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] }).on('exit', (code, signal) => resolve({ code, signal })));
    let { code: status, signal } = await tuneWith(args);
    // Killed (the hang watchdog's SIGKILL, README "hang watchdog"): every finished run is stored, and
    // the budget counts the time up to the last stored step (the hung run is trained again), so the
    // study resumes where it stopped, at most twice.
    let resumed = 0;
    while (signal === 'SIGKILL' && resumed < MAX_RESUMES && !finished(name)) {
      resumed++;
      console.error(`bench: ${name} was killed (SIGKILL); resuming it (${resumed} of ${MAX_RESUMES})`);
      ({ code: status, signal } = await tuneWith([path.join(root, 'bin', 'tune.js'), '--resume', name, '--reports', reports, '--quiet', ...queue]));
    }
    const row = { ...rowFrom(name, policy, Number(seed), status, (Date.now() - started) / 60000), commit, ...(values.redis ? { queue: true } : {}), ...(resumed ? { resumed } : {}) };
    rows.push(row);
    if (row.testAccuracy !== null) appendRecord(row, name);
    console.error(`bench: ${policy} seed ${seed}: ${row.testAccuracy === null ? 'no result' : (row.testAccuracy * 100).toFixed(2) + '%'} (${row.network}, ${row.searchRuns} search runs, exit ${row.exit})`);
  };
  const pending = [...tasks];
  await Promise.all(
    Array.from({ length: Math.min(parallel, pending.length) }, async () => {
      while (pending.length > 0) await runOne(pending.shift());
    }),
  );
}

const pct = (x) => (x * 100).toFixed(2);
const lines = [];
// A row without a CPU (an unrecorded one) ran here: lscpu is asked once.
const here = cpuModel();
const shown = rows.map((r) => ({ ...r, cpu: r.cpu ?? here }));
const cpusSeen = [...new Set(shown.map((r) => r.cpu))];
const commits = [...new Set(rows.map((r) => r.commit).filter(Boolean))];
const apart = notSideBySide(shown);
lines.push(
  `Policy benchmark, ${new Date().toISOString().slice(0, 10)}, ${cpusSeen.join(' + ')}, ${cpus().length} cores, budget ${values.budget}, seeds ${seeds}` +
    (commits.length ? `, commit${commits.length > 1 ? 's' : ''} ${commits.join(', ')}` : '') +
    (apart ? ` (${apart})` : '') +
    ':',
);
lines.push('');
lines.push('| policy | test accuracy (mean ± sd) | images trained (mean ± sd) | budget used | search runs | final networks |');
lines.push('| --- | ---: | ---: | ---: | ---: | --- |');
for (const policy of policies) {
  const mine = rows.filter((r) => r.policy === policy && r.testAccuracy !== null);
  if (mine.length === 0) {
    lines.push(`| ${policy} | — | — | — | — | — |`);
    continue;
  }
  const acc = mine.map((r) => r.testAccuracy);
  const images = mine.map((r) => r.imagesTrained / 1e6);
  const used = mine.map((r) => r.budgetUsed ?? NaN);
  lines.push(
    `| ${policy} | ${pct(mean(acc))}% ± ${pct(sd(acc))} | ${mean(images).toFixed(2)}M ± ${sd(images).toFixed(2)}M | ${pct(mean(used))}% | ` +
      `${mean(mine.map((r) => r.searchRuns)).toFixed(1)} | ${[...new Set(mine.map((r) => r.network))].join('; ')} |`,
  );
}
lines.push('');
lines.push('Per study:');
lines.push('');
lines.push('| policy | seed | test accuracy | images trained | budget used | search runs | final network | exit | CPU | run 1 images/s | commit |');
lines.push('| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | --- | ---: | --- |');
for (const r of shown) {
  lines.push(
    `| ${r.policy} | ${r.seed} | ${r.testAccuracy === null ? '—' : pct(r.testAccuracy) + '%'} | ${(r.imagesTrained / 1e6).toFixed(2)}M | ${r.budgetUsed === null ? '—' : pct(r.budgetUsed) + '%'} | ${r.searchRuns} | ${r.network} | ${r.exit ?? '—'} | ${r.cpu} | ${r.startImagesPerSecond ? Math.round(r.startImagesPerSecond) : '—'} | ${r.commit ?? '—'} |`,
  );
}
const text = lines.join('\n');
console.log(text);
const out = values.out ?? path.join(reports, `summary-${stamp}.md`);
writeFileSync(out, text + '\n');
writeFileSync(out.replace(/\.md$/, '.json'), JSON.stringify({ budget: values.budget, cpu: here, date: new Date().toISOString(), rows }, null, 2));
console.error(`bench: written ${out}`);
