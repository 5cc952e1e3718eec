/**
 * Class names: from a `classes.txt` (one name per line, line 1 names label 0) beside IDX or CSV
 * files, or "0".."K-1". Labels are single bytes everywhere in flowtune, so at most 256 classes.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { UserError } from '../errors.ts';

/** Labels are stored in a Uint8Array. */
export const MAX_CLASSES = 256;

/** "0".."count-1". */
export function numberedClassNames(count: number): string[] {
  return Array.from({ length: count }, (_, i) => String(i));
}

/**
 * The lines of `folder/classes.txt`, or null when there is none. Blank trailing lines and a BOM are
 * ignored; an empty file, a blank line inside, a repeated name or more than 256 names is a UserError.
 */
export async function readClassesFile(folder: string): Promise<{ names: string[]; path: string } | null> {
  const path = resolve(folder, 'classes.txt');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ENOENT') return null;
    throw new UserError(`${path}: cannot be read (${(error as Error).message}).`);
  }
  const names = text.replace(/^\uFEFF/, '').split(/\r?\n/).map((line) => line.trim());
  while (names.length > 0 && names[names.length - 1] === '') names.pop();
  const blank = names.indexOf('');
  if (names.length === 0) throw new UserError(`${path}: is empty. Put one class name per line, in label order (line 1 names label 0), or delete it to number the classes.`);
  if (blank >= 0) throw new UserError(`${path}: line ${blank + 1} is blank. Put one class name per line, in label order (line 1 names label 0).`);
  if (names.length > MAX_CLASSES) throw new UserError(`${path}: ${names.length} class names, but labels are single bytes (at most ${MAX_CLASSES} classes).`);
  checkDistinct(names, (a, b) => `${path}: class name "${names[a]}" appears on lines ${a + 1} and ${b + 1}; class names must differ.`);
  return { names, path };
}

/** Throws the message for the first two equal names (0-based positions). */
export function checkDistinct(names: readonly string[], message: (first: number, second: number) => string): void {
  const seen = new Map<string, number>();
  names.forEach((n, i) => {
    const first = seen.get(n);
    if (first !== undefined) throw new UserError(message(first, i));
    seen.set(n, i);
  });
}
