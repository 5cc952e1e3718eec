/**
 * The report's "Data" section: what the study's data turned out to be (src/data/summary.ts):
 * image shape, how sizes were unified, counts per class in each split, where the validation and
 * the sealed test images come from (a carved test split is said so), files skipped or ignored,
 * and how the pixels are held. Its own module; markdown.ts places it after the test result.
 * Studies stored before the summary existed get no section.
 */
import { markdownTable } from 'markdown-table';
import type { DatasetSummary, StudyRecord } from '../store/records.ts';
import { int } from './format.ts';
import { counted, noun } from '../util/format.ts';

/** Skipped files listed by name in the report; the rest are counted. */
const MAX_LISTED_SKIPPED = 50;

export function dataSection(study: StudyRecord): string[] {
  const summary = study.dataset?.summary;
  if (!summary) return [];
  return renderDataSummary(summary, study.dataset.classNames);
}

export function renderDataSummary(summary: DatasetSummary, classNames: readonly string[]): string[] {
  const [h, w, c] = summary.imageShape;
  const { train, validation, test } = summary.classCounts;
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  const lines = [
    '## Data',
    '',
    `- **Images:** ${h}×${w}×${c} (${c === 1 ? 'grayscale' : c === 3 ? 'colour' : `${c} channels`}), ${classNames.length} classes, from ${FORMAT[summary.format]}` +
      (summary.resized ? `; ${summary.resized}` : ''),
    `- **Validation:** ${summary.validationFrom}`,
    `- **Test (sealed, read once by the final evaluation):** ${summary.testFrom}` + (summary.testCarved ? ' — **carved out: the data had no test split of its own**' : ''),
    `- **Pixels held as:** ${summary.storage.kind === 'float32' ? 'float32' : 'bytes, scaled to 0..1 one batch at a time'} (about ${mib(summary.storage.estimatedBytes)} of the ${mib(summary.storage.limitBytes)} --max-memory)`,
  ];
  if (summary.ignoredFiles > 0) lines.push(`- **Ignored:** ${counted(summary.ignoredFiles, 'file')} that ${noun(summary.ignoredFiles, 'is', 'are')} not PNG or JPEG`);
  if (summary.skipped.length > 0) {
    lines.push(`- **Skipped (--skip-bad):** ${counted(summary.skipped.length, 'file')} that could not be decoded:`);
    for (const s of summary.skipped.slice(0, MAX_LISTED_SKIPPED)) lines.push(`  - \`${s.path}\`: ${s.reason}`);
    if (summary.skipped.length > MAX_LISTED_SKIPPED) lines.push(`  - … and ${int(summary.skipped.length - MAX_LISTED_SKIPPED)} more (all in study.json)`);
  }
  lines.push(
    '',
    markdownTable(
      [
        ['class', 'training', 'validation', 'test'],
        ...classNames.map((name, k) => [escape(name), int(train[k] ?? 0), int(validation[k] ?? 0), int(test[k] ?? 0)]),
        ['**total**', `**${int(sum(train))}**`, `**${int(sum(validation))}**`, `**${int(sum(test))}**`],
      ],
      { align: ['l', 'r', 'r', 'r'] },
    ),
    '',
  );
  return lines;
}

const FORMAT: Record<DatasetSummary['format'], string> = {
  fashion: 'Fashion-MNIST (official files, checksums verified)',
  idx: 'IDX files',
  folder: 'an image folder (one subfolder per class)',
  csv: 'a CSV file',
};

function mib(bytes: number): string {
  if (bytes >= 1024 ** 3) return `${(bytes / 1024 ** 3).toFixed(bytes % 1024 ** 3 === 0 ? 0 : 1)} GiB`;
  return `${Math.max(1, Math.round(bytes / 1024 ** 2))} MiB`;
}

function escape(text: string): string {
  return text.replace(/\|/g, '\\|');
}
