/** The data layer: reading data sets (IDX, image folders, CSV), stratified seeded splits, and the seeded PRNG. */
export { type DataFormat, type Dataset, type DatasetInfo, type OpenDatasetOptions, clearDatasetCache, detectFormat, loadFashion, loadIdxFolder, openDataset } from './dataset.ts';
export { DEFAULT_MAX_MEMORY, type MemoryPlan, type PixelStorage, estimateBytes, formatBytes, parseByteSize, planMemory } from './memory.ts';
export { DEFAULT_VALIDATION_SHARE, summariseDataset, trainValidationSplit } from './summary.ts';
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
export { type HoldoutOptions, CARVED_TEST_MAX, CARVED_TEST_SHARE, carveTestSplit, classCounts, fullView, holdoutSplit, stratifiedQuotas, stratifiedSubset } from './split.ts';
export { type Random, Mulberry32, deriveSeed, mulberry32, randomInt, shuffleInPlace } from '../util/random.ts';
