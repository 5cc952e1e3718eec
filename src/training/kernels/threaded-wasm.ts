/**
 * The threaded SIMD build of tfjs-backend-wasm, started under Node (backend.ts calls it): a change
 * to a tfjs dependency's behaviour, kept beside patches.ts and checked against the same versions.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { PATCHED_VERSIONS } from './patches.ts';

/**
 * Starts tfjs-backend-wasm's threaded SIMD build under Node and registers it as the 'wasm'
 * backend, in place of the single-threaded one tfjs picks in Node. Resolves to the number of
 * threads XNNPACK got.
 *
 * tfjs 4.22 does not do this itself (flags_wasm.js: WASM_HAS_MULTITHREAD_SUPPORT is false under
 * Node, tfjs issue #3830) because its `init()` hands emscripten the pthread worker script and the
 * main script as `blob:` URLs, which Node's worker_threads refuse. Here the same emscripten
 * factory (wasm-out/tfjs-backend-wasm-threaded-simd.js, shipped in the package) gets file paths
 * instead: the worker script (shipped as a string in wasm-out/…worker.js) is written once to the
 * temp folder. Three more adjustments, all local to this start-up:
 *  - emscripten sizes the pool from `os.cpus().length / 2` (it assumes two hyper-threads per
 *    core) and caps the requested count there; `os.cpus` is widened during the factory call only.
 *  - a timer keeps Node's event loop alive while the (unref'd) workers load.
 *  - the module's HEAPU8 view is refreshed when the shared memory has grown (tfjs reads it
 *    directly; emscripten refreshes it only inside its own accessors).
 * The pool's running workers are unref'd after start (see `unrefWasmWorkers`) so the process
 * can still exit when it is done.
 */
export async function startThreadedWasm(threads: number, wasmDir: string): Promise<void> {
  const require = createRequire(import.meta.url);
  const factoryPath = require.resolve('@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.js');
  const workerSource = (require('@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.worker.js') as {
    wasmWorkerContents: string;
  }).wasmWorkerContents;
  // As tfjs's init(): the template string turned "\n" escapes into newlines inside string literals.
  const workerCode = workerSource.replace(/\n/g, '\\n');
  const hash = createHash('sha256').update(workerCode).digest('hex').slice(0, 12);
  const workerPath = join(tmpdir(), `flowtune-tfjs-wasm-${PATCHED_VERSIONS['tfjs-backend-wasm']}-${hash}.worker.cjs`);
  if (!existsSync(workerPath) || readFileSync(workerPath, 'utf8') !== workerCode) {
    const partial = `${workerPath}.${process.pid}.tmp`;
    writeFileSync(partial, workerCode);
    renameSync(partial, workerPath);
  }
  const factory = require(factoryPath) as (config: Record<string, unknown>) => Promise<EmscriptenModule>;
  const wasmBinary = join(wasmDir, 'tfjs-backend-wasm-threaded-simd.wasm');
  const realCpus = os.cpus;
  const keepAlive = setInterval(() => undefined, 1000);
  let mod: EmscriptenModule;
  try {
    os.cpus = () => {
      const cpus = realCpus();
      return Array.from({ length: Math.max(cpus.length, 2 * threads) }, (_, i) => cpus[i % cpus.length]);
    };
    mod = await factory({
      locateFile: (path: string, prefix: string) =>
        path.endsWith('.worker.js') ? workerPath : path.endsWith('.wasm') ? wasmBinary : prefix + path,
      mainScriptUrlOrBlob: factoryPath,
    });
  } finally {
    os.cpus = realCpus;
    clearInterval(keepAlive);
  }
  let heap = mod.HEAPU8;
  Object.defineProperty(mod, 'HEAPU8', {
    configurable: true,
    get: () => (heap.buffer === mod.wasmMemory.buffer ? heap : (heap = new Uint8Array(mod.wasmMemory.buffer))),
    set: (value: Uint8Array) => {
      heap = value;
    },
  });
  mod.tfjs = {
    init: mod.cwrap('init', null, []),
    initWithThreadsCount: mod.cwrap('init_with_threads_count', null, ['number']),
    getThreadsCount: mod.cwrap('get_threads_count', 'number', []),
    registerTensor: mod.cwrap('register_tensor', null, ['number', 'number', 'number']),
    disposeData: mod.cwrap('dispose_data', null, ['number']),
    dispose: mod.cwrap('dispose', null, []),
  };
  const wasm = require('@tensorflow/tfjs-backend-wasm') as {
    BackendWasm: new (module: unknown) => tf.KernelBackend;
    setThreadsCount(n: number): void;
  };
  wasm.setThreadsCount(threads);
  threadedModule = mod;
  tf.removeBackend('wasm');
  tf.registerBackend('wasm', () => new wasm.BackendWasm(mod), 2);
}

/** Lets the process exit although XNNPACK's pool threads (Node workers) wait for work forever. */
export function unrefWasmWorkers(): void {
  for (const worker of threadedModule?.PThread.runningWorkers ?? []) worker.unref();
}

/** Whether the 'wasm' backend is the threaded build started by `startThreadedWasm`. */
export function threadedWasmStarted(): boolean {
  return threadedModule !== null;
}

interface EmscriptenModule {
  HEAPU8: Uint8Array;
  wasmMemory: { buffer: ArrayBufferLike };
  PThread: { runningWorkers: Array<{ unref(): void }> };
  cwrap(name: string, returnType: string | null, argTypes: string[]): (...args: number[]) => number;
  tfjs?: Record<string, unknown>;
}

let threadedModule: EmscriptenModule | null = null;
