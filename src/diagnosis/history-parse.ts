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
 *   one row per iteration; accuracies in percent; validation only on some rows.
 *
 * Pure: text in, TrainingCurve out. `readHistoryFile` (src/history-file.ts) does the reading.
 */
import { UserError } from '../errors.ts';
import type { TrainingCurve } from '../types.ts';

type CurveEpoch = TrainingCurve['epochs'][number];

export const KERAS_EXPECTED = 'a Keras History.history JSON object ({"loss": [...], "accuracy": [...], "val_loss": [...], "val_accuracy": [...]}, one value per epoch)';
export const MATLAB_EXPECTED = 'a MATLAB training-info CSV with a header row (Epoch,Iteration,TrainingLoss,TrainingAccuracy,ValidationLoss,ValidationAccuracy,BaseLearnRate)';

/** Parse history text; `name` is used in error messages. Format by content: `{` → JSON, else CSV. */
export function parseHistoryText(text: string, name: string): TrainingCurve {
  const trimmed = text.trim();
  if (trimmed === '') throw new UserError(`History file ${name} is empty. Expected ${KERAS_EXPECTED} or ${MATLAB_EXPECTED}.`);
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) return parseKerasHistory(trimmed, name);
  const firstLine = trimmed.split(/\r?\n/, 1)[0];
  if (firstLine.includes(',')) return parseMatlabCsv(trimmed, name);
  throw new UserError(`History file ${name} is in an unknown format (neither JSON nor CSV). Expected ${KERAS_EXPECTED} or ${MATLAB_EXPECTED}.`);
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

function parseKerasHistory(text: string, name: string): TrainingCurve {
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
  return { epochs, nonFinite: null };
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

function parseMatlabCsv(text: string, name: string): TrainingCurve {
  const [header, ...rows] = splitCsv(text);
  const normalised = header.map((h) => h.trim().toLowerCase().replace(/[^a-z]/g, ''));
  const index = (aliases: readonly string[]) => normalised.findIndex((h) => aliases.includes(h));
  const col = Object.fromEntries(Object.entries(COLUMNS).map(([k, aliases]) => [k, index(aliases)])) as Record<keyof typeof COLUMNS, number>;
  const missing = (['epoch', 'trainingLoss'] as const).filter((k) => col[k] < 0).map((k) => (k === 'epoch' ? 'Epoch' : 'TrainingLoss'));
  if (missing.length > 0) {
    throw new UserError(
      `History file ${name} lacks the column${missing.length > 1 ? 's' : ''} ${missing.join(', ')} (found: ${header.join(', ')}). Expected ${MATLAB_EXPECTED}.`,
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
  const percent = (value: number | null, column: number, rowNumber: number): number | null => {
    if (value === null || !Number.isFinite(value)) return null;
    if (value < 0 || value > 100) {
      throw new UserError(`History file ${name}, line ${rowNumber}: ${header[column].trim()} is ${value}; MATLAB accuracies are percentages 0–100.`);
    }
    return value / 100;
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
    const accuracy = percent(cellNumber(row, col.trainingAccuracy, line), col.trainingAccuracy, line);
    if (accuracy !== null) entry.accuracies.push(accuracy);
    const valLoss = cellNumber(row, col.validationLoss, line);
    if (valLoss !== null && Number.isFinite(valLoss)) entry.valLoss = valLoss;
    const valAccuracy = percent(cellNumber(row, col.validationAccuracy, line), col.validationAccuracy, line);
    if (valAccuracy !== null) entry.valAccuracy = valAccuracy;
    const learnRate = cellNumber(row, col.learnRate, line);
    if (learnRate !== null && Number.isFinite(learnRate)) entry.learnRate = learnRate;
    byEpoch.set(epoch, entry);
  });
  const mean = (values: number[]) => values.reduce((s, v) => s + v, 0) / values.length;
  const epochs: CurveEpoch[] = [...byEpoch].map(([epoch, e]) => ({
    epoch,
    loss: mean(e.losses),
    accuracy: e.accuracies.length > 0 ? mean(e.accuracies) : null,
    valLoss: e.valLoss,
    valAccuracy: e.valAccuracy,
    learnRate: e.learnRate,
  }));
  return { epochs, nonFinite };
}
