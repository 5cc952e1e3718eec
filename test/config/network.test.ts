import { describe, expect, it, test } from 'vitest';
import { UserError } from '../../src/errors.ts';
import { convolutionsOf, defaultNetwork, describeNetwork, outputUnits, paramCount, networkFlops, validateNetwork } from '../../src/config/network.ts';
import { addDropout, changeFilterSize, deepen, widen } from '../../src/config/network-edits.ts';
import type { NetworkSpec } from '../../src/types.ts';

const base = defaultNetwork();

describe('defaultNetwork', () => {
  it('is the notes network', () => {
    expect(describeNetwork(base)).toBe('28×28×1 → conv3×3×20 → bn → relu → maxpool2 → fc10');
    expect(outputUnits(base)).toBe(10);
  });

  it('counts learnables as MATLAB does: conv 9·20+20, bn scale+offset 2·20, fc 14·14·20·10+10', () => {
    expect(paramCount(base)).toBe(20 * 9 + 20 + 2 * 20 + 14 * 14 * 20 * 10 + 10); // 39450
    // The moving mean and variance (non-trainable) add 2·20 when asked for.
    expect(paramCount(base, { includeBatchNormStatistics: true })).toBe(39450 + 2 * 20);
  });

  it('returns a fresh copy each time', () => {
    const a = defaultNetwork();
    (a.layers[0] as { filters: number }).filters = 99;
    expect(defaultNetwork().layers[0]).toMatchObject({ filters: 20 });
  });
});

describe('network edits (pure: input unchanged)', () => {
  test.each<[string, () => NetworkSpec, string, number]>([
    ['addDropout default: before the final fc', () => addDropout(base, { rate: 0.2 }), '28×28×1 → conv3×3×20 → bn → relu → maxpool2 → dropout0.2 → fc10', 39450],
    ['addDropout after layer 2 (relu)', () => addDropout(base, { afterLayer: 2, rate: 0.5 }), '28×28×1 → conv3×3×20 → bn → relu → dropout0.5 → maxpool2 → fc10', 39450],
    ['widen ×2', () => widen(base, 2), '28×28×1 → conv3×3×40 → bn → relu → maxpool2 → fc10', 9 * 40 + 40 + 80 + 14 * 14 * 40 * 10 + 10],
    ['widen ×1.5 rounds', () => widen(base, 1.5), '28×28×1 → conv3×3×30 → bn → relu → maxpool2 → fc10', 9 * 30 + 30 + 60 + 14 * 14 * 30 * 10 + 10],
    [
      'deepen: doubles the filters',
      () => deepen(base),
      '28×28×1 → conv3×3×20 → bn → relu → maxpool2 → conv3×3×40 → bn → relu → maxpool2 → fc10',
      200 + 40 + (9 * 20 * 40 + 40) + 80 + 7 * 7 * 40 * 10 + 10,
    ],
    [
      'deepen with filters, keeping dropout in front of the fc',
      () => deepen(addDropout(base, { rate: 0.3 }), { filters: 32 }),
      '28×28×1 → conv3×3×20 → bn → relu → maxpool2 → conv3×3×32 → bn → relu → maxpool2 → dropout0.3 → fc10',
      200 + 40 + (9 * 20 * 32 + 32) + 64 + 7 * 7 * 32 * 10 + 10,
    ],
    ['changeFilterSize 5', () => changeFilterSize(base, 5), '28×28×1 → conv5×5×20 → bn → relu → maxpool2 → fc10', 25 * 20 + 20 + 40 + 14 * 14 * 20 * 10 + 10],
    ['deepen twice then thrice', () => deepen(deepen(deepen(base))), '28×28×1 → conv3×3×20 → bn → relu → maxpool2 → conv3×3×40 → bn → relu → maxpool2 → conv3×3×80 → bn → relu → maxpool2 → conv3×3×160 → bn → relu → maxpool2 → fc10', -1],
  ])('%s', (_name, edit, description, params) => {
    const before = JSON.stringify(base);
    const spec = edit();
    expect(describeNetwork(spec)).toBe(description);
    if (params >= 0) expect(paramCount(spec)).toBe(params);
    expect(JSON.stringify(base)).toBe(before);
  });

  test.each<[string, () => unknown, RegExp]>([
    ['dropout rate 0', () => addDropout(base, { rate: 0 }), /rate must be a number in \(0, 1\)/],
    ['dropout rate 1', () => addDropout(base, { rate: 1 }), /rate must be a number in \(0, 1\)/],
    ['dropout after the last layer', () => addDropout(base, { afterLayer: 4, rate: 0.2 }), /afterLayer must be a layer index from 0 to 3/],
    ['widen by 0', () => widen(base, 0), /factor must be a positive number/],
    ['filter size 0', () => changeFilterSize(base, 0), /kernelSize must be a positive integer/],
    ['deepen with 2.5 filters', () => deepen(base, { filters: 2.5 }), /filters must be a positive integer/],
    // 28 → 14 → 7 → 3 → 1 → cannot pool a 1×1 image with a 2×2 window
    ['deepen too often', () => deepen(deepen(deepen(deepen(base)))), /layers\[19\] \(maxpool 2×2 stride 2\): spatial size shrinks below 1/],
  ])('rejects %s with a UserError', (_name, edit, message) => {
    expect(edit).toThrow(UserError);
    expect(edit).toThrow(message);
  });
});

describe('convolutionsOf', () => {
  test.each([
    ['the default network', base, [20]],
    ['deepened twice', deepen(deepen(base)), [20, 40, 80]],
    ['widened, then a 5×5 filter', changeFilterSize(widen(base, 2), 5), [40]],
    ['no convolution', { inputShape: [28, 28, 1], layers: [{ type: 'fc', units: 10 }] } as NetworkSpec, []],
  ])('%s: the convolutions in order', (_name, spec, filters) => {
    expect(convolutionsOf(spec).map((c) => c.filters)).toEqual(filters);
    expect(convolutionsOf(spec).every((c) => c.type === 'conv')).toBe(true);
  });

  it('keeps each convolution\'s kernel size (the capacity steps read it)', () => {
    expect(convolutionsOf(changeFilterSize(deepen(base), 5)).map((c) => c.kernelSize)).toEqual([5, 5]);
  });
});

describe('validateNetwork', () => {
  const spec = (layers: unknown[], inputShape: unknown = [28, 28, 1]) => ({ inputShape, layers }) as NetworkSpec;
  test.each<[string, NetworkSpec, RegExp]>([
    ['no layers', spec([]), /no layers/],
    ['bad input shape', spec([{ type: 'fc', units: 10 }], [28, 28]), /inputShape must be \[height, width, channels\]/],
    ['not ending in fc', spec([{ type: 'conv', filters: 4, kernelSize: 3 }]), /layers\[0\] \(conv 3×3, 4 filters, stride 1, 'same'\): the last layer must be fully connected/],
    ['valid conv larger than the image', spec([{ type: 'conv', filters: 4, kernelSize: 29, padding: 'valid' }, { type: 'fc', units: 10 }]), /layers\[0\].*spatial size shrinks below 1 \(input 28×28×1, output 0×0\)/],
    ['pool window larger than the image', spec([{ type: 'maxpool', poolSize: 3, stride: 1 }, { type: 'maxpool', poolSize: 27, stride: 1 }, { type: 'fc', units: 10 }]), /layers\[1\] \(maxpool 27×27 stride 1\): spatial size shrinks below 1/],
    ['conv after fc', spec([{ type: 'fc', units: 10 }, { type: 'conv', filters: 4, kernelSize: 3 }, { type: 'fc', units: 10 }]), /layers\[1\].*cannot follow a fully connected layer/],
    ['dropout rate 1', spec([{ type: 'dropout', rate: 1 }, { type: 'fc', units: 10 }]), /layers\[0\] \(dropout 1\): rate must be a number in \[0, 1\)/],
    ['zero filters', spec([{ type: 'conv', filters: 0, kernelSize: 3 }, { type: 'fc', units: 10 }]), /layers\[0\].*filters must be a positive integer, got 0/],
    ['unknown type', spec([{ type: 'lstm' }, { type: 'fc', units: 10 }]), /layers\[0\]: unknown layer type "lstm"/],
    ['fractional units', spec([{ type: 'fc', units: 2.5 }]), /layers\[0\] \(fc 2.5\): units must be a positive integer/],
  ])('%s → UserError naming the layer', (_name, bad, message) => {
    expect(() => validateNetwork(bad)).toThrow(UserError);
    expect(() => validateNetwork(bad)).toThrow(message);
  });

  it('returns the activation shape after every layer', () => {
    expect(validateNetwork(base)).toEqual([
      { kind: 'image', height: 28, width: 28, channels: 20 },
      { kind: 'image', height: 28, width: 28, channels: 20 },
      { kind: 'image', height: 28, width: 28, channels: 20 },
      { kind: 'image', height: 14, width: 14, channels: 20 },
      { kind: 'flat', units: 10 },
    ]);
  });

  it('handles strides and valid padding', () => {
    const s = spec([{ type: 'conv', filters: 8, kernelSize: 5, stride: 2, padding: 'valid' }, { type: 'fc', units: 3 }], [12, 12, 3]);
    // floor((12-5)/2)+1 = 4
    expect(validateNetwork(s)[0]).toEqual({ kind: 'image', height: 4, width: 4, channels: 8 });
    expect(describeNetwork(s)).toBe('12×12×3 → conv5×5×8/s2 valid → fc3');
    expect(paramCount(s)).toBe(5 * 5 * 3 * 8 + 8 + 4 * 4 * 8 * 3 + 3);
  });
});

describe('networkFlops', () => {
  it('counts the default network by hand: conv 28·28·9·1·20·2 + fc 3920·10·2', () => {
    const conv = 2 * 28 * 28 * 9 * 1 * 20;
    const fc = 2 * 14 * 14 * 20 * 10;
    expect(networkFlops(defaultNetwork())).toEqual({ forward: conv + fc, training: 2 * conv + 3 * fc });
  });
  it('grows with the filter size and the filters', () => {
    const base = networkFlops(defaultNetwork()).forward;
    expect(networkFlops(changeFilterSize(defaultNetwork(), 5)).forward).toBeGreaterThan(base);
    expect(networkFlops(widen(defaultNetwork(), 2)).forward).toBeGreaterThan(base);
    expect(networkFlops(deepen(defaultNetwork())).training).toBeGreaterThan(networkFlops(defaultNetwork()).training);
  });
});
