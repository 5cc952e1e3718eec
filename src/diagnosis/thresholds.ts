import type { DiagnosisThresholds } from '../types.ts';

/**
 * The default thresholds behind every diagnosis label. A policy may override any of them
 * (`Policy.thresholds`); the rest come from here. Numbers quoted from the notes are the
 * notes' (see /work/shared/FLOWCHART.md); the others are chosen and explained here.
 */
export const DEFAULT_THRESHOLDS: Readonly<DiagnosisThresholds> = Object.freeze({
  /**
   * 3: training loss above 3× its first-epoch value is exploding. A 10-class network starts
   * near ln 10 ≈ 2.3 and its first-epoch mean is already lower, so 3× is worse than guessing.
   */
  explodeFactor: 3,
  /**
   * 0.05: validation loss 5% above its minimum counts as rising. Epoch-to-epoch noise of a
   * validation loss is about ±2%; the notes' 0.01 run rose far more (minimum before epoch 30).
   */
  riseFraction: 0.05,
  /**
   * 3: the minimum must lie at least 3 epochs before the last one, so the rise is seen on
   * three validations, not one noisy point (the notes' case: minimum near 27 of 50 or 100).
   */
  minEpochsAfterMinimum: 3,
  /** 0.10: the notes tolerate a train/validation accuracy gap "within about 10%". */
  gapThreshold: 0.1,
  /**
   * 0.02: validation loss that fell at least 2% over the last 3 epochs (and sits at its
   * recent low) is still falling — more than the ±2% noise of a single epoch can fake
   * when the last value is also the lowest of the window.
   */
  stillFallingFraction: 0.02,
  /**
   * 0.80: validation accuracy below 0.80 while stable is low — above the notes' 0.73 plateau
   * at learn rate 0.0001 and below the 0.84–0.93 their slow rate reached once trained enough.
   */
  tooSlowAccuracy: 0.8,
  /**
   * 0.5: the validation loss fell less than half of its first-epoch value over the whole run.
   * A healthy run also falls less than that after epoch 1, which is why tooSlow needs low
   * accuracy too; a slow run that still fell a lot is underfitting (more epochs), not tooSlow.
   */
  tooSlowFall: 0.5,
  /**
   * 0.10: without a downward trend, epoch-to-epoch changes of the training loss whose spread
   * (standard deviation) exceeds 10% of the mean loss are the "circling" of a too-large rate.
   */
  oscillationSwing: 0.1,
});

/**
 * A regression slope of the training loss shallower than −0.5% of its mean per epoch is
 * "no downward trend" (the "slope ≥ ~0" of an oscillating run). Not a field of
 * DiagnosisThresholds because that type is fixed; change it here if needed.
 */
export const TREND_EPSILON = 0.005;

/** Defaults overridden by a policy's partial thresholds. */
export function resolveThresholds(partial?: Partial<DiagnosisThresholds> | null): DiagnosisThresholds {
  const merged: DiagnosisThresholds = { ...DEFAULT_THRESHOLDS };
  for (const [key, value] of Object.entries(partial ?? {})) {
    if (typeof value === 'number' && key in merged) merged[key as keyof DiagnosisThresholds] = value;
  }
  return merged;
}
