import { Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import { Construct } from 'constructs';
import type { AlertTopics, Severity } from './alert-topics';

/** Where the runbook lives; each alarm's description names a section of it. @default docs/alarms.md */
export const DEFAULT_RUNBOOK = 'docs/alarms.md';

/** What an alarm's description says: its severity, what it means and the runbook section to follow. */
export interface AlarmDescriptionParts {
  readonly severity: Severity;
  readonly summary: string;
  readonly runbook: string;
  readonly section: string;
}

/** The description of every pgdr alarm: `[severity] summary Runbook: <runbook>, section "<section>".` */
export function alarmDescription(p: AlarmDescriptionParts): string {
  return `[${p.severity}] ${p.summary} Runbook: ${p.runbook}, section "${p.section}".`;
}

/** The parts of a description written by {@link alarmDescription}; undefined for any other text. */
export function parseAlarmDescription(text: string): AlarmDescriptionParts | undefined {
  const m = /^\[(critical|warning)\] ([\s\S]*) Runbook: ([\s\S]*), section "([^"]*)"\.$/.exec(text);
  return m ? { severity: m[1] as Severity, summary: m[2], runbook: m[3], section: m[4] } : undefined;
}

/** Properties of an {@link AlarmFactory}. */
export interface AlarmFactoryProps {
  /** The per-severity topics: an alarm notifies its severity's topic when it fires AND when it recovers. */
  readonly topics: AlertTopics;
  /** Prefix of every alarm name (`<prefix>-<database>-<what>`). @default the stack name */
  readonly namePrefix?: string;
  /** Link or path of the runbook the descriptions point to. @default "docs/alarms.md" */
  readonly runbook?: string;
}

/** When a metric alarm fires. */
export interface MetricAlarmOptions {
  /** Stable short name, unique within the database (`rpo`, `stale-daily`...). */
  readonly name: string;
  /** The database it watches; `undefined` for stack-wide alarms. @default stack-wide */
  readonly database?: string;
  /** The construct the alarm is created in (e.g. the database's alarms construct). @default the factory's scope */
  readonly scope?: Construct;
  readonly severity: Severity;
  /** What was measured (a metric helper's result, or a math expression over them). */
  readonly metric: cloudwatch.IMetric;
  readonly threshold: number;
  readonly comparison: cloudwatch.ComparisonOperator;
  /** Periods looked at. @default 1 */
  readonly evaluationPeriods?: number;
  /** Breaching periods among them that fire the alarm. @default evaluationPeriods */
  readonly datapointsToAlarm?: number;
  /** What a period without data means: every alarm says it on purpose. */
  readonly treatMissingData: cloudwatch.TreatMissingData;
  /** One sentence: what the alarm means. */
  readonly summary: string;
  /** The runbook section to follow (its heading). */
  readonly runbookSection: string;
}

/** When a composite alarm fires. */
export interface CompositeAlarmOptions {
  readonly name: string;
  readonly database?: string;
  /** @default the factory's scope */
  readonly scope?: Construct;
  readonly severity: Severity;
  readonly rule: cloudwatch.IAlarmRule;
  readonly summary: string;
  readonly runbookSection: string;
}

/**
 * The one place that decides how a pgdr alarm looks (after cdk-monitoring-constructs' AlarmFactory,
 * with option objects): stable names with the stack's prefix, a description that says what the
 * alarm means and which runbook section to follow, the alarm and OK actions to its severity's
 * topic, M-of-N datapoints and an explicit treatment of missing data.
 */
export class AlarmFactory {
  readonly topics: AlertTopics;
  readonly prefix: string;
  readonly runbook: string;

  constructor(private readonly scope: Construct, props: AlarmFactoryProps) {
    this.topics = props.topics;
    this.prefix = props.namePrefix ?? Stack.of(scope).stackName;
    this.runbook = props.runbook ?? DEFAULT_RUNBOOK;
  }

  /** `<prefix>-<database>-<name>` (or `<prefix>-<name>` for stack-wide alarms). */
  alarmName(name: string, database?: string): string {
    return [this.prefix, database, name].filter((p) => p !== undefined).join('-');
  }

  metricAlarm(o: MetricAlarmOptions): cloudwatch.Alarm {
    const evaluationPeriods = o.evaluationPeriods ?? 1;
    const datapointsToAlarm = o.datapointsToAlarm ?? evaluationPeriods;
    if (!Number.isInteger(evaluationPeriods) || evaluationPeriods < 1) throw new Error(`evaluationPeriods of alarm "${o.name}": must be a whole number ≥ 1 (received ${evaluationPeriods})`);
    if (!Number.isInteger(datapointsToAlarm) || datapointsToAlarm < 1 || datapointsToAlarm > evaluationPeriods) {
      throw new Error(`datapointsToAlarm of alarm "${o.name}": must be 1 to evaluationPeriods (${evaluationPeriods}) (received ${datapointsToAlarm})`);
    }
    const alarm = new cloudwatch.Alarm(o.scope ?? this.scope, this.constructId(o.name, o.database), {
      alarmName: this.alarmName(o.name, o.database),
      alarmDescription: this.description(o.severity, o.summary, o.runbookSection),
      metric: o.metric,
      threshold: o.threshold,
      comparisonOperator: o.comparison,
      evaluationPeriods,
      datapointsToAlarm,
      treatMissingData: o.treatMissingData,
    });
    this.notify(alarm, o.severity);
    return alarm;
  }

  compositeAlarm(o: CompositeAlarmOptions): cloudwatch.CompositeAlarm {
    const alarm = new cloudwatch.CompositeAlarm(o.scope ?? this.scope, this.constructId(o.name, o.database), {
      compositeAlarmName: this.alarmName(o.name, o.database),
      alarmDescription: this.description(o.severity, o.summary, o.runbookSection),
      alarmRule: o.rule,
    });
    this.notify(alarm, o.severity);
    return alarm;
  }

  private notify(alarm: cloudwatch.AlarmBase, severity: Severity): void {
    const action = new actions.SnsAction(this.topics.topic(severity));
    alarm.addAlarmAction(action);
    alarm.addOkAction(action);
  }

  private description(severity: Severity, summary: string, section: string): string {
    return alarmDescription({ severity, summary, runbook: this.runbook, section });
  }

  private constructId(name: string, database?: string): string {
    return `Alarm-${database ?? 'stack'}-${name}`;
  }
}
