/**
 * The finalise stage with a full-data retrain, on a small IDX folder cut from Fashion-MNIST
 * (`--data DIR` loads any folder in the IDX layout): the final run trains on the whole training
 * split, planned from the time left, and the model finalised is whichever of it and the search
 * incumbent validates better on the same images (paired).
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { openDataset } from '../../src/data/dataset.ts';
import { writeIdxFile } from '../../src/data/idx.ts';
import { stratifiedSubset, fullView } from '../../src/data/split.ts';
import { readStudyFile } from '../../src/store/study-store.ts';
import type { ImageSet } from '../../src/data/image-set.ts';
import { HAVE_FASHION, tempReports, tune } from './helpers.ts';
import { reasonOf, type MachineDecisionRecord } from '../../src/store/records.ts';
import { runStudy } from 'flowtune/study';
import type { Decision, Policy } from 'flowtune';

async function writeSubset(set: ImageSet, n: number, dir: string, prefix: 'train' | 't10k'): Promise<void> {
  const view = stratifiedSubset(fullView(set), n, 1);
  const pixels = new Uint8Array(n * 784);
  const labels = new Uint8Array(n);
  view.indices.forEach((index, k) => {
    labels[k] = set.labels[index];
    for (let p = 0; p < 784; p++) pixels[k * 784 + p] = Math.round(set.images[index * 784 + p] * 255);
  });
  await writeIdxFile(path.join(dir, `${prefix}-images-idx3-ubyte.gz`), [n, 28, 28], pixels, { gzip: true });
  await writeIdxFile(path.join(dir, `${prefix}-labels-idx1-ubyte.gz`), [n], labels, { gzip: true });
}

describe.skipIf(!HAVE_FASHION)('finalise with a full-data retrain', () => {
  test('trains the final run on the whole training split and finalises the better of it and the search incumbent', async () => {
    const fashion = await openDataset({ data: 'fashion' });
    const dir = await mkdtemp(path.join(tmpdir(), 'small-idx-'));
    await writeSubset(fashion.train, 1500, dir, 'train');
    await writeSubset(await fashion.loadTest(), 500, dir, 't10k');
    const reports = await tempReports();
    const { code, stderr } = tune([
      '--data', dir, '--validation-size', '300', '--subset', '400', '--validation-subset', '150',
      '--max-epochs', '2', '--max-runs', '2', '--budget', '0', '--backend', 'wasm', '--name', 'full', '--reports', reports,
    ]);
    expect(code, stderr).toBe(3);
    const study = readStudyFile(path.join(reports, 'full', 'study.json'));
    const final = study.runs.find((r) => r.verdict === 'final')!;
    expect(final.fidelity).toEqual({ trainImages: 1200, validationImages: 300, kind: 'full' });
    expect(final.stage).toBe('finalise');
    // The final plan and the final-weights choice are the machine's decisions, with their numbers.
    const plan = study.decisions.find((d) => d.by === 'machine' && reasonOf(d).startsWith('final run'))! as MachineDecisionRecord;
    expect(plan.reason).toMatch(/epochs of 1200 images/);
    const choice = study.decisions.find((d) => d.by === 'machine' && reasonOf(d).startsWith('final weights'))! as MachineDecisionRecord;
    expect(choice.reason).toMatch(/paired difference .* on the same 300 images/);
    const chosen = Number(/^final weights: run (\d+)/.exec(choice.reason)![1]);
    expect(study.final!.runId).toBe(chosen);
    expect([final.id, final.parentId]).toContain(chosen);
    expect(study.final!.testCount).toBe(500);
    expect(study.dataset.classNames).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
  });
});

describe.skipIf(!HAVE_FASHION)('the full-data rung, real training (issue 21)', () => {
  /** Nothing more on the subset; at the full-data rung, widen once, then stop. */
  const climber: Policy = {
    name: 'climber',
    description: 'test: the subset search stops at once; the full-data rung widens once',
    decide: (context): Decision => {
      if (context.fidelity === 'full' && context.allowed.includes('widen') && !context.tried.includes('widen')) return { action: 'widen', params: { factor: 2 }, reason: 'test: widen at the rung' };
      return { action: 'stop', params: {}, reason: 'test: done here' };
    },
  };

  test("the final run continues the rung winner's checkpoint: its epochs are not trained again", async () => {
    const fashion = await openDataset({ data: 'fashion' });
    const dir = await mkdtemp(path.join(tmpdir(), 'small-idx-'));
    await writeSubset(fashion.train, 1500, dir, 'train');
    await writeSubset(await fashion.loadTest(), 500, dir, 't10k');
    const result = await runStudy({
      data: dir, validationSize: 300, subset: 400, validationSubset: 150, maxEpochs: 2, budget: '75s', backend: 'wasm',
      policy: climber, name: 'rung', reportsDir: await tempReports(), quiet: true, logLevel: 'error',
    });
    expect(result.status, result.error?.message).toBe('done');
    const study = readStudyFile(path.join(result.dir, 'study.json'));
    const rung = study.runs.filter((r) => r.fidelity.kind === 'full' && r.kind === 'search');
    expect(rung.length, 'the study climbed to the full-data rung').toBeGreaterThanOrEqual(1);
    const final = study.runs.find((r) => r.kind === 'final')!;
    const parent = study.runs.find((r) => r.id === final.parentId)!;
    expect(rung).toContain(parent);
    expect(final.continuedFrom).toBe(parent.id);
    // The parent's epochs are the final run's first ones; only the new ones were trained.
    const done = parent.result.epochsCompleted;
    expect(final.result.history.epochs.slice(0, done).map((e) => e.epoch)).toEqual(parent.result.history.epochs.map((e) => e.epoch));
    expect(final.result.epochsCompleted).toBeGreaterThan(done);
    expect(final.result.history.iterations.find((it) => it.epoch === done + 1)!.learnRate).toBe(final.options.initialLearnRate);
    expect(final.result.imagesTrained - parent.result.imagesTrained).toBeLessThanOrEqual((final.result.epochsCompleted - done) * 1200);
    expect(study.final!.testCount).toBe(500);
  }, 240_000);
});
