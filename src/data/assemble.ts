/**
 * Turning decoded pixels (bytes, as read from image folders and CSV files) into a Dataset:
 * the memory plan picks float32 or byte storage, the training and validation sets become
 * ImageSets, and the test split stays inside `loadTest()`'s closure — its pixels and labels
 * reach nothing else. Its class counts are part of `info` (for the report only).
 */
import type { DataFormat, Dataset, DatasetInfo } from './dataset.ts';
import { type MemoryPlan, storePixels } from './memory.ts';
import type { ImageSet } from './image-set.ts';

/** One split as decoded: `count` images of bytes (channels last) and their labels. */
export interface RawSplit {
  bytes: Uint8Array;
  labels: Uint8Array;
  count: number;
}

export interface AssembleInput {
  name: string;
  format: DataFormat;
  source: string;
  files: Record<string, string>;
  classNames: string[];
  shape: [number, number, number];
  train: RawSplit;
  /** A given validation split (val/ folder), or null: the study holds one out of `train`. */
  validation: RawSplit | null;
  /** The sealed test split. */
  test: RawSplit;
  memory: MemoryPlan;
  info: Omit<DatasetInfo, 'storage' | 'testClassCounts' | 'format'>;
}

/** Items per class of a split's labels. */
export function countLabels(labels: Uint8Array, classCount: number): number[] {
  const counts = new Array<number>(classCount).fill(0);
  for (const label of labels) counts[label]++;
  return counts;
}

export function assembleDataset(input: AssembleInput): Dataset {
  const [height, width, channels] = input.shape;
  const toSet = (raw: RawSplit, name: string): ImageSet => ({
    name,
    images: storePixels(raw.bytes, input.memory.storage),
    labels: raw.labels,
    count: raw.count,
    height,
    width,
    channels,
    classNames: [...input.classNames],
  });
  const sealed = input.test;
  let test: Promise<ImageSet> | null = null;
  const dataset: Dataset = {
    name: input.name,
    format: input.format,
    source: input.source,
    files: Object.freeze({ ...input.files }),
    classNames: [...input.classNames],
    train: toSet(input.train, input.name),
    validation: input.validation ? toSet(input.validation, input.name) : null,
    testCount: sealed.count,
    info: Object.freeze({
      ...input.info,
      format: input.format,
      storage: input.memory,
      testClassCounts: countLabels(sealed.labels, input.classNames.length),
    }),
    loadTest: () => (test ??= Promise.resolve(toSet(sealed, input.name))),
  };
  return Object.freeze(dataset);
}
