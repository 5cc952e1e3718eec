/**
 * The policy contract, checked: `checkPolicy(policy)` asks a policy about every scenario (twice
 * per seed) and lists what breaks the contract the built-in policies meet. PURE.
 *
 * The contract, for every scenario and seed:
 *   - the policy has the Policy shape (name, decide, valid thresholds), as the loader checks it;
 *   - decide(context) returns, without throwing, a valid decision (decisionProblem: a known action,
 *     its parameters spelt and in range, a non-empty reason) — synchronously, not a Promise;
 *   - the action is one the step allows (`context.allowed`; the machine refuses any other);
 *   - the reason quotes a number (the report shows it as the why of the step);
 *   - the decision applies to the configuration it changes (e.g. deepen leaves room to pool);
 *   - the same context and seed give the same decision (studies are reproducible and resumable);
 *   - the context is not modified (it is frozen here: a write throws).
 */
import { ACTIONS, applyDecision, decisionProblem, type ActionName, type Decision } from '../actions.ts';
import { resolveThresholds } from '../diagnosis/thresholds.ts';
import { evidenceOf } from '../machine/rails.ts';
import { policyProblem } from '../policy-shape.ts';
import type { DiagnosisLabel, Policy, PolicyContext, Stage } from '../types.ts';
import { SCENARIOS, scenarioContext, type Scenario, type ScenarioSpec } from './scenarios.ts';

/** What one scenario and seed gave. */
export interface ScenarioResult {
  scenario: string;
  seed: number;
  /** The step the machine was at, and the actions it allowed. */
  stage: Stage;
  allowed: readonly ActionName[];
  /** The diagnosis of the run asked about (with the policy's thresholds). */
  diagnosis: DiagnosisLabel;
  /** The decision, when decide returned a valid one. */
  decision: Decision | null;
  /** What broke the contract here (empty when nothing did). */
  problems: string[];
}

/** The outcome of `checkPolicy`. */
export interface PolicyCheck {
  /** The policy's name. */
  policy: string;
  /** True when nothing broke the contract. */
  ok: boolean;
  /** Every problem, one line each: "scenario (seed N): what". Assert it is empty. */
  problems: string[];
  results: ScenarioResult[];
}

export interface CheckOptions {
  /** Seeds of `context.random` (default [1, 2, 3]). */
  seeds?: readonly number[];
  /** The scenarios (default SCENARIOS); add your own with `scenario`-style objects. */
  scenarios?: readonly Scenario[];
}

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/** Freezes an object graph (plain objects, arrays, functions), so a policy's write throws. */
function deepFreeze<T>(value: T, seen = new Set<unknown>()): T {
  if (value === null || (typeof value !== 'object' && typeof value !== 'function') || seen.has(value) || ArrayBuffer.isView(value)) return value;
  seen.add(value);
  for (const key of Reflect.ownKeys(value as object)) deepFreeze((value as Record<PropertyKey, unknown>)[key], seen);
  return Object.freeze(value);
}

/** Asks once; the decision, or what went wrong. */
function ask(policy: Policy, context: PolicyContext): { decision: Decision } | { problem: string } {
  let result: unknown;
  try {
    result = policy.decide(context);
  } catch (error) {
    return { problem: `decide() threw: ${messageOf(error)}` };
  }
  const problem = decisionProblem(result);
  if (problem) return { problem: `decide() returned an invalid decision: ${problem}` };
  return { decision: result as Decision };
}

/** Why the decision does not apply to the configuration it changes, or null. */
function applyProblem(decision: Decision, spec: ScenarioSpec, context: PolicyContext): string | null {
  const def = ACTIONS[decision.action];
  if (def.kind !== 'train' && def.kind !== 'edit') return null;
  const subjectRun = spec.runs.find((r) => r.id === (context.subjectRun ?? context.incumbent.id)) ?? context.incumbent;
  const from = context.subjectRun != null || !context.standing ? { network: subjectRun.network, options: subjectRun.options } : context.standing;
  const { bestEpoch } = evidenceOf(subjectRun.curve, subjectRun.diagnosis, resolveThresholds(spec.thresholds));
  try {
    applyDecision({ network: from.network, options: from.options }, decision, {
      lastLearnRate: subjectRun.options.initialLearnRate,
      bestEpoch,
      epochsTrained: subjectRun.curve.epochs.length,
    });
    return null;
  } catch (error) {
    return `${decision.action} cannot be applied to run ${subjectRun.id}'s configuration: ${messageOf(error)}`;
  }
}

/**
 * Checks a policy against the contract, on every scenario and seed. Never throws for the policy's
 * faults: they are listed in `problems`. In a test: `expect(checkPolicy(policy).problems).toEqual([])`
 * (vitest) or `assert.deepEqual(checkPolicy(policy).problems, [])` (node:test).
 */
export function checkPolicy(policy: Policy, options: CheckOptions = {}): PolicyCheck {
  const name = typeof (policy as { name?: unknown })?.name === 'string' ? policy.name : '(unnamed)';
  const shape = policyProblem(policy);
  if (shape) return { policy: name, ok: false, problems: [`the policy: ${shape}`], results: [] };
  const seeds = options.seeds ?? [1, 2, 3];
  const results: ScenarioResult[] = [];
  for (const scenario of options.scenarios ?? SCENARIOS) {
    for (const seed of seeds) {
      const spec: ScenarioSpec = { ...scenario.spec(policy.thresholds), seed };
      const context = scenarioContext(spec);
      const about = context.subjectRun != null ? spec.runs.find((r) => r.id === context.subjectRun)! : context.incumbent;
      const result: ScenarioResult = { scenario: scenario.name, seed, stage: context.stage, allowed: [...context.allowed], diagnosis: about.diagnosis.label, decision: null, problems: [] };
      results.push(result);
      const first = ask(policy, deepFreeze(context));
      if ('problem' in first) {
        result.problems.push(first.problem);
        continue;
      }
      const d = first.decision;
      result.decision = d;
      if (!context.allowed.includes(d.action)) {
        result.problems.push(`decide() chose ${d.action}, which step ${context.stage} does not allow here (allowed: ${context.allowed.join(', ')}); the machine would refuse it`);
      }
      if (!/\d/.test(d.reason)) result.problems.push(`the reason quotes no number: ${JSON.stringify(d.reason)}`);
      const apply = applyProblem(d, spec, context);
      if (apply) result.problems.push(apply);
      const again = ask(policy, deepFreeze(scenarioContext(spec)));
      const same = 'decision' in again && JSON.stringify(again.decision) === JSON.stringify(d);
      if (!same) {
        result.problems.push(`not the same decision under the same seed: ${JSON.stringify(d)}, then ${'decision' in again ? JSON.stringify(again.decision) : again.problem}`);
      }
    }
  }
  const problems = results.flatMap((r) => r.problems.map((p) => `${r.scenario} (seed ${r.seed}): ${p}`));
  return { policy: name, ok: problems.length === 0, problems, results };
}
