#!/usr/bin/env node
// What W workers would give one recorded study, with runs trained ahead (src/study/ahead.ts): a
// replay of its real run durations and coordinator gaps, not a measurement (this machine has two
// cores; workers on other machines are what pays). Pure arithmetic: it trains nothing.
//
//   node bench/ahead-sim.mjs STUDY_DIR [STUDY_DIR …] [--workers 1,2,4,8,16,32]
//
// The replay, run by run up to the final run (which is one job: more workers cannot shorten it):
//  - a run the study asks for starts when it is asked for (and a worker is free), lasts what it
//    lasted, and is followed by the coordinator's gap after it (evaluation, verdict, decision), as
//    recorded;
//  - beside each search candidate, as many free workers as there are take, in order, the policy's
//    next choices should the candidate not be kept (the chain of search candidates that followed
//    it at the same rung against the same incumbent, while each was not kept) and then its
//    replicate, when the study did ask for one. A guess the study never asked for (the candidate
//    was kept after all; at most three beside a candidate, a step's alternatives) holds its worker
//    as long as the candidate's own run, then is dropped;
//  - a run trained ahead is adopted when the study asks for it: the study waits only for what is
//    left of it. Adopted runs start their own guesses when adopted (as the code does).
// The time saved is search time a time-budgeted study then gives to more search or a longer final
// run; the decisions are the same (every run is still judged in turn).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

/** The recorded runs of a study, in order, up to (not including) its final run: durations and gaps in seconds. */
export function recordedRuns(study) {
  const t0 = Date.parse(study.createdAt);
  const at = (iso) => (Date.parse(iso) - t0) / 1000;
  const final = study.runs.find((r) => r.kind === 'final');
  const search = study.runs.filter((r) => r.kind !== 'final' && (!final || r.id < final.id));
  return search.map((r, i) => {
    const next = search[i + 1] ?? final;
    return {
      id: r.id,
      kind: r.kind,
      verdict: r.verdict,
      fidelity: r.fidelity?.kind ?? 'subset',
      parentId: r.parentId ?? null,
      replicateOf: r.replicateOf ?? null,
      changed: Boolean(r.change),
      seconds: at(r.finishedAt) - at(r.startedAt),
      gap: next ? Math.max(0, at(next.startedAt) - at(r.finishedAt)) : 0,
    };
  });
}

/** Wrong guesses beside one candidate at most: a flowchart step has few alternatives (the rate ladder three, capacity four). */
const MAX_GUESSES = 3;
const notKept = (r) => r.verdict === 'reverted' || r.verdict === 'tie' || r.verdict === 'diverged';
const candidate = (r) => r.kind === 'search' && r.changed;

/** What would train ahead beside candidate `i`: the not-kept chain of candidates after it, then its replicate (indices into runs). */
export function guessesFor(runs, i) {
  const chain = [];
  const rest = runs.slice(i + 1).map((r, k) => ({ r, k: i + 1 + k }));
  let from = runs[i];
  let overrun = false;
  for (const { r, k } of rest) {
    if (r.replicateOf !== null) continue; // a replicate is asked for in between; the chain goes on after it
    if (!notKept(from)) {
      overrun = candidate(r); // the guess after a run that was kept: wrong (a stop or a rung climb trains nothing)
      break;
    }
    if (!candidate(r) || r.fidelity !== runs[i].fidelity || r.parentId !== runs[i].parentId) break;
    chain.push(k);
    from = r;
  }
  const replicate = rest.find(({ r }) => r.replicateOf === runs[i].id);
  return { chain, replicate: replicate ? replicate.k : null, wrong: !notKept(runs[i]), overrun };
}

/**
 * The replayed search phase with `workers` workers: its wall time (seconds from the study's start
 * to the final run's), the runs adopted from ahead, and the guesses dropped.
 */
export function replay(runs, workers) {
  const ahead = new Map(); // index → { end }
  const holding = []; // end times of workers busy with runs trained ahead (guesses included)
  let t = 0;
  let adopted = 0;
  let dropped = 0;
  const freeAt = (time) => workers - holding.filter((end) => end > time).length;
  const launch = (i, at, busy) => {
    const { chain, replicate, wrong, overrun } = guessesFor(runs, i);
    let room = freeAt(at) - busy;
    // A guess that assumed a verdict that did not come holds a worker for nothing (as long as the candidate's run).
    const hold = () => {
      holding.push(at + runs[i].seconds);
      dropped++;
      room--;
    };
    if (wrong) for (let g = 0; g < MAX_GUESSES && room > (replicate !== null ? 1 : 0); g++) hold();
    for (const k of wrong ? [] : chain) {
      if (room <= 0) break;
      if (ahead.has(k)) continue;
      const end = at + runs[k].seconds;
      ahead.set(k, { end });
      holding.push(end);
      room--;
    }
    if (overrun && !wrong && room > (replicate !== null ? 1 : 0)) hold();
    if (replicate !== null && room > 0 && !ahead.has(replicate)) {
      const end = at + runs[replicate].seconds;
      ahead.set(replicate, { end });
      holding.push(end);
    }
  };
  for (let i = 0; i < runs.length; i++) {
    const run = runs[i];
    const early = ahead.get(i);
    if (early) {
      t = Math.max(t, early.end);
      adopted++;
      if (candidate(run)) launch(i, t, 0);
    } else {
      // It waits for a worker when guesses hold them all (its priority puts it first in line).
      while (freeAt(t) <= 0) t = Math.min(...holding.filter((end) => end > t));
      const start = t;
      if (candidate(run)) launch(i, start, 1);
      t = start + run.seconds;
    }
    t += run.gap;
  }
  return { seconds: t, adopted, dropped };
}

const isMain = process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { workers: { type: 'string', default: '1,2,4,8,16,32' } } });
  if (positionals.length === 0) {
    console.error('usage: node bench/ahead-sim.mjs STUDY_DIR [STUDY_DIR …] [--workers 1,2,4,8,16,32]');
    process.exit(2);
  }
  const counts = values.workers.split(',').map(Number);
  console.log(`| study | budget | search phase, 1 worker | ${counts.filter((w) => w > 1).map((w) => `${w} workers`).join(' | ')} |`);
  console.log(`| --- | ---: | ---: | ${counts.filter((w) => w > 1).map(() => '---:').join(' | ')} |`);
  for (const dir of positionals) {
    const study = JSON.parse(readFileSync(path.join(dir, 'study.json'), 'utf8'));
    const runs = recordedRuns(study);
    const one = replay(runs, 1).seconds;
    const cells = counts
      .filter((w) => w > 1)
      .map((w) => {
        const r = replay(runs, w);
        return `${r.seconds.toFixed(0)} s (−${(one - r.seconds).toFixed(0)} s; ${r.adopted} adopted, ${r.dropped} dropped)`;
      });
    console.log(`| ${path.basename(dir)} | ${study.config.budgetSeconds ?? '—'} s | ${one.toFixed(0)} s | ${cells.join(' | ')} |`);
  }
}
