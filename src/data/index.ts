/** The data layer: reading IDX data sets, stratified seeded splits, and the seeded PRNG. */
export { type Dataset, type OpenDatasetOptions, clearDatasetCache, loadFashion, loadIdxFolder, openDataset } from './dataset.ts';
export {
  FASHION_CLASS_NAMES,
  FASHION_COUNTS,
  FASHION_IMAGE_SIZE,
  FASHION_MIRRORS,
  FASHION_SHA256,
  IDX_FILE_NAMES,
  PROJECT_FASHION_DIR,
  PROJECT_ROOT,
  SYSTEM_FASHION_DIR,
  type FashionLocation,
  type IdxFiles,
  type IdxRole,
  type LocateOptions,
  findIdxFiles,
  locateFashion,
} from './fashion.ts';
export { type IdxContent, type IdxExpectation, type IdxHeader, encodeIdx, parseIdx, readIdxFile, readIdxHeader, writeIdxFile } from './idx.ts';
export { type HoldoutOptions, classCounts, fullView, holdoutSplit, stratifiedQuotas, stratifiedSubset } from './split.ts';
export { type Random, deriveSeed, mulberry32, randomInt, shuffleInPlace } from './random.ts';
