import { readFileSync } from 'node:fs';
import { expect, test } from 'vitest';
import { tuneMachine } from '../../src/machine/machine.ts';
import { machineDiagram } from '../../src/machine/diagram.ts';
import { readmeWithDiagram } from '../../scripts/diagram.ts';

test('the diagram in README.md is the one the machine generates (run `npm run diagram` after changing the machine)', () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  expect(readmeWithDiagram(readme) === readme, 'README.md diagram is stale: run `npm run diagram`').toBe(true);
});

test('the diagram shows every step, the route guards and the finalise sequence', () => {
  const diagram = machineDiagram(tuneMachine);
  for (const step of ['stabilise', 'trainEnough', 'trimEpochs', 'regularise', 'capacity', 'finalise']) expect(diagram).toContain(`state "${step}" as ${step}`);
  expect(diagram).toContain('route --> deciding: runDiverged → step stabilise');
  expect(diagram).toContain('route --> finalise: searchBudgetSpent');
  expect(diagram).toContain('deciding --> decided: decideNext done');
  expect(diagram).toContain('decided --> deciding: actionRefused');
  expect(diagram).toContain('finalise_testing --> finalise_saving: testFinal done');
});
