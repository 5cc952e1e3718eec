/** Reports: a stored study → Markdown and SVG plots; `tune list`. */
export { renderReport, describeStop, VERDICT_MARK, type ReportOptions } from './markdown.ts';
export { renderSummaryText, TERMINAL_WIDTH } from './terminal.ts';
export { tellStory, type Story, type Entry } from './story.ts';
export { renderPlots, renderRunPlot, renderStudyPlot, runPlotSpec, studyPlotSpec, type PlotOptions } from './plots.ts';
export { writeReport, writeAtomic, type WriteOptions, type WriteResult } from './write.ts';
export { listStudies, renderStudyList, studyListRow, type StudyListRow } from './list.ts';
export { REPORT_PATH, PLOTS_DIR, STUDY_PLOT_PATH, runPlotPath } from './paths.ts';
