import { describe, expect, test } from 'vitest';
import { formatAgainst, formatChange, formatNumber, formatPercent } from '../../src/util/format.ts';
import * as diagnosis from '../../src/diagnosis/index.ts';

describe('numbers in words: one formatter for reasons and reports', () => {
  test.each<[number | null | undefined, string]>([
    [0.31234, '0.312'],
    [27, '27'],
    [0.0001, '0.0001'],
    [1e-7, '1e-7'],
    [0.0000123, '1.23e-5'],
    [1731712, '1731712'], // whole numbers print whole (images trained, parameters)
    [1290.4, '1290'],
    [-0.25612, '-0.256'],
    [0, '0'],
    [NaN, 'NaN'],
    [Infinity, 'Inf'], // MATLAB's spelling, as in the options a report prints
    [-Infinity, '-Inf'],
    [null, 'n/a'],
    [undefined, 'n/a'],
  ])('formatNumber(%s) = %s', (value, text) => expect(formatNumber(value)).toBe(text));

  test('more digits when asked (a parameter a user copies), and the report\'s mark for a missing value', () => {
    expect(formatNumber(0.256123, 4)).toBe('0.2561');
    expect(formatNumber(0.0031622777, 6)).toBe('0.00316228');
    expect(formatNumber(3e-9, 4)).toBe('3e-9');
    expect(formatNumber(null, 3, '—')).toBe('—');
  });

  test.each([
    [0.22, '+22%'],
    [-0.0976, '−9.8%'],
    [0, '0%'],
    [1.5, '+150%'],
  ])('formatChange(%s) = %s', (value, text) => expect(formatChange(value)).toBe(text));

  test.each([
    [0.1004, 0.1, '0.1004'],
    [0.0999, 0.1, '0.0999'],
    [0.15, 0.1, '0.15'],
    [0.1, 0.1, '0.1'],
  ])('formatAgainst(%s, %s) = %s', (value, limit, text) => expect(formatAgainst(value, limit)).toBe(text));

  test('formatPercent, and the diagnosis entry exports the same functions (policies import them from flowtune)', () => {
    expect(formatPercent(0.5)).toBe('50%');
    expect(diagnosis.formatNumber).toBe(formatNumber);
    expect(diagnosis.formatAgainst).toBe(formatAgainst);
  });
});
