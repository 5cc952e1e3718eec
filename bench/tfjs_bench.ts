/**
 * Runs `runBench` (src/training/bench.ts) once and prints its JSON line(s); what `tune bench
 * --json` prints, without the CLI. Used by bench/compare.mjs.
 *
 *   npx tsx bench/tfjs_bench.ts [--backend wasm] [--network default|deep2|deep3] [--epochs N] [--loop trainer|minimal]
 */
import { parseArgs } from 'node:util';
import { runBench, type BenchNetworkName } from '../src/training/bench.ts';
import { parseBackendName } from '../src/training/backend.ts';

const { values } = parseArgs({
  options: {
    backend: { type: 'string' },
    network: { type: 'string', default: 'default' },
    epochs: { type: 'string', default: '1' },
    images: { type: 'string', default: '4096' },
    loop: { type: 'string', default: 'trainer' },
  },
});

await runBench({
  backend: values.backend ? parseBackendName(values.backend) : null,
  network: values.network as BenchNetworkName,
  epochs: Number(values.epochs),
  images: Number(values.images),
  loop: values.loop as 'trainer' | 'minimal',
  json: true,
  onLine: (line) => console.log(line),
});
