import { describe, expect, test } from 'vitest';
import {
  chooseBackend,
  initBackend,
  parseBackendName,
  wasmBinaryDir,
  type BackendName,
  type BackendProbe,
  type Choice,
} from '../../src/training/backend.ts';
import { UserError } from '../../src/errors.ts';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const fail = (error = 'Cannot find module') => ({ ok: false as const, error });
const withGpu = { ok: true as const, gpu: true };
const noGpu = { ok: true as const, gpu: false };
const ok = { ok: true as const };

/** Drives chooseBackend to its end with a fixed "world", as initBackend does. Returns the end and the load order. */
function drive(requested: BackendName | null, world: BackendProbe): { end: Choice; loaded: string[] } {
  const probe: BackendProbe = {};
  const loaded: string[] = [];
  for (let i = 0; i < 10; i++) {
    const choice = chooseBackend(requested, probe);
    if (choice.kind !== 'load') return { end: choice, loaded };
    loaded.push(choice.package);
    probe[choice.package] = world[choice.package] ?? fail();
  }
  throw new Error('chooseBackend did not settle');
}

describe('chooseBackend', () => {
  test.each([
    // requested, what would load, expected backend, packages loaded in order
    [null, { 'tfjs-node-gpu': withGpu }, 'tensorflow-gpu', ['tfjs-node-gpu']],
    [null, { 'tfjs-node-gpu': noGpu }, 'tensorflow', ['tfjs-node-gpu']],
    [null, { 'tfjs-node': ok, wasm: ok }, 'tensorflow', ['tfjs-node-gpu', 'tfjs-node']],
    [null, { wasm: ok }, 'wasm', ['tfjs-node-gpu', 'tfjs-node', 'wasm']],
    [null, {}, 'cpu', ['tfjs-node-gpu', 'tfjs-node', 'wasm']],
    ['tensorflow-gpu', { 'tfjs-node-gpu': withGpu }, 'tensorflow-gpu', ['tfjs-node-gpu']],
    ['tensorflow', { 'tfjs-node': ok, 'tfjs-node-gpu': withGpu }, 'tensorflow', ['tfjs-node']],
    ['tensorflow', { 'tfjs-node-gpu': noGpu }, 'tensorflow', ['tfjs-node', 'tfjs-node-gpu']],
    ['wasm', { 'tfjs-node-gpu': withGpu, wasm: ok }, 'wasm', ['wasm']],
    ['cpu', { 'tfjs-node-gpu': withGpu, wasm: ok }, 'cpu', []],
  ] as Array<[BackendName | null, BackendProbe, BackendName, string[]]>)(
    'requested %s with %j → %s',
    (requested, world, expected, order) => {
      const { end, loaded } = drive(requested, world);
      expect(end).toMatchObject({ kind: 'use', name: expected });
      expect(loaded).toEqual(order);
    },
  );

  test.each([
    ['tensorflow-gpu', { 'tfjs-node-gpu': fail('libcudart.so.11.0: cannot open shared object file') }, /tensorflow-gpu.*libcudart.*npm install @tensorflow\/tfjs-node-gpu.*--backend wasm/],
    ['tensorflow-gpu', { 'tfjs-node-gpu': noGpu }, /tensorflow-gpu.*no CUDA GPU.*--backend wasm/],
    ['tensorflow', {}, /tensorflow.*tfjs-node did not load.*Cannot find module.*npm install @tensorflow\/tfjs-node.*--backend wasm/],
    ['wasm', { wasm: fail('tfjs-backend-wasm.wasm is missing') }, /wasm.*tfjs-backend-wasm.wasm is missing.*--backend cpu/],
  ] as Array<[BackendName, BackendProbe, RegExp]>)('forced %s that cannot load fails with why and what to do', (requested, world, message) => {
    const { end } = drive(requested, world);
    expect(end.kind).toBe('fail');
    expect((end as { message: string }).message).toMatch(message);
  });

  test('an unknown name fails and lists the names', () => {
    expect(chooseBackend('metal' as BackendName, {})).toMatchObject({ kind: 'fail', message: expect.stringMatching(/wasm, cpu/) });
    expect(() => parseBackendName('metal')).toThrow(UserError);
    expect(parseBackendName('WASM')).toBe('wasm');
  });
});

describe('initBackend', () => {
  test('the wasm binaries are found from the module, not the cwd', () => {
    expect(existsSync(join(wasmBinaryDir(), 'tfjs-backend-wasm-simd.wasm'))).toBe(true);
  });

  test('a forced backend whose package is absent throws a UserError saying why and what to do', async () => {
    // @tensorflow/tfjs-node-gpu cannot be installed here; where it is, this test is moot.
    const gpuInstalled = await import('@tensorflow/tfjs-node-gpu' as string).then(() => true, () => false);
    if (gpuInstalled) return;
    const error = await initBackend('tensorflow-gpu').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserError);
    expect((error as Error).message).toMatch(/tensorflow-gpu.*npm install @tensorflow\/tfjs-node-gpu.*--backend wasm/);
  });

  test('wasm starts, and a second call returns the active backend', async () => {
    const first = await initBackend('wasm');
    expect(first.name).toBe('wasm');
    expect(first.tf.getBackend()).toBe('wasm');
    expect(first.detail).toMatch(/^wasm/);
    expect(await initBackend()).toBe(first);
    expect(await initBackend('wasm')).toBe(first);
    const cpu = await initBackend('cpu');
    expect(cpu.tf.getBackend()).toBe('cpu');
    expect(await initBackend()).toBe(cpu);
  });
});
