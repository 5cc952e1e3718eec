/**
 * The study's training/validation split of a data set, and what the report says about the data.
 */
import type { DataView } from './image-set.ts';
import type { DatasetSummary } from '../store/records.ts';
import type { Dataset } from './dataset.ts';
import { classCounts, fullView, holdoutSplit } from './split.ts';

/**
 * Validation held out of the training set when none is given: Fashion-MNIST's share, 10,000 of
 * 60,000. The CLI uses it as --validation-size for image folders and CSV files (IDX keeps 10000).
 */
export const DEFAULT_VALIDATION_SHARE = 1 / 6;

/**
 * Training and validation views for a study: the data set's own validation split (an image
 * folder's val/) when it has one — `validationSize` is then not used — else a stratified, seeded
 * hold-out of `validationSize` images (or that share, when below 1) of the training set.
 */
export function trainValidationSplit(dataset: Dataset, options: { validationSize: number; seed: number }): { train: DataView; validation: DataView } {
  if (dataset.validation) return { train: fullView(dataset.train), validation: fullView(dataset.validation) };
  return holdoutSplit(dataset.train, options);
}

/** The report's facts about the data: format, shape, counts per class in each split, where validation and test come from. */
export function summariseDataset(dataset: Dataset, split: { train: DataView; validation: DataView }, seed: number): DatasetSummary {
  const { info, train } = dataset;
  return {
    format: info.format,
    imageShape: [train.height, train.width, train.channels],
    resized: info.resized,
    classCounts: { train: classCounts(split.train), validation: classCounts(split.validation), test: [...info.testClassCounts] },
    validationFrom: info.validationFrom ?? `held out of the training images (stratified by class, seed ${seed})`,
    testFrom: info.testFrom,
    testCarved: info.testCarved,
    skipped: info.skipped.map((s) => ({ ...s })),
    ignoredFiles: info.ignoredFiles,
    storage: { kind: info.storage.storage, estimatedBytes: info.storage.estimatedBytes, limitBytes: info.storage.limitBytes },
  };
}
