/**
 * The one seeded pseudo-random number generator (PURE: data splits, augmentation, weight
 * initialisation and shuffles in training, the random policy's samples) and the helpers built on it. Deterministic
 * across platforms and Node versions (32-bit integer arithmetic only), so the same seed gives
 * the same splits, subsets and shuffles everywhere. Not for cryptography.
 */

/** A function returning uniformly distributed numbers in [0, 1). */
export type Random = () => number;

/**
 * mulberry32 (Tommy Ettinger): 32 bits of state, period 2^32, good enough statistics for
 * shuffling and sampling. Any number is accepted as seed; it is reduced to 32 bits. The state can
 * be read and set, so that a checkpoint resumes the stream exactly (the trainer's shuffles).
 */
export class Mulberry32 {
  /** The 32-bit state (as a signed or unsigned integer: the same bits). */
  state: number;
  constructor(seed: number) {
    this.state = toUint32(seed);
  }
  /** The next number in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) | 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
}

/** mulberry32 as a function: each call the next number in [0, 1). */
export function mulberry32(seed: number): Random {
  const stream = new Mulberry32(seed);
  return () => stream.next();
}

/**
 * A seed for one purpose derived from a study seed and a label, so that e.g. the hold-out split
 * and the search subset drawn with the same study seed are not the same permutation.
 * (FNV-1a over the label, mixed with the seed.)
 */
export function deriveSeed(seed: number, label: string): number {
  let hash = 0x811c9dc5 ^ toUint32(seed);
  for (let i = 0; i < label.length; i++) {
    hash ^= label.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  // One round of a finaliser so nearby seeds spread out.
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  return hash >>> 0;
}

/** A uniform integer in [0, n). */
export function randomInt(random: Random, n: number): number {
  return Math.floor(random() * n);
}

/** Fisher–Yates shuffle in place; returns the same array. */
export function shuffleInPlace<T extends { length: number; [i: number]: unknown }>(array: T, random: Random): T {
  for (let i = array.length - 1; i > 0; i--) {
    const j = randomInt(random, i + 1);
    const tmp = array[i];
    array[i] = array[j];
    array[j] = tmp;
  }
  return array;
}

/**
 * Reduce any number (negative, fractional, large) to a 32-bit unsigned integer seed. Integers in
 * [0, 2^32) map to themselves (so mulberry32(1) is the published mulberry32 with seed 1); the
 * high part and the fraction of other numbers are mixed in non-linearly.
 */
function toUint32(seed: number): number {
  if (!Number.isFinite(seed)) throw new Error(`seed must be a finite number, got ${seed}`);
  const whole = Math.floor(seed);
  const high = Math.floor(whole / 4294967296);
  const fraction = Math.floor((seed - whole) * 4294967296);
  return ((whole >>> 0) ^ fmix32(high) ^ (fraction === 0 ? 0 : fmix32(fraction ^ 0x5bd1e995))) >>> 0;
}

/** MurmurHash3's 32-bit finaliser (fmix32(0) = 0). */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
