/** study/config.ts resumeCommand: the one spelling of "continue with …" in every message. */
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { resumeCommand } from '../../src/study/config.ts';

describe('resumeCommand', () => {
  const cwd = process.cwd();
  test.each<[string, Parameters<typeof resumeCommand>[1], string]>([
    ['no folder given: the default reports', {}, '`tune --resume s`'],
    ['a study in ./reports', { studyDir: path.join(cwd, 'reports', 's') }, '`tune --resume s`'],
    ['another folder under the working directory: relative', { studyDir: path.join(cwd, 'runs', 'mine', 's') }, `\`tune --resume s --reports ${path.join('runs', 'mine')}\``],
    ['the working directory itself', { studyDir: path.join(cwd, 's') }, '`tune --resume s --reports .`'],
    ['a folder outside it: absolute', { studyDir: '/var/tmp/studies/s' }, '`tune --resume s --reports /var/tmp/studies`'],
    ['on a queue, URL not given', { redis: true }, '`tune --resume s --redis URL`'],
    ['on a queue, URL given', { studyDir: '/var/tmp/studies/s', redis: 'redis://:***@host:6379' }, '`tune --resume s --reports /var/tmp/studies --redis redis://:***@host:6379`'],
  ])('%s', (_name, where, expected) => {
    expect(resumeCommand('s', where)).toBe(expected);
  });
});
