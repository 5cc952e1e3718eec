/**
 * `tune list`: one row per study folder under reports/. A folder without `study.json` is not a
 * study and is skipped; a `study.json` that cannot be read is listed as unreadable (with why)
 * rather than hidden or fatal, so one broken study does not hide the others.
 */
import { access, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { markdownTable } from 'markdown-table';
import { parseStudy, STUDY_FILE } from '../store/study-store.ts';
import type { InFlightRun, StudyRecord, StudyStatus } from '../store/records.ts';
import { cell, MISSING, pct, time } from './format.ts';
import { counted } from '../util/format.ts';

export interface StudyListRow {
  /** Folder name under the reports folder (the study name). */
  name: string;
  /** The study folder. */
  dir: string;
  status: StudyStatus | 'unreadable';
  /** Why it stopped or failed; for an unreadable study, why it could not be read. */
  statusReason: string | null;
  /** Finished runs. */
  runs: number;
  /** Best validation accuracy of any run (0..1; on the fixed validation set when evaluated there), or null. */
  bestValAccuracy: number | null;
  /** Test accuracy of the final evaluation (0..1), or null before it. */
  testAccuracy: number | null;
  /** ISO time of the last update, or null. */
  updatedAt: string | null;
  /** The time budget (null: none) and the seconds used as last stored. */
  budgetSeconds: number | null;
  secondsUsed: number;
  /** The run being trained, while the study runs (else null). */
  inFlight: InFlightRun | null;
}

/** The list row of one stored study. */
export function studyListRow(study: StudyRecord, dir: string): StudyListRow {
  // On the fixed validation set where the run was evaluated on it (the number verdicts compare), else its own validation series.
  const accuracies = (study.runs ?? []).map((r) => r.evaluation?.accuracy ?? r.bestValAccuracy).filter((a): a is number => typeof a === 'number' && Number.isFinite(a));
  return {
    name: path.basename(dir),
    dir,
    status: study.status,
    statusReason: study.statusReason ?? null,
    runs: study.runs?.length ?? 0,
    bestValAccuracy: accuracies.length ? Math.max(...accuracies) : null,
    testAccuracy: study.final?.testAccuracy ?? null,
    updatedAt: study.updatedAt ?? null,
    budgetSeconds: study.config?.budgetSeconds ?? null,
    secondsUsed: study.budget?.secondsUsed ?? 0,
    inFlight: study.status === 'running' ? study.inFlight ?? null : null,
  };
}

/** How `listStudies` reads a stored record (throwing when it cannot): by default the file parsed; `tune serve` passes its cache. */
export type StudyReader = (file: string) => Promise<StudyRecord>;

const readRecord: StudyReader = async (file) => parseStudy(await readFile(file, 'utf8'));

/** Reads `<reportsDir>/<name>/study.json` for every folder; most recently updated first. A missing reportsDir lists nothing. */
export async function listStudies(reportsDir: string, read: StudyReader = readRecord): Promise<StudyListRow[]> {
  let entries;
  try {
    entries = await readdir(reportsDir, { withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const rows: StudyListRow[] = [];
  for (const entry of entries) {
    if (!entry.isDirectory()) continue;
    const dir = path.join(reportsDir, entry.name);
    try {
      await access(path.join(dir, STUDY_FILE));
    } catch {
      continue; // not a study folder
    }
    try {
      rows.push(studyListRow(await read(path.join(dir, STUDY_FILE)), dir));
    } catch (error) {
      rows.push({
        name: entry.name,
        dir,
        status: 'unreadable',
        statusReason: `${STUDY_FILE}: ${(error as Error).message}`,
        runs: 0,
        bestValAccuracy: null,
        testAccuracy: null,
        updatedAt: null,
        budgetSeconds: null,
        secondsUsed: 0,
        inFlight: null,
      });
    }
  }
  return rows.sort((a, b) => (b.updatedAt ?? '').localeCompare(a.updatedAt ?? '') || a.name.localeCompare(b.name));
}

function shorten(text: string, max = 60): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** The `tune list` table, or a hint when there is no study. */
export function renderStudyList(rows: readonly StudyListRow[], reportsDir = 'reports'): string {
  if (rows.length === 0) return `No studies in ${reportsDir}. Start one with \`tune --data fashion\`.\n`;
  const body = rows.map((r) => [
    r.name,
    r.statusReason && r.status !== 'running' && r.status !== 'finished' ? `${r.status}: ${shorten(r.statusReason)}` : r.status,
    String(r.runs),
    pct(r.bestValAccuracy),
    r.testAccuracy === null ? MISSING : pct(r.testAccuracy),
    time(r.updatedAt),
  ]);
  const table = markdownTable(
    [['Study', 'Status', 'Runs', 'Best val acc', 'Test acc', 'Updated'], ...body].map((row) => row.map(cell)),
    { align: ['l', 'l', 'r', 'r', 'r', 'l'], stringLength: (s) => [...s].length },
  );
  return `${table}\n\n${counted(rows.length, 'study', 'studies')} in ${reportsDir}.\n`;
}
