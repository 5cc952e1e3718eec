/** The report's Data section, from a stored study's dataset summary. */
import { describe, expect, test } from 'vitest';
import { dataSection, renderDataSummary } from '../../src/report/data-section.ts';
import type { DatasetSummary, StudyRecord } from '../../src/store/records.ts';

const summary: DatasetSummary = {
  format: 'folder',
  imageShape: [32, 32, 3],
  resized: '12 images resized (stretched) to 32×32 (the most common size of the 2 sizes among the training images)',
  classCounts: { train: [60, 61], validation: [12, 12], test: [14, 15] },
  validationFrom: 'held out of the training images (stratified by class, seed 0)',
  testFrom: 'carved out of the image folder (no test/ folder): 14.3 % of its images',
  testCarved: true,
  skipped: [{ path: '/data/pets/cat/broken.png', reason: 'Input file contains unsupported image format' }],
  ignoredFiles: 2,
  storage: { kind: 'bytes', estimatedBytes: 3 * 1024 ** 2, limitBytes: 2 * 1024 ** 3 },
};

describe('the Data section', () => {
  test('shape, origin of each split, carved test said so, skipped and ignored files, counts per class', () => {
    expect(renderDataSummary(summary, ['cat', 'dog|wolf']).join('\n')).toMatchInlineSnapshot(`
      "## Data

      - **Images:** 32×32×3 (colour), 2 classes, from an image folder (one subfolder per class); 12 images resized (stretched) to 32×32 (the most common size of the 2 sizes among the training images)
      - **Validation:** held out of the training images (stratified by class, seed 0)
      - **Test (sealed, read once by the final evaluation):** carved out of the image folder (no test/ folder): 14.3 % of its images — **carved out: the data had no test split of its own**
      - **Pixels held as:** bytes, scaled to 0..1 one batch at a time (about 3 MiB of the 2 GiB --max-memory)
      - **Ignored:** 2 files that are not PNG or JPEG
      - **Skipped (--skip-bad):** 1 file that could not be decoded:
        - \`/data/pets/cat/broken.png\`: Input file contains unsupported image format

      | class     | training | validation |   test |
      | :-------- | -------: | ---------: | -----: |
      | cat       |       60 |         12 |     14 |
      | dog\\|wolf |       61 |         12 |     15 |
      | **total** |  **121** |     **24** | **29** |
      "
    `);
  });

  test('studies stored before the summary existed get no section', () => {
    expect(dataSection({ dataset: { name: 'fashion', trainCount: 1, validationCount: 1, testCount: 1, classNames: [] } } as unknown as StudyRecord)).toEqual([]);
  });
});
