/**
 * "What to use": where the saved model is, a Node script that loads it with `tf.loadLayersModel`
 * and classifies one image, and the configuration to reproduce — the user's configuration (the
 * search's standing one), as a MATLAB layer array and trainingOptions call and as JSON, not the
 * final run's internal settings. PURE.
 */
import { toMatlabLayers } from '../config/network.ts';
import type { StudyRecord } from '../store/records.ts';
import { int, json, learnables, matlabCall, matlabMultiline, networkText, scheduleText } from './format.ts';
import { formatNumber } from '../util/format.ts';
import type { Story } from './story.ts';

/** The classify script for a saved model (tested by running it on a real saved model). */
export function classifyScript(input: { inputShape: [number, number, number]; classNames: readonly string[]; modelDir: string }): string {
  const [h, w, c] = input.inputShape;
  const colour = c === 1 ? "'b-w'" : "'srgb'";
  return [
    `// classify.mjs — save beside report.md, then: node classify.mjs IMAGE.png`,
    `// Needs @tensorflow/tfjs and sharp (flowtune's own dependencies; elsewhere: npm install @tensorflow/tfjs sharp).`,
    `import { readFileSync } from 'node:fs';`,
    `import * as tf from '@tensorflow/tfjs';`,
    `import sharp from 'sharp';`,
    ``,
    `const CLASSES = ${JSON.stringify(input.classNames)};`,
    `const dir = new URL('./${input.modelDir.replace(/\/?$/, '/')}', import.meta.url);`,
    `// model.json + weights.bin in the TensorFlow.js layers format (with @tensorflow/tfjs-node:`,
    `// tf.loadLayersModel('file://' + path to model.json) reads them directly).`,
    `const { modelTopology, weightsManifest } = JSON.parse(readFileSync(new URL('model.json', dir), 'utf8'));`,
    `const weights = readFileSync(new URL('weights.bin', dir));`,
    `const model = await tf.loadLayersModel(tf.io.fromMemory({`,
    `  modelTopology,`,
    `  weightSpecs: weightsManifest.flatMap((group) => group.weights),`,
    `  weightData: weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength),`,
    `}));`,
    ``,
    `// The image as the network was trained on it: ${h}×${w}×${c} (stretched), pixels scaled to 0..1.`,
    `const pixels = await sharp(process.argv[2]).resize(${w}, ${h}, { fit: 'fill' }).removeAlpha().toColourspace(${colour}).raw().toBuffer();`,
    `const image = tf.tensor4d(Float32Array.from(pixels, (v) => v / 255), [1, ${h}, ${w}, ${c}]);`,
    `const probabilities = Array.from(tf.softmax(model.predict(image)).dataSync()); // the network outputs logits`,
    `const best = probabilities.indexOf(Math.max(...probabilities));`,
    'console.log(`${CLASSES[best]} (${(100 * probabilities[best]).toFixed(1)}%)`);',
  ].join('\n');
}

export function useSection(study: StudyRecord, story: Story): string[] {
  const out = ['## What to use', ''];
  const f = study.final;
  const chosen = story.chosenRun;
  const classNames = study.dataset?.classNames ?? [];
  if (f && chosen) {
    const shape = chosen.network?.inputShape ?? [28, 28, 1];
    out.push(
      `**The model:** [\`${f.modelDir}/\`](${f.modelDir}/) in this study's folder (\`model.json\` and \`weights.bin\`, TensorFlow.js layers format): run ${chosen.id}'s weights, \`${networkText(chosen.network)}\`, ${int(learnables(chosen.network, chosen.result?.paramCount))} learnable parameters. It takes ${shape.join('×')} images with pixels scaled to 0..1 and outputs one logit per class (${classNames.length} classes, in the order below).`,
      '',
      'To classify one image with it in Node.js:',
      '',
      '```js',
      classifyScript({ inputShape: shape, classNames, modelDir: f.modelDir }),
      '```',
      '',
    );
  } else {
    out.push(`No final model yet: ${study.status === 'running' ? 'the study is still running' : `the study ${study.status} before the final run`}. Each run's weights are in \`runs/run-N/\` (same format).`, '');
  }
  const config = story.userConfig;
  const run = story.configRun;
  if (!config || !run) return out;
  const seed = config.options.seed ?? study.config?.seed ?? 0;
  out.push(
    `**The configuration to reproduce** is run ${run.id}'s, ${
      study.incumbentId === null || study.incumbentId === undefined || study.incumbentId === run.id
        ? 'the one the search settled on'
        : `the one the study finalised in place of the search's choice, run ${study.incumbentId}'s (the finalists in the decision log)`
    }${story.trims.some((t) => t.incumbent === run.id) ? ' (with maxEpochs trimmed after it)' : ''}. As MATLAB code (flowtune trains the equivalent in TensorFlow.js):`,
    '',
    '```matlab',
    `layers = ${toMatlabLayers(config.network)};`,
    `rng(${seed}) % seed of weights, shuffling and dropout`,
    `options = ${matlabMultiline(matlabCall(config.options))};`,
    "% options not listed keep MATLAB's defaults",
    '```',
    '',
  );
  const final = story.finalRun;
  if (final) {
    const o = final.options;
    const schedule =
      o?.learnRateSchedule === 'piecewise'
        ? `, 'LearnRateSchedule', 'piecewise', 'LearnRateDropFactor', ${formatNumber(o.learnRateDropFactor)}, 'LearnRateDropPeriod', ${o.learnRateDropPeriod}`
        : o?.learnRateSchedule === 'cosine'
          ? `, 'LearnRateSchedule', 'cosine'`
          : '';
    out.push(
      `The final run (run ${final.id}) trained it on all ${int(final.fidelity?.trainImages)} ${final.fidelity?.trainsOnValidation ? 'training and validation' : 'training'} images with \`'MaxEpochs', ${o?.maxEpochs}${schedule}\`: a length the machine planned from the time left, not part of the configuration.` +
        (o?.learnRateSchedule === 'piecewise' && o.learnRateDropAtTime != null ? ` flowtune dropped the rate on the run's own clock instead of at LearnRateDropPeriod: ${scheduleText(final)}.` : ''),
      '',
    );
  }
  out.push(
    'Network as JSON (`tune bench --network FILE` takes it):',
    '',
    '```json',
    json(config.network),
    '```',
    '',
    'Training options as JSON (every option, with MATLAB\'s defaults where unchanged):',
    '',
    '```json',
    json(config.options),
    '```',
    '',
  );
  return out;
}
