/**
 * Training throughput of the default network fitted to other image shapes (issue 14): grey
 * 28×28×1 and 32×32×1 use flowtune's one-channel first-layer kernel (kernels/fused.ts conv2dC1);
 * colour 32×32×3 falls back to tfjs's convolution (XNNPACK on wasm). Also 32×32×3 with the pixels
 * kept as bytes (above --max-memory: each batch scaled in JavaScript).
 *
 *   flock /tmp/flowtune-cpu.lock npx tsx bench/channels.ts [--backend wasm] [--images 4096] [--epochs 3]
 *
 * The product's loop (speed.ts benchEpochs): mini-batch 128, sgdm, one warm-up epoch, then
 * `epochs` timed epochs; random pixels (throughput does not depend on them). Prints one line per
 * shape: median images/s over the timed epochs, and GFLOP/s from networkFlops.
 */
import { parseArgs } from 'node:util';
import { defaultNetwork, describeNetwork, fitNetworkToData, networkFlops } from '../src/config/network.ts';
import { resolveOptions } from '../src/config/options.ts';
import { toUnitFloats } from '../src/data/memory.ts';
import { mulberry32 } from '../src/util/random.ts';
import { initBackend, type BackendName } from '../src/training/backend.ts';
import { benchEpochs } from '../src/training/speed.ts';
import type { DataView, ImageSet } from '../src/data/image-set.ts';

const { values } = parseArgs({ options: { backend: { type: 'string', default: 'wasm' }, images: { type: 'string', default: '4096' }, epochs: { type: 'string', default: '3' } } });
const images = Number(values.images);
const epochs = Number(values.epochs);
const backend = await initBackend(values.backend as BackendName);

const cases: Array<{ shape: [number, number, number]; bytes: boolean }> = [
  { shape: [28, 28, 1], bytes: false },
  { shape: [32, 32, 1], bytes: false },
  { shape: [32, 32, 3], bytes: false },
  { shape: [32, 32, 3], bytes: true },
];
console.log(`backend ${backend.detail}, ${images} images, batch 128, ${epochs} timed epochs after one warm-up`);
for (const { shape, bytes } of cases) {
  const [height, width, channels] = shape;
  const network = fitNetworkToData(defaultNetwork(), { height, width, channels, classes: 10 });
  const random = mulberry32(1);
  const raw = Uint8Array.from({ length: images * height * width * channels }, () => Math.floor(random() * 256));
  const set: ImageSet = {
    name: 'random',
    images: bytes ? raw : toUnitFloats(raw),
    labels: Uint8Array.from({ length: images }, (_, i) => i % 10),
    count: images,
    height,
    width,
    channels,
    classNames: Array.from({ length: 10 }, (_, i) => String(i)),
  };
  const view: DataView = { set, indices: Uint32Array.from({ length: images }, (_, i) => i) };
  const options = resolveOptions({ miniBatchSize: 128, shuffle: 'every-epoch' });
  const result = await benchEpochs(network, options, view, epochs + 1);
  const rates = result.epochs;
  const timed = rates.slice(1).map((e) => e.imagesPerSecond).sort((a, b) => a - b);
  const median = timed[Math.floor(timed.length / 2)];
  const gflops = (networkFlops(network).training * median) / 1e9;
  console.log(
    `${shape.join('×').padEnd(8)} ${bytes ? 'bytes  ' : 'float32'}  ${describeNetwork(network).padEnd(52)} ${Math.round(median).toLocaleString('en-US').padStart(7)} img/s  ${gflops.toFixed(2)} GFLOP/s  (epochs: ${timed.map((r) => Math.round(r)).join(', ')})`,
  );
}
