/**
 * What the run plot (plots.ts) and the study plot (study-plot.ts) share: the colours and sizes of
 * MATLAB's training-progress window, and the page's hover option. PURE.
 */

/** MATLAB's training-progress colours: blue accuracy, orange loss, each raw (light) and smoothed; validation black, dashed. */
export const ACCURACY_COLORS = ['#0072BD', '#A6CCEA'];
export const LOSS_COLORS = ['#D95319', '#F2B9A0'];
export const VALIDATION_COLOR = '#222222';
export const DIVERGED_COLOR = '#D62728';
export const STOPPED_COLOR = '#555555';
export const WIDTH = 560;
export const PANEL_HEIGHT = 170;

/** Plots for a page (vega-embed in a browser) rather than a file: hovering shows the numbers. */
export interface SpecOptions {
  /** Hovering a run plot marks the nearest point and shows its series, epoch, iteration and value; the study plot's points show their run, verdict and accuracy. Default false (SVG files). */
  hover?: boolean;
}

/** A finite number (NaN, ±Infinity and null, as JSON may store them, break Vega's scales). */
export function finite(x: unknown): x is number {
  return typeof x === 'number' && Number.isFinite(x);
}
