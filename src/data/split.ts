/**
 * Stratified, seeded splits as index views (no pixel is copied).
 *
 * `holdoutSplit` does what MATLAB's `cvpartition(labels, 'HoldOut', p)` does: each class gives
 * the validation set the same share of its items (counts rounded by largest remainder so the
 * total is exact), the items chosen at random with a seeded generator. Same seed, same indices.
 * Indices in every view are ascending.
 */
import { UserError } from '../errors.ts';
import type { DataView, ImageSet } from './image-set.ts';
import { type Random, deriveSeed, mulberry32, shuffleInPlace } from '../util/random.ts';

export interface HoldoutOptions {
  /** Items held out for validation: a count (a whole number ≥ 1), or a fraction in (0, 1) of the items. 0 holds out nothing. Default 10000. */
  validationSize?: number;
  /** Seed of the random choice. Default 0. */
  seed?: number;
}

/** A view of every item of a set, in order. */
export function fullView(set: ImageSet): DataView {
  const indices = new Uint32Array(set.count);
  for (let i = 0; i < set.count; i++) indices[i] = i;
  return { set, indices };
}

/**
 * Two views of one set as one (indices ascending), e.g. the training and validation images
 * together; null when they are views of different sets (a data set's own validation folder).
 */
export function unionView(a: DataView, b: DataView): DataView | null {
  if (a.set !== b.set) return null;
  const indices = new Uint32Array(a.indices.length + b.indices.length);
  indices.set(a.indices);
  indices.set(b.indices, a.indices.length);
  indices.sort();
  return { set: a.set, indices };
}

/** Items per class (indexed by label) in a view. */
export function classCounts(view: DataView): number[] {
  const counts = new Array<number>(view.set.classNames.length).fill(0);
  for (const i of view.indices) counts[view.set.labels[i]] = (counts[view.set.labels[i]] ?? 0) + 1;
  return counts;
}

/** Split a set (or a view of one) into training and validation views, stratified by class and seeded. */
export function holdoutSplit(source: ImageSet | DataView, options: HoldoutOptions = {}): { train: DataView; validation: DataView } {
  const view = 'indices' in source ? source : fullView(source);
  const n = view.indices.length;
  const size = options.validationSize ?? 10_000;
  if (!Number.isFinite(size) || size < 0 || (size > 1 && !Number.isInteger(size))) {
    throw new UserError(`Validation size ${size} is not valid: give a whole number of images (e.g. 10000) or a fraction between 0 and 1 (e.g. 0.1).`);
  }
  const k = size > 0 && size < 1 ? Math.round(size * n) : size;
  if (k >= n) {
    throw new UserError(`Validation size ${size} leaves no training images: the set to split has ${n}. Give a smaller validation size.`);
  }
  const { chosen, rest } = stratifiedChoice(view, k, mulberry32(deriveSeed(options.seed ?? 0, 'holdout')));
  return { train: { set: view.set, indices: rest }, validation: { set: view.set, indices: chosen } };
}

/**
 * `n` items of a view, stratified by class (each class keeps its share) and seeded, for
 * `--subset N`. When `n` is at least the view's size, the view itself is returned.
 */
export function stratifiedSubset(view: DataView, n: number, seed = 0): DataView {
  if (!Number.isInteger(n) || n < 1) throw new UserError(`Subset size ${n} is not valid: give a whole number of images, at least 1.`);
  if (n >= view.indices.length) return view;
  const { chosen } = stratifiedChoice(view, n, mulberry32(deriveSeed(seed, 'subset')));
  return { set: view.set, indices: chosen };
}

/**
 * Per-class quotas summing to exactly `k`: each class gets k × (its size / total), rounded down,
 * and the leftover goes one each to the classes with the largest fractional parts (ties: the
 * larger class, then the lower label).
 */
export function stratifiedQuotas(classSizes: readonly number[], k: number): number[] {
  const total = classSizes.reduce((a, b) => a + b, 0);
  if (total === 0) return classSizes.map(() => 0);
  const exact = classSizes.map((size) => (k * size) / total);
  const quotas = exact.map(Math.floor);
  let left = k - quotas.reduce((a, b) => a + b, 0);
  const order = classSizes
    .map((size, label) => ({ label, size, frac: exact[label] - quotas[label] }))
    .filter((c) => c.size > quotas[c.label])
    .sort((a, b) => b.frac - a.frac || b.size - a.size || a.label - b.label);
  for (const c of order) {
    if (left === 0) break;
    quotas[c.label]++;
    left--;
  }
  return quotas;
}

/**
 * The test split carved out of a data set that has none: `testShare` of the items (rounded, at
 * most `maxTest`), stratified by class, with a seed of its own ('carved-test' derived from 0), so
 * that every study of the same data — whatever its --seed — is tested on the same images.
 * Returns ascending item indices of the test and the rest.
 */
export function carveTestSplit(labels: Uint8Array, classCount: number, options: { testShare?: number; maxTest?: number } = {}): { test: Uint32Array; rest: Uint32Array } {
  const share = options.testShare ?? CARVED_TEST_SHARE;
  const k = Math.min(options.maxTest ?? CARVED_TEST_MAX, Math.round(labels.length * share));
  const indices = new Uint32Array(labels.length);
  for (let i = 0; i < indices.length; i++) indices[i] = i;
  if (k < 1 || k >= labels.length) {
    throw new UserError(
      `Too few images (${labels.length}) to carve a test split out of them (${Math.round(share * 1000) / 10} % would be ${k}). Give a test split of its own, or more images.`,
    );
  }
  const { chosen, rest } = choose(labels, indices, classCount, k, mulberry32(deriveSeed(0, 'carved-test')));
  return { test: chosen, rest };
}

/** Share of the images carved out as the test split when there is none: Fashion-MNIST's 10,000 of 70,000. */
export const CARVED_TEST_SHARE = 1 / 7;
/** At most this many images are carved out as the test split. */
export const CARVED_TEST_MAX = 10_000;

function stratifiedChoice(view: DataView, k: number, random: Random): { chosen: Uint32Array; rest: Uint32Array } {
  return choose(view.set.labels, view.indices, view.set.classNames.length, k, random);
}

function choose(labels: Uint8Array, indices: Uint32Array, classCount: number, k: number, random: Random): { chosen: Uint32Array; rest: Uint32Array } {
  const byClass = groupByClass(labels, indices, classCount);
  const quotas = stratifiedQuotas(
    byClass.map((c) => c.length),
    k,
  );
  const chosen = new Uint32Array(k);
  const rest = new Uint32Array(indices.length - k);
  let c0 = 0;
  let r0 = 0;
  byClass.forEach((members, label) => {
    shuffleInPlace(members, random);
    chosen.set(members.subarray(0, quotas[label]), c0);
    rest.set(members.subarray(quotas[label]), r0);
    c0 += quotas[label];
    r0 += members.length - quotas[label];
  });
  return { chosen: chosen.sort(), rest: rest.sort() };
}

/** The indices grouped by label, each group in the given order. */
function groupByClass(labels: Uint8Array, indices: Uint32Array, classCount: number): Uint32Array[] {
  const counts: number[] = [];
  for (const i of indices) counts[labels[i]] = (counts[labels[i]] ?? 0) + 1;
  const groups = Array.from({ length: Math.max(counts.length, classCount) }, (_, label) => new Uint32Array(counts[label] ?? 0));
  const fill = new Array<number>(groups.length).fill(0);
  for (const i of indices) groups[labels[i]][fill[labels[i]]++] = i;
  return groups;
}
