/**
 * `tune bench`: training throughput (images per second) per backend, on the default network or a
 * deeper variant, measured the way bench/torch_reference.py measures PyTorch: 4,096 images,
 * mini-batch 128, sgdm (learn rate 0.01, momentum 0.9), one warm-up epoch, then one timed epoch.
 *
 * By default it measures the product's own loop (trainer.ts `benchEpochs`: the tf.layers model,
 * L2 1e-4 on the weights as MATLAB's default, every-epoch shuffle). `loop: 'minimal'` runs a small
 * ops-level loop of its own instead (no tf.layers; flowtune's batch-norm op), to show what the
 * layers machinery costs.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { DataView, ImageSet, LayerSpec, NetworkSpec } from '../types.ts';
import { UserError } from '../errors.ts';
import { BACKEND_NAMES, initBackend, type ActiveBackend, type BackendName } from './backend.ts';
import { batchNormTraining } from './kernels/batchNorm.ts';
import { benchEpochs } from './trainer.ts';
import { resolveOptions } from '../config/options.ts';

type TF = ActiveBackend['tf'];
type Tensor = import('@tensorflow/tfjs').Tensor;
type Variable = import('@tensorflow/tfjs').Variable;

/** The networks the bench knows. Each block is conv 3×3 'same' → batchnorm → relu → maxpool 2×2/2. */
export const BENCH_NETWORKS = {
  /** 28×28×1 → conv 20 → bn → relu → maxpool → fc 10 → softmax (the default network of a study). */
  default: blocks([20]),
  /** Two blocks: 20, 40 filters. */
  deep2: blocks([20, 40]),
  /** Three blocks: 20, 40, 80 filters. */
  deep3: blocks([20, 40, 80]),
} as const satisfies Record<string, NetworkSpec>;

export type BenchNetworkName = keyof typeof BENCH_NETWORKS;

function blocks(filters: number[]): NetworkSpec {
  const layers: LayerSpec[] = [];
  for (const f of filters) {
    layers.push(
      { type: 'conv', filters: f, kernelSize: 3, stride: 1, padding: 'same' },
      { type: 'batchnorm' },
      { type: 'relu' },
      { type: 'maxpool', poolSize: 2, stride: 2 },
    );
  }
  layers.push({ type: 'fc', units: 10 });
  return { inputShape: [28, 28, 1], layers };
}

export interface BenchOptions {
  /** One backend; default: every backend that loads here (cpu only when asked: it is far slower). */
  backend?: BackendName | null;
  /** Print one JSON object per line instead of text. Default false. */
  json?: boolean;
  /** Training images per epoch. Default 4096. */
  images?: number;
  /** Default 128. */
  miniBatchSize?: number;
  /** Default 'default'. */
  network?: BenchNetworkName;
  /** Timed epochs after the warm-up epoch; the result is their median. Default 1. */
  epochs?: number;
  /** Which training loop: the product's (trainer.ts, default) or the bench's minimal ops-level one. */
  loop?: 'trainer' | 'minimal';
  /** Batch normalisation used by the minimal loop: flowtune's op (default) or tfjs's tf.batchNorm. */
  batchNorm?: 'flowtune' | 'tfjs';
  /** Receives each output line. */
  onLine: (line: string) => void;
}

export interface BenchResult {
  backend: BackendName;
  detail: string;
  network: BenchNetworkName;
  miniBatchSize: number;
  images: number;
  data: 'fashion-mnist' | 'random';
  imagesPerSecond: number;
  /** Seconds of each timed epoch. */
  epochSeconds: number[];
  /** Images per process-CPU-second (all threads): steadier than wall time on a shared machine. */
  cpuImagesPerSecond: number;
}

function medianOf(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export async function runBench(options: BenchOptions): Promise<BenchResult[]> {
  const network = options.network ?? 'default';
  if (!(network in BENCH_NETWORKS)) {
    throw new UserError(`Unknown bench network "${network}". Choose one of: ${Object.keys(BENCH_NETWORKS).join(', ')}.`);
  }
  const images = options.images ?? 4096;
  const miniBatchSize = options.miniBatchSize ?? 128;
  const backends: BackendName[] = options.backend ? [options.backend] : await loadableBackends();
  const data = loadBenchImages(images);
  const results: BenchResult[] = [];
  for (const backend of backends) {
    const active = await initBackend(backend);
    const epochs = options.epochs ?? 1;
    const { seconds: epochSeconds, cpuSeconds } =
      (options.loop ?? 'trainer') === 'trainer'
        ? await benchTrainer(BENCH_NETWORKS[network], data, { miniBatchSize, epochs })
        : benchOne(active.tf, BENCH_NETWORKS[network], data, {
            miniBatchSize,
            epochs,
            batchNorm: options.batchNorm ?? 'flowtune',
          });
    const median = medianOf(epochSeconds);
    const trained = Math.floor(data.count / miniBatchSize) * miniBatchSize; // partial batches are dropped
    const result: BenchResult = {
      backend: active.name,
      detail: active.detail,
      network,
      miniBatchSize,
      images: trained,
      data: data.source,
      imagesPerSecond: Math.round(trained / median),
      epochSeconds,
      cpuImagesPerSecond: Math.round(trained / medianOf(cpuSeconds)),
    };
    results.push(result);
    options.onLine(
      options.json
        ? JSON.stringify({
            backend: result.backend,
            imagesPerSecond: result.imagesPerSecond,
            network,
            miniBatchSize,
            images: result.images,
            data: result.data,
            cpuImagesPerSecond: result.cpuImagesPerSecond,
            detail: result.detail,
          })
        : `${result.detail.padEnd(34)} ${network.padEnd(8)} batch ${miniBatchSize}  ${result.images} ${result.data} images  ` +
            `${result.imagesPerSecond} images/s`,
    );
  }
  return results;
}

/** Backends that load here, fastest first (cpu excluded: ask for it with --backend cpu). */
async function loadableBackends(): Promise<BackendName[]> {
  const out: BackendName[] = [];
  for (const name of BACKEND_NAMES) {
    if (name === 'cpu') continue;
    try {
      out.push((await initBackend(name)).name);
    } catch (error) {
      if (!(error instanceof UserError)) throw error;
    }
  }
  return out.length > 0 ? out : ['cpu'];
}

// ───────────────────────────── data ─────────────────────────────

export interface BenchImages {
  images: Float32Array; // count×28×28, 0..1
  labels: Int32Array;
  count: number;
  source: 'fashion-mnist' | 'random';
}

const FASHION_DIR = '/usr/share/datasets/fashion-mnist';

/** The first `count` Fashion-MNIST training images when the system copy exists, else seeded random ones. */
export function loadBenchImages(count: number, dir = FASHION_DIR): BenchImages {
  const imagesPath = join(dir, 'train-images-idx3-ubyte.gz');
  const labelsPath = join(dir, 'train-labels-idx1-ubyte.gz');
  if (existsSync(imagesPath) && existsSync(labelsPath) && count <= 60_000) {
    const img = gunzipSync(readFileSync(imagesPath));
    const lab = gunzipSync(readFileSync(labelsPath));
    if (img.readUInt32BE(0) === 2051 && lab.readUInt32BE(0) === 2049 && img.readUInt32BE(8) === 28) {
      const images = new Float32Array(count * 784);
      for (let i = 0; i < images.length; i++) images[i] = img[16 + i] / 255;
      const labels = new Int32Array(count);
      for (let i = 0; i < count; i++) labels[i] = lab[8 + i];
      return { images, labels, count, source: 'fashion-mnist' };
    }
  }
  let s = 12345;
  const random = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const images = new Float32Array(count * 784);
  for (let i = 0; i < images.length; i++) images[i] = random();
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) labels[i] = Math.floor(random() * 10);
  return { images, labels, count, source: 'random' };
}

// ───────────────────────────── the product's loop ─────────────────────────────

/** The bench's training options: MATLAB's defaults (sgdm, rate 0.01, momentum 0.9, L2 1e-4), reshuffled every epoch. */
export function benchOptions(miniBatchSize: number) {
  return resolveOptions({ solver: 'sgdm', initialLearnRate: 0.01, momentum: 0.9, miniBatchSize, shuffle: 'every-epoch' });
}

/**
 * Warm-up epoch, then `epochs` timed epochs of trainer.ts's loop. Wall seconds per epoch come from
 * the loop's own epoch records; CPU seconds are the process's over the timed call, per epoch.
 */
async function benchTrainer(
  spec: NetworkSpec,
  data: BenchImages,
  options: { miniBatchSize: number; epochs: number },
): Promise<{ seconds: number[]; cpuSeconds: number[] }> {
  const [height, width, channels] = spec.inputShape;
  const set: ImageSet = {
    name: data.source,
    images: data.images,
    labels: Uint8Array.from(data.labels),
    count: data.count,
    height,
    width,
    channels,
    classNames: Array.from({ length: 10 }, (_, i) => String(i)),
  };
  const view: DataView = { set, indices: Uint32Array.from({ length: data.count }, (_, i) => i) };
  const trainingOptions = benchOptions(options.miniBatchSize);
  await benchEpochs(spec, trainingOptions, view, 1); // warm-up: JIT, kernel setup, memory
  const cpuStarted = process.cpuUsage();
  const result = await benchEpochs(spec, trainingOptions, view, options.epochs);
  const cpu = process.cpuUsage(cpuStarted);
  const imagesPerEpoch = Math.floor(data.count / options.miniBatchSize) * options.miniBatchSize;
  const seconds = result.epochs.map((e) => imagesPerEpoch / e.imagesPerSecond);
  const cpuPerEpoch = (cpu.user + cpu.system) / 1e6 / options.epochs;
  return { seconds, cpuSeconds: seconds.map(() => cpuPerEpoch) };
}

// ───────────────────────────── the minimal loop ─────────────────────────────

interface Layer {
  forward(x: Tensor): Tensor;
}

/** An ops-level model of a NetworkSpec (conv, batchnorm, relu, maxpool, fc), He-initialised. */
export function buildBenchModel(
  tf: TF,
  spec: NetworkSpec,
  batchNorm: 'flowtune' | 'tfjs' = 'flowtune',
  seed = 0,
): { weights: Variable[]; forward: (x: Tensor) => Tensor } {
  const weights: Variable[] = [];
  const layers: Layer[] = [];
  let shape = [...spec.inputShape];
  let n = 0;
  const variable = (t: Tensor) => {
    const v = tf.variable(t, true, `bench_${n++}`);
    weights.push(v);
    return v;
  };
  for (const layer of spec.layers) {
    switch (layer.type) {
      case 'conv': {
        const fanIn = layer.kernelSize * layer.kernelSize * shape[2];
        const w = variable(
          tf.randomNormal([layer.kernelSize, layer.kernelSize, shape[2], layer.filters], 0, Math.sqrt(2 / fanIn), 'float32', seed + n),
        );
        const b = variable(tf.zeros([layer.filters]));
        const stride = layer.stride ?? 1;
        const pad = layer.padding ?? 'same';
        layers.push({ forward: (x) => tf.add(tf.conv2d(x as import('@tensorflow/tfjs').Tensor4D, w as never, stride, pad), b) });
        const out = pad === 'same' ? Math.ceil(shape[0] / stride) : Math.floor((shape[0] - layer.kernelSize) / stride) + 1;
        shape = [out, out, layer.filters];
        break;
      }
      case 'batchnorm': {
        const c = shape[shape.length - 1];
        const gamma = variable(tf.ones([c]));
        const beta = variable(tf.zeros([c]));
        layers.push({
          forward: (x) => {
            if (batchNorm === 'flowtune') return batchNormTraining(x, gamma, beta, 1e-5).y;
            const axes = x.shape.map((_, i) => i).slice(0, -1);
            const { mean, variance } = tf.moments(x, axes);
            return tf.batchNorm(x, mean, variance, beta, gamma, 1e-5);
          },
        });
        break;
      }
      case 'relu':
        layers.push({ forward: (x) => tf.relu(x) });
        break;
      case 'maxpool': {
        const { poolSize, stride } = layer;
        layers.push({ forward: (x) => tf.maxPool(x as import('@tensorflow/tfjs').Tensor4D, poolSize, stride, 'valid') });
        shape = [Math.floor((shape[0] - poolSize) / stride) + 1, Math.floor((shape[1] - poolSize) / stride) + 1, shape[2]];
        break;
      }
      case 'dropout':
        break; // the bench networks have none
      case 'fc': {
        const inputs = shape.reduce((a, b) => a * b, 1);
        const w = variable(tf.randomNormal([inputs, layer.units], 0, Math.sqrt(2 / inputs), 'float32', seed + n));
        const b = variable(tf.zeros([layer.units]));
        layers.push({ forward: (x) => tf.add(tf.matMul(tf.reshape(x, [x.shape[0], inputs]), w), b) });
        shape = [layer.units];
        break;
      }
    }
  }
  return { weights, forward: (x) => layers.reduce((h, l) => l.forward(h), x) };
}

/**
 * Trains warm-up + `epochs` epochs; returns the wall-clock and process CPU seconds of each timed
 * epoch (CPU time is steadier on a shared machine). Disposes everything it made.
 */
export function benchOne(
  tf: TF,
  spec: NetworkSpec,
  data: BenchImages,
  options: { miniBatchSize: number; epochs: number; batchNorm: 'flowtune' | 'tfjs' },
): { seconds: number[]; cpuSeconds: number[] } {
  const [h, w, c] = spec.inputShape;
  const xs = tf.tensor4d(data.images, [data.count, h, w, c]);
  const ys = tf.oneHot(tf.tensor1d(data.labels, 'int32'), 10);
  const model = buildBenchModel(tf, spec, options.batchNorm);
  const optimizer = tf.train.momentum(0.01, 0.9);
  const batches = Math.floor(data.count / options.miniBatchSize);
  const epoch = (): [number, number] => {
    const order = tf.tidy(() => tf.randomUniform([data.count]).topk(data.count).indices);
    const started = performance.now();
    const cpuStarted = process.cpuUsage();
    let lastLoss: Tensor | null = null;
    for (let b = 0; b < batches; b++) {
      const loss = tf.tidy(() => {
        const idx = order.slice(b * options.miniBatchSize, options.miniBatchSize);
        const x = tf.gather(xs, idx);
        const y = tf.gather(ys, idx);
        const value = optimizer.minimize(
          () => tf.losses.softmaxCrossEntropy(y, model.forward(x)) as import('@tensorflow/tfjs').Scalar,
          true,
          model.weights,
        );
        if (value === null) throw new Error('bench: optimizer returned no loss');
        return value;
      });
      lastLoss?.dispose();
      lastLoss = loss;
    }
    const value = lastLoss?.dataSync()[0];
    const seconds = (performance.now() - started) / 1000;
    const cpu = process.cpuUsage(cpuStarted);
    lastLoss?.dispose();
    order.dispose();
    if (value !== undefined && !Number.isFinite(value)) throw new Error(`bench: loss became ${value}`);
    return [seconds, (cpu.user + cpu.system) / 1e6];
  };
  try {
    epoch(); // warm-up
    const seconds: number[] = [];
    const cpuSeconds: number[] = [];
    for (let e = 0; e < options.epochs; e++) {
      const [wall, cpu] = epoch();
      seconds.push(wall);
      cpuSeconds.push(cpu);
    }
    return { seconds, cpuSeconds };
  } finally {
    tf.dispose([xs, ys, ...model.weights]);
    optimizer.dispose();
  }
}
