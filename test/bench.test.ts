/**
 * `tune bench` (src/bench.ts): the networks it knows, `--network FILE`, and one real run
 * on a small IDX folder through the product's data module, training loop and evaluation. No speed
 * is asserted: only that the figures are there and consistent with the spec's flops.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, test } from 'vitest';
import { writeIdxFile } from '../src/data/idx.ts';
import { UserError } from '../src/errors.ts';
import { BENCH_NETWORKS, benchNetwork, runBench } from '../src/bench.ts';
import { describeNetwork, networkFlops } from '../src/config/network.ts';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'flowtune-bench-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('BENCH_NETWORKS', () => {
  test.each([
    ['default', '28×28×1 → conv3×3×20 → bn → relu → maxpool2 → fc10'],
    ['widened', '28×28×1 → conv3×3×40 → bn → relu → maxpool2 → fc10'],
    ['deep2', '28×28×1 → conv3×3×20 → bn → relu → maxpool2 → conv3×3×40 → bn → relu → maxpool2 → fc10'],
    ['deep3', '28×28×1 → conv3×3×20 → bn → relu → maxpool2 → conv3×3×40 → bn → relu → maxpool2 → conv3×3×80 → bn → relu → maxpool2 → fc10'],
    ['k5', '28×28×1 → conv5×5×20 → bn → relu → maxpool2 → fc10'],
    ['k5deep', '28×28×1 → conv5×5×40 → bn → relu → maxpool2 → conv5×5×80 → bn → relu → maxpool2 → fc10'],
    ['k5dropout', '28×28×1 → conv5×5×40 → bn → relu → maxpool2 → conv5×5×80 → bn → relu → maxpool2 → dropout0.2 → fc10'],
    ['odd', '28×28×1 → conv5×5×30 → bn → relu → maxpool2 → conv5×5×60 → bn → relu → maxpool2 → fc10'],
  ])('%s is %s', (name, layers) => {
    expect(describeNetwork(BENCH_NETWORKS[name as keyof typeof BENCH_NETWORKS])).toBe(layers);
  });
});

describe('benchNetwork (--network NAME|FILE)', () => {
  it('takes a name', () => {
    expect(benchNetwork('deep3')).toEqual({ name: 'deep3', spec: BENCH_NETWORKS.deep3 });
  });

  it('reads a spec file, named after the file', () => {
    const file = join(dir, 'final.json');
    writeFileSync(file, JSON.stringify(BENCH_NETWORKS.k5deep, null, 2));
    expect(benchNetwork(file)).toEqual({ name: 'final', spec: BENCH_NETWORKS.k5deep });
  });

  test.each([
    ['no-such-name', /neither a network name \(default, widened, .*\) nor an existing file/],
    ['bad.json', /not valid JSON/],
    ['array.json', /expected a network spec with "inputShape" and "layers"/],
    ['invalid.json', /kernel|filters|conv/i],
  ])('refuses %s with a user error', (what, message) => {
    writeFileSync(join(dir, 'bad.json'), '{ "inputShape": [28, 28, 1], ');
    writeFileSync(join(dir, 'array.json'), '[1, 2]');
    writeFileSync(join(dir, 'invalid.json'), JSON.stringify({ inputShape: [28, 28, 1], layers: [{ type: 'conv', filters: 0, kernelSize: 3 }, { type: 'fc', units: 10 }] }));
    const value = what === 'no-such-name' ? what : join(dir, what);
    expect(() => benchNetwork(value)).toThrow(UserError);
    expect(() => benchNetwork(value)).toThrow(message);
  });
});

describe('runBench', () => {
  /** An IDX folder of 96 random 28×28 images in 10 classes (what --data DIR reads). */
  async function idxFolder(): Promise<string> {
    const folder = join(dir, 'idx');
    mkdirSync(folder, { recursive: true });
    const n = 96;
    const pixels = new Uint8Array(n * 784).map((_, i) => (i * 7919) % 251);
    const labels = Uint8Array.from({ length: n }, (_, i) => i % 10);
    await writeIdxFile(join(folder, 'train-images-idx3-ubyte'), [n, 28, 28], pixels);
    await writeIdxFile(join(folder, 'train-labels-idx1-ubyte'), [n], labels);
    await writeIdxFile(join(folder, 't10k-images-idx3-ubyte'), [10, 28, 28], pixels.subarray(0, 7840));
    await writeIdxFile(join(folder, 't10k-labels-idx1-ubyte'), [10], labels.subarray(0, 10));
    return folder;
  }

  it('trains through the product loop and evaluates, printing images/s and GFLOP/s', async () => {
    const lines: string[] = [];
    const [result] = await runBench({
      backend: 'wasm',
      data: await idxFolder(),
      network: 'default',
      images: 64,
      miniBatchSize: 32,
      evalImages: 50,
      onLine: (line) => lines.push(line),
    });
    expect(result).toMatchObject({ backend: 'wasm', network: 'default', images: 64, miniBatchSize: 32, evaluation: { images: 50, batchSize: 1000 } });
    expect(['relaxed-simd', 'simd']).toContain(result.kernels);
    expect(result.imagesPerSecond).toBeGreaterThan(0);
    expect(result.evaluation!.imagesPerSecond).toBeGreaterThan(0);
    const flops = networkFlops(BENCH_NETWORKS.default);
    expect(result.gflops).toBeCloseTo((flops.training * result.imagesPerSecond) / 1e9, 0);
    expect(result.evaluation!.gflops).toBeCloseTo((flops.forward * result.evaluation!.imagesPerSecond) / 1e9, 0);
    expect(lines.join('\n')).toMatch(/training \(64 .* images, batch 32\) [\d,]+ images\/s, [\d.]+ GFLOP\/s; evaluation \(50 images, batch 1000\) [\d,]+ images\/s/);
  }, 60_000);

  it('refuses a network that does not fit the data before training', async () => {
    const spec = { inputShape: [32, 32, 3], layers: [{ type: 'fc', units: 10 }] } as const;
    await expect(
      runBench({ backend: 'wasm', data: await idxFolder(), network: { name: 'rgb', spec: spec as never }, onLine: () => {} }),
    ).rejects.toThrow(/takes 32×32×3 images into 10 classes, but the bench data .* has 28×28×1 images/);
  });
});
