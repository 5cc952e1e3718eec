/**
 * The machine's flowchart with a study's path lit: the Mermaid source generated from the machine
 * (src/machine/diagram.ts, handed in by the caller: the machine is not a pure module) plus Mermaid
 * classes for the states the study passed through and the one it is in. PURE.
 *
 * The path is read from the stored study, as the report reads it: the current state from the
 * persisted snapshot, the states passed through from the runs (each run's stage is the state that
 * trained it; an evaluation and a judgement are that state's evaluating and judging), the
 * decisions (asking the policy is `route` then `deciding`; a trim is `trimEpochs`; the machine's
 * own decisions are the finalise steps that take them) and the final evaluation. A diagram id is
 * the state's path joined by `_`, as the generator writes it; ids the diagram does not have are
 * left out (Mermaid would draw a new state for them).
 */
import { ACTIONS } from '../actions.ts';
import type { MachineDecisionKind, RunRecord, StudyRecord } from '../store/records.ts';

export interface StudyPath {
  /** The state the study is in (or stopped or failed in), as a diagram id; null when unknown. */
  current: string | null;
  /** Every state the study passed through, ancestors included, in no particular order. */
  visited: string[];
}

/** `{ finalise: { confirming: 'training' } }` → 'finalise_confirming_training'. */
export function stateId(value: unknown): string | null {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object') {
    const [key, child] = Object.entries(value as Record<string, unknown>)[0] ?? [];
    if (key === undefined) return null;
    const rest = stateId(child);
    return rest === null ? key : `${key}_${rest}`;
  }
  return null;
}

/** 'finalise_confirming_training' → ['finalise', 'finalise_confirming', 'finalise_confirming_training']. */
function withAncestors(id: string): string[] {
  const parts = id.split('_');
  return parts.map((_, i) => parts.slice(0, i + 1).join('_'));
}

const MACHINE_STEP: Record<MachineDecisionKind, string[]> = {
  budget: ['route', 'finalise'],
  finalists: ['finalise_choosingFinalists'],
  finalRun: ['finalise_planning'],
  noFinalFull: ['finalise_planning'],
  finalWeights: ['finalise_choosing'],
  fidelity: ['climbing', 'climbing_planning'],
  other: [],
};

function runStates(run: RunRecord): string[] {
  const rungStart = run.stage === 'baseline' && run.fidelity?.kind === 'full' && run.parentId !== null && run.parentId !== undefined;
  const state = run.kind === 'confirm' ? 'finalise_confirming' : run.kind === 'final' ? 'finalise' : rungStart ? 'climbing' : run.stage;
  const out = [`${state}_training`];
  if (run.evaluation && run.kind !== 'final') out.push(`${state}_evaluating`);
  if (run.judgement && run.kind !== 'confirm' && run.kind !== 'final') out.push(`${state}_judging`);
  if (run.kind === 'confirm') out.push('finalise_choosingFinalists');
  return out;
}

/** Where a stored study is in the flowchart, and where it has been. */
export function studyPath(study: StudyRecord): StudyPath {
  const states = new Set<string>();
  const runs = study.runs ?? [];
  for (const run of runs) for (const s of runStates(run)) states.add(s);
  if (runs.length > 0 && runs[0].evaluation) states.add('route');
  for (const d of study.decisions ?? []) {
    if (d.by === 'machine') {
      for (const s of MACHINE_STEP[d.machine] ?? []) states.add(s);
      continue;
    }
    states.add('route');
    states.add('deciding');
    states.add('decided');
    if (!d.refused && ACTIONS[d.decision.action]?.kind === 'edit') states.add('trimEpochs');
  }
  if (study.final) states.add('finalise_testing');
  if (study.final?.modelDir) states.add('finalise_saving');
  const snapshot = study.snapshot as { value?: unknown } | null;
  let current = study.status === 'failed' ? 'failed' : stateId(snapshot?.value);
  if (study.status === 'finished') current = 'done';
  if (current) states.add(current);
  const visited = new Set<string>();
  for (const s of states) for (const a of withAncestors(s)) visited.add(a);
  return { current, visited: [...visited] };
}

/** The state ids a Mermaid state diagram declares (`state "label" as id`); `composite`: only those with states inside, or only those without. */
export function diagramStateIds(source: string, composite?: boolean): string[] {
  return [...source.matchAll(/^\s*state "[^"]*" as (\w+)( \{)?/gm)].filter((m) => composite === undefined || Boolean(m[2]) === composite).map((m) => m[1]);
}

/** Mermaid classes that light the path: passed-through states green, the current one amber (simple states only). */
export const PATH_CLASSES = {
  visited: 'fill:#dcefdc,stroke:#2e7d32,stroke-width:1.5px',
  current: 'fill:#ffd54f,stroke:#b26a00,stroke-width:3px,font-weight:bold',
};

/** The diagram with the study's path lit. */
export function highlightedDiagram(source: string, path: StudyPath): string {
  // Only simple states are lit: a lit composite state would fill its whole box and hide the states in it.
  const known = new Set(diagramStateIds(source, false));
  const lines = source.split('\n');
  lines.push(`  classDef visited ${PATH_CLASSES.visited}`, `  classDef current ${PATH_CLASSES.current}`);
  const visited = path.visited.filter((id) => known.has(id) && id !== path.current);
  if (visited.length > 0) lines.push(`  class ${visited.join(',')} visited`);
  if (path.current && known.has(path.current)) lines.push(`  class ${path.current} current`);
  return lines.join('\n');
}
