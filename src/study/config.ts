/**
 * A study's options as the command line gives them (`--max-runs 3`: the flag's name without "--"
 * and its text), checked and turned into what the study runner takes: the one place that does it,
 * for `tune` (src/cli.ts) and for `runStudy` of 'flowtune/study' (src/study/api.ts), which hands
 * its typed options over as the same flags. A bad value is a UserError naming the flag and saying
 * what to give instead. The flag readers (intFlag, oneOf, ...) serve the CLI's other commands too.
 */
import path from 'node:path';
import { UserError } from '../errors.ts';
import type { StudyConfig } from '../store/records.ts';
import type { TrainingOptions } from '../types.ts';
import { BACKENDS, LOG_LEVELS, SOLVERS } from './api-types.ts';

/** Flags as parsed: a value's text, or true for a flag without a value. */
export type Flags<K extends string = string> = Partial<Record<K, string | boolean>>;

/** The flags that make a study's configuration (what `studyConfigFrom` reads). */
export const CONFIG_FLAGS = [
  'data',
  'data-dir',
  'image-size',
  'test-data',
  'skip-bad',
  'max-memory',
  'name',
  'policy',
  'budget',
  'max-runs',
  'subset',
  'validation-subset',
  'validation-size',
  'no-final-full',
  'no-final-refit',
  'max-epochs',
  'initial-learn-rate',
  'solver',
  'mini-batch-size',
  'seed',
  'backend',
] as const;
export type ConfigFlag = (typeof CONFIG_FLAGS)[number];

/** The flags of a study's start: its configuration, or --resume NAME, and how this process runs it. */
export type StudyFlag = ConfigFlag | 'resume' | 'reports' | 'log-level' | 'redis';

export { BACKENDS, LOG_LEVELS, SOLVERS } from './api-types.ts';

/** Parses a duration like 30m, 1h30m, 90s or 45 (seconds). 0 means no budget. */
export function parseDuration(text: string, flag = '--budget'): number | null {
  const t = text.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Number(t) === 0 ? null : Number(t);
  const m = /^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$/.exec(t);
  if (!m || t === '') throw new UserError(`${flag} ${text} is not a duration: give e.g. 30m, 1h, 1h30m, 90s, or 0 for no budget.`);
  const seconds = Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0);
  return seconds === 0 ? null : seconds;
}

export function intFlag<K extends string>(values: Flags<K>, flag: K, fallback: number, min = 0): number {
  const raw = values[flag];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new UserError(`--${flag} ${raw} is not valid: give a whole number ≥ ${min}.`);
  return n;
}

export function numberFlag<K extends string>(values: Flags<K>, flag: K): number | undefined {
  const raw = values[flag];
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new UserError(`--${flag} ${raw} is not valid: give a positive number, e.g. 0.01.`);
  return n;
}

export function oneOf<K extends string, T extends string>(values: Flags<K>, flag: K, allowed: readonly T[]): T | undefined {
  const raw = values[flag];
  if (raw === undefined) return undefined;
  if (!allowed.includes(raw as T)) throw new UserError(`--${flag} ${raw} is not valid: use one of ${allowed.join(', ')}.`);
  return raw as T;
}

function timestamp(): string {
  return new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
}

/** Builds a study's configuration from the flags. */
export async function studyConfigFrom(values: Flags<ConfigFlag>): Promise<StudyConfig> {
  const { defaultNetwork } = await import('../config/network.ts');
  const { resolveOptions } = await import('../config/options.ts');
  const { DEFAULT_VALIDATION_SHARE, detectFormat, parseByteSize } = await import('../data/index.ts');
  const data = typeof values.data === 'string' ? values.data : 'fashion';
  const solver = oneOf(values, 'solver', SOLVERS) ?? 'sgdm';
  const partial: Partial<TrainingOptions> = {
    solver,
    maxEpochs: intFlag(values, 'max-epochs', 10, 1),
    miniBatchSize: intFlag(values, 'mini-batch-size', 128, 1),
    outputNetwork: 'best-validation-loss',
    seed: intFlag(values, 'seed', 0),
  };
  const lr = numberFlag(values, 'initial-learn-rate');
  if (lr !== undefined) partial.initialLearnRate = lr;
  const name = typeof values.name === 'string' ? values.name : `${data === 'fashion' ? 'fashion' : path.basename(path.resolve(data)).replace(/\.csv(\.gz)?$/i, '')}-${timestamp()}`;
  if (!/^[\w.-]+$/.test(name)) throw new UserError(`--name ${name} is not valid: use letters, digits, '.', '_' and '-' only (it becomes a folder name).`);
  const subset = intFlag(values, 'subset', 8192);
  const validationSubset = intFlag(values, 'validation-subset', 2000);
  const maxRuns = intFlag(values, 'max-runs', 32);
  return {
    name,
    data,
    dataDir: typeof values['data-dir'] === 'string' ? values['data-dir'] : process.env.FASHION_MNIST_DIR || null,
    validationSize: validationSizeFlag(values, detectFormat(data) === 'folder' || detectFormat(data) === 'csv' ? DEFAULT_VALIDATION_SHARE : 10_000),
    searchSubset: subset === 0 ? null : subset,
    searchValidationSubset: validationSubset === 0 ? null : validationSubset,
    finalFullData: !values['no-final-full'],
    finalRefit: !values['no-final-refit'],
    seed: intFlag(values, 'seed', 0),
    policy: typeof values.policy === 'string' ? values.policy : 'flowchart',
    budgetSeconds: parseDuration(typeof values.budget === 'string' ? values.budget : '30m'),
    maxRuns: maxRuns === 0 ? null : maxRuns,
    backend: oneOf(values, 'backend', BACKENDS) ?? null,
    baseNetwork: defaultNetwork(),
    baseOptions: resolveOptions(partial),
    imageSize: typeof values['image-size'] === 'string' ? parseImageSize(values['image-size']) : null,
    testData: typeof values['test-data'] === 'string' ? values['test-data'] : null,
    skipBad: Boolean(values['skip-bad']),
    maxMemoryBytes: typeof values['max-memory'] === 'string' ? parseByteSize(values['max-memory']) : undefined,
  };
}

/** --image-size HxW (also H×W or a single S for S×S), each side 1–4096. */
export function parseImageSize(text: string): [number, number] {
  const m = /^\s*(\d+)\s*(?:[x×X*]\s*(\d+))?\s*$/.exec(text);
  const size = m ? ([Number(m[1]), Number(m[2] ?? m[1])] as [number, number]) : null;
  if (!size || size.some((n) => n < 1 || n > 4096)) {
    throw new UserError(`--image-size ${text} is not valid: give height x width in pixels, e.g. 32x32 or 28x28 (each 1–4096).`);
  }
  return size;
}

/** --validation-size: a whole number of images, or a share of the training images between 0 and 1. */
function validationSizeFlag(values: Flags<ConfigFlag>, fallback: number): number {
  const raw = values['validation-size'];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!(Number.isInteger(n) && n >= 1) && !(n > 0 && n < 1)) {
    throw new UserError(`--validation-size ${raw} is not valid: give a whole number of images (e.g. 10000) or a share between 0 and 1 (e.g. 0.2).`);
  }
  return n;
}

/** --reports DIR (default ./reports), absolute. */
export function reportsDirFrom(values: Flags<'reports'>): string {
  return path.resolve(typeof values.reports === 'string' ? values.reports : 'reports');
}

/**
 * The command that continues study `name` (every message that says how): `tune --resume NAME`,
 * with `--reports DIR` when its reports folder (`studyDir`'s parent) is not ./reports, and
 * `--redis URL` when it trains on a queue (`redis`: the URL to print, passwords redacted; true: the
 * placeholder URL).
 */
export function resumeCommand(name: string, where: { studyDir?: string; redis?: string | boolean } = {}): string {
  const folder = where.studyDir ? path.dirname(path.resolve(where.studyDir)) : reportsDirFrom({});
  const relative = path.relative(process.cwd(), folder);
  const reports = folder === reportsDirFrom({}) ? '' : ` --reports ${relative === '' ? '.' : relative.startsWith('..') || path.isAbsolute(relative) ? folder : relative}`;
  const redis = where.redis ? ` --redis ${where.redis === true ? 'URL' : where.redis}` : '';
  return `\`tune --resume ${name}${reports}${redis}\``;
}

/** --redis URL, checked (the queue's modules load only when it is given). */
export async function checkedRedisUrl(url: string): Promise<string> {
  const { checkRedisUrl } = await import('../queue/redis.ts');
  return checkRedisUrl(url);
}

/** What the study runner (src/study/run.ts) is given to start or resume a study, but how it reports progress. */
export interface StudyStart {
  /** The new study's configuration, or the name of the study to resume. */
  target: StudyConfig | string;
  reportsDir: string;
  resume: boolean;
  logLevel: string;
  redis: string | null;
}

/**
 * The flags of `tune --data ...` / `tune --resume NAME`, checked, in the order the CLI always
 * checked them: --log-level, the configuration (not read when resuming: the stored one is), --redis.
 */
export async function studyStartFrom(values: Flags<StudyFlag>): Promise<StudyStart> {
  const logLevel = oneOf(values, 'log-level', LOG_LEVELS) ?? 'info';
  const resume = typeof values.resume === 'string';
  const target = resume ? (values.resume as string) : await studyConfigFrom(values);
  const redis = typeof values.redis === 'string' ? await checkedRedisUrl(values.redis) : null;
  return { target, reportsDir: reportsDirFrom(values), resume, logLevel, redis };
}
