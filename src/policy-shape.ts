/**
 * The shape of a Policy, checked in one place: by the loader (src/policy-loader.ts) when it
 * imports a policy file, and by the contract kit (`flowtune/testing`) before it asks a policy
 * anything. PURE.
 */
import { DEFAULT_THRESHOLDS } from './diagnosis/thresholds.ts';
import type { DiagnosisThresholds, Policy } from './types.ts';

/** The thresholds a policy may set (`Policy.thresholds`), in DEFAULT_THRESHOLDS' order. */
export const THRESHOLD_KEYS = Object.keys(DEFAULT_THRESHOLDS) as (keyof DiagnosisThresholds)[];

/** The shape, in words, for messages. */
export const POLICY_SHAPE = '{ name: string, description: string, thresholds?: {...}, decide(context) { return { action, params, reason } } }';

/**
 * What is wrong with a would-be Policy, or null: "it is number, not a policy object", "it has no
 * decide function", "unknown threshold "gap"; known: ...". Messages start lower-case, without a
 * final period, for the caller to say where.
 */
export function policyProblem(candidate: unknown): string | null {
  if (typeof candidate !== 'object' || candidate === null) {
    return `it is ${candidate === null ? 'null' : typeof candidate}, not a policy object`;
  }
  const p = candidate as Partial<Policy> & Record<string, unknown>;
  if (typeof p.decide !== 'function') return 'it has no decide function';
  if (typeof p.name !== 'string' || p.name.trim() === '') return 'it has no name (a non-empty string)';
  if (p.description !== undefined && typeof p.description !== 'string') return 'its description is not a string';
  if (p.thresholds !== undefined) {
    if (typeof p.thresholds !== 'object' || p.thresholds === null) return 'its thresholds are not an object';
    for (const [key, value] of Object.entries(p.thresholds)) {
      if (!(THRESHOLD_KEYS as readonly string[]).includes(key)) return `unknown threshold "${key}"; known: ${THRESHOLD_KEYS.join(', ')}`;
      if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) return `threshold ${key} is ${String(value)}; expected a finite number ≥ 0`;
    }
  }
  return null;
}
