/** Where the report's files live, relative to the study folder (reports/<name>/). */

/** The Markdown report. */
export const REPORT_PATH = 'report.md';

/** Folder of the SVG plots. */
export const PLOTS_DIR = 'plots';

/** The study plot: best validation accuracy so far against images trained. */
export const STUDY_PLOT_PATH = `${PLOTS_DIR}/study.svg`;

/** One run's training-progress plot. */
export function runPlotPath(runId: number): string {
  return `${PLOTS_DIR}/run-${runId}.svg`;
}
