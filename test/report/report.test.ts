import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { accuracyInterval } from '../../src/diagnosis/paired.ts';
import { confirmPlan } from '../../src/machine/budget.ts';
import { planFinalRun } from '../../src/machine/final-run.ts';
import { resolveOptions } from '../../src/config/options.ts';
import { wordCount } from '../../src/report/format.ts';
import { logRows } from '../../src/report/log.ts';
import { renderReport } from '../../src/report/markdown.ts';
import { runNumbers } from '../../src/report/run-section.ts';
import { tellStory } from '../../src/report/story.ts';
import { summaryItems } from '../../src/report/summary.ts';
import { renderSummaryText, TERMINAL_WIDTH } from '../../src/report/terminal.ts';
import { WHY_WORDS } from '../../src/report/why.ts';
import { parseStudy, readStudyFile, stringifyStudy } from '../../src/store/study-store.ts';
import type { StudyRecord } from '../../src/store/records.ts';
import { budgetStoppedStudy, CLASS_NAMES, divergedStudy, emptyStudy, finishedStudy, runningStudy } from './__fixtures__/studies.ts';
import { reasonOf, type MachineDecisionRecord } from '../../src/store/records.ts';

// The example study as committed before paired verdicts (schema version 1), kept as a fixture: an
// older study must still render. (reports/example/ is now a current study.)
const EXAMPLE = path.resolve(import.meta.dirname, '__fixtures__/example-v1-study.json');

/** The text of one `## Section` of a report. */
function section(report: string, title: string): string {
  const start = report.indexOf(`## ${title}\n`);
  if (start < 0) throw new Error(`no section ${title}`);
  const next = report.indexOf('\n## ', start + 3);
  return report.slice(start, next < 0 ? undefined : next);
}

/** The cells of a Markdown table row (pipes escaped as \| stay inside a cell). */
function cells(row: string): string[] {
  return row
    .split(/(?<!\\)\|/)
    .slice(1, -1)
    .map((c) => c.trim());
}

/** The decision-log rows of a report, as cells. */
function logTable(report: string): string[][] {
  return section(report, 'Decision log')
    .split('\n')
    .filter((l) => /^\| +\d+ \|/.test(l))
    .map(cells);
}

const FIXTURES: Array<[string, () => StudyRecord]> = [
  ['finished', finishedStudy],
  ['running', runningStudy],
  ['diverged', divergedStudy],
  ['budget', budgetStoppedStudy],
  ['empty', emptyStudy],
];

describe('renderReport: a finished study with every kind of decision', () => {
  const study = finishedStudy();
  const report = renderReport(study);

  test('matches the stored report', async () => {
    await expect(report).toMatchFileSnapshot('./__fixtures__/finished.report.md');
  });

  test('reads in order: summary, what to use, the decision log, the test result, data, settings, runs', () => {
    const order = ['## Summary', '## What to use', '## Decision log', '## Test result', '## Study settings', '## Runs'].map((h) => report.indexOf(h));
    expect(order.every((i) => i > 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
  });

  test('the summary, in ten seconds', () => {
    expect(section(report, 'Summary')).toMatchInlineSnapshot(`
      "## Summary

      - **Test accuracy:** **90.23%** (95% interval 89.63–90.80%) on the 10,000 sealed test images, used once, with run 9's weights
      - **Changed from the start:** 3 changes from the starting configuration:
        - addEpochs maxEpochs=20 (run 2): validation accuracy 86.00% → 87.20% on 1,000 images; loss −0.02594 ± 0.006328 (4.1 SE better; margin 2 SE), accuracy +1.20 ± 0.34 pt
        - deepen filters=40 (run 3): validation accuracy 87.20% → 89.00% on 1,000 images; loss −0.03986 ± 0.006328 (6.3 SE better; margin 2 SE), accuracy +1.80 ± 0.42 pt
        - trimEpochs maxEpochs=14 (after run 2, no run): maxEpochs 20 → 14, the smoothed validation-loss minimum (0.3361 at epoch 14)
        - not kept: widen factor=2 (run 4, tie), changeFilterSize kernelSize=5 (run 6, reverted): none beat the incumbent beyond the noise margin
      - **Final run:** run 9 trained run 3's configuration on all 50,000 training images until its planned deadline in epoch 13 of 16 with the learning rate ×0.1 every 5 epochs, planned by the machine from the time left; validation accuracy 89.00% (search weights) → 93.60% (+4.60 pt) on the same 1,000 images
      - **Time:** 11 min 35 s of the 11 min 40 s budget (99%): search 4 min 58 s in 6 runs (43%), confirmation 1 min 29 s in 2 runs (13%), final run 3 min 54 s (34%), evaluations and bookkeeping 1 min 14 s (11%); the search ended on its budget
      - **With more budget:** the policy would try \`addDropout rate=0.2\`: a dropout layer (by default before the final fully connected layer) (a step the flowchart would not allow at this point)
      "
    `);
  });

  test('the test accuracy comes with its Wilson 95% interval over the test images', () => {
    const { low, high } = accuracyInterval(study.final!.testAccuracy, study.final!.testCount);
    expect(summaryItems(study, tellStory(study))[0].text).toContain(`(95% interval ${(low * 100).toFixed(2)}–${(high * 100).toFixed(2)}%)`);
  });

  test("what to use: the model, a classify script, and the user's configuration — not the final run's internal settings", () => {
    const use = section(report, 'What to use');
    expect(use).toContain("[`model/`](model/) in this study's folder");
    expect(use).toContain('await tf.loadLayersModel(tf.io.fromMemory({');
    expect(use).toContain(`const CLASSES = ${JSON.stringify(CLASS_NAMES)};`);
    expect(use).toContain('tf.tensor4d(Float32Array.from(pixels, (v) => v / 255), [1, 28, 28, 1])');
    // The configuration the search settled on (run 3: deepened, trimmed to 14 epochs), in MATLAB and JSON.
    expect(use).toContain("is run 3's, the one the search settled on");
    expect(use).toContain('convolution2dLayer(3, 40, \'Padding\', \'same\')');
    expect(use).toContain("options = trainingOptions('sgdm', ...\n    'MaxEpochs', 14, ...\n    'OutputNetwork', 'best-validation-loss');");
    expect(use).toContain('"maxEpochs": 14,');
    expect(use).toContain('"validationFrequency": 50,');
    expect(use).toContain('Network as JSON (`tune bench --network FILE` takes it):\n\n```json\n{\n  "inputShape": [28, 28, 1],');
    // The final run's length and schedule are the machine's plan, said apart from the configuration.
    expect(use).toMatch(/The final run \(run 9\) trained it on all 50,000 training images with `'MaxEpochs', 16, 'LearnRateSchedule', 'piecewise', 'LearnRateDropFactor', 0\.1, 'LearnRateDropPeriod', 5`: a length the machine planned/);
    expect(use).not.toContain('ValidationFrequency');
  });

  test('one chronological log: every decision and every run exactly once, in time order', () => {
    const story = tellStory(study);
    const times = story.entries.map((e) => Date.parse(e.at));
    expect([...times].sort((a, b) => a - b)).toEqual(times);
    expect(story.entries.filter((e) => e.record).map((e) => e.record)).toEqual(expect.arrayContaining(study.decisions));
    expect(story.entries.filter((e) => e.record)).toHaveLength(study.decisions.length);
    expect(story.entries.flatMap((e) => (e.run ? [e.run.id] : [])).sort((a, b) => a - b)).toEqual(study.runs.map((r) => r.id));
    const rows = logTable(report);
    expect(rows.map((r) => [r[0], r[1], r[2], r[3], r[5]])).toEqual([
      ['1', 'start', 'study', 'start: the starting configuration', '[1](#run-1)'],
      ['2', 'after 1', 'policy', 'addEpochs maxEpochs=20', '[2](#run-2)'],
      ['3', 'after 2', 'policy', 'trimEpochs maxEpochs=14', '—'],
      ['4', 'after 2', 'refused', 'addL2 l2Regularization=0.001 (refused)', '—'],
      ['5', 'after 2', 'policy', 'deepen filters=40', '[3](#run-3)'],
      ['6', 'after 3', 'policy', 'widen factor=2', '[4](#run-4)'],
      ['7', 'after 4', 'machine', 'replicate run 4, seed 1000', '[5](#run-5)'],
      ['8', 'after 5', 'policy', 'changeFilterSize kernelSize=5', '[6](#run-6)'],
      ['9', 'after 3', 'machine', 'end the search (budget)', '—'],
      ['10', 'after 3', 'machine', 'choose the finalists', '—'],
      ['11', 'after 6', 'machine', "confirm run 3's configuration", '[7](#run-7)'],
      ['12', 'after 7', 'machine', "confirm run 2's configuration", '[8](#run-8)'],
      ['13', 'after 3', 'machine', 'plan the final run', '[9](#run-9)'],
      ['14', 'after 9', 'machine', 'choose the final weights', '—'],
    ]);
  });

  test('log widths: each Why is at most 25 words, each row at most 340 characters', () => {
    for (const row of logRows(tellStory(study))) expect(wordCount(row.why), row.why).toBeLessThanOrEqual(WHY_WORDS);
    const lines = section(report, 'Decision log').split('\n').filter((l) => l.startsWith('|'));
    expect(Math.max(...lines.map((l) => [...l].length))).toBeLessThanOrEqual(340);
  });

  test('verdicts show the paired difference, its standard error and the margin; a tie says which run stands', () => {
    const rows = logTable(report);
    expect(rows[1][6]).toBe('✔ kept: loss −0.02594 ± 0.006328 (4.1 SE better; margin 2 SE), accuracy +1.20 ± 0.34 pt; on 4,096 images');
    expect(rows[5][6]).toMatch(/^= tie, run 3 stands: loss −0\.006\d+ ± 0\.00\d+ \(1\.\d SE better; margin 2 SE\)/);
    expect(rows[6][6]).toBe("↻ replicate: pooled into run 4's verdict");
    expect(rows[7][6]).toMatch(/^✘ reverted: loss \+0\.02151 ± 0\.006328 \(3\.4 SE worse; margin 2 SE\), accuracy −0\.90 ± 0\.30 pt; on 4,096 images$/);
    expect(rows[11][6]).toMatch(/^◆ confirm against run 7: loss \+/);
  });

  test('the Whys: the subject run with its numbers and the flowchart step; refusals and machine decisions in short', () => {
    const why = logTable(report).map((r) => r[4]);
    expect(why[1]).toBe('run 1 underfitting: validation loss still falling, −0.01914 ± 0.001688 per epoch → step 2, train enough');
    expect(why[2]).toMatch(/^run 2 overfitting: validation loss lowest at epoch 14 \(smoothed 0\.3361\), then rising/);
    expect(why[3]).toBe('the standing run shows no overfitting gap: regularisation is only revisited when one appears');
    // The skipped regularisation step is said where the study moved on to capacity.
    expect(why[4]).toBe('run 2: training − validation gap 1.45 pt ≤ 10.00 pt, nothing to regularise (step 4 skipped) → step 5, more capacity');
    expect(why[8]).toBe("the search's time is used up (338 s of 700 s; the rest is kept for the final run)");
    expect(why[9]).toMatch(/^run 2's configuration trains 2\.5× faster than run 3's: both train on all 50,000 images for/);
    expect(why[12]).toMatch(/^about 12\.8 epochs of 50,000 images, continuing run 7, rate ×0\.1 every 5 epochs: \d+ s left$/);
    expect(why[13]).toMatch(/^run 9's weights: validation accuracy 93\.60% vs 89\.00%, loss 0\.\d{4} vs 0\.\d{4} \(run 3\)$/);
  });

  test('a long final run on augmented batches: its Why says so, within the word limit', () => {
    const long = structuredClone(study);
    const plan = long.decisions.find((d) => d.by === 'machine' && /^final run:/.test(reasonOf(d)))! as MachineDecisionRecord;
    plan.reason = plan.reason.replace(/; /, '; augmented batches (mirror left–right, shifts up to 2 pixels): a run of 20 epochs or more, 2.5× the rung\'s, overfits without; ');
    const why = logTable(renderReport(long)).map((r) => r[4]);
    expect(why[12]).toMatch(/^about 12\.8 epochs of 50,000 images, continuing run 7, rate ×0\.1 every 5 epochs, augmented: \d+ s left$/);
    expect(wordCount(why[12])).toBeLessThanOrEqual(WHY_WORDS);
  });

  test('a long run dropping its rate on its own clock: the Why, the summary and the MATLAB note give the epoch it dropped in', () => {
    const clocked = structuredClone(study);
    const final = clocked.runs.find((r) => r.verdict === 'final')!;
    // The longest Why: a continued run (a rung winner's), augmented, dropping on its clock.
    final.continuedFrom = final.parentId;
    const plan = clocked.decisions.find((d) => d.by === 'machine' && /^final run:/.test(reasonOf(d)))! as MachineDecisionRecord;
    plan.reason = plan.reason.replace(/; /, '; augmented batches (mirror left–right, shifts up to 2 pixels): a run of 20 epochs or more, 2.5× the rung\'s, overfits without; ');
    Object.assign(final.options, { learnRateDropAtTime: 0.75, learnRateDropPeriod: 10 });
    const dropAt = final.result.history.iterations.find((it) => it.epoch === 11)!.iteration;
    for (const it of final.result.history.iterations) it.learnRate = it.iteration < dropAt ? final.options.initialLearnRate : final.options.initialLearnRate * 0.1;
    const text = renderReport(clocked);
    const why = logTable(text).map((r) => r[4]);
    expect(why[12]).toMatch(/^about 12\.8 epochs of 50,000 images, continuing run \d+, rate ×0\.1 once, after 75% of its time \(in epoch 11\), augmented: \d+ s left$/);
    expect(wordCount(why[12])).toBeLessThanOrEqual(WHY_WORDS);
    expect(text).toMatch(/until its planned deadline in epoch 13 of 16 with the learning rate ×0\.1 once, after 75% of its time \(in epoch 11\), planned by the machine/);
    expect(text).toMatch(/flowtune dropped the rate on the run's own clock instead of at LearnRateDropPeriod: ×0\.1 once, after 75% of its time \(in epoch 11\)\./);
    // A run its deadline stopped before the drop says so.
    for (const it of final.result.history.iterations) it.learnRate = final.options.initialLearnRate;
    expect(renderReport(clocked)).toMatch(/×0\.1 once, after 75% of its time \(it stopped before it\)/);
  });

  test('a final run on a cosine schedule (a user\'s policy may set it): the Why, the summary and the MATLAB call name it', () => {
    const cosine = structuredClone(study);
    const final = cosine.runs.find((r) => r.verdict === 'final')!;
    Object.assign(final.options, { learnRateSchedule: 'cosine' });
    const text = renderReport(cosine);
    const why = logTable(text).map((r) => r[4]);
    expect(why[12]).toMatch(new RegExp(`^about 12\\.8 epochs of 50,000 images, continuing run \\d+, rate cosine to 0 over ${final.options.maxEpochs} epochs: \\d+ s left$`));
    expect(text).toContain(`with the learning rate cosine to 0 over ${final.options.maxEpochs} epochs`);
    expect(text).toContain(`'MaxEpochs', ${final.options.maxEpochs}, 'LearnRateSchedule', 'cosine'\``);
  });

  test('a larger finalist confirmed against the incumbent: its Why in short, within the word limit', () => {
    const larger = structuredClone(study);
    const finalists = larger.decisions.find((d) => d.by === 'machine' && /both train on all/.test(reasonOf(d)))! as MachineDecisionRecord;
    finalists.reason = confirmPlan(
      { runId: 3, imagesPerSecond: 6000, evalImagesPerSecond: 18_000, validationLoss: 0.34 },
      [],
      1670,
      { searchTrain: 8192, fullTrain: 50_000, fullValidation: 10_000, test: 10_000 },
      400_000,
      [{ runId: 4, imagesPerSecond: 2190, evalImagesPerSecond: 6570, validationLoss: 0.334, imagesNeeded: 400_000 }],
    )!.reason;
    const row = logRows(tellStory(larger)).find((r) => r.why.includes('larger'))!;
    expect(row.why).toMatch(/^run 4's configuration, larger and tied on the subset, is affordable: both train on all 50,000 images for [\d.]+ s; the better goes on$/);
    expect(wordCount(row.why)).toBeLessThanOrEqual(WHY_WORDS);
  });

  test('a larger finalist confirmed because the converged incumbent cannot use the time, and a capped final run: their Whys in short', () => {
    const sizes = { searchTrain: 8192, fullTrain: 50_000, fullValidation: 10_000, test: 10_000 };
    const idle = structuredClone(study);
    const finalists = idle.decisions.find((d) => d.by === 'machine' && /both train on all/.test(reasonOf(d)))! as MachineDecisionRecord;
    finalists.reason = confirmPlan(
      { runId: 3, imagesPerSecond: 8000, evalImagesPerSecond: 24_000, validationLoss: 0.36 },
      [],
      520,
      sizes,
      200_000,
      [{ runId: 2, imagesPerSecond: 5800, evalImagesPerSecond: 17_400, validationLoss: 0.377, imagesNeeded: 250_000, onlyWhenTimeIsIdle: true }],
      true,
    )!.reason;
    const final = idle.decisions.find((d) => d.by === 'machine' && /^final run:/.test(reasonOf(d)))! as MachineDecisionRecord;
    final.reason = `final run: run 3's configuration on the full training split: ${
      planFinalRun({ secondsLeft: 600, speed: { imagesPerSecond: 13_000, evalImagesPerSecond: 39_000 }, sizes, standing: resolveOptions({}), epochsDone: 0, evidence: { imagesToMinimum: 5 * 8192, stillImproving: false, searchEpochs: 10 } }).reason
    }`;
    const rows = logRows(tellStory(idle));
    const whyIdle = rows.find((r) => r.why.includes('cannot use'))!.why;
    expect(whyIdle).toMatch(/^run 3's converged network cannot use the time left; run 2's, costlier and not rejected, can: both train [\d.]+ s; the better goes on$/);
    const whyCapped = rows.find((r) => r.why.includes('ends early'))!.why;
    expect(whyCapped).toMatch(/^\d+ epochs of 50,000 images, rate ×0\.1 every \d+ epochs: enough for this converged network \(1\d\d(\.\d+)? affordable\); the study ends early$/);
    for (const why of [whyIdle, whyCapped]) expect(wordCount(why)).toBeLessThanOrEqual(WHY_WORDS);
  });

  test('the example study (real): a larger tie that won its confirmation is the configuration, and the summary says how', () => {
    const example = readStudyFile(path.resolve(import.meta.dirname, '../../reports/example/study.json'));
    const story = tellStory(example);
    const confirm = example.runs.find((r) => r.verdict === 'confirm' && r.judgement?.kept)!;
    expect(story.configRun?.id).toBe(confirm.basedOn);
    const changed = summaryItems(example, story).find((i) => i.label === 'Changed from the start')!;
    const line = changed.points!.find((p) => p.includes(`(run ${confirm.basedOn})`))!;
    expect(line).toMatch(new RegExp(`a tie on the search subset \\(the incumbent stood\\);.*; then it won its equal-time confirmation on all 50,000 training images \\(run ${confirm.id}\\): loss −`));
    expect(renderReport(example)).toContain(`is run ${confirm.basedOn}'s, the one the study finalised in place of the search's choice, run ${example.incumbentId}'s`);
  });

  test('each run: a short table of named numbers in one set of units, no raw evidence keys', () => {
    const story = tellStory(study);
    for (const run of study.runs) {
      const rows = runNumbers(run, story);
      expect(rows.length).toBeLessThanOrEqual(13);
      for (const [, value] of rows) {
        expect(value).not.toMatch(/\w+=[-\d.]+,/); // "lossSwing=0.323475," style
        for (const p of value.match(/\d+(\.\d+)?%/g) ?? []) expect(p, value).toMatch(/^\d+\.\d{2}%$/);
      }
    }
    const run3 = report.slice(report.indexOf('### Run 3'), report.indexOf('### Run 4'));
    expect(run3).toContain('**Why this run** (log #5): `deepen filters=40` applied to run 2 — run 2 (overfitting; validation accuracy 87.00%');
    expect(run3).toMatch(/\| \*\*Validation loss \(1,000 images, once per epoch\)\*\* +\| lowest 0\.\d{4} at epoch \d+; smoothed minimum 0\.\d{4} at epoch \d+/);
    expect(run3).toMatch(/\| \*\*Training − validation accuracy, epoch \d+\*\* +\| \d+\.\d\d% − \d+\.\d\d% = \d+\.\d\d pt \(overfitting above 10\.00 pt\)/);
    expect(run3).toMatch(/\| \*\*Verdict against run 2 \(same 1,000 images\)\*\* +\| ✔ kept: loss −0\.03986 ± 0\.006328/);
    expect(run3).toMatch(/\| \*\*Speed\*\* +\| 2,400 vs 6,000 images\/s \(0\.4× run 2's\)/);
    // The decisions after run 3, in full, with who took them.
    expect(run3).toContain("- #6 `widen factor=2`, the policy: run 3 (converged;");
    expect(run3).toMatch(/- #9 end the search \(budget\), the machine: budget: the search's time is used up/);
    // A replicate says what it is; the pooled verdict sits with the candidate.
    const run4 = report.slice(report.indexOf('### Run 4'), report.indexOf('### Run 5'));
    expect(run4).toMatch(/\*\*Verdict against run 3 \(same 1,000 images, pooled with run 5\)\*\*/);
    const run5 = report.slice(report.indexOf('### Run 5'), report.indexOf('### Run 6'));
    expect(run5).toContain("**Why this run** (log #7): a second seed (1000) of run 4's configuration");
  });

  test('without plots, no image links', () => {
    expect(renderReport(finishedStudy(), { plots: false })).not.toContain('.svg');
  });
});

describe('renderReport: other studies', () => {
  test.each([
    ['running', runningStudy],
    ['diverged', divergedStudy],
    ['budget', budgetStoppedStudy],
  ] as const)('%s: matches the stored report', async (name, make) => {
    await expect(renderReport(make())).toMatchFileSnapshot(`./__fixtures__/${name}.report.md`);
  });

  test('running: no result yet, the configuration so far (trims applied), the latest decision training', () => {
    const report = renderReport(runningStudy());
    expect(report).toContain('- **Test accuracy:** none yet: the study is still running; the test set is unused; best so far: run 2, validation accuracy 87.20% on 1,000 images');
    expect(report).toContain('No final model yet: the study is still running.');
    // run 2 was trained for 20 epochs, then trimmed to 14 without a run: the configuration says 14
    expect(section(report, 'What to use')).toContain('"maxEpochs": 14,');
    expect(logTable(report).at(-1)![6]).toBe('… its run is training');
  });

  test('diverged: where it went NaN; a stable run beats a diverged incumbent', () => {
    const report = renderReport(divergedStudy());
    const rows = logTable(report);
    expect(rows[0][6]).toBe('● baseline: diverged (NaN loss at iteration 12)');
    expect(rows[1][4]).toBe('run 1 diverged: NaN loss at iteration 12 (epoch 1) → step 1, stabilise the learning rate');
    expect(rows[1][6]).toBe('✔ kept: run 1 diverged; run 2 trained stably (validation accuracy 86.00%)');
    expect(report).toMatch(/\| \*\*Stopped\*\* +\| diverged: the loss became non-finite \(NaN\/Inf\) at iteration 12, epoch 1; no further batch was spent/);
  });

  test('stopped by the budget: the run cut short is not judged, and says so', () => {
    const report = renderReport(budgetStoppedStudy());
    expect(report).toContain('**stopped: time budget of 1 min used up during run 3**');
    expect(logTable(report).at(-1)![6]).toBe('… pending: not judged, cut short by the budget');
    expect(report).toMatch(/\| \*\*Stopped\*\* +\| the study's time budget ran out during epoch 4/);
  });

  test('a study without runs', () => {
    const report = renderReport(emptyStudy());
    expect(report).toContain('No run has finished yet.');
    expect(report).not.toContain('plots/');
  });

  test('the store round trip (which keeps NaN and Infinity) gives the same report; plain JSON (NaN → null) still renders', () => {
    for (const [, make] of FIXTURES) {
      const study = make();
      expect(renderReport(parseStudy(stringifyStudy(study)))).toBe(renderReport(study));
      expect(() => renderReport(JSON.parse(JSON.stringify(study)) as StudyRecord)).not.toThrow();
    }
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
      if (run.judgement) run.judgement.lossSE = NaN;
    }
    const report = renderReport(study);
    expect(report).toContain('**failed: trainer crashed | out of memory**');
    expect(report).toContain("'InitialLearnRate', NaN");
  });

  test("a refusal for lack of time: its numbers, without the rule's name or lead-in", () => {
    const study = finishedStudy();
    study.decisions[2].refused =
      'it would leave no time to train it properly: its run (about 31 s) and the final run it would need (about 649 s at its speed) exceed the 172 s left (budgetLeft)';
    expect(logTable(renderReport(study))[3][4]).toBe('its run (about 31 s) and the final run it would need (about 649 s at its speed) exceed the 172 s left');
  });

  test('pipes in reasons do not break the log', () => {
    const study = finishedStudy();
    study.decisions[2].refused = 'a | b';
    expect(logTable(renderReport(study))[3][4]).toBe('a \\| b');
  });
});

describe('an older study (before paired verdicts and machine decisions): the example as first committed', () => {
  const study = readStudyFile(EXAMPLE);
  const report = renderReport(study);

  test('renders every decision and run in one log, without judgements', () => {
    const rows = logTable(report);
    expect(rows).toHaveLength(study.decisions.length + 2); // + the baseline and the final run, which no decision record produced
    expect(rows[5][6]).toBe('✔ kept');
    expect(report).toContain('this study predates paired verdicts: no standard error');
    expect(report).toContain('- **With more budget:** not recorded (the study predates this question)');
  });

  test('the configuration to reproduce is the final run\'s search parent, with the user\'s validation frequency', () => {
    const use = section(report, 'What to use');
    expect(use).toContain("is run 5's, the one the search settled on");
    expect(use).not.toContain("'ValidationFrequency', 390");
  });
});

describe('terminal: tune show NAME', () => {
  test.each(FIXTURES)('%s: every line within 100 columns', (_name, make) => {
    const text = renderSummaryText(make());
    for (const line of text.split('\n')) expect([...line].length, line).toBeLessThanOrEqual(TERMINAL_WIDTH);
  });

  test('the older example and a narrower terminal too', () => {
    const study = readStudyFile(EXAMPLE);
    for (const width of [100, 80]) for (const line of renderSummaryText(study, { width }).split('\n')) expect([...line].length, line).toBeLessThanOrEqual(width);
  });

  test('the summary, then the log with its columns, in order', async () => {
    const text = renderSummaryText(finishedStudy(), { studyDir: '/data/reports/fashion-finished' });
    await expect(text).toMatchFileSnapshot('./__fixtures__/finished.summary.txt');
    const header = text.split('\n').find((l) => l.startsWith(' #  After'))!;
    expect(header.split(/\s{2,}/).map((s) => s.trim())).toEqual(['#', 'After', 'By', 'Decision', 'Why', 'Run', 'Verdict']);
    const numbers = text
      .split('\n')
      .map((l) => /^ ?(\d+) {2}/.exec(l)?.[1])
      .filter(Boolean)
      .map(Number);
    expect(numbers).toEqual(Array.from({ length: 14 }, (_, i) => i + 1));
    expect(text).toContain('Model: /data/reports/fashion-finished/model/');
  });
});
