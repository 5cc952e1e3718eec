// Types of bench/ahead-sim.mjs, for its tests.
export interface ReplayRun {
  id: number;
  kind: string;
  verdict: string;
  fidelity: string;
  parentId: number | null;
  replicateOf: number | null;
  changed: boolean;
  seconds: number;
  gap: number;
}
export function recordedRuns(study: unknown): ReplayRun[];
export function guessesFor(runs: ReplayRun[], i: number): { chain: number[]; replicate: number | null; wrong: boolean; overrun: boolean };
export function replay(runs: ReplayRun[], workers: number): { seconds: number; adopted: number; dropped: number };
