/** How pixels are held: float32 below --max-memory, bytes above it, refused above even that. */
import { describe, expect, test } from 'vitest';
import { DEFAULT_MAX_MEMORY, estimateBytes, formatBytes, parseByteSize, planMemory, toUnitFloats } from '../../src/data/memory.ts';

describe('parseByteSize (--max-memory)', () => {
  test.each([
    ['2G', 2 * 1024 ** 3],
    ['512M', 512 * 1024 ** 2],
    ['1.5GB', 1.5 * 1024 ** 3],
    ['8GiB', 8 * 1024 ** 3],
    ['1t', 1024 ** 4],
    ['2000000', 2_000_000],
  ])('%s → %i bytes', (text, bytes) => {
    expect(parseByteSize(text)).toBe(bytes);
  });
  test.each(['', 'lots', '-1G', '100K', '2 G B', '1e9'])('%j is refused with examples', (text) => {
    expect(() => parseByteSize(text)).toThrow(/--max-memory .* is not valid: give a size of at least 1M, e.g. 512M, 2G/);
  });
});

describe('planMemory', () => {
  // The README's figure: 50,000 images of 32×32×3 as float32 are about 600 MB (×2 while training).
  const cifar = { trainAndValidation: 50_000 * 32 * 32 * 3, test: 10_000 * 32 * 32 * 3 };
  test('50,000 32×32×3 images: float32 within the default 2 GiB', () => {
    expect(formatBytes(cifar.trainAndValidation * 4)).toBe('586 MiB');
    const plan = planMemory(cifar, DEFAULT_MAX_MEMORY, 'x');
    expect(plan).toEqual({ storage: 'float32', estimatedBytes: estimateBytes(cifar, 'float32'), limitBytes: DEFAULT_MAX_MEMORY });
    expect(plan.estimatedBytes).toBe(50_000 * 3072 * 8 + 10_000 * 3072 * 4);
  });
  test('under a 1 GiB limit, bytes; under 100 MiB, refused', () => {
    expect(planMemory(cifar, 1024 ** 3, 'x').storage).toBe('bytes');
    expect(() => planMemory(cifar, 100 * 1024 ** 2, '60,000 images of 32×32×3')).toThrow(
      /too large for --max-memory 100 MiB: 60,000 images of 32×32×3 need 176 MiB even as bytes \(1\.3 GiB as float32\)\. Raise --max-memory \(e\.g\. --max-memory 220M\)/,
    );
  });
});

test('toUnitFloats scales bytes to 0..1, into a new array or at an offset', () => {
  expect(Array.from(toUnitFloats(Uint8Array.from([0, 255, 51])))).toEqual([0, 1, 0.2].map(Math.fround));
  const out = new Float32Array(4);
  toUnitFloats(Uint8Array.from([255]), out, 2);
  expect(Array.from(out)).toEqual([0, 0, 1, 0]);
});
