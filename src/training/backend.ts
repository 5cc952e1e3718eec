/**
 * Which tfjs backend trains, and getting it ready. The only module (with kernels/) that imports
 * tfjs backends or registers kernels.
 *
 * Automatic order: CUDA tensorflow (`@tensorflow/tfjs-node-gpu`, when it loads and a GPU is
 * present) → CPU tensorflow (`@tensorflow/tfjs-node`, or tfjs-node-gpu without a GPU) → wasm
 * (`@tensorflow/tfjs-backend-wasm`, with the kernels tfjs lacks registered) → cpu (pure JS).
 *
 * The choice is a pure function over what loaded (`chooseBackend`), so it is tested with a table;
 * `initBackend` only performs the loads that function asks for, in order.
 */
import { existsSync, readdirSync } from 'node:fs';
import os from 'node:os';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { UserError } from '../errors.ts';
import { counted } from '../util/format.ts';
import { registerWasmKernels } from './kernels/index.ts';
import { startThreadedWasm, threadedWasmStarted, unrefWasmWorkers } from './kernels/threaded-wasm.ts';

export type BackendName = 'tensorflow-gpu' | 'tensorflow' | 'wasm' | 'cpu';

export const BACKEND_NAMES: readonly BackendName[] = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'];

/** What can be loaded; each maps onto one tfjs backend. */
export type BackendPackage =
  /** `@tensorflow/tfjs-node-gpu`: TensorFlow C library built with CUDA (runs on CPU without a GPU). */
  | 'tfjs-node-gpu'
  /** `@tensorflow/tfjs-node`: TensorFlow C library, CPU only. */
  | 'tfjs-node'
  /** `@tensorflow/tfjs-backend-wasm`: XNNPACK compiled to WebAssembly. */
  | 'wasm'
  /** tfjs's pure-JavaScript cpu backend (always there). */
  | 'cpu';

/** The outcome of trying to load one package. */
export type LoadResult =
  /** It loaded; `gpu` says whether a CUDA GPU is usable (only meaningful for tfjs-node-gpu). */
  | { ok: true; gpu?: boolean; gpuName?: string }
  /** It did not load; `error` is the load error's message. */
  | { ok: false; error: string };

/** What has been tried so far. A missing entry means "not tried yet". */
export type BackendProbe = Partial<Record<BackendPackage, LoadResult>>;

/** The next step of the selection. */
export type Choice =
  /** Use this backend, provided by this package. */
  | { kind: 'use'; name: BackendName; via: BackendPackage }
  /** Try to load this package, then ask again. */
  | { kind: 'load'; package: BackendPackage }
  /** Give up: the forced backend cannot run (message says which, why, and what to do). */
  | { kind: 'fail'; message: string };

const INSTALL_HINT: Record<BackendPackage, string> = {
  'tfjs-node-gpu':
    '`npm install @tensorflow/tfjs-node-gpu` (needs outside network access, CUDA 11.2 and cuDNN 8.1) and an NVIDIA GPU',
  'tfjs-node': '`npm install @tensorflow/tfjs-node` (needs outside network access to download the TensorFlow library)',
  wasm: 'reinstall dependencies (`npm ci`) so node_modules/@tensorflow/tfjs-backend-wasm/dist has its .wasm files',
  cpu: 'reinstall dependencies (`npm ci`)',
};

function why(result: LoadResult | undefined): string {
  if (result === undefined) return 'it was not tried';
  return result.ok ? 'it loaded but found no CUDA GPU' : firstLine(result.error);
}

function firstLine(message: string): string {
  const line = message.split('\n').find((l) => l.trim() !== '') ?? message;
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}

/**
 * Pure: given the requested backend (null = automatic) and what has been loaded so far, the
 * next step. Call repeatedly, loading each package it asks for, until it says 'use' or 'fail'.
 */
export function chooseBackend(requested: BackendName | null | undefined, probe: BackendProbe): Choice {
  const gpu = probe['tfjs-node-gpu'];
  const node = probe['tfjs-node'];
  const wasm = probe.wasm;
  switch (requested ?? null) {
    case 'tensorflow-gpu': {
      if (gpu === undefined) return { kind: 'load', package: 'tfjs-node-gpu' };
      if (gpu.ok && gpu.gpu) return { kind: 'use', name: 'tensorflow-gpu', via: 'tfjs-node-gpu' };
      return {
        kind: 'fail',
        message:
          `--backend tensorflow-gpu is not available: ${why(gpu)}. ` +
          `It needs ${INSTALL_HINT['tfjs-node-gpu']}. Use --backend wasm (or leave --backend out to choose automatically).`,
      };
    }
    case 'tensorflow': {
      // Either package provides the CPU 'tensorflow' backend; never load both (they register the same name).
      if (gpu?.ok) return { kind: 'use', name: 'tensorflow', via: 'tfjs-node-gpu' };
      if (node === undefined) return { kind: 'load', package: 'tfjs-node' };
      if (node.ok) return { kind: 'use', name: 'tensorflow', via: 'tfjs-node' };
      if (gpu === undefined) return { kind: 'load', package: 'tfjs-node-gpu' };
      return {
        kind: 'fail',
        message:
          `--backend tensorflow is not available: @tensorflow/tfjs-node did not load (${why(node)}) ` +
          `and neither did @tensorflow/tfjs-node-gpu (${why(gpu)}). It needs ${INSTALL_HINT['tfjs-node']}. ` +
          'Use --backend wasm (or leave --backend out to choose automatically).',
      };
    }
    case 'wasm': {
      if (wasm === undefined) return { kind: 'load', package: 'wasm' };
      if (wasm.ok) return { kind: 'use', name: 'wasm', via: 'wasm' };
      return {
        kind: 'fail',
        message:
          `--backend wasm is not available: ${why(wasm)}. To fix it, ${INSTALL_HINT.wasm}; ` +
          'or use --backend cpu (much slower).',
      };
    }
    case 'cpu':
      return { kind: 'use', name: 'cpu', via: 'cpu' };
    case null: {
      if (gpu === undefined) return { kind: 'load', package: 'tfjs-node-gpu' };
      if (gpu.ok) return { kind: 'use', name: gpu.gpu ? 'tensorflow-gpu' : 'tensorflow', via: 'tfjs-node-gpu' };
      if (node === undefined) return { kind: 'load', package: 'tfjs-node' };
      if (node.ok) return { kind: 'use', name: 'tensorflow', via: 'tfjs-node' };
      if (wasm === undefined) return { kind: 'load', package: 'wasm' };
      if (wasm.ok) return { kind: 'use', name: 'wasm', via: 'wasm' };
      return { kind: 'use', name: 'cpu', via: 'cpu' };
    }
    default:
      return {
        kind: 'fail',
        message: `Unknown backend "${String(requested)}". Choose one of: ${BACKEND_NAMES.join(', ')}.`,
      };
  }
}

/** Parses a --backend flag value (case-insensitive); throws a UserError listing the names. */
export function parseBackendName(value: string): BackendName {
  const name = value.trim().toLowerCase();
  if ((BACKEND_NAMES as readonly string[]).includes(name)) return name as BackendName;
  throw new UserError(`Unknown backend "${value}". Choose one of: ${BACKEND_NAMES.join(', ')}.`);
}

// ───────────────────────────── loading ─────────────────────────────

export interface ActiveBackend {
  /** Which backend trains. */
  name: BackendName;
  /** tfjs, with that backend active. */
  tf: typeof tf;
  /** One line for logs and reports, e.g. "wasm (SIMD, 1 thread; Conv2DBackpropFilter registered)". */
  detail: string;
}

let active: ActiveBackend | null = null;
let pending: Promise<ActiveBackend> | null = null;
const probeCache: BackendProbe = {};

/**
 * Makes a backend active and returns it. Idempotent: without an argument, or with the name of the
 * active backend, a second call returns the active one. Requesting a different backend later
 * switches to it (tests use this to compare wasm with cpu). A forced backend that cannot load
 * throws a UserError naming the backend, the load error, and what to do.
 */
export async function initBackend(requested?: BackendName | null): Promise<ActiveBackend> {
  if (pending) await pending.catch(() => undefined);
  if (active && (requested == null || requested === active.name)) return active;
  pending = select(requested ?? null);
  try {
    active = await pending;
    return active;
  } finally {
    pending = null;
  }
}

/** The active backend, or null before initBackend. */
export function activeBackend(): ActiveBackend | null {
  return active;
}

async function select(requested: BackendName | null): Promise<ActiveBackend> {
  for (;;) {
    const choice = chooseBackend(requested, probeCache);
    if (choice.kind === 'fail') throw new UserError(choice.message);
    if (choice.kind === 'load') {
      probeCache[choice.package] = await load(choice.package);
      continue;
    }
    return activate(choice.name, choice.via);
  }
}

async function activate(name: BackendName, via: BackendPackage): Promise<ActiveBackend> {
  tf.enableProdMode(); // no per-op NaN checks, no "install tfjs-node" banner
  const tfName = name === 'tensorflow-gpu' ? 'tensorflow' : name;
  if (!(await tf.setBackend(tfName))) {
    throw new UserError(`--backend ${name}: tfjs could not start the "${tfName}" backend. Use --backend cpu.`);
  }
  await tf.ready();
  let detail: string;
  if (name === 'wasm') {
    detail = `wasm (${wasmDetail()})`;
  } else if (name === 'tensorflow-gpu') {
    const probe = probeCache['tfjs-node-gpu'];
    detail = `tensorflow-gpu via @tensorflow/${via} (${(probe?.ok && probe.gpuName) || 'CUDA GPU'})`;
  } else if (name === 'tensorflow') {
    detail = `tensorflow (CPU) via @tensorflow/${via}`;
  } else {
    detail = 'cpu (pure JavaScript)';
  }
  return { name, tf, detail };
}

/** Tries to load one package; never throws. */
async function load(pkg: BackendPackage): Promise<LoadResult> {
  try {
    switch (pkg) {
      case 'tfjs-node-gpu': {
        // Optional dependency: absent in most installs. The specifier is a variable so that
        // TypeScript does not require its types.
        const spec = '@tensorflow/tfjs-node-gpu';
        await import(spec);
        const gpu = detectCudaGpu();
        return { ok: true, gpu: gpu !== null, gpuName: gpu ?? undefined };
      }
      case 'tfjs-node': {
        const spec = '@tensorflow/tfjs-node';
        await import(spec);
        return { ok: true };
      }
      case 'wasm':
        await loadWasm();
        return { ok: true };
      case 'cpu':
        return { ok: true };
    }
  } catch (error) {
    return { ok: false, error: error instanceof Error ? error.message : String(error) };
  }
}

/** The name of the first NVIDIA GPU the driver reports, or null. */
export function detectCudaGpu(): string | null {
  const dir = '/proc/driver/nvidia/gpus';
  try {
    if (!existsSync(dir)) return null;
    const gpus = readdirSync(dir);
    if (gpus.length === 0) return null;
    return `NVIDIA GPU ${gpus[0]}`;
  } catch {
    return null;
  }
}

// ───────────────────────────── wasm ─────────────────────────────

let wasmModule: typeof import('@tensorflow/tfjs-backend-wasm') | null = null;

/** Folder holding tfjs-backend-wasm's .wasm binaries (with a trailing slash), found from this module, not the cwd. */
export function wasmBinaryDir(): string {
  const require = createRequire(import.meta.url);
  const main = require.resolve('@tensorflow/tfjs-backend-wasm'); // …/dist/tf-backend-wasm.node.js
  return join(dirname(main), '/');
}

let wasmThreadsNote = '';

/**
 * XNNPACK threads for the wasm backend: FLOWTUNE_WASM_THREADS when set (1 = tfjs's own
 * single-threaded build), else the machine's parallelism, at most 4.
 */
export function wasmThreadCount(env: NodeJS.ProcessEnv = process.env): number {
  const forced = Number.parseInt(env.FLOWTUNE_WASM_THREADS ?? '', 10);
  if (Number.isFinite(forced) && forced >= 1) return Math.min(forced, 8);
  return Math.max(1, Math.min(4, os.availableParallelism()));
}

async function loadWasm(): Promise<void> {
  if (wasmModule === null) {
    const mod = await import('@tensorflow/tfjs-backend-wasm');
    const dir = wasmBinaryDir();
    for (const file of ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm']) {
      if (!existsSync(join(dir, file))) throw new Error(`${join(dir, file)} is missing`);
    }
    mod.setWasmPaths(dir);
    registerWasmKernels(mod.version_wasm);
    const threads = wasmThreadCount();
    if (threads > 1) {
      try {
        await startThreadedWasm(threads, dir);
      } catch (error) {
        // The single-threaded build still works; say why threads are off.
        wasmThreadsNote = `; threads unavailable: ${firstLine(error instanceof Error ? error.message : String(error))}`;
      }
    }
    wasmModule = mod;
  }
  // Start it now so that a broken binary is a load failure, not a later crash.
  if (!(await tf.setBackend('wasm'))) throw new Error('tfjs could not initialise the wasm backend');
  unrefWasmWorkers();
}

function wasmDetail(): string {
  const simd = threadedWasmStarted() || tf.env().getBool('WASM_HAS_SIMD_SUPPORT') ? 'SIMD' : 'no SIMD';
  const threads = Math.max(1, wasmModule?.getThreadsCount() ?? 1);
  return `${simd}, ${counted(threads, 'thread')}${wasmThreadsNote}`;
}
