/**
 * Batch normalisation for training (statistics of the batch, channels last), with the whole
 * gradient — including the paths through the batch mean and variance — in closed form:
 *
 *   x̂ = (x − μ)·σ⁻¹,   y = γ·x̂ + β,   σ⁻¹ = 1/√(var + ε)
 *   ∂β = Σ dy,   ∂γ = σ⁻¹·Σ dy·(x − μ),   ∂x = γσ⁻¹·dy − (γσ⁻³·∂γ'/N)·(x − μ) − γσ⁻¹·∂β/N
 *
 * (Σ over every axis but the last; N values per channel; ∂γ' = Σ dy·(x − μ).)
 *
 * Why: tf.layers.batchNormalization (tfjs-core's FusedBatchNorm gradient) lets autodiff walk back
 * through the separately computed mean and variance: on wasm that is ~25 elementwise kernels over
 * the activations per layer and step (and tfjs-core tiles 1/σ where broadcasting would do). This
 * op is 6 passes forward and 7 backward, all tfjs kernels that run on any backend (on wasm each is
 * an XNNPACK kernel that uses the thread pool). Per-channel sums over the leading axes are fast on
 * wasm with the Sum patch in kernels/patches.ts.
 *
 * (A fused version — one JS loop per direction over the backend's memory — was tried and dropped:
 * slower than these XNNPACK kernels with one thread, much slower with two.)
 */
import * as tf from '@tensorflow/tfjs';

export interface BatchNormOutput {
  /** The normalised, scaled and shifted activations. */
  y: tf.Tensor;
  /** Batch mean per channel (no gradient flows back through it; for running averages). */
  mean: tf.Tensor1D;
  /** Batch variance per channel, biased (divided by N), as used for normalising. */
  variance: tf.Tensor1D;
}

/**
 * Training-mode batch normalisation of `x` (rank ≥ 2, channels last) with scale `gamma` and
 * offset `beta` (both [C]). Differentiable with respect to x, gamma and beta; `mean` and
 * `variance` are returned for running averages. Call inside tf.tidy as usual.
 */
export function batchNormTraining(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, epsilon = 1e-5): BatchNormOutput {
  const c = x.shape[x.shape.length - 1];
  const n = x.size / c;
  // Statistics and x − μ are computed outside the custom op: on the tape they do not lead to its
  // output (they are closed over, not inputs), so autodiff never walks back through them.
  const x2 = tf.reshape(x, [n, c]);
  const mean = tf.div(tf.sum(x2, 0), n) as tf.Tensor1D;
  const centred = tf.sub(x2, mean);
  const variance = tf.div(tf.sum(tf.square(centred), 0), n) as tf.Tensor1D;
  const invStd = tf.rsqrt(tf.add(variance, epsilon));
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [xIn, g, b] = args as tf.Tensor[];
    const save = args[3] as tf.GradSaveFunc;
    const scale = tf.mul(g, invStd);
    const value = tf.reshape(tf.add(tf.mul(centred, scale), b), xIn.shape);
    save([g, centred, invStd]);
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [gs, xc, inv] = saved;
        const dy2 = tf.reshape(dy, [n, c]);
        const dBeta = tf.sum(dy2, 0);
        const dyXc = tf.sum(tf.mul(dy2, xc), 0); // Σ dy·(x − μ)
        const dGamma = tf.mul(dyXc, inv);
        const k = tf.mul(gs, inv); // γσ⁻¹
        const q = tf.div(tf.mul(tf.mul(k, tf.square(inv)), dyXc), -n); // −γσ⁻³·Σdy(x−μ)/N
        const r = tf.div(tf.mul(k, dBeta), -n); // −γσ⁻¹·Σdy/N
        const dx = tf.add(tf.add(tf.mul(dy2, k), tf.mul(xc, q)), r);
        return [tf.reshape(dx, dy.shape), dGamma, dBeta];
      },
    };
  });
  return { y: op(x, gamma, beta), mean, variance };
}

/** What `batchNormLayerTraining` needs of a tf.layers BatchNormalization layer. */
export interface BatchNormLayerLike {
  getConfig(): tf.serialization.ConfigDict;
  trainableWeights: tf.LayerVariable[];
  nonTrainableWeights: tf.LayerVariable[];
}

/** A BatchNormalization layer's weights and settings, for a training-mode call computed outside the layer. */
export interface BatchNormLayerParts {
  gamma: tf.LayerVariable;
  beta: tf.LayerVariable;
  movingMean: tf.LayerVariable;
  movingVariance: tf.LayerVariable;
  momentum: number;
  epsilon: number;
}

/**
 * The layer's weights and settings when it is configured the way `batchNormTraining` computes it
 * (channels last for `x`, scale and center on), else null.
 */
export function batchNormLayerParts(layer: BatchNormLayerLike, x: tf.Tensor): BatchNormLayerParts | null {
  const config = layer.getConfig() as { axis?: number; momentum?: number; epsilon?: number; center?: boolean; scale?: boolean };
  const axis = config.axis ?? -1;
  if ((axis !== -1 && axis !== x.rank - 1) || config.center === false || config.scale === false) return null;
  const find = (list: tf.LayerVariable[], name: string) =>
    list.find((w) => w.originalName === name || w.originalName.endsWith(`/${name}`));
  const gamma = find(layer.trainableWeights, 'gamma');
  const beta = find(layer.trainableWeights, 'beta');
  const movingMean = find(layer.nonTrainableWeights, 'moving_mean');
  const movingVariance = find(layer.nonTrainableWeights, 'moving_variance');
  if (!gamma || !beta || !movingMean || !movingVariance) return null;
  return { gamma, beta, movingMean, movingVariance, momentum: config.momentum ?? 0.99, epsilon: config.epsilon ?? 1e-3 };
}

/** The layer's moving-average update: moving ← moving − (moving − batch)·(1 − momentum). */
export function updateMovingStatistics(parts: BatchNormLayerParts, mean: tf.Tensor, variance: tf.Tensor): void {
  tf.tidy(() => {
    for (const [moving, batch] of [
      [parts.movingMean, mean],
      [parts.movingVariance, variance],
    ] as const) {
      const value = moving.read();
      moving.write(tf.sub(value, tf.mul(tf.sub(value, batch), 1 - parts.momentum)));
    }
  });
}

/**
 * A tf.layers BatchNormalization layer's training-mode call (channels last, scale and center on),
 * computed with `batchNormTraining`: the same output and the same moving-average updates
 * (moving ← moving − (moving − batch)·(1 − momentum), biased batch variance) as
 * `layer.apply(x, { training: true })`, with the cheaper gradient. Returns null when the layer is
 * configured otherwise (then call the layer itself).
 */
export function batchNormLayerTraining(layer: BatchNormLayerLike, x: tf.Tensor): tf.Tensor | null {
  const parts = batchNormLayerParts(layer, x);
  if (!parts) return null;
  const { y, mean, variance } = batchNormTraining(x, parts.gamma.read(), parts.beta.read(), parts.epsilon);
  updateMovingStatistics(parts, mean, variance);
  return y;
}
