import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { UserError } from '../src/errors.ts';
import { curveFromHistory, detectAccuracyUnit, formatDiagnosis, parseJsonWithNonFinite, splitCsv } from '../src/diagnosis/index.ts';
import { allowedActions } from '../src/machine/rails.ts';
import { CURVES, scenarioRails, scenarioRun } from '../src/testing/index.ts';
import { diagnoseFile, readHistoryFile } from '../src/history-file.ts';
import { policy as flowchart } from '../policies/flowchart.ts';
import type { Policy, PolicyContext, TrainingCurve, TrainingHistory } from '../src/types.ts';

const dir = mkdtempSync(join(tmpdir(), 'flowtune-history-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let counter = 0;
function file(name: string, text: string): string {
  const path = join(dir, `${counter++}-${name}`);
  writeFileSync(path, text);
  return path;
}

describe('parseJsonWithNonFinite (Python json.dump output)', () => {
  test.each<[string, string, unknown]>([
    ['bare NaN, Infinity, -Infinity', '{"loss": [NaN, Infinity, -Infinity, 1.5]}', { loss: [NaN, Infinity, -Infinity, 1.5] }],
    ['strings containing the words stay strings', '{"note": "NaN and Infinity, -Infinity", "x": NaN}', { note: 'NaN and Infinity, -Infinity', x: NaN }],
    ['escaped quotes inside strings', '{"a": "say \\"NaN\\"", "b": [NaN]}', { a: 'say "NaN"', b: [NaN] }],
    ['no spaces', '[NaN,-Infinity,Infinity]', [NaN, -Infinity, Infinity]],
    ['plain JSON is unchanged', '{"loss": [1, 2e-3], "ok": true, "n": null}', { loss: [1, 0.002], ok: true, n: null }],
  ])('%s', (_name, text, expected) => {
    expect(parseJsonWithNonFinite(text)).toEqual(expected);
  });

  test('other bare words are still a syntax error', () => {
    expect(() => parseJsonWithNonFinite('{"x": NaNa}')).toThrow(SyntaxError);
    expect(() => parseJsonWithNonFinite('{"x": nan}')).toThrow(SyntaxError);
  });
});

describe('readHistoryFile: Keras History JSON', () => {
  test('loss/accuracy/val_loss/val_accuracy/lr, one value per epoch', () => {
    const path = file('history.json', JSON.stringify({ loss: [0.9, 0.6], accuracy: [0.7, 0.8], val_loss: [0.8, 0.65], val_accuracy: [0.72, 0.79], lr: [0.001, 0.001] }));
    expect(readHistoryFile(path)).toEqual({
      epochs: [
        { epoch: 1, loss: 0.9, accuracy: 0.7, valLoss: 0.8, valAccuracy: 0.72, learnRate: 0.001 },
        { epoch: 2, loss: 0.6, accuracy: 0.8, valLoss: 0.65, valAccuracy: 0.79, learnRate: 0.001 },
      ],
      nonFinite: null,
    });
  });

  test('acc / val_acc / learning_rate aliases (old Keras), and a {"history": ...} wrapper', () => {
    const path = file('old.json', JSON.stringify({ history: { loss: [1.0], acc: [0.5], val_loss: [1.1], val_acc: [0.45], learning_rate: [0.01] } }));
    expect(readHistoryFile(path).epochs[0]).toEqual({ epoch: 1, loss: 1.0, accuracy: 0.5, valLoss: 1.1, valAccuracy: 0.45, learnRate: 0.01 });
  });

  test('NaN and Infinity tokens: read as numbers, and the run is diverged', () => {
    const path = file('nan.json', '{"loss": [2.3, 1.9, NaN], "accuracy": [0.2, 0.3, NaN], "val_loss": [2.2, Infinity, NaN], "val_accuracy": [0.2, 0.1, 0.1]}');
    const curve = readHistoryFile(path);
    expect(curve.epochs.map((e) => e.loss)).toEqual([2.3, 1.9, NaN]);
    expect(curve.epochs[1].valLoss).toBe(Infinity);
    const { diagnosis, decision } = diagnoseFile(path, flowchart);
    expect(diagnosis.label).toBe('diverged');
    expect(decision).toMatchObject({ action: 'lowerLearnRate', params: { initialLearnRate: 0.001 } });
  });
});

const MATLAB_HEADER = 'Epoch,Iteration,TrainingLoss,TrainingAccuracy,ValidationLoss,ValidationAccuracy,BaseLearnRate';

describe('readHistoryFile: MATLAB training-info CSV', () => {
  test('percent accuracies, per-iteration rows averaged per epoch, validation on some rows only', () => {
    const csv = [
      MATLAB_HEADER,
      '1,1,2.0,20,,,0.01',
      '1,2,1.6,40,NaN,NaN,0.01',
      '1,3,1.2,60,1.3,55,0.01',
      '2,4,1.0,70,,,0.01',
      '2,5,0.8,80,0.9,75,0.01',
      '2,6,0.6,90,NaN,NaN,0.01',
    ].join('\r\n');
    const curve = readHistoryFile(file('info.csv', csv));
    expect(curve.nonFinite).toBeNull();
    expect(curve.epochs).toHaveLength(2);
    expect(curve.epochs[0].loss).toBeCloseTo(1.6, 10);
    expect(curve.epochs[0].accuracy).toBeCloseTo(0.4, 10);
    expect(curve.epochs[0]).toMatchObject({ epoch: 1, valLoss: 1.3, valAccuracy: 0.55, learnRate: 0.01 });
    expect(curve.epochs[1].loss).toBeCloseTo(0.8, 10);
    expect(curve.epochs[1]).toMatchObject({ epoch: 2, valLoss: 0.9, valAccuracy: 0.75 });
  });

  test('a NaN training loss marks the run non-finite at that iteration', () => {
    const csv = [MATLAB_HEADER, '1,1,2.3,10,2.3,10,0.001', '1,2,5.1,10,,,0.001', '1,3,NaN,NaN,,,0.001'].join('\n');
    const curve = readHistoryFile(file('nan.csv', csv));
    expect(curve.nonFinite).toEqual({ iteration: 3, epoch: 1, what: 'loss' });
    const { diagnosis } = diagnoseFile(file('nan2.csv', csv), flowchart);
    expect(diagnosis.label).toBe('diverged');
    expect(diagnosis.summary).toMatch(/iteration 3 \(epoch 1\) at learn rate 0.001/);
  });

  test('quoted header cells, LearnRate alias and no accuracy columns', () => {
    const csv = ['"Epoch","Iteration","TrainingLoss","LearnRate"', '1,1,0.5,0.001', '2,2,0.4,0.001'].join('\n');
    const curve = readHistoryFile(file('min.csv', csv));
    expect(curve.epochs.map((e) => [e.loss, e.accuracy, e.learnRate])).toEqual([[0.5, null, 0.001], [0.4, null, 0.001]]);
  });
});

describe('readHistoryFile: faults name the file, what is wrong and what is expected', () => {
  test.each<[string, string, string, RegExp]>([
    ['empty file', 'empty.json', '  \n', /is empty\. Expected a Keras History\.history JSON object .* or a MATLAB training-info CSV/],
    ['not JSON at all', 'bad.json', '{"loss": [1, 2', /is not valid JSON \(.+\)\. Expected a Keras History\.history JSON object/],
    ['JSON without loss', 'noloss.json', '{"accuracy": [0.5]}', /has no "loss" key \(found: accuracy\)/],
    ['JSON array', 'array.json', '[1, 2]', /holds JSON that is not an object/],
    ['unequal lengths', 'unequal.json', '{"loss": [1, 0.9, 0.8], "val_loss": [1, 0.9]}', /"val_loss" has 2 values but "loss" has 3; every key needs one value per epoch/],
    ['a string among the numbers', 'string.json', '{"loss": [1, "0.9"]}', /"loss"\[1\] is "0.9", not a number/],
    ['empty loss', 'emptyloss.json', '{"loss": []}', /"loss" is empty/],
    ['CSV without TrainingLoss', 'noloss.csv', 'Epoch,Iteration,TrainingAccuracy\n1,1,50', /lacks the column TrainingLoss \(found: Epoch, Iteration, TrainingAccuracy\)\. Expected a MATLAB training-info CSV/],
    ['CSV without Epoch and TrainingLoss', 'nothing.csv', 'a,b\n1,2', /lacks the columns Epoch, TrainingLoss/],
    ['CSV header only', 'header.csv', MATLAB_HEADER, /has a header but no rows/],
    ['CSV ragged row', 'ragged.csv', `${MATLAB_HEADER}\n1,1,0.5`, /line 2: 3 cells but the header has 7 columns/],
    ['CSV accuracy above 100', 'pct.csv', `${MATLAB_HEADER}\n1,1,0.5,150,,,0.01`, /TrainingAccuracy holds 150, which is no accuracy \(fractions 0–1 or percentages 0–100\)/],
    ['Keras accuracy below 0', 'neg.json', '{"loss": [1, 0.9], "accuracy": [0.5, -0.2]}', /"accuracy" holds -0\.2, which is no accuracy/],
    [
      'CSV accuracy columns in two units',
      'mixed.csv',
      `${MATLAB_HEADER}\n1,1,0.9,0.55,0.8,61,0.01\n2,2,0.7,0.72,0.6,70,0.01`,
      /its accuracy columns disagree: TrainingAccuracy reads as fractions \(highest 0\.72\) but ValidationAccuracy as percentages \(highest 70\)\. Write them in one unit, or give --accuracy-unit fraction or --accuracy-unit percent/,
    ],
    [
      'accuracies too small to tell the unit',
      'tiny.json',
      '{"loss": [2.3, 2.3], "accuracy": [0.004, 0.008]}',
      /the accuracies are too small to tell fractions from percentages \("accuracy" up to 0\.008: under 1 % either way\)\. Give --accuracy-unit fraction or --accuracy-unit percent to say which/,
    ],
    ['CSV epochs going backwards', 'order.csv', `${MATLAB_HEADER}\n2,1,0.5,50,,,0.01\n1,2,0.4,60,,,0.01`, /line 3: Epoch "1" is not a whole number ≥ 1 in non-decreasing order/],
    ['CSV text in a number cell', 'text.csv', `${MATLAB_HEADER}\n1,1,abc,50,,,0.01`, /line 2: column TrainingLoss holds "abc", not a number/],
    ['CSV missing training loss', 'gap.csv', `${MATLAB_HEADER}\n1,1,,50,,,0.01`, /line 2: TrainingLoss is empty/],
    ['unknown format', 'notes.txt', 'just some words', /is in an unknown format \(neither JSON nor CSV\)/],
  ])('%s', (_name, name, text, message) => {
    const path = file(name, text);
    let error: unknown;
    try {
      readHistoryFile(path);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(UserError);
    expect((error as Error).message).toContain(path);
    expect((error as Error).message).toMatch(message);
  });

  test('a missing file', () => {
    const path = join(dir, 'nope.json');
    expect(() => readHistoryFile(path)).toThrow(UserError);
    expect(() => readHistoryFile(path)).toThrow(`History file ${path} not found`);
  });
});

describe('accuracies as fractions or percentages (issue 12: a fraction read as a percentage was "tooSlow")', () => {
  /** A MATLAB training-info CSV of a healthy run, accuracies written by `write` (fractions or percentages). */
  function trainingInfo(write: (fraction: number) => string): string {
    const rows = [MATLAB_HEADER];
    for (let it = 1; it <= 100; it++) {
      const epoch = Math.ceil(it / 10);
      const loss = 1.2 * Math.exp(-it / 30) + 0.25;
      const acc = Math.min(0.99, 0.6 + 0.35 * (1 - Math.exp(-it / 25)));
      const end = it % 10 === 0;
      const valLoss = end ? (1.1 * Math.exp(-it / 35) + 0.3).toFixed(4) : '';
      const valAcc = end ? write(0.58 + 0.32 * (1 - Math.exp(-it / 30))) : '';
      rows.push(`${epoch},${it},${loss.toFixed(4)},${write(acc)},${valLoss},${valAcc},0.01`);
    }
    return rows.join('\n');
  }
  const asFraction = (x: number) => x.toFixed(4);
  const asPercent = (x: number) => (x * 100).toFixed(2);

  test('the same run written in fractions and in percent reads the same, and is diagnosed the same', () => {
    const fractions = diagnoseFile(file('fractions.csv', trainingInfo(asFraction)), flowchart);
    const percent = diagnoseFile(file('percent.csv', trainingInfo(asPercent)), flowchart);
    expect(fractions.accuracy).toMatchObject({ unit: 'fraction', how: 'detected' });
    expect(percent.accuracy).toMatchObject({ unit: 'percent', how: 'detected' });
    expect(fractions.diagnosis.label).toBe('underfitting');
    expect(percent.diagnosis.label).toBe('underfitting');
    expect(fractions.decision).toEqual(percent.decision);
    const a = readHistoryFile(file('f2.csv', trainingInfo(asFraction)));
    const b = readHistoryFile(file('p2.csv', trainingInfo(asPercent)));
    a.epochs.forEach((e, i) => {
      expect(e.accuracy).toBeCloseTo(b.epochs[i].accuracy!, 4);
      expect(e.valAccuracy).toBeCloseTo(b.epochs[i].valAccuracy!, 4);
    });
  });

  test('tune diagnose states which unit it assumed, in text and JSON', () => {
    const result = diagnoseFile(file('fractions2.csv', trainingInfo(asFraction)), flowchart);
    expect(formatDiagnosis(result, false).split('\n')[0]).toMatch(/^accuracy: {2}read as fractions \(0–1\): no value above 1 \(TrainingAccuracy up to 0\.9\d+, ValidationAccuracy up to 0\.8\d+\)$/);
    expect(JSON.parse(formatDiagnosis(result, true)).accuracyUnit).toBe('fraction');
    const percent = diagnoseFile(file('percent2.csv', trainingInfo(asPercent)), flowchart);
    expect(formatDiagnosis(percent, false).split('\n')[0]).toMatch(/^accuracy: {2}read as percentages \(0–100\): values above 1 \(TrainingAccuracy up to 9\d\.\d+/);
  });

  test.each<[string, number[][], 'fraction' | 'percent' | null]>([
    ['fractions', [[0.1, 0.5, 0.93], [0.2, 0.88]], 'fraction'],
    ['percentages', [[10, 50, 93], [20, 88]], 'percent'],
    ['percentages that start below 1', [[0.5, 12, 60], [0.8, 55]], 'percent'],
    ['a perfect run in fractions', [[0.9, 1, 1]], 'fraction'],
    ['one column that cannot tell follows the other', [[0.004], [0.5, 0.8]], 'fraction'],
    ['all zero: the same in either unit', [[0, 0]], 'fraction'],
    ['two units', [[0.9], [90]], null],
    ['too small to tell', [[0.003, 0.009]], null],
  ])('%s', (_name, columns, unit) => {
    const cols = columns.map((values, i) => ({ name: `column ${i}`, values }));
    if (unit === null) expect(() => detectAccuracyUnit(cols, 'x.csv')).toThrow(UserError);
    else expect(detectAccuracyUnit(cols, 'x.csv').unit).toBe(unit);
  });

  test('--accuracy-unit says which when the values cannot, and is checked against them', () => {
    expect(detectAccuracyUnit([{ name: 'acc', values: [0.003, 0.009] }], 'x.csv', 'percent')).toMatchObject({ unit: 'percent', how: 'given' });
    expect(() => detectAccuracyUnit([{ name: 'acc', values: [0.5, 93] }], 'x.csv', 'fraction')).toThrow(/--accuracy-unit fraction, but acc goes up to 93; fractions are at most 1/);
    const tiny = file('tiny.csv', `${MATLAB_HEADER}\n1,1,2.3,0.4,2.3,0.5,0.01\n2,2,2.3,0.6,2.3,0.8,0.01`);
    expect(readHistoryFile(tiny, { accuracyUnit: 'percent' }).epochs.map((e) => e.valAccuracy)).toEqual([0.005, 0.008]);
  });
});

describe('splitCsv', () => {
  test('quotes, embedded commas and doubled quotes, blank lines', () => {
    expect(splitCsv('a,"b,c","d ""e"""\n\n1,2,3\n')).toEqual([['a', 'b,c', 'd "e"'], ['1', '2', '3']]);
  });
});

describe('diagnoseFile and formatDiagnosis', () => {
  const minAt27 = {
    loss: Array.from({ length: 60 }, (_, i) => Math.exp(-(i + 1) / 20) + 0.02),
    accuracy: Array.from({ length: 60 }, (_, i) => 0.7 + 0.29 * (1 - Math.exp(-(i + 1) / 15))),
    val_loss: Array.from({ length: 60 }, (_, i) => (i + 1 <= 27 ? 0.312 + (27 - i - 1) * 0.02 : 0.312 + (i + 1 - 27) * 0.003)),
    val_accuracy: Array.from({ length: 60 }, (_, i) => 0.7 + 0.2 * (1 - Math.exp(-(i + 1) / 10))),
    lr: Array.from({ length: 60 }, () => 0.01),
  };

  test('one line of JSON: diagnosis, action, params, reason', () => {
    const result = diagnoseFile(file('min27.json', JSON.stringify(minAt27)), flowchart);
    const line = formatDiagnosis(result, true);
    expect(line).not.toContain('\n');
    const parsed = JSON.parse(line);
    expect(Object.keys(parsed)).toEqual(['diagnosis', 'action', 'params', 'reason', 'accuracyUnit']);
    // The trim epoch is the smoothed minimum: (0.312 + 0.315 + 0.318) / 3 at epoch 28, not the raw 0.312 at 27.
    expect(parsed).toMatchObject({ diagnosis: 'overfitting', action: 'trimEpochs', params: { maxEpochs: 28 } });
    expect(parsed.reason).toMatch(/^validation loss lowest at epoch 28 \(smoothed 0.315\) and rising to 0.411 by epoch 60 .*; maxEpochs 60 → 28 \(step 3: stop at the right time\)$/);
  });

  test('text for the terminal', () => {
    const result = diagnoseFile(file('min27b.json', JSON.stringify(minAt27)), flowchart);
    expect(formatDiagnosis(result, false)).toMatch(
      /^accuracy: {2}read as fractions \(0–1\): no value above 1 \("accuracy" up to 0\.9\d+, "val_accuracy" up to 0\.8\d+\)\ndiagnosis: overfitting\n {2}validation loss lowest at epoch 28 \(smoothed 0.315\), then rising to 0.411 by epoch 60 \(\+30%; .*\)\ndecision: {2}trimEpochs \{maxEpochs: 28\}\n {2}validation loss lowest at epoch 28/,
    );
  });

  test.each<[string, Record<string, number[]>, string, string, Record<string, number>]>([
    // Issue 10's baseline: flat within ±0.01 from epoch 4. Not underfitting: the first step is capacity (deepen).
    ['a noisy plateau', { loss: [0.9, 0.5, 0.4, 0.35, 0.33, 0.31, 0.3, 0.29, 0.28, 0.27], val_loss: [0.6, 0.45, 0.38, 0.352, 0.349, 0.352, 0.361, 0.352, 0.366, 0.348] }, 'converged', 'deepen', { filters: 40 }],
    ['a clean fall', { loss: [0.9, 0.7, 0.6, 0.52, 0.47, 0.44, 0.41, 0.39, 0.38, 0.37], val_loss: [0.9, 0.7, 0.6, 0.52, 0.47, 0.44, 0.41, 0.39, 0.38, 0.37] }, 'underfitting', 'addEpochs', { maxEpochs: 20 }],
    ['one epoch: still falling, train longer', { loss: [0.9], val_loss: [0.8] }, 'underfitting', 'addEpochs', { maxEpochs: 2 }],
  ])('%s → %s, %s', (_name, history, label, action, params) => {
    const { diagnosis, decision } = diagnoseFile(file('fit.json', JSON.stringify(history)), flowchart);
    expect(diagnosis.label).toBe(label);
    expect(decision).toMatchObject({ action, params });
  });

  test('a float32 learn rate from Keras is read as the power of ten it stands for', () => {
    const path = file('f32.json', '{"loss": [2.0, NaN], "lr": [0.0010000000474974513, 0.0010000000474974513]}');
    expect(diagnoseFile(path, flowchart).decision.params).toEqual({ initialLearnRate: 0.0001 });
  });

  test('without a learn rate in the file, the policy sees MATLAB\u2019s default 0.01 and maxEpochs = epochs', () => {
    const path = file('nolr.json', '{"loss": [2.0, NaN]}');
    expect(diagnoseFile(path, flowchart).decision).toMatchObject({ action: 'lowerLearnRate', params: { initialLearnRate: 0.001 } });
  });

  // One rule routes a history: `tune diagnose` asks the policy at the step the machine's rails give
  // after a study's baseline (rails.ts baselineRails → nextStep), the step the contract kit's
  // scenarios are built with. For every curve of the kit, written as a Keras history file.
  test.each(Object.keys(CURVES) as Array<keyof typeof CURVES>)('the %s curve: tune diagnose asks at the step the machine would', (kind) => {
    const curve = CURVES[kind]();
    const series = (pick: (e: TrainingCurve['epochs'][number]) => number | null) => [...curve.epochs.map((e) => pick(e) ?? 'NaN'), ...(curve.nonFinite ? ['NaN'] : [])].join(', ');
    const path = file(`route-${kind}.json`, `{"loss": [${series((e) => e.loss)}], "accuracy": [${series((e) => e.accuracy)}], "val_loss": [${series((e) => e.valLoss)}], "val_accuracy": [${series((e) => e.valAccuracy)}]}`);
    const seen: PolicyContext[] = [];
    const spy: Policy = { ...flowchart, name: 'spy', decide: (context) => (seen.push(context), flowchart.decide(context)) };
    diagnoseFile(path, spy);
    const rails = scenarioRails({ runs: [scenarioRun(1, 'baseline', readHistoryFile(path))], fromFile: true });
    expect(seen[0].stage).toBe(rails.step);
    expect(seen[0].allowed).toEqual(allowedActions(rails));
    expect(seen[0].stage).toBe(EXPECTED_STEP[kind] ?? seen[0].stage);
  });
});

/** The steps a person would name for the kit's curves (the rest follow from their evidence). */
const EXPECTED_STEP: Partial<Record<keyof typeof CURVES, string>> = {
  diverged: 'stabilise',
  oscillating: 'stabilise',
  tooSlow: 'stabilise',
  underfitting: 'trainEnough',
  overfittingRising: 'trimEpochs',
  overfittingGap: 'regularise',
  converged: 'capacity',
};

describe('curveFromHistory', () => {
  const history: TrainingHistory = {
    iterations: [
      { iteration: 1, epoch: 1, loss: 1.0, accuracy: 0.5, learnRate: 0.01 },
      { iteration: 2, epoch: 1, loss: 0.8, accuracy: 0.6, learnRate: 0.01 },
      { iteration: 3, epoch: 2, loss: 0.7, accuracy: 0.7, learnRate: 0.01 },
      { iteration: 4, epoch: 2, loss: NaN, accuracy: 0.1, learnRate: 0.01 },
    ],
    validations: [{ iteration: 2, epoch: 1, loss: 0.85, accuracy: 0.62 }],
    epochs: [{ epoch: 1, learnRate: 0.01, loss: 0.9, accuracy: 0.55, valLoss: 0.85, valAccuracy: 0.62, seconds: 1, imagesPerSecond: 100 }],
  };

  test('maps epochs, aggregates an unfinished epoch from its iterations, and carries a non-finite stop', () => {
    const curve = curveFromHistory(history, { kind: 'nonFinite', iteration: 4, epoch: 2, what: 'loss' });
    expect(curve.epochs[0]).toEqual({ epoch: 1, loss: 0.9, accuracy: 0.55, valLoss: 0.85, valAccuracy: 0.62, learnRate: 0.01 });
    expect(curve.epochs[1]).toMatchObject({ epoch: 2, valLoss: null, valAccuracy: null, learnRate: 0.01 });
    expect(curve.epochs[1].loss).toBeNaN();
    expect(curve.nonFinite).toEqual({ iteration: 4, epoch: 2, what: 'loss' });
  });

  test('a completed run has no nonFinite and no extra epochs', () => {
    const done: TrainingHistory = { ...history, iterations: history.iterations.slice(0, 2) };
    const curve = curveFromHistory(done, { kind: 'completed' });
    expect(curve.epochs).toHaveLength(1);
    expect(curve.nonFinite).toBeNull();
  });
});
