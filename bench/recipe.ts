/**
 * One configuration trained on a study's full split, validation accuracy and loss per epoch: the
 * evidence behind a fixed recipe choice (final-run schedule, augmentation, a layer), without a study.
 * The sealed test images are not read.
 *
 *   npx tsx bench/recipe.ts --network FILE.json --options '{"maxEpochs":20,...}' [--seed 0] [--backend wasm] [--train-images N]
 *
 * --train-images N: train on a stratified N of the 50,000 training images (the same 10,000
 * validation images): what more training images are worth, e.g. before training a final network on
 * the validation images too, measured without the test images.
 * --network: a report's "Network as JSON" file, or a named bench network (default, widened, deep2, …).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { openDataset, stratifiedSubset, trainValidationSplit } from '../src/data/index.ts';
import { resolveOptions } from '../src/config/options.ts';
import { initBackend, parseBackendName } from '../src/training/backend.ts';
import { benchNetwork } from '../src/bench.ts';
import { trainRun } from '../src/training/trainer.ts';
import { cpuModel } from './cpu.mjs';

const { values } = parseArgs({
  options: {
    backend: { type: 'string', default: 'wasm' },
    network: { type: 'string', default: 'default' },
    options: { type: 'string', default: '{}' },
    seed: { type: 'string', default: '0' },
    'train-images': { type: 'string' },
  },
});
const seed = Number(values.seed);
const { tf } = await initBackend(parseBackendName(values.backend));
const { spec } = benchNetwork(values.network);
const options = resolveOptions({ ...JSON.parse(values.options), seed });
const split = trainValidationSplit(await openDataset(), { validationSize: 10_000, seed });
if (values['train-images'] !== undefined) split.train = stratifiedSubset(split.train, Number(values['train-images']), seed);
const dir = mkdtempSync(join(tmpdir(), 'recipe-'));
console.log(`${cpuModel()}, ${tf.getBackend()}; ${split.train.indices.length} training, ${split.validation.indices.length} validation images; options ${JSON.stringify(options)}`);
const started = performance.now();
const result = await trainRun({ network: spec, options, train: split.train, validation: split.validation, checkpointDir: dir });
rmSync(dir, { recursive: true, force: true });
for (const v of result.history.validations) console.log(`epoch ${String(v.epoch).padStart(3)}  validation accuracy ${(100 * v.accuracy).toFixed(2)}%  loss ${v.loss.toFixed(4)}`);
console.log(`${result.epochsCompleted} epochs in ${((performance.now() - started) / 1000).toFixed(0)} s; ${result.paramCount} parameters`);
