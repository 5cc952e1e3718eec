/**
 * What the machine's actors exchange with it, its context, and the pure helpers its guards use
 * (the rails' view of the context, the refusal of a decision). Kept apart from machine.ts so that
 * the machine itself reads as the flowchart.
 */
import type { ActionName, Change, Configuration, Decision } from '../actions.ts';
import type { RunKind, Stage } from '../types.ts';
import { refusal, type RailState, type RunEvidence } from './rails.ts';

// ───────────────────────────── what the actors exchange with the machine ─────────────────────────────

/** What the machine keeps about an evaluated run (its evidence feeds the guards). */
export interface RunFacts {
  runId: number;
  configuration: Configuration;
  learnRate: number;
  epochsTrained: number;
  /** Epoch of the smoothed validation-loss minimum (trimEpochs' target), or null. */
  bestEpoch: number | null;
  secondsPerEpoch: number;
  evidence: RunEvidence;
}

/** The next run to train. */
export interface PendingRun extends Configuration {
  runId: number;
  stage: Stage;
  /** search: a candidate on the search subset; replicate: a candidate's second seed; confirm and final: the full split. */
  kind: RunKind;
  /** The incumbent it is compared with (null for the baseline). */
  parentId: number | null;
  /** The run whose configuration it changes, when that is not the incumbent (a diverged candidate). */
  basedOn: number | null;
  change: Decision | null;
  /** Continue this run's checkpoint (addEpochs, or the final run after a confirmation). */
  continueFrom: number | null;
  replicateOf: number | null;
  /** Wall-clock seconds it may take: it stops at that deadline, mid-epoch if need be (confirm and final runs). */
  seconds?: number | null;
  /** The rung a search run (or replicate) trains at: the search subset, or all the training images (absent: subset). */
  fidelity?: 'subset' | 'full';
  /** A final run on the training and validation images together (the final refit; absent: false). */
  trainOnValidation?: boolean;
  /**
   * Runs that may train at the same time as this one, when the trainer has room for more than one
   * (queue workers): the other sides of a confirmation. Each is still stored, evaluated and judged
   * when the machine comes to it, so the decisions are the same as one at a time.
   */
  alongside?: PendingRun[];
}

/** The full-data rung's plan: its first run (the standing configuration on all the training images), or none. */
export interface RungOutcome {
  pending: PendingRun | null;
  /** Epochs every run of the rung trains. */
  epochs: number | null;
}

/** The search's budget, as the adapters measure it after each step. null: no limit. */
export interface BudgetFacts {
  searchSecondsLeft: number | null;
  /** Seconds left in the whole budget (search and final run). */
  secondsLeft?: number | null;
  runsLeft: number | null;
}

/** What judging reads from a verdict. */
export interface VerdictFacts {
  kept: boolean;
  close: boolean;
  /** Estimated seconds of a replicate (a second seed of the candidate). */
  replicateSeconds: number;
}

export interface DecideInput {
  rails: RailState;
  allowed: ActionName[];
  refused: Refusal[];
  standing: Configuration;
  incumbentId: number;
  lastRunId: number;
  subject: RunFacts & { isStanding: boolean };
  tried: ActionName[];
  budget: BudgetFacts;
  /** The id the candidate's run would take, and the full-data rung's epochs (null below it): what the study needs to train the policy's next choice ahead. */
  nextRunId: number;
  rungEpochs: number | null;
}

export interface DecideOutcome {
  decision: Decision;
  /** The configuration the decision leads to (from the subject), for actions that train. */
  change: Change | null;
  /** Estimated seconds of its run (null: no run). */
  estimatedSeconds: number | null;
  /**
   * Estimated seconds of the final run this configuration would need, should it win (the images
   * the evidence asks for at its estimated speed): a slower network has to leave time for it.
   */
  estimatedFinalSeconds?: number | null;
}

export interface EvaluateInput {
  runId: number;
  /** The incumbent to judge against (null: the baseline or the first finalist). */
  against: number | null;
  /** For a replicate: the candidate it repeats (judged pooled). */
  replicateOf: number | null;
}

export interface EvaluateOutcome {
  facts: RunFacts;
  verdict: VerdictFacts | null;
  budget: BudgetFacts;
}

export interface Refusal {
  decision: Decision;
  reason: string;
}

export interface FinalistsOutcome {
  /** Confirmation runs to train, in order (empty: none). */
  confirm: PendingRun[];
  /** The finalist that goes on to the final run when nothing is confirmed. */
  winner: number;
}

export interface FinalInput {
  /** The search run (or confirmation run) whose configuration is finalised. */
  winner: number;
  /** The confirmation run to continue, when there was one. */
  continueFrom: number | null;
  runId: number;
}

export interface TuneContext {
  /** The flowchart step the study is in. */
  step: Stage;
  nextRunId: number;
  /** The configuration that stands: the incumbent's, possibly trimmed. */
  standing: Configuration;
  incumbent: RunFacts | null;
  /** What the next change applies to: the standing run, or a diverged candidate to fix. */
  subject: (RunFacts & { isStanding: boolean }) | null;
  /** The run just evaluated. */
  candidate: RunFacts | null;
  verdict: VerdictFacts | null;
  replicated: boolean;
  pending: PendingRun | null;
  /** Refusals since the policy last had an action accepted. */
  refused: Refusal[];
  /** How many of `refused` were the budget's (budgetLeft), not the rails'. */
  budgetRefusals?: number;
  /**
   * The policy's last answer, stored when it arrives with its refusal computed once (null: it
   * stands): the `decided` state's guards read these, never the event. Once accepted it is the
   * decision whose candidate the step tries (its change, its estimated cost), until the policy is
   * asked again.
   */
  outcome?: DecideOutcome | null;
  outcomeRefusal?: { reason: string; byBudget: boolean } | null;
  tried: ActionName[];
  triedAtStanding: ActionName[];
  trimmed: boolean;
  epochsExhausted: boolean;
  budget: BudgetFacts;
  /** True when the budget, not the policy, ended the search. */
  budgetExhausted: boolean;
  /** Finalise: confirmation runs, the one being trained, the winner, the final run. */
  confirm: PendingRun[];
  confirmIndex: number;
  winner: number | null;
  finalRunId: number | null;
  error: { message: string; user: boolean } | null;
  /** The fidelity rung the search is on (see RailState.fidelity). */
  fidelity: 'subset' | 'full';
  /** May the search climb to the full-data rung when the subset's flowchart is done (a subset search and a full-data final run)? */
  canClimb: boolean;
  /** Epochs of every run at the full-data rung (null before it). */
  rungEpochs: number | null;
  /** Does the study search the learning rate in powers of ten before anything else (the notes' ladder)? */
  rateLadder: boolean;
  /** Learning-rate ladder runs (stabilise actions on a stable run) at the subset rung. */
  ladderRuns: number;
}

export interface TuneInput {
  standing: Configuration;
  budget: BudgetFacts;
  /** See TuneContext.canClimb (default false: one rung). */
  canClimb?: boolean;
  /** See TuneContext.rateLadder (default false: the rate moves only on a diverged or too slow run). */
  rateLadder?: boolean;
}

/** Ladder runs after which the study leaves the stabilise step whatever the policy asks (a bound on a policy that keeps laddering). */
export const LADDER_MAX = 3;

/**
 * Refusals in a row after which the policy is taken to be broken (a user error, exit 2) — unless
 * every one of them was the budget's (sound candidates the search time left cannot pay for):
 * then the search is over and the study finalises.
 */
export const MAX_REFUSALS = 5;
/** maxEpochs beyond which the machine stops adding epochs (the notes saw convergence by 100). */
export const EPOCHS_CAP = 100;

// ───────────────────────────── pure helpers the guards and actions call ─────────────────────────────

const NO_EVIDENCE: RunEvidence = { unstable: false, tooSlow: false, stillImproving: false, valLossRising: false, overfittingGap: false, gap: null };

/** The rails' view of the context. */
export function railState(context: TuneContext): RailState {
  return {
    step: context.step,
    standing: context.incumbent?.evidence ?? NO_EVIDENCE,
    subject: context.subject ? { runId: context.subject.runId, isStanding: context.subject.isStanding, unstable: context.subject.evidence.unstable } : null,
    triedAtStanding: context.triedAtStanding,
    trimmed: context.trimmed,
    epochsExhausted: context.epochsExhausted,
    fidelity: context.fidelity ?? 'subset',
    rateOpen: context.rateLadder === true && (context.fidelity ?? 'subset') === 'subset' && (context.ladderRuns ?? 0) < LADDER_MAX,
  };
}

/** Why the machine refuses a decision, or null: the rails, then the budget (budgetLeft). */
export function decisionRefusal(context: Pick<TuneContext, 'budget'> & { rails: RailState }, outcome: DecideOutcome): string | null {
  const rails = refusal(outcome.decision.action, context.rails);
  if (rails) return rails;
  const left = context.budget.searchSecondsLeft;
  if (outcome.estimatedSeconds !== null && left !== null && outcome.estimatedSeconds > left) {
    return `its run would take about ${Math.round(outcome.estimatedSeconds)} s, more than the ${Math.max(0, Math.round(left))} s of search time left (budgetLeft)`;
  }
  if (outcome.change !== null && context.budget.runsLeft !== null && context.budget.runsLeft <= 0) return 'no search runs left (budgetLeft)';
  const total = context.budget.secondsLeft ?? null;
  const final = outcome.estimatedFinalSeconds ?? null;
  if (outcome.estimatedSeconds !== null && final !== null && total !== null && outcome.estimatedSeconds + final > total) {
    return (
      `it would leave no time to train it properly: its run (about ${Math.round(outcome.estimatedSeconds)} s) and the final run it would need ` +
      `(about ${Math.round(final)} s at its speed) exceed the ${Math.max(0, Math.round(total))} s left (budgetLeft)`
    );
  }
  return null;
}

