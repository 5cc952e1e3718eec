/**
 * The thin writer: puts `report.md` and `plots/*.svg` into a study folder. Every file is written
 * to a temporary name and renamed into place, so a reader never sees half a file; plots are
 * written before the report, so the report never links a plot that is not there yet.
 *
 * Called after every run, so it skips run plots that are already current: a plot is re-rendered
 * when it is missing, when its fingerprint (stamped in the SVG) no longer matches the run, or
 * when the caller names the run in `refresh`. The study plot is always re-rendered.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { StudyRecord } from '../store/records.ts';
import { renderReport, type ReportOptions } from './markdown.ts';
import { PLOTS_DIR, REPORT_PATH, runPlotPath, STUDY_PLOT_PATH } from './paths.ts';
import { readFingerprint, renderRunPlot, renderStudyPlot, runPlotFingerprint } from './plots.ts';

export interface WriteOptions extends ReportOptions {
  /** Re-render these runs' plots even if their SVG looks current. */
  refresh?: Iterable<number>;
}

export interface WriteResult {
  /** Absolute path of the report written. */
  report: string;
  /** Plots rendered this time, relative to the study folder (the others were current). */
  rendered: string[];
}

/** Writes `text` to `file` through a temporary file in the same folder and a rename. */
export async function writeAtomic(file: string, text: string): Promise<void> {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, text, 'utf8');
    await rename(tmp, file);
  } catch (error) {
    await unlink(tmp).catch(() => undefined);
    throw error;
  }
}

/** The fingerprint stamped in an existing SVG, or null when there is no readable file. */
async function storedFingerprint(file: string): Promise<string | null> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch {
    return null;
  }
  try {
    const buffer = Buffer.alloc(2000);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    return readFingerprint(buffer.subarray(0, bytesRead).toString('utf8'));
  } finally {
    await handle.close();
  }
}

/** Writes the report and its plots into `dir` (the study folder). */
export async function writeReport(study: StudyRecord, dir: string, opts: WriteOptions = {}): Promise<WriteResult> {
  const refresh = new Set(opts.refresh ?? []);
  const plots = opts.plots ?? true;
  const rendered: string[] = [];
  if (plots) {
    await mkdir(path.join(dir, PLOTS_DIR), { recursive: true });
    for (const run of study.runs) {
      const rel = runPlotPath(run.id);
      const file = path.join(dir, rel);
      if (!refresh.has(run.id) && (await storedFingerprint(file)) === runPlotFingerprint(run)) continue;
      await writeAtomic(file, await renderRunPlot(run));
      rendered.push(rel);
    }
    await writeAtomic(path.join(dir, STUDY_PLOT_PATH), await renderStudyPlot(study));
    rendered.push(STUDY_PLOT_PATH);
  } else {
    await mkdir(dir, { recursive: true });
  }
  const report = path.resolve(dir, REPORT_PATH);
  await writeAtomic(report, renderReport(study, { plots }));
  return { report, rendered };
}
