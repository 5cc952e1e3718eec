/**
 * Kernels and gradients flowtune registers on top of tfjs. `registerWasmKernels` is called by
 * backend.ts once the wasm backend module is imported; it is idempotent.
 */
import * as tf from '@tensorflow/tfjs';
import { wasmConv2DBackpropFilterConfig } from './conv2dBackpropFilter.ts';
import { FUSED_KERNELS } from './fused.ts';
import { setKernelSwitches } from './runtime.ts';
import { applyWasmPatches } from './patches.ts';

/** Kernels tfjs-backend-wasm 4.22 lacks, registered by flowtune. */
export const WASM_KERNELS: readonly tf.KernelConfig[] = [wasmConv2DBackpropFilterConfig];

/**
 * Registers the missing kernels, applies the speed patches (kernels/patches.ts) and registers
 * flowtune's own kernels (kernels/fused.ts, kernels/direct.ts). The environment variable FLOWTUNE_WASM_PATCHES_OFF
 * (comma-separated: patched kernel names; "FusedBlock", "ConvC1", "FilterGradC1",
 * "FilterGradDirect", "ConvDirect", "SmallDense", "RelaxedSimd", "Winograd", "Winograd4", "Elementwise", "ChannelPadding" for kernels/fused.ts and direct.ts; or "all") leaves chosen
 * levers out, for measuring each one with the bench.
 */
export function registerWasmKernels(wasmVersion: string, env: NodeJS.ProcessEnv = process.env): void {
  for (const config of WASM_KERNELS) {
    if (tf.getKernel(config.kernelName, config.backendName) === undefined) tf.registerKernel(config);
  }
  const off = patchesOff(env);
  if (off.has('all')) return;
  applyWasmPatches(wasmVersion, off);
  setKernelSwitches({
    filterGradC1: !off.has('FilterGradC1'),
    filterGradDirect: !off.has('FilterGradDirect'),
    convDirect: !off.has('ConvDirect'),
    smallDense: !off.has('SmallDense'),
    relaxedSimd: !off.has('RelaxedSimd'),
    winograd: !off.has('Winograd'),
    winograd4: !off.has('Winograd4'),
    elementwise: !off.has('Elementwise'),
    channelPadding: !off.has('ChannelPadding'),
  });
  for (const [lever, configs] of Object.entries(FUSED_KERNELS)) {
    if (off.has(lever)) continue;
    for (const config of configs) {
      if (tf.getKernel(config.kernelName, config.backendName) === undefined) tf.registerKernel(config);
    }
  }
}

function patchesOff(env: NodeJS.ProcessEnv): Set<string> {
  return new Set((env.FLOWTUNE_WASM_PATCHES_OFF ?? '').split(',').map((s) => s.trim()).filter(Boolean));
}
