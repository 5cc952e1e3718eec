/**
 * A data set's content hash: what a queue worker checks before it trains a job, so that a worker
 * whose copy of the data differs (another version of the files, another --max-memory storage,
 * another image size) refuses the job instead of training on other images.
 */
import { createHash } from 'node:crypto';
import type { ImageSet } from './image-set.ts';
import type { Dataset } from './dataset.ts';

const cache = new WeakMap<Dataset, string>();

function update(hash: ReturnType<typeof createHash>, set: ImageSet): void {
  hash.update(JSON.stringify({ count: set.count, height: set.height, width: set.width, channels: set.channels, classNames: set.classNames, storage: set.images.constructor.name }));
  hash.update(new Uint8Array(set.images.buffer, set.images.byteOffset, set.images.byteLength));
  hash.update(new Uint8Array(set.labels.buffer, set.labels.byteOffset, set.labels.byteLength));
}

/** sha256 (hex, first 16 digits) of the training images and labels, and of a given validation split. Cached per data set. */
export function datasetFingerprint(dataset: Dataset): string {
  const known = cache.get(dataset);
  if (known) return known;
  const hash = createHash('sha256');
  update(hash, dataset.train);
  if (dataset.validation) update(hash, dataset.validation);
  const digest = hash.digest('hex').slice(0, 16);
  cache.set(dataset, digest);
  return digest;
}
