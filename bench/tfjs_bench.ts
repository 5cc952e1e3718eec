/**
 * Runs `runBench` (src/bench.ts) once and prints its JSON line(s); what `tune bench
 * --json` prints, without the CLI. Used by bench/compare.mjs.
 *
 *   npx tsx bench/tfjs_bench.ts [--backend wasm] [--network NAME|FILE] [--epochs N] [--images N] [--eval-images N]
 *   npx tsx bench/tfjs_bench.ts --network NAME --print-spec      (the network's spec as JSON, for torch_reference.py)
 */
import { parseArgs } from 'node:util';
import { benchNetwork, runBench } from '../src/bench.ts';
import { parseBackendName } from '../src/training/backend.ts';

const { values } = parseArgs({
  options: {
    backend: { type: 'string' },
    network: { type: 'string', default: 'default' },
    epochs: { type: 'string', default: '1' },
    images: { type: 'string', default: '4096' },
    'eval-images': { type: 'string', default: '10000' },
    'print-spec': { type: 'boolean', default: false },
  },
});

const network = benchNetwork(values.network);
if (values['print-spec']) {
  console.log(JSON.stringify(network.spec));
} else {
  await runBench({
    backend: values.backend ? parseBackendName(values.backend) : null,
    network,
    epochs: Number(values.epochs),
    images: Number(values.images),
    evalImages: Number(values['eval-images']),
    json: true,
    onLine: (line) => console.log(line),
  });
}
