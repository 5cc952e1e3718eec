/**
 * The verdict on a candidate: kept, reverted or tie, from a paired comparison with the incumbent
 * on the same validation images (diagnosis/paired.ts). PURE; the machine's judging guards read
 * the result (`kept`, `close`), the report shows its numbers.
 *
 * - A candidate is kept only when its mean per-image loss (the more sensitive measure, as the notes
 *   say) or its accuracy (what is used) is better by more than MARGIN standard errors of the paired
 *   difference, and the other is not worse by more than MARGIN standard errors.
 * - Worse beyond the margin on either, and better on neither: reverted. Otherwise a tie, which
 *   keeps the cheaper, simpler configuration (cost = epochs × measured seconds per image; simpler
 *   = fewer parameters).
 * - A candidate better by between CLOSE_LOW and CLOSE_HIGH standard errors is a close call: the
 *   machine trains a replicate with another seed (when the search can afford it) and judges the
 *   two seeds pooled. The standard error here covers the choice of images, not the seed; the
 *   replicate is what covers the seed.
 * - A candidate whose validation losses are not all finite (diverged) is reverted; any finite
 *   candidate beats a diverged incumbent.
 */
import { pairedDifference, poolReplicates, type PerImage } from '../diagnosis/paired.ts';
import { formatNumber } from '../util/format.ts';
import type { Judgement } from '../types.ts';

/** Standard errors an improvement must exceed to count. */
export const MARGIN = 2;
/** A candidate better by this many standard errors or more, but under CLOSE_HIGH, is a close call. */
export const CLOSE_LOW = 1;
export const CLOSE_HIGH = 3;
/** Relative cost difference under which two configurations cost the same. */
export const COST_TOLERANCE = 0.1;

/** What the verdict needs to know about each side. */
export interface Side {
  runId: number;
  /** Replicates of the candidate with other seeds (their per-image results follow the run's in perImage). */
  replicateIds?: number[];
  /** Per-image results on the fixed validation set (one entry per replicate for the candidate). */
  perImage: PerImage[];
  /** Measured training images per second. */
  imagesPerSecond: number;
  /** maxEpochs of its configuration (epochs it costs to train). */
  epochs: number;
  /** Learnable parameters. */
  params: number;
  /** Its run diverged or circled (diagnosis), whatever its output network scores. */
  unstable?: boolean;
}

/** Cost of training a configuration once: epochs × seconds per image. */
function cost(side: Side): number {
  return side.epochs / Math.max(1e-9, side.imagesPerSecond);
}

/** Whether the candidate is the cheaper (or, at equal cost, the simpler) of the two. */
export function cheaper(candidate: Side, incumbent: Side): boolean {
  const c = cost(candidate);
  const i = cost(incumbent);
  if (c < i * (1 - COST_TOLERANCE)) return true;
  if (c > i * (1 + COST_TOLERANCE)) return false;
  return candidate.params < incumbent.params;
}

const pct = (x: number): string => `${(x * 100).toFixed(2)}%`;
const pts = (x: number): string => `${x >= 0 ? '+' : '−'}${Math.abs(x * 100).toFixed(2)} pt`;

/** The verdict on `candidate` against `incumbent`; `replicated` when the candidate already had its replicate. */
export function judge(candidate: Side, incumbent: Side, options: { replicated?: boolean } = {}): Judgement {
  const pooledCandidate = poolReplicates(candidate.perImage);
  const d = pairedDifference(pooledCandidate, poolReplicates(incumbent.perImage));
  const base = {
    against: incumbent.runId,
    images: d.images,
    pooled: [candidate.runId, ...(candidate.replicateIds ?? [])],
    candidate: d.candidate,
    incumbent: d.incumbent,
    lossDiff: d.lossDiff,
    lossSE: d.lossSE,
    accuracyDiff: d.accuracyDiff,
    accuracySE: d.accuracySE,
    margin: MARGIN,
    imagesPerSecond: { candidate: candidate.imagesPerSecond, incumbent: incumbent.imagesPerSecond },
  };
  const speed = `${formatNumber(candidate.imagesPerSecond / Math.max(1e-9, incumbent.imagesPerSecond))}× the incumbent's speed`;
  if (!d.finite.candidate || (candidate.unstable && !incumbent.unstable)) {
    const what = d.finite.candidate ? 'diverged or circled while training' : 'has non-finite validation losses (diverged)';
    return { ...base, z: -Infinity, outcome: 'unstable', kept: false, close: false, summary: `run ${candidate.runId} ${what}: reverted` };
  }
  if (!d.finite.incumbent || (incumbent.unstable && !candidate.unstable)) {
    return {
      ...base,
      z: Infinity,
      outcome: 'better',
      kept: true,
      close: false,
      summary: `run ${incumbent.runId} diverged; run ${candidate.runId} trained stably (validation accuracy ${pct(d.candidate.accuracy)}): kept`,
    };
  }
  const z = d.lossSE > 0 ? -d.lossDiff / d.lossSE : d.lossDiff < 0 ? Infinity : d.lossDiff > 0 ? -Infinity : 0;
  const accuracyZ = d.accuracySE > 0 ? d.accuracyDiff / d.accuracySE : 0;
  const numbers =
    `validation loss ${formatNumber(d.incumbent.loss)} → ${formatNumber(d.candidate.loss)} ` +
    `(paired difference ${formatNumber(d.lossDiff)} ± ${formatNumber(d.lossSE)}, ${formatNumber(z)} SE), ` +
    `accuracy ${pct(d.incumbent.accuracy)} → ${pct(d.candidate.accuracy)} (${pts(d.accuracyDiff)} ± ${formatNumber(d.accuracySE * 100)} pt) ` +
    `on the same ${d.images} images; ${speed}`;
  const close = !options.replicated && z >= CLOSE_LOW && z < CLOSE_HIGH;
  // Better: loss or accuracy beyond the margin, the other not worse beyond it.
  if ((z >= MARGIN && accuracyZ > -MARGIN) || (accuracyZ >= MARGIN && z > -MARGIN)) {
    return { ...base, z, outcome: 'better', kept: true, close, summary: `better beyond the ${MARGIN} SE margin: ${numbers}` };
  }
  if ((z <= -MARGIN || accuracyZ <= -MARGIN) && !(z >= MARGIN || accuracyZ >= MARGIN)) {
    return { ...base, z, outcome: 'worse', kept: false, close: false, summary: `worse beyond the ${MARGIN} SE margin: ${numbers}` };
  }
  const keep = cheaper(candidate, incumbent);
  const why = `loss and accuracy disagree beyond the ${MARGIN} SE margin (${formatNumber(z)} and ${formatNumber(accuracyZ)} SE)`;
  return {
    ...base,
    z,
    outcome: 'tie',
    kept: keep,
    close,
    summary: `tie (${Math.abs(z) < MARGIN && Math.abs(accuracyZ) < MARGIN ? `within the ${MARGIN} SE margin` : why}): ${numbers}; the ${keep ? 'candidate' : 'incumbent'} is the cheaper or simpler, so it stands`,
  };
}

/**
 * The final weights: the final run's output network (`candidate`) over the finalist it retrains
 * (`incumbent`) when its validation accuracy on the same images is higher — the measure the study
 * reports — or equal with a loss no higher; a non-finite final run never, a non-finite finalist
 * always. Not loss first: a long annealed run's loss creeps up with over-confidence while its
 * accuracy still rises, and a loss rule handed back a finalist trained a fraction as long.
 */
export function finalRunWins(d: Pick<ReturnType<typeof pairedDifference>, 'accuracyDiff' | 'lossDiff' | 'finite'>): boolean {
  if (!d.finite.candidate) return false;
  if (!d.finite.incumbent) return true;
  return d.accuracyDiff > 0 || (d.accuracyDiff === 0 && d.lossDiff <= 0);
}
