import { describe, expect, test } from 'vitest';
import { counted, formatAgainst, formatChange, formatInt, formatNumber, formatPercent, noun } from '../../src/util/format.ts';
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

describe('counts in words: one integer formatter and one plural rule', () => {
  test.each([
    [0, '0'],
    [1, '1'],
    [999, '999'],
    [50000, '50,000'],
    [1731712, '1,731,712'],
    [2.6, '3'],
    [-1200, '-1,200'],
  ])('formatInt(%s) = %s', (n, text) => expect(formatInt(n)).toBe(text));

  test.each([
    [0, 'run', undefined, '0 runs'],
    [1, 'run', undefined, '1 run'],
    [2, 'run', undefined, '2 runs'],
    [1, 'study', 'studies', '1 study'],
    [3, 'study', 'studies', '3 studies'],
    [12000, 'image', undefined, '12,000 images'],
  ])('counted(%s, %s, %s) = %s', (n, singular, plural, text) => expect(counted(n, singular, plural)).toBe(text));

  test.each([
    [0, 'column', 'columns'],
    [1, 'column', 'column'],
    [2, 'column', 'columns'],
  ])('noun(%s, %s) = %s', (n, singular, text) => expect(noun(n, singular)).toBe(text));
});
