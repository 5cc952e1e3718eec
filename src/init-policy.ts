/**
 * `tune init-policy FILE`: writes a starter policy (policies/starter.ts, renamed after FILE) that
 * imports from 'flowtune', is type-checked with the project, keeps the policy contract
 * (test/init-policy.test.ts) and runs as it is with `tune --policy FILE`. TypeScript for .ts/.mts;
 * for .js/.mjs the same code without the type annotations, typed by JSDoc (`// @ts-check`).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, extname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError } from './errors.ts';
import { displayPath, policiesDir } from './policy-loader.ts';

/** The starter's own name in the template, replaced by the file's. */
const TEMPLATE_NAME = 'my-policy';

const TYPESCRIPT = ['.ts', '.mts'];
const JAVASCRIPT = ['.js', '.mjs'];

/** The TypeScript-only pieces of the template and their JavaScript (JSDoc) form. Each must be found. */
const TO_JAVASCRIPT: Array<[RegExp, string]> = [
  [/^(import \{[^}]*?)((?:, type \w+)+)( \} from 'flowtune';)$/m, '$1$3'],
  [/^function decide\(context: PolicyContext\): Decision \{$/m, "/**\n * @param {import('flowtune').PolicyContext} context\n * @returns {import('flowtune').Decision}\n */\nfunction decide(context) {"],
  [/^export const policy: Policy = \{$/m, "/** @type {import('flowtune').Policy} */\nexport const policy = {"],
  [/`node --import tsx --test` for node:test/, '`node --test` for node:test'],
];

/** The starter's text for a file named `file` (its extension picks the language). */
export function starterPolicyText(file: string): string {
  const ext = extname(file).toLowerCase();
  const name = basename(file, extname(file));
  let text = readFileSync(resolve(policiesDir(), 'starter.ts'), 'utf8');
  if (JAVASCRIPT.includes(ext)) {
    for (const [pattern, replacement] of TO_JAVASCRIPT) {
      if (!pattern.test(text)) throw new Error(`policies/starter.ts no longer has ${pattern}: update TO_JAVASCRIPT in src/init-policy.ts`);
      text = text.replace(pattern, replacement);
    }
    text = `// @ts-check\n${text}`;
  }
  return text.replaceAll(`${TEMPLATE_NAME}.ts`, basename(file)).replaceAll(TEMPLATE_NAME, name);
}

/**
 * Writes the starter to `target` (relative to `cwd`). Refuses to overwrite a file, and any
 * extension but .ts, .mts, .js and .mjs (a UserError: exit 2). Returns the lines to print.
 */
export function initPolicy(target: string | undefined, cwd: string): string[] {
  if (!target) throw new UserError('tune init-policy needs a file name: tune init-policy my-policy.ts (TypeScript) or my-policy.mjs (JavaScript).');
  const file = resolve(cwd, target);
  const shown = displayPath(file, cwd);
  const ext = extname(file).toLowerCase();
  if (![...TYPESCRIPT, ...JAVASCRIPT].includes(ext)) {
    throw new UserError(`init-policy ${target}: give a file name ending in .ts or .mts (TypeScript) or .js or .mjs (JavaScript), e.g. my-policy.ts.`);
  }
  if (!/^[A-Za-z0-9][\w.-]*$/.test(basename(file, extname(file)))) {
    throw new UserError(`init-policy ${target}: the file name becomes the policy's name; use letters, digits, '.', '_' and '-' only.`);
  }
  if (existsSync(file)) throw new UserError(`${shown} already exists; tune init-policy does not overwrite it. Give another file name, or move that file away first.`);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, starterPolicyText(file), { flag: 'wx' });
  const lines = [
    `wrote ${shown}: a policy that answers like the built-in flowchart, except that it treats overfitting with L2 before dropout.`,
    `  run it:    tune --data fashion --policy ${shown}`,
    `  check it:  checkPolicy(policy) from 'flowtune/testing', in a test of yours (see the comment at the top of the file)`,
  ];
  try {
    createRequire(file).resolve('flowtune');
  } catch {
    const here = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');
    lines.push(`note: the policy imports 'flowtune', which is not installed for ${displayPath(dirname(file), cwd) || '.'}: before running it, \`npm install PATH\` there (or in a folder above it), PATH being flowtune's folder (${here}) or the tarball its \`npm pack\` makes.`);
  }
  return lines;
}
