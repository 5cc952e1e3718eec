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
 * Its context updates (the assign actions) are pure functions in updates.ts. Work is done by invoked actors, one-line wrappers in the study (study/adapters.ts) around
 * plain async functions; tests swap them with `machine.provide({ actors })`. The context is
 * small and JSON-safe: full run records live in the study store.
 */
import { assign, fromPromise, setup } from 'xstate';
import { ACTIONS, type Step } from '../actions.ts';
import type { Stage } from '../types.ts';
import {
  MAX_REFUSALS,
  railState,
  type DecideInput,
  type DecideOutcome,
  type EvaluateInput,
  type EvaluateOutcome,
  type FinalInput,
  type FinalistsOutcome,
  type PendingRun,
  type RungOutcome,
  type TuneContext,
  type TuneInput,
} from './context.ts';
import { allowedActions, nextStep } from './rails.ts';
import { UPDATES, initialContext, outputOf, searchSpent, subjectOf } from './updates.ts';

export * from './context.ts';

function routeTo(step: Step) {
  return ({ context }: { context: TuneContext }) => !searchSpent(context) && nextStep(railState(context)) === step;
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
    recordBaseline: assign(UPDATES.recordBaseline),
    recordEvaluation: assign(UPDATES.recordEvaluation),
    storeOutcome: assign(UPDATES.storeOutcome),
    recordRefusal: assign(UPDATES.recordRefusal),
    recordDecision: assign(UPDATES.recordDecision),
    recordRungPlan: assign(UPDATES.recordRungPlan),
    recordRungBaseline: assign(UPDATES.recordRungBaseline),
    prepareReplicate: assign(UPDATES.prepareReplicate),
    promoteCandidate: assign(UPDATES.promoteCandidate),
    revertCandidate: assign(UPDATES.revertCandidate),
    revertSubject: assign(UPDATES.revertSubject),
    applyTrim: assign(UPDATES.applyTrim),
    recordStop: assign(UPDATES.recordStop),
    searchUnaffordable: assign(UPDATES.searchUnaffordable),
    recordFinalists: assign(UPDATES.recordFinalists),
    nextFinalist: assign(UPDATES.nextFinalist),
    pickWinner: assign(UPDATES.pickWinner),
    recordFinalRun: assign(UPDATES.recordFinalRun),
    recordFailure: assign(UPDATES.recordFailure),
    policyBroken: assign(UPDATES.policyBroken),
  },
}).createMachine({
  id: 'tune',
  context: ({ input }) => initialContext(input),
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
            allowed: allowedActions(rails),
            refused: context.refused,
            standing: context.standing,
            incumbentId: context.incumbent!.runId,
            lastRunId: context.candidate!.runId,
            subject: context.subject ?? subjectOf(context.incumbent!, true),
            tried: context.tried,
            budget: context.budget,
            nextRunId: context.nextRunId,
            rungEpochs: context.fidelity === 'full' ? context.rungEpochs : null,
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
            // The first side may start the others beside it (equal time, on other queue workers).
            training: trainThen(
              ({ context }: { context: TuneContext }) =>
                context.confirmIndex === 0 ? { ...context.confirm[0], alongside: context.confirm.slice(1) } : context.confirm[context.confirmIndex],
              'evaluating',
            ),
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
