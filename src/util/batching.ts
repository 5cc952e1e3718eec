/** Mini-batches of an epoch (PURE): one rule for the trainer, the budget's plans and the study (the last partial batch is dropped). */

/** Iterations in one epoch of `count` images at `miniBatchSize` (at least 1; a batch larger than the data is the data). */
export function iterationsPerEpoch(count: number, miniBatchSize: number): number {
  return Math.max(1, Math.floor(count / Math.max(1, Math.min(miniBatchSize, count))));
}

/** Images one epoch trains: whole mini-batches only. */
export function imagesPerEpoch(count: number, miniBatchSize: number): number {
  return iterationsPerEpoch(count, miniBatchSize) * Math.min(miniBatchSize, count);
}
