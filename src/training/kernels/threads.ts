/**
 * The helper threads of flowtune's wasm kernels (fused.ts), apart from the kernels and their tfjs
 * patches: Node workers, each with its own instance of the kernel module on the backend's shared
 * memory, that run a share of each parallel step. Their start-up and their job protocol live here.
 */
import { Worker } from 'node:worker_threads';

/** A WebAssembly memory as used here (tsconfig's lib has no WebAssembly types). */
export interface WasmMemory {
  buffer: ArrayBufferLike;
}

/**
 * The module instantiated on one backend memory, and helper threads (Node workers with their own
 * instance on the same memory) that run a share of each parallel step: with the threaded wasm
 * build (shared memory), one helper per XNNPACK thread beyond the first, so that these kernels use
 * the cores XNNPACK's kernels use (its pool idles meanwhile). FLOWTUNE_FUSED_THREADS overrides
 * the count (1 = the calling thread only).
 */
export class Runner<N extends string> {
  private readonly helpers: Helper[] = [];
  constructor(
    readonly fns: Record<N, (...args: number[]) => void>,
    private readonly names: readonly N[],
    module: object,
    memory: WasmMemory,
    threads: number,
  ) {
    for (let i = 1; i < threads; i++) this.helpers.push(new Helper(module, memory, names));
  }

  get parts(): number {
    return this.helpers.length + 1;
  }

  /** Runs fn with argsOf(part) for every part, part 0 on this thread, the others on the helpers; returns when all are done. */
  parallel(fn: N, argsOf: (part: number) => number[]): void {
    const started = this.helpers.map((helper, i) => helper.start(this.names.indexOf(fn), argsOf(i + 1)));
    this.fns[fn](...argsOf(0));
    this.helpers.forEach((helper, i) => helper.finish(started[i]));
  }
}

/** The code of a helper thread: waits for a job (a sequence number in ctrl[0]), runs it, reports ctrl[1] = that number. */
const HELPER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { module, memory, ctrl, args, names } = workerData;
const c = new Int32Array(ctrl);
const a = new Float64Array(args);
let fns;
try {
  const instance = new WebAssembly.Instance(module, { env: { memory } });
  fns = names.map((name) => instance.exports[name]);
} catch (error) {
  Atomics.store(c, 4, 1);
}
let seen = 0;
for (;;) {
  Atomics.wait(c, 0, seen);
  seen = Atomics.load(c, 0);
  if (Atomics.load(c, 4) === 0) {
    try {
      const argv = [];
      for (let i = 0; i < c[3]; i++) argv.push(a[i]);
      fns[c[2]](...argv);
    } catch (error) {
      Atomics.store(c, 4, 1);
    }
  }
  Atomics.store(c, 1, seen);
  Atomics.notify(c, 1);
}
`;

class Helper {
  private readonly ctrl = new Int32Array(new SharedArrayBuffer(5 * 4)); // [job, done, fn, argc, failed]
  private readonly args = new Float64Array(new SharedArrayBuffer(32 * 8));
  private seq = 0;
  constructor(module: object, memory: WasmMemory, names: readonly string[]) {
    const worker = new Worker(HELPER_SOURCE, {
      eval: true,
      workerData: { module, memory, ctrl: this.ctrl.buffer, args: this.args.buffer, names },
    });
    worker.unref();
  }

  start(fn: number, argv: number[]): number {
    if (Atomics.load(this.ctrl, 4) !== 0) throw new Error('fused kernels: a helper thread failed');
    this.args.set(argv);
    this.ctrl[2] = fn;
    this.ctrl[3] = argv.length;
    this.seq++;
    Atomics.store(this.ctrl, 0, this.seq);
    Atomics.notify(this.ctrl, 0);
    return this.seq;
  }

  finish(seq: number): void {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const done = Atomics.load(this.ctrl, 1);
      if (done === seq) break;
      Atomics.wait(this.ctrl, 1, done, 100);
      if (Date.now() > deadline) throw new Error('fused kernels: a helper thread did not answer within 60 s');
    }
    if (Atomics.load(this.ctrl, 4) !== 0) throw new Error('fused kernels: a helper thread failed');
  }
}

