/**
 * Several machines, one study (issue 22): `tune worker` and `tune --redis` against a real Redis
 * (redis-server on 127.0.0.1, started here) with real processes — real training on small
 * Fashion-MNIST subsets, real signals.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { defaultNetwork } from '../../src/config/network.ts';
import { deepen } from '../../src/config/network-edits.ts';
import { openDataset } from '../../src/data/dataset.ts';
import { openQueueTrainer } from '../../src/queue/trainer.ts';
import { resolveOptions } from '../../src/config/options.ts';
import { PROTOCOL, QUEUE_NAME, checkpointKey, decodeIndices, decodePayload, encodeIndices, encodePayload, jobIdFor, packFolder, redactUrl, unpackFolder, type TrainJob } from '../../src/queue/protocol.ts';
import { parseStudy } from '../../src/store/study-store.ts';
import type { StudyRecord } from '../../src/store/records.ts';
import { VERSION } from '../../src/version.ts';
import { HAVE_FASHION, ROOT, TUNE, tempReports, tune, tuneAsync } from '../e2e/helpers.ts';
import { REDIS_SERVER, selfSignedCertificate, startRedis, type RedisServer } from './redis-server.ts';

describe('the queue protocol', () => {
  test('indices, non-finite numbers and job ids survive the trip', () => {
    const indices = Uint32Array.from([0, 1, 59_999, 4_294_967_295]);
    expect(Array.from(decodeIndices(encodeIndices(indices)))).toEqual(Array.from(indices));
    const job = { protocol: PROTOCOL, version: VERSION, options: { gradientThreshold: Infinity }, result: { bestValLoss: NaN } } as unknown as TrainJob;
    const back = decodePayload<TrainJob>(encodePayload(job)) as unknown as { options: { gradientThreshold: number }; result: { bestValLoss: number } };
    expect(back.options.gradientThreshold).toBe(Infinity);
    expect(back.result.bestValLoss).toBeNaN();
    expect(jobIdFor('abc', 'run-12')).toBe('abc-run-12');
    expect(jobIdFor('abc', 'run:12')).not.toContain(':'); // BullMQ ids may not hold ':'
  });

  test('a checkpoint folder travels whole, subfolders included (a run keeps its last iteration in last/), and nothing lands outside its folder', async () => {
    const from = await tempReports();
    mkdirSync(path.join(from, 'last'));
    writeFileSync(path.join(from, 'model.json'), '{"a":1}');
    writeFileSync(path.join(from, 'weights.bin'), Buffer.from([0, 1, 2, 255]));
    writeFileSync(path.join(from, 'last', 'model.json'), '{"b":2}');
    writeFileSync(path.join(from, 'validation.bin'), 'study-side');
    const files = await packFolder(from, ['validation.bin']);
    expect(Object.keys(files)).toEqual(['last/model.json', 'model.json', 'weights.bin']);
    const to = await tempReports();
    await unpackFolder(to, files);
    expect(readFileSync(path.join(to, 'last', 'model.json'), 'utf8')).toBe('{"b":2}');
    expect([...readFileSync(path.join(to, 'weights.bin'))]).toEqual([0, 1, 2, 255]);
    for (const bad of ['../x', '/etc/x', 'a/../../x', '.hidden']) await expect(unpackFolder(to, { [bad]: '' })).rejects.toThrow(/not a plain relative path/);
  });

  test('a password never reaches a message', () => {
    expect(redactUrl('redis://:s3cret@host:6379/0')).toBe('redis://:***@host:6379/0');
    expect(redactUrl('rediss://user:s3cret@host:6380')).toBe('rediss://user:***@host:6380');
    expect(redactUrl('redis://127.0.0.1:6379')).toBe('redis://127.0.0.1:6379');
  });
});

describe('user errors, before any training', () => {
  test.each([
    [['--data', 'fashion', '--redis', 'redis://127.0.0.1:1', '--budget', '0'], /cannot reach Redis at redis:\/\/127\.0\.0\.1:1\b.*Start Redis there/],
    [['--data', 'fashion', '--redis', 'http://127.0.0.1:6379'], /--redis http:\/\/127\.0\.0\.1:6379\/?: the scheme must be redis:\/\/ or rediss:\/\//],
    [['worker'], /tune worker needs --redis URL/],
    [['worker', '--redis', 'redis://:pw@127.0.0.1:1'], /cannot reach Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:1/],
  ])('%j exits 2 with the reason, no stack', async (args, message) => {
    const reports = await tempReports();
    const r = tune([...args, '--reports', reports]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.stderr).not.toContain('pw@');
  });
});

/** A small real study: runs of a few seconds each, three search runs, no time budget (so its decisions are the same every time). */
/** Its exit code: 3, a result with the search stopped by its budget (the three runs). */
const DONE = 3;
const STUDY = ['--data', 'fashion', '--validation-size', '2000', '--subset', '3000', '--validation-subset', '300', '--max-epochs', '3', '--max-runs', '3', '--budget', '0', '--no-final-full', '--backend', 'wasm'];

interface Proc {
  child: ChildProcess;
  stderr: () => string;
  exited: Promise<number | null>;
  /** Resolves when stderr matches. */
  waitFor: (pattern: RegExp, ms?: number) => Promise<RegExpMatchArray>;
}

function watch(child: ChildProcess): Proc {
  let err = '';
  const waiters: Array<() => void> = [];
  child.stderr!.on('data', (chunk: Buffer) => {
    err += chunk.toString();
    for (const w of waiters) w();
  });
  child.stdout!.resume();
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    stderr: () => err,
    exited,
    waitFor: (pattern, ms = 120_000) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out waiting for ${pattern} in:\n${err}`)), ms);
        const check = () => {
          const m = pattern.exec(err);
          if (m) {
            clearTimeout(timer);
            resolve(m);
          }
        };
        waiters.push(check);
        check();
      }),
  };
}

const live: ChildProcess[] = [];
function worker(url: string, ...extra: string[]): Proc {
  return workerWith({}, url, ...extra);
}
function workerWith(env: Record<string, string>, url: string, ...extra: string[]): Proc {
  const child = spawn(process.execPath, [TUNE, 'worker', '--redis', url, '--backend', 'wasm', ...extra], { cwd: ROOT, env: { ...process.env, FORCE_COLOR: '0', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  live.push(child);
  return watch(child);
}
function coordinator(args: string[]): Proc {
  const child = tuneAsync(args);
  live.push(child);
  return watch(child);
}
const readStudy = (reports: string, name: string): StudyRecord => parseStudy(readFileSync(path.join(reports, name, 'study.json'), 'utf8'));
const count = (text: string, needle: string) => text.split(needle).length - 1;

describe.skipIf(!REDIS_SERVER)('a password and TLS', () => {
  afterEach(() => {
    for (const child of live.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });

  test('a password in the URL is used and never shown; a wrong one is exit 2 naming the URL', async () => {
    const server = await startRedis({ password: 's3cret' });
    try {
      const good = worker(server.url);
      await good.waitFor(/waiting for jobs on redis:\/\/:\*\*\*@127\.0\.0\.1:\d+/);
      good.child.kill('SIGTERM');
      expect(await good.exited).toBe(0);
      expect(good.stderr()).not.toContain('s3cret');
      const bad = tune(['worker', '--redis', server.url.replace('s3cret', 'wrong')]);
      expect(bad.code, bad.stderr).toBe(2);
      expect(bad.stderr).toMatch(/cannot reach Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:\d+ \(.*(WRONGPASS|NOAUTH|invalid)/);
      expect(bad.stderr).not.toContain('wrong@');
    } finally {
      await server.stop();
    }
  }, 60_000);

  test('rediss:// is TLS: a worker that trusts the server\'s certificate connects, one that does not is refused with the reason', async () => {
    const certificate = selfSignedCertificate(await tempReports());
    const server = await startRedis({ tls: certificate });
    try {
      expect(server.url).toMatch(/^rediss:\/\/localhost:\d+$/);
      const trusted = workerWith({ NODE_EXTRA_CA_CERTS: certificate.cert }, server.url);
      await trusted.waitFor(/waiting for jobs on rediss:\/\/localhost:\d+/);
      trusted.child.kill('SIGTERM');
      expect(await trusted.exited).toBe(0);
      const untrusted = tune(['worker', '--redis', server.url]);
      expect(untrusted.code, untrusted.stderr).toBe(2);
      expect(untrusted.stderr).toMatch(/cannot reach Redis at rediss:\/\/localhost:\d+ \(.*certificate/i);
      const plain = tune(['worker', '--redis', server.url.replace('rediss:', 'redis:')]);
      expect(plain.code, plain.stderr).toBe(2); // a plain connection to a TLS port gets no answer
    } finally {
      await server.stop();
    }
  }, 60_000);
});

describe.skipIf(!REDIS_SERVER || !HAVE_FASHION)('tune worker and tune --redis on a real Redis', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterEach(() => {
    for (const child of live.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  afterAll(async () => {
    await redis?.stop();
  });

  test('through one worker a study makes the decisions it makes in process, warm starts included; the worker trains every run and stops cleanly on SIGTERM', async () => {
    const reports = await tempReports();
    const longer = [...STUDY, '--subset', '4096', '--max-runs', '6']; // its run 5 continues run 1's checkpoint (addEpochs): a warm start through Redis
    const local = tune([...longer, '--name', 'local', '--reports', reports]);
    expect(local.code, local.stderr).toBe(DONE);
    const w = worker(redis.url);
    await w.waitFor(/waiting for jobs on redis:\/\/127\.0\.0\.1:\d+/);
    const study = coordinator([...longer, '--name', 'queued', '--reports', reports, '--redis', redis.url]);
    expect(await study.exited, study.stderr()).toBe(DONE);
    const [a, b] = [readStudy(reports, 'local'), readStudy(reports, 'queued')];
    expect(b.runs.some((r) => r.continuedFrom !== null)).toBe(true);
    // The same policy calls, step by step. (Which run a tie leaves standing can differ: a tie keeps the
    // cheaper, and cheaper is measured speed — timing, which differs between any two studies.)
    const decisions = (s: StudyRecord) => s.decisions.map((d) => (d.by === 'machine' ? `machine ${d.machine}` : `${d.by} ${d.decision.action} ${JSON.stringify(d.decision.params)}`));
    expect(decisions(b)).toEqual(decisions(a));
    expect(b.runs.map((r) => r.id)).toEqual(a.runs.map((r) => r.id));
    for (const run of b.runs) expect(run.result.backend, `run ${run.id}`).toMatch(/ on [^ ]+:\d+$/); // trained by the worker
    // Same seeds, same loop, same parent: the same numbers.
    const same = (x: StudyRecord['runs'][number], y: StudyRecord['runs'][number]) => x.parentId === y.parentId && x.continuedFrom === y.continuedFrom && JSON.stringify(x.options) === JSON.stringify(y.options);
    const pairs = a.runs.map((x, i) => [x, b.runs[i]] as const).filter(([x, y]) => same(x, y));
    expect(pairs.length).toBeGreaterThanOrEqual(4);
    for (const [x, y] of pairs) expect(y.result.bestValLoss, `run ${x.id}`).toBeCloseTo(x.result.bestValLoss!, 4);
    // A warm start through Redis: the continued run's history begins with its parent's epochs, then goes on.
    const warm = b.runs.find((r) => r.continuedFrom !== null)!;
    const parent = b.runs.find((r) => r.id === warm.continuedFrom)!;
    const epochs = (r: typeof warm) => r.result.history.epochs.map((e) => e.valLoss);
    expect(epochs(warm).slice(0, epochs(parent).length)).toEqual(epochs(parent));
    expect(epochs(warm).length).toBeGreaterThan(epochs(parent).length);
    expect(count(w.stderr(), 'finished job')).toBe(b.runs.length);
    w.child.kill('SIGTERM');
    expect(await w.exited).toBe(0);
  }, 300_000);

  test("with two workers the policy's next choice trains ahead on the second beside each candidate, and is adopted when the candidate is not kept; the decisions are those of one worker", async () => {
    const reports = await tempReports();
    const longer = [...STUDY, '--subset', '4096', '--max-runs', '6'];
    const local = tune([...longer, '--name', 'local', '--reports', reports]);
    expect(local.code, local.stderr).toBe(DONE);
    const workers = [worker(redis.url), worker(redis.url)];
    await Promise.all(workers.map((w) => w.waitFor(/waiting for jobs/)));
    const study = coordinator([...longer, '--name', 'ahead', '--reports', reports, '--redis', redis.url]);
    expect(await study.exited, study.stderr()).toBe(DONE);
    const [a, b] = [readStudy(reports, 'local'), readStudy(reports, 'ahead')];
    const decisions = (s: StudyRecord) => s.decisions.map((d) => (d.by === 'machine' ? `machine ${d.machine}` : `${d.by} ${d.decision.action} ${JSON.stringify(d.decision.params)}`));
    expect(decisions(b)).toEqual(decisions(a));
    expect(b.runs.map((r) => `${r.id} ${r.kind}`)).toEqual(a.runs.map((r) => `${r.id} ${r.kind}`));
    const logs = workers.map((w) => w.stderr()).join('\n');
    // Runs trained ahead (the policy's next choice beside each candidate, the second worker free): 'training job KEY-ahead-HASH (study ahead, run 0, …)'.
    expect(logs).toMatch(/training job \S+-ahead-[0-9a-f]{12} \(study ahead, run 0,/);
    // No run trained twice; the candidates asked for after one not kept were adopted from ahead, not trained as themselves.
    for (const r of b.runs) expect(count(logs, `-run-${r.id} (`), `run ${r.id}`).toBeLessThanOrEqual(1);
    const adopted = b.runs.filter((r) => r.kind === 'search' && r.change !== null && count(logs, `-run-${r.id} (`) === 0);
    expect(adopted.length).toBeGreaterThanOrEqual(1);
    for (const r of adopted) expect(b.runs.find((x) => x.id === r.id - 1)!.verdict).not.toBe('kept');
    expect(readdirSync(path.join(reports, 'ahead', 'runs')).filter((n) => n.startsWith('ahead-'))).toEqual([]);
    for (const w of workers) w.child.kill('SIGTERM');
    for (const w of workers) expect(await w.exited).toBe(0);
    // A run trained ahead that was still training went back to the queue: not for the next tests' workers.
    const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
    const queue = new Queue(QUEUE_NAME, { connection });
    await queue.obliterate({ force: true });
    await queue.close();
    connection.disconnect();
  }, 300_000);

  test("a candidate's speed probe is a job the worker measures on its machine; its evaluation speed is the coordinator's; asked again, the finished probe is adopted", async () => {
    const w = worker(redis.url);
    await w.waitFor(/waiting for jobs/);
    const dataset = await openDataset({ data: 'fashion' });
    const queue = await openQueueTrainer({
      url: redis.url,
      study: 'probe',
      studyKey: `probe${Date.now()}`,
      dataset,
      source: { data: 'fashion', imageSize: null, testData: null, skipBad: false },
      version: VERSION,
      local: { evaluate: () => Promise.reject(new Error('not asked')), evaluationSpeed: async () => 1234 },
      onLost: () => undefined,
      say: () => undefined,
    });
    try {
      const train = { set: dataset.train, indices: Uint32Array.from({ length: 512 }, (_, i) => i) };
      const validation = { set: dataset.train, indices: Uint32Array.from({ length: 256 }, (_, i) => 1000 + i) };
      const network = deepen(defaultNetwork());
      const speed = await queue.probeSpeed(network, resolveOptions({}), train, validation, 256);
      expect(speed.evalImagesPerSecond).toBe(1234);
      const [, id, ips] = await w.waitFor(/probed job (\S+-probe-[0-9a-f]{16}) \(study probe\): (\d+) images\/s/);
      expect(Math.round(speed.imagesPerSecond)).toBe(Number(ips));
      const again = await queue.probeSpeed(network, resolveOptions({}), train, validation, 256);
      expect(again.imagesPerSecond).toBe(speed.imagesPerSecond);
      expect(count(w.stderr(), `probed job ${id}`)).toBe(1);
      expect(await queue.parallelRuns!()).toBe(1); // one worker: the sides of a confirmation train one after the other
    } finally {
      await queue.close();
    }
    w.child.kill('SIGTERM');
    expect(await w.exited).toBe(0);
  }, 120_000);

  test('a worker stopped with SIGTERM puts its job back; one killed with SIGKILL has its job retried by another; the study finishes with every run once', async () => {
    const reports = await tempReports();
    const first = worker(redis.url, '--lock-seconds', '5');
    await first.waitFor(/waiting for jobs/);
    const study = coordinator([...STUDY, '--name', 'faults', '--reports', reports, '--redis', redis.url]);
    const [, job] = await first.waitFor(/training job (\S+)/);
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    expect(first.stderr()).toMatch(/went back to the queue/);
    const second = worker(redis.url, '--lock-seconds', '5');
    await second.waitFor(new RegExp(`training job ${job}`));
    second.child.kill('SIGKILL');
    const third = worker(redis.url, '--lock-seconds', '5');
    await third.waitFor(new RegExp(`finished job ${job}`), 120_000);
    expect(await study.exited, study.stderr()).toBe(DONE);
    const s = readStudy(reports, 'faults');
    expect(s.status).toBe('finished');
    expect(s.runs.map((r) => r.id)).toEqual(s.runs.map((_, i) => i + 1));
    expect(s.runs.length).toBeGreaterThanOrEqual(3);
    third.child.kill('SIGTERM');
    expect(await third.exited).toBe(0);
  }, 300_000);

  test('a coordinator killed mid-run is resumed: it adopts the job its worker finished and trains nothing twice', async () => {
    const reports = await tempReports();
    const w = worker(redis.url);
    await w.waitFor(/waiting for jobs/);
    const study = coordinator([...STUDY, '--name', 'adopt', '--reports', reports, '--redis', redis.url]);
    const [, job] = await w.waitFor(/training job (\S+-run-2)\b/);
    study.child.kill('SIGKILL');
    await study.exited;
    await w.waitFor(new RegExp(`finished job ${job}`));
    const resumed = tune(['--resume', 'adopt', '--reports', reports, '--redis', redis.url]);
    expect(resumed.code, resumed.stderr).toBe(DONE);
    expect(count(w.stderr(), `training job ${job} `)).toBe(1);
    const s = readStudy(reports, 'adopt');
    expect(s.status).toBe('finished');
    // (The resumed coordinator ran synchronously: the worker's lines arrive now.)
    for (const run of s.runs) await w.waitFor(new RegExp(`finished job ${job.replace(/run-\d+$/, `run-${run.id}`)}:`));
    for (const run of s.runs) expect(count(w.stderr(), `training job ${job.replace(/run-\d+$/, `run-${run.id}`)} `), `run ${run.id}`).toBe(1);
  }, 300_000);

  test('a worker refuses a job of another flowtune version, or of other data, and stops: the job waits for a worker that can take it', async () => {
    const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
    const queue = new Queue(QUEUE_NAME, { connection });
    try {
      const base: TrainJob = {
        protocol: PROTOCOL,
        version: VERSION,
        study: 'refusals',
        runId: 1,
        data: { data: 'fashion', imageSize: null, testData: null, skipBad: false },
        fingerprint: 'not-this-data',
        network: defaultNetwork(),
        options: resolveOptions({ maxEpochs: 1 }),
        train: { set: 'train', indices: encodeIndices(Uint32Array.from([0, 1, 2, 3])) },
        validation: { set: 'train', indices: encodeIndices(Uint32Array.from([4, 5])) },
        continueFrom: null,
      };
      for (const [id, job, why] of [
        ['other-version', { ...base, version: '0.0.0-other' }, /the job was sent by flowtune 0\.0\.0-other \(protocol \d+\), this worker runs flowtune/],
        ['other-data', base, /this machine's copy of fashion has content hash [0-9a-f]{16}, the coordinator's not-this-data/],
      ] as const) {
        await queue.add('train', { payload: encodePayload(job) }, { jobId: id });
        const w = worker(redis.url);
        expect(await w.exited).toBe(2);
        expect(w.stderr()).toMatch(why);
        const stored = await queue.getJob(id);
        expect(await stored!.getState()).toBe('waiting');
        expect((await queue.getJobLogs(id)).logs.join('\n')).toMatch(why);
        expect(await connection.exists(checkpointKey(id, 'result'))).toBe(0);
        await stored!.remove();
      }
    } finally {
      await queue.close();
      connection.disconnect();
    }
  }, 120_000);

  test('Redis lost mid-study: the study stops resumable (exit 2, naming what to do), and resumes when Redis is back without losing a finished run', async () => {
    const own = await startRedis();
    try {
      const reports = await tempReports();
      const w = worker(own.url);
      await w.waitFor(/waiting for jobs/);
      const study = coordinator([...STUDY, '--name', 'lost', '--reports', reports, '--redis', own.url]);
      await w.waitFor(/finished job \S+-run-1\b/);
      await w.waitFor(/training job \S+-run-2\b/);
      await own.stop();
      w.child.kill('SIGKILL');
      expect(await study.exited).toBe(2);
      expect(study.stderr()).toMatch(/Redis at redis:\/\/127\.0\.0\.1:\d+ has not answered for 20 s: study "lost" stopped; every finished run is saved in \S+\. Continue with `tune --resume lost --reports \S+ --redis redis:\/\/127\.0\.0\.1:\d+` when Redis answers again/);
      expect(study.stderr()).not.toMatch(/\n\s+at /);
      const stopped = readStudy(reports, 'lost');
      expect(stopped.status).toBe('stopped');
      const kept = stopped.runs.map((r) => r.id);
      expect(kept).toContain(1);
      const back = await startRedis(own.port);
      try {
        const again = worker(back.url);
        await again.waitFor(/waiting for jobs/);
        const resumed = tune(['--resume', 'lost', '--reports', reports, '--redis', back.url]);
        expect(resumed.code, resumed.stderr).toBe(DONE);
        const s = readStudy(reports, 'lost');
        expect(s.status).toBe('finished');
        const last = s.runs.at(-1)!.id;
        await again.waitFor(new RegExp(`finished job \\S+-run-${last}:`)); // the resumed coordinator ran synchronously: the worker's lines arrive now
        expect(s.runs.map((r) => r.id)).toEqual(s.runs.map((_, i) => i + 1));
        expect(count(again.stderr(), '-run-1 ')).toBe(0); // run 1 was finished before: not trained again
      } finally {
        await back.stop();
      }
    } finally {
      await own.stop();
    }
  }, 300_000);
});
