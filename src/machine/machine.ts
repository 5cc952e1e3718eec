/**
 * The expert's training flowchart as an XState v5 machine.
 *
 * States follow the flowchart's order (FLOWCHART.md): baseline → stabilise → trainEnough →
 * trimEpochs → regularise → capacity → finalise → done. After each run the machine asks the
 * policy (`decideNext`) what to do; the action chosen decides the next state. Training, deciding
 * and finalising are invoked actors (one-line wrappers in study.ts around plain async functions),
 * so tests swap them with `machine.provide({ actors: { ... } })`.
 *
 * The context is small and JSON-safe: the full run records live in the study store.
 */
import { assign, fromPromise, setup } from 'xstate';
import type { ActionName, Decision, Stage, Verdict } from '../types.ts';
import { judgeRun, nextRun, trimmed, type PendingRun, type Standing, STAGE_OF_ACTION } from './plan.ts';

/** What a finished training run reports back to the machine. */
export interface RunOutcome {
  runId: number;
  bestValLoss: number | null;
  bestEpoch: number | null;
  epochsCompleted: number;
  learnRate: number;
}

/** What the policy step reports back. */
export interface DecideOutcome {
  decision: Decision;
  /** True when the budget, not the policy, ended the search. */
  budgetExhausted: boolean;
}

export interface TrainInput {
  pending: PendingRun;
  /** What the run is judged against (`judgeRun`), so its stored record carries its verdict. */
  incumbentBestValLoss: number | null;
  isBaseline: boolean;
}

export interface DecideInput {
  stage: Stage;
  standing: Standing;
  lastRunId: number;
  incumbentId: number;
  tried: ActionName[];
}

export interface FinaliseInput {
  standing: Standing;
  incumbentId: number;
  runId: number;
  reason: string;
}

export interface TuneContext {
  /** The stage the last finished step belongs to (what the policy is told). */
  stage: Stage;
  nextRunId: number;
  standing: Standing;
  incumbent: { id: number; bestValLoss: number | null; bestEpoch: number | null; epochs: number } | null;
  lastRun: RunOutcome | null;
  pending: PendingRun | null;
  decision: Decision | null;
  tried: ActionName[];
  budgetExhausted: boolean;
  finalRunId: number | null;
  error: string | null;
}

export interface TuneInput {
  standing: Standing;
}

type FinaliseOutcome = { runId: number };

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function trainInput(context: TuneContext): TrainInput {
  const pending = context.pending!;
  return {
    pending,
    incumbentBestValLoss: context.incumbent?.bestValLoss ?? null,
    isBaseline: context.incumbent === null || pending.stage === 'baseline',
  };
}

/** The verdict of a finished run, from the same input the trainer was given. */
export function verdictOf(input: TrainInput, bestValLoss: number | null): Verdict {
  return judgeRun(bestValLoss, input.incumbentBestValLoss, input.isBaseline);
}

/** The invoke block of a stage that trains one run and then asks the policy. */
function trainingState(stage: Stage, description: string) {
  return {
    description,
    entry: { type: 'setStage' as const, params: { stage } },
    invoke: {
      id: 'trainRun',
      src: 'trainRun' as const,
      input: ({ context }: { context: TuneContext }): TrainInput => trainInput(context),
      onDone: { target: 'deciding', actions: 'recordRun' as const },
      onError: { target: 'failed', actions: 'recordFailure' as const },
    },
  };
}

export const tuneMachine = setup({
  types: {
    context: {} as TuneContext,
    input: {} as TuneInput,
  },
  actors: {
    trainRun: fromPromise<RunOutcome, TrainInput>(async () => {
      throw new Error('trainRun is provided by the study (study.ts)');
    }),
    decideNext: fromPromise<DecideOutcome, DecideInput>(async () => {
      throw new Error('decideNext is provided by the study (study.ts)');
    }),
    finaliseStudy: fromPromise<FinaliseOutcome, FinaliseInput>(async () => {
      throw new Error('finaliseStudy is provided by the study (study.ts)');
    }),
  },
  guards: {
    isStop: ({ event }) => decisionOf(event).action === 'stop',
    isStabilise: ({ event }) => STAGE_OF_ACTION[decisionOf(event).action] === 'stabilise',
    isAddEpochs: ({ event }) => decisionOf(event).action === 'addEpochs',
    isTrim: ({ event }) => decisionOf(event).action === 'trimEpochs',
    isRegularise: ({ event }) => STAGE_OF_ACTION[decisionOf(event).action] === 'regularise',
    isCapacity: ({ event }) => STAGE_OF_ACTION[decisionOf(event).action] === 'capacity',
  },
  actions: {
    /** The flowchart stage the machine is in (what the policy is told). */
    setStage: assign((_, params: { stage: Stage }) => ({ stage: params.stage })),
    /** Store the run's outcome; a baseline or kept run becomes the incumbent and its configuration stands. */
    recordRun: assign(({ context, event }) => {
      const outcome = (event as unknown as { output: RunOutcome }).output;
      const pending = context.pending!;
      const verdict = verdictOf(trainInput(context), outcome.bestValLoss);
      const becomesIncumbent = verdict === 'baseline' || verdict === 'kept';
      return {
        lastRun: outcome,
        nextRunId: Math.max(context.nextRunId, outcome.runId + 1),
        pending: null,
        incumbent: becomesIncumbent
          ? { id: outcome.runId, bestValLoss: outcome.bestValLoss, bestEpoch: outcome.bestEpoch, epochs: outcome.epochsCompleted }
          : context.incumbent,
        standing: becomesIncumbent ? { network: pending.network, options: pending.options } : context.standing,
      };
    }),
    /** Remember the decision and the action tried. */
    recordDecision: assign(({ context, event }) => {
      const { decision, budgetExhausted } = (event as unknown as { output: DecideOutcome }).output;
      return { decision, budgetExhausted, tried: [...context.tried, decision.action] };
    }),
    /** Build the next run from the standing configuration and the decision. */
    prepareRun: assign(({ context }) => ({
      pending: nextRun(context.standing, context.decision!, {
        runId: context.nextRunId,
        incumbentId: context.incumbent?.id ?? null,
        incumbentEpochs: context.incumbent?.epochs ?? 0,
        lastLearnRate: context.lastRun?.learnRate ?? context.standing.options.initialLearnRate,
      }),
    })),
    /** trimEpochs needs no run: the standing maxEpochs moves to the validation-loss minimum. */
    trimStanding: assign(({ context }) => ({
      standing: trimmed(context.standing, context.decision!, context.incumbent?.bestEpoch ?? null),
    })),
    recordFailure: assign(({ event }) => ({
      error: errorMessage((event as unknown as { error: unknown }).error),
    })),
    recordFinal: assign(({ event }) => ({
      finalRunId: (event as unknown as { output: FinaliseOutcome }).output.runId,
    })),
  },
}).createMachine({
  id: 'tune',
  context: ({ input }) => ({
    stage: 'baseline',
    nextRunId: 2,
    standing: input.standing,
    incumbent: null,
    lastRun: null,
    pending: { ...input.standing, runId: 1, stage: 'baseline', parentId: null, change: null, continueFrom: null },
    decision: null,
    tried: [],
    budgetExhausted: false,
    finalRunId: null,
    error: null,
  }),
  initial: 'baseline',
  states: {
    baseline: trainingState('baseline', 'Train the starting network once with the starting options, to see where we are.'),
    deciding: {
      description: 'Diagnose the run just finished and ask the policy for the next step. "Each step is tried, measured on validation data, and kept only if it helps."',
      invoke: {
        id: 'decideNext',
        src: 'decideNext',
        input: ({ context }) => ({
          stage: context.stage,
          standing: context.standing,
          lastRunId: context.lastRun!.runId,
          incumbentId: context.incumbent?.id ?? context.lastRun!.runId,
          tried: context.tried,
        }),
        onDone: [
          { guard: 'isStop', target: 'finalise', actions: 'recordDecision' },
          { guard: 'isStabilise', target: 'stabilise', actions: ['recordDecision', 'prepareRun'] },
          { guard: 'isAddEpochs', target: 'trainEnough', actions: ['recordDecision', 'prepareRun'] },
          { guard: 'isTrim', target: 'trimEpochs', actions: ['recordDecision', 'trimStanding'] },
          { guard: 'isRegularise', target: 'regularise', actions: ['recordDecision', 'prepareRun'] },
          { guard: 'isCapacity', target: 'capacity', actions: ['recordDecision', 'prepareRun'] },
        ],
        onError: { target: 'failed', actions: 'recordFailure' },
      },
    },
    stabilise: trainingState(
      'stabilise',
      '1. Stabilise the learning rate: "NaN or divergence → lower InitialLearnRate by a power of ten (or clip gradients). Circling without converging → lower it. Learning that is stable but very slow → raise it by a power of ten."',
    ),
    trainEnough: trainingState(
      'trainEnough',
      '2. Train enough: "While loss is still falling at the end of the run (underfitting) → more epochs." Continues from the checkpoint, so only the new epochs cost time.',
    ),
    trimEpochs: {
      description: '3. Stop at the right time: "Where validation loss has a minimum and then rises → MaxEpochs at that minimum." No run: the standing configuration changes.',
      entry: { type: 'setStage', params: { stage: 'trimEpochs' } },
      always: { target: 'deciding' },
    },
    regularise: trainingState(
      'regularise',
      '4. Then treat overfitting: "A gap between training and validation → dropout (after convolutional or fully connected layers), L2 regularisation, a learning-rate schedule (piecewise drop)." Each kept only if validation loss improves.',
    ),
    capacity: trainingState(
      'capacity',
      '5. Then capacity: "Deeper (more convolutional blocks, with more filters than 20, not the same 20) or wider; tune filter sizes." Kept only if validation improves.',
    ),
    finalise: {
      description: 'Finalise: train the best configuration on the full training split, evaluate it once on the sealed test set, save the model.',
      entry: { type: 'setStage', params: { stage: 'finalise' } },
      invoke: {
        id: 'finaliseStudy',
        src: 'finaliseStudy',
        input: ({ context }) => ({
          standing: context.standing,
          incumbentId: context.incumbent?.id ?? context.lastRun!.runId,
          runId: context.nextRunId,
          reason: context.decision?.reason ?? '',
        }),
        onDone: { target: 'done', actions: 'recordFinal' },
        onError: { target: 'failed', actions: 'recordFailure' },
      },
    },
    done: { type: 'final', description: 'The study is finished: the report holds the final test accuracy and the saved model.' },
    failed: { type: 'final', description: 'A run, the policy or the final evaluation failed; every finished run is kept in the store.' },
  },
});

function decisionOf(event: unknown): Decision {
  return (event as { output: DecideOutcome }).output.decision;
}

export type TuneMachine = typeof tuneMachine;
