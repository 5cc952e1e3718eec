/**
 * The edits the flowchart's remedies make to a network spec: dropout, wider, deeper, a second
 * convolution per block, another filter size. PURE; each returns a new, validated spec and throws
 * a UserError naming the edit and the value when it cannot apply.
 */
import { UserError } from '../errors.ts';
import type { LayerSpec, NetworkSpec } from '../types.ts';
import { clone, convolutionsOf, finalFcIndex, isPositiveInteger, validateNetwork } from './network.ts';

/**
 * Inserts a dropout layer of drop probability `rate` after `layers[afterLayer]` (0-based), or, by
 * default, directly before the final fully connected layer. Rate must be in (0, 1).
 */
export function addDropout(spec: NetworkSpec, edit: { afterLayer?: number; rate: number }): NetworkSpec {
  validateNetwork(spec);
  if (typeof edit.rate !== 'number' || !(edit.rate > 0 && edit.rate < 1)) {
    throw new UserError(`addDropout: rate must be a number in (0, 1), got ${edit.rate}.`);
  }
  const last = spec.layers.length - 1;
  const after = edit.afterLayer ?? finalFcIndex(spec) - 1;
  if (!Number.isInteger(after) || after < 0 || after >= last) {
    throw new UserError(`addDropout: afterLayer must be a layer index from 0 to ${last - 1} (0-based, before the final fc), got ${edit.afterLayer}.`);
  }
  const next = clone(spec);
  next.layers.splice(after + 1, 0, { type: 'dropout', rate: edit.rate });
  validateNetwork(next);
  return next;
}

/** Multiplies the filter count of every convolution by `factor` (rounded, at least 1). */
export function widen(spec: NetworkSpec, factor: number): NetworkSpec {
  validateNetwork(spec);
  if (typeof factor !== 'number' || !Number.isFinite(factor) || factor <= 0) {
    throw new UserError(`widen: factor must be a positive number, got ${factor}.`);
  }
  if (!spec.layers.some((l) => l.type === 'conv')) throw new UserError('widen: the network has no convolution to widen.');
  const next = clone(spec);
  next.layers = next.layers.map((l) => (l.type === 'conv' ? { ...l, filters: Math.max(1, Math.round(l.filters * factor)) } : l));
  validateNetwork(next);
  return next;
}

/**
 * Appends a convolution → batchnorm → relu → maxpool(2, stride 2) block after the last existing
 * feature layer, i.e. before the first fully connected layer (and before any dropout directly in
 * front of it). The new convolution uses the last convolution's kernel size (3 when there is none),
 * 'same' padding, and `filters` filters: by default double the last convolution's (the notes:
 * "more filters than 20, not the same 20"). Throws a UserError when the image is already too small
 * to pool again.
 */
export function deepen(spec: NetworkSpec, edit: { filters?: number } = {}): NetworkSpec {
  validateNetwork(spec);
  const convs = convolutionsOf(spec);
  const lastConv = convs[convs.length - 1];
  const filters = edit.filters ?? (lastConv ? lastConv.filters * 2 : 20);
  if (!isPositiveInteger(filters)) throw new UserError(`deepen: filters must be a positive integer, got ${edit.filters}.`);
  let at = spec.layers.findIndex((l) => l.type === 'fc');
  while (at > 0 && spec.layers[at - 1].type === 'dropout') at--;
  const block: LayerSpec[] = [
    { type: 'conv', filters, kernelSize: lastConv?.kernelSize ?? 3, stride: 1, padding: 'same' },
    { type: 'batchnorm' },
    { type: 'relu' },
    { type: 'maxpool', poolSize: 2, stride: 2 },
  ];
  const next = clone(spec);
  next.layers.splice(at, 0, ...block);
  validateNetwork(next);
  return next;
}

/**
 * A second convolution in every block (VGG's blocks): each max pooling preceded by a single
 * conv → batch norm → ReLU gets another conv → batch norm → ReLU with the same filters and kernel
 * before it. Throws a UserError when no block has a single convolution left to double.
 */
export function addBlockConvolutions(spec: NetworkSpec): NetworkSpec {
  validateNetwork(spec);
  const next = clone(spec);
  const layers: LayerSpec[] = [];
  let added = 0;
  for (let i = 0; i < spec.layers.length; i++) {
    const layer = spec.layers[i];
    if (layer.type === 'maxpool' && i >= 3) {
      const [conv, bn, relu] = spec.layers.slice(i - 3, i);
      const before = spec.layers[i - 4];
      const single = conv.type === 'conv' && bn.type === 'batchnorm' && relu.type === 'relu' && !(before && before.type === 'relu');
      if (single) {
        layers.push({ ...conv, stride: 1, padding: 'same' }, { type: 'batchnorm' }, { type: 'relu' });
        added++;
      }
    }
    layers.push({ ...layer });
  }
  if (added === 0) throw new UserError('addBlockConv: no block of a single convolution (conv → batch norm → ReLU → max pool) to give a second one.');
  next.layers = layers;
  validateNetwork(next);
  return next;
}

/** Sets the kernel size of every convolution (the notes: 3×3 suits 28×28 inputs; 4×4 slides too coarsely). */
export function changeFilterSize(spec: NetworkSpec, kernelSize: number): NetworkSpec {
  validateNetwork(spec);
  if (!isPositiveInteger(kernelSize)) throw new UserError(`changeFilterSize: kernelSize must be a positive integer, got ${kernelSize}.`);
  if (!spec.layers.some((l) => l.type === 'conv')) throw new UserError('changeFilterSize: the network has no convolution.');
  const next = clone(spec);
  next.layers = next.layers.map((l) => (l.type === 'conv' ? { ...l, kernelSize } : l));
  validateNetwork(next);
  return next;
}
