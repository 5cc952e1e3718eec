/**
 * `tune bench` (the command; the CLI layer): training and evaluation throughput (images/s and GFLOP/s) per backend, for a named
 * network or any network spec (the JSON a report prints under "Network as JSON"), measured the
 * way bench/torch_reference.py measures PyTorch.
 *
 * Everything runs through the product's own parts: the data comes from src/data (the same data
 * set a study opens, a stratified seeded subset of its training images), training is loop.ts's
 * loop (training/speed.ts `timedTraining`, `benchEpochs`: the tf.layers model, L2 1e-4 on the weights as MATLAB's default,
 * every-epoch shuffle; one warm-up epoch, then the timed epochs), and evaluation is the one the
 * agent runs after every search run (evaluate.ts `evaluateUploaded`: inference mode, no tape, batches
 * of EVAL_BATCH_SIZE). Flops per image come from the spec (config/network.ts `networkFlops`).
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { NetworkSpec } from './types.ts';
import { UserError } from './errors.ts';
import { openDataset } from './data/dataset.ts';
import { fullView, stratifiedSubset } from './data/split.ts';
import { BACKEND_NAMES, initBackend, type BackendName } from './training/backend.ts';
import { fusedKernelsBuild } from './training/kernels/runtime.ts';
import { evaluationSpeed, timedTraining } from './training/speed.ts';
import { EVAL_BATCH_SIZE } from './training/evaluate.ts';
import { median } from './util/stats.ts';
import { formatInt } from './util/format.ts';
import { imagesPerEpoch } from './util/batching.ts';
import { defaultNetwork, describeNetwork, networkFlops, outputUnits, validateNetwork } from './config/network.ts';
import { addDropout, changeFilterSize, deepen, widen } from './config/network-edits.ts';

/**
 * The networks the bench knows by name: the default network and the ones the flowchart's capacity
 * and regularisation steps make from it most often (built with the same edits, config/network-edits.ts).
 */
export const BENCH_NETWORKS = {
  /** conv 3×3×20 → bn → relu → maxpool → fc 10: the default network of a study. */
  default: defaultNetwork(),
  /** widen ×2: conv 3×3×40. */
  widened: widen(defaultNetwork(), 2),
  /** deepen: blocks of 20 and 40 filters (3×3). */
  deep2: deepen(defaultNetwork()),
  /** deepen twice: blocks of 20, 40 and 80 filters (3×3). */
  deep3: deepen(deepen(defaultNetwork())),
  /** filter size 5×5 on the default network: conv 5×5×20. */
  k5: changeFilterSize(defaultNetwork(), 5),
  /** widen ×2, deepen to 80, filter size 5×5: conv 5×5×40 → conv 5×5×80, where the example study ended. */
  k5deep: changeFilterSize(deepen(widen(defaultNetwork(), 2), { filters: 80 }), 5),
  /** k5deep with dropout 0.2 before the classifier. */
  k5dropout: addDropout(changeFilterSize(deepen(widen(defaultNetwork(), 2), { filters: 80 }), 5), { rate: 0.2 }),
  /** widen ×1.5 of deep2: 30 and 60 filters, channel counts that are not multiples of 4 (5×5). */
  odd: changeFilterSize(widen(deepen(defaultNetwork()), 1.5), 5),
} as const satisfies Record<string, NetworkSpec>;

export type BenchNetworkName = keyof typeof BENCH_NETWORKS;

/** A network to bench: its name (a BENCH_NETWORKS key, or the file it was read from) and its spec. */
export interface BenchNetwork {
  name: string;
  spec: NetworkSpec;
}

/**
 * `--network VALUE`: a name of BENCH_NETWORKS, or a JSON file holding a network spec (what a
 * report prints under "Network as JSON"). A UserError when it is neither, or the spec is invalid.
 */
export function benchNetwork(value: string): BenchNetwork {
  if (Object.hasOwn(BENCH_NETWORKS, value)) return { name: value, spec: BENCH_NETWORKS[value as BenchNetworkName] };
  if (!existsSync(value)) {
    throw new UserError(
      `--network ${value}: neither a network name (${Object.keys(BENCH_NETWORKS).join(', ')}) nor an existing file. ` +
        `Give a name, or a JSON file holding a network spec (copy it from a report's "Network as JSON").`,
    );
  }
  let spec: unknown;
  try {
    spec = JSON.parse(readFileSync(value, 'utf8'));
  } catch (error) {
    throw new UserError(`--network ${value}: not valid JSON (${(error as Error).message}). It should hold one network spec: { "inputShape": [28, 28, 1], "layers": [...] }.`);
  }
  if (typeof spec !== 'object' || spec === null || !('inputShape' in spec) || !('layers' in spec)) {
    throw new UserError(`--network ${value}: expected a network spec with "inputShape" and "layers" (as a report prints under "Network as JSON").`);
  }
  validateNetwork(spec as NetworkSpec);
  return { name: basename(value).replace(/\.json$/i, ''), spec: spec as NetworkSpec };
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
  /** A BENCH_NETWORKS name, or a network. Default 'default'. */
  network?: BenchNetworkName | BenchNetwork;
  /** Timed epochs after the warm-up epoch; the result is their median. Default 1. */
  epochs?: number;
  /** Images evaluated (forward only, batches of EVAL_BATCH_SIZE) after a warm-up batch; 0 = no evaluation. Default 10000. */
  evalImages?: number;
  /** The data set, as for a study (`--data`): 'fashion' (default) or a folder of IDX files. */
  data?: string;
  /** Fashion-MNIST's folder (`--data-dir`), as for a study. */
  dataDir?: string | null;
  /** Receives each output line. */
  onLine: (line: string) => void;
}

export interface BenchResult {
  backend: BackendName;
  detail: string;
  /** wasm: which build of flowtune's kernels ran ('relaxed-simd': fused multiply-add; 'simd'), else null. */
  kernels: 'relaxed-simd' | 'simd' | null;
  network: string;
  /** describeNetwork(spec). */
  layers: string;
  miniBatchSize: number;
  /** Images per timed epoch (partial batches are dropped). */
  images: number;
  /** The data set's name. */
  data: string;
  imagesPerSecond: number;
  /** Training flops per second: networkFlops(spec).training × imagesPerSecond. */
  gflops: number;
  /** Seconds of each timed epoch. */
  epochSeconds: number[];
  /** Images per process-CPU-second (all threads): steadier than wall time on a shared machine. */
  cpuImagesPerSecond: number;
  /** Forward-only evaluation (null when evalImages is 0). */
  evaluation: { images: number; batchSize: number; imagesPerSecond: number; gflops: number } | null;
}

const round1 = (x: number) => Math.round(x * 10) / 10;

export async function runBench(options: BenchOptions): Promise<BenchResult[]> {
  const network = typeof options.network === 'object' ? options.network : benchNetwork(options.network ?? 'default');
  const images = options.images ?? 4096;
  const evalImages = options.evalImages ?? 10_000;
  const miniBatchSize = options.miniBatchSize ?? 128;
  const epochs = options.epochs ?? 1;
  for (const [what, n, min] of [['images', images, 1], ['epochs', epochs, 1], ['miniBatchSize', miniBatchSize, 1], ['evalImages', evalImages, 0]] as const) {
    if (!Number.isInteger(n) || n < min) throw new UserError(`bench: ${what} must be a whole number ≥ ${min}, got ${n}.`);
  }
  const dataset = await openDataset({ data: options.data ?? 'fashion', dataDir: options.dataDir ?? null });
  const set = dataset.train;
  const [h, w, c] = network.spec.inputShape;
  if (set.height !== h || set.width !== w || set.channels !== c || set.classNames.length !== outputUnits(network.spec)) {
    throw new UserError(
      `The network "${network.name}" takes ${h}×${w}×${c} images into ${outputUnits(network.spec)} classes, but the bench data "${dataset.name}" has ` +
        `${set.height}×${set.width}×${set.channels} images in ${set.classNames.length} classes. Change the network's inputShape or final fc units, or bench with other --data.`,
    );
  }
  const all = fullView(set);
  const train = stratifiedSubset(all, images, 0);
  const evaluation = evalImages > 0 ? stratifiedSubset(all, evalImages, 1) : null;
  const flops = networkFlops(network.spec);
  const backends: BackendName[] = options.backend ? [options.backend] : await loadableBackends();
  const results: BenchResult[] = [];
  for (const backend of backends) {
    const active = await initBackend(backend);
    const { seconds: epochSeconds, cpuSeconds } = await timedTraining(network.spec, train, { miniBatchSize, epochs });
    const trained = imagesPerEpoch(train.indices.length, miniBatchSize);
    const imagesPerSecond = trained / median(epochSeconds);
    const evalPerSecond = evaluation ? await evaluationSpeed(network.spec, evaluation) : null;
    const result: BenchResult = {
      backend: active.name,
      detail: active.detail,
      kernels: active.name === 'wasm' ? fusedKernelsBuild() : null,
      network: network.name,
      layers: describeNetwork(network.spec),
      miniBatchSize,
      images: trained,
      data: dataset.name,
      imagesPerSecond: Math.round(imagesPerSecond),
      gflops: round1((flops.training * imagesPerSecond) / 1e9),
      epochSeconds,
      cpuImagesPerSecond: Math.round(trained / median(cpuSeconds)),
      evaluation:
        evaluation && evalPerSecond !== null
          ? {
              images: evaluation.indices.length,
              batchSize: EVAL_BATCH_SIZE,
              imagesPerSecond: Math.round(evalPerSecond),
              gflops: round1((flops.forward * evalPerSecond) / 1e9),
            }
          : null,
    };
    results.push(result);
    options.onLine(options.json ? JSON.stringify(result) : benchLine(result));
  }
  return results;
}

function benchLine(r: BenchResult): string {
  const evaluation = r.evaluation
    ? `; evaluation (${formatInt(r.evaluation.images)} images, batch ${r.evaluation.batchSize}) ${formatInt(r.evaluation.imagesPerSecond)} images/s, ${r.evaluation.gflops} GFLOP/s`
    : '';
  return (
    `${r.detail}${r.kernels ? `, flowtune kernels: ${r.kernels}` : ''}  ${r.network} (${r.layers})\n` +
    `  training (${formatInt(r.images)} ${r.data} images, batch ${r.miniBatchSize}) ${formatInt(r.imagesPerSecond)} images/s, ${r.gflops} GFLOP/s${evaluation}`
  );
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
