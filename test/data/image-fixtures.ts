/**
 * Small image data sets written by the tests themselves: PNG and JPEG files in class folders
 * (sharp encodes them), and Kaggle-style CSV files. Every class has a pattern a small CNN learns in
 * a few epochs (a colour tint and a stripe direction), over seeded noise.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { mulberry32 } from '../../src/util/random.ts';

export interface FolderSpec {
  /** Class folder names. */
  classes: string[];
  /** Images per class, per split folder ('' = class folders directly in the root). */
  splits: Record<string, number>;
  /** 1 = grayscale files, 3 = colour files. */
  channels: 1 | 3;
  /** [height, width] sizes, used in turn; the first is used most (2 of every 3 images when there are two). */
  sizes: Array<[number, number]>;
  seed?: number;
}

/** The pixels of image `i` of class `k`: bytes, channels last. */
export function patternPixels(k: number, i: number, height: number, width: number, channels: number, seed = 0): Buffer {
  const random = mulberry32(seed * 7919 + k * 104729 + i);
  const out = Buffer.alloc(height * width * channels);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const stripe = k % 2 === 0 ? y % 4 < 2 : x % 4 < 2;
      for (let c = 0; c < channels; c++) {
        const tint = channels === 3 && c === k % 3 ? 90 : 0;
        const value = 40 + (stripe ? 100 : 0) + tint + Math.floor(random() * 30);
        out[(y * width + x) * channels + c] = Math.min(255, value);
      }
    }
  }
  return out;
}

/** Encodes raw pixels as PNG or JPEG (grayscale files stay one channel). */
export async function encodeImage(pixels: Buffer, height: number, width: number, channels: 1 | 3, format: 'png' | 'jpeg'): Promise<Buffer> {
  let image = sharp(pixels, { raw: { width, height, channels } });
  if (channels === 1) image = image.toColourspace('b-w');
  return format === 'png' ? image.png().toBuffer() : image.jpeg({ quality: 95 }).toBuffer();
}

/**
 * Writes an image folder; returns the paths written, by split and class. Every other image is a
 * JPEG, the rest PNG; sizes alternate as FolderSpec says.
 */
export async function writeImageFolder(root: string, spec: FolderSpec): Promise<string[]> {
  const written: string[] = [];
  for (const [split, perClass] of Object.entries(spec.splits)) {
    for (const [k, name] of spec.classes.entries()) {
      const dir = join(root, split, name);
      await mkdir(dir, { recursive: true });
      for (let i = 0; i < perClass; i++) {
        const [h, w] = spec.sizes.length === 1 || i % 3 !== 2 ? spec.sizes[0] : spec.sizes[1 + (i % (spec.sizes.length - 1))];
        const format = i % 2 === 1 ? 'jpeg' : 'png';
        const path = join(dir, `${split || 'all'}-${name}-${String(i).padStart(3, '0')}.${format === 'png' ? 'png' : 'jpg'}`);
        await writeFile(path, await encodeImage(patternPixels(k, i + (split === 'test' ? 5000 : split === 'val' ? 10000 : 0), h, w, spec.channels, spec.seed), h, w, spec.channels, format));
        written.push(path);
      }
    }
  }
  return written;
}

/** A Kaggle-style CSV: `label,pixel1,…,pixelN` header (unless `header` is false), one image per row. */
export function csvText(rows: Array<{ label: string | number; pixels: ArrayLike<number> }>, options: { header?: boolean; labelName?: string } = {}): string {
  const n = rows[0].pixels.length;
  const lines: string[] = [];
  if (options.header ?? true) lines.push([options.labelName ?? 'label', ...Array.from({ length: n }, (_, i) => `pixel${i + 1}`)].join(','));
  for (const row of rows) lines.push([row.label, ...Array.from(row.pixels)].join(','));
  return lines.join('\n') + '\n';
}

/** Rows of `classes` classes, `perClass` each, images h×w×c of the class pattern. */
export function patternRows(classes: number, perClass: number, h: number, w: number, c: number, offset = 0): Array<{ label: number; pixels: Buffer }> {
  const rows: Array<{ label: number; pixels: Buffer }> = [];
  for (let i = 0; i < perClass; i++) for (let k = 0; k < classes; k++) rows.push({ label: k, pixels: patternPixels(k, i + offset, h, w, c) });
  return rows;
}
