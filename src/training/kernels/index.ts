/**
 * Kernels and gradients flowtune registers on top of tfjs. `registerWasmKernels` is called by
 * backend.ts once the wasm backend module is imported; it is idempotent.
 */
import * as tf from '@tensorflow/tfjs';
import { wasmConv2DBackpropFilterConfig } from './conv2dBackpropFilter.ts';
import { applyWasmPatches } from './patches.ts';

/** Kernels tfjs-backend-wasm 4.22 lacks, registered by flowtune. */
export const WASM_KERNELS: readonly tf.KernelConfig[] = [wasmConv2DBackpropFilterConfig];

/**
 * Registers the missing kernels and applies the speed patches (kernels/patches.ts). The
 * environment variable FLOWTUNE_WASM_PATCHES_OFF (comma-separated kernel names, or "all") leaves
 * chosen patches out, for measuring each one with the bench.
 */
export function registerWasmKernels(wasmVersion: string, env: NodeJS.ProcessEnv = process.env): void {
  for (const config of WASM_KERNELS) {
    if (tf.getKernel(config.kernelName, config.backendName) === undefined) tf.registerKernel(config);
  }
  const off = patchesOff(env);
  if (off.has('all')) return;
  applyWasmPatches(wasmVersion, off);
}

function patchesOff(env: NodeJS.ProcessEnv): Set<string> {
  return new Set((env.FLOWTUNE_WASM_PATCHES_OFF ?? '').split(',').map((s) => s.trim()).filter(Boolean));
}
