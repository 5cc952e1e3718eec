/**
 * The images a study holds in memory, and views of them. Types only, pure: the data layer builds
 * them (src/data/), the trainer reads them (src/training/). Not part of `flowtune`'s public contract.
 */

/** A labelled image set held once in memory: `count` images of height×width×channels, row-major (channels last). */
export interface ImageSet {
  /** Name for reports, e.g. "fashion" or the folder given to --data. */
  name: string;
  /**
   * The pixels: floats 0..1, or — when a data set's floats would exceed --max-memory — the bytes
   * 0..255 as read, which the trainer scales to 0..1 one batch at a time (src/data/memory.ts).
   */
  images: Float32Array | Uint8Array;
  labels: Uint8Array;
  count: number;
  height: number;
  width: number;
  channels: number;
  classNames: string[];
}

/** A view of an ImageSet: which items (indices into the set) belong to it. No pixels are copied. */
export interface DataView {
  set: ImageSet;
  indices: Uint32Array;
}
