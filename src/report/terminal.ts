/**
 * `tune show NAME` (and `tune report NAME --summary`): the summary and the decision log as plain
 * text within a terminal's width (100 columns by default). PURE: text wrapping and a table whose
 * long columns wrap inside their cells.
 */
import type { StudyRecord } from '../store/records.ts';
import { int } from './format.ts';
import { LOG_HEADER, logRows } from './log.ts';
import { tellStory } from './story.ts';
import { summaryItems } from './summary.ts';

/** The default width of terminal output. */
export const TERMINAL_WIDTH = 100;

const length = (s: string) => [...s].length;

/** Markdown emphasis and code marks removed, links to their text. */
export function plain(text: string): string {
  return text.replace(/\*\*(.+?)\*\*/g, '$1').replace(/`([^`]*)`/g, '$1').replace(/\[([^\]]+)\]\([^)]*\)/g, '$1');
}

/** Words wrapped to `width` columns; a word longer than the width is cut. */
export function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (let word of text.split(/\s+/).filter(Boolean)) {
    while (length(word) > width) {
      if (line) lines.push(line);
      line = '';
      lines.push([...word].slice(0, width).join(''));
      word = [...word].slice(width).join('');
    }
    if (!word) continue;
    if (!line) line = word;
    else if (length(line) + 1 + length(word) <= width) line += ` ${word}`;
    else {
      lines.push(line);
      line = word;
    }
  }
  if (line || lines.length === 0) lines.push(line);
  return lines;
}

/** `first` then continuation lines indented by `indent`, all within `width`. */
function hanging(first: string, text: string, indent: number, width: number): string[] {
  const lead = /^\s*/.exec(first)![0];
  const [head, ...rest] = wrap(`${first.trimStart()}${text}`, width - lead.length);
  if (rest.length === 0) return [lead + head];
  return [lead + head, ...wrap(rest.join(' '), width - indent).map((l) => ' '.repeat(indent) + l)];
}

export interface TextTableOptions {
  width: number;
  /** Columns that may wrap (indices); the others keep their natural width. */
  wrap: number[];
  /** Relative share of the free width per wrapping column (default 1 each). */
  weights?: Record<number, number>;
  /** 'r' right-aligns a column. */
  align?: string[];
  /** Narrowest a wrapping column gets. */
  minWidth?: number;
}

/** A table of plain text within `width` columns: two spaces between columns, a rule under the header. */
export function textTable(header: string[], rows: string[][], opts: TextTableOptions): string[] {
  const cols = header.length;
  const natural = header.map((h, i) => Math.max(length(h), ...rows.map((r) => length(r[i] ?? ''))));
  // A wrapping column is at least as wide as its longest word (up to 24), so words are not cut.
  const longestWord = header.map((h, i) => Math.min(24, Math.max(...[h, ...rows.map((r) => r[i] ?? '')].flatMap((c) => c.split(/\s+/)).map(length))));
  const gap = 2;
  const fixed = natural.reduce((s, w, i) => s + (opts.wrap.includes(i) ? 0 : w), 0) + gap * (cols - 1);
  const widths = [...natural];
  let available = opts.width - fixed;
  let open = opts.wrap.filter((i) => i < cols);
  // Give each wrapping column what it needs when that is less than its weighted share; split the rest.
  const weight = (i: number) => opts.weights?.[i] ?? 1;
  for (;;) {
    const total = open.reduce((sum, i) => sum + weight(i), 0);
    const share = (i: number) => Math.floor((available * weight(i)) / Math.max(1e-9, total));
    const small = open.filter((i) => natural[i] <= share(i));
    if (small.length === 0) {
      for (const i of open) widths[i] = Math.max(opts.minWidth ?? 8, longestWord[i], share(i));
      break;
    }
    for (const i of small) {
      widths[i] = natural[i];
      available -= natural[i];
    }
    open = open.filter((i) => !small.includes(i));
    if (open.length === 0) break;
  }
  // Minimum widths may overshoot: take the excess from the widest wrapping columns.
  const floor = (i: number) => Math.max(opts.minWidth ?? 8, Math.min(longestWord[i], 12));
  for (let total = widths.reduce((a, b) => a + b, 0) + gap * (cols - 1); total > opts.width; total--) {
    const widest = opts.wrap.filter((i) => widths[i] > floor(i)).sort((a, b) => widths[b] - widths[a])[0];
    if (widest === undefined) break;
    widths[widest]--;
  }
  const pad = (s: string, i: number) => (opts.align?.[i] === 'r' ? ' '.repeat(Math.max(0, widths[i] - length(s))) + s : s + ' '.repeat(Math.max(0, widths[i] - length(s))));
  const render = (cells: string[]) => {
    const wrapped = cells.map((c, i) => (opts.wrap.includes(i) ? wrap(c, widths[i]) : [c]));
    const height = Math.max(...wrapped.map((w) => w.length));
    const out: string[] = [];
    for (let k = 0; k < height; k++) out.push(wrapped.map((w, i) => pad(w[k] ?? '', i)).join(' '.repeat(gap)).trimEnd());
    return out;
  };
  return [...render(header), widths.map((w) => '─'.repeat(w)).join(' '.repeat(gap)), ...rows.flatMap(render)];
}

/** The summary and the decision log of a study, as terminal text within `width` columns. */
export function renderSummaryText(study: StudyRecord, opts: { width?: number; studyDir?: string } = {}): string {
  const width = opts.width ?? TERMINAL_WIDTH;
  const story = tellStory(study);
  const c = study.config;
  const lines: string[] = [];
  const status = `${study.status}${study.statusReason ? `: ${study.statusReason}` : ''}`;
  lines.push(...hanging('', `Study ${c?.name ?? ''} — ${status}; ${study.dataset?.name ?? c?.data} (${int(study.dataset?.trainCount)} training images), policy ${study.policy?.name ?? c?.policy}`, 2, width), '');
  for (const item of summaryItems(study, story)) {
    lines.push(...hanging(`${item.label}: `, plain(item.text), 2, width));
    for (const p of item.points ?? []) lines.push(...hanging('  - ', plain(p), 4, width));
  }
  if (opts.studyDir && study.final) lines.push(...hanging('Model: ', `${opts.studyDir.replace(/\/$/, '')}/${study.final.modelDir}/ (classify one image: see "What to use" in report.md)`, 2, width));
  lines.push('', 'Decision log', '');
  const rows = logRows(story).map((r) => [String(r.n), r.after, r.by, r.what, r.why, r.run === null ? '—' : String(r.run), r.verdict]);
  lines.push(...textTable(LOG_HEADER, rows, { width, wrap: [3, 4, 6], weights: { 3: 1.2, 4: 2, 6: 1.4 }, align: ['r', 'l', 'l', 'l', 'l', 'r', 'l'] }));
  return lines.join('\n') + '\n';
}
