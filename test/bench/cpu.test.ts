/** bench/cpu.mjs: the CPU a benchmark figure is stated with, and whether recorded rows are side by side. */
import { describe, expect, test } from 'vitest';
import { cpuModelFrom, notSideBySide, SIDE_BY_SIDE_SPEED_RATIO } from '../../bench/cpu.mjs';

const lscpu = (name: string, family = '26', model = '2', stepping = '1') =>
  ['Architecture:                            x86_64', `Model name:                              ${name}`, `CPU family:                              ${family}`, `Model:                                   ${model}`, 'Thread(s) per core:                      1', `Stepping:                                ${stepping}`, 'BogoMIPS:                                5192.24'].join('\n');

describe('cpuModelFrom', () => {
  test.each([
    ['a generic name gets its family, model and stepping', lscpu('AMD EPYC'), 'AMD EPYC (family 26, model 2, stepping 1)'],
    ['another generation of the same name is another CPU', lscpu('AMD EPYC', '25', '17', '0'), 'AMD EPYC (family 25, model 17, stepping 0)'],
    ["Intel's generic name too", lscpu('Intel Xeon Processor (Icelake)', '6', '106', '6'), 'Intel Xeon Processor (Icelake) (family 6, model 106, stepping 6)'],
    ['a name with a model number stays as it is', lscpu('AMD EPYC 9B14'), 'AMD EPYC 9B14'],
    ['no family fields: the name alone', 'Model name:   AMD EPYC\nFlags: fpu', 'AMD EPYC'],
    ['no model name: null', 'Architecture: aarch64\nCPU family: 8', null],
  ])('%s', (_name, text, expected) => {
    expect(cpuModelFrom(text)).toBe(expected);
  });
});

describe('notSideBySide', () => {
  const cpu = 'AMD EPYC (family 26, model 2, stepping 1)';
  test.each<[string, Array<{ cpu?: string | null; startImagesPerSecond?: number | null }>, RegExp | null]>([
    ['one machine: its run 1 speeds in one session (×1.20)', [14556, 15026, 16024, 16151, 13485, 14627].map((s) => ({ cpu, startImagesPerSecond: s })), null],
    ['one CPU name, one machine twice as fast', [{ cpu: 'AMD EPYC', startImagesPerSecond: 14556 }, { cpu: 'AMD EPYC', startImagesPerSecond: 7100 }], /7100–14556 images\/s \(×2.05\): different machines/],
    ['two CPU names', [{ cpu, startImagesPerSecond: 14556 }, { cpu: 'Intel Xeon Processor', startImagesPerSecond: 14556 }], /different CPUs \(.*Intel Xeon Processor\)/],
    ['speeds unknown (older rows): nothing to say', [{ cpu: 'AMD EPYC' }, { cpu: 'AMD EPYC', startImagesPerSecond: null }], null],
    ['one row', [{ cpu, startImagesPerSecond: 9000 }], null],
  ])('%s', (_name, rows, expected) => {
    const why = notSideBySide(rows);
    if (expected === null) expect(why).toBeNull();
    else expect(why).toMatch(expected);
  });

  test('the bound is a ratio of the fastest to the slowest', () => {
    const at = (ratio: number) => notSideBySide([{ cpu: 'x', startImagesPerSecond: 10000 }, { cpu: 'x', startImagesPerSecond: 10000 * ratio }]);
    expect(at(SIDE_BY_SIDE_SPEED_RATIO)).toBeNull();
    expect(at(SIDE_BY_SIDE_SPEED_RATIO + 0.01)).not.toBeNull();
  });
});
