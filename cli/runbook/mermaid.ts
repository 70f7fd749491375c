/**
 * A Mermaid `flowchart TD` of a state machine definition: every state a node (shape and class by
 * type; End/Succeed/Fail marked), every transition an edge — `Next`, `Default`, each choice's `Next`
 * (labelled with its condition) and each `Catch` (dotted, labelled with the errors it catches).
 * Node ids are generated (`s0`, `s1`...), so no state name can break the syntax; labels are escaped
 * with Mermaid's entity codes.
 */
import type { Definition } from '../../lib/synthesize';

type Json = Record<string, unknown>;

/** One transition of the definition. */
export interface Transition {
  readonly from: string;
  readonly to: string;
  readonly kind: 'next' | 'default' | 'choice' | 'catch';
  /** Condition of a choice, errors of a catch. */
  readonly label?: string;
}

/** `text` safe inside a quoted Mermaid label: no quote, pipe, angle bracket or `#` left raw. */
export function escapeMermaid(text: string): string {
  return text.replace(/[#"<>|&`{}[\]]/g, (c) => `#${c.charCodeAt(0)};`).replace(/\r?\n/g, ' ');
}

const OPERATORS: Record<string, string> = { Equals: '=', LessThan: '<', GreaterThan: '>', LessThanEquals: '≤', GreaterThanEquals: '≥' };

/** A choice rule in a few words: `plan.source = pitr and plan.pitr.useLatestRestorableTime = true`. */
export function describeCondition(rule: Json): string {
  if (Array.isArray(rule.And)) return (rule.And as Json[]).map(describeCondition).join(' and ');
  if (Array.isArray(rule.Or)) return (rule.Or as Json[]).map(describeCondition).join(' or ');
  if (rule.Not) return `not (${describeCondition(rule.Not as Json)})`;
  const variable = String(rule.Variable ?? '').replace(/^\$\.?/, '');
  const op = Object.keys(rule).find((k) => k !== 'Variable' && k !== 'Next');
  if (!op) return variable;
  const value = rule[op];
  const m = /^(String|Numeric|Boolean|Timestamp)(Equals|LessThan|GreaterThan|LessThanEquals|GreaterThanEquals)(Path)?$/.exec(op);
  if (m) return `${variable} ${OPERATORS[m[2]]} ${m[3] ? String(value).replace(/^\$\.?/, '') : String(value)}`;
  if (op === 'IsPresent' || op === 'IsNull' || op === 'IsBoolean' || op === 'IsNumeric' || op === 'IsString' || op === 'IsTimestamp') {
    return `${variable} is ${value ? '' : 'not '}${op.slice(2).toLowerCase()}`;
  }
  return `${variable} ${op} ${JSON.stringify(value)}`;
}

/** Every transition of the definition's top-level states, in state order. */
export function transitions(definition: Definition): Transition[] {
  const edges: Transition[] = [];
  for (const [from, state] of Object.entries(definition.States)) {
    const s = state as typeof state & Json;
    for (const [i, choice] of (s.Choices ?? []).entries()) {
      if (typeof choice.Next === 'string') edges.push({ from, to: choice.Next, kind: 'choice', label: `${i + 1}: ${describeCondition(choice)}` });
    }
    if (typeof s.Default === 'string') edges.push({ from, to: s.Default, kind: 'default', label: 'otherwise' });
    if (typeof s.Next === 'string') edges.push({ from, to: s.Next, kind: 'next' });
    for (const c of s.Catch ?? []) {
      const errors = (c.ErrorEquals as string[] | undefined) ?? [];
      if (typeof c.Next === 'string') edges.push({ from, to: c.Next, kind: 'catch', label: `catch ${errors.map((e) => (e === 'States.ALL' ? 'any error' : e)).join(', ')}` });
    }
  }
  return edges;
}

/** Whether a state ends the execution, and how. */
export function terminal(state: { Type: string; End?: boolean }): 'succeed' | 'fail' | undefined {
  if (state.Type === 'Fail') return 'fail';
  if (state.Type === 'Succeed' || state.End === true) return 'succeed';
  return undefined;
}

const MAX_LABEL = 70;
const clip = (text: string) => (text.length > MAX_LABEL ? `${text.slice(0, MAX_LABEL - 1)}…` : text);

/** The Mermaid source (without the code fence). */
export function mermaidFlowchart(definition: Definition): string {
  const names = Object.keys(definition.States);
  const id = new Map(names.map((n, i) => [n, `s${i}`]));
  const ref = (name: string) => {
    const found = id.get(name);
    if (!found) throw new Error(`the definition has a transition to "${name}", which is not a state`);
    return found;
  };
  const lines = ['flowchart TD', `  start(("start")) --> ${ref(definition.StartAt)}`];
  for (const name of names) {
    const state = definition.States[name];
    const label = `"${escapeMermaid(name)}<br/><small>${escapeMermaid(state.Type)}</small>"`;
    const end = terminal(state);
    const shape = state.Type === 'Choice' ? `{${label}}` : end ? `([${label}])` : `[${label}]`;
    lines.push(`  ${ref(name)}${shape}${end ? `:::${end}` : state.Type === 'Task' ? ':::task' : ''}`);
  }
  for (const e of transitions(definition)) {
    const arrow = e.kind === 'catch' ? '-.->' : '-->';
    lines.push(`  ${ref(e.from)} ${arrow}${e.label ? `|"${escapeMermaid(clip(e.label))}"|` : ''} ${ref(e.to)}`);
  }
  for (const name of names) {
    const end = terminal(definition.States[name]);
    if (end === 'succeed') lines.push(`  ${ref(name)} --> finish(("end"))`);
  }
  lines.push('  classDef task fill:#eef5ff,stroke:#4a78b5', '  classDef succeed fill:#e8f7e8,stroke:#2e7d32,stroke-width:2px', '  classDef fail fill:#fdecea,stroke:#c62828,stroke-width:2px');
  return lines.join('\n');
}
