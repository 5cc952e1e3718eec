/**
 * Images and labels on the backend: a view of a data set uploaded once per run (or its labels
 * only, when the pixels stay as bytes), and the mini-batches and evaluation batches cut from it.
 */
import * as tf from '@tensorflow/tfjs';
import { toUnitFloats } from '../data/memory.ts';
import type { DataView, ImageSet } from '../data/image-set.ts';

export interface UploadedImages {
  /** [count, height, width, channels] float32 on the backend; absent when the set keeps its pixels as bytes. */
  images?: tf.Tensor4D;
  /**
   * Pixels kept as bytes (a data set above --max-memory, src/data/memory.ts): they stay in the
   * set, in JavaScript, and each batch is gathered and scaled to 0..1 when it is needed.
   */
  bytes?: { pixels: Uint8Array; indices: Uint32Array | null; shape: [number, number, number] };
  /** [count] int32 class indices */
  labels: tf.Tensor1D;
  count: number;
}

/**
 * Copies the view's images and labels into backend tensors, once (the caller disposes them).
 * Byte-stored pixels are not copied: only the labels are uploaded, and `gatherImages` /
 * `sliceImages` convert one batch at a time.
 */
export function uploadImages(data: DataView | ImageSet): UploadedImages {
  const set = 'set' in data ? data.set : data;
  const size = set.height * set.width * set.channels;
  const count = 'set' in data ? data.indices.length : set.count;
  const labels = new Int32Array(count);
  if (set.images instanceof Uint8Array) {
    for (let i = 0; i < count; i++) labels[i] = set.labels['set' in data ? data.indices[i] : i];
    return {
      bytes: { pixels: set.images, indices: 'set' in data ? data.indices : null, shape: [set.height, set.width, set.channels] },
      labels: tf.tensor1d(labels, 'int32'),
      count,
    };
  }
  let pixels: Float32Array;
  if ('set' in data) {
    pixels = new Float32Array(count * size);
    for (let i = 0; i < count; i++) {
      const index = data.indices[i];
      pixels.set(set.images.subarray(index * size, (index + 1) * size), i * size);
      labels[i] = set.labels[index];
    }
  } else {
    pixels = set.images.subarray(0, count * size);
    for (let i = 0; i < count; i++) labels[i] = set.labels[i];
  }
  return {
    images: tf.tensor4d(pixels, [count, set.height, set.width, set.channels], 'float32'),
    labels: tf.tensor1d(labels, 'int32'),
    count,
  };
}

/** The uploaded images at positions `idx` (a mini-batch): a gather on the backend, or bytes scaled here. */
export function gatherImages(data: UploadedImages, idx: tf.Tensor1D): tf.Tensor4D {
  if (data.images) return tf.gather(data.images, idx);
  return byteBatch(data.bytes!, idx.dataSync());
}

/** The uploaded images at positions start … start+size−1 (an evaluation batch). */
export function sliceImages(data: UploadedImages, start: number, size: number): tf.Tensor4D {
  if (data.images) return tf.slice(data.images, start, size);
  return byteBatch(data.bytes!, Array.from({ length: size }, (_, i) => start + i));
}

function byteBatch(bytes: NonNullable<UploadedImages['bytes']>, positions: ArrayLike<number>): tf.Tensor4D {
  const [h, w, c] = bytes.shape;
  const size = h * w * c;
  const out = new Float32Array(positions.length * size);
  for (let i = 0; i < positions.length; i++) {
    const item = bytes.indices ? bytes.indices[positions[i]] : positions[i];
    toUnitFloats(bytes.pixels.subarray(item * size, (item + 1) * size), out, i * size);
  }
  return tf.tensor4d(out, [positions.length, h, w, c], 'float32');
}
