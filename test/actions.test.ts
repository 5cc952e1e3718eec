/** The action registry's facts (src/actions.ts): what taking an action does is a field, read by the machine, the rails, the kit and the adapters. */
import { describe, expect, test } from 'vitest';
import { ACTIONS, ACTION_NAMES, type ActionKind } from '../src/actions.ts';

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
