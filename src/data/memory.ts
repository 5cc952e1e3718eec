/**
 * How much memory a data set's pixels take, and how they are held.
 *
 * As float32 (the default) a pixel takes 4 bytes in the data set, and the training and validation
 * images take 4 bytes each a second time once the trainer has copied them to the backend (one
 * tensor per run, so that every mini-batch is a gather). 50,000 images of 32×32×3 are about
 * 600 MB as floats, about 1.2 GB while training. Above `--max-memory`, pixels are kept as the bytes
 * they were read as (1 byte each, no copy on the backend) and the trainer scales one mini-batch
 * at a time to 0..1; if even the bytes do not fit, the data set is refused with what to do.
 */
import { UserError } from '../errors.ts';

/** --max-memory when none is given: 2 GiB, well inside the wasm backend's 4 GiB heap and small machines alike. */
export const DEFAULT_MAX_MEMORY = 2 * 1024 ** 3;

export type PixelStorage = 'float32' | 'bytes';

export interface MemoryPlan {
  storage: PixelStorage;
  /** Estimated bytes for the pixels with that storage. */
  estimatedBytes: number;
  limitBytes: number;
}

/**
 * Float32 needs 8 bytes per training (or validation) pixel — the set and its copy on the
 * backend — and 4 per test pixel; bytes need 1 per pixel, anywhere.
 */
export function estimateBytes(pixels: { trainAndValidation: number; test: number }, storage: PixelStorage): number {
  return storage === 'float32' ? pixels.trainAndValidation * 8 + pixels.test * 4 : pixels.trainAndValidation + pixels.test;
}

/**
 * Float32 when it fits `limitBytes`, else bytes; a UserError when not even the bytes fit. `what`
 * describes the data for the message ("52,000 images of 32×32×3").
 */
export function planMemory(pixels: { trainAndValidation: number; test: number }, limitBytes: number, what: string): MemoryPlan {
  const floats = estimateBytes(pixels, 'float32');
  if (floats <= limitBytes) return { storage: 'float32', estimatedBytes: floats, limitBytes };
  const bytes = estimateBytes(pixels, 'bytes');
  if (bytes <= limitBytes) return { storage: 'bytes', estimatedBytes: bytes, limitBytes };
  throw new UserError(
    `The data set is too large for --max-memory ${formatBytes(limitBytes)}: ${what} need ${formatBytes(bytes)} even as bytes ` +
      `(${formatBytes(floats)} as float32). Raise --max-memory (e.g. --max-memory ${Math.ceil((bytes * 1.25) / 1024 ** 2)}M) if the machine has the memory, ` +
      'make the images smaller with --image-size HxW, or use fewer images.',
  );
}

/** Parses --max-memory: a number of bytes with an optional unit K, M, G, T (powers of 1024; "B", "iB" accepted), e.g. 512M, 2G, 1.5GB. */
export function parseByteSize(text: string, flag = '--max-memory'): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?\s*$/i.exec(text);
  const bytes = m ? Number(m[1]) * 1024 ** (m[2] ? 'kmgt'.indexOf(m[2].toLowerCase()) + 1 : 0) : NaN;
  if (!Number.isFinite(bytes) || bytes < 1024 ** 2) {
    throw new UserError(`${flag} ${text} is not valid: give a size of at least 1M, e.g. 512M, 2G or 8G (units K, M, G, T are powers of 1024).`);
  }
  return Math.floor(bytes);
}

/** 2147483648 → "2 GiB", 629145600 → "600 MiB". */
export function formatBytes(bytes: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  const digits = unit === 0 || value >= 100 || Number.isInteger(value) ? 0 : 1;
  return `${value.toFixed(digits)} ${units[unit]}`;
}

const UNIT = new Float32Array(256).map((_, i) => i / 255);

/** Bytes 0..255 to floats 0..1, into one new Float32Array (or into `out` at `offset`). */
export function toUnitFloats(bytes: Uint8Array, out = new Float32Array(bytes.length), offset = 0): Float32Array {
  for (let i = 0; i < bytes.length; i++) out[offset + i] = UNIT[bytes[i]];
  return out;
}

/** The pixels of a set in the planned storage: the bytes themselves, or their floats. */
export function storePixels(bytes: Uint8Array, storage: PixelStorage): Float32Array | Uint8Array {
  return storage === 'bytes' ? bytes : toUnitFloats(bytes);
}
