#!/usr/bin/env node
// Policy comparison: the same data, budget and seed for each policy, one study each, then a table
// of final test accuracies. The random policy is the baseline the flowchart has to beat.
//
//   node bench/policies.mjs [--budget 10m] [--seeds 0,1] [--policies flowchart,random] [-- extra tune flags]
//
// Studies go to bench/results/policies/ (ignored by git); their reports explain each result.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values, positionals } = parseArgs({
  options: { budget: { type: 'string', default: '10m' }, seeds: { type: 'string', default: '0' }, policies: { type: 'string', default: 'flowchart,random' } },
  allowPositionals: true,
});
const reports = path.join(root, 'bench', 'results', 'policies');
const stamp = new Date().toISOString().replace(/[-:]/g, '').slice(0, 13);
const rows = [];
for (const seed of values.seeds.split(',')) {
  for (const policy of values.policies.split(',')) {
    const name = `${policy}-seed${seed}-${stamp}`;
    const args = [path.join(root, 'bin', 'tune.js'), '--data', 'fashion', '--policy', policy, '--budget', values.budget, '--seed', seed, '--name', name, '--reports', reports, '--quiet', ...positionals];
    const started = Date.now();
    const run = spawnSync(process.execPath, args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
    const study = JSON.parse(readFileSync(path.join(reports, name, 'study.json'), 'utf8'));
    const search = study.runs.filter((r) => r.verdict !== 'final');
    rows.push({
      policy,
      seed,
      exit: run.status,
      runs: search.length,
      bestValAcc: Math.max(...search.map((r) => r.bestValAccuracy ?? 0)),
      testAcc: study.final?.testAccuracy ?? null,
      minutes: (Date.now() - started) / 60000,
    });
  }
}
console.log('\n| policy | seed | search runs | best search val acc | final test acc | minutes | exit |');
console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: |');
for (const r of rows) {
  console.log(`| ${r.policy} | ${r.seed} | ${r.runs} | ${(r.bestValAcc * 100).toFixed(2)}% | ${r.testAcc === null ? '—' : (r.testAcc * 100).toFixed(2) + '%'} | ${r.minutes.toFixed(1)} | ${r.exit} |`);
}
