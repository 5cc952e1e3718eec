/**
 * Load a policy by built-in name or file path, and call it safely.
 *
 * A policy file (.ts, .mts, .js, .mjs, .cjs; TypeScript works because the CLI runs under tsx)
 * exports a Policy as `default` or as `policy`, or a factory function (under either name, or
 * `createPolicy`) that returns one. Every fault of a user's file is a UserError naming the file,
 * in one line: what is wrong, where (FILE:LINE:COL when there is a place), and what to do.
 *
 * A policy imports 'flowtune' like any package (installed where the file is). In the `tune`
 * process that resolves to flowtune's sources, the modules the CLI itself runs (bin/tune.js adds
 * the "flowtune-source" export condition); a TypeScript file that tsx compiles to CommonJS (a
 * .ts file in a folder whose package.json is not "type": "module") gets the compiled copy in
 * dist/ instead, built from the same sources.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, extname, isAbsolute, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { UserError } from './errors.ts';
import { ACTION_NAMES, decisionProblem, type Decision } from './actions.ts';
import { POLICY_SHAPE, policyProblem } from './policy-shape.ts';
import type { Policy, PolicyContext } from './types.ts';

/** The policies shipped in policies/. 'flowchart' is the default. */
export const BUILT_IN_POLICIES = ['flowchart', 'example', 'random', 'no-search'] as const;
export type BuiltInPolicy = (typeof BUILT_IN_POLICIES)[number];

const EXTENSIONS = ['.ts', '.mts', '.js', '.mjs', '.cjs'];

/** policies/ at the project root (this file lives in src/). */
export function policiesDir(): string {
  return fileURLToPath(new URL('../policies/', import.meta.url));
}

function builtInFile(name: BuiltInPolicy): string {
  const file = resolve(policiesDir(), `${name}.ts`);
  if (!existsSync(file)) throw new Error(`built-in policy "${name}" is missing: looked for ${file}`);
  return file;
}

/** How to name a file in messages: relative to cwd when inside it, else absolute. */
export function displayPath(file: string, cwd: string): string {
  const rel = relative(cwd, file);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel : file;
}

/** A policy ready to run, and where it came from: its file as messages show it, or the object passed to runStudy. */
export interface LoadedPolicy {
  policy: Policy;
  source: string;
}

/**
 * Load a policy. `nameOrPath` is a built-in name ('flowchart', 'example', 'random') or a path
 * (relative to `cwd`). `source` names where it came from (the file, as shown in messages).
 */
export async function loadPolicy(nameOrPath: string = 'flowchart', cwd: string = process.cwd()): Promise<LoadedPolicy> {
  const builtIn = (BUILT_IN_POLICIES as readonly string[]).includes(nameOrPath) ? (nameOrPath as BuiltInPolicy) : null;
  const file = builtIn ? builtInFile(builtIn) : resolve(cwd, nameOrPath);
  const source = builtIn ? `policies/${builtIn}${extname(file)}` : displayPath(file, cwd);
  if (!builtIn) {
    if (!existsSync(file)) {
      throw new UserError(
        `Policy file ${source} not found (resolved to ${file}). Give a built-in policy (${BUILT_IN_POLICIES.join(', ')}) or the path of a .ts/.js/.mjs file exporting a Policy (\`tune init-policy ${source}\` writes a starter).`,
      );
    }
    if (!statSync(file).isFile()) throw new UserError(`Policy file ${source} is not a file.`);
    if (!EXTENSIONS.includes(extname(file).toLowerCase())) {
      throw new UserError(`Policy file ${source} has the extension "${extname(file)}"; expected one of ${EXTENSIONS.join(', ')}.`);
    }
  }
  let module: Record<string, unknown>;
  // Stack traces in the user's TypeScript name its lines, not the compiled code's (tsx's source maps).
  if (!builtIn) process.setSourceMapsEnabled(true);
  try {
    // Built-ins are part of the program; a user's file goes through tsx's scoped loader, which
    // compiles TypeScript wherever the file lives (a plain import() of a .ts file outside a
    // "type": "module" package fails under Node 20 with ERR_REQUIRE_CYCLE_MODULE).
    module = builtIn
      ? ((await import(pathToFileURL(file).href)) as Record<string, unknown>)
      : ((await (await import('tsx/esm/api')).tsImport(pathToFileURL(file).href, import.meta.url)) as Record<string, unknown>);
  } catch (error) {
    throw new UserError(loadFailure(error, file, source, cwd));
  }
  const exportName = ['default', 'policy', 'createPolicy'].find((k) => module[k] !== undefined);
  let exported = exportName === undefined ? undefined : module[exportName];
  // A file compiled to CommonJS arrives wrapped once more: { default: policy } or { policy }.
  if (typeof exported === 'object' && exported !== null && !('decide' in exported)) {
    const inner = (exported as Record<string, unknown>).default ?? (exported as Record<string, unknown>).policy;
    if (inner !== undefined) exported = inner;
  }
  if (exported === undefined) {
    const found = Object.keys(module).filter((k) => k !== '__esModule');
    throw new UserError(
      `Policy file ${source} exports no policy (found exports: ${found.join(', ') || 'none'}). ` +
        'Export a Policy as default or as `policy` (`tune init-policy FILE` writes a starter that does).',
    );
  }
  let candidate: unknown = exported;
  let what = exportName === 'default' ? 'its default export' : `its export \`${exportName}\``;
  if (typeof exported === 'function' && !('decide' in exported)) {
    try {
      candidate = await (exported as () => unknown)();
    } catch (error) {
      throw new UserError(`Policy file ${source}: ${what}, a factory function, threw${where(error, file, cwd)}: ${oneLine(messageOf(error))}. Fix the factory, or export the policy object itself.`);
    }
    what = `the policy ${what} (a factory function) returned`;
  }
  const problem = policyProblem(candidate);
  if (problem) throw new UserError(`Policy file ${source}: ${what} is not a policy: ${problem}. Export an object ${POLICY_SHAPE}.`);
  return { policy: ready(candidate as Policy), source };
}

/**
 * A policy object passed to runStudy ('flowtune/study'), checked like a file's export; its source
 * (what the report and messages name) is "the policy object 'NAME' passed to runStudy".
 */
export function policyObject(candidate: unknown): LoadedPolicy {
  const problem = policyProblem(candidate);
  if (problem) {
    throw new UserError(`The policy passed to runStudy is not a policy: ${problem}. Pass an object ${POLICY_SHAPE} (e.g. flowchartPolicy from 'flowtune/policies'), a built-in policy's name or a policy file's path.`);
  }
  const policy = ready(candidate as Policy);
  return { policy, source: `${OBJECT_SOURCE}'${policy.name}' passed to runStudy` };
}

const OBJECT_SOURCE = 'the policy object ';

/** How messages name a policy by its source: "Policy file FILE", or "The policy object 'NAME' passed to runStudy". */
function policyLabel(source: string): string {
  return source.startsWith(OBJECT_SOURCE) ? `T${source.slice(1)}` : `Policy file ${source}`;
}

/** A checked policy as the study runs it: its own fields copied, `decide` called on the object given. */
function ready(p: Policy): Policy {
  const decide = p.decide;
  return {
    name: p.name,
    description: p.description ?? '',
    ...(p.thresholds ? { thresholds: { ...p.thresholds } } : {}),
    decide: (context: PolicyContext) => decide.call(p, context),
  };
}

// ───────────────────────────── why a file did not load, in one line ─────────────────────────────

/**
 * "PATH:LINE[:COL]" at the start of a line or of a stack frame's place: a path or a file: URL
 * (tsx's query stripped). Not Node's internals, and not the data: URLs of a file tsx compiled
 * to CommonJS (their lines are the compiled code's, so such a file's throw has no place).
 */
const LOCATION = /(?:^|\(|\bat )((?:file:\/\/)?\/[^\s():?]+)(?:\?[^\s():]*)?:(\d+)(?::(\d+))?/;

/** flowtune's own folder: its frames are not the user's code. */
const FLOWTUNE_ROOT = fileURLToPath(new URL('../', import.meta.url));

const pathOf = (raw: string): string => (raw.startsWith('file://') ? fileURLToPath(raw) : raw);

/**
 * Where a thrown error comes from, as " at FILE:LINE:COL": the first stack frame in the policy
 * file, else the first in another file of the user's (not node_modules, not Node's own); '' when none.
 */
function where(error: unknown, file: string, cwd: string): string {
  const stack = error instanceof Error ? (error.stack ?? '') : '';
  const frames = stack
    .split('\n')
    .slice(1)
    .map((line) => LOCATION.exec(line))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ path: pathOf(m[1]), line: m[2], column: m[3] }))
    .filter((f) => !f.path.includes('/node_modules/') && (f.path === file || !f.path.startsWith(FLOWTUNE_ROOT)));
  const frame = frames.find((f) => f.path === file) ?? frames[0];
  return frame ? ` at ${displayPath(frame.path, cwd)}:${frame.line}${frame.column ? `:${frame.column}` : ''}` : '';
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The first line of a message, trimmed, without terminal colours or a final period. */
function oneLine(message: string): string {
  const plain = message.replace(/\u001b\[[0-9;]*m/g, '');
  const first = plain.split('\n').map((l) => l.trim()).find((l) => l !== '') ?? '';
  return first.replace(/\.$/, '');
}

/** Node's own report of a JavaScript syntax error, whose first line is "FILE:LINE": `node --check FILE`. */
function syntaxLocation(file: string, cwd: string): string {
  const r = spawnSync(process.execPath, ['--check', file], { encoding: 'utf8', timeout: 10_000 });
  const lines = (r.stderr ?? '').split('\n');
  const m = LOCATION.exec(lines[0] ?? '');
  if (!m || r.status === 0) return '';
  const caret = lines[2]?.indexOf('^') ?? -1; // the line under the source line marks the column
  return ` at ${displayPath(pathOf(m[1]), cwd)}:${m[2]}${caret >= 0 ? `:${caret + 1}` : ''}`;
}

/** What `flowtune/policies` exports (policies/index.ts): named in the message for a file that imports one of them from 'flowtune'. */
export const BUILT_IN_EXPORTS = ['flowchartPolicy', 'FLOWCHART_SETTINGS', 'examplePolicy', 'randomPolicy', 'RANDOM_SPACE', 'MAX_RANDOM_RUNS', 'noSearchPolicy'];

/** The one-line message for a policy file that fails to import: what, where, and what to do. */
function loadFailure(error: unknown, file: string, source: string, cwd: string): string {
  const e = (typeof error === 'object' && error !== null ? error : {}) as { name?: string; code?: string; message?: string; stack?: string };
  const message = typeof e.message === 'string' ? e.message : String(error);
  // TypeScript (or JavaScript tsx compiles) that does not parse: esbuild says "FILE:LINE:COL: ERROR: what" (COL from 0).
  const esbuild = /^(.+?):(\d+):(\d+): ERROR: (.+)$/m.exec(message);
  if (e.name === 'TransformError' && esbuild) {
    return `Policy file ${source}: syntax error at ${displayPath(esbuild[1], cwd)}:${esbuild[2]}:${Number(esbuild[3]) + 1}: ${esbuild[4].replace(/\.$/, '')}. Fix the file there (it must be valid TypeScript or JavaScript).`;
  }
  // An import of a name the module does not export (found when the modules are linked).
  const missing = /does not provide an export named '([^']+)'/.exec(message);
  if (missing) {
    const from = /The requested module '([^']+)'/.exec(message)?.[1] ?? 'a module';
    const at = LOCATION.exec((e.stack ?? '').split('\n')[0] ?? '');
    const loc = at ? ` at ${displayPath(pathOf(at[1]), cwd)}:${at[2]}` : '';
    if (from === 'flowtune' && BUILT_IN_EXPORTS.includes(missing[1])) {
      return `Policy file ${source}: it imports ${missing[1]} from 'flowtune'${loc}, which 'flowtune' does not export: the built-in policies are 'flowtune/policies' (import { ${missing[1]} } from 'flowtune/policies').`;
    }
    const hint = from === 'flowtune' || from === 'flowtune/policies' ? ` (README.md, "Your own policy", lists what '${from}' exports)` : '';
    return `Policy file ${source}: it imports ${missing[1]} from '${from}'${loc}, which '${from}' does not export. Check the name${hint}.`;
  }
  // JavaScript that does not parse: Node's SyntaxError carries no place; `node --check` gives it.
  if (e.name === 'SyntaxError') {
    return `Policy file ${source}: syntax error${syntaxLocation(file, cwd)}: ${oneLine(message)}. Fix the file there (it must be valid TypeScript or JavaScript).`;
  }
  // An import that does not resolve: a package that is not installed, or a file that is not there.
  if (e.code === 'ERR_MODULE_NOT_FOUND' || e.code === 'MODULE_NOT_FOUND') {
    const target = /Cannot find (?:package|module) '([^']+)'/.exec(message)?.[1];
    if (target !== undefined && !target.startsWith('.') && !target.startsWith('/') && !target.startsWith('file:')) {
      const name = target.startsWith('@') ? target.split('/').slice(0, 2).join('/') : target.split('/')[0];
      const dir = dirname(file);
      const where = `in ${displayPath(dir, cwd) || '.'} (or a folder above it)`;
      const how =
        name === 'flowtune'
          ? `\`npm install PATH\` ${where}, PATH being flowtune's folder (${FLOWTUNE_ROOT.replace(/\/$/, '')}) or the tarball its \`npm pack\` makes`
          : `\`npm install ${name}\` ${where}`;
      return `Policy file ${source}: it imports '${target}', which is not installed where the file is. Install it: ${how}.`;
    }
    // flowtune's compiled copy (what a CommonJS policy gets), in a clone where it was not built.
    const unbuilt = target === undefined ? null : (pathOf(target).startsWith(`${FLOWTUNE_ROOT}dist/`) ? FLOWTUNE_ROOT : /^(.*\/flowtune\/)dist\//.exec(pathOf(target))?.[1]);
    if (unbuilt) {
      return `Policy file ${source}: it imports flowtune, whose compiled dist/ is missing (${pathOf(target!)}): build it with \`npm run build\` in ${unbuilt.replace(/\/$/, '')}.`;
    }
    const missingFile = target === undefined ? null : displayPath(pathOf(target), cwd);
    return `Policy file ${source}: it imports ${missingFile ? `${missingFile}, which does not exist` : 'a file that does not exist'}. Fix the import's path.`;
  }
  // Anything else was thrown while the file's top-level code ran.
  const kind = e.name && e.name !== 'Error' ? `${e.name}: ` : '';
  return `Policy file ${source}: it threw while loading${where(error, file, cwd)}: ${kind}${oneLine(message)}. Fix the code that runs when the file is imported (its top level).`;
}

/**
 * Call `policy.decide(context)`; a throw, a promise or an invalid Decision becomes a UserError
 * naming `source`. Returns the validated Decision.
 */
export function decideSafely(policy: Policy, context: PolicyContext, source: string): Decision {
  let result: unknown;
  try {
    result = policy.decide(context);
  } catch (error) {
    throw new UserError(`${policyLabel(source)}: decide() threw: ${messageOf(error)}`);
  }
  const problem = decisionProblem(result);
  if (problem) {
    throw new UserError(
      `${policyLabel(source)}: decide() returned an invalid decision: ${problem}. ` +
        `Expected { action: one of ${ACTION_NAMES.join(', ')}; params: that action's parameters (see the action table in README.md); reason: a non-empty string }.`,
    );
  }
  const decision = result as Decision;
  return { action: decision.action, params: { ...(decision.params ?? {}) }, reason: decision.reason } as Decision;
}
