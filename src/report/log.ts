/**
 * The one chronological decision log: every decision (the policy's, refused ones, the machine's)
 * and every run, in order, with a short "Why" and the verdict with its noise margin. PURE.
 */
import { markdownTable } from 'markdown-table';
import { cell, MISSING } from './format.ts';
import type { Entry, Story } from './story.ts';
import { verdictOf, whatOf, whyOf } from './why.ts';

export interface LogRow {
  n: number;
  /** "start", "after 3" */
  after: string;
  /** "policy", "machine", "refused" */
  by: string;
  what: string;
  why: string;
  /** The run it produced, or null. */
  run: number | null;
  verdict: string;
}

export function logRows(story: Story): LogRow[] {
  let lastRun: number | null = null;
  return story.entries.map((e: Entry) => {
    const after = e.record ? `after ${e.record.afterRun}` : e.kind === 'baseline' ? 'start' : lastRun === null ? MISSING : `after ${lastRun}`;
    if (e.run) lastRun = e.run.id;
    return row(e, after, story);
  });
}

function row(e: Entry, after: string, story: Story): LogRow {
  return {
    n: e.n,
    after,
    by: BY[e.kind],
    what: whatOf(e, story),
    why: whyOf(e, story),
    run: e.run?.id ?? null,
    verdict: verdictOf(e, story),
  };
}

/** Who decided, per kind of entry: replicates, confirmations and the final run are the machine's. */
const BY: Record<Entry['kind'], string> = { baseline: 'study', decision: 'policy', refused: 'refused', machine: 'machine', run: 'machine' };

export const LOG_HEADER = ['#', 'After', 'By', 'Decision', 'Why', 'Run', 'Verdict'];

/** The log as a Markdown table (runs link to their sections). */
export function logMarkdown(rows: LogRow[]): string {
  const body = rows.map((r) => [String(r.n), r.after, r.by, r.what, r.why, r.run === null ? MISSING : `[${r.run}](#run-${r.run})`, r.verdict]);
  return markdownTable([LOG_HEADER, ...body].map((row) => row.map(cell)), {
    align: ['r', 'l', 'l', 'l', 'l', 'r', 'l'],
    stringLength: (s) => [...s].length,
  });
}
