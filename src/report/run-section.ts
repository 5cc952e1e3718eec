/**
 * One run's section: why it ran (the decision's full reasoning), its diagnosis, a short table of
 * named numbers in the report's units (percentages with 2 decimals, losses with 4 significant
 * digits, gaps in percentage points), its verdict with the noise margin, and the decisions taken
 * after it, in full. PURE.
 */
import { markdownTable } from 'markdown-table';
import type { StopReason } from '../types.ts';
import { reasonOf, type RunRecord } from '../store/records.ts';
import { cell, describeChange, duration, int, json, learnables, loss, matlabCall, MISSING, networkText, pct, ptAbs, reviveOptions, signed, signedPct, time } from './format.ts';
import { counted, formatNumber } from '../util/format.ts';
import { runPlotPath } from './paths.ts';
import { runFacts } from './run-facts.ts';
import type { Entry, Story } from './story.ts';
import { evidencePhrase, verdictText, VERDICT_MARK, whatOf } from './why.ts';

/** Where a diverged run went non-finite, or null. */
export function divergence(run: RunRecord): Extract<StopReason, { kind: 'nonFinite' }> | null {
  const stop = run.result?.stopReason;
  return stop && stop.kind === 'nonFinite' ? stop : null;
}

/** First and last epoch in a run's history (a continued run starts after its parent's epochs). */
function epochSpan(run: RunRecord): { first: number; last: number } | null {
  const epochs = run.result?.history?.epochs ?? [];
  return epochs.length ? { first: epochs[0].epoch, last: epochs[epochs.length - 1].epoch } : null;
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
      return `validation patience (${formatNumber(reviveOptions(run.options).validationPatience)} validations without improvement) at epoch ${stop.epoch}`;
    case 'budget':
      return run.kind === 'final' || run.kind === 'confirm'
        ? `at its planned deadline, during epoch ${stop.epoch} (the partial epoch validated and kept)`
        : `the study's time budget ran out during epoch ${stop.epoch}`;
    default:
      return String((stop as { kind?: unknown }).kind ?? MISSING);
  }
}

/** The named numbers of a run, as [name, value] rows. */
export function runNumbers(run: RunRecord, _story?: Story): Array<[string, string]> {
  const r = run.result;
  const f = runFacts(run);
  const rows: Array<[string, string]> = [];
  rows.push(['Network', `\`${networkText(run.network)}\`, ${int(learnables(run.network, r?.paramCount))} learnable parameters`]);
  rows.push(['Options', `\`${matlabCall(run.options)}\``]);
  const span = epochSpan(run);
  const epochs = span && span.first > 1 ? `epochs ${span.first}–${span.last}` : `${int(r?.epochsCompleted)} epochs`;
  const speed = run.throughput?.imagesPerSecond ?? (r && r.seconds > 0 ? r.imagesTrained / r.seconds : null);
  rows.push([
    'Trained',
    `${int(run.fidelity?.trainImages)} ${run.fidelity?.kind === 'full' ? 'images (the full training split)' : 'images (subset)'}, ${epochs}: ${int(r?.imagesTrained)} images in ${int(r?.iterationsCompleted)} iterations, ${duration(r?.seconds)}${speed ? ` at ${int(speed)} images/s` : ''}`,
  ]);
  rows.push(['Stopped', describeStop(run)]);
  const valImages = f.validationImages === null ? '' : ` (${int(f.validationImages)} images, once per epoch)`;
  if (f.lowest) {
    const parts = [`lowest ${loss(f.lowest.loss)} at epoch ${f.lowest.epoch}`];
    if (f.smoothedMinimum) parts.push(`smoothed minimum ${loss(f.smoothedMinimum.loss)} at epoch ${f.smoothedMinimum.epoch}`);
    if (f.last && f.last.epoch !== f.lowest.epoch) parts.push(`last ${loss(f.last.loss)} at epoch ${f.last.epoch}`);
    rows.push([`Validation loss${valImages}`, parts.join('; ')]);
    if (f.output) {
      rows.push([
        'Output network',
        `epoch ${f.output.epoch}'s weights (${f.outputRule === 'best-validation-loss' ? 'lowest validation loss' : 'last iteration'}), validation accuracy ${pct(f.output.accuracy)} there`,
      ]);
    }
  } else {
    rows.push([`Validation loss${valImages}`, 'no finite value']);
  }
  if (f.trend) {
    const t =
      f.trend.t === null
        ? ''
        : Math.abs(f.trend.t) >= f.trend.tCritical
          ? `: t ${signed(f.trend.t, 3)}, beyond its noise (|t| ≥ ${formatNumber(f.trend.tCritical)})`
          : `: t ${signed(f.trend.t, 3)}, within its noise (|t| < ${formatNumber(f.trend.tCritical)})`;
    rows.push([`Validation-loss trend, epochs ${f.trend.from}–${f.trend.to}`, `${signed(f.trend.slope)} ± ${loss(f.trend.se)} per epoch${t}`]);
  } else if (f.tooShort) {
    rows.push(['Trend', 'too few epochs for a fit']);
  }
  if (f.rise) {
    rows.push([
      'After the smoothed minimum',
      `${signedPct(f.rise.fraction)} over ${counted(f.rise.epochs, 'epoch')}${f.rise.t === null ? '' : ` (t ${signed(f.rise.t, 3)})`}: ${f.rise.beyondNoise ? 'a rise beyond its noise' : 'not a rise beyond its noise'}`,
    ]);
  }
  if (f.gap) {
    rows.push([
      `Training − validation accuracy, epoch ${f.gap.epoch}`,
      `${pct(f.gap.train)} − ${pct(f.gap.validation)} = ${ptAbs(f.gap.gap)} (overfitting above ${ptAbs(f.gap.threshold)})`,
    ]);
  }
  if (run.evaluation) {
    const e = run.evaluation;
    rows.push([`On the fixed validation set (${int(e.images)} images)`, `accuracy ${pct(e.accuracy)}, loss ${loss(e.loss)}`]);
  }
  const j = run.judgement;
  if (j) {
    const pooled = j.pooled && j.pooled.length > 1 ? `, pooled with run ${j.pooled.filter((id) => id !== run.id).join(', ')}` : '';
    rows.push([`Verdict against run ${j.against} (same ${int(j.images)} images${pooled})`, verdictText(run)]);
    rows.push([
      'Speed',
      `${int(j.imagesPerSecond.candidate)} vs ${int(j.imagesPerSecond.incumbent)} images/s (${formatNumber(j.imagesPerSecond.candidate / Math.max(1e-9, j.imagesPerSecond.incumbent))}× run ${j.against}'s)`,
    ]);
  } else {
    rows.push(['Verdict', verdictText(run)]);
  }
  return rows;
}

function whyThisRun(run: RunRecord, entry: Entry, story: Story): string {
  if (run.kind === 'replicate') {
    return `a second seed (${run.options?.seed ?? MISSING}) of run ${run.replicateOf}'s configuration: run ${run.replicateOf}'s verdict on one seed was a close call, so the machine trained it again and judged the two seeds pooled`;
  }
  if (run.kind === 'confirm') {
    const plan = story.entries.filter((e) => e.machine === 'finalists' && e.n < entry.n).at(-1);
    return `a confirmation of run ${run.basedOn ?? run.parentId}'s configuration on all ${int(run.fidelity?.trainImages)} training images${plan ? ` (#${plan.n}: ${plan.record?.reason ?? ''})` : ''}`;
  }
  const what = whatOf(entry, story);
  const base = run.basedOn ?? run.parentId;
  const reason = (entry.record ? reasonOf(entry.record) : null) ?? run.change?.reason ?? null;
  const applied = run.change && base !== null && base !== undefined ? ` applied to run ${base}${run.continuedFrom ? ', continuing its checkpoint' : ''}` : '';
  const label = entry.kind === 'machine' || entry.kind === 'baseline' ? what : `\`${what}\``;
  return `${label}${applied}${reason ? ` — ${reason}` : ''}`;
}

export function runSection(run: RunRecord, story: Story, plots: boolean): string[] {
  const out = [
    `### Run ${run.id}`,
    '',
    `${run.stage} · ${VERDICT_MARK[run.verdict] ?? run.verdict} · ${time(run.startedAt)} → ${time(run.finishedAt)} (${duration(run.result?.seconds)})`,
    '',
  ];
  if (plots) out.push(`![Training progress of run ${run.id}: accuracy and loss against iteration](${runPlotPath(run.id)})`, '');
  const entry = story.entries.find((e) => e.run === run);
  if (entry) out.push(`**Why this run** (log #${entry.n}): ${whyThisRun(run, entry, story)}`, '');
  const diag = run.diagnosis;
  const phrase = diag ? evidencePhrase(run).replace(/^run \d+ [^:]*:\s*/, '') : '';
  if (diag) {
    const also = (diag.findings ?? []).filter((l) => l !== diag.label);
    out.push(`**Diagnosis: ${diag.label}**${also.length ? ` (also ${also.join(', ')})` : ''} — ${phrase}`, '');
  }
  out.push(
    markdownTable(
      [['', ''], ...runNumbers(run, story).map(([k, v]) => [`**${k}**`, v])].map((row) => row.map(cell)),
      { align: ['l', 'l'], stringLength: (s) => [...s].length },
    ),
    '',
  );
  out.push('<details><summary>Network as JSON</summary>', '', '```json', json(run.network), '```', '', '</details>', '');
  if (diag?.summary && !diag.summary.endsWith(phrase)) out.push(`<details><summary>The diagnosis in its own words</summary>`, '', diag.summary, '', '</details>', '');
  const after = story.entries.filter((e) => e.record && e.record.afterRun === run.id && e.run !== run);
  if (after.length > 0) {
    out.push('**Decided after this run:**', '');
    for (const e of after) {
      const d = e.record!;
      const who = e.kind === 'refused' ? `refused (${d.refused})` : e.kind === 'machine' ? 'the machine' : 'the policy';
      out.push(`- #${e.n} ${e.kind === 'machine' ? whatOf(e, story) : `\`${describeChange(d.decision)}\``}, ${who}: ${reasonOf(d)}`);
    }
    out.push('');
  }
  return out;
}
