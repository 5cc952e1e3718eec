/**
 * The report of a tiny real study, read as its user would: the classify script of "What to use"
 * runs under Node against the saved model and names the same class the model predicts in
 * flowtune's own evaluation code; `tune show` and `tune report --summary` print within 100 columns.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, test } from 'vitest';
import { openDataset } from '../../src/data/dataset.ts';
import { readStudyFile } from '../../src/store/study-store.ts';
import { HAVE_FASHION, ROOT, SMALL_STUDY, tempReports, tune } from './helpers.ts';

describe.skipIf(!HAVE_FASHION)('the report of a tiny real study', () => {
  let reports: string;
  let dir: string;
  beforeAll(async () => {
    reports = await tempReports();
    const { code, stderr } = tune([...SMALL_STUDY, '--max-runs', '2', '--name', 'tiny', '--reports', reports]);
    expect(code, stderr).toBe(3);
    dir = path.join(reports, 'tiny');
  }, 300_000);

  test('the classify script in "What to use" runs against the saved model and agrees with the model', async () => {
    const report = readFileSync(path.join(dir, 'report.md'), 'utf8');
    const use = report.slice(report.indexOf('## What to use'), report.indexOf('## Decision log'));
    const script = /```js\n([\s\S]*?)```/.exec(use)![1];
    // As the report says: saved beside report.md. The packages resolve from flowtune's node_modules.
    writeFileSync(path.join(dir, 'classify.mjs'), script);
    symlinkSync(path.join(ROOT, 'node_modules'), path.join(reports, 'node_modules'), 'dir');
    // Three test images as PNG files, as a user would have them.
    const fashion = await openDataset({ data: 'fashion' });
    const test = await fashion.loadTest();
    const study = readStudyFile(path.join(dir, 'study.json'));
    const { loadSavedModel } = await import('../../src/training/evaluate.ts');
    const tf = await import('@tensorflow/tfjs');
    const model = await loadSavedModel(path.join(dir, study.final!.modelDir));
    for (const index of [0, 1, 2]) {
      const pixels = Uint8Array.from({ length: 784 }, (_, p) => Math.round(Number(test.images[index * 784 + p]) * (test.images instanceof Uint8Array ? 1 : 255)));
      const png = path.join(dir, `image-${index}.png`);
      await sharp(Buffer.from(pixels), { raw: { width: 28, height: 28, channels: 1 } }).png().toFile(png);
      const run = spawnSync(process.execPath, ['classify.mjs', png], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
      expect(run.status, run.stderr).toBe(0);
      const match = /^(.+) \((\d+\.\d)%\)\n$/.exec(run.stdout);
      expect(match, run.stdout).not.toBeNull();
      // The model's own prediction on the same pixels (0..1), through flowtune's loader.
      const logits = model.predict(tf.tensor4d(Float32Array.from(pixels, (v) => v / 255), [1, 28, 28, 1])) as import('@tensorflow/tfjs').Tensor;
      const predicted = (await logits.argMax(1).data())[0];
      expect(match![1]).toBe(study.dataset.classNames[predicted]);
      const probability = (await tf.softmax(logits).data())[predicted];
      expect(Number(match![2])).toBeCloseTo(probability * 100, 0);
    }
    model.dispose();
  }, 300_000);

  test('tune show and tune report --summary: the summary and the decision log within 100 columns', () => {
    const show = tune(['show', 'tiny', '--reports', reports]);
    expect(show.code, show.stderr).toBe(0);
    expect(show.stdout).toMatch(/^Study tiny — finished/);
    expect(show.stdout).toMatch(/\nTest accuracy: \d+\.\d\d% \(95% interval \d+\.\d\d–\d+\.\d\d%\) on the 10,000 sealed test images/);
    expect(show.stdout).toContain('\nDecision log\n');
    expect(show.stdout).toContain(`Model: ${dir}/model/`);
    for (const line of show.stdout.split('\n')) expect([...line].length, line).toBeLessThanOrEqual(100);
    const summary = tune(['report', 'tiny', '--summary', '--reports', reports]);
    expect(summary.code, summary.stderr).toBe(0);
    expect(summary.stdout).toBe(`${show.stdout}\n${path.join(dir, 'report.md')}\n`);
  });
});
