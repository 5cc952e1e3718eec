import { describe, expect, test } from 'vitest';
import { decisionsWithoutRun, renderReport } from '../../src/report/markdown.ts';
import { parseStudy, stringifyStudy } from '../../src/store/study-store.ts';
import type { StudyRecord } from '../../src/types.ts';
import { budgetStoppedStudy, CLASS_NAMES, divergedStudy, emptyStudy, finishedStudy, runningStudy } from './__fixtures__/studies.ts';

/** The table row of run `id` in the decision log. */
function logRow(report: string, id: number): string {
  const row = report.split('\n').find((l) => l.startsWith(`| [${id}](#run-${id})`));
  if (!row) throw new Error(`no decision-log row for run ${id}`);
  return row;
}

/** The cells of a Markdown table row (pipes escaped as \| stay inside a cell). */
function cells(row: string): string[] {
  return row
    .split(/(?<!\\)\|/)
    .slice(1, -1)
    .map((c) => c.trim());
}

const COLUMNS = ['Run', 'Stage', 'Change', 'Why', 'Fidelity', 'Best val loss', 'Val acc', 'Train acc', 'Gap', 'Time', 'Diagnosis', 'Verdict'];
const column = (row: string, name: string) => cells(row)[COLUMNS.indexOf(name)];

describe('renderReport: finished study', () => {
  const report = renderReport(finishedStudy());

  test('matches the stored report', async () => {
    await expect(report).toMatchFileSnapshot('./__fixtures__/finished.report.md');
  });

  test('header: data, split sizes, backend, policy, seed, budget, status, times', () => {
    expect(report).toContain('# Study `fashion-finished`');
    expect(report).toContain('**Status: finished**');
    expect(report).toContain('50,000 training · 10,000 validation · 10,000 test images, 10 classes');
    expect(report).toContain('- **Backend:** tensorflow');
    expect(report).toContain('- **Policy:** flowchart (built-in)');
    expect(report).toContain('- **Seed:** 0');
    expect(report).toContain('- **Budget:** 1 h 00 min (used 13 min 00 s, 22%) · at most 20 runs (used 5)');
    expect(report).toContain('- **Created:** 2025-11-27 22:00:00 UTC · **Updated:** 2025-11-27 22:13:00 UTC');
  });

  test('result: the single sealed test evaluation, per class, confusion matrix with class names', () => {
    expect(report).toContain('**Test accuracy 90.23%** (test loss 0.2804) on 10,000 test images, with the model of run 5.');
    expect(report).toContain('The test set was used once: this single sealed evaluation, at 2025-11-27 22:13:00 UTC');
    expect(report).toMatch(/\| Shirt +\| +69\.00% \| +690 \/ 1,000 \|/);
    const head = report.split('\n').find((l) => l.startsWith('| actual \\ predicted'))!;
    expect(cells(head)).toEqual(['actual \\ predicted', ...CLASS_NAMES]);
    // rows actual, columns predicted: Shirt (actual) → Sandal (predicted) 155, Shirt → Shirt 690
    const shirt = report.split('\n').find((l) => l.startsWith('| Shirt ') && l.includes('155'))!;
    expect(cells(shirt)).toEqual(['Shirt', '0', '0', '0', '0', '0', '155', '690', '155', '0', '0']);
  });

  test('best network as text, parameter count, MATLAB call and JSON', () => {
    expect(report).toContain('Network: `28×28×1 → conv3×3×20 → bn → relu → maxpool2 → fc10` — 39,450 learnable parameters.');
    // the options that differ from MATLAB's defaults, one name-value pair a line
    expect(report).toContain(
      [
        "options = trainingOptions('sgdm', ...",
        "    'InitialLearnRate', 0.001, ...",
        "    'MaxEpochs', 22, ...",
        "    'MiniBatchSize', 500, ...",
        "    'Shuffle', 'every-epoch', ...",
        "    'ValidationFrequency', 15);",
      ].join('\n'),
    );
    expect(report).toContain('"maxEpochs": 22,');
    expect(report).toContain('"gradientThreshold": "Infinity",');
  });

  test('decision log: one row per run with change, why, fidelity, losses, gap and verdict', () => {
    const r2 = logRow(report, 2);
    expect(column(r2, 'Change')).toBe('raiseLearnRate initialLearnRate=0.001');
    expect(column(r2, 'Why')).toMatch(/^Validation accuracy 71\.2% after 10 epochs/);
    expect(column(r2, 'Verdict')).toBe('✔ kept');
    const r3 = logRow(report, 3);
    expect(column(r3, 'Change')).toBe('addEpochs maxEpochs=30 (continues run 2)');
    expect(column(r3, 'Fidelity')).toBe('3,000 img · ep 11–30');
    expect(column(r3, 'Best val loss')).toBe('0.312 (ep 22)');
    expect(column(r3, 'Gap')).toBe('+6.3 pt');
    expect(column(logRow(report, 4), 'Verdict')).toBe('✘ reverted');
    expect(column(logRow(report, 1), 'Verdict')).toBe('● baseline');
    const r5 = logRow(report, 5);
    expect(column(r5, 'Change')).toBe('final retrain of run 3');
    expect(column(r5, 'Fidelity')).toBe('full 50,000 img · 22 ep');
    expect(column(r5, 'Verdict')).toBe('★ final');
  });

  test('decisions without a run (trimEpochs, stop) get their own table', () => {
    const section = report.slice(report.indexOf('### Decisions without a run'), report.indexOf('## Runs'));
    expect(section).toContain('| trimEpochs | trimEpochs maxEpochs=22 | Validation loss minimum 0.3120 at epoch 22');
    expect(section).toContain('| finalise   | stop                    | Dropout did not help');
    expect(section).not.toContain('addDropout');
  });

  test('per-run sections: diagnosis, stop reason, network, plot link', () => {
    const run3 = report.slice(report.indexOf('### Run 3'), report.indexOf('### Run 4'));
    expect(run3).toContain('![Training progress of run 3: accuracy and loss against iteration](plots/run-3.svg)');
    expect(run3).toContain('- **Diagnosis:** **overfitting** (also converged) — Validation loss minimum 0.3120 at epoch 22');
    expect(run3).toContain('- **Stopped:** completed all 30 epochs (epochs 11–30 in this run)');
    expect(report).toContain('![Best validation accuracy so far against training images processed](plots/study.svg)');
  });

  test('without plots, no image links', () => {
    expect(renderReport(finishedStudy(), { plots: false })).not.toContain('.svg');
  });
});

describe('renderReport: running study', () => {
  const report = renderReport(runningStudy());

  test('matches the stored report', async () => {
    await expect(report).toMatchFileSnapshot('./__fixtures__/running.report.md');
  });

  test('says there is no result yet and shows the incumbent so far', () => {
    expect(report).toContain('**Status: running**');
    expect(report).toContain('No result yet: the study is still running. The test set has not been used.');
    expect(report).toContain('### Incumbent so far');
    expect(report).toContain('Run 2 (stabilise, ✔ kept) after 2 runs: validation accuracy 85.00%');
    // The decision after run 2 has no run yet: run 3 is training.
    expect(report).toMatch(/\| +2 \| trainEnough \| addEpochs maxEpochs=30 \(its run is in progress\) \|/);
  });
});

describe('renderReport: diverged run', () => {
  test('shows where it diverged and NaN in its row', async () => {
    const report = renderReport(divergedStudy());
    await expect(report).toMatchFileSnapshot('./__fixtures__/diverged.report.md');
    const row = logRow(report, 1);
    expect(column(row, 'Best val loss')).toBe('NaN loss at it 12, ep 1');
    expect(column(row, 'Train acc')).toBe('NaN');
    expect(column(row, 'Val acc')).toBe('—');
    expect(column(row, 'Gap')).toBe('—'); // no validation accuracy to subtract
    expect(column(row, 'Diagnosis')).toBe('diverged');
    expect(report).toContain('- **Stopped:** diverged: the loss became non-finite (NaN/Inf) at iteration 12, epoch 1');
    expect(report).toContain('- **Evidence:** iteration=12, epoch=1, lossAtStart=2.3, lossBefore=NaN');
    expect(column(logRow(report, 2), 'Change')).toBe('lowerLearnRate initialLearnRate=0.001');
  });

  test('the store round trip (which keeps NaN and Infinity) gives the same report', () => {
    const study = divergedStudy();
    expect(renderReport(parseStudy(stringifyStudy(study)))).toBe(renderReport(study));
  });

  test('plain JSON (NaN and Infinity become null) still renders, with — for the missing values', () => {
    const study = JSON.parse(JSON.stringify(divergedStudy())) as StudyRecord;
    const report = renderReport(study);
    expect(column(logRow(report, 1), 'Train acc')).toBe('—');
    // null in a field whose default is Infinity means Infinity: MATLAB's default, so not listed; JSON says so
    expect(report).not.toMatch(/'(GradientThreshold|ValidationPatience)'/);
    expect(report).toContain('"gradientThreshold": "Infinity",');
  });
});

describe('renderReport: stopped by budget', () => {
  const report = renderReport(budgetStoppedStudy());

  test('matches the stored report', async () => {
    await expect(report).toMatchFileSnapshot('./__fixtures__/budget.report.md');
  });

  test('status with its reason, budget used, best run, the run cut short', () => {
    expect(report).toContain('**Status: stopped: time budget of 10 min used up during run 3**');
    expect(report).toContain('- **Budget:** 10 min 00 s (used 10 min 00 s, 100%) · no run limit (used 3)');
    expect(report).toContain('No test result: the study stopped before the final evaluation (time budget of 10 min used up during run 3).');
    expect(report).toContain('### Best run');
    expect(report).toContain("- **Stopped:** the study's time budget ran out during epoch 14");
    expect(column(logRow(report, 3), 'Fidelity')).toBe('3,000 img · ep 11–14 of 30');
  });
});

describe('renderReport: edge cases', () => {
  test('a study without runs', () => {
    const report = renderReport(emptyStudy());
    expect(report).toContain('- **Backend:** not chosen yet');
    expect(report).toContain('No run has finished yet.');
    expect(report).not.toContain('plots/');
  });

  test('a failed study with null and non-finite numbers everywhere does not throw', () => {
    const study = finishedStudy();
    study.status = 'failed';
    study.statusReason = 'trainer crashed | out of memory';
    study.final = null;
    for (const run of study.runs) {
      run.valAccuracy = null;
      run.trainAccuracy = Infinity;
      run.result.bestValLoss = NaN;
      run.result.seconds = NaN;
      run.diagnosis.evidence = { a: null, b: -Infinity };
      run.options.initialLearnRate = NaN;
    }
    const report = renderReport(study);
    expect(report).toContain('**Status: failed: trainer crashed | out of memory**');
    const row = logRow(report, 2);
    expect(column(row, 'Train acc')).toBe('Inf');
    expect(column(row, 'Val acc')).toBe('—');
    expect(column(row, 'Gap')).toBe('—');
    expect(column(row, 'Best val loss')).toBe('NaN (ep 10)');
    expect(column(row, 'Time')).toBe('NaN');
    expect(report).toContain("'InitialLearnRate', NaN");
  });

  test('pipes in reasons do not break the table', () => {
    const study = runningStudy();
    study.runs[1].change = { ...study.runs[1].change!, reason: 'a | b' };
    expect(column(logRow(renderReport(study), 2), 'Why')).toBe('a \\| b');
  });
});

describe('decisionsWithoutRun', () => {
  const study = finishedStudy();
  test.each([
    ['finished: trimEpochs and stop', finishedStudy(), ['trimEpochs', 'stop']],
    ["running: the latest decision's run is still training", runningStudy(), ['addEpochs']],
    ['diverged: the lowered rate has its run', divergedStudy(), []],
    [
      'a decision whose run never happened (study stopped)',
      { ...study, runs: study.runs.slice(0, 2), decisions: study.decisions.slice(0, 2) },
      ['addEpochs'],
    ],
    [
      'the same decision twice is claimed by two runs only once each',
      { ...study, decisions: [study.decisions[0], study.decisions[0]] },
      ['raiseLearnRate'],
    ],
  ] as Array<[string, StudyRecord, string[]]>)('%s', (_name, s, actions) => {
    expect(decisionsWithoutRun(s).map((d) => d.decision.action)).toEqual(actions);
  });
});
