/** The action registry's facts (src/actions.ts): what taking an action does is a field, read by the machine, the rails, the kit and the adapters. */
import { describe, expect, test } from 'vitest';
import { ACTIONS, ACTION_NAMES, sameConfiguration, type ActionKind } from '../src/actions.ts';
import { defaultNetwork } from '../src/config/network.ts';
import { resolveOptions } from '../src/config/options.ts';

describe('the registry says what each action does', () => {
  const kinds = Object.fromEntries(ACTION_NAMES.map((name) => [name, ACTIONS[name].kind])) as Record<string, ActionKind>;

  test('one edit without a run (trimEpochs), one revert, one stop; every other action trains', () => {
    expect(ACTION_NAMES.filter((n) => kinds[n] === 'edit')).toEqual(['trimEpochs']);
    expect(ACTION_NAMES.filter((n) => kinds[n] === 'revert')).toEqual(['revert']);
    expect(ACTION_NAMES.filter((n) => kinds[n] === 'stop')).toEqual(['stop']);
    for (const name of ACTION_NAMES) expect(ACTIONS[name].trains, name).toBe(kinds[name] === 'train');
    expect(ACTION_NAMES.filter((n) => kinds[n] === 'train').length).toBe(ACTION_NAMES.length - 3);
  });

  test('only addEpochs exhausts its step whatever its verdict (the epochs are used up)', () => {
    expect(ACTION_NAMES.filter((n) => ACTIONS[n].exhaustsStep)).toEqual(['addEpochs']);
  });
});

describe('sameConfiguration: what a run trains, whatever order its keys were written in', () => {
  const network = defaultNetwork();
  const options = resolveOptions({ maxEpochs: 10 });
  const reversed = <T extends object>(o: T): T => Object.fromEntries(Object.entries(o).reverse()) as T;
  test.each([
    ['the same objects', { network, options }, true],
    ['options keys in another order', { network, options: reversed(options) }, true],
    ['a layer\'s keys in another order', { network: { ...network, layers: network.layers.map(reversed) }, options }, true],
    ['another maxEpochs', { network, options: { ...options, maxEpochs: 11 } }, false],
    ['another filter count', { network: { ...network, layers: network.layers.map((l) => (l.type === 'conv' ? { ...l, filters: 40 } : l)) }, options }, false],
    ['layers in another order', { network: { ...network, layers: [...network.layers].reverse() }, options }, false],
  ])('%s: %s', (_name, other, same) => {
    expect(sameConfiguration({ network, options }, other)).toBe(same);
  });
});
