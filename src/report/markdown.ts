/**
 * A stored study → the Markdown report a person reads the next morning. Pure: no I/O, no clock.
 *
 * Sections: header (data, backend, policy, budget, status), result (the single sealed test
 * evaluation, or the incumbent so far), the study plot, the decision log (one row per run plus
 * the decisions that needed no run), and one section per run with its plot.
 */
import { markdownTable } from 'markdown-table';
import type { DecisionRecord, RunRecord, StopReason, StudyRecord, Verdict } from '../types.ts';
import {
  MISSING,
  cell,
  changeText,
  describeChange,
  describeEvidence,
  duration,
  learnables,
  int,
  json,
  matlabCall,
  matlabMultiline,
  networkText,
  num,
  pct,
  points,
  reviveOptions,
  time,
} from './format.ts';
import { runPlotPath, STUDY_PLOT_PATH } from './paths.ts';
import { dataSection } from './data-section.ts';

export interface ReportOptions {
  /** Link the SVG plots (at `plots/run-<id>.svg` and `plots/study.svg` beside the report). Default true. */
  plots?: boolean;
}

/** How each verdict is marked in the decision log. */
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

function table(rows: string[][], align: string[]): string {
  return markdownTable(
    rows.map((r) => r.map(cell)),
    { align, stringLength: (s) => [...s].length },
  );
}

/** Where a diverged run went non-finite, or null. */
export function divergence(run: RunRecord): Extract<StopReason, { kind: 'nonFinite' }> | null {
  const stop = run.result?.stopReason;
  return stop && stop.kind === 'nonFinite' ? stop : null;
}

function divergenceText(d: { iteration: number; epoch: number; what: string }): string {
  return `NaN ${d.what} at iteration ${d.iteration} (epoch ${d.epoch})`;
}

export function describeStop(run: RunRecord): string {
  const stop = run.result?.stopReason as StopReason | undefined;
  if (!stop) return MISSING;
  switch (stop.kind) {
    case 'completed': {
      const span = epochSpan(run);
      const part = span && span.first > 1 ? ` (epochs ${span.first}–${span.last} in this run)` : '';
      return `completed all ${int(run.options?.maxEpochs ?? run.result.epochsCompleted)} epochs${part}`;
    }
    case 'nonFinite':
      return `diverged: the ${stop.what} became non-finite (NaN/Inf) at iteration ${stop.iteration}, epoch ${stop.epoch}; no further batch was spent`;
    case 'validationPatience':
      return `validation patience (${num(reviveOptions(run.options).validationPatience)} validations without improvement) at epoch ${stop.epoch}`;
    case 'budget':
      return `the study's time budget ran out during epoch ${stop.epoch}`;
    default:
      return String((stop as { kind?: unknown }).kind ?? MISSING);
  }
}

function statusText(study: StudyRecord): string {
  const reason = study.statusReason ? `: ${study.statusReason}` : '';
  const exhausted = study.budget?.exhausted && !/budget/i.test(reason) ? ' (budget exhausted)' : '';
  return `${study.status}${reason}${exhausted}`;
}

function budgetText(study: StudyRecord): string {
  const { budgetSeconds, maxRuns } = study.config;
  const used = study.budget ?? { secondsUsed: 0, runsUsed: study.runs.length, exhausted: false };
  const time =
    budgetSeconds === null || budgetSeconds === undefined
      ? `no time limit (used ${duration(used.secondsUsed)})`
      : `${duration(budgetSeconds)} (used ${duration(used.secondsUsed)}, ${budgetSeconds > 0 ? Math.round((100 * used.secondsUsed) / budgetSeconds) : 100}%)`;
  const runs =
    maxRuns === null || maxRuns === undefined
      ? `no run limit (used ${used.runsUsed})`
      : `at most ${maxRuns} runs (used ${used.runsUsed})`;
  return `${time} · ${runs}`;
}

function header(study: StudyRecord): string[] {
  const c = study.config;
  const d = study.dataset ?? { name: c.data, trainCount: null, validationCount: null, testCount: null, classNames: [] };
  const subset =
    c.searchSubset === null && c.searchValidationSubset === null
      ? 'all training and validation images'
      : `${c.searchSubset === null ? 'all' : int(c.searchSubset)} training / ${c.searchValidationSubset === null ? 'all' : int(c.searchValidationSubset)} validation images (stratified subsets)`;
  return [
    `# Study \`${c.name}\``,
    '',
    `**Status: ${statusText(study)}** · updated ${time(study.updatedAt)}`,
    '',
    `- **Data:** ${d.name} — ${int(d.trainCount)} training · ${int(d.validationCount)} validation · ${int(d.testCount)} test images, ${d.classNames?.length ?? MISSING} classes (validation held out of the training set)`,
    `- **Search runs:** ${subset}; the final model ${c.finalFullData ? 'retrains on the full training split' : 'keeps the search fidelity'}`,
    `- **Backend:** ${study.backend ?? c.backend ?? 'not chosen yet'}`,
    `- **Policy:** ${study.policy ? `${study.policy.name} (${study.policy.source})` : c.policy}`,
    `- **Seed:** ${c.seed}`,
    `- **Budget:** ${budgetText(study)}`,
    `- **Created:** ${time(study.createdAt)} · **Updated:** ${time(study.updatedAt)}`,
  ];
}

function networkAndOptions(run: RunRecord, seed: number): string[] {
  const options = reviveOptions(run.options);
  return [
    `Network: \`${networkText(run.network)}\` — ${int(learnables(run.network, run.result?.paramCount))} learnable parameters.`,
    '',
    'Training options as a MATLAB call (flowtune trains the equivalent in TensorFlow.js):',
    '',
    '```matlab',
    `rng(${options.seed ?? seed}) % seed for weights, shuffling and dropout`,
    `options = ${matlabMultiline(matlabCall(options))};`,
    '% options not listed keep MATLAB\'s defaults; the JSON below lists every option',
    '```',
    '',
    'As JSON:',
    '',
    '```json',
    json(options),
    '```',
    '',
    '<details><summary>Network as JSON</summary>',
    '',
    '```json',
    json(run.network),
    '```',
    '',
    '</details>',
  ];
}

function runHeadline(run: RunRecord): string {
  const parts = [
    `validation accuracy ${pct(run.valAccuracy)}`,
    `best validation loss ${num(run.result?.bestValLoss)}${run.result?.bestEpoch != null ? ` at epoch ${run.result.bestEpoch}` : ''}`,
    `training accuracy ${pct(run.trainAccuracy)}`,
  ];
  const d = divergence(run);
  if (d) parts.push(divergenceText(d));
  return parts.join(', ');
}

function result(study: StudyRecord): string[] {
  const out = ['## Result', ''];
  const byId = new Map(study.runs.map((r) => [r.id, r]));
  const f = study.final;
  if (f) {
    const run = byId.get(f.runId);
    const names = study.dataset?.classNames ?? [];
    const name = (i: number) => names[i] ?? `class ${i}`;
    out.push(
      `**Test accuracy ${pct(f.testAccuracy)}** (test loss ${num(f.testLoss)}) on ${int(f.testCount)} test images, with the model of run ${f.runId}.`,
      '',
      `The test set was used once: this single sealed evaluation, at ${time(f.evaluatedAt)}, after tuning had ended. No tuning decision saw it.`,
      '',
      '### Per-class test accuracy',
      '',
    );
    const perClass = (f.perClassAccuracy ?? []).map((acc, i) => {
      const row = f.confusion?.[i] ?? [];
      const total = row.reduce((a, b) => a + (Number.isFinite(b) ? b : 0), 0);
      return [name(i), pct(acc), row.length ? `${int(row[i])} / ${int(total)}` : MISSING];
    });
    out.push(table([['Class', 'Accuracy', 'Correct / images'], ...perClass], ['l', 'r', 'r']), '');
    const confusion = f.confusion ?? [];
    if (confusion.length > 0) {
      const width = Math.max(names.length, ...confusion.map((r) => r.length));
      const cols = Array.from({ length: width }, (_, j) => name(j));
      out.push(
        '### Confusion matrix',
        '',
        'Test images; rows are the actual class, columns the predicted class.',
        '',
        table(
          [['actual \\ predicted', ...cols], ...confusion.map((r, i) => [name(i), ...cols.map((_, j) => int(r[j]))])],
          ['l', ...cols.map(() => 'r')],
        ),
        '',
      );
    }
    out.push('### Best network', '');
    if (run) out.push(`Run ${run.id} (${run.stage}, ${VERDICT_MARK[run.verdict] ?? run.verdict}): ${runHeadline(run)}.`, '', ...networkAndOptions(run, study.config.seed));
    else out.push(`Run ${f.runId} is not in the study's run log.`);
    out.push(`\nModel files: \`${f.modelDir}\``);
    return out;
  }
  const why =
    study.status === 'running'
      ? 'No result yet: the study is still running.'
      : `No test result: the study ${study.status} before the final evaluation${study.statusReason ? ` (${study.statusReason})` : ''}.`;
  out.push(`${why} The test set has not been used.`, '');
  const inc = study.incumbentId === null ? undefined : byId.get(study.incumbentId);
  if (!inc) {
    out.push(study.runs.length === 0 ? 'No run has finished yet.' : 'No incumbent yet.');
    return out;
  }
  out.push(
    `### ${study.status === 'running' ? 'Incumbent so far' : 'Best run'}`,
    '',
    `Run ${inc.id} (${inc.stage}, ${VERDICT_MARK[inc.verdict] ?? inc.verdict}) after ${study.runs.length} run${study.runs.length === 1 ? '' : 's'}: ${runHeadline(inc)}.`,
    '',
    ...networkAndOptions(inc, study.config.seed),
  );
  return out;
}

/**
 * Pairs each decision with the run that carries it as its `change` (same action, params and
 * reason, run after the decision's `afterRun`), one to one. Decisions left over needed no run
 * (trimEpochs, stop, or a decision whose run never happened).
 */
export function decisionsWithoutRun(study: StudyRecord): DecisionRecord[] {
  const key = (d: { action: string; params: unknown; reason: string }) => JSON.stringify([d.action, d.params, d.reason]);
  const unclaimed = study.runs.filter((r) => r.change);
  const left: DecisionRecord[] = [];
  for (const rec of study.decisions ?? []) {
    const k = key(rec.decision);
    const i = unclaimed.findIndex((r) => key(r.change!) === k && r.id > rec.afterRun);
    if (i >= 0) unclaimed.splice(i, 1);
    else left.push(rec);
  }
  return left;
}

/** First and last epoch in a run's history (a continued run starts after its parent's epochs). */
function epochSpan(run: RunRecord): { first: number; last: number } | null {
  const epochs = run.result?.history?.epochs ?? [];
  return epochs.length ? { first: epochs[0].epoch, last: epochs[epochs.length - 1].epoch } : null;
}

function fidelityText(run: RunRecord): string {
  const f = run.fidelity;
  const span = epochSpan(run);
  const max = run.options?.maxEpochs;
  let epochs = span && span.first > 1 ? `ep ${span.first}–${span.last}` : `${num(run.result?.epochsCompleted)} ep`;
  const reached = span?.last ?? run.result?.epochsCompleted;
  if (typeof max === 'number' && typeof reached === 'number' && reached < max) epochs += ` of ${max}`;
  return `${f?.kind === 'full' ? 'full ' : ''}${int(f?.trainImages)} img · ${epochs}`;
}

function bestLossText(run: RunRecord): string {
  const r = run.result;
  const parts: string[] = [];
  if (r?.bestValLoss !== null && r?.bestValLoss !== undefined) parts.push(`${num(r.bestValLoss)} (ep ${num(r.bestEpoch)})`);
  const d = divergence(run);
  if (d) parts.push(`NaN ${d.what} at it ${d.iteration}, ep ${d.epoch}`);
  return parts.length ? parts.join('; ') : MISSING;
}

/** Whether a decision's run is presumably still training: the study runs and this is its latest decision, one that needs a run. */
function pending(study: StudyRecord, d: DecisionRecord): boolean {
  const latest = study.decisions[study.decisions.length - 1];
  return study.status === 'running' && d === latest && d.decision.action !== 'stop' && d.decision.action !== 'trimEpochs';
}

function decisionLog(study: StudyRecord, plots: boolean): string[] {
  const out = ['## Decision log', ''];
  if (plots && study.runs.length > 0)
    out.push(`![Best validation accuracy so far against training images processed](${STUDY_PLOT_PATH})`, '');
  if (study.runs.length === 0) out.push('No run has finished yet.');
  else {
    const rows = study.runs.map((r) => [
      `[${r.id}](#run-${r.id})`,
      r.stage,
      changeText(r),
      r.change?.reason ?? MISSING,
      fidelityText(r),
      bestLossText(r),
      pct(r.valAccuracy),
      pct(r.trainAccuracy),
      points(r.trainAccuracy, r.valAccuracy),
      duration(r.result?.seconds),
      r.diagnosis?.label ?? MISSING,
      VERDICT_MARK[r.verdict] ?? String(r.verdict),
    ]);
    out.push(
      table(
        [['Run', 'Stage', 'Change', 'Why', 'Fidelity', 'Best val loss', 'Val acc', 'Train acc', 'Gap', 'Time', 'Diagnosis', 'Verdict'], ...rows],
        ['r', 'l', 'l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'l', 'l'],
      ),
    );
  }
  const loose = decisionsWithoutRun(study);
  if (loose.length > 0) {
    out.push(
      '',
      '### Decisions without a run',
      '',
      table(
        [['After run', 'Stage', 'Decision', 'Why', 'At'], ...loose.map((d) => [String(d.afterRun), d.stage, describeChange(d.decision) + (pending(study, d) ? ' (its run is in progress)' : ''), d.decision.reason ?? MISSING, time(d.at)])],
        ['r', 'l', 'l', 'l', 'l'],
      ),
    );
  }
  return out;
}

/** "applied to run 2", "continuing run 2's checkpoint". */
function changeBase(run: RunRecord): string {
  const continued = run.continuedFrom !== null && run.continuedFrom !== undefined;
  const parent = run.parentId !== null && run.parentId !== undefined;
  if (continued && (!parent || run.parentId === run.continuedFrom)) return `continuing run ${run.continuedFrom}'s checkpoint`;
  return [parent ? `applied to run ${run.parentId}` : '', continued ? `continuing run ${run.continuedFrom}'s checkpoint` : ''].filter(Boolean).join(', ');
}

function runSection(run: RunRecord, plots: boolean): string[] {
  const r = run.result;
  const ips = r && r.seconds > 0 ? r.imagesTrained / r.seconds : null;
  const diag = run.diagnosis;
  const also = (diag?.findings ?? []).filter((l) => l !== diag?.label);
  const out = [
    `### Run ${run.id}`,
    '',
    `${run.stage} · ${VERDICT_MARK[run.verdict] ?? run.verdict} · ${time(run.startedAt)} → ${time(run.finishedAt)} (${duration(r?.seconds)})`,
    '',
  ];
  if (plots) out.push(`![Training progress of run ${run.id}: accuracy and loss against iteration](${runPlotPath(run.id)})`, '');
  out.push(
    `- **Change:** ${run.change ? `\`${describeChange(run.change)}\` ${changeBase(run)} — ${run.change.reason}` : changeText(run)}`,
    `- **Diagnosis:** ${diag ? `**${diag.label}**${also.length ? ` (also ${also.join(', ')})` : ''} — ${diag.summary}` : MISSING}`,
    `- **Evidence:** ${describeEvidence(diag?.evidence)}`,
    `- **Stopped:** ${describeStop(run)}`,
    `- **Result:** ${runHeadline(run)}; gap ${points(run.trainAccuracy, run.valAccuracy)}`,
    `- **Fidelity:** ${int(run.fidelity?.trainImages)} training / ${int(run.fidelity?.validationImages)} validation images (${run.fidelity?.kind ?? MISSING}); ${int(r?.epochsCompleted)} epochs, ${int(r?.iterationsCompleted)} iterations, ${int(r?.imagesTrained)} images trained${ips !== null ? `, ${int(ips)} images/s` : ''}`,
    `- **Network:** \`${networkText(run.network)}\` (${int(learnables(run.network, r?.paramCount))} learnable parameters)`,
    `- **Options:** \`${matlabCall(run.options)}\``,
    '',
  );
  return out;
}

/** The whole report as Markdown. Never throws on NaN, Infinity or null values in the study. */
export function renderReport(study: StudyRecord, opts: ReportOptions = {}): string {
  const plots = opts.plots ?? true;
  const lines = [
    ...header(study),
    '',
    ...result(study),
    '',
    ...dataSection(study),
    ...decisionLog(study, plots),
    '',
    '## Runs',
    '',
    ...(study.runs.length === 0 ? ['No run has finished yet.', ''] : study.runs.flatMap((r) => runSection(r, plots))),
    '---',
    '',
    `Written by flowtune from \`study.json\` at ${time(study.updatedAt)}.`,
    '',
  ];
  return lines.join('\n');
}
