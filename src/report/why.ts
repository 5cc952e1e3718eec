/**
 * The three short cells of a decision-log entry: what was decided, why (at most WHY_WORDS words,
 * with numbers in the report's units), and the verdict with its noise margin. PURE.
 *
 * A policy's own reason is often a paragraph (it is quoted in full in the run's section); the log's
 * "Why" is composed from the facts the decision saw: the subject run's diagnosis with the numbers
 * of its one validation series, and the flowchart step of the action (from the action registry).
 * The machine's decisions are stored as sentences; their key numbers are picked out here.
 */
import { ACTIONS, type ActionName } from '../actions.ts';
import type { Verdict } from '../types.ts';
import type { RunRecord } from '../store/records.ts';
import { describeChange, int, loss, MISSING, pct, pt, ptAbs, scheduleText, se, shorten, signed, signedPct, wordCount } from './format.ts';
import { formatNumber } from '../util/format.ts';
import { runFacts } from './run-facts.ts';
import type { Entry, Story } from './story.ts';

/** The most words a "Why" cell holds. */
export const WHY_WORDS = 25;

/** How each verdict is marked. */
export const VERDICT_MARK: Record<Verdict, string> = {
  pending: '… pending',
  baseline: '● baseline',
  kept: '✔ kept',
  reverted: '✘ reverted',
  tie: '= tie',
  replicate: '↻ replicate',
  confirm: '◆ confirm',
  final: '★ final',
};

const STEP_PHRASE: Record<string, string> = {
  stabilise: 'step 1, stabilise the learning rate',
  trainEnough: 'step 2, train enough',
  trimEpochs: 'step 3, stop at the minimum',
  regularise: 'step 4, treat overfitting',
  capacity: 'step 5, more capacity',
  finalise: 'finalise',
};

/** The decision cell: the action and its parameters, or what the machine or a run did. */
export function whatOf(entry: Entry, _story?: Story): string {
  const run = entry.run;
  switch (entry.kind) {
    case 'baseline':
      return run && run.fidelity?.kind === 'full' && run.parentId !== null && run.parentId !== undefined
        ? `start the full-data rung: run ${run.parentId}'s configuration`
        : 'start: the starting configuration';
    case 'refused':
      return `${describeChange(entry.record!.decision)} (refused)`;
    case 'machine':
      return {
        budget: 'end the search (budget)',
        finalists: 'choose the finalists',
        finalRun: 'plan the final run',
        finalWeights: 'choose the final weights',
        noFinalFull: 'finalise the search weights',
        fidelity: 'climb to the full-data rung',
        other: 'machine decision',
      }[entry.machine ?? 'other'];
    case 'decision':
      return describeChange(entry.record!.decision);
    case 'run':
      if (run?.kind === 'replicate') return `replicate run ${run.replicateOf ?? '?'}, seed ${run.options?.seed ?? MISSING}`;
      if (run?.kind === 'confirm') return `confirm run ${run.basedOn ?? run.parentId ?? '?'}'s configuration`;
      if (run?.kind === 'final') return `final run${run.parentId !== null && run.parentId !== undefined ? ` of run ${run.parentId}'s configuration` : ''}`;
      return run?.change ? describeChange(run.change) : 'run';
  }
}

/** The Why cell: at most WHY_WORDS words. */
export function whyOf(entry: Entry, story: Story): string {
  const text = composeWhy(entry, story);
  return wordCount(text) <= WHY_WORDS ? text : shorten(text, WHY_WORDS);
}

function composeWhy(entry: Entry, story: Story): string {
  const rec = entry.record;
  const run = entry.run;
  switch (entry.kind) {
    case 'baseline':
      return `${run ? trainedText(run) : 'the configuration the study was given'}`;
    case 'refused':
      return refusalWhy(rec!.refused!);
    case 'machine':
      return machineWhy(entry, story);
    case 'run':
      if (run?.kind === 'replicate') return `run ${run.replicateOf ?? '?'}'s verdict on one seed was a close call: a second seed decides, the two pooled`;
      if (run?.kind === 'confirm') return `successive halving: finalists trained on all ${int(run.fidelity?.trainImages)} images for equal time`;
      if (run?.kind === 'final') return run.change?.reason ? run.change.reason : `the standing configuration retrained on all ${int(run.fidelity?.trainImages)} images`;
      return run?.change?.reason ?? MISSING;
    case 'decision':
      return policyWhy(entry, story);
  }
}

function trainedText(run: RunRecord): string {
  const scheduled = scheduleText(run);
  const schedule = scheduled ? `, ${scheduled}` : '';
  return `${run.fidelity?.kind === 'full' ? 'all ' : ''}${int(run.fidelity?.trainImages)} images × ${int(run.options?.maxEpochs)} epochs, learn rate ${formatNumber(run.options?.initialLearnRate, 3, MISSING)}${schedule}`;
}

/** The subject of a policy decision: the run whose configuration its change applies to. */
function subjectOf(entry: Entry, story: Story): RunRecord | null {
  const run = entry.run;
  const id = run ? run.basedOn ?? run.parentId : entry.incumbent;
  return id === null || id === undefined ? null : story.byId.get(id) ?? null;
}

function policyWhy(entry: Entry, story: Story): string {
  const d = entry.record!.decision!;
  const action = d.action as ActionName;
  const def = ACTIONS[action];
  if (!def || action === 'stop' || action === 'revert') return withoutVerdictNotes(d.reason);
  const subject = subjectOf(entry, story);
  if (!subject) return d.reason;
  const step = STEP_PHRASE[def.step] ?? def.step;
  const facts = runFacts(subject);
  const previous = story.byId.get(entry.record!.afterRun);
  const notKept = previous && previous.id !== subject.id && previous.judgement ? `run ${previous.id} not kept; ` : '';
  // At the full-data rung step 4 follows a smaller gap: say it with its threshold.
  if (def.step === 'regularise' && subject.fidelity?.kind === 'full' && facts.gap && facts.gap.gap > facts.gap.threshold) {
    return `${notKept}run ${subject.id} on all ${int(subject.fidelity.trainImages)} images: training − validation gap ${ptAbs(facts.gap.gap)} > ${ptAbs(facts.gap.threshold)} → ${step}`;
  }
  // A capacity step on a run without an overfitting gap: the gap is the reason step 4 has nothing to do.
  if (def.step === 'capacity' && facts.gap && facts.gap.gap <= facts.gap.threshold) {
    const earlier = story.entries.filter((e) => e.n < entry.n && e.kind === 'decision').map((e) => ACTIONS[e.record!.decision!.action as ActionName]?.step);
    const skipped = earlier.includes('regularise') || earlier.includes('capacity') ? '' : ' (step 4 skipped)';
    return `${notKept}run ${subject.id}: training − validation gap ${ptAbs(facts.gap.gap)} ≤ ${ptAbs(facts.gap.threshold)}, nothing to regularise${skipped} → ${step}`;
  }
  return `${notKept}${evidencePhrase(subject)} → ${step}`;
}

/**
 * The machine's refusal in short: without the rule's code name ("(budgetLeft)"), and without its
 * lead-in ("it would leave no time to train it properly: ...") when the rest says it in numbers.
 */
function refusalWhy(reason: string): string {
  const text = reason.replace(/\s*\([a-z][A-Za-z]+\)\s*$/, '').trim();
  const colon = text.indexOf(': ');
  if (wordCount(text) > WHY_WORDS && colon > 0 && wordCount(text.slice(colon + 2)) <= WHY_WORDS) return text.slice(colon + 2);
  return text;
}

/**
 * A policy's reason without the clauses that restate the last candidate's verdict ("run 3 did not
 * hold up: ..."): the log shows that verdict in its own row.
 */
function withoutVerdictNotes(reason: string): string {
  const kept = reason
    .split(/;\s+/)
    .filter(
      (c) =>
        !/^run \d+ (did not hold up|was kept):/.test(c) &&
        !/^(worse|better|tie)\b.*SE/.test(c) &&
        !/^accuracy .* images$/.test(c) &&
        !/^\S+× the incumbent's speed$/.test(c) &&
        !/^\w+ (refused|skipped):/.test(c) &&
        !/^(its run|it would|exceed)\b/.test(c),
    );
  return kept.length ? kept.join('; ') : reason;
}

/** A run's diagnosis in a dozen words, with its numbers. */
export function evidencePhrase(run: RunRecord): string {
  const f = runFacts(run);
  const label = run.diagnosis?.label;
  const head = `run ${run.id} ${label ?? 'not diagnosed'}`;
  // A diagnosis stored before the trend fits (no slope standard error): its own words, shortened.
  const evidence = run.diagnosis?.evidence ?? {};
  if (label && label !== 'diverged' && !('slopeSE' in evidence) && !('rawBestEpoch' in evidence) && run.diagnosis.summary) {
    return `${head}: ${shorten(run.diagnosis.summary.replace(new RegExp(`^${label}:\\s*`), ''), 16)}`;
  }
  const trend = f.trend ? `${signed(f.trend.slope)} ± ${loss(f.trend.se)} per epoch` : null;
  switch (label) {
    case 'diverged':
      return f.nonFinite ? `${head}: NaN ${f.nonFinite.what} at iteration ${f.nonFinite.iteration} (epoch ${f.nonFinite.epoch})` : `${head}: the loss exploded`;
    case 'oscillating':
      return `${head}: validation loss swings without a downward trend${trend ? ` (${trend})` : ''}`;
    case 'tooSlow':
      return `${head}: validation accuracy ${pct(f.last?.accuracy)} after ${f.lastEpoch ?? MISSING} epochs`;
    case 'underfitting':
      if (f.tooShort || !trend) return `${head}: too few epochs to see a trend`;
      return `${head}: validation loss still falling, ${trend}`;
    case 'overfitting':
      if (f.rise?.beyondNoise && f.smoothedMinimum) {
        return `${head}: validation loss lowest at epoch ${f.smoothedMinimum.epoch} (smoothed ${loss(f.smoothedMinimum.loss)}), then rising ${signedPct(f.rise.fraction)}`;
      }
      if (f.gap && f.gap.gap > f.gap.threshold) return `${head}: training − validation accuracy gap ${ptAbs(f.gap.gap)} > ${ptAbs(f.gap.threshold)}`;
      return `${head}: ${shorten(run.diagnosis.summary, 14)}`;
    case 'converged': {
      if (!f.trend || f.trend.t === null) return `${head}: nothing to treat`;
      const beyond = Math.abs(f.trend.t) >= f.trend.tCritical;
      const shape = !beyond ? 'flat within its noise' : f.trend.slope > 0 ? 'rising' : 'falling only slightly';
      return `${head}: validation loss ${shape} (${trend})`;
    }
    default:
      return run.diagnosis?.summary ? `${head}: ${shorten(run.diagnosis.summary, 14)}` : head;
  }
}

function machineWhy(entry: Entry, story: Story): string {
  const reason = entry.record!.reason ?? '';
  const m = (re: RegExp) => re.exec(reason);
  switch (entry.machine) {
    case 'budget':
      return reason.replace(/^budget:\s*/, '').replace(/; finalising the best configuration so far.*$/, '');
    case 'finalRun': {
      const run = entry.run;
      if (!run) return reason.replace(/^final run:\s*/, '');
      const o = run.options;
      const left = m(/\(([\d.]+) s left/);
      const scheduled = scheduleText(run);
      const schedule = scheduled ? `, rate ${scheduled}` : '';
      const about = m(/about ([\d.]+) epochs of/);
      const capped = m(/not the ([\d.]+) the time left affords/);
      const long = /augmented batches \(/.test(reason);
      const refit = run.fidelity?.trainsOnValidation === true;
      const withValidation = refit ? " (validation's too)" : '';
      if (capped) return `${int(o?.maxEpochs)} epochs of ${int(run.fidelity?.trainImages)} images${withValidation}${schedule}${long ? ', augmented' : ''}: enough for this converged network (${capped[1]} affordable); the study ends early`;
      // Within the word limit for the longest case (a continued, augmented run dropping on its clock); the full plan is the run's reason.
      // The final refit's words for the validation images take the place of "about" and "continuing".
      const epochs = about ? `${refit ? '' : 'about '}${about[1]}` : int(o?.maxEpochs);
      const continuing = run.continuedFrom !== null && run.continuedFrom !== undefined ? `, ${refit ? 'from' : 'continuing'} run ${run.continuedFrom}` : '';
      return `${epochs} epochs of ${int(run.fidelity?.trainImages)} images${withValidation}${continuing}${schedule}${long ? ', augmented' : ''}${left ? `: ${left[1]} s left` : ''}`;
    }
    case 'fidelity': {
      const climb = m(/(\d+) epochs of all (\d+) images a run, annealed .*?; ([\d.]+) s of search time left\)/);
      if (climb) return `subset flowchart done, ${climb[3]} s of search left: the flowchart again on all ${int(Number(climb[2]))} images, ${climb[1]} epochs a run, annealed`;
      return reason.replace(/^fidelity:\s*/, '');
    }
    case 'finalWeights': {
      const refit = m(/^final weights: run (\d+) \(the final run\), trained on the training and validation images together: .*? with run (\d+);/);
      if (refit) return `run ${refit[1]}'s weights: it trained on the validation images too, so none are left to compare it with run ${refit[2]}'s`;
      const w = m(/^final weights: run (\d+) .*?over (?:the final run |run )(\d+)/);
      const winner = w ? story.byId.get(Number(w[1])) : null;
      const other = w ? story.byId.get(Number(w[2])) : null;
      if (winner?.evaluation && other?.evaluation) {
        return `run ${winner.id}'s weights: validation accuracy ${pct(winner.evaluation.accuracy)} vs ${pct(other.evaluation.accuracy)}, loss ${loss(winner.evaluation.loss)} vs ${loss(other.evaluation.loss)} (run ${other.id})`;
      }
      return reason.replace(/^final weights:\s*/, '');
    }
    case 'finalists': {
      const instead = m(/^run (\d+)'s configuration needs .*?afford only (\S+) of the (\S+) images .*?: run (\d+)'s configuration \(([\d.]+)× faster\) is finalised instead/);
      if (instead) {
        return `run ${instead[1]}'s configuration is too slow for the time left (affords ${int(Number(instead[2]))} of ${int(Number(instead[3]))} images needed); run ${instead[4]}'s, ${instead[5]}× faster, is finalised`;
      }
      const larger = m(/^run (\d+)'s configuration is larger than run (\d+)'s and tied with it .*: both train on all (\d+) images for about (\S+) s/);
      if (larger) return `run ${larger[1]}'s configuration, larger and tied on the subset, is affordable: both train on all ${int(Number(larger[3]))} images for ${larger[4]} s; the better goes on`;
      const idle = m(/^run (\d+)'s configuration costs more per image than run (\d+)'s and the search's subset did not reject it, .*: both train on all (\d+) images for about (\S+) s/);
      if (idle) return `run ${idle[2]}'s converged network cannot use the time left; run ${idle[1]}'s, costlier and not rejected, can: both train ${idle[4]} s; the better goes on`;
      const confirm = m(/^run (\d+)'s configuration trains ([\d.]+)× faster than run (\d+)'s: both train on all (\d+) images for about (\S+) s/);
      if (confirm) return `run ${confirm[1]}'s configuration trains ${confirm[2]}× faster than run ${confirm[3]}'s: both train on all ${int(Number(confirm[4]))} images for ${confirm[5]} s; the better goes on`;
      return reason;
    }
    default:
      return reason;
  }
}

/** The verdict cell: the verdict, with the paired difference, its standard error and the margin. */
export function verdictOf(entry: Entry, story: Story): string {
  const run = entry.run;
  if (entry.kind === 'refused') return 'refused: the policy was asked again';
  if (!run) {
    const action = entry.record?.decision?.action as ActionName | undefined;
    if (entry.kind === 'decision' && action === 'trimEpochs') return 'applied without a run';
    if (story.running && entry === story.entries.at(-1) && entry.kind === 'decision' && action && ACTIONS[action]?.trains) return '… its run is training';
    return MISSING;
  }
  return verdictText(run);
}

/** A run's verdict in one line: "✔ kept: loss −0.03432 ± 0.004754 (7.2 SE better; margin 2 SE), accuracy +0.34 ± 0.28 pt". */
export function verdictText(run: RunRecord): string {
  const mark = VERDICT_MARK[run.verdict] ?? String(run.verdict);
  const j = run.judgement;
  if (run.kind === 'replicate') return `${mark}: pooled into run ${run.replicateOf ?? '?'}'s verdict`;
  if (!j) {
    const stop = run.result?.stopReason;
    if (stop?.kind === 'nonFinite') return `${mark}: diverged (NaN ${stop.what} at iteration ${stop.iteration})`;
    if (run.verdict === 'pending') return stop?.kind === 'budget' ? `${mark}: not judged, cut short by the budget` : `${mark}: not judged yet`;
    const acc = run.evaluation ? `: validation accuracy ${pct(run.evaluation.accuracy)}` : '';
    return `${mark}${acc}`;
  }
  if (!Number.isFinite(j.lossDiff) || !Number.isFinite(j.lossSE)) return `${mark}: ${j.summary.replace(/: (kept|reverted)$/, '')}`;
  const stands = run.verdict === 'tie' ? `, run ${j.kept ? run.id : j.against} stands` : run.kind === 'confirm' ? ` against run ${j.against}` : '';
  if (j.outcome === 'unstable') return `${mark}${stands}: ${j.summary.replace(/^run \d+ /, '')}${fidelityText(run)}`;
  return `${mark}${stands}: ${pairedText(j)}${fidelityText(run)}`;
}

/** The rung a verdict was made at: "; on 8,192 images" (a subset) or "; on all 50,000 images". */
function fidelityText(run: RunRecord): string {
  const f = run.fidelity;
  if (!f || !Number.isFinite(f.trainImages) || f.trainImages <= 0) return '';
  return `; on ${f.kind === 'full' ? 'all ' : ''}${int(f.trainImages)} images`;
}

/** "loss −0.03432 ± 0.004754 (7.2 SE better; margin 2 SE), accuracy +0.34 ± 0.28 pt". */
export function pairedText(j: NonNullable<RunRecord['judgement']>): string {
  const z = j.z;
  const dir = !Number.isFinite(z) ? (z > 0 ? 'better' : 'worse') : Math.abs(z) < 0.05 ? 'no difference' : z > 0 ? 'better' : 'worse';
  const size = Number.isFinite(z) ? `${se(Math.abs(z))} SE ${dir}` : dir;
  return `loss ${signed(j.lossDiff)} ± ${loss(j.lossSE)} (${size}; margin ${formatNumber(j.margin)} SE), accuracy ${pt(j.accuracyDiff).replace(/ pt$/, '')} ± ${ptAbs(j.accuracySE)}`;
}
