/**
 * A stored study → the Markdown report a person reads the next morning. Pure: no I/O, no clock.
 *
 * In reading order: the summary (test accuracy with its interval, what changed and what each
 * change bought, the final run, where the time went, what would come next); what to use (the
 * model, a script that classifies one image, the configuration as MATLAB code and JSON); the one
 * chronological decision log with the study plot; the test result per class; the data; the
 * study's settings; one section per run with its named numbers.
 */
import { markdownTable } from 'markdown-table';
import type { StudyRecord } from '../store/records.ts';
import { dataSection } from './data-section.ts';
import { cell, duration, int, loss, MISSING, pct, time } from './format.ts';
import { logMarkdown, logRows } from './log.ts';
import { STUDY_PLOT_PATH } from './paths.ts';
import { runSection } from './run-section.ts';
import { tellStory, type Story } from './story.ts';
import { summaryItems, summaryMarkdown } from './summary.ts';
import { useSection } from './use.ts';
import { WHY_WORDS } from './why.ts';

export { describeStop, divergence } from './run-section.ts';
export { VERDICT_MARK } from './why.ts';

export interface ReportOptions {
  /** Link the SVG plots (at `plots/run-<id>.svg` and `plots/study.svg` beside the report). Default true. */
  plots?: boolean;
}

function table(rows: string[][], align: string[]): string {
  return markdownTable(
    rows.map((r) => r.map(cell)),
    { align, stringLength: (s) => [...s].length },
  );
}

function statusText(study: StudyRecord): string {
  const reason = study.statusReason ? `: ${study.statusReason}` : '';
  return `${study.status}${reason}`;
}

function title(study: StudyRecord): string[] {
  const c = study.config;
  return [`# Study \`${c.name}\``, '', `**${statusText(study)}** · updated ${time(study.updatedAt)}`];
}

function summary(study: StudyRecord, story: Story): string[] {
  return ['## Summary', '', ...summaryMarkdown(summaryItems(study, story)), ''];
}

function decisionLog(study: StudyRecord, story: Story, plots: boolean): string[] {
  const out = ['## Decision log', ''];
  if (story.entries.length === 0) return [...out, 'No run has finished yet.', ''];
  out.push(
    `Every decision in order: the policy's, the ones the machine refused, and the machine's own (the budget, the finalists, the final-run plan, the final weights). ` +
      `"Why" is at most ${WHY_WORDS} words; the full reasoning is in each run's section. ` +
      'A verdict compares the candidate with the incumbent on the same validation images: the paired difference (candidate − incumbent) ± its standard error, kept only beyond the margin.',
    '',
  );
  if (plots && study.runs.length > 0) {
    out.push(`![Validation accuracy of each run on the fixed validation set, with ±2 SE error bars of its paired difference](${STUDY_PLOT_PATH})`, '');
  }
  out.push(logMarkdown(logRows(story)), '');
  return out;
}

function testResult(study: StudyRecord): string[] {
  const f = study.final;
  if (!f) return [];
  const names = study.dataset?.classNames ?? [];
  const name = (i: number) => names[i] ?? `class ${i}`;
  const out = [
    '## Test result',
    '',
    `Run ${f.runId}'s weights on the ${int(f.testCount)} test images: accuracy ${pct(f.testAccuracy)}, loss ${loss(f.testLoss)}. ` +
      `The test set was used once, at ${time(f.evaluatedAt)}, after tuning had ended: no decision saw it.`,
    '',
  ];
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
      table([['actual \\ predicted', ...cols], ...confusion.map((r, i) => [name(i), ...cols.map((_, j) => int(r[j]))])], ['l', ...cols.map(() => 'r')]),
      '',
    );
  }
  return out;
}

function budgetText(study: StudyRecord): string {
  const { budgetSeconds, maxRuns } = study.config;
  const used = study.budget ?? { secondsUsed: 0, runsUsed: study.runs.length, exhausted: false };
  const t =
    budgetSeconds === null || budgetSeconds === undefined
      ? `no time limit (used ${duration(used.secondsUsed)})`
      : `${duration(budgetSeconds)} (used ${duration(used.secondsUsed)}, ${budgetSeconds > 0 ? Math.round((100 * used.secondsUsed) / budgetSeconds) : 100}%)`;
  const runs = maxRuns === null || maxRuns === undefined ? `no run limit (used ${used.runsUsed})` : `at most ${maxRuns} search runs (used ${used.runsUsed})`;
  return `${t} · ${runs}`;
}

function settings(study: StudyRecord): string[] {
  const c = study.config;
  const d = study.dataset ?? { name: c.data, trainCount: null, validationCount: null, testCount: null, classNames: [] };
  const subset =
    c.searchSubset === null && c.searchValidationSubset === null
      ? 'all training and validation images'
      : `${c.searchSubset === null ? 'all' : int(c.searchSubset)} training / ${c.searchValidationSubset === null ? 'all' : int(c.searchValidationSubset)} validation images (stratified subsets)`;
  return [
    '## Study settings',
    '',
    `- **Data:** ${d.name} — ${int(d.trainCount)} training · ${int(d.validationCount)} validation · ${int(d.testCount)} test images, ${d.classNames?.length ?? MISSING} classes`,
    `- **Search runs:** ${subset}; verdicts on the whole validation set; the final model ${c.finalFullData ? 'retrains on the full training split' : 'keeps the search weights'}`,
    `- **Backend:** ${study.backend ?? c.backend ?? 'not chosen yet'}`,
    `- **Policy:** ${study.policy ? `${study.policy.name} (${study.policy.source})` : c.policy}`,
    `- **Seed:** ${c.seed}`,
    `- **Budget:** ${budgetText(study)}`,
    `- **Created:** ${time(study.createdAt)} · **Updated:** ${time(study.updatedAt)}`,
    '',
  ];
}

/** One part of the report: its lines of Markdown, and a name for it ('summary', 'log', 'run-3', ...). */
export interface ReportSection {
  id: string;
  lines: string[];
}

/**
 * The report in its parts, in reading order: title, summary, use, log, test, data, settings, runs,
 * one per run (`run-<id>`), footer. The report is their lines joined; `tune serve`'s page renders
 * each part to HTML and replaces only the parts that changed. Empty parts (no test result yet) are kept.
 */
export function reportSections(study: StudyRecord, opts: ReportOptions = {}): ReportSection[] {
  const plots = opts.plots ?? true;
  const story = tellStory(study);
  return [
    { id: 'title', lines: [...title(study), ''] },
    { id: 'summary', lines: summary(study, story) },
    { id: 'use', lines: useSection(study, story) },
    { id: 'log', lines: decisionLog(study, story, plots) },
    { id: 'test', lines: testResult(study) },
    { id: 'data', lines: dataSection(study) },
    { id: 'settings', lines: settings(study) },
    { id: 'runs', lines: ['## Runs', '', ...(study.runs.length === 0 ? ['No run has finished yet.', ''] : [])] },
    ...study.runs.map((r) => ({ id: `run-${r.id}`, lines: runSection(r, story, plots) })),
    { id: 'footer', lines: ['---', '', `Written by flowtune from \`study.json\` at ${time(study.updatedAt)}.`, ''] },
  ];
}

/** The whole report as Markdown. Never throws on NaN, Infinity or null values in the study. */
export function renderReport(study: StudyRecord, opts: ReportOptions = {}): string {
  return reportSections(study, opts)
    .flatMap((s) => s.lines)
    .join('\n');
}
