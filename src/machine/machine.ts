/**
 * The expert's training flowchart (FLOWCHART.md) as an XState v5 machine. Its states ARE the
 * flowchart's steps:
 *
 *   baseline ─► route ─► deciding ─► stabilise │ trainEnough │ trimEpochs │ regularise │ capacity ─► route …
 *                 └──────────────────────────► finalise: finalists → confirm → plan → train → choose → test → save ─► done
 *
 * - `route` is the flowchart's diamond: the evidence about the standing run picks the step
 *   (named guards: runDiverged, then routesToStabilise, routesToTrainEnough, routesToTrimEpochs,
 *   routesToRegularise — each true when the rails' order, rails.ts nextStep over the steps' RULES
 *   preconditions, picks that step; searchBudgetSpent sends the study to finalise). Steps only go forward, except that a
 *   diverged run always sends it back to stabilise.
 * - `deciding` asks the policy for one of the actions the step allows (rails.ts). An action the
 *   step does not allow, or that the search time left cannot pay for, is refused with the
 *   reason and the policy is asked again. Five refusals in a row fail the study as the policy's
 *   fault, unless all five were the budget's: then the search is over and the study finalises.
 * - A step tries its candidate: train it, evaluate it on the fixed validation set, judge it
 *   against the incumbent (paired, with a noise margin: verdict.ts). A close call gets a
 *   replicate with another seed before the verdict stands. Kept candidates become the standing
 *   configuration; the rest are reverted.
 * - `climbing`: when the policy has nothing left to try on the search subset and the search time
 *   left affords it, the flowchart is walked again on all the training images (the full-data rung,
 *   every run the rung's epochs, annealed), from the standing configuration.
 * - `finalise` is a sequence: pick the finalists (a larger tie whose final run the budget pays
 *   for, else a much cheaper one, is confirmed against the incumbent on the full training split,
 *   for equal time), plan the final run from the time left (no longer than a converged network
 *   is worth),
 *   train it, choose the final weights, evaluate once on the sealed test set, save the model.
 *
 * Work is done by invoked actors, one-line wrappers in the study (study/adapters.ts) around
 * plain async functions; tests swap them with `machine.provide({ actors })`. The context is
 * small and JSON-safe: full run records live in the study store.
 */
import { assign, fromPromise, setup } from 'xstate';
import { ACTIONS, type ActionName, type Step } from '../actions.ts';
import type { Stage } from '../types.ts';
import {
  EPOCHS_CAP,
  MAX_REFUSALS,
  decisionRefusal,
  railState,
  type DecideInput,
  type DecideOutcome,
  type EvaluateInput,
  type EvaluateOutcome,
  type FinalInput,
  type FinalistsOutcome,
  type PendingRun,
  type RunFacts,
  type RungOutcome,
  type TuneContext,
  type TuneInput,
} from './context.ts';
import { rungOptions } from './budget.ts';
import { nextStep, refusal } from './rails.ts';

export * from './context.ts';

function outputOf<T>(event: unknown): T {
  return (event as { output: T }).output;
}

function routeTo(step: Step) {
  return ({ context }: { context: TuneContext }) => !searchSpent(context) && nextStep(railState(context)) === step;
}

function searchSpent(context: TuneContext): boolean {
  const { searchSecondsLeft, runsLeft } = context.budget;
  return (searchSecondsLeft !== null && searchSecondsLeft <= 0) || (runsLeft !== null && runsLeft <= 0);
}

function subjectOf(facts: RunFacts, isStanding: boolean): RunFacts & { isStanding: boolean } {
  return { ...facts, isStanding };
}

/** Any actor failing ends the study in `failed`, its error recorded (finished runs stay in the store). */
const onError = { target: '#tune.failed', actions: 'recordFailure' as const };

/** A state that trains the run `input` picks, then goes to `next`. */
function trainThen(input: (args: { context: TuneContext }) => PendingRun, next: string) {
  return { invoke: { id: 'trainRun', src: 'trainRun' as const, input, onDone: { target: next }, onError } };
}

/** The block of a step that tries one candidate: train → evaluate → judge (→ replicate → judge). */
function tryCandidate(step: Step, description: string) {
  return {
    description,
    entry: { type: 'setStep' as const, params: { step } },
    initial: 'training' as const,
    states: {
      training: trainThen(({ context }: { context: TuneContext }) => context.pending!, 'evaluating'),
      evaluating: {
        invoke: {
          id: 'evaluateRun',
          src: 'evaluateRun' as const,
          input: ({ context }: { context: TuneContext }): EvaluateInput => ({
            runId: context.pending!.runId,
            against: context.incumbent?.runId ?? null,
            replicateOf: context.pending!.replicateOf,
          }),
          onDone: { target: 'judging', actions: 'recordEvaluation' as const },
          onError,
        },
      },
      judging: {
        description: '"Each step is tried, measured on validation data, and kept only if it helps": paired, beyond the noise margin.',
        always: [
          { guard: 'closeCall' as const, target: 'training', actions: 'prepareReplicate' as const },
          { guard: 'candidateKept' as const, target: '#tune.route', actions: 'promoteCandidate' as const },
          { target: '#tune.route', actions: 'revertCandidate' as const },
        ],
      },
    },
  };
}

// ───────────────────────────── the machine ─────────────────────────────

export const tuneMachine = setup({
  types: {
    context: {} as TuneContext,
    input: {} as TuneInput,
  },
  actors: {
    trainRun: fromPromise<{ runId: number }, PendingRun>(async () => {
      throw new Error('trainRun is provided by the study');
    }),
    evaluateRun: fromPromise<EvaluateOutcome, EvaluateInput>(async () => {
      throw new Error('evaluateRun is provided by the study');
    }),
    decideNext: fromPromise<DecideOutcome, DecideInput>(async () => {
      throw new Error('decideNext is provided by the study');
    }),
    planRung: fromPromise<RungOutcome, { incumbentId: number; nextRunId: number }>(async () => {
      throw new Error('planRung is provided by the study');
    }),
    chooseFinalists: fromPromise<FinalistsOutcome, { incumbentId: number; budgetExhausted: boolean; nextRunId: number }>(async () => {
      throw new Error('chooseFinalists is provided by the study');
    }),
    planFinalRun: fromPromise<{ pending: PendingRun | null }, FinalInput>(async () => {
      throw new Error('planFinalRun is provided by the study');
    }),
    chooseFinalWeights: fromPromise<{ runId: number }, { finalRunId: number | null; alternative: number }>(async () => {
      throw new Error('chooseFinalWeights is provided by the study');
    }),
    testFinal: fromPromise<void, { runId: number }>(async () => {
      throw new Error('testFinal is provided by the study');
    }),
    saveModel: fromPromise<void, { runId: number }>(async () => {
      throw new Error('saveModel is provided by the study');
    }),
  },
  guards: {
    // ── route: what the evidence about the standing run calls for
    searchBudgetSpent: ({ context }) => searchSpent(context),
    runDiverged: ({ context }) => !searchSpent(context) && context.subject?.evidence.unstable === true,
    // The rails' order (rails.ts nextStep over each step's RULES precondition) sends the study to this step.
    routesToStabilise: routeTo('stabilise'),
    routesToTrainEnough: routeTo('trainEnough'),
    routesToTrimEpochs: routeTo('trimEpochs'),
    routesToRegularise: routeTo('regularise'),
    // ── deciding
    // ── decided: the policy's answer and its refusal, stored once (storeOutcome)
    policyKeepsRefused: ({ context }) => context.refused.length + 1 >= MAX_REFUSALS && context.outcomeRefusal != null,
    // The streak's refusals were all the budget's, not the rails': the policy asks for sound
    // candidates the time left cannot pay for. That ends the search, not the study.
    nothingAffordable: ({ context }) =>
      context.refused.length + 1 >= MAX_REFUSALS && context.outcomeRefusal?.byBudget === true && (context.budgetRefusals ?? 0) === context.refused.length,
    actionRefused: ({ context }) => context.outcomeRefusal != null,
    isStop: ({ context }) => ACTIONS[context.outcome!.decision.action].kind === 'stop',
    // "Fidelity is a ladder": the subset's flowchart is done; the study may walk it again on all the training images.
    subsetDoneCanClimb: ({ context }) => ACTIONS[context.outcome!.decision.action].kind === 'stop' && context.fidelity === 'subset' && context.canClimb,
    rungPlanned: ({ event }) => outputOf<RungOutcome>(event).pending !== null,
    isRevert: ({ context }) => ACTIONS[context.outcome!.decision.action].kind === 'revert',
    // An edit of the standing configuration without a run (the registry's kind: trimEpochs).
    isEdit: ({ context }) => ACTIONS[context.outcome!.decision.action].kind === 'edit',
    actionOfStep: ({ context }, params: { step: Step }) => ACTIONS[context.outcome!.decision.action].step === params.step,
    // ── judging
    closeCall: ({ context }) =>
      context.verdict !== null &&
      context.verdict.close &&
      !context.replicated &&
      (context.budget.searchSecondsLeft === null || context.verdict.replicateSeconds <= context.budget.searchSecondsLeft) &&
      (context.budget.runsLeft === null || context.budget.runsLeft > 0),
    candidateKept: ({ context }) => context.verdict?.kept === true,
    // ── finalise
    confirmNeeded: ({ event }) => outputOf<FinalistsOutcome>(event).confirm.length > 0,
    moreFinalists: ({ context }) => context.confirmIndex + 1 < context.confirm.length,
    retrain: ({ event }) => outputOf<{ pending: PendingRun | null }>(event).pending !== null,
  },
  actions: {
    setStep: assign((_, params: { step: Stage }) => ({ step: params.step })),
    /** The baseline's facts: it is the first incumbent (and the subject when it diverged). */
    recordBaseline: assign(({ event }) => {
      const { facts, budget } = outputOf<EvaluateOutcome>(event);
      return { incumbent: facts, candidate: facts, budget, subject: subjectOf(facts, true) };
    }),
    recordEvaluation: assign(({ event }) => {
      const { facts, verdict, budget } = outputOf<EvaluateOutcome>(event);
      return { candidate: facts, verdict, budget };
    }),
    /** The policy's answer arrives: stored with its refusal (rails, then budget), computed once. */
    storeOutcome: assign(({ context, event }) => {
      const outcome = outputOf<DecideOutcome>(event);
      const rails = railState(context);
      const reason = decisionRefusal({ ...context, rails }, outcome);
      return { outcome, outcomeRefusal: reason === null ? null : { reason, byBudget: refusal(outcome.decision.action, rails) === null } };
    }),
    recordRefusal: assign(({ context }) => ({
      refused: [...context.refused, { decision: context.outcome!.decision, reason: context.outcomeRefusal!.reason }],
      budgetRefusals: (context.budgetRefusals ?? 0) + (context.outcomeRefusal!.byBudget ? 1 : 0),
    })),
    /** The policy's accepted decision, and the run it leads to. */
    recordDecision: assign(({ context }) => {
      const { decision, change, estimatedSeconds } = context.outcome!;
      const subject = context.subject ?? subjectOf(context.incumbent!, true);
      const runId = context.nextRunId;
      const full = context.fidelity === 'full' && context.rungEpochs !== null;
      const pending: PendingRun | null = change && ACTIONS[decision.action].trains
        ? {
            network: change.network,
            // At the full-data rung every run trains the rung's epochs, annealed, whatever the change.
            options: full ? { ...change.options, ...rungOptions(context.rungEpochs!) } : change.options,
            fidelity: context.fidelity,
            runId,
            stage: ACTIONS[decision.action].step,
            kind: 'search',
            parentId: context.incumbent?.runId ?? null,
            basedOn: subject.isStanding ? null : subject.runId,
            change: decision,
            continueFrom: change.continues ? subject.runId : null,
            replicateOf: null,
          }
        : null;
      return {
        decision,
        change,
        estimatedSeconds,
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
    }),
    /** The full-data rung: its epochs, and its first run (the standing configuration on all the training images). */
    recordRungPlan: assign(({ context, event }) => {
      const { pending, epochs } = outputOf<RungOutcome>(event);
      return { pending, rungEpochs: epochs, nextRunId: pending ? pending.runId + 1 : context.nextRunId };
    }),
    /**
     * The rung's first run is its incumbent: the flowchart starts again from it (nothing tried at
     * this rung yet; the length is the rung's, so epochs are settled and nothing is to trim).
     */
    recordRungBaseline: assign(({ event }) => {
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
    }),
    /** A close call: the same candidate again with another seed. */
    prepareReplicate: assign(({ context }) => {
      const original = context.pending!;
      const runId = context.nextRunId;
      return {
        replicated: true,
        nextRunId: runId + 1,
        pending: {
          ...original,
          options: { ...original.options, seed: original.options.seed + 1000 },
          runId,
          kind: 'replicate' as const,
          continueFrom: null,
          replicateOf: original.replicateOf ?? original.runId,
        },
      };
    }),
    /** Kept: the candidate becomes the incumbent and its configuration stands. */
    promoteCandidate: assign(({ context }) => {
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
    }),
    /** Reverted: the incumbent stands; a diverged candidate becomes the subject to fix first. */
    revertCandidate: assign(({ context }) => {
      const candidate = context.candidate!;
      return {
        subject: candidate.evidence.unstable ? subjectOf(candidate, false) : subjectOf(context.incumbent!, true),
        epochsExhausted: context.epochsExhausted || (context.decision !== null && ACTIONS[context.decision.action].exhaustsStep),
        pending: null,
      };
    }),
    /** revert: give the diverged candidate up; the standing run is the subject again. */
    revertSubject: assign(({ context }) => ({ subject: subjectOf(context.incumbent!, true) })),
    /** trimEpochs needs no run: the standing maxEpochs moves to the smoothed validation-loss minimum. */
    applyTrim: assign(({ context }) => ({
      standing: { network: context.standing.network, options: context.change?.options ?? context.standing.options },
      trimmed: true,
    })),
    recordStop: assign(({ context }) => ({ budgetExhausted: searchSpent(context) })),
    /** The policy's last candidates all cost more than the search time left: the search is over. */
    searchUnaffordable: assign(() => ({ budgetExhausted: true })),
    recordFinalists: assign(({ context, event }) => {
      const { confirm, winner } = outputOf<FinalistsOutcome>(event);
      const last = confirm.at(-1);
      return { confirm, confirmIndex: 0, winner, nextRunId: last ? last.runId + 1 : context.nextRunId };
    }),
    nextFinalist: assign(({ context }) => ({ confirmIndex: context.confirmIndex + 1 })),
    /** The second finalist's verdict against the first decides which goes on to the final run. */
    pickWinner: assign(({ context, event }) => {
      const { verdict } = outputOf<EvaluateOutcome>(event);
      const [first, second] = context.confirm;
      return { winner: second && verdict?.kept ? second.runId : first.runId };
    }),
    recordFinalRun: assign(({ context, event }) => {
      const { pending } = outputOf<{ pending: PendingRun | null }>(event);
      return { pending, finalRunId: pending?.runId ?? null, nextRunId: pending ? pending.runId + 1 : context.nextRunId };
    }),
    recordFailure: assign(({ event }) => {
      const error = (event as { error?: unknown }).error;
      const user = error instanceof Error && error.name === 'UserError';
      return { error: { message: error instanceof Error ? error.message : String(error), user } };
    }),
    policyBroken: assign(({ context }) => ({
      error: {
        user: true,
        message:
          `the policy asked for ${MAX_REFUSALS} actions in a row that the flowchart does not allow at step ${context.step}: ` +
          context.refused.map((r) => `${r.decision.action} (${r.reason})`).join('; ') +
          `. Allowed there: see the report; return one of context.allowed`,
      },
    })),
  },
}).createMachine({
  id: 'tune',
  context: ({ input }) => ({
    step: 'baseline',
    nextRunId: 2,
    standing: input.standing,
    incumbent: null,
    subject: null,
    candidate: null,
    verdict: null,
    replicated: false,
    pending: { ...input.standing, runId: 1, stage: 'baseline', kind: 'search', parentId: null, basedOn: null, change: null, continueFrom: null, replicateOf: null },
    decision: null,
    change: null,
    estimatedSeconds: null,
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
  }),
  initial: 'baseline',
  states: {
    baseline: {
      description: 'Train the starting network once with the starting options, and measure it on the validation set, to see where we are.',
      initial: 'training',
      states: {
        training: trainThen(({ context }: { context: TuneContext }) => context.pending!, 'evaluating'),
        evaluating: {
          invoke: {
            id: 'evaluateRun',
            src: 'evaluateRun',
            input: ({ context }) => ({ runId: context.pending!.runId, against: null, replicateOf: null }),
            onDone: { target: '#tune.route', actions: 'recordBaseline' },
            onError,
          },
        },
      },
    },
    route: {
      description: 'The flowchart, in order: which step does the evidence about the standing run call for? (Steps go forward only; a diverged run always goes back to stabilise.)',
      always: [
        { guard: 'searchBudgetSpent', target: 'finalise', actions: 'recordStop' },
        { guard: 'runDiverged', target: 'deciding', actions: { type: 'setStep', params: { step: 'stabilise' } } },
        { guard: 'routesToStabilise', target: 'deciding', actions: { type: 'setStep', params: { step: 'stabilise' } } },
        { guard: 'routesToTrainEnough', target: 'deciding', actions: { type: 'setStep', params: { step: 'trainEnough' } } },
        { guard: 'routesToTrimEpochs', target: 'deciding', actions: { type: 'setStep', params: { step: 'trimEpochs' } } },
        { guard: 'routesToRegularise', target: 'deciding', actions: { type: 'setStep', params: { step: 'regularise' } } },
        { target: 'deciding', actions: { type: 'setStep', params: { step: 'capacity' } } },
      ],
    },
    deciding: {
      description: 'The policy picks one of the actions this step allows, with its parameters and why. Anything else is refused, recorded with the reason, and the policy is asked again.',
      invoke: {
        id: 'decideNext',
            src: 'decideNext',
        input: ({ context }) => {
          const rails = railState(context);
          return {
            rails,
            allowed: (Object.keys(ACTIONS) as ActionName[]).filter((a) => refusal(a, rails) === null),
            refused: context.refused,
            standing: context.standing,
            incumbentId: context.incumbent!.runId,
            lastRunId: context.candidate!.runId,
            subject: context.subject ?? subjectOf(context.incumbent!, true),
            tried: context.tried,
            budget: context.budget,
          };
        },
        onDone: { target: 'decided', actions: 'storeOutcome' },
        onError,
      },
    },
    decided: {
      description: 'The answer, checked once against the rails and the budget: refused (and the policy asked again), or the step that tries it.',
      always: [
        { guard: 'nothingAffordable', target: 'finalise', actions: ['recordRefusal', 'searchUnaffordable'] },
        { guard: 'policyKeepsRefused', target: 'failed', actions: ['recordRefusal', 'policyBroken'] },
        { guard: 'actionRefused', target: 'deciding', actions: 'recordRefusal' },
        { guard: 'subsetDoneCanClimb', target: 'climbing', actions: 'recordDecision' },
        { guard: 'isStop', target: 'finalise', actions: ['recordDecision', 'recordStop'] },
        { guard: 'isRevert', target: 'route', actions: ['recordDecision', 'revertSubject'] },
        { guard: 'isEdit', target: 'trimEpochs', actions: 'recordDecision' },
        { guard: { type: 'actionOfStep', params: { step: 'stabilise' } }, target: 'stabilise', actions: 'recordDecision' },
        { guard: { type: 'actionOfStep', params: { step: 'trainEnough' } }, target: 'trainEnough', actions: 'recordDecision' },
        { guard: { type: 'actionOfStep', params: { step: 'regularise' } }, target: 'regularise', actions: 'recordDecision' },
        { guard: { type: 'actionOfStep', params: { step: 'capacity' } }, target: 'capacity', actions: 'recordDecision' },
      ],
    },
    stabilise: tryCandidate(
      'stabilise',
      '1. Stabilise the learning rate: "NaN or divergence → lower InitialLearnRate by a power of ten (or clip gradients). Circling without converging → lower it. Learning that is stable but very slow → raise it by a power of ten."',
    ),
    trainEnough: tryCandidate(
      'trainEnough',
      '2. Train enough: "While loss is still falling at the end of the run (underfitting) → more epochs." Continues from the checkpoint, so only the new epochs cost time.',
    ),
    trimEpochs: {
      description: '3. Stop at the right time: "Where validation loss has a minimum and then rises → MaxEpochs at that minimum." (the smoothed minimum). No run: the standing configuration changes.',
      entry: [{ type: 'setStep', params: { step: 'trimEpochs' } }, 'applyTrim'],
      always: { target: 'route' },
    },
    regularise: tryCandidate(
      'regularise',
      '4. Then treat overfitting: "A gap between training and validation → dropout (after convolutional or fully connected layers), L2 regularisation, a learning-rate schedule (piecewise drop)."',
    ),
    capacity: tryCandidate(
      'capacity',
      '5. Then capacity: "Deeper (more convolutional blocks, with more filters than 20, not the same 20) or wider; tune filter sizes." A slower network has to earn its cost (see finalise).',
    ),
    climbing: {
      description:
        'Fidelity is a ladder: the flowchart is done on the search subset and time is left, so the study walks it again on all the training images, ' +
        'from the standing configuration, every run the same epochs, annealed: "Each step is tried, measured on validation data, and kept only if it helps."',
      initial: 'planning',
      states: {
        planning: {
          invoke: {
            id: 'planRung',
            src: 'planRung',
            input: ({ context }) => ({ incumbentId: context.incumbent!.runId, nextRunId: context.nextRunId }),
            onDone: [
              { guard: 'rungPlanned', target: 'training', actions: 'recordRungPlan' },
              { target: '#tune.finalise', actions: 'recordStop' },
            ],
            onError,
          },
        },
        training: trainThen(({ context }: { context: TuneContext }) => context.pending!, 'evaluating'),
        evaluating: {
          invoke: {
            id: 'evaluateRun',
            src: 'evaluateRun',
            input: ({ context }) => ({ runId: context.pending!.runId, against: null, replicateOf: null }),
            onDone: { target: '#tune.route', actions: 'recordRungBaseline' },
            onError,
          },
        },
      },
    },
    finalise: {
      description: 'Finalise: the finalists, the final run planned from the time left, its weights chosen on validation, one evaluation on the sealed test set, the saved model.',
      entry: { type: 'setStep', params: { step: 'finalise' } },
      initial: 'choosingFinalists',
      states: {
        choosingFinalists: {
          description: 'Successive halving, cost-aware: a larger finalist the subset could not tell from the incumbent (when the budget pays for its final run; any costlier one it did not reject when the converged incumbent cannot use the time left), else a much cheaper one, is confirmed against it on the full training split, for equal time.',
          invoke: {
            id: 'chooseFinalists',
            src: 'chooseFinalists',
            input: ({ context }) => ({ incumbentId: context.incumbent!.runId, budgetExhausted: context.budgetExhausted, nextRunId: context.nextRunId }),
            onDone: [
              { guard: 'confirmNeeded', target: 'confirming', actions: 'recordFinalists' },
              { target: 'planning', actions: 'recordFinalists' },
            ],
            onError,
          },
        },
        confirming: {
          initial: 'training',
          states: {
            training: trainThen(({ context }: { context: TuneContext }) => context.confirm[context.confirmIndex], 'evaluating'),
            evaluating: {
              invoke: {
                id: 'evaluateRun',
            src: 'evaluateRun',
                input: ({ context }) => ({
                  runId: context.confirm[context.confirmIndex].runId,
                  against: context.confirmIndex > 0 ? context.confirm[0].runId : null,
                  replicateOf: null,
                }),
                onDone: [
                  { guard: 'moreFinalists', target: 'training', actions: 'nextFinalist' },
                  { target: '#tune.finalise.planning', actions: 'pickWinner' },
                ],
                onError,
              },
            },
          },
        },
        planning: {
          description: 'The final run in images, from the time left and the search’s evidence, with a learning-rate schedule where the evidence calls for one.',
          invoke: {
            id: 'planFinalRun',
            src: 'planFinalRun',
            input: ({ context }) => ({
              winner: context.winner ?? context.incumbent!.runId,
              continueFrom: context.confirm.some((r) => r.runId === context.winner) ? context.winner : null,
              runId: context.nextRunId,
            }),
            onDone: [
              { guard: 'retrain', target: 'training', actions: 'recordFinalRun' },
              { target: 'choosing', actions: 'recordFinalRun' },
            ],
            onError,
          },
        },
        training: trainThen(({ context }: { context: TuneContext }) => context.pending!, 'choosing'),
        choosing: {
          description: '"Kept only if it helps", for the final weights too: the final run against the finalist it retrains, paired on the validation set.',
          invoke: {
            id: 'chooseFinalWeights',
            src: 'chooseFinalWeights',
            input: ({ context }) => ({ finalRunId: context.finalRunId, alternative: context.winner ?? context.incumbent!.runId }),
            onDone: { target: 'testing', actions: assign(({ event }) => ({ winner: event.output.runId })) },
            onError,
          },
        },
        testing: {
          description: 'The one and only use of the sealed test set.',
          invoke: {
            id: 'testFinal',
            src: 'testFinal',
            input: ({ context }) => ({ runId: context.winner! }),
            onDone: { target: 'saving' },
            onError,
          },
        },
        saving: {
          invoke: {
            id: 'saveModel',
            src: 'saveModel',
            input: ({ context }) => ({ runId: context.winner! }),
            onDone: { target: '#tune.done' },
            onError,
          },
        },
      },
    },
    done: { type: 'final', description: 'The study is finished: the report holds the final test accuracy and the saved model.' },
    failed: { type: 'final', description: 'A run, the policy or the final evaluation failed; every finished run is kept in the store.' },
  },
});

export type TuneMachine = typeof tuneMachine;
