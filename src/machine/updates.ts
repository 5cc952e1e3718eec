/**
 * The machine's context updates (machine.ts's assign actions), as pure functions of its context
 * and the event's output, and its starting context. The machine wires them to its states; the
 * flowchart's routing is rails.ts, the verdicts verdict.ts, the final run's plan final-run.ts.
 */
import { ACTIONS, type Change, type Decision } from '../actions.ts';
import { rungOptions } from './budget.ts';
import { refusal } from './rails.ts';
import {
  EPOCHS_CAP,
  MAX_REFUSALS,
  decisionRefusal,
  railState,
  type DecideOutcome,
  type EvaluateOutcome,
  type FinalistsOutcome,
  type PendingRun,
  type RunFacts,
  type RungOutcome,
  type TuneContext,
  type TuneInput,
} from './context.ts';

/** What an assign action receives that its update reads. */
type Args = { context: TuneContext; event: unknown };

/** The output of the actor whose done event this is. */
export function outputOf<T>(event: unknown): T {
  return (event as { output: T }).output;
}

/** The search's time or runs are spent. */
export function searchSpent(context: TuneContext): boolean {
  const { searchSecondsLeft, runsLeft } = context.budget;
  return (searchSecondsLeft !== null && searchSecondsLeft <= 0) || (runsLeft !== null && runsLeft <= 0);
}

/** A run as the subject a stabilise action would fix (the standing one, or a diverged candidate). */
export function subjectOf(facts: RunFacts, isStanding: boolean): RunFacts & { isStanding: boolean } {
  return { ...facts, isStanding };
}

/**
 * The run a policy's accepted decision trains: the changed configuration, at the full-data rung with
 * the rung's epochs (annealed, whatever the change). The study also trains the policy's next choice
 * ahead with it (study/ahead.ts).
 */
export function candidateRun(a: {
  decision: Decision;
  change: Change;
  runId: number;
  fidelity: TuneContext['fidelity'];
  rungEpochs: number | null;
  incumbentId: number | null;
  subject: { runId: number; isStanding: boolean };
}): PendingRun {
  return {
    network: a.change.network,
    options: a.rungEpochs !== null ? { ...a.change.options, ...rungOptions(a.rungEpochs) } : a.change.options,
    fidelity: a.fidelity,
    runId: a.runId,
    stage: ACTIONS[a.decision.action].step,
    kind: 'search',
    parentId: a.incumbentId,
    basedOn: a.subject.isStanding ? null : a.subject.runId,
    change: a.decision,
    continueFrom: a.change.continues ? a.subject.runId : null,
    replicateOf: null,
  };
}

/**
 * A close call's replicate of a candidate: the same configuration with another seed (+1000), from
 * the start, pooled with the candidate it repeats. The study also trains it ahead, beside its
 * candidate, when it has room for more than one run (study/ahead.ts).
 */
export function replicateRun(original: PendingRun, runId: number): PendingRun {
  return {
    ...original,
    options: { ...original.options, seed: original.options.seed + 1000 },
    runId,
    kind: 'replicate',
    continueFrom: null,
    replicateOf: original.replicateOf ?? original.runId,
  };
}

/** The context a study starts with: the baseline run pending. */
export function initialContext(input: TuneInput): TuneContext {
  return {
    step: 'baseline',
    nextRunId: 2,
    standing: input.standing,
    incumbent: null,
    subject: null,
    candidate: null,
    verdict: null,
    replicated: false,
    pending: { ...input.standing, runId: 1, stage: 'baseline', kind: 'search', parentId: null, basedOn: null, change: null, continueFrom: null, replicateOf: null },
    refused: [],
    budgetRefusals: 0,
    outcome: null,
    outcomeRefusal: null,
    tried: [],
    triedAtStanding: [],
    trimmed: false,
    epochsExhausted: false,
    budget: input.budget,
    budgetExhausted: false,
    confirm: [],
    confirmIndex: 0,
    winner: null,
    finalRunId: null,
    error: null,
    fidelity: 'subset',
    canClimb: input.canClimb ?? false,
    rateLadder: input.rateLadder ?? false,
    rungEpochs: null,
    ladderRuns: 0,
  };
}

export const UPDATES = {
  /** The baseline's facts: it is the first incumbent (and the subject when it diverged). */
  recordBaseline: ({ event }: Args): Partial<TuneContext> => {
    const { facts, budget } = outputOf<EvaluateOutcome>(event);
    return { incumbent: facts, candidate: facts, budget, subject: subjectOf(facts, true) };
  },
  recordEvaluation: ({ event }: Args): Partial<TuneContext> => {
    const { facts, verdict, budget } = outputOf<EvaluateOutcome>(event);
    return { candidate: facts, verdict, budget };
  },
  /** The policy's answer arrives: stored with its refusal (rails, then budget), computed once. */
  storeOutcome: ({ context, event }: Args): Partial<TuneContext> => {
    const outcome = outputOf<DecideOutcome>(event);
    const rails = railState(context);
    const reason = decisionRefusal({ ...context, rails }, outcome);
    return { outcome, outcomeRefusal: reason === null ? null : { reason, byBudget: refusal(outcome.decision.action, rails) === null } };
  },
  recordRefusal: ({ context }: Args): Partial<TuneContext> => ({
    refused: [...context.refused, { decision: context.outcome!.decision, reason: context.outcomeRefusal!.reason }],
    budgetRefusals: (context.budgetRefusals ?? 0) + (context.outcomeRefusal!.byBudget ? 1 : 0),
  }),
  /** The policy's accepted decision, and the run it leads to. */
  recordDecision: ({ context }: Args): Partial<TuneContext> => {
    const { decision, change } = context.outcome!;
    const subject = context.subject ?? subjectOf(context.incumbent!, true);
    const runId = context.nextRunId;
    const pending: PendingRun | null =
      change && ACTIONS[decision.action].trains
        ? candidateRun({ decision, change, runId, fidelity: context.fidelity, rungEpochs: context.fidelity === 'full' ? context.rungEpochs : null, incumbentId: context.incumbent?.runId ?? null, subject })
        : null;
    return {
      pending,
      refused: [],
      budgetRefusals: 0,
      replicated: false,
      nextRunId: pending ? runId + 1 : runId,
      tried: [...context.tried, decision.action],
      triedAtStanding: [...context.triedAtStanding, decision.action],
      // A stabilise action on a stable run is a step of the learning-rate ladder.
      ladderRuns: (context.ladderRuns ?? 0) + (pending && ACTIONS[decision.action].step === 'stabilise' && !subject.evidence.unstable ? 1 : 0),
    };
  },
  /** The full-data rung: its epochs, and its first run (the standing configuration on all the training images). */
  recordRungPlan: ({ context, event }: Args): Partial<TuneContext> => {
    const { pending, epochs } = outputOf<RungOutcome>(event);
    return { pending, rungEpochs: epochs, nextRunId: pending ? pending.runId + 1 : context.nextRunId };
  },
  /**
   * The rung's first run is its incumbent: the flowchart starts again from it (nothing tried at
   * this rung yet; the length is the rung's, so epochs are settled and nothing is to trim).
   */
  recordRungBaseline: ({ event }: Args): Partial<TuneContext> => {
    const { facts, budget } = outputOf<EvaluateOutcome>(event);
    return {
      fidelity: 'full' as const,
      step: 'regularise' as const,
      incumbent: facts,
      candidate: facts,
      standing: facts.configuration,
      subject: subjectOf(facts, true),
      budget,
      tried: [],
      triedAtStanding: [],
      trimmed: true,
      epochsExhausted: true,
      refused: [],
      budgetRefusals: 0,
      pending: null,
    };
  },
  /** A close call: the same candidate again with another seed. */
  prepareReplicate: ({ context }: Args): Partial<TuneContext> => {
    const runId = context.nextRunId;
    return { replicated: true, nextRunId: runId + 1, pending: replicateRun(context.pending!, runId) };
  },
  /** Kept: the candidate becomes the incumbent and its configuration stands. */
  promoteCandidate: ({ context }: Args): Partial<TuneContext> => {
    const candidate = context.candidate!;
    return {
      incumbent: candidate,
      standing: candidate.configuration,
      subject: subjectOf(candidate, true),
      triedAtStanding: [],
      trimmed: false,
      epochsExhausted: candidate.configuration.options.maxEpochs >= EPOCHS_CAP,
      pending: null,
    };
  },
  /** Reverted: the incumbent stands; a diverged candidate becomes the subject to fix first. */
  revertCandidate: ({ context }: Args): Partial<TuneContext> => {
    const candidate = context.candidate!;
    return {
      subject: candidate.evidence.unstable ? subjectOf(candidate, false) : subjectOf(context.incumbent!, true),
      // The candidate's decision is the accepted outcome (the policy is not asked again until the next step).
      epochsExhausted: context.epochsExhausted || (context.outcome != null && ACTIONS[context.outcome.decision.action].exhaustsStep),
      pending: null,
    };
  },
  /** revert: give the diverged candidate up; the standing run is the subject again. */
  revertSubject: ({ context }: Args): Partial<TuneContext> => ({ subject: subjectOf(context.incumbent!, true) }),
  /** trimEpochs needs no run: the standing maxEpochs moves to the smoothed validation-loss minimum. */
  applyTrim: ({ context }: Args): Partial<TuneContext> => ({
    standing: { network: context.standing.network, options: context.outcome?.change?.options ?? context.standing.options },
    trimmed: true,
  }),
  recordStop: ({ context }: Args): Partial<TuneContext> => ({ budgetExhausted: searchSpent(context) }),
  /** The policy's last candidates all cost more than the search time left: the search is over. */
  searchUnaffordable: (): Partial<TuneContext> => ({ budgetExhausted: true }),
  recordFinalists: ({ context, event }: Args): Partial<TuneContext> => {
    const { confirm, winner } = outputOf<FinalistsOutcome>(event);
    const last = confirm.at(-1);
    return { confirm, confirmIndex: 0, winner, nextRunId: last ? last.runId + 1 : context.nextRunId };
  },
  nextFinalist: ({ context }: Args): Partial<TuneContext> => ({ confirmIndex: context.confirmIndex + 1 }),
  /** The second finalist's verdict against the first decides which goes on to the final run. */
  pickWinner: ({ context, event }: Args): Partial<TuneContext> => {
    const { verdict } = outputOf<EvaluateOutcome>(event);
    const [first, second] = context.confirm;
    return { winner: second && verdict?.kept ? second.runId : first.runId };
  },
  recordFinalRun: ({ context, event }: Args): Partial<TuneContext> => {
    const { pending } = outputOf<{ pending: PendingRun | null }>(event);
    return { pending, finalRunId: pending?.runId ?? null, nextRunId: pending ? pending.runId + 1 : context.nextRunId };
  },
  recordFailure: ({ event }: Args): Partial<TuneContext> => {
    const error = (event as { error?: unknown }).error;
    const user = error instanceof Error && error.name === 'UserError';
    return { error: { message: error instanceof Error ? error.message : String(error), user } };
  },
  policyBroken: ({ context }: Args): Partial<TuneContext> => ({
    error: {
      user: true,
      message:
        `the policy asked for ${MAX_REFUSALS} actions in a row that the flowchart does not allow at step ${context.step}: ` +
        context.refused.map((r) => `${r.decision.action} (${r.reason})`).join('; ') +
        `. Allowed there: see the report; return one of context.allowed`,
    },
  }),
} satisfies Record<string, (args: Args) => Partial<TuneContext>>;
