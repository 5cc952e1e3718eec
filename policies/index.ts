/**
 * `flowtune/policies`: the built-in policies, to run, wrap or extend — each written against
 * 'flowtune' exactly as a user's policy is, and imported from here the same way a user's own
 * policy module would be:
 *
 *   import { flowchartPolicy } from 'flowtune/policies';
 *
 * They are an entry of their own, not part of 'flowtune': they import 'flowtune', so 'flowtune'
 * importing them back would make an import circle (.dependency-cruiser.cjs forbids circles).
 * PURE, like every policy.
 */
export { policy as flowchartPolicy, FLOWCHART_SETTINGS } from './flowchart.ts';
export { policy as examplePolicy } from './example.ts';
export { policy as randomPolicy, SPACE as RANDOM_SPACE, MAX_RANDOM_RUNS } from './random.ts';
export { policy as noSearchPolicy } from './no-search.ts';
