/**
 * `tune serve`'s pages as HTML, from the same stored study the report reads. PURE: the server
 * (src/serve/) reads the files and hands the records in.
 *
 * A page is a list of parts (`<section data-part="…">`), each rendered whole, so that a live page
 * replaces only the parts that changed when the study writes its record. The study page: its head
 * (status, a failure, the budget), the run in flight, the flowchart with the study's path lit, then
 * the report's own sections (report/markdown.ts) as HTML, their plots drawn in the browser by
 * vega-embed from the same Vega-Lite specs as the SVG files, with hover.
 */
import type { TopLevelSpec } from 'vega-lite';
import type { InFlightRun, StudyRecord, StudyStatus } from '../store/records.ts';
import { highlightedDiagram, stateId, studyPath } from './flowchart.ts';
import { duration, int, loss, MISSING, pct, time } from './format.ts';
import { escapeHtml, markdownHtml } from './html.ts';
import type { StudyListRow } from './list.ts';
import { LOG_HEADER, logRows } from './log.ts';
import { reportSections } from './markdown.ts';
import { contentHash, runPlotFingerprint, runPlotSpec, studyPlotFingerprint, studyPlotSpec } from './plots.ts';
import { tellStory } from './story.ts';
import { counted, noun } from '../util/format.ts';

export interface PagePart {
  /** Stable name of the part ('head', 'live', 'flowchart', 'summary', 'run-3', ...). */
  id: string;
  html: string;
}

export interface Page {
  title: string;
  parts: PagePart[];
  /** Plot id ('study', 'run-3') → fingerprint of its spec: the browser fetches a spec it has not drawn. */
  plots: Record<string, string>;
}

/** What the study page shows: a study, or why its record cannot be read. */
export type StudyInput = { name: string; study: StudyRecord; error?: undefined } | { name: string; study?: undefined; error: string };

const STATUS_TEXT: Record<StudyStatus | 'unreadable', string> = {
  running: 'running',
  finished: 'finished',
  stopped: 'stopped (resumable)',
  failed: 'failed',
  unreadable: 'unreadable',
};

function badge(status: StudyStatus | 'unreadable'): string {
  return `<span class="badge ${status}">${STATUS_TEXT[status]}</span>`;
}

/** The budget as a bar: time used of the budget (as of the latest write, the run in flight's included). */
export function budgetHtml(budgetSeconds: number | null, secondsUsed: number, inFlight: InFlightRun | null): string {
  const used = budgetSeconds !== null && inFlight?.budgetSecondsLeft != null ? Math.max(secondsUsed, budgetSeconds - inFlight.budgetSecondsLeft) : secondsUsed;
  if (budgetSeconds === null || budgetSeconds <= 0) return `<span class="budget">no time limit · ${duration(used)} used</span>`;
  const share = Math.min(1, used / budgetSeconds);
  return (
    `<span class="budget"><meter min="0" max="1" low="0.7" high="0.9" optimum="0" value="${share.toFixed(4)}" title="${Math.round(share * 100)}% of the budget"></meter> ` +
    `${duration(used)} of ${duration(budgetSeconds)} (${Math.round(share * 100)}%)</span>`
  );
}

function head(name: string, study: StudyRecord | null, error: string | null): string {
  const files = ['report.md', 'study.json', 'log.ndjson'].map((f) => `<a href="${f}">${f}</a>`).join(' · ');
  const out = [`<nav><a href="/">← all studies</a> · ${files}</nav>`, `<h1>Study <code>${escapeHtml(name)}</code></h1>`];
  if (!study) {
    out.push(
      `<p>${badge('unreadable')}</p>`,
      `<div class="panel error" role="alert"><strong>This study's record cannot be read.</strong> ${escapeHtml(error ?? '')}` +
        `<br>The other studies are served as usual; this page comes back by itself once <code>study.json</code> is readable again.</div>`,
    );
    return out.join('\n');
  }
  const runs = study.runs ?? [];
  const limit = study.config?.maxRuns;
  out.push(
    `<p class="status">${badge(study.status)} · ${counted(runs.length, 'run')}` +
      `${limit ? ` (${int(study.budget?.runsUsed ?? 0)} of at most ${int(limit)} search runs)` : ''} · updated <time datetime="${escapeHtml(study.updatedAt ?? '')}">${time(study.updatedAt)}</time></p>`,
    `<p>Budget: ${budgetHtml(study.config?.budgetSeconds ?? null, study.budget?.secondsUsed ?? 0, study.status === 'running' ? study.inFlight ?? null : null)}</p>`,
  );
  if (study.status === 'failed') {
    out.push(
      `<div class="panel error" role="alert"><strong>The study failed:</strong> ${escapeHtml(study.statusReason ?? 'no reason was recorded')}` +
        `${runs.length ? `<br>Its ${counted(runs.length, 'finished run')} ${noun(runs.length, 'is', 'are')} kept below.` : ''}</div>`,
    );
  } else if (study.status === 'stopped') {
    out.push(`<div class="panel warn"><strong>Stopped:</strong> ${escapeHtml(study.statusReason ?? 'interrupted')}</div>`);
  } else if (study.statusReason) {
    out.push(`<p class="reason">${escapeHtml(study.statusReason)}</p>`);
  }
  return out.join('\n');
}

/** The latest rows of the decision log (the report's own rows), newest last. */
export function latestDecisionsHtml(study: StudyRecord, count = 3): string {
  const rows = logRows(tellStory(study)).slice(-count);
  if (rows.length === 0) return '';
  const cells = (r: (typeof rows)[number]) => [String(r.n), r.after, r.by, r.what, r.why, r.run === null ? MISSING : `<a href="#run-${r.run}">${r.run}</a>`, r.verdict];
  return [
    `<h3>Latest decisions <small><a href="#decision-log">the whole log</a></small></h3>`,
    `<table class="latest"><thead><tr>${LOG_HEADER.map((h) => `<th>${h}</th>`).join('')}</tr></thead><tbody>`,
    ...rows.map((r) => `<tr>${cells(r).map((c, i) => `<td>${i === 5 ? c : escapeHtml(c)}</td>`).join('')}</tr>`),
    '</tbody></table>',
  ].join('\n');
}

/** The run being trained, or what the machine is doing between runs; the latest decisions below it. */
export function liveHtml(study: StudyRecord): string {
  if (study.status !== 'running') return '';
  const f = study.inFlight;
  if (!f) {
    const state = stateId((study.snapshot as { value?: unknown } | null)?.value);
    return [
      `<div class="panel live"><strong>Between runs</strong>: ${state ? `the machine is in <code>${escapeHtml(state.replace(/_/g, ' › '))}</code>` : 'starting'} (evaluating, asking the policy, or planning).</div>`,
      latestDecisionsHtml(study),
    ].join('\n');
  }
  const left = f.secondsLeft === null ? 'estimating (after its first epoch)' : `≈ ${duration(f.secondsLeft)}`;
  const rows: Array<[string, string]> = [
    ['Epoch', `<span class="epoch">${int(f.epoch)}</span> of ${int(f.maxEpochs)} <progress max="${f.maxEpochs}" value="${Math.max(0, f.epoch - 1)}"></progress>`],
    ['Time left', `<span class="time-left">${left}</span>`],
    ['Iteration', int(f.iteration)],
    ['Mini-batch loss', loss(f.loss)],
    ['Validation accuracy', f.valAccuracy === null ? 'none yet' : `${pct(f.valAccuracy)} (latest)`],
    ['Speed', `${int(f.imagesPerSecond)} images/s`],
  ];
  if (f.budgetSecondsLeft !== null) rows.push(['Budget left', duration(f.budgetSecondsLeft)]);
  return [
    `<div class="panel live" data-run="${f.runId}" data-epoch="${f.epoch}">`,
    `<h2>In flight: run ${f.runId} <small>${escapeHtml(f.stage)} — ${escapeHtml(f.what)}</small></h2>`,
    `<dl>${rows.map(([k, v]) => `<dt>${k}</dt><dd>${v}</dd>`).join('')}</dl>`,
    `<p class="note">started <time datetime="${escapeHtml(f.startedAt)}">${time(f.startedAt)}</time>; as of <time datetime="${escapeHtml(f.at)}" data-ago>${time(f.at)}</time></p>`,
    '</div>',
    latestDecisionsHtml(study),
  ].join('\n');
}

function flowchartHtml(study: StudyRecord, diagram: string): string {
  return [
    '<h2 id="flowchart">Flowchart</h2>',
    '<p class="legend"><span class="swatch visited"></span> passed through · <span class="swatch current"></span> ' +
      `${study.status === 'running' ? 'now' : study.status === 'finished' ? 'the end' : 'where it stopped'} · generated from the machine's definition (<code>src/machine/machine.ts</code>); click it to see it whole</p>`,
    `<pre class="mermaid-source">${escapeHtml(highlightedDiagram(diagram, studyPath(study)))}</pre>`,
  ].join('\n');
}

/** The study page. `diagram` is the machine's Mermaid source (src/machine/diagram.ts). */
export function studyPage(input: StudyInput, diagram: string): Page {
  const { name } = input;
  if (input.study === undefined) {
    return { title: `${name} — unreadable`, parts: [{ id: 'head', html: head(name, null, input.error) }], plots: {} };
  }
  const study = input.study;
  const report = reportSections(study).filter((s) => s.id !== 'title');
  const plots: Record<string, string> = study.runs.length ? { study: studyPlotFingerprint(study) } : {};
  for (const run of study.runs) plots[`run-${run.id}`] = runPlotFingerprint(run);
  return {
    title: `${name} — ${study.status}`,
    parts: [
      { id: 'head', html: head(name, study, null) },
      { id: 'live', html: liveHtml(study) },
      { id: 'flowchart', html: flowchartHtml(study, diagram) },
      ...report.map((s) => ({ id: s.id, html: markdownHtml(s.lines.join('\n')) })),
    ],
    plots,
  };
}

/** A plot's Vega-Lite spec for the page ('study' or 'run-<id>'), with hover; null when there is none. */
export function pagePlotSpec(study: StudyRecord, id: string): TopLevelSpec | null {
  if (id === 'study') return study.runs.length ? studyPlotSpec(study, { hover: true }) : null;
  const run = study.runs.find((r) => `run-${r.id}` === id);
  return run ? runPlotSpec(run, { hover: true }) : null;
}

/** The list of studies: status, runs, best validation and test accuracy, budget. */
export function listPage(rows: readonly StudyListRow[], reportsDir: string): Page {
  const headHtml = `<h1>Studies</h1>\n<p class="note">in <code>${escapeHtml(reportsDir)}</code> · read-only</p>`;
  if (rows.length === 0) {
    return { title: 'flowtune studies', parts: [{ id: 'head', html: headHtml }, { id: 'list', html: '<p>No studies yet. Start one with <code>tune --data fashion</code>; it appears here.</p>' }], plots: {} };
  }
  const body = rows.map((r) => {
    const link = `<a href="/studies/${encodeURIComponent(r.name)}/">${escapeHtml(r.name)}</a>`;
    const flight = r.inFlight ? `<br><small>run ${r.inFlight.runId}, epoch ${r.inFlight.epoch} of ${r.inFlight.maxEpochs}</small>` : '';
    const reason = r.statusReason && r.status !== 'running' ? `<br><small class="reason">${escapeHtml(r.statusReason)}</small>` : '';
    const budget = r.status === 'unreadable' ? MISSING : budgetHtml(r.budgetSeconds, r.secondsUsed, r.inFlight);
    const cells = [link, `${badge(r.status)}${flight}${reason}`, int(r.runs), pct(r.bestValAccuracy), r.testAccuracy === null ? MISSING : pct(r.testAccuracy), budget, time(r.updatedAt)];
    return `<tr data-study="${escapeHtml(r.name)}">${cells.map((c) => `<td>${c}</td>`).join('')}</tr>`;
  });
  const table = [
    '<table class="studies"><thead><tr><th>Study</th><th>Status</th><th>Runs</th><th>Best validation</th><th>Test accuracy</th><th>Budget</th><th>Updated</th></tr></thead>',
    `<tbody>${body.join('\n')}</tbody></table>`,
  ].join('\n');
  return { title: 'flowtune studies', parts: [{ id: 'head', html: headHtml }, { id: 'list', html: table }], plots: {} };
}

/** The page as the browser fetches it again: each part with the hash it is compared by. */
export function pageParts(page: Page): { title: string; plots: Record<string, string>; parts: Array<PagePart & { hash: string }> } {
  return { title: page.title, plots: page.plots, parts: page.parts.map((p) => ({ ...p, hash: contentHash(p.html) })) };
}

/** The whole HTML document of a page. `api` is where the browser fetches the page again; `events` its change events. */
export function pageDocument(page: Page, urls: { api: string; events: string; plots?: string }, opts: { charts: boolean }): string {
  const scripts = [...(opts.charts ? ['vega.min.js', 'vega-lite.min.js', 'vega-embed.min.js', 'mermaid.min.js'] : []), 'page.js'];
  return [
    '<!doctype html>',
    '<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeHtml(page.title)}</title>`,
    '<link rel="stylesheet" href="/assets/page.css">',
    ...scripts.map((s) => `<script src="/assets/${s}" defer></script>`),
    '</head>',
    `<body data-api="${escapeHtml(urls.api)}" data-events="${escapeHtml(urls.events)}"${urls.plots ? ` data-plots="${escapeHtml(urls.plots)}"` : ''}>`,
    `<script type="application/json" id="plot-fingerprints">${JSON.stringify(page.plots).replace(/</g, '\\u003c')}</script>`,
    '<p id="connection" class="connection" hidden></p>',
    '<main>',
    ...pageParts(page).parts.map((p) => `<section data-part="${escapeHtml(p.id)}" data-hash="${p.hash}">\n${p.html}\n</section>`),
    '</main>',
    '<footer>flowtune · <code>tune serve</code> · read-only</footer>',
    '</body></html>',
  ].join('\n');
}
