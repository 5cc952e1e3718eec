/** fitNetworkToData: the default network fitted to a data set's image shape and class count. */
import { describe, expect, test } from 'vitest';
import { MAX_FC_FEATURES, defaultNetwork, describeNetwork, fitNetworkToData, validateNetwork } from '../../src/config/network.ts';

describe('fitNetworkToData', () => {
  test('Fashion-MNIST (28×28×1, 10 classes) leaves the default network untouched', () => {
    const spec = defaultNetwork();
    expect(fitNetworkToData(spec, { height: 28, width: 28, channels: 1, classes: 10 })).toBe(spec);
  });

  test.each([
    [32, 32, 3, 10, '32×32×3 → conv3×3×20 → bn → relu → maxpool2 → fc10'],
    [16, 16, 3, 3, '16×16×3 → conv3×3×20 → bn → relu → maxpool2 → fc3'],
    [10, 14, 1, 4, '10×14×1 → conv3×3×20 → bn → relu → maxpool2 → fc4'],
    [64, 64, 3, 5, '64×64×3 → conv3×3×20 → bn → relu → maxpool4 → fc5'],
    [224, 224, 3, 2, '224×224×3 → conv3×3×20 → bn → relu → maxpool11 → fc2'],
  ])('%i×%i×%i, %i classes: %s', (height, width, channels, classes, expected) => {
    const spec = defaultNetwork();
    const fitted = fitNetworkToData(spec, { height, width, channels, classes });
    expect(describeNetwork(fitted)).toBe(expected);
    expect(describeNetwork(spec)).toBe('28×28×1 → conv3×3×20 → bn → relu → maxpool2 → fc10'); // not mutated
    const shapes = validateNetwork(fitted);
    const beforeFc = shapes[shapes.length - 2];
    expect(beforeFc.kind === 'image' ? beforeFc.height * beforeFc.width * beforeFc.channels : 0).toBeLessThanOrEqual(MAX_FC_FEATURES);
  });

  test('a deeper network keeps its blocks; only the input and the classifier change when the features fit', () => {
    const deep = { inputShape: [28, 28, 1] as [number, number, number], layers: [...defaultNetwork().layers.slice(0, 4), { type: 'conv' as const, filters: 40, kernelSize: 3 }, { type: 'maxpool' as const, poolSize: 2, stride: 2 }, { type: 'dropout' as const, rate: 0.2 }, { type: 'fc' as const, units: 10 }] };
    expect(describeNetwork(fitNetworkToData(deep, { height: 32, width: 32, channels: 3, classes: 7 }))).toBe(
      '32×32×3 → conv3×3×20 → bn → relu → maxpool2 → conv3×3×40 → maxpool2 → dropout0.2 → fc7',
    );
  });
});
