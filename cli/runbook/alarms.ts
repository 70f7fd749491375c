/**
 * The alarms a synthesized template creates, as the runbook lists them: every AWS::CloudWatch::Alarm
 * and AWS::CloudWatch::CompositeAlarm with its resolved name, the database it watches, its severity,
 * what it means and the runbook section it points to (the description lib/alarm-factory.ts writes).
 */
import { parseAlarmDescription } from '../../lib/alarm-factory';
import type { Severity } from '../../lib/alert-topics';
import type { TemplateJson } from '../../lib/synthesize';

/** One alarm of the stack. */
export interface StackAlarm {
  /** The CloudWatch alarm name (`<stack>-<database>-<what>` or `<stack>-<what>`). */
  readonly name: string;
  /** The name without the stack and database prefix (`rpo`, `stale-daily`, `failover-failed`). */
  readonly what: string;
  readonly composite: boolean;
  /** The database it watches; undefined for stack-wide alarms. */
  readonly database?: string;
  /** undefined when the description is not pgdr's (an alarm someone added by hand). */
  readonly severity?: Severity;
  /** What the alarm means (the description's summary, or the whole description). */
  readonly summary: string;
  /** The runbook its description points to, and the section to follow there. */
  readonly runbook?: string;
  readonly section?: string;
}

const ALARM_TYPES = ['AWS::CloudWatch::Alarm', 'AWS::CloudWatch::CompositeAlarm'];

/** A template string value: a literal, or an Fn::Join of literals and `Ref AWS::StackName`. */
export function resolveTemplateString(value: unknown, stackName: string): string {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object') {
    const token = value as Record<string, unknown>;
    if (token.Ref === 'AWS::StackName') return stackName;
    if (typeof token.Ref === 'string') return `<${token.Ref}>`;
    if (Array.isArray(token['Fn::Join'])) {
      const [separator, parts] = token['Fn::Join'] as [string, unknown[]];
      return parts.map((p) => resolveTemplateString(p, stackName)).join(separator);
    }
  }
  throw new Error(`cannot resolve the template value ${JSON.stringify(value)}`);
}

/**
 * Every alarm of `template`, in template order. The database of an alarm comes from its name:
 * `<stack>-<database>-...` with the longest configured database name that matches.
 */
export function stackAlarms(template: TemplateJson, stackName: string, databases: readonly string[]): StackAlarm[] {
  const byLength = [...databases].sort((a, b) => b.length - a.length);
  return Object.values(template.Resources)
    .filter((r) => ALARM_TYPES.includes(r.Type))
    .map((r) => {
      const composite = r.Type === 'AWS::CloudWatch::CompositeAlarm';
      const props = r.Properties ?? {};
      const name = resolveTemplateString(props.AlarmName, stackName);
      const database = byLength.find((db) => name.startsWith(`${stackName}-${db}-`));
      const prefix = database ? `${stackName}-${database}-` : `${stackName}-`;
      const what = name.startsWith(prefix) ? name.slice(prefix.length) : name;
      const description = typeof props.AlarmDescription === 'string' ? props.AlarmDescription : '';
      const parts = parseAlarmDescription(description);
      return { name, what, composite, database, severity: parts?.severity, summary: parts?.summary ?? description, runbook: parts?.runbook, section: parts?.section };
    });
}
