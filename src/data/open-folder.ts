/**
 * `--data FOLDER` for an image folder: scan, plan memory, decode (image-folder.ts), and assemble
 * the Dataset with its sealed test split.
 */
import { relative, resolve } from 'node:path';
import { assembleDataset } from './assemble.ts';
import type { Dataset } from './dataset.ts';
import { formatInt } from '../util/format.ts';
import { decodeImageFolder } from './image-folder.ts';
import { DEFAULT_MAX_MEMORY, type MemoryPlan, planMemory } from './memory.ts';
import { CARVED_TEST_MAX, CARVED_TEST_SHARE } from './split.ts';

export interface OpenImageFolderOptions {
  imageSize?: [number, number] | null;
  skipBad?: boolean;
  maxMemoryBytes?: number;
}

export async function openImageFolder(dir: string, options: OpenImageFolderOptions = {}): Promise<Dataset> {
  let memory: MemoryPlan | null = null;
  const decoded = await decodeImageFolder(dir, { imageSize: options.imageSize, skipBad: options.skipBad }, (shape, pixels) => {
    const images = (pixels.trainAndValidation + pixels.test) / (shape[0] * shape[1] * shape[2]);
    memory = planMemory(pixels, options.maxMemoryBytes ?? DEFAULT_MAX_MEMORY, `${formatInt(images)} images of ${shape.join('×')}`);
  });
  const { scan } = decoded;
  const folder = (path: string | undefined) => (relative(scan.root, path ?? scan.root) ? `the ${relative(scan.root, path!)}/ folder` : 'the image folder');
  const files: Record<string, string> = {};
  for (const [role, path] of Object.entries(scan.folders)) files[role] = path;
  return assembleDataset({
    name: dir,
    format: 'folder',
    source: resolve(dir),
    files,
    classNames: scan.classNames,
    shape: decoded.shape,
    train: decoded.train,
    validation: decoded.validation,
    test: decoded.test,
    memory: memory!,
    info: {
      resized: decoded.resized,
      validationFrom: scan.folders.validation ? folder(scan.folders.validation) : null,
      testFrom: scan.testCarved
        ? `carved out of ${folder(scan.folders.train)} (no test/ folder): ${Math.round(CARVED_TEST_SHARE * 1000) / 10} % of its images ` +
          `(at most ${formatInt(CARVED_TEST_MAX)}), stratified by class, with a fixed seed, so every study of this folder is tested on the same images`
        : folder(scan.folders.test),
      testCarved: scan.testCarved,
      skipped: decoded.skipped,
      ignoredFiles: scan.ignoredFiles,
    },
  });
}
