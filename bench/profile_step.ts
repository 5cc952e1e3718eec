/**
 * Where a training step's time goes: runs the product's loop (speed.ts `benchEpochs`) under
 * tf.profile and prints, per kernel name, the wall milliseconds per step (the wasm backend times
 * each kernel call synchronously; kernels called inside other kernels count in both), sorted.
 *
 *   npx tsx bench/profile_step.ts [--backend wasm] [--network NAME|FILE] [--images 1024]
 *
 * Profiling adds bookkeeping per kernel: read the shares, not the totals.
 */
import { parseArgs } from 'node:util';
import { fullView, openDataset, stratifiedSubset } from '../src/data/index.ts';
import { initBackend, parseBackendName } from '../src/training/backend.ts';
import { benchNetwork } from '../src/bench.ts';
import { benchOptions } from '../src/training/speed.ts';
import { benchEpochs } from '../src/training/speed.ts';

const { values } = parseArgs({
  options: {
    backend: { type: 'string', default: 'wasm' },
    network: { type: 'string', default: 'default' },
    images: { type: 'string', default: '1024' },
  },
});

const { tf } = await initBackend(parseBackendName(values.backend));
const { spec } = benchNetwork(values.network);
const view = stratifiedSubset(fullView((await openDataset()).train), Number(values.images), 0);
const options = benchOptions(128);
const steps = Math.floor(view.indices.length / 128);
await benchEpochs(spec, options, view, 1); // warm-up
const started = performance.now();
await benchEpochs(spec, options, view, 1);
const plainMs = (performance.now() - started) / steps;
const info = await tf.profile(() => benchEpochs(spec, options, view, 1).then(() => tf.scalar(0)));
const byName = new Map<string, { ms: number; calls: number }>();
for (const k of info.kernels) {
  const entry = byName.get(k.name) ?? { ms: 0, calls: 0 };
  entry.ms += Number(k.kernelTimeMs) || 0;
  entry.calls++;
  byName.set(k.name, entry);
}
const rows = [...byName.entries()].sort((a, b) => b[1].ms - a[1].ms);
const total = rows.reduce((a, [, e]) => a + e.ms, 0);
console.log(`${values.network}: ${plainMs.toFixed(1)} ms per step without profiling; kernel calls per step ${(info.kernels.length / steps).toFixed(0)}`);
for (const [name, e] of rows) {
  if (e.ms / steps < 0.05) continue;
  console.log(`${name.padEnd(32)} ${(e.ms / steps).toFixed(2).padStart(7)} ms/step  ${(e.calls / steps).toFixed(1).padStart(6)} calls/step  ${((100 * e.ms) / total).toFixed(1).padStart(5)}%`);
}
