/**
 * The machine drawn as a Mermaid state diagram, generated from its definition (not by hand):
 * every state, every transition with its guard, and the step route sets. `npm run diagram`
 * writes it into README.md; a test fails when the committed diagram differs from this.
 * Error transitions (any actor failing → failed) are summarised in one note instead of drawn.
 */
import type { AnyStateMachine } from 'xstate';

interface Node {
  id: string;
  key: string;
  states: Record<string, Node>;
  initial?: { target: Node[] };
  transitions: Map<string, Transition[]>;
  always?: Transition[];
  type: string;
}

interface Transition {
  eventType: string;
  guard?: string | { type: string; params?: Record<string, unknown> };
  target?: Node[];
  actions: unknown[];
}

const idOf = (node: Node): string => node.id.split('.').slice(1).join('_') || 'root';

function guardText(guard: Transition['guard']): string {
  if (!guard) return '';
  if (typeof guard === 'string') return guard;
  const params = guard.params ? Object.values(guard.params).join(', ') : '';
  return params ? `${guard.type}(${params})` : guard.type;
}

/** A `setStep` action's step, for the label of route's transitions. */
function stepSet(actions: unknown[]): string {
  for (const a of actions) {
    const action = a as { type?: string; params?: { step?: string } };
    if (action?.type === 'setStep' && action.params?.step) return ` → step ${action.params.step}`;
  }
  return '';
}

function eventText(eventType: string): string {
  const done = /^xstate\.done\.actor\.(.+)$/.exec(eventType);
  if (done) return `${done[1]} done`;
  return eventType;
}

function edges(node: Node, out: string[], indent: string): void {
  const from = idOf(node);
  const all: Transition[] = [...(node.always ?? []), ...[...node.transitions.values()].flat()];
  for (const t of all) {
    if (t.eventType.startsWith('xstate.error.actor.')) continue;
    // An unguarded transition after guarded ones on the same event is the "otherwise".
    const otherwise = !t.guard && all.some((o) => o !== t && o.eventType === t.eventType && o.guard);
    for (const target of t.target ?? []) {
      const parts = [t.eventType === '' ? '' : eventText(t.eventType), otherwise ? 'otherwise' : guardText(t.guard)].filter((p) => p !== '');
      const label = parts.join(' [') + (parts.length > 1 ? ']' : '') + stepSet(t.actions);
      out.push(`${indent}${from} --> ${idOf(target)}${label ? `: ${label}` : ''}`);
    }
  }
}

function draw(node: Node, out: string[], indent: string): void {
  const children = Object.values(node.states);
  for (const child of children) {
    if (Object.keys(child.states).length > 0) {
      out.push(`${indent}state "${child.key}" as ${idOf(child)} {`);
      draw(child, out, indent + '  ');
      out.push(`${indent}}`);
    } else {
      out.push(`${indent}state "${child.key}" as ${idOf(child)}`);
    }
  }
  const initial = node.initial?.target?.[0];
  if (initial) out.push(`${indent}[*] --> ${idOf(initial)}`);
  for (const child of children) {
    edges(child, out, indent);
    if (child.type === 'final') out.push(`${indent}${idOf(child)} --> [*]`);
  }
}

/** The Mermaid source of the machine's diagram. */
export function machineDiagram(machine: AnyStateMachine): string {
  const out = ['stateDiagram-v2'];
  draw(machine.root as unknown as Node, out, '  ');
  // No ';' in a note: Mermaid ends a statement there and draws the rest as states.
  out.push('  note right of failed: any actor failing (a run, the policy, an evaluation) also leads here, and finished runs are kept');
  return out.join('\n');
}
