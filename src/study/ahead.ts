/**
 * Runs trained ahead. With room for more than one run at once (queue workers: the trainer's
 * `parallelRuns`), the study trains beside a search candidate the runs the machine may ask for
 * next: first the policy's next choice should the candidate not be kept (the usual verdict:
 * `nextIfReverted` asks the policy now, with the context it would then see), then the
 * candidate's replicate, what a close call asks for (machine/updates.ts `replicateRun`, the same
 * configuration with another seed). Each trains in a folder of its own (runs/ahead-HASH; on the
 * queue, a job id of its own), keyed by what it trains. When the machine then asks for a run that
 * trains exactly the same (network, options, images, warm start, time allowed), that run adopts it
 * instead of training it again; nothing else changes, so the decisions are those of one run at a
 * time, and a run trained ahead that the machine never asks for costs a worker's time, not the
 * study's. Not kept across a resume: a resumed study trains what it asks for.
 */
import { createHash } from 'node:crypto';
import { readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { ACTIONS, applyDecision, type Decision } from '../actions.ts';
import type { DecideInput, DecideOutcome, PendingRun } from '../machine/machine.ts';
import { allowedActions, nextStep } from '../machine/rails.ts';
import { candidateRun } from '../machine/updates.ts';
import { decideSafely } from '../policy-loader.ts';
import type { Judgement, PolicyContext, RunSummary } from '../types.ts';
import { deriveSeed, mulberry32 } from '../util/random.ts';
import { iterationsPerEpoch, runDir, trainAndValidation, type AheadRun, type StudyEnv, type TrainedRun } from './env.ts';

/**
 * The images a run trains and validates on: the search subset, the full-data rung, (confirm, final)
 * the full split, or (the final refit) the training and validation images together.
 */
export function dataFor(env: StudyEnv, p: PendingRun): { name: 'search' | 'rung' | 'full' | 'refit'; train: StudyEnv['full']['train']; validation: StudyEnv['full']['validation'] } {
  // The final refit trains on the validation images too, so it validates on none.
  const refit = p.kind === 'final' && p.trainOnValidation ? trainAndValidation(env) : null;
  if (refit) return { name: 'refit', train: refit, validation: { set: refit.set, indices: new Uint32Array(0) } };
  if (p.kind === 'confirm' || p.kind === 'final') return { name: 'full', ...env.full };
  // The full-data rung trains on all the training images and keeps the search's per-epoch validation subset for its curve.
  if (p.fidelity === 'full') return { name: 'rung', train: env.full.train, validation: env.search.validation };
  return { name: 'search', ...env.search };
}

/** The options a run trains with: one validation series, once per epoch, at its end. */
export function trainingOptionsFor(env: StudyEnv, p: PendingRun): PendingRun['options'] {
  return { ...p.options, validationFrequency: iterationsPerEpoch(dataFor(env, p).train, p.options.miniBatchSize) };
}

/** What a run trains, as a key: two pending runs with the same key train the same (their ids, stages and parents aside). */
export function trainingKey(env: StudyEnv, p: PendingRun): string {
  return JSON.stringify({ network: p.network, options: trainingOptionsFor(env, p), data: dataFor(env, p).name, continueFrom: p.continueFrom, seconds: p.seconds ?? null });
}

function aheadDir(env: StudyEnv, key: string): string {
  return path.join(env.dir, 'runs', `ahead-${createHash('sha256').update(key).digest('hex').slice(0, 12)}`);
}

/** Runs trained ahead that have not finished yet. */
function inFlight(env: StudyEnv): number {
  return [...env.aheadRuns.values()].filter((a) => !a.settled).length;
}

/**
 * Starts `p` ahead, in its own folder, when the trainer's `parallel` runs leave room beside the
 * `busy` runs training now (and it is not already trained or training ahead). `start` trains it
 * (adapters.ts startRun).
 */
export function trainAhead(
  env: StudyEnv,
  p: PendingRun,
  room: { parallel: number; busy: number },
  start: (p: PendingRun, dir: string, signals: { signal: AbortSignal; needed: AbortSignal }) => Promise<TrainedRun>,
): void {
  const key = trainingKey(env, p);
  if (env.aheadRuns.has(key)) return;
  if (room.parallel <= room.busy + inFlight(env)) return;
  const dir = aheadDir(env, key);
  // Its own stop: the study's, or clearAhead's when the machine never asks for it.
  const abort = new AbortController();
  const stop = () => abort.abort(env.abort.signal.reason);
  env.abort.signal.addEventListener('abort', stop, { once: true });
  const needed = new AbortController();
  const entry: AheadRun = { settled: false, abort, needed, run: start(p, dir, { signal: abort.signal, needed: needed.signal }) };
  entry.run
    .finally(() => {
      entry.settled = true;
      env.abort.signal.removeEventListener('abort', stop);
    })
    .catch(() => undefined); // its failure is adoptAhead's to report (the run then trains as usual)
  env.aheadRuns.set(key, entry);
  env.log.info({ ahead: path.basename(dir), of: p.replicateOf, kind: p.kind }, 'run trained ahead');
}

/**
 * The run trained ahead that trains what `p` trains, moved to p's folder: null when there is none
 * (or it failed: p then trains as usual).
 */
export async function adoptAhead(env: StudyEnv, p: PendingRun): Promise<TrainedRun | null> {
  const key = trainingKey(env, p);
  const entry = env.aheadRuns.get(key);
  if (!entry) return null;
  env.aheadRuns.delete(key);
  entry.needed.abort(); // still queued: to the front
  let trained: TrainedRun;
  try {
    trained = await entry.run;
  } catch (error) {
    env.log.warn({ runId: p.runId, error: String(error) }, 'the run trained ahead failed: training it now');
    return null;
  }
  const dir = runDir(env, p.runId);
  await rm(dir, { recursive: true, force: true });
  await rename(trained.result.checkpointDir, dir);
  env.log.info({ runId: p.runId, ahead: path.basename(trained.result.checkpointDir) }, 'run adopted from ahead');
  return { ...trained, result: { ...trained.result, checkpointDir: dir } };
}

/**
 * Stops the runs trained ahead that the machine never asked for and removes their folders (at the
 * study's end, and at its start: a resumed study's leftovers).
 */
export async function clearAhead(env: StudyEnv): Promise<void> {
  const entries = [...env.aheadRuns.values()];
  env.aheadRuns.clear();
  for (const entry of entries) entry.abort.abort(new Error('not needed: the machine did not ask for it'));
  await Promise.allSettled(entries.map((e) => e.run));
  const names = await readdir(path.join(env.dir, 'runs')).catch(() => [] as string[]);
  await Promise.all(names.filter((n) => n.startsWith('ahead-')).map((n) => rm(path.join(env.dir, 'runs', n), { recursive: true, force: true })));
}

/** The random stream the policy is given for a decision: the same for the same point of the study, so that a guess of its next answer can be exact. */
export function policyRandom(env: StudyEnv, lastRunId: number, tried: number, refused: number): () => number {
  return mulberry32(deriveSeed(env.config.seed, `decide-${lastRunId}-${tried}-${refused}`));
}

/**
 * The runs the policy would ask for next should `outcome`'s candidate not be kept, and then the
 * next should that one not be kept, up to `count`: the policy asked now, with the context it would
 * then see — the candidates tried and judged not kept (their numbers assumed the incumbent's: they
 * are not known yet), the rails moved on as the machine moves them, the budget less the first
 * candidate's estimate, the random stream it would be given. The chain ends at an answer that is no
 * run (a stop, an edit, an action the rails would refuse), or when the policy fails; nothing when
 * the candidate is not a change of the standing configuration. A guess: a run the machine never
 * asks for costs a worker's time, not the study's.
 */
export function nextIfReverted(env: StudyEnv, input: DecideInput, given: PolicyContext, outcome: DecideOutcome, count: number): PendingRun[] {
  if (!outcome.change || !ACTIONS[outcome.decision.action].trains || !input.subject.isStanding) return [];
  const out: PendingRun[] = [];
  let { decision, change } = outcome as { decision: Decision; change: NonNullable<DecideOutcome['change']> };
  let rails = input.rails;
  let context = given;
  let candidateId = input.nextRunId;
  while (out.length < count) {
    const moved = { ...rails, triedAtStanding: [...rails.triedAtStanding, decision.action], epochsExhausted: rails.epochsExhausted || ACTIONS[decision.action].exhaustsStep };
    rails = { ...moved, step: nextStep(moved) };
    const reverted: RunSummary = Object.freeze({
      ...context.incumbent,
      id: candidateId,
      stage: ACTIONS[decision.action].step,
      network: change.network,
      options: change.options,
      change: decision,
      continuedFrom: change.continues ? input.subject.runId : null,
      verdict: 'reverted',
      judgement: {
        ...(context.incumbent.judgement ?? ASSUMED),
        against: input.incumbentId,
        pooled: [candidateId],
        outcome: 'worse' as const,
        kept: false,
        close: false,
        summary: 'not kept (assumed: its numbers are not known yet)',
      },
    });
    const tried = [...context.tried, decision.action];
    context = Object.freeze({
      ...context,
      stage: rails.step,
      allowed: Object.freeze(allowedActions(rails)),
      refused: Object.freeze([]),
      subjectRun: null,
      last: reverted,
      runs: Object.freeze([...context.runs, reverted]),
      tried: Object.freeze(tried),
      budget: Object.freeze({ runsLeft: context.budget.runsLeft - 1, secondsLeft: context.budget.secondsLeft - (out.length === 0 ? outcome.estimatedSeconds ?? 0 : 0) }),
      random: policyRandom(env, candidateId, tried.length, 0),
    });
    try {
      decision = decideSafely(env.policy, context, env.policySource);
      if (!ACTIONS[decision.action].trains || !context.allowed.includes(decision.action)) break;
      change = applyDecision(input.standing, decision, { lastLearnRate: input.subject.learnRate, bestEpoch: input.subject.bestEpoch, epochsTrained: input.subject.epochsTrained });
    } catch {
      break; // the real call will say what is wrong
    }
    candidateId += 1;
    out.push(candidateRun({ decision, change, runId: candidateId, fidelity: input.rails.fidelity ?? 'subset', rungEpochs: input.rungEpochs, incumbentId: input.incumbentId, subject: { runId: input.subject.runId, isStanding: true } }));
  }
  return out;
}

/** The judgement fields of a run not kept whose numbers are not known (nextIfReverted). */
const ASSUMED: Judgement = {
  against: 0,
  images: 0,
  pooled: [],
  candidate: { loss: NaN, accuracy: NaN },
  incumbent: { loss: NaN, accuracy: NaN },
  lossDiff: 0,
  lossSE: 0,
  accuracyDiff: 0,
  accuracySE: 0,
  z: 0,
  margin: 0,
  imagesPerSecond: { candidate: 0, incumbent: 0 },
  outcome: 'worse',
  kept: false,
  close: false,
  summary: '',
};
