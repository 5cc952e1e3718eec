/**
 * Which search runs may be finalists (confirmed against the incumbent on the full training split,
 * `confirmPlan` in budget.ts): the eligibility rule, apart from the study's store. PURE: facts
 * about runs in, run ids out; the adapter (study/finalise.ts) gathers the facts.
 */
import { COST_TOLERANCE } from './verdict.ts';
import type { Judgement, Verdict } from '../types.ts';

/** What the rule reads of a search run. */
export interface FinalistFacts {
  runId: number;
  verdict: Verdict;
  /** Its paired verdict against the incumbent of its day (null: none, e.g. a baseline). */
  judgement: Pick<Judgement, 'kept' | 'against' | 'z'> | null;
  /** Evaluated on the validation hold-out (a finalist needs its validation loss). */
  evaluated: boolean;
  /** Diverged or circling: never a finalist. */
  unstable: boolean;
  /** Learnable parameters of its network. */
  params: number;
  /** Its network, as a comparable key (JSON). */
  network: string;
  /** Measured training throughput. */
  imagesPerSecond: number;
}

export interface FinalistCandidates {
  /** Configurations that were the incumbent once (a baseline, kept, or a tie that won on cost): the cheaper alternatives. */
  others: number[];
  /**
   * Larger or costlier networks the subset did not reject (a tie the incumbent of the day stood
   * on). `nominallyAhead`: tied with the incumbent itself, ahead in the point estimate, with more
   * parameters — the subset could not tell them apart. Otherwise a tie (with an earlier incumbent,
   * or behind) that trains over COST_TOLERANCE slower than the incumbent: confirmed only when the
   * incumbent, converged, would leave most of the time unused (`confirmPlan`'s onlyWhenTimeIsIdle).
   */
  larger: Array<{ runId: number; nominallyAhead: boolean }>;
}

/** The finalist candidates among `runs` (the search runs, the incumbent among them or not). */
export function finalistCandidates(runs: readonly FinalistFacts[], incumbent: FinalistFacts): FinalistCandidates {
  const eligible = runs.filter((r) => r.runId !== incumbent.runId && r.evaluated && !r.unstable);
  const others = eligible.filter((r) => r.verdict === 'baseline' || r.verdict === 'kept' || (r.verdict === 'tie' && r.judgement?.kept === true)).map((r) => r.runId);
  const larger = eligible
    .filter((r) => r.verdict === 'tie' && r.judgement !== null && !r.judgement.kept)
    .map((r) => ({
      runId: r.runId,
      nominallyAhead: r.judgement!.against === incumbent.runId && r.judgement!.z > 0 && r.params > incumbent.params,
      slower: r.network !== incumbent.network && r.imagesPerSecond * (1 + COST_TOLERANCE) < incumbent.imagesPerSecond,
    }))
    .filter((c) => c.nominallyAhead || c.slower)
    .map(({ runId, nominallyAhead }) => ({ runId, nominallyAhead }));
  return { others, larger };
}
