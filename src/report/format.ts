/**
 * Small pure formatters shared by the report modules. Every formatter accepts the values a
 * stored study really holds: numbers, but also null (plain JSON turns NaN and Infinity into
 * null), NaN and ±Infinity, and never throws on them.
 *
 * Networks and MATLAB calls are worded by src/training (`describeNetwork`, `toMatlabCall`), so a
 * report says the same as the rest of flowtune; the wrappers here only make them null-safe.
 */
import { describeNetwork, paramCount } from '../config/network.ts';
import { toMatlabCall } from '../config/options.ts';
import type { Decision, NetworkSpec, TrainingOptions } from '../types.ts';
import type { RunRecord } from '../store/records.ts';
import { formatInt, formatNumber } from '../util/format.ts';

/** What a missing value looks like in the report. */
export const MISSING = '—';

/** NaN → "NaN", ±Infinity → "Inf"/"-Inf" (MATLAB's spelling), null/undefined → "—"; otherwise null. */
function nonFinite(x: number | null | undefined): string | null {
  if (x === null || x === undefined) return MISSING;
  if (typeof x !== 'number') return String(x);
  if (Number.isNaN(x)) return 'NaN';
  if (x === Infinity) return 'Inf';
  if (x === -Infinity) return '-Inf';
  return null;
}

/** A 0..1 fraction as a percentage: 0.91234 → "91.23%". */
export function pct(x: number | null | undefined, decimals = 2): string {
  const bad = nonFinite(x);
  if (bad !== null) return bad;
  return `${((x as number) * 100).toFixed(decimals)}%`;
}

/** Difference of two 0..1 fractions in percentage points, signed: "+3.83 pt". */
export function points(a: number | null | undefined, b: number | null | undefined, decimals = 2): string {
  if (a === null || a === undefined || b === null || b === undefined) return MISSING;
  return pt(a - b, decimals);
}

/** A difference of 0..1 fractions in percentage points, signed with a true minus: 0.0034 → "+0.34 pt". */
export function pt(diff: number | null | undefined, decimals = 2): string {
  const bad = nonFinite(diff);
  if (bad !== null) return bad;
  return `${signedFixed((diff as number) * 100, decimals)} pt`;
}

/** A relative change as a signed percentage: 0.1442 → "+14.42%". */
export function signedPct(x: number | null | undefined, decimals = 2): string {
  const bad = nonFinite(x);
  if (bad !== null) return bad;
  return `${signedFixed((x as number) * 100, decimals)}%`;
}

/** A gap or standard error in percentage points, unsigned: 0.0383 → "3.83 pt". */
export function ptAbs(x: number | null | undefined, decimals = 2): string {
  const bad = nonFinite(x);
  if (bad !== null) return bad;
  return `${((x as number) * 100).toFixed(decimals)} pt`;
}

/** A fixed-decimals number with its sign: "+1.20", "−0.28", "0.00" (no "−0.00"). */
function signedFixed(x: number, decimals: number): string {
  const s = Math.abs(x).toFixed(decimals);
  if (Number(s) === 0) return s;
  return `${x > 0 ? '+' : '−'}${s}`;
}

/**
 * A loss, a loss difference, a slope or a standard error of one: `digits` significant digits with
 * trailing zeros kept, so a column of them lines up: 0.4590, 0.01320, 1.234e-5.
 */
export function loss(x: number | null | undefined, digits = 4): string {
  const bad = nonFinite(x);
  if (bad !== null) return bad;
  const v = x as number;
  if (v === 0) return '0';
  const abs = Math.abs(v);
  if (abs >= 10 ** digits) return String(Math.round(v));
  if (abs >= 1e-6) return v.toPrecision(digits);
  return v.toExponential(digits - 1);
}

/** `loss` with its sign, a true minus: "+0.01333", "−0.03432". */
export function signed(x: number | null | undefined, digits = 4): string {
  const bad = nonFinite(x);
  if (bad !== null) return bad === '-Inf' ? '−Inf' : bad === 'Inf' ? '+Inf' : bad;
  const v = x as number;
  if (v === 0) return '0';
  return `${v > 0 ? '+' : '−'}${loss(Math.abs(v), digits)}`;
}

/** A standard score in standard errors, one decimal: 7.2. */
export function se(z: number | null | undefined): string {
  const bad = nonFinite(z);
  if (bad !== null) return bad;
  return Math.abs(z as number) >= 100 ? String(Math.round(z as number)) : (z as number).toFixed(1);
}

/** A 95 % interval of 0..1 fractions as percentages: "89.39–90.57%". */
export function pctInterval(low: number | null | undefined, high: number | null | undefined): string {
  const a = nonFinite(low);
  const b = nonFinite(high);
  if (a !== null || b !== null) return MISSING;
  return `${((low as number) * 100).toFixed(2)}–${pct(high)}`;
}

/** The words of a text (split on white space). */
export function wordCount(text: string): number {
  return text.split(/\s+/).filter(Boolean).length;
}

/**
 * A text cut to at most `max` words: whole top-level clauses (split at "; " outside parentheses)
 * while they fit, else the first clause cut at a word boundary with "…".
 */
export function shorten(text: string, max = 25): string {
  const clean = text.replace(/\s+/g, ' ').trim();
  if (wordCount(clean) <= max) return clean;
  const clauses: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < clean.length; i++) {
    const ch = clean[i];
    if (ch === '(') depth++;
    else if (ch === ')') depth = Math.max(0, depth - 1);
    else if (ch === ';' && depth === 0) {
      clauses.push(clean.slice(start, i).trim());
      start = i + 1;
    }
  }
  clauses.push(clean.slice(start).trim());
  let out = '';
  for (const clause of clauses) {
    const next = out ? `${out}; ${clause}` : clause;
    if (wordCount(next) > max) break;
    out = next;
  }
  if (out && wordCount(out) >= max / 2) return `${out} …`;
  return `${clean.split(' ').slice(0, max - 1).join(' ')} …`;
}

/** An integer with thousands separators: 50000 → "50,000". */
export function int(x: number | null | undefined): string {
  const bad = nonFinite(x);
  if (bad !== null) return bad;
  return formatInt(x as number);
}

/** Seconds for a reader: "8.2 s", "4 min 05 s", "2 h 03 min". */
export function duration(seconds: number | null | undefined): string {
  const bad = nonFinite(seconds);
  if (bad !== null) return bad;
  const s = seconds as number;
  if (s < 0) return `-${duration(-s)}`;
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)} s`;
  const total = Math.round(s);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const sec = total % 60;
  if (h === 0) return `${m} min ${String(sec).padStart(2, '0')} s`;
  return `${h} h ${String(m).padStart(2, '0')} min`;
}

/** An ISO time as "2025-11-28 05:14:03 UTC" (fixed zone, so reports do not depend on the machine). */
export function time(iso: string | null | undefined): string {
  if (!iso) return MISSING;
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return `${d.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

/** A value as text in a Markdown table cell: pipes escaped, line breaks flattened. */
export function cell(text: string): string {
  return text.replace(/\r?\n/g, ' ').replace(/\|/g, '\\|');
}

/** A parameter value as written in decisions: numbers short, strings bare. */
export function paramValue(v: number | string | boolean | null | undefined): string {
  if (typeof v === 'number' || v === null || v === undefined) return formatNumber(v, 6, MISSING);
  return String(v);
}

/** A decision's action and parameters: "lowerLearnRate initialLearnRate=0.001". */
export function describeChange(decision: Decision | null | undefined): string {
  if (!decision) return MISSING;
  const params = Object.entries(decision.params ?? {}).map(([k, v]) => `${k}=${paramValue(v)}`);
  return [decision.action, ...params].join(' ');
}

/** What a run changed: its decision, "final retrain of run 3", or "baseline". */
export function changeText(run: RunRecord): string {
  const continues = run.continuedFrom !== null && run.continuedFrom !== undefined ? ` (continues run ${run.continuedFrom})` : '';
  if (run.change) return describeChange(run.change) + continues;
  if (run.kind === 'final') return `final retrain${run.parentId !== null && run.parentId !== undefined ? ` of run ${run.parentId}` : ''}${continues}`;
  return 'baseline';
}

/**
 * A run's learning-rate schedule in words ('' without one): "×0.1 every 11 epochs", or for a drop
 * on the run's clock (learnRateDropAtTime) "×0.1 once, after 75% of its time (in epoch 29)", the
 * epoch read from its history; a cosine "cosine to 0 over 40 epochs".
 */
export function scheduleText(run: { options?: TrainingOptions | null; result?: Pick<RunRecord['result'], 'history'> | null }): string {
  const o = run.options;
  if (o?.learnRateSchedule === 'cosine') return `cosine to 0 over ${int(o.maxEpochs)} epochs`;
  if (o?.learnRateSchedule !== 'piecewise') return '';
  if (o.learnRateDropAtTime === undefined || o.learnRateDropAtTime === null) return `×${formatNumber(o.learnRateDropFactor)} every ${int(o.learnRateDropPeriod)} epochs`;
  const iterations = run.result?.history?.iterations ?? [];
  // The drop follows the last iteration at the initial rate (a continued run's history starts with its parent's).
  let last = iterations.length - 1;
  while (last >= 0 && iterations[last].learnRate !== o.initialLearnRate) last--;
  const dropped = last >= 0 ? iterations[last + 1] : undefined;
  const when = !run.result ? '' : dropped ? ` (in epoch ${int(dropped.epoch)})` : ' (it stopped before it)';
  return `×${formatNumber(o.learnRateDropFactor)} once, after ${Math.round(100 * o.learnRateDropAtTime)}% of its time${when}`;
}

/** Evidence of a diagnosis as "key=value, key=value". */
export function describeEvidence(evidence: Record<string, number | string | boolean | null> | null | undefined): string {
  const entries = Object.entries(evidence ?? {});
  if (entries.length === 0) return MISSING;
  return entries.map(([k, v]) => `${k}=${paramValue(v)}`).join(', ');
}

// ─────────────── network and options (formatting lives in src/training; these guard it) ───────────────

/** One line from `describeNetwork` ("28×28×1 → conv3×3×20 → bn → relu → maxpool2 → fc10"); never throws. */
export function networkText(spec: NetworkSpec | null | undefined): string {
  if (!spec) return MISSING;
  try {
    return describeNetwork(spec);
  } catch {
    return json(spec);
  }
}

/**
 * Learnable parameters as MATLAB counts them (`paramCount` of the spec); the count stored by the
 * trainer when the spec cannot be counted. Null when neither is known.
 */
export function learnables(spec: NetworkSpec | null | undefined, stored: number | null | undefined): number | null {
  try {
    if (spec) return paramCount(spec);
  } catch {
    // an invalid stored spec: fall back to what the trainer counted
  }
  return typeof stored === 'number' ? stored : null;
}

/**
 * Options fields whose default is Infinity. Plain JSON stores Infinity as null, so a null read
 * back in one of these fields means Infinity (the study store keeps Infinity, but a study file
 * written by hand or by another tool may not).
 */
const INFINITE_BY_DEFAULT = ['gradientThreshold', 'validationPatience'] as const;

/** Options as read from a study file, with Infinity restored where JSON left null. */
export function reviveOptions(options: TrainingOptions): TrainingOptions {
  const out = { ...options };
  for (const key of INFINITE_BY_DEFAULT) if (out[key] === null || out[key] === undefined) out[key] = Infinity;
  return out;
}

/** `toMatlabCall` on revived options: "trainingOptions('sgdm', 'InitialLearnRate', 0.001, ...)" (options that differ from MATLAB's defaults). Never throws. */
export function matlabCall(options: TrainingOptions | null | undefined): string {
  if (!options) return MISSING;
  try {
    return toMatlabCall(reviveOptions(options));
  } catch {
    return MISSING;
  }
}

/**
 * Lays a one-line MATLAB call out one name-value pair per line with `...` continuations.
 * Splits only at top-level commas outside quotes, so any one-line call survives unchanged in meaning.
 */
export function matlabMultiline(call: string, indent = '    '): string {
  const open = call.indexOf('(');
  if (open < 0 || !call.endsWith(')')) return call;
  const head = call.slice(0, open + 1);
  const body = call.slice(open + 1, -1);
  const args: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < body.length; i++) {
    const ch = body[i];
    if (ch === "'") quoted = !quoted; // '' inside a string toggles twice: still correct
    else if (!quoted && (ch === '(' || ch === '{' || ch === '[')) depth++;
    else if (!quoted && (ch === ')' || ch === '}' || ch === ']')) depth--;
    else if (!quoted && depth === 0 && ch === ',') {
      args.push(body.slice(start, i).trim());
      start = i + 1;
    }
  }
  args.push(body.slice(start).trim());
  if (args.length < 3 || args.length % 2 === 0) return call; // not "first, name, value, ..."
  const lines = [`${head}${args[0]}`];
  for (let i = 1; i < args.length; i += 2) lines.push(`${indent}${args[i]}, ${args[i + 1]}`);
  return lines.join(', ...\n') + ')';
}

const finiteOrString = (v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v);

function flatJson(v: unknown): string {
  v = finiteOrString(v);
  if (Array.isArray(v)) return `[${v.map(flatJson).join(', ')}]`;
  if (v !== null && typeof v === 'object') {
    const entries = Object.entries(v).filter(([, x]) => x !== undefined);
    return entries.length ? `{ ${entries.map(([k, x]) => `${JSON.stringify(k)}: ${flatJson(x)}`).join(', ')} }` : '{}';
  }
  return JSON.stringify(v) ?? 'null';
}

/**
 * JSON for a code block: objects and arrays that fit on a line stay on one line (a network's
 * layers read one per line). Non-finite numbers, which JSON cannot hold, are written as the
 * strings "Infinity", "-Infinity", "NaN".
 */
export function json(value: unknown, indent = '', width = 88): string {
  const v = finiteOrString(value);
  const flat = flatJson(v);
  if (v === null || typeof v !== 'object' || indent.length + flat.length <= width) return flat;
  const inner = indent + '  ';
  if (Array.isArray(v)) return `[\n${v.map((x) => inner + json(x, inner, width)).join(',\n')}\n${indent}]`;
  const entries = Object.entries(v).filter(([, x]) => x !== undefined);
  return `{\n${entries.map(([k, x]) => `${inner}${JSON.stringify(k)}: ${json(x, inner, width)}`).join(',\n')}\n${indent}}`;
}
