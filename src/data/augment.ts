/**
 * Data augmentation of training images, on the fly (MATLAB's imageDataAugmenter: RandXReflection,
 * RandXTranslation, RandYTranslation). PURE arithmetic on a batch of pixels laid out
 * [count, height, width, channels] (channels last, as every set here): the trainer applies it to
 * each training mini-batch after gathering it, never to validation or test images.
 *
 * Each image draws its own shift (a whole number of pixels in [−N, N] per axis) and mirror (½),
 * from a generator seeded by (run seed, iteration), so a run and its resumed continuation augment
 * the same batch the same way. Pixels shifted in from outside the image are 0 (Fashion-MNIST's
 * background; MATLAB's augmentedImageDatastore also fills with 0 by default).
 */
import { mulberry32, randomInt } from '../util/random.ts';

export interface Augmentation {
  /** Mirror left–right with probability ½. */
  reflectX: boolean;
  /** Largest horizontal and vertical shift, in pixels. */
  translateX: number;
  translateY: number;
}

/** One image's draw: its shifts and whether it is mirrored. */
export interface AugmentDraw {
  dx: number;
  dy: number;
  mirror: boolean;
}

/** The draws for a batch of `count` images from `seed` (deterministic). */
export function augmentDraws(count: number, augmentation: Augmentation, seed: number): AugmentDraw[] {
  const random = mulberry32(seed);
  const draws: AugmentDraw[] = [];
  for (let i = 0; i < count; i++) {
    const dx = augmentation.translateX > 0 ? randomInt(random, 2 * augmentation.translateX + 1) - augmentation.translateX : 0;
    const dy = augmentation.translateY > 0 ? randomInt(random, 2 * augmentation.translateY + 1) - augmentation.translateY : 0;
    const mirror = augmentation.reflectX ? random() < 0.5 : false;
    draws.push({ dx, dy, mirror });
  }
  return draws;
}

/**
 * The augmented batch: image i of `pixels` mirrored (if drawn) and then shifted by (dx, dy):
 * out[y][x] = in[y − dy][x' − dx], x' the mirrored column. A new array; the input is not changed.
 */
export function augmentBatch(pixels: Float32Array, shape: readonly [count: number, height: number, width: number, channels: number], draws: readonly AugmentDraw[]): Float32Array {
  const [count, height, width, channels] = shape;
  const size = height * width * channels;
  const out = new Float32Array(pixels.length);
  for (let i = 0; i < count; i++) {
    const { dx, dy, mirror } = draws[i];
    const base = i * size;
    for (let y = 0; y < height; y++) {
      const sy = y - dy;
      if (sy < 0 || sy >= height) continue;
      for (let x = 0; x < width; x++) {
        const shifted = x - dx;
        if (shifted < 0 || shifted >= width) continue;
        const sx = mirror ? width - 1 - shifted : shifted;
        const to = base + (y * width + x) * channels;
        const from = base + (sy * width + sx) * channels;
        for (let c = 0; c < channels; c++) out[to + c] = pixels[from + c];
      }
    }
  }
  return out;
}
