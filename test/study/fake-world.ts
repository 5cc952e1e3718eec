/**
 * A fake trainer and a fake clock for running the real machine with the real study adapters in
 * milliseconds: validation loss is a made-up function of the learning rate, the network's
 * capacity (its training flops), dropout, the images seen and the training-set size; training
 * speed is inversely proportional to the flops; the clock advances by what the work would take.
 * Per-image validation results share one fixed "difficulty" per image, so paired comparisons
 * behave as on real data (an easy image is easy for every network).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { createActor, waitFor } from 'xstate';
import { defaultNetwork, networkFlops, paramCount } from '../../src/config/network.ts';
import { resolveOptions } from '../../src/config/options.ts';
import type { Dataset } from '../../src/data/dataset.ts';
import { DEFAULT_THRESHOLDS } from '../../src/diagnosis/index.ts';
import type { ProgressSink } from '../../src/progress.ts';
import { StudyStore } from '../../src/store/study-store.ts';
import type { StudyEnv, StudyTrainer } from '../../src/study/env.ts';
import { newStudyRecord, studyInput, studyMachine } from '../../src/study/run.ts';
import type { EvaluateRequest, EvaluationResult } from '../../src/training/evaluate.ts';
import type { TrainRequest } from '../../src/training/trainer.ts';
import type { EpochRecord, NetworkSpec, Policy, TrainingOptions } from '../../src/types.ts';
import type { DataView, ImageSet } from '../../src/data/image-set.ts';
import type { RunResult, StudyConfig, StudyRecord } from '../../src/store/records.ts';

const DEFAULT_FLOPS = networkFlops(defaultNetwork()).training;

export interface FakeWorld {
  /** Training images per second of the default network (others: scaled by flops). */
  baseImagesPerSecond: number;
  /** Validation-loss floor gained per doubling of training flops (capacity). */
  capacityGain: number;
  /** Amplitude of per-image loss noise that differs between networks (0: networks err alike). */
  networkNoise: number;
  /** Fake wall clock, ms. */
  now: number;
  /** What the trainer was asked for, in order (the parallel trainer records it). */
  events?: string[];
}

function speed(world: FakeWorld, network: NetworkSpec): number {
  return (world.baseImagesPerSecond * DEFAULT_FLOPS) / networkFlops(network).training;
}

/** The made-up validation loss after `images` images of training. */
export function fakeValLoss(network: NetworkSpec, options: TrainingOptions, images: number, trainCount: number, capacityGain = 0.035): number {
  const capacity = Math.log2(networkFlops(network).training / DEFAULT_FLOPS);
  const floor = Math.max(0.18, 0.34 - capacityGain * capacity);
  const dropout = network.layers.some((l) => l.type === 'dropout');
  const lr = options.initialLearnRate;
  const speedUp = lr >= 0.1 ? 0 : Math.min(1, lr / 0.01);
  const k = (0.8 * speedUp) / 500; // per image
  // Overfitting starts after about 15 passes over the data; less with dropout, less with more data.
  const overfit = (dropout ? 0.4 : 1) * 0.02 * Math.max(0, images / trainCount - 15);
  return floor + 2 * Math.exp(-k * images) + overfit;
}

function trainer(world: FakeWorld): StudyTrainer {
  return {
    async trainRun(request: TrainRequest): Promise<RunResult> {
      const options = resolveOptions(request.options as never);
      const trainCount = request.train.indices.length;
      const valCount = request.validation.indices.length;
      const ips = speed(world, request.network);
      const previous = request.continueFrom?.result ?? null;
      const epochs: EpochRecord[] = previous ? previous.history.epochs.map((e) => ({ ...e })) : [];
      const imagesPerEpoch = Math.floor(trainCount / options.miniBatchSize) * options.miniBatchSize;
      const started = world.now;
      let stop: RunResult['stopReason'] = { kind: 'completed' };
      let images = previous?.imagesTrained ?? 0;
      // The made-up loss the run's weights would have on held-out images (its quality), validated or not.
      let truth = NaN;
      for (let epoch = epochs.length + 1; epoch <= options.maxEpochs; epoch++) {
        if (request.signal?.aborted) throw request.signal.reason;
        let seconds = imagesPerEpoch / ips + valCount / (3 * ips);
        let fraction = 1;
        // deadlineMidEpoch: the last epoch is cut at the deadline, as the real loop does.
        if (request.deadlineMidEpoch && request.deadline !== undefined && world.now + seconds * 1000 > request.deadline) {
          fraction = Math.max(0, (request.deadline - world.now) / 1000 / seconds);
          seconds *= fraction;
          stop = { kind: 'budget', epoch };
        }
        world.now += seconds * 1000;
        images += fraction * imagesPerEpoch;
        if (options.initialLearnRate >= 0.1 && epoch >= 2) {
          stop = { kind: 'nonFinite', iteration: epoch * 10, epoch, what: 'loss' };
          break;
        }
        const valLoss = fakeValLoss(request.network, options, images, trainCount, world.capacityGain);
        truth = valLoss;
        const accuracy = (v: number) => Math.max(0.1, Math.min(0.99, 1.02 - v / 1.6));
        // No validation images (the final refit): no validation series.
        const validated = valCount > 0 ? { valLoss, valAccuracy: accuracy(valLoss) } : { valLoss: null, valAccuracy: null };
        epochs.push({ epoch, learnRate: options.initialLearnRate, loss: valLoss * 0.85, accuracy: accuracy(valLoss * 0.85), ...validated, seconds, imagesPerSecond: ips });
        if (stop.kind === 'budget') break;
        if (request.deadline !== undefined && world.now >= request.deadline && epoch < options.maxEpochs) {
          stop = { kind: 'budget', epoch };
          break;
        }
      }
      const best = epochs.reduce<EpochRecord | null>((b, e) => (e.valLoss !== null && (b === null || e.valLoss < b.valLoss!) ? e : b), null);
      mkdirSync(request.checkpointDir, { recursive: true });
      writeFileSync(path.join(request.checkpointDir, 'model.json'), '{}');
      writeFileSync(path.join(request.checkpointDir, 'weights.bin'), '');
      writeFileSync(path.join(request.checkpointDir, 'fake.json'), JSON.stringify({ quality: valCount > 0 ? (best?.valLoss ?? NaN) : truth, ips, seed: options.seed }));
      const completed = stop.kind === 'budget' && request.deadlineMidEpoch ? epochs.length - 1 : epochs.length;
      return {
        history: { iterations: [], validations: [], epochs },
        backend: 'fake',
        stopReason: stop,
        bestEpoch: best?.epoch ?? null,
        bestValLoss: best?.valLoss ?? null,
        paramCount: paramCount(request.network),
        checkpointDir: request.checkpointDir,
        epochsCompleted: completed,
        iterationsCompleted: Math.floor(images / options.miniBatchSize),
        imagesTrained: Math.round(images),
        seconds: (world.now - started) / 1000,
      };
    },
    async probeSpeed(network: NetworkSpec, _options: TrainingOptions, _train: DataView, _validation: DataView, images = 512) {
      const ips = speed(world, network);
      world.now += ((2 * images) / ips) * 1000; // two epochs, as the real probe
      return { imagesPerSecond: ips, evalImagesPerSecond: 3 * ips };
    },
    async evaluate(request: EvaluateRequest): Promise<EvaluationResult> {
      const { quality, ips, seed } = JSON.parse(readFileSync(path.join(request.checkpointDir!, 'fake.json'), 'utf8')) as { quality: number; ips: number; seed: number };
      const count = 'set' in request.test ? request.test.indices.length : request.test.count;
      world.now += (count / (3 * ips)) * 1000;
      const params = request.network ? paramCount(request.network) : 0;
      const losses = new Float32Array(count);
      const correct = new Uint8Array(count);
      for (let i = 0; i < count; i++) {
        const difficulty = ((i * 2654435761) >>> 0) / 2 ** 32; // fixed per image
        const noise = ((((i + 1) * 40503 + seed * 7919) >>> 0) % 1000) / 1000 - 0.5; // per network
        // Different networks err on different images (when the world says so): a well-mixed hash of image and network.
        let h = Math.imul(i + 1, 0x9e3779b1) ^ Math.imul(params + 1, 0x85ebca6b);
        h = Math.imul(h ^ (h >>> 15), 0xc2b2ae35);
        const networkNoise = ((h ^ (h >>> 13)) >>> 0) / 2 ** 32 - 0.5;
        losses[i] = quality * (0.2 + 1.6 * difficulty) + 0.05 * noise + world.networkNoise * networkNoise;
        correct[i] = losses[i] < 0.55 ? 1 : 0;
      }
      const loss = losses.reduce((a, b) => a + b, 0) / count;
      const accuracy = correct.reduce((a, b) => a + b, 0) / count;
      return { accuracy, loss, count, perClassAccuracy: Array(10).fill(accuracy), confusion: [], perImage: { losses, correct } };
    },
  };
}

/**
 * The fake trainer with room for `parallel` runs at once (queue workers): a run trains from the
 * clock's time when it was asked for, beside any other in flight, and the clock ends at the later
 * of their ends. `world.events` records 'train N' and 'evaluate N' in the order they are asked for
 * ('train ahead-HASH' for a run trained ahead).
 */
function parallelTrainer(world: FakeWorld, parallel: number): StudyTrainer {
  const base = trainer(world);
  // 'N' for run-N, the folder's name for a run trained ahead (ahead-HASH).
  const runOf = (dir: string | null | undefined) => /run-(\d+)$/.exec(dir ?? '')?.[1] ?? /ahead-\w+$/.exec(dir ?? '')?.[0] ?? '?';
  const waiting: Array<() => void> = [];
  return {
    ...base,
    parallelRuns: async () => parallel,
    async trainRun(request) {
      world.events?.push(`train ${runOf(request.checkpointDir)}`);
      const started = world.now;
      // Trains once `parallel` runs were asked for (they start together), or alone after 200 ms of real time.
      await new Promise<void>((resolve) => {
        waiting.push(resolve);
        if (waiting.length >= parallel) for (const go of waiting.splice(0)) go();
        else
          setTimeout(() => {
            const at = waiting.indexOf(resolve);
            if (at >= 0) waiting.splice(at, 1);
            resolve();
          }, 200);
      });
      const reached = world.now;
      world.now = started;
      try {
        return await base.trainRun(request);
      } finally {
        world.now = Math.max(world.now, reached);
      }
    },
    async evaluate(request) {
      world.events?.push(`evaluate ${runOf(request.checkpointDir)}`);
      return base.evaluate(request);
    },
  };
}

function fakeSet(count: number): ImageSet {
  return { name: 'fake', images: new Float32Array(0), labels: new Uint8Array(count), count, height: 28, width: 28, channels: 1, classNames: Array.from({ length: 10 }, (_, i) => `c${i}`) };
}
const view = (count: number): DataView => ({ set: fakeSet(count), indices: Uint32Array.from({ length: count }, (_, i) => i) });

export const SILENT: ProgressSink = { runStarted() {}, training() {}, runFinished() {}, decision() {}, message() {}, result() {} };

export interface FakeStudy {
  env: StudyEnv;
  world: FakeWorld;
  study: StudyRecord;
  value: unknown;
  error: { message: string; user: boolean } | null;
}

/** Runs a whole study with the real machine and adapters on the fake trainer. */
export async function fakeStudy(options: {
  policy: Policy;
  budgetSeconds: number | null;
  maxRuns?: number | null;
  baseImagesPerSecond?: number;
  capacityGain?: number;
  networkNoise?: number;
  sizes?: { train: number; validation: number; search: number; searchValidation: number; test: number };
  /** Runs the trainer can train at once (queue workers): runs started together share the clock's time. */
  parallel?: number;
  /** The starting network (default: the notes' single convolution). */
  baseNetwork?: NetworkSpec;
  /**
   * The final refit (`finalRefit`, on by default for a real study): the validation images are held
   * out of the training images' set, as a real hold-out is, so the long final run can train on both.
   * Absent: off, the two views of sets of their own.
   */
  finalRefit?: boolean;
}): Promise<FakeStudy> {
  const sizes = options.sizes ?? { train: 5000, validation: 1000, search: 1000, searchValidation: 300, test: 1000 };
  const world: FakeWorld = { baseImagesPerSecond: options.baseImagesPerSecond ?? 500, capacityGain: options.capacityGain ?? 0.035, networkNoise: options.networkNoise ?? 0, now: 0, events: [] };
  const dir = path.join(await mkdtemp(path.join(tmpdir(), 'flowtune-fake-')), 'study');
  const config: StudyConfig = {
    name: 'fake',
    data: 'fake',
    dataDir: null,
    validationSize: sizes.validation,
    searchSubset: sizes.search,
    searchValidationSubset: sizes.searchValidation,
    finalFullData: true,
    ...(options.finalRefit ? { finalRefit: true } : {}),
    seed: 0,
    policy: options.policy.name,
    budgetSeconds: options.budgetSeconds,
    maxRuns: options.maxRuns ?? 16,
    backend: null,
    baseNetwork: options.baseNetwork ?? defaultNetwork(),
    baseOptions: resolveOptions({ maxEpochs: 10, outputNetwork: 'best-validation-loss' }),
  };
  const info = {
    format: 'idx' as const,
    resized: null,
    validationFrom: null,
    testFrom: 'fake',
    testCarved: false,
    skipped: [],
    ignoredFiles: 0,
    storage: { storage: 'float32' as const, estimatedBytes: 0, limitBytes: 0 },
    testClassCounts: Array(10).fill(sizes.test / 10),
  };
  const dataset = { name: 'fake', format: 'idx', source: dir, files: {}, info, classNames: fakeSet(1).classNames, train: fakeSet(sizes.train + sizes.validation), testCount: sizes.test, loadTest: async () => fakeSet(sizes.test) } as unknown as Dataset;
  const search = { train: view(sizes.search), validation: view(sizes.searchValidation) };
  const held = fakeSet(sizes.train + sizes.validation);
  const range = (from: number, count: number) => Uint32Array.from({ length: count }, (_, i) => from + i);
  const full = options.finalRefit
    ? { train: { set: held, indices: range(0, sizes.train) }, validation: { set: held, indices: range(sizes.train, sizes.validation) } }
    : { train: view(sizes.train), validation: view(sizes.validation) };
  const record = newStudyRecord(config, dataset, full, options.policy, 'test');
  const store = await StudyStore.create(dir, record);
  const env: StudyEnv = {
    config,
    dir,
    store,
    log: pino({ level: 'silent' }),
    progress: SILENT,
    policy: options.policy,
    policySource: 'test',
    thresholds: { ...DEFAULT_THRESHOLDS, ...(options.policy.thresholds ?? {}) },
    dataset,
    search,
    full,
    sessionStart: 0,
    secondsBefore: 0,
    abort: new AbortController(),
    trainer: options.parallel ? parallelTrainer(world, options.parallel) : trainer(world),
    clock: () => world.now,
    speeds: new Map(),
    besideRuns: new Map(),
    aheadRuns: new Map(),
    failure: null,
  };
  const actor = createActor(studyMachine(env), { input: studyInput(config, config.baseNetwork) }).start();
  const end = await waitFor(actor, (s) => s.status === 'done', { timeout: 60_000 });
  await store.close();
  return { env, world, study: store.study as StudyRecord, value: end.value, error: end.context.error };
}
