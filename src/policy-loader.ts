/**
 * Load a policy by built-in name or file path, and call it safely.
 *
 * A policy file (.ts, .mts, .js, .mjs, .cjs; TypeScript works because the CLI runs under tsx)
 * exports a Policy as `default` or as `policy`, or a factory function (under either name, or
 * `createPolicy`) that returns one. Every fault of a user's file is a UserError naming the file.
 */
import { existsSync, statSync } from 'node:fs';
import { extname, isAbsolute, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { UserError } from './errors.ts';
import { ACTION_NAMES, decisionProblem, type Decision } from './actions.ts';
import type { DiagnosisThresholds, Policy, PolicyContext } from './types.ts';

/** The policies shipped in policies/. 'flowchart' is the default. */
export const BUILT_IN_POLICIES = ['flowchart', 'example', 'random', 'no-search'] as const;
export type BuiltInPolicy = (typeof BUILT_IN_POLICIES)[number];

const THRESHOLD_KEYS: readonly (keyof DiagnosisThresholds)[] = [
  'explodeFactor',
  'riseFraction',
  'minEpochsAfterMinimum',
  'gapThreshold',
  'stillFallingFraction',
  'tooSlowAccuracy',
  'tooSlowFall',
  'oscillationSwing',
];

const EXTENSIONS = ['.ts', '.mts', '.js', '.mjs', '.cjs'];

/** policies/ at the project root (this file lives in src/, or dist/src/ when compiled). */
function builtInFile(name: BuiltInPolicy): string {
  const here = fileURLToPath(new URL('.', import.meta.url));
  const candidates = [resolve(here, '..', 'policies'), resolve(here, '..', '..', 'policies')].flatMap((dir) =>
    ['.ts', '.js'].map((ext) => resolve(dir, name + ext)),
  );
  const found = candidates.find((file) => existsSync(file));
  if (!found) throw new Error(`built-in policy "${name}" is missing: looked for ${candidates.join(', ')}`);
  return found;
}

/** How to name a file in messages: relative to cwd when inside it, else absolute. */
function displayPath(file: string, cwd: string): string {
  const rel = relative(cwd, file);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel : file;
}

/**
 * Load a policy. `nameOrPath` is a built-in name ('flowchart', 'example', 'random') or a path
 * (relative to `cwd`). `source` names where it came from (the file, as shown in messages).
 */
export async function loadPolicy(nameOrPath: string = 'flowchart', cwd: string = process.cwd()): Promise<{ policy: Policy; source: string }> {
  const builtIn = (BUILT_IN_POLICIES as readonly string[]).includes(nameOrPath) ? (nameOrPath as BuiltInPolicy) : null;
  const file = builtIn ? builtInFile(builtIn) : resolve(cwd, nameOrPath);
  const source = builtIn ? `policies/${builtIn}${extname(file)}` : displayPath(file, cwd);
  if (!builtIn) {
    if (!existsSync(file)) {
      throw new UserError(
        `Policy file ${source} not found (resolved to ${file}). Give a built-in policy (${BUILT_IN_POLICIES.join(', ')}) or the path of a .ts/.js/.mjs file exporting a Policy.`,
      );
    }
    if (!statSync(file).isFile()) throw new UserError(`Policy file ${source} is not a file.`);
    if (!EXTENSIONS.includes(extname(file).toLowerCase())) {
      throw new UserError(`Policy file ${source} has the extension "${extname(file)}"; expected one of ${EXTENSIONS.join(', ')}.`);
    }
  }
  let module: Record<string, unknown>;
  try {
    // Built-ins are part of the program; a user's file goes through tsx's scoped loader, which
    // compiles TypeScript wherever the file lives (a plain import() of a .ts file outside a
    // "type": "module" package fails under Node 20 with ERR_REQUIRE_CYCLE_MODULE).
    module = builtIn
      ? ((await import(pathToFileURL(file).href)) as Record<string, unknown>)
      : ((await (await import('tsx/esm/api')).tsImport(pathToFileURL(file).href, import.meta.url)) as Record<string, unknown>);
  } catch (error) {
    throw new UserError(`Policy file ${source} does not load: ${loaderMessage(error)}. Fix the file (it must be valid TypeScript or JavaScript).`);
  }
  let exported = module.default ?? module.policy ?? module.createPolicy;
  // A file compiled to CommonJS arrives wrapped once more: { default: policy } or { policy }.
  if (typeof exported === 'object' && exported !== null && !('decide' in exported)) {
    const inner = (exported as Record<string, unknown>).default ?? (exported as Record<string, unknown>).policy;
    if (inner !== undefined) exported = inner;
  }
  if (exported === undefined) {
    throw new UserError(
      `Policy file ${source} exports no policy (found exports: ${Object.keys(module).join(', ') || 'none'}). Export a Policy as default or as \`policy\`.`,
    );
  }
  let candidate: unknown = exported;
  if (typeof exported === 'function' && !('decide' in exported)) {
    try {
      candidate = await (exported as () => unknown)();
    } catch (error) {
      throw new UserError(`Policy file ${source}: its factory function threw: ${messageOf(error)}.`);
    }
  }
  return { policy: checkPolicy(candidate, source), source };
}

/** The Policy interface: name (non-empty string), decide (function), optional description and thresholds. */
function checkPolicy(candidate: unknown, source: string): Policy {
  const expected = 'Expected an object { name: string, description: string, thresholds?: {...}, decide(context) { return { action, params, reason } } }.';
  if (typeof candidate !== 'object' || candidate === null) {
    throw new UserError(`Policy file ${source} exports ${candidate === null ? 'null' : typeof candidate}, not a policy object. ${expected}`);
  }
  const p = candidate as Partial<Policy> & Record<string, unknown>;
  if (typeof p.decide !== 'function') throw new UserError(`Policy file ${source}: the policy has no decide function. ${expected}`);
  if (typeof p.name !== 'string' || p.name.trim() === '') throw new UserError(`Policy file ${source}: the policy has no name (a non-empty string). ${expected}`);
  if (p.description !== undefined && typeof p.description !== 'string') throw new UserError(`Policy file ${source}: description must be a string.`);
  if (p.thresholds !== undefined) {
    if (typeof p.thresholds !== 'object' || p.thresholds === null) throw new UserError(`Policy file ${source}: thresholds must be an object.`);
    for (const [key, value] of Object.entries(p.thresholds)) {
      if (!(THRESHOLD_KEYS as readonly string[]).includes(key)) {
        throw new UserError(`Policy file ${source}: unknown threshold "${key}"; known: ${THRESHOLD_KEYS.join(', ')}.`);
      }
      if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
        throw new UserError(`Policy file ${source}: threshold ${key} is ${String(value)}; expected a finite number ≥ 0.`);
      }
    }
  }
  const decide = p.decide;
  return {
    name: p.name,
    description: p.description ?? '',
    ...(p.thresholds ? { thresholds: { ...p.thresholds } } : {}),
    decide: (context: PolicyContext) => decide.call(candidate, context),
  };
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The loader's message without terminal colours, at most 12 lines, without a trailing period. */
function loaderMessage(error: unknown): string {
  const plain = messageOf(error).replace(/\u001b\[[0-9;]*m/g, '');
  const lines = plain.split('\n').map((l) => l.trimEnd()).filter((l) => l.trim() !== '');
  const kept = lines.length > 12 ? [...lines.slice(0, 12), '…'] : lines;
  return kept.join('\n').replace(/\.$/, '');
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
    throw new UserError(`Policy file ${source}: decide() threw: ${messageOf(error)}`);
  }
  const problem = decisionProblem(result);
  if (problem) {
    throw new UserError(
      `Policy file ${source}: decide() returned an invalid decision: ${problem}. ` +
        `Expected { action: one of ${ACTION_NAMES.join(', ')}; params: that action's parameters (see the action table in README.md); reason: a non-empty string }.`,
    );
  }
  const decision = result as Decision;
  return { action: decision.action, params: { ...(decision.params ?? {}) }, reason: decision.reason } as Decision;
}
