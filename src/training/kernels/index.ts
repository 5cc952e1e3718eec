/**
 * Kernels and gradients flowtune registers on top of tfjs. `registerWasmKernels` is called by
 * backend.ts once the wasm backend module is imported; it is idempotent.
 */
import * as tf from '@tensorflow/tfjs';
import { wasmConv2DBackpropFilterConfig } from './conv2dBackpropFilter.ts';
import { FUSED_KERNELS, enableChannelPadding, enableConvDirect, enableElementwise, enableFilterGradC1, enableFilterGradDirect, enableRelaxedSimd, enableSmallDense, enableWinograd, enableWinograd4 } from './fused.ts';
import { applyWasmPatches } from './patches.ts';

/** Kernels tfjs-backend-wasm 4.22 lacks, registered by flowtune. */
export const WASM_KERNELS: readonly tf.KernelConfig[] = [wasmConv2DBackpropFilterConfig];

/**
 * Registers the missing kernels, applies the speed patches (kernels/patches.ts) and registers
 * flowtune's own kernels (kernels/fused.ts). The environment variable FLOWTUNE_WASM_PATCHES_OFF
 * (comma-separated: patched kernel names; "FusedBlock", "ConvC1", "FilterGradC1",
 * "FilterGradDirect", "ConvDirect", "SmallDense", "RelaxedSimd", "Winograd", "Winograd4", "Elementwise", "ChannelPadding" for kernels/fused.ts; or "all") leaves chosen
 * levers out, for measuring each one with the bench.
 */
export function registerWasmKernels(wasmVersion: string, env: NodeJS.ProcessEnv = process.env): void {
  for (const config of WASM_KERNELS) {
    if (tf.getKernel(config.kernelName, config.backendName) === undefined) tf.registerKernel(config);
  }
  const off = patchesOff(env);
  if (off.has('all')) return;
  applyWasmPatches(wasmVersion, off);
  enableFilterGradC1(!off.has('FilterGradC1'));
  enableFilterGradDirect(!off.has('FilterGradDirect'));
  enableConvDirect(!off.has('ConvDirect'));
  enableSmallDense(!off.has('SmallDense'));
  enableRelaxedSimd(!off.has('RelaxedSimd'));
  enableWinograd(!off.has('Winograd'));
  enableWinograd4(!off.has('Winograd4'));
  enableElementwise(!off.has('Elementwise'));
  enableChannelPadding(!off.has('ChannelPadding'));
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
