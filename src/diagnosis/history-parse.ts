/**
 * `tune diagnose FILE`: parse a training history written by another tool into a TrainingCurve.
 *
 * Accepted:
 * - Keras `History.history` as JSON (`json.dump(history.history, f)`): `loss` (required),
 *   `accuracy`|`acc`, `val_loss`, `val_accuracy`|`val_acc`, `lr`|`learning_rate`, one value
 *   per epoch. Python writes bare `NaN`, `Infinity`, `-Infinity`; they are read as numbers.
 *   `{"history": {...}}` (a wrapper object) is accepted too.
 * - MATLAB training info as CSV: columns `Epoch`, `Iteration`, `TrainingLoss` (required),
 *   `TrainingAccuracy`, `ValidationLoss`, `ValidationAccuracy`, `BaseLearnRate`|`LearnRate`;
 *   one row per iteration; validation only on some rows.
 *
 * Accuracies may be fractions (0–1, as Keras writes them) or percentages (0–100, as MATLAB does),
 * in either format: the unit is detected from the values' range (`detectAccuracyUnit`), stated in
 * the answer, and refused as ambiguous (exit 2, naming the columns) when the range cannot tell —
 * then `--accuracy-unit` says which.
 *
 * Pure: text in, TrainingCurve out. `readHistoryFile` (src/history-file.ts) does the reading.
 */
import { UserError } from '../errors.ts';
import type { TrainingCurve } from '../types.ts';
import { mean } from '../util/stats.ts';
import { noun } from '../util/format.ts';

type CurveEpoch = TrainingCurve['epochs'][number];

export const KERAS_EXPECTED = 'a Keras History.history JSON object ({"loss": [...], "accuracy": [...], "val_loss": [...], "val_accuracy": [...]}, one value per epoch)';
export const MATLAB_EXPECTED = 'a MATLAB training-info CSV with a header row (Epoch,Iteration,TrainingLoss,TrainingAccuracy,ValidationLoss,ValidationAccuracy,BaseLearnRate)';

/** The unit of accuracy values: fractions 0–1 or percentages 0–100. */
export type AccuracyUnit = 'fraction' | 'percent';

/** Which unit a history's accuracies were read in, and why (for the answer of `tune diagnose`). */
export interface AccuracyReading {
  unit: AccuracyUnit;
  /** 'detected' from the values' range, 'given' by --accuracy-unit, 'none' when there are no accuracy values. */
  how: 'detected' | 'given' | 'none';
  /** One sentence: "read as fractions (0–1): no value above 1 (TrainingAccuracy up to 0.93)". */
  note: string;
}

/** A parsed history: the curve (accuracies as fractions 0..1) and how its accuracies were read. */
export interface ParsedHistory {
  curve: TrainingCurve;
  accuracy: AccuracyReading;
}

/** Below this highest value, accuracies are too small to tell fractions from percentages (both readings mean under 1 %). */
export const AMBIGUOUS_BELOW = 0.01;

/** One accuracy column of a file: its name as written and its finite values. */
export interface AccuracyColumn {
  name: string;
  values: number[];
}

const fmt = (x: number) => String(Number(x.toPrecision(4)));

/**
 * The unit of a history's accuracy columns, from their range. A highest value above 1 can only be
 * a percentage; a highest value in (AMBIGUOUS_BELOW, 1] is a fraction (as a percentage it would
 * mean under 1 % accuracy, worse than chance for any classifier of fewer than 100 classes). A
 * column whose highest value is at most AMBIGUOUS_BELOW (but not all zero) cannot tell, and
 * follows the other columns. Refused (UserError): negative values or values above 100, columns
 * that disagree, and a file whose columns all cannot tell — unless `given` names the unit, which is
 * then only checked against the range.
 */
export function detectAccuracyUnit(columns: readonly AccuracyColumn[], source: string, given?: AccuracyUnit): AccuracyReading {
  const present = columns.filter((c) => c.values.length > 0);
  for (const c of present) {
    const low = Math.min(...c.values);
    const high = Math.max(...c.values);
    if (low < 0 || high > 100) {
      throw new UserError(`History file ${source}: ${c.name} holds ${low < 0 ? fmt(low) : fmt(high)}, which is no accuracy (fractions 0–1 or percentages 0–100).`);
    }
  }
  if (present.length === 0) return { unit: given ?? 'fraction', how: given ? 'given' : 'none', note: 'no accuracy values in the file' };
  const highs = present.map((c) => ({ name: c.name, high: Math.max(...c.values) }));
  const range = highs.map((h) => `${h.name} up to ${fmt(h.high)}`).join(', ');
  if (given) {
    const over = highs.find((h) => h.high > 1);
    if (given === 'fraction' && over) {
      throw new UserError(`History file ${source}: --accuracy-unit fraction, but ${over.name} goes up to ${fmt(over.high)}; fractions are at most 1. Use --accuracy-unit percent.`);
    }
    return { unit: given, how: 'given', note: `read as ${given === 'percent' ? 'percentages (0–100)' : 'fractions (0–1)'} as --accuracy-unit says (${range})` };
  }
  const percent = highs.filter((h) => h.high > 1);
  const fraction = highs.filter((h) => h.high > AMBIGUOUS_BELOW && h.high <= 1);
  const what = `give --accuracy-unit fraction or --accuracy-unit percent`;
  if (percent.length > 0 && fraction.length > 0) {
    throw new UserError(
      `History file ${source}: its accuracy columns disagree: ${fraction.map((h) => `${h.name} reads as fractions (highest ${fmt(h.high)})`).join(', ')} but ` +
        `${percent.map((h) => `${h.name} as percentages (highest ${fmt(h.high)})`).join(', ')}. Write them in one unit, or ${what}.`,
    );
  }
  if (percent.length > 0) return { unit: 'percent', how: 'detected', note: `read as percentages (0–100): values above 1 (${range})` };
  if (fraction.length > 0) return { unit: 'fraction', how: 'detected', note: `read as fractions (0–1): no value above 1 (${range})` };
  if (highs.every((h) => h.high === 0)) return { unit: 'fraction', how: 'detected', note: `0 throughout (${range}): the same in either unit` };
  throw new UserError(
    `History file ${source}: the accuracies are too small to tell fractions from percentages (${range}: under 1 % either way). ${what[0].toUpperCase()}${what.slice(1)} to say which.`,
  );
}

/** Parse history text; `name` is used in error messages. Format by content: `{` → JSON, else CSV. */
export function parseHistoryText(text: string, name: string, options: { accuracyUnit?: AccuracyUnit } = {}): TrainingCurve {
  return parseHistory(text, name, options).curve;
}

/** Parse history text, and say how its accuracies were read. */
export function parseHistory(text: string, name: string, options: { accuracyUnit?: AccuracyUnit } = {}): ParsedHistory {
  const trimmed = text.trim();
  if (trimmed === '') throw new UserError(`History file ${name} is empty. Expected ${KERAS_EXPECTED} or ${MATLAB_EXPECTED}.`);
  let parsed: { curve: TrainingCurve; columns: AccuracyColumn[] };
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) parsed = parseKerasHistory(trimmed, name);
  else if (trimmed.split(/\r?\n/, 1)[0].includes(',')) parsed = parseMatlabCsv(trimmed, name);
  else throw new UserError(`History file ${name} is in an unknown format (neither JSON nor CSV). Expected ${KERAS_EXPECTED} or ${MATLAB_EXPECTED}.`);
  const accuracy = detectAccuracyUnit(parsed.columns, name, options.accuracyUnit);
  if (accuracy.unit === 'percent') {
    const scale = (x: number | null) => (x === null || !Number.isFinite(x) ? x : x / 100);
    for (const e of parsed.curve.epochs) {
      e.accuracy = scale(e.accuracy);
      e.valAccuracy = scale(e.valAccuracy);
    }
  }
  return { curve: parsed.curve, accuracy };
}

// ───────────────────────────── JSON with NaN / Infinity ─────────────────────────────

const NAN_SENTINEL = '\u0000flowtune:NaN';
const TOKENS: Array<[string, string]> = [
  ['-Infinity', '-1e999'],
  ['Infinity', '1e999'],
  ['NaN', JSON.stringify(NAN_SENTINEL)],
];

/**
 * JSON.parse that also accepts Python's bare `NaN`, `Infinity` and `-Infinity` outside strings
 * (strings containing those words are left alone). Throws SyntaxError like JSON.parse.
 */
export function parseJsonWithNonFinite(text: string): unknown {
  let out = '';
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (inString) {
      out += ch;
      if (ch === '\\') out += text[++i] ?? '';
      else if (ch === '"') inString = false;
      continue;
    }
    if (ch === '"') {
      inString = true;
      out += ch;
      continue;
    }
    const token = TOKENS.find(([word]) => text.startsWith(word, i) && !/[A-Za-z0-9_]/.test(text[i + word.length] ?? ''));
    if (token && !/[A-Za-z0-9_]/.test(text[i - 1] ?? '')) {
      out += token[1];
      i += token[0].length - 1;
      continue;
    }
    out += ch;
  }
  return JSON.parse(out, (_key, value) => (value === NAN_SENTINEL ? NaN : value));
}

// ───────────────────────────── Keras ─────────────────────────────

function parseKerasHistory(text: string, name: string): { curve: TrainingCurve; columns: AccuracyColumn[] } {
  let data: unknown;
  try {
    data = parseJsonWithNonFinite(text);
  } catch (error) {
    throw new UserError(`History file ${name} is not valid JSON (${(error as Error).message}). Expected ${KERAS_EXPECTED}.`);
  }
  if (isRecord(data) && !('loss' in data) && isRecord(data.history)) data = data.history;
  if (!isRecord(data)) throw new UserError(`History file ${name} holds JSON that is not an object. Expected ${KERAS_EXPECTED}.`);
  const keys = Object.keys(data);
  if (!('loss' in data)) {
    throw new UserError(`History file ${name} has no "loss" key (found: ${keys.join(', ') || 'none'}). Expected ${KERAS_EXPECTED}.`);
  }
  const pick = (...aliases: string[]): { key: string; values: Array<number | null> } | null => {
    const key = aliases.find((k) => k in data);
    if (key === undefined) return null;
    const raw = (data as Record<string, unknown>)[key];
    if (!Array.isArray(raw)) throw new UserError(`History file ${name}: "${key}" is not an array of per-epoch numbers.`);
    const values = raw.map((v, i) => {
      if (v === null) return null;
      if (typeof v !== 'number') throw new UserError(`History file ${name}: "${key}"[${i}] is ${JSON.stringify(v)}, not a number.`);
      return v;
    });
    return { key, values };
  };
  const loss = pick('loss')!;
  const columns = [pick('accuracy', 'acc'), pick('val_loss'), pick('val_accuracy', 'val_acc'), pick('lr', 'learning_rate')];
  if (loss.values.length === 0) throw new UserError(`History file ${name}: "loss" is empty (no epochs).`);
  for (const column of columns) {
    if (column && column.values.length !== loss.values.length) {
      throw new UserError(
        `History file ${name}: "${column.key}" has ${column.values.length} values but "loss" has ${loss.values.length}; every key needs one value per epoch.`,
      );
    }
  }
  const [accuracy, valLoss, valAccuracy, learnRate] = columns;
  const epochs: CurveEpoch[] = loss.values.map((value, i) => ({
    epoch: i + 1,
    loss: value ?? NaN,
    accuracy: accuracy?.values[i] ?? null,
    valLoss: valLoss?.values[i] ?? null,
    valAccuracy: valAccuracy?.values[i] ?? null,
    learnRate: learnRate?.values[i] ?? null,
  }));
  const finiteValues = (column: typeof accuracy) => (column ? column.values.filter((v): v is number => v !== null && Number.isFinite(v)) : []);
  const accuracyColumns = [accuracy, valAccuracy].filter((c): c is NonNullable<typeof c> => c !== null).map((c) => ({ name: `"${c.key}"`, values: finiteValues(c) }));
  return { curve: { epochs, nonFinite: null }, columns: accuracyColumns };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// ───────────────────────────── MATLAB CSV ─────────────────────────────

/** Split CSV text into rows of cells (RFC 4180 quotes, CRLF or LF). */
export function splitCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cell += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      row.push(cell);
      cell = '';
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
    } else cell += ch;
  }
  if (cell !== '' || row.length > 0) {
    row.push(cell);
    rows.push(row);
  }
  return rows.filter((r) => r.some((c) => c.trim() !== ''));
}

const COLUMNS = {
  epoch: ['epoch'],
  iteration: ['iteration'],
  trainingLoss: ['trainingloss'],
  trainingAccuracy: ['trainingaccuracy'],
  validationLoss: ['validationloss'],
  validationAccuracy: ['validationaccuracy'],
  learnRate: ['baselearnrate', 'learnrate'],
} as const;

function parseMatlabCsv(text: string, name: string): { curve: TrainingCurve; columns: AccuracyColumn[] } {
  const [header, ...rows] = splitCsv(text);
  const normalised = header.map((h) => h.trim().toLowerCase().replace(/[^a-z]/g, ''));
  const index = (aliases: readonly string[]) => normalised.findIndex((h) => aliases.includes(h));
  const col = Object.fromEntries(Object.entries(COLUMNS).map(([k, aliases]) => [k, index(aliases)])) as Record<keyof typeof COLUMNS, number>;
  const missing = (['epoch', 'trainingLoss'] as const).filter((k) => col[k] < 0).map((k) => (k === 'epoch' ? 'Epoch' : 'TrainingLoss'));
  if (missing.length > 0) {
    throw new UserError(
      `History file ${name} lacks the ${noun(missing.length, 'column')} ${missing.join(', ')} (found: ${header.join(', ')}). Expected ${MATLAB_EXPECTED}.`,
    );
  }
  if (rows.length === 0) throw new UserError(`History file ${name} has a header but no rows. Expected one row per iteration.`);

  /** A cell as a number: '' → null; 'NaN' → NaN; not a number → UserError. */
  const cellNumber = (row: string[], column: number, rowNumber: number): number | null => {
    if (column < 0) return null;
    const raw = (row[column] ?? '').trim();
    if (raw === '') return null;
    if (/^[+-]?nan$/i.test(raw)) return NaN;
    if (/^[+-]?inf(inity)?$/i.test(raw)) return raw.startsWith('-') ? -Infinity : Infinity;
    const value = Number(raw);
    if (Number.isNaN(value)) throw new UserError(`History file ${name}, line ${rowNumber}: column ${header[column].trim()} holds "${raw}", not a number.`);
    return value;
  };
  // Accuracies as written (unit decided once all are read); non-finite ones are left out.
  const trainingAccuracies: number[] = [];
  const validationAccuracies: number[] = [];
  const accuracyCell = (row: string[], column: number, rowNumber: number, into: number[]): number | null => {
    const value = cellNumber(row, column, rowNumber);
    if (value === null || !Number.isFinite(value)) return null;
    into.push(value);
    return value;
  };

  interface EpochRows { losses: number[]; accuracies: number[]; valLoss: number | null; valAccuracy: number | null; learnRate: number | null }
  const byEpoch = new Map<number, EpochRows>();
  let nonFinite: TrainingCurve['nonFinite'] = null;
  let previousEpoch = 0;
  rows.forEach((row, i) => {
    const line = i + 2;
    if (row.length !== header.length) {
      throw new UserError(`History file ${name}, line ${line}: ${row.length} cells but the header has ${header.length} columns.`);
    }
    const epoch = cellNumber(row, col.epoch, line);
    if (epoch === null || !Number.isInteger(epoch) || epoch < 1 || epoch < previousEpoch) {
      throw new UserError(`History file ${name}, line ${line}: Epoch "${row[col.epoch].trim()}" is not a whole number ≥ 1 in non-decreasing order.`);
    }
    previousEpoch = epoch;
    const loss = cellNumber(row, col.trainingLoss, line);
    if (loss === null) throw new UserError(`History file ${name}, line ${line}: TrainingLoss is empty; every iteration row needs one.`);
    const iteration = cellNumber(row, col.iteration, line) ?? i + 1;
    if (!Number.isFinite(loss) && nonFinite === null) nonFinite = { iteration, epoch, what: 'loss' };
    const entry = byEpoch.get(epoch) ?? { losses: [], accuracies: [], valLoss: null, valAccuracy: null, learnRate: null };
    entry.losses.push(loss);
    const accuracy = accuracyCell(row, col.trainingAccuracy, line, trainingAccuracies);
    if (accuracy !== null) entry.accuracies.push(accuracy);
    const valLoss = cellNumber(row, col.validationLoss, line);
    if (valLoss !== null && Number.isFinite(valLoss)) entry.valLoss = valLoss;
    const valAccuracy = accuracyCell(row, col.validationAccuracy, line, validationAccuracies);
    if (valAccuracy !== null) entry.valAccuracy = valAccuracy;
    const learnRate = cellNumber(row, col.learnRate, line);
    if (learnRate !== null && Number.isFinite(learnRate)) entry.learnRate = learnRate;
    byEpoch.set(epoch, entry);
  });
  const epochs: CurveEpoch[] = [...byEpoch].map(([epoch, e]) => ({
    epoch,
    loss: mean(e.losses),
    accuracy: e.accuracies.length > 0 ? mean(e.accuracies) : null,
    valLoss: e.valLoss,
    valAccuracy: e.valAccuracy,
    learnRate: e.learnRate,
  }));
  const columns: AccuracyColumn[] = [];
  if (col.trainingAccuracy >= 0) columns.push({ name: header[col.trainingAccuracy].trim(), values: trainingAccuracies });
  if (col.validationAccuracy >= 0) columns.push({ name: header[col.validationAccuracy].trim(), values: validationAccuracies });
  return { curve: { epochs, nonFinite }, columns };
}
