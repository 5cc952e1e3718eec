/**
 * The summary a person reads first, in ten seconds: the test accuracy with its 95 % interval,
 * what changed from the starting configuration and what each kept change bought, where the time
 * went, and what the policy would try next with more budget. PURE: items of text (with
 * Markdown emphasis), rendered as a list in the report and wrapped in the terminal.
 */
import { ACTIONS, applyDecision, sameConfiguration, type ActionName } from '../actions.ts';
import { accuracyInterval } from '../diagnosis/paired.ts';
import type { RunRecord, StudyRecord } from '../store/records.ts';
import { describeChange, duration, int, loss, pct, pctInterval, pt, scheduleText } from './format.ts';
import { runFacts } from './run-facts.ts';
import type { Story } from './story.ts';
import { pairedText, whyOf } from './why.ts';
import { counted } from '../util/format.ts';

export interface SummaryItem {
  /** A short bold label: "Test accuracy", "Changed from the start", ... */
  label: string;
  text: string;
  /** Sub-points (one per kept change). */
  points?: string[];
}

export function summaryItems(study: StudyRecord, story: Story): SummaryItem[] {
  return [result(study, story), changes(study, story), finalRunItem(study, story), timeItem(study, story), nextItem(study, story)].filter(
    (x): x is SummaryItem => x !== null,
  );
}

function result(study: StudyRecord, story: Story): SummaryItem {
  const f = study.final;
  if (f) {
    const ci = accuracyInterval(f.testAccuracy, f.testCount);
    return {
      label: 'Test accuracy',
      text: `**${pct(f.testAccuracy)}** (95% interval ${pctInterval(ci.low, ci.high)}) on the ${int(f.testCount)} sealed test images, used once, with run ${f.runId}'s weights`,
    };
  }
  const inc = study.incumbentId === null || study.incumbentId === undefined ? null : story.byId.get(study.incumbentId);
  const why = study.status === 'running' ? 'the study is still running' : `the study ${study.status} before the final evaluation${study.statusReason ? ` (${study.statusReason})` : ''}`;
  const best = inc ? `; best so far: run ${inc.id}, validation accuracy ${pct(inc.evaluation?.accuracy ?? inc.valAccuracy)}${inc.evaluation ? ` on ${int(inc.evaluation.images)} images` : ''}` : '';
  return { label: 'Test accuracy', text: `none yet: ${why}; the test set is unused${best}` };
}

/** "deepen filters=40 (run 2): validation accuracy 87.43% → 87.77%, loss −0.03432 ± 0.004754 (7.2 SE better; margin 2 SE), ..." */
function boughtText(run: RunRecord, story: Story): string {
  const head = `${describeChange(run.change)} (run ${run.id})`;
  const j = run.judgement;
  if (j && j.outcome !== 'unstable') {
    // A tie the incumbent stood on is in the lineage only when it won its confirmation on the full split.
    const confirmed = run.verdict === 'tie' && !j.kept ? [...story.byId.values()].find((r) => r.kind === 'confirm' && r.basedOn === run.id && r.judgement?.kept) : undefined;
    const tie = run.verdict !== 'tie' ? '' : j.kept ? ', a tie: kept as the cheaper or simpler' : ', a tie on the search subset (the incumbent stood)';
    const won = confirmed ? `; then it won its equal-time confirmation on all ${int(confirmed.fidelity?.trainImages)} training images (run ${confirmed.id}): ${pairedText(confirmed.judgement!)}` : '';
    return `${head}: validation accuracy ${pct(j.incumbent.accuracy)} → ${pct(j.candidate.accuracy)} on ${int(j.images)} images${tie}; ${pairedText(j)}${won}`;
  }
  if (j) return `${head}: ${j.summary}`;
  if (run.verdict !== 'kept' && run.verdict !== 'baseline') {
    const fixedBy = [...story.byId.values()].find((r) => r.basedOn === run.id);
    return `${head}: ${run.verdict}${fixedBy ? `, then fixed by run ${fixedBy.id}` : ''}`;
  }
  const parent = run.parentId === null ? null : story.byId.get(run.parentId);
  return `${head}: validation accuracy ${pct(parent?.valAccuracy)} → ${pct(run.valAccuracy)} on the search subset (this study predates paired verdicts: no standard error)`;
}

function changes(study: StudyRecord, story: Story): SummaryItem | null {
  if (!story.configRun) return null;
  const points = story.lineage.map((r) => boughtText(r, story));
  for (const t of story.trims) {
    const d = t.record!.decision!; // a trim is the policy's
    const at = story.byId.get(t.incumbent!);
    const f = at ? runFacts(at) : null;
    const to = (d.params as { maxEpochs?: number }).maxEpochs;
    points.push(
      `${describeChange(d)} (after run ${t.record!.afterRun}, no run): maxEpochs ${int(at?.options?.maxEpochs)} → ${int(to ?? f?.smoothedMinimum?.epoch)}, the smoothed validation-loss minimum` +
        (f?.smoothedMinimum ? ` (${loss(f.smoothedMinimum.loss)} at epoch ${f.smoothedMinimum.epoch})` : ''),
    );
  }
  const tried = study.runs.filter((r) => r.change && r.kind !== 'replicate' && r.kind !== 'final' && r.kind !== 'confirm');
  const notKept = tried.filter((r) => !story.lineage.includes(r) && !story.abandoned.includes(r));
  const text =
    points.length === 0
      ? `nothing: the final configuration is the starting one (run ${story.configRun.id})`
      : `${counted(points.length, 'change')} from the starting configuration:`;
  if (notKept.length) {
    points.push(`not kept: ${notKept.map((r) => `${describeChange(r.change)} (run ${r.id}, ${r.verdict})`).join(', ')}: none beat the incumbent beyond the noise margin`);
  }
  if (story.abandoned.length) {
    for (const r of story.abandoned) points.push(`kept in the search but not finalised: ${boughtText(r, story)}`);
    const entry = story.finalistsEntry;
    points.push(`run ${story.configRun.id}'s configuration was finalised instead${entry ? ` (#${entry.n}): ${whyOf(entry, story)}` : ''}`);
  }
  return { label: 'Changed from the start', text, points };
}

function finalRunItem(study: StudyRecord, story: Story): SummaryItem | null {
  const run = story.finalRun;
  if (!run) {
    if (study.final && story.chosenRun) return { label: 'Final model', text: `the search weights of run ${story.chosenRun.id} (no retraining on the full training split)` };
    return null;
  }
  const o = run.options;
  const scheduled = scheduleText(run);
  const schedule = scheduled ? ` with the learning rate ${scheduled}` : '';
  const byMachine = story.entries.some((e) => e.machine === 'finalRun' && e.run === run);
  const stop = run.result?.stopReason;
  const length =
    stop?.kind === 'budget'
      ? `until its ${byMachine ? 'planned ' : ''}deadline in epoch ${int(stop.epoch)} of ${int(o?.maxEpochs)}`
      : `for ${int(run.result?.epochsCompleted)} of ${int(o?.maxEpochs)} ${byMachine ? 'planned ' : ''}epochs`;
  const planned =
    `run ${run.id} trained run ${story.configRun?.id ?? run.parentId}'s configuration on all ${int(run.fidelity?.trainImages)} ${run.fidelity?.trainsOnValidation ? 'training and validation' : 'training'} images ${length}${schedule}` +
    (byMachine ? ', planned by the machine from the time left' : '');
  const chosen = story.chosenRun;
  const parent = run.parentId === null ? null : story.byId.get(run.parentId);
  let outcome = '';
  if (chosen && chosen.id === run.id && run.evaluation && parent?.evaluation) {
    outcome = `; validation accuracy ${pct(parent.evaluation.accuracy)} (search weights) → ${pct(run.evaluation.accuracy)} (${pt(run.evaluation.accuracy - parent.evaluation.accuracy)}) on the same ${int(run.evaluation.images)} images`;
  } else if (chosen && chosen.id !== run.id) {
    outcome = `; it did not beat run ${chosen.id}'s weights, which were kept`;
  } else if (chosen && run.fidelity?.trainsOnValidation) {
    outcome = `; no validation accuracy, as the validation images were among its training images: the test accuracy is its held-out measure (\`--no-final-refit\` keeps them out)`;
  }
  return { label: 'Final run', text: `${planned}${outcome}` };
}

function timeItem(study: StudyRecord, story: Story): SummaryItem {
  const t = story.time;
  const share = (s: number) => (t.used > 0 ? ` (${Math.round((100 * s) / t.used)}%)` : '');
  const runs = (n: number) => counted(n, 'run');
  const parts = [`search ${duration(t.search.seconds)} in ${runs(t.search.runs)}${share(t.search.seconds)}`];
  parts.push(t.confirm.runs ? `confirmation ${duration(t.confirm.seconds)} in ${runs(t.confirm.runs)}${share(t.confirm.seconds)}` : 'no confirmation');
  parts.push(t.final.runs ? `final run ${duration(t.final.seconds)}${share(t.final.seconds)}` : 'no final run');
  parts.push(`evaluations and bookkeeping ${duration(t.other)}${share(t.other)}`);
  const of = t.budget ? ` of the ${duration(t.budget)} budget (${Math.round((100 * t.used) / t.budget)}%)` : ' (no time budget)';
  const stop = study.budget?.exhausted ? '; the search ended on its budget' : '';
  return { label: 'Time', text: `${duration(t.used)}${of}: ${parts.join(', ')}${stop}` };
}

function nextItem(study: StudyRecord, story: Story): SummaryItem {
  const next = study.nextWithMoreBudget;
  if (next === undefined) return { label: 'With more budget', text: `not recorded (the study ${study.status === 'running' ? 'has not finished its search' : 'predates this question'})` };
  if (next === null) return { label: 'With more budget', text: `the policy would stop: nothing left to try${idleWhy(study)}` };
  const d = next.decision;
  const doc = ACTIONS[d.action as ActionName]?.doc ?? '';
  const rails = next.allowed ? '' : ' (a step the flowchart would not allow at this point)';
  const config = story.userConfig;
  if (config && noChange(d, config, story)) {
    return { label: 'With more budget', text: `nothing new: the policy would repeat \`${describeChange(d)}\`, which the configuration already has${rails}` };
  }
  return { label: 'With more budget', text: `the policy would try \`${describeChange(d)}\`: ${doc}${rails}` };
}

/** A finished study leaves over this share of its budget unspent only with a reason in numbers. */
const IDLE_SHARE = 0.15;

/**
 * Why a finished study left over IDLE_SHARE of its budget unspent, from the machine's own
 * decisions: the final run capped at what the converged network is worth, and whether the search
 * climbed to the full-data rung (and why not). Empty when the budget was used.
 */
function idleWhy(study: StudyRecord): string {
  const budget = study.config.budgetSeconds;
  if (!study.final || !budget || study.budget.secondsUsed >= (1 - IDLE_SHARE) * budget) return '';
  const left = 1 - study.budget.secondsUsed / budget;
  const reasons: string[] = [];
  const plan = study.decisions.filter((d) => d.machine === 'finalRun').at(-1)?.reason ?? '';
  const capped = /(\d+) epochs of (\d+) images, not the ([\d.]+) the time left affords/.exec(plan);
  if (capped) reasons.push(`the final run stopped at ${capped[1]} epochs, what this converged network is worth (${capped[3]} affordable)`);
  if (/^final run: none/.test(plan)) reasons.push('the time left affords no final run much longer than the full-data rung\'s');
  const climb = study.decisions.filter((d) => d.machine === 'fidelity').at(-1)?.reason ?? '';
  const noRung = /no full-data rung:? (.*)$/.exec(climb);
  if (noRung) reasons.push(`no full-data rung${noRung[1] ? `: ${noRung[1]}` : ''}`);
  else if (/policy would try nothing on all/.test(climb)) reasons.push('the policy would try nothing on all the training images either');
  return `; ${Math.round(left * 100)}% of the budget was left unspent${reasons.length ? `: ${reasons.join('; ')}` : ''}`;
}

/** Whether a decision leaves the user's configuration as it is (e.g. a trim to the maxEpochs it has). */
function noChange(d: NonNullable<StudyRecord['nextWithMoreBudget']>['decision'], config: NonNullable<Story['userConfig']>, story: Story): boolean {
  try {
    const run = story.configRun;
    const f = run ? runFacts(run) : null;
    const next = applyDecision(config, d, {
      lastLearnRate: config.options.initialLearnRate,
      bestEpoch: f?.smoothedMinimum?.epoch ?? null,
      epochsTrained: config.options.maxEpochs,
    });
    return sameConfiguration(next, config);
  } catch {
    return false;
  }
}

/** The summary as Markdown list items. */
export function summaryMarkdown(items: SummaryItem[]): string[] {
  const out: string[] = [];
  for (const item of items) {
    out.push(`- **${item.label}:** ${item.text}`);
    for (const p of item.points ?? []) out.push(`  - ${p}`);
  }
  return out;
}

