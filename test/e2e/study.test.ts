/**
 * End to end: real training on small stratified Fashion-MNIST subsets through the `tune` binary.
 * Each study takes seconds to tens of seconds on the wasm backend.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { readStudyFile } from '../../src/store/study-store.ts';
import { HAVE_FASHION, SMALL_STUDY, tempReports, tune, tuneAsync } from './helpers.ts';

describe.skipIf(!HAVE_FASHION)('a real study on a small subset', () => {
  test('runs the flowchart, stores every run, writes the report and a loadable model', async () => {
    const reports = await tempReports();
    const { code, stderr, stdout } = tune([...SMALL_STUDY, '--max-runs', '3', '--name', 'e2e', '--reports', reports]);
    expect(code, stderr).toBe(3); // the run budget (3) ends the search: "stopped by budget with a result"
    const dir = path.join(reports, 'e2e');
    const study = readStudyFile(path.join(dir, 'study.json'));
    expect(study.status).toBe('finished');
    expect(study.runs.filter((r) => r.verdict !== 'final')).toHaveLength(3);
    expect(study.runs[0]).toMatchObject({ id: 1, stage: 'baseline', kind: 'search', verdict: 'baseline', fidelity: { trainImages: 500, validationImages: 300, kind: 'subset' } });
    for (const run of study.runs) {
      expect(run.result.history.epochs.length).toBeGreaterThan(0);
      expect(run.diagnosis.summary.length).toBeGreaterThan(0);
    }
    // Every decision is recorded with a reason; the machine's own stop says the budget ended the search.
    expect(study.decisions.length).toBeGreaterThanOrEqual(3);
    expect(study.decisions.find((d) => d.by === 'machine' && d.machine === 'budget')!.reason).toMatch(/budget: the run budget is used up/);
    // Every candidate was judged against its incumbent on the same validation images (the whole 2,000-image hold-out).
    for (const run of study.runs.slice(1)) {
      expect(run.evaluation?.images, `run ${run.id}`).toBe(2000);
      if (run.verdict !== 'replicate') expect(run.judgement, `run ${run.id}`).toMatchObject({ images: 2000, margin: 2 });
    }
    // One sealed evaluation; far above chance (10%) even on 500 images.
    expect(study.final!.testCount).toBe(10_000);
    expect(study.final!.testAccuracy).toBeGreaterThan(0.5);
    expect(study.final!.confusion.flat().reduce((a, b) => a + b, 0)).toBe(10_000);
    // The report, the plots, the machine snapshot and the model are on disk.
    const report = readFileSync(path.join(dir, 'report.md'), 'utf8');
    expect(report).toContain('Test accuracy');
    expect(report).toContain('Decision log');
    for (const run of study.runs) expect(existsSync(path.join(dir, 'plots', `run-${run.id}.svg`))).toBe(true);
    expect((study.snapshot as { value: string }).value).toBe('done');
    expect(existsSync(path.join(dir, 'log.ndjson'))).toBe(true);
    const { loadSavedModel } = await import('../../src/training/evaluate.ts');
    const model = await loadSavedModel(path.join(dir, 'model'));
    expect(model.outputs[0].shape).toEqual([null, 10]);
    model.dispose();
    expect(stdout + stderr).toContain('test accuracy');
    // `tune list` shows it.
    const list = tune(['list', '--reports', reports]);
    expect(list.code).toBe(0);
    expect(list.stdout).toContain('e2e');
  });

  test('killed with SIGKILL during a run, then resumed: finished runs are kept and the result equals an uninterrupted study', async () => {
    const reports = await tempReports();
    const args = [...SMALL_STUDY, '--max-runs', '3', '--reports', reports];
    const straight = tune([...args, '--name', 'straight']);
    expect(straight.code, straight.stderr).toBe(3);

    // Start the same study, kill -9 it as soon as run 1 is on disk (run 2 is then in progress).
    const child = tuneAsync([...args, '--name', 'killed']);
    const file = path.join(reports, 'killed', 'study.json');
    await new Promise<void>((resolve, reject) => {
      const timer = setInterval(() => {
        try {
          if (existsSync(file) && readStudyFile(file).runs.length >= 1) {
            clearInterval(timer);
            child.kill('SIGKILL');
            resolve();
          }
        } catch {
          /* mid-rename: try again */
        }
      }, 50);
      child.on('exit', () => {
        clearInterval(timer);
        reject(new Error('the study ended before it could be killed'));
      });
    });
    const before = readStudyFile(file);
    expect(before.status).toBe('running');
    const firstRun = before.runs[0];
    // The killed process could not release its lock: it is stale, and the resume takes it over.
    await new Promise<void>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.on('exit', () => resolve())));
    const lockFile = path.join(reports, 'killed', 'study.lock');
    expect(JSON.parse(readFileSync(lockFile, 'utf8')).pid).toBe(child.pid);

    const resumed = tune(['--resume', 'killed', '--reports', reports]);
    expect(resumed.code, resumed.stderr).toBe(3);
    expect(resumed.stderr).toContain(`took over the lock of study "killed" left by a stopped process (process ${child.pid} no longer exists)`);
    const log = readFileSync(path.join(reports, 'killed', 'log.ndjson'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
    expect(log.find((l) => l.msg === 'stale lock taken over')?.staleLock.owner.pid).toBe(child.pid);
    expect(existsSync(lockFile)).toBe(false);
    const after = readStudyFile(file);
    const reference = readStudyFile(path.join(reports, 'straight', 'study.json'));
    expect(after.status).toBe('finished');
    // Run 1 was not trained again.
    expect(after.runs[0].startedAt).toBe(firstRun.startedAt);
    // Same runs, same decisions, same numbers as the uninterrupted study (deterministic training).
    expect(after.runs.map((r) => [r.id, r.stage, r.change?.action ?? null, r.verdict])).toEqual(
      reference.runs.map((r) => [r.id, r.stage, r.change?.action ?? null, r.verdict]),
    );
    for (let i = 0; i < after.runs.length; i++) {
      expect(after.runs[i].result.bestValLoss).toBeCloseTo(reference.runs[i].result.bestValLoss!, 5);
    }
    expect(after.final!.testAccuracy).toBeCloseTo(reference.final!.testAccuracy, 5);
    // A finished study cannot be resumed.
    const again = tune(['--resume', 'killed', '--reports', reports]);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/already finished/);
  });

  test('one writer per study: a second `tune --resume` of a running study is refused naming its process; report and list still read it', async () => {
    const reports = await tempReports();
    const child = tuneAsync([...SMALL_STUDY, '--max-runs', '16', '--reports', reports, '--name', 'busy']);
    const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
    const file = path.join(reports, 'busy', 'study.json');
    const lockFile = path.join(reports, 'busy', 'study.lock');
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setInterval(() => {
          if (existsSync(file) && existsSync(lockFile)) {
            clearInterval(timer);
            resolve();
          }
        }, 50);
        child.on('exit', () => {
          clearInterval(timer);
          reject(new Error('the study ended before the test could run'));
        });
      });
      const second = tune(['--resume', 'busy', '--reports', reports]);
      expect(second.code).toBe(2);
      expect(second.stderr).toContain(`tune: study busy is being run by process ${child.pid} (started `);
      expect(second.stderr).toContain(`tune --data fashion`);
      expect(second.stderr).toContain(`wait for it or stop it with \`kill ${child.pid}\``);
      expect(second.stderr).not.toMatch(/\n\s+at /);
      // Readers take no lock.
      const report = tune(['report', 'busy', '--reports', reports]);
      expect(report.code, report.stderr).toBe(0);
      const list = tune(['list', '--reports', reports]);
      expect(list.stdout).toMatch(/busy +\| running/);
      expect(child.exitCode).toBeNull(); // the first process was not disturbed
      expect(JSON.parse(readFileSync(lockFile, 'utf8')).pid).toBe(child.pid);
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
  });

  test('Ctrl-C (SIGINT) saves the study as stopped, exits 130, and --resume finishes it', async () => {
    const reports = await tempReports();
    const child = tuneAsync([...SMALL_STUDY, '--max-runs', '2', '--reports', reports, '--name', 'interrupted']);
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const file = path.join(reports, 'interrupted', 'study.json');
    const code = await new Promise<number | null>((resolve) => {
      const timer = setInterval(() => {
        try {
          if (existsSync(file) && readStudyFile(file).runs.length >= 1) {
            clearInterval(timer);
            child.kill('SIGINT');
          }
        } catch {
          /* mid-rename */
        }
      }, 50);
      child.on('exit', (c) => {
        clearInterval(timer);
        resolve(c);
      });
    });
    expect(code).toBe(130);
    expect(existsSync(path.join(reports, 'interrupted', 'study.lock'))).toBe(false); // released on the way out
    const stopped = readStudyFile(file);
    expect(stopped.status).toBe('stopped');
    // The command to continue names the reports folder (not ./reports): as is, it finds the study.
    expect(stopped.statusReason).toContain(`\`tune --resume interrupted --reports ${reports}\``);
    expect(stderr).toContain(`continue with \`tune --resume interrupted --reports ${reports}\`.`);
    expect(readFileSync(path.join(reports, 'interrupted', 'report.md'), 'utf8')).toMatch(/stopped/i);
    const resumed = tune(['--resume', 'interrupted', '--reports', reports]);
    expect(resumed.code, resumed.stderr).toBe(3);
    expect(readStudyFile(file).status).toBe('finished');
  });

  test.each(['SIGTERM', 'SIGINT'] as const)('%s mid-run stops the study within seconds, resumable; the run in flight is trained again', async (signal) => {
    const reports = await tempReports();
    // A baseline run of 30 epochs on 20,000 images: about a minute of training on 2 cores.
    const args = ['--data', 'fashion', '--validation-size', '2000', '--subset', '20000', '--max-epochs', '30', '--max-runs', '1', '--budget', '0', '--no-final-full', '--backend', 'wasm'];
    const child = tuneAsync([...args, '--reports', reports, '--name', 'midrun']);
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    // Wait until training is under way (the first epoch's progress line), then signal.
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        if (/run 1 baseline\s+epoch 1\//.test(stderr)) {
          clearInterval(timer);
          resolve();
        }
      }, 50);
    });
    const sent = Date.now();
    child.kill(signal);
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    const seconds = (Date.now() - sent) / 1000;
    expect(code).toBe(130);
    expect(seconds, 'stopped mid-run, not at the end of the run').toBeLessThan(15);
    const file = path.join(reports, 'midrun', 'study.json');
    const stopped = readStudyFile(file);
    expect(stopped.status).toBe('stopped');
    expect(stopped.runs).toHaveLength(0); // the run in flight is not stored half-done
    expect((stopped.snapshot as { value: unknown }).value).toEqual({ baseline: 'training' });
    expect(existsSync(path.join(reports, 'midrun', 'study.lock'))).toBe(false);
  });
});
