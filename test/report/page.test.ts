/**
 * `tune serve`'s pages, rendered from stored studies (pure): the flowchart's lit path, the
 * report's Markdown as HTML, the study page's parts (head, run in flight, failure, unreadable
 * record) and the list of studies.
 */
import { describe, expect, test } from 'vitest';
import { machineDiagram } from '../../src/machine/diagram.ts';
import { tuneMachine } from '../../src/machine/machine.ts';
import { diagramStateIds, highlightedDiagram, stateId, studyPath } from '../../src/report/flowchart.ts';
import { escapeHtml, headingId, markdownHtml } from '../../src/report/html.ts';
import { studyListRow } from '../../src/report/list.ts';
import { reportSections } from '../../src/report/markdown.ts';
import { listPage, pageDocument, pageParts, pagePlotSpec, studyPage } from '../../src/report/page.ts';
import { runPlotSpec } from '../../src/report/plots.ts';
import type { StudyRecord } from '../../src/store/records.ts';
import { budgetStoppedStudy, divergedStudy, finishedStudy, inFlightRun, runningStudy } from './__fixtures__/studies.ts';

const DIAGRAM = machineDiagram(tuneMachine);

const part = (study: StudyRecord | null, id: string, error?: string) => {
  const page = study ? studyPage({ name: study.config.name, study }, DIAGRAM) : studyPage({ name: 'broken', error: error! }, DIAGRAM);
  return page.parts.find((p) => p.id === id)?.html ?? null;
};

describe('the flowchart path', () => {
  test.each([
    ['route', 'route'],
    [{ capacity: 'training' }, 'capacity_training'],
    [{ finalise: { confirming: 'evaluating' } }, 'finalise_confirming_evaluating'],
    [null, null],
  ])('state id of %j is %s', (value, id) => expect(stateId(value)).toBe(id));

  test('a finished study passed through every step its runs and decisions name, and ends in done', () => {
    const path = studyPath(finishedStudy());
    expect(path.current).toBe('done');
    for (const s of ['baseline_training', 'baseline_evaluating', 'route', 'deciding', 'trainEnough_judging', 'trimEpochs', 'capacity_judging', 'finalise_choosingFinalists', 'finalise_confirming_evaluating', 'finalise_planning', 'finalise_training', 'finalise_choosing', 'finalise_testing', 'finalise_saving']) {
      expect(path.visited, s).toContain(s);
    }
    expect(path.visited).not.toContain('stabilise_training');
    expect(path.visited).not.toContain('failed');
  });

  test('a running study is where its snapshot says; a failed one is in failed', () => {
    const running = { ...runningStudy(), snapshot: { value: { capacity: 'training' }, status: 'active' } };
    expect(studyPath(running)).toMatchObject({ current: 'capacity_training' });
    expect(studyPath(running).visited).toEqual(expect.arrayContaining(['capacity', 'capacity_training', 'trainEnough_judging']));
    expect(studyPath({ ...divergedStudy(), status: 'failed' }).current).toBe('failed');
    expect(studyPath(divergedStudy()).visited).toContain('stabilise_judging');
  });

  test('the diagram lights only states it declares, never a whole composite state, and keeps its note in one piece', () => {
    const running = { ...runningStudy(), snapshot: { value: { capacity: 'training' } } };
    const lit = highlightedDiagram(DIAGRAM, { ...studyPath(running), visited: [...studyPath(running).visited, 'noSuchState'] });
    const lines = lit.split('\n');
    expect(lines).toContain('  class capacity_training current');
    const visited = lines.find((l) => l.endsWith(' visited') && l.startsWith('  class '))!.replace('  class ', '').replace(' visited', '').split(',');
    const leaves = diagramStateIds(DIAGRAM, false);
    expect(visited.length).toBeGreaterThan(3);
    for (const id of visited) expect(leaves, id).toContain(id);
    expect(visited).not.toContain('capacity'); // composite
    expect(visited).not.toContain('noSuchState');
    expect(visited).not.toContain('capacity_training'); // it is the current one
    // Mermaid ends a statement at ';': the generated diagram's notes have none.
    expect(lit).toMatch(/^\s*note right of failed: /m);
    expect(lit).not.toMatch(/^\s*note [^\n]*;/m);
    // Everything else is the generated diagram, unchanged.
    expect(lit.startsWith(DIAGRAM.split('\n  note')[0])).toBe(true);
  });
});

describe('the report as HTML', () => {
  test('headings keep the anchors the report links to, plots become figures, tables stay tables', () => {
    const html = markdownHtml(reportSections(finishedStudy()).flatMap((s) => s.lines).join('\n'));
    expect(html).toContain('<h3 id="run-3">Run 3</h3>');
    expect(html).toContain('<a href="#run-3">3</a>');
    expect(html).toMatch(/<figure class="plot" data-plot="study"[^>]*><noscript><img src="plots\/study.svg"/);
    expect(html).toContain('data-plot="run-9"');
    expect(html).not.toMatch(/<p>\s*<figure/);
    expect(html).toContain('<details><summary>Network as JSON</summary>');
    expect(html).toMatch(/<table>[\s\S]*<th[^>]*>Why<\/th>/);
  });

  test('raw HTML and script links from elsewhere are escaped, not run', () => {
    const html = markdownHtml('A reason <script>alert(1)</script> <img src=x onerror=alert(2)> [click](javascript:alert(3)) <details>');
    expect(html).not.toContain('<script>');
    expect(html).not.toContain('<img');
    expect(html).not.toContain('javascript:');
    expect(html).toContain('&lt;script&gt;');
    expect(html).toContain('<details>');
  });

  test.each([
    ['Run 12', 'run-12'],
    ['Decision log', 'decision-log'],
    ['Study `fashion-x`', 'study-fashion-x'],
    ['What to use', 'what-to-use'],
  ])('heading %s has id %s', (text, id) => expect(headingId(text)).toBe(id));

  test('escapeHtml', () => expect(escapeHtml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;'));
});

describe('the study page', () => {
  test('a finished study is the report: every section, the lit flowchart, a plot per run', () => {
    const study = finishedStudy();
    const page = studyPage({ name: 'finished', study }, DIAGRAM);
    expect(page.parts.map((p) => p.id)).toEqual(['head', 'live', 'flowchart', 'summary', 'use', 'log', 'test', 'data', 'settings', 'runs', ...study.runs.map((r) => `run-${r.id}`), 'footer']);
    expect(part(study, 'head')).toContain('<span class="badge finished">finished</span>');
    expect(part(study, 'live')).toBe('');
    expect(part(study, 'flowchart')).toContain('class done current');
    expect(part(study, 'summary')).toContain('Test accuracy');
    expect(part(study, 'log')).toContain('Verdict');
    expect(Object.keys(page.plots).sort()).toEqual(['study', ...study.runs.map((r) => `run-${r.id}`)].sort());
  });

  test('a running study shows the run in flight: its epoch, time left, and numbers', () => {
    const study = { ...runningStudy(), inFlight: inFlightRun() };
    const live = part(study, 'live')!;
    expect(live).toContain('data-run="3" data-epoch="4"');
    expect(live).toContain('In flight: run 3');
    expect(live).toContain('<span class="epoch">4</span> of 10');
    expect(live).toContain('<span class="time-left">≈ 20 s</span>');
    expect(live).toContain('87.31% (latest)');
    expect(live).toContain('2,410 images/s');
    // Under it, the latest decisions of the log, with their why and verdict.
    expect(live).toMatch(/<table class="latest">[\s\S]*<th>Why<\/th>[\s\S]*deepen filters=40/);
    expect([...live.matchAll(/<tr><td>/g)]).toHaveLength(3);
    expect(part({ ...study, inFlight: inFlightRun({ secondsLeft: 7.25 }) }, 'live')).toContain('<span class="time-left">≈ 7.3 s</span>');
    expect(part({ ...study, inFlight: inFlightRun({ secondsLeft: null }) }, 'live')).toContain('estimating (after its first epoch)');
    // Between runs: what the machine is doing instead.
    expect(part({ ...study, inFlight: null, snapshot: { value: { capacity: 'evaluating' } } }, 'live')).toContain('<code>capacity › evaluating</code>');
    // A study that is not running shows no run in flight, even with a stale one stored.
    expect(part({ ...study, status: 'stopped' }, 'live')).toBe('');
  });

  test('the budget bar counts the run in flight', () => {
    const study = { ...runningStudy(), inFlight: inFlightRun({ budgetSecondsLeft: 1500 }) };
    study.config = { ...study.config, budgetSeconds: 1800 };
    expect(part(study, 'head')).toContain('5 min 00 s of 30 min 00 s (17%)');
    expect(part(study, 'head')).toMatch(/<meter [^>]*value="0\.1667"/);
  });

  test('a failed study says why, and keeps its runs', () => {
    const study = { ...divergedStudy(), status: 'failed' as const, statusReason: 'the policy returned 5 refused actions in a row' };
    expect(part(study, 'head')).toContain('<strong>The study failed:</strong> the policy returned 5 refused actions in a row');
    expect(part(study, 'head')).toContain('Its 2 finished runs are kept below.');
    expect(part(study, 'run-2')).toContain('Run 2');
    expect(part(budgetStoppedStudy(), 'head')).toContain('<strong>Stopped:</strong> time budget of 1 min used up during run 3');
  });

  test('an unreadable record is an error panel naming why, and nothing else', () => {
    const page = studyPage({ name: 'broken', error: 'reports/broken/study.json is not a readable study file (Unexpected token <)' }, DIAGRAM);
    expect(page.parts.map((p) => p.id)).toEqual(['head']);
    expect(page.parts[0].html).toContain("This study's record cannot be read.");
    expect(page.parts[0].html).toContain('(Unexpected token &lt;)');
    expect(page.plots).toEqual({});
  });

  test('the document carries each part with its hash, the plots to draw, and no inline script', () => {
    const page = studyPage({ name: 'finished', study: finishedStudy() }, DIAGRAM);
    const doc = pageDocument(page, { api: '/api/studies/finished', events: '/api/studies/finished/events', plots: '/api/studies/finished/plots' }, { charts: true });
    for (const p of pageParts(page).parts) expect(doc).toContain(`<section data-part="${p.id}" data-hash="${p.hash}">`);
    expect(doc).toContain('<script src="/assets/vega-embed.min.js" defer></script>');
    expect(doc).toContain('<script src="/assets/mermaid.min.js" defer></script>');
    expect([...doc.matchAll(/<script(?![^>]*(src=|type="application\/json"))/g)]).toEqual([]);
    // A changed part changes its hash, the others keep theirs.
    const later = pageParts(studyPage({ name: 'finished', study: { ...finishedStudy(), status: 'running', inFlight: inFlightRun() } }, DIAGRAM));
    const before = Object.fromEntries(pageParts(page).parts.map((p) => [p.id, p.hash]));
    const after = Object.fromEntries(later.parts.map((p) => [p.id, p.hash]));
    expect(after.live).not.toBe(before.live);
    expect(after['run-3']).toBe(before['run-3']);
  });

  test("plots for the page are the report's specs, with the epoch on hover", () => {
    const study = finishedStudy();
    const spec = pagePlotSpec(study, 'run-2') as any;
    const plain = runPlotSpec(study.runs[1]) as any;
    expect(spec.title).toEqual(plain.title);
    const hover = spec.vconcat[0].layer.at(-1);
    expect(hover.params[0].select).toMatchObject({ type: 'point', nearest: true, on: 'pointerover' });
    expect(hover.encoding.tooltip.map((t: { field: string }) => t.field)).toEqual(['series', 'epoch', 'iteration', 'value']);
    expect(hover.data.values.every((p: { epoch?: number }) => Number.isInteger(p.epoch))).toBe(true);
    expect(plain.vconcat[0].layer).toHaveLength(spec.vconcat[0].layer.length - 1);
    expect((pagePlotSpec(study, 'study') as any).layer[2].encoding.tooltip).toBeDefined();
    expect(pagePlotSpec(study, 'run-99')).toBeNull();
  });
});

describe('the list of studies', () => {
  test('a row per study with status, runs, accuracies and budget; an unreadable one says why', () => {
    const rows = [
      { ...studyListRow({ ...runningStudy(), inFlight: inFlightRun() }, '/r/running'), budgetSeconds: 600 },
      studyListRow(finishedStudy(), '/r/finished'),
      { name: 'broken', dir: '/r/broken', status: 'unreadable' as const, statusReason: 'study.json: Unexpected end of JSON input', runs: 0, bestValAccuracy: null, testAccuracy: null, updatedAt: null, budgetSeconds: null, secondsUsed: 0, inFlight: null },
    ];
    const html = listPage(rows, '/r').parts.find((p) => p.id === 'list')!.html;
    expect(html).toContain('<a href="/studies/running/">running</a>');
    expect(html).toContain('run 3, epoch 4 of 10');
    expect(html).toMatch(/<tr data-study="finished">.*badge finished.*<td>9<\/td>/);
    expect(html).toContain('study.json: Unexpected end of JSON input');
    expect(html).toMatch(/<tr data-study="running">.*<meter /);
    expect(listPage([], '/r').parts[1].html).toContain('No studies yet');
  });
});
