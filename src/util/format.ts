/**
 * Numbers in words (PURE), one definition each: the machine's and the policies' reasons, the
 * report and the terminal print a number the same way.
 */

/**
 * A number for a sentence or a report: `digits` significant digits (3 unless asked), no trailing
 * zeros — 0.312, 27, 0.0001, 1e-7, 1731712 (integers whole). NaN → "NaN", ±Infinity → "Inf" /
 * "-Inf" (MATLAB's spelling, as in the options a report prints), null/undefined → `missing`.
 */
export function formatNumber(value: number | null | undefined, digits = 3, missing = 'n/a'): string {
  if (value === null || value === undefined) return missing;
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return 'Inf';
  if (value === -Infinity) return '-Inf';
  if (value === 0) return '0';
  if (Number.isInteger(value) && Math.abs(value) < 1e15) return String(value);
  const abs = Math.abs(value);
  if (abs >= 1e-4 && abs < 1e15) return String(Number(value.toPrecision(digits)));
  return value.toExponential(digits - 1).replace(/\.?0+e/, 'e');
}

/**
 * A value compared with a limit: like formatNumber, with one more digit when the two would
 * print the same (a gap of 0.1004 against 0.1 reads "0.1004 > 0.1", not "0.1 > 0.1").
 */
export function formatAgainst(value: number, limit: number): string {
  const text = formatNumber(value);
  if (value === limit || !Number.isFinite(value) || text !== formatNumber(limit)) return text;
  for (let digits = 4; digits <= 12; digits++) {
    const finer = String(Number(value.toPrecision(digits)));
    if (finer !== formatNumber(limit)) return finer;
  }
  return text;
}

/** A relative change as a signed percentage: 0.22 → "+22%", −0.0976 → "−9.8%". */
export function formatChange(fraction: number): string {
  if (!Number.isFinite(fraction)) return String(fraction);
  const percent = Math.abs(fraction * 100);
  const digits = percent >= 100 ? String(Math.round(percent)) : String(Number(percent.toPrecision(2)));
  if (digits === '0') return '0%';
  return `${fraction < 0 ? '−' : '+'}${digits}%`;
}

/** A fraction as an unsigned percentage: 0.5 → "50%". */
export function formatPercent(fraction: number): string {
  if (!Number.isFinite(fraction)) return String(fraction);
  const percent = Math.abs(fraction * 100);
  return `${percent >= 100 ? Math.round(percent) : Number(percent.toPrecision(2))}%`;
}

/**
 * A whole number with thousands separators: 50000 → "50,000" (rounded if it is not whole). For
 * finite numbers; the report's `int` adds the missing-value spellings around it.
 */
export function formatInt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** A noun agreeing with a count: (1, 'run') → "run", (3, 'run') → "runs", (2, 'study', 'studies') → "studies". */
export function noun(n: number, singular: string, plural = `${singular}s`): string {
  return n === 1 ? singular : plural;
}

/** A count and its noun: (1, 'run') → "1 run", (0, 'run') → "0 runs", (12000, 'image') → "12,000 images". */
export function counted(n: number, singular: string, plural = `${singular}s`): string {
  return `${formatInt(n)} ${noun(n, singular, plural)}`;
}
