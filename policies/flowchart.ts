/**
 * The default policy: the expert's training flowchart (/work/shared/FLOWCHART.md). The machine
 * walks the flowchart's steps and allows, at each, the actions its rails permit
 * (`context.allowed`); this policy chooses among them, with parameters and a reason quoting the
 * numbers:
 *
 *   1. Stabilise: a diverged or circling run → lower its rate ×0.1 (a diverged candidate gets one
 *      lowering, then is given up with `revert`; a diverged raise is given up at once); at the
 *      floor, clip gradients (the notes' other rescue). Stable but too slow → raise the rate ×10,
 *      unless a raise from here already failed (keep the largest stable power of ten); then train
 *      longer instead.
 *   2. Train enough: validation loss still falling beyond its noise → double maxEpochs (≤ 100).
 *      The machine stops the doubling when more epochs did not beat the noise margin.
 *   3. Stop at the right time: validation loss rising after its smoothed minimum → trim there.
 *   4. Treat overfitting: a train/validation gap → dropout, then L2, then a piecewise schedule.
 *   5. Capacity: deepen (twice at most: "more convolutional blocks"), widen, then 5×5 filters —
 *      each once. The machine prices every candidate (a speed probe of a new network, and the
 *      final run it would need) and refuses what the budget cannot pay for; this policy then
 *      moves on to the next. A slower network must also earn its cost: the machine's verdicts
 *      prefer the cheaper on a tie, and confirm a much cheaper finalist at equal time on the full
 *      data. Overfitting that appears after a capacity change is treated again (dropout first).
 *
 * Written only against the public API, imported from 'flowtune' exactly as a user's policy imports it.
 */
import {
  DEFAULT_THRESHOLDS,
  accuracyGapAt,
  addBlockConvolutions,
  defaultLearnRate,
  changeFilterSize,
  convolutionsOf,
  deepen,
  formatNumber,
  overfitting,
  scaled,
  widen,
  type ActionName,
  type Decision,
  type ConvLayer,
  type Policy,
  type PolicyContext,
  type RunSummary,
} from 'flowtune';

/** The knobs of this policy, each with the flowchart's or the notes' reason. */
export const FLOWCHART_SETTINGS = {
  /** Learning rates move by powers of ten (the notes). */
  lowerFactor: 0.1,
  raiseFactor: 10,
  /** Below this, lowering further is pointless: clip gradients instead, or stop. */
  minLearnRate: 1e-7,
  /** Above this, raising is pointless. */
  maxLearnRate: 1,
  /** maxEpochs doubles while the validation loss is still falling, up to 100 (the notes saw convergence by 100). */
  epochGrowth: 2,
  maxEpochsCap: 100,
  /** Gradient clipping threshold (the notes: 1 converged). */
  clipThreshold: 1,
  /** Dropout rate of an added layer. */
  dropoutRate: 0.2,
  /** l2Regularization × 10 (MATLAB's default 1e-4 → 1e-3); not above 0.1. */
  l2Factor: 10,
  l2Cap: 0.1,
  /** Piecewise schedule: ×0.1, dropping at half the run. */
  scheduleDropFactor: 0.1,
  /** Capacity: blocks of twice the last convolution's filters, at most this many added at each rung (the second only after the first was kept). */
  maxDeepen: 2,
  widenFactor: 2,
  /** Filter size to try: 5 when at 3 (3×3 suits 28×28; 5×5 is the next odd size). */
  altKernelSize: 5,
  /** The learning-rate ladder tries the solver too: adam at its MATLAB default rate, once, from sgdm. */
  ladderSolver: 'adam',
  /** Augmentation ("change the training data"): mirror left–right, shift up to 2 pixels each way (7% of a 28-pixel side). */
  augmentReflection: true,
  augmentTranslation: 2,
} as const;

const S = FLOWCHART_SETTINGS;
const rate = (run: RunSummary): number => run.options.initialLearnRate;
const lr = (x: number): string => formatNumber(x);
const unstable = (run: RunSummary): boolean => run.diagnosis.findings.includes('diverged') || run.diagnosis.findings.includes('oscillating');

const decision = <A extends Decision['action']>(action: A, params: Extract<Decision, { action: A }>['params'], parts: string[]): Decision =>
  ({ action, params, reason: parts.filter((p) => p !== '').join('; ') }) as Decision;

/** The filters of the last convolution (10 when there is none): a deepen adds a block of twice as many. */
function lastFiltersOf(convs: readonly ConvLayer[]): number {
  return convs.at(-1)?.filters ?? 10;
}

/** A run in words: its measured result on the fixed validation set when it has one. */
function describe(run: RunSummary): string {
  const measured = run.evaluation
    ? `validation accuracy ${(run.evaluation.accuracy * 100).toFixed(2)}%, loss ${formatNumber(run.evaluation.loss)} on ${run.evaluation.images} images`
    : `best validation loss ${formatNumber(run.bestValLoss)}`;
  return `run ${run.id} (${run.diagnosis.label}; ${measured})`;
}

const standingOf = (context: PolicyContext) => context.standing ?? { network: context.incumbent.network, options: context.incumbent.options };

// ───────────────────────────── 1. stabilise ─────────────────────────────

function stabilise(context: PolicyContext): Decision | null {
  const { allowed, runs } = context;
  const subject = context.subjectRun ? runs.find((r) => r.id === context.subjectRun) ?? context.last : context.incumbent;
  if (unstable(subject)) {
    const candidate = context.subjectRun !== null && context.subjectRun !== undefined;
    const from = rate(subject);
    const to = scaled(from, S.lowerFactor);
    const lowerings = runs.filter((r) => r.change?.action === 'lowerLearnRate' && (r.change ? true : false)).length;
    const head = `${subject.diagnosis.label} in run ${subject.id}: ${subject.diagnosis.summary}`;
    // A diverged candidate (a capacity or regularisation change) gets one lowering, then is given up;
    // a raise that diverged is given up at once (lowering it would retrain the standing rate). Only
    // when the standing run is stable: a diverged baseline has nothing to go back to, so its lowered
    // candidates are lowered on (giving them up would lower the baseline to the same rate again).
    if (candidate && !unstable(context.incumbent) && allowed.includes('revert')) {
      if (subject.change?.action === 'lowerLearnRate') {
        return decision('revert', {}, [head, `run ${subject.id} diverged again after lowering its rate: give the candidate up, run ${context.incumbent.id} stands`]);
      }
      if (subject.change?.action === 'raiseLearnRate') {
        return decision('revert', {}, [head, `run ${subject.id} diverged at the raised rate ${lr(from)}: give it up, run ${context.incumbent.id} (learn rate ${lr(rate(context.incumbent))}) stands`]);
      }
    }
    if (to >= S.minLearnRate && allowed.includes('lowerLearnRate')) {
      return decision('lowerLearnRate', { initialLearnRate: to }, [
        head,
        `initialLearnRate ${lr(from)} → ${lr(to)} (step 1: lower the rate by a power of ten)`,
        lowerings >= 3 ? `lowered ${lowerings} times already; clipping comes next at the floor` : '',
      ]);
    }
    if (!Number.isFinite(subject.options.gradientThreshold) && allowed.includes('clipGradients')) {
      return decision('clipGradients', { gradientThreshold: S.clipThreshold }, [head, `learn rate ${lr(from)} is at the floor: clip gradients at ${S.clipThreshold} (the notes' other rescue)`]);
    }
    if (allowed.includes('revert')) return decision('revert', {}, [head, 'nothing left to stabilise it with: give the candidate up']);
    return decision('stop', {}, [head, `learn rate ${lr(from)} cannot usefully go lower and clipping is tried: try another network`]);
  }
  if (subject.diagnosis.label === 'tooSlow' && allowed.includes('raiseLearnRate')) {
    const blocked = raiseBlocked(subject, context);
    if (blocked === null) {
      const to = scaled(rate(subject), S.raiseFactor);
      return decision('raiseLearnRate', { initialLearnRate: to }, [
        `tooSlow: ${subject.diagnosis.summary}`,
        `initialLearnRate ${lr(rate(subject))} → ${lr(to)} (step 1: raise the rate by a power of ten)`,
      ]);
    }
    return trainEnough(context, [blocked]);
  }
  return null;
}

/**
 * Why a raise from this run's rate is off, or null when it may be tried: the rate is at the
 * ceiling, or a run at the raised rate (or above) already diverged, circled, or did no better.
 */
function raiseBlocked(run: RunSummary, context: PolicyContext): string | null {
  const target = scaled(rate(run), S.raiseFactor);
  if (target > S.maxLearnRate) return `learn rate ${lr(rate(run))} is already at the ceiling ${lr(S.maxLearnRate)}`;
  for (const r of context.runs) {
    if (r.id === run.id || rate(r) < target * (1 - 1e-9)) continue;
    if (unstable(r)) return `learn rate ${lr(rate(r))} ${r.diagnosis.label} in run ${r.id}, so ${lr(rate(run))} is the largest stable power of ten`;
    if (r.judgement && !r.judgement.kept) return `learn rate ${lr(rate(r))} (run ${r.id}) did not beat ${lr(rate(run))}: ${r.judgement.summary}`;
  }
  return null;
}

/**
 * The notes' learning-rate ladder, on the search subset while the machine keeps the study at step 1
 * with a stable run: up by ×10 while it helps, else down by ÷10 while it helps (a rate already
 * tried from here, or one that diverged or did no better, is not tried again), then the solver
 * once (adam at its default rate). Each is kept only if it beats the incumbent beyond the noise.
 */
function ladder(context: PolicyContext): Decision | null {
  const { incumbent, allowed, runs, stage } = context;
  if (stage !== 'stabilise' || (context.fidelity ?? 'subset') !== 'subset' || unstable(incumbent) || incumbent.diagnosis.label === 'tooSlow') return null;
  const from = rate(incumbent);
  const moves = runs.filter((r) => r.change?.action === 'raiseLearnRate' || r.change?.action === 'lowerLearnRate');
  const raisedAndKept = moves.some((r) => r.change?.action === 'raiseLearnRate' && r.judgement?.kept);
  const head = `${describe(incumbent)} is stable at learn rate ${lr(from)}`;
  if (allowed.includes('raiseLearnRate') && !moves.some((r) => r.change?.action === 'lowerLearnRate' && r.judgement?.kept) && raiseBlocked(incumbent, context) === null) {
    const to = scaled(from, S.raiseFactor);
    return decision('raiseLearnRate', { initialLearnRate: to }, [head, `initialLearnRate ${lr(from)} → ${lr(to)} (step 1, the rate ladder: the largest rate that trains well, in powers of ten)`]);
  }
  const down = scaled(from, S.lowerFactor);
  const triedDown = runs.some((r) => r.id !== incumbent.id && rate(r) <= down * (1 + 1e-9) && r.options.solver === incumbent.options.solver);
  if (allowed.includes('lowerLearnRate') && !raisedAndKept && !triedDown && down >= S.minLearnRate) {
    return decision('lowerLearnRate', { initialLearnRate: down }, [
      head,
      raiseBlocked(incumbent, context) ?? `learn rate ${lr(scaled(from, S.raiseFactor))} did not help`,
      `initialLearnRate ${lr(from)} → ${lr(down)} (step 1, the rate ladder: a power of ten down)`,
    ]);
  }
  if (allowed.includes('changeSolver') && incumbent.options.solver === 'sgdm' && !runs.some((r) => r.change?.action === 'changeSolver')) {
    const to = defaultLearnRate(S.ladderSolver);
    return decision('changeSolver', { solver: S.ladderSolver, initialLearnRate: to }, [head, `the rate ladder is done at ${lr(from)}: sgdm → ${S.ladderSolver} at its default rate ${lr(to)} (step 1: the solver)`]);
  }
  return null;
}

/**
 * Tried on the standing configuration: a run of this action judged against the incumbent — or, while
 * the incumbent is the rung's first run, anything tried at this rung.
 */
const triedOnIncumbent = (context: PolicyContext, action: ActionName): boolean =>
  context.runs.some((r) => r.change?.action === action && r.judgement?.against === context.incumbent.id) ||
  (context.incumbent.stage === 'baseline' && context.tried.includes(action));

/**
 * The full-data rung: the flowchart again on all the training images, every run the rung's
 * epochs, annealed. The machine allows regularisation while the long run overfits: dropout, then
 * L2, then change the training data (augmentation, last: it pays over more epochs than a rung run
 * trains) — each once on the standing configuration; then capacity: wider, deeper, a second
 * convolution per block — each once per rung, except that a kept deepen is followed by one more
 * (as on the subset: a deeper network that won may win again with another block). A network of
 * one convolution tries deeper before wider.
 */
function fullRung(context: PolicyContext, notes: string[]): Decision | null {
  const { incumbent, allowed } = context;
  const standing = standingOf(context);
  const options = standing.options;
  const gap = accuracyGapAt(incumbent.curve);
  const on = `run ${incumbent.id} on all ${incumbent.fidelity.trainImages} images`;
  const gapText = gap ? `${on}: training accuracy ${formatNumber(gap.train)} vs validation ${formatNumber(gap.validation)} at epoch ${gap.epoch} (gap ${formatNumber(gap.gap)})` : on;
  const remedies: Array<[ActionName, boolean, () => Decision]> = [
    ['addDropout', !standing.network.layers.some((l) => l.type === 'dropout'), () => decision('addDropout', { rate: S.dropoutRate }, [...notes, gapText, `add dropout, rate ${S.dropoutRate}, before the classifier (step 4 at the full-data rung)`])],
    [
      'addL2',
      options.l2Regularization < S.l2Cap,
      () => {
        const to = Math.min(S.l2Cap, scaled(options.l2Regularization || 1e-5, S.l2Factor));
        return decision('addL2', { l2Regularization: to }, [...notes, gapText, `l2Regularization ${formatNumber(options.l2Regularization)} → ${formatNumber(to)} (step 4 at the full-data rung)`]);
      },
    ],
    [
      'augmentData',
      !options.randXReflection && !(options.randXTranslation ?? 0),
      () =>
        decision('augmentData', { randXReflection: S.augmentReflection, randXTranslation: S.augmentTranslation, randYTranslation: S.augmentTranslation }, [
          ...notes,
          gapText,
          `augment the training data: mirror left–right, shift up to ${S.augmentTranslation} pixels (step 4 at the full-data rung: "change the training data")`,
        ]),
    ],
  ];
  for (const [action, applies, make] of remedies) {
    if (allowed.includes(action) && applies && !triedOnIncumbent(context, action)) return make();
  }
  const convs = convolutionsOf(standing.network);
  const head = `${describe(incumbent)}${gap ? `, gap ${formatNumber(gap.gap)}` : ''}`;
  // A network of one convolution deepens before it widens: wider, it would still be one block,
  // which no long run trains (the machine's LONG_RUN_MIN_CONVOLUTIONS); a 10-minute rung on the
  // Intel machine that widened one spent its time on a tie (bench/policies.md, 2026-12-04).
  const singleBlock = convs.length === 1;
  const deeperFilters = lastFiltersOf(convs) * 2;
  type Growth = [ActionName, () => unknown, () => Decision];
  const wider: Growth = ['widen', () => widen(standing.network, S.widenFactor), () => decision('widen', { factor: S.widenFactor }, [...notes, head, `widen ×${S.widenFactor} (filters ${convs.map((l) => `${l.filters} → ${l.filters * S.widenFactor}`).join(', ')}) (step 5 at the full-data rung)`])];
  const deeper: Growth = [
    'deepen',
    () => deepen(standing.network, { filters: deeperFilters }),
    () => decision('deepen', { filters: deeperFilters }, [...notes, head, `deepen: a block of ${deeperFilters} filters after the last convolution (step 5 at the full-data rung${singleBlock ? '; one convolution deepens before it widens' : ''})`]),
  ];
  const doubled: Growth = ['addBlockConv', () => addBlockConvolutions(standing.network), () => decision('addBlockConv', {}, [...notes, head, 'a second convolution in every block, before its pooling (step 5 at the full-data rung: VGG-style blocks)'])];
  const growth = singleBlock ? [deeper, wider, doubled] : [wider, deeper, doubled];
  for (const [action, change, make] of growth) {
    if (!allowed.includes(action) || (action === 'deepen' ? !mayDeepen(context) : context.tried.includes(action))) continue;
    try {
      change();
    } catch (error) {
      notes.push(`${action} skipped: ${(error as Error).message}`);
      continue;
    }
    return make();
  }
  return null;
}

// ───────────────────────────── 2. train enough ─────────────────────────────

function trainEnough(context: PolicyContext, notes: string[] = []): Decision | null {
  const { incumbent, allowed } = context;
  if (!allowed.includes('addEpochs')) return null;
  const current = Math.max(standingOf(context).options.maxEpochs, incumbent.curve.epochs.length);
  if (current >= S.maxEpochsCap) return null;
  const next = Math.min(S.maxEpochsCap, current * S.epochGrowth);
  return decision('addEpochs', { maxEpochs: next }, [
    ...notes,
    `${incumbent.diagnosis.label}: ${incumbent.diagnosis.summary}`,
    `maxEpochs ${current} → ${next} (step 2: train enough; continues run ${incumbent.id}'s checkpoint)`,
  ]);
}

// ───────────────────────────── 3 and 4: trim, regularise ─────────────────────────────

function trim(context: PolicyContext): Decision | null {
  if (!context.allowed.includes('trimEpochs')) return null;
  const over = overfitting(context.incumbent.curve, DEFAULT_THRESHOLDS).evidence;
  if (over.bestEpoch === null) return null;
  return decision('trimEpochs', { maxEpochs: over.bestEpoch }, [
    `validation loss lowest at epoch ${over.bestEpoch} (smoothed ${formatNumber(over.bestValLoss)}) and rising to ${formatNumber(over.finalValLoss)} by epoch ${over.finalValLossEpoch} (slope t ${formatNumber(over.riseT)})`,
    `maxEpochs ${standingOf(context).options.maxEpochs} → ${over.bestEpoch} (step 3: stop at the right time)`,
  ]);
}

function regularise(context: PolicyContext, notes: string[]): Decision | null {
  const { incumbent, allowed } = context;
  const standing = standingOf(context);
  const over = overfitting(incumbent.curve, DEFAULT_THRESHOLDS).evidence;
  const gap = accuracyGapAt(incumbent.curve, over.bestEpoch ?? undefined);
  if (gap === null || gap.gap <= DEFAULT_THRESHOLDS.gapThreshold) return null;
  const head = `training accuracy ${formatNumber(gap.train)} vs validation ${formatNumber(gap.validation)} at epoch ${gap.epoch} of run ${incumbent.id}: gap ${formatNumber(gap.gap)} > ${formatNumber(DEFAULT_THRESHOLDS.gapThreshold)}`;
  const tried = new Set(context.tried);
  const options = standing.options;
  const candidates: Array<[ActionName, () => Decision]> = [
    ['addDropout', () => decision('addDropout', { rate: S.dropoutRate }, [...notes, head, `add dropout, rate ${S.dropoutRate}, before the classifier (step 4: regularise)`])],
    [
      'addL2',
      () => decision('addL2', { l2Regularization: Math.min(S.l2Cap, scaled(options.l2Regularization || 1e-5, S.l2Factor)) }, [...notes, head, `l2Regularization ${formatNumber(options.l2Regularization)} → ${formatNumber(Math.min(S.l2Cap, scaled(options.l2Regularization || 1e-5, S.l2Factor)))} (step 4: regularise; dropout tried)`]),
    ],
    [
      'addLearnRateSchedule',
      () => decision('addLearnRateSchedule', { learnRateDropFactor: S.scheduleDropFactor, learnRateDropPeriod: Math.max(1, Math.ceil(options.maxEpochs / 2)) }, [...notes, head, `piecewise drop ×${S.scheduleDropFactor} at half of ${options.maxEpochs} epochs (step 4: regularise; dropout and L2 tried)`]),
    ],
  ];
  for (const [action, make] of candidates) {
    if (!allowed.includes(action) || tried.has(action)) continue;
    if (action === 'addLearnRateSchedule' && options.learnRateSchedule === 'piecewise') continue;
    return make();
  }
  return null;
}

// ───────────────────────────── 5. capacity ─────────────────────────────

/**
 * "More convolutional blocks": deepen once at a rung, and once more (S.maxDeepen in all) only when
 * the first deepen was kept, i.e. the incumbent is the deepened run.
 */
function mayDeepen(context: PolicyContext): boolean {
  const deepened = context.tried.filter((a) => a === 'deepen').length;
  return deepened < S.maxDeepen && (deepened === 0 || context.runs.some((r) => r.change?.action === 'deepen' && r.id === context.incumbent.id));
}

function capacity(context: PolicyContext, notes: string[]): Decision | null {
  const { incumbent, allowed } = context;
  const standing = standingOf(context);
  const convs = convolutionsOf(standing.network);
  const lastFilters = lastFiltersOf(convs);
  const head = describe(incumbent);
  // A change the network cannot take (too small to pool again) is skipped, with the reason.
  const tryChange = (action: ActionName, change: () => unknown, make: () => Decision): Decision | null => {
    if (!allowed.includes(action)) return null;
    try {
      change();
    } catch (error) {
      notes.push(`${action} skipped: ${(error as Error).message}`);
      return null;
    }
    return make();
  };
  const options = standing.options;
  if (mayDeepen(context)) {
    const filters = lastFilters * 2;
    const d = tryChange('deepen', () => deepen(standing.network, { filters }), () =>
      decision('deepen', { filters }, [...notes, head, `deepen: a block of ${filters} filters after the last convolution of ${lastFilters} (step 5: capacity; "more filters than ${lastFilters}, not the same ${lastFilters}")`]),
    );
    if (d) return d;
  }
  if (!context.tried.includes('widen')) {
    const d = tryChange('widen', () => widen(standing.network, S.widenFactor), () =>
      decision('widen', { factor: S.widenFactor }, [...notes, head, `widen ×${S.widenFactor} (filters ${convs.map((l) => `${l.filters} → ${l.filters * S.widenFactor}`).join(', ')}) (step 5: capacity)`]),
    );
    if (d) return d;
  }
  if (!context.tried.includes('changeFilterSize') && convs.length > 0 && convs[0].kernelSize !== S.altKernelSize) {
    const d = tryChange('changeFilterSize', () => changeFilterSize(standing.network, S.altKernelSize), () =>
      decision('changeFilterSize', { kernelSize: S.altKernelSize }, [...notes, head, `filter size ${convs[0].kernelSize}×${convs[0].kernelSize} → ${S.altKernelSize}×${S.altKernelSize} (step 5: capacity, last)`]),
    );
    if (d) return d;
  }
  return null;
}

// ───────────────────────────── decide ─────────────────────────────

function decide(given: PolicyContext): Decision {
  const { stage, incumbent, budget } = given;
  if (budget.runsLeft <= 0 || budget.secondsLeft <= 0) {
    return decision('stop', {}, [`budget spent (${budget.runsLeft <= 0 ? 'no runs' : 'no search time'} left)`, `keep ${describe(incumbent)}`]);
  }
  // An action the machine refused at this step (a rail, or the budget) is not asked for again.
  const refused = new Set(given.refused.map((r) => r.decision.action));
  const context: PolicyContext = { ...given, allowed: given.allowed.filter((a) => !refused.has(a)) };
  const notes: string[] = given.refused.map((r) => `${r.decision.action} refused: ${r.reason}`);
  const last = context.last;
  if (last.id !== incumbent.id && last.judgement) notes.push(`run ${last.id} ${last.judgement.kept ? 'was kept' : 'did not hold up'}: ${last.judgement.summary}`);
  if (context.fidelity === 'full') {
    const d = stabilise(context) ?? fullRung(context, notes);
    if (d) return d;
    return decision('stop', {}, [...notes, `every step of the full-data rung is done or unaffordable (tried there: ${[...new Set(context.tried)].join(', ') || 'none'})`, `keep ${describe(incumbent)}`]);
  }
  const steps: Array<() => Decision | null> = [
    () => stabilise(context),
    () => ladder(context),
    () => (stage === 'trainEnough' || (stage === 'stabilise' && incumbent.diagnosis.findings.includes('underfitting')) ? trainEnough(context, notes) : null),
    () => trim(context),
    () => regularise(context, notes),
    () => capacity(context, notes),
  ];
  for (const step of steps) {
    const d = step();
    if (d) return d;
  }
  return decision('stop', {}, [...notes, `every flowchart step is done or unaffordable (tried: ${[...new Set(context.tried)].join(', ') || 'none'})`, `keep ${describe(incumbent)}`]);
}

export const policy: Policy = {
  name: 'flowchart',
  description:
    'The expert flowchart: stabilise the learning rate, train enough, stop at the validation-loss minimum, regularise a gap, then add capacity; each change kept only if it beats the incumbent beyond the noise.',
  thresholds: { ...DEFAULT_THRESHOLDS },
  decide,
};

export default policy;
