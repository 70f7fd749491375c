import { Duration, Stack, TimeZone } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as schedulerTargets from 'aws-cdk-lib/aws-scheduler-targets';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { FailoverInput, RecoverySource } from '../lambda/failover/contract';
import { acknowledgeCompliance } from './nag';
import { deadLetterQueue } from './pgdr-function';

/** One database's scheduled drill. */
export interface ScheduledDrill {
  /** pgdr database name. */
  readonly database: string;
  /** `cron(...)` or `rate(...)`. */
  readonly expression: string;
  /** IANA time zone of a cron expression. @default "UTC" */
  readonly timeZone?: string;
  /** The recovery source the drill uses. */
  readonly source: RecoverySource;
}

/** Properties of {@link DrillSchedules}. */
export interface DrillSchedulesProps {
  /** The failover state machine the drills start. */
  readonly stateMachine: sfn.IStateMachine;
  /** The drills (at least one). */
  readonly drills: ScheduledDrill[];
}

/** The recovery source a scheduled drill of a database uses when the configuration names none. */
export function defaultDrillSource(source: { readonly type: 'rds' | 'external'; readonly pointInTimeRecovery?: boolean }): RecoverySource {
  if (source.type !== 'rds') return 'dump';
  return source.pointInTimeRecovery ? 'pitr' : 'snapshot';
}

/**
 * EventBridge Scheduler schedules that start the failover state machine in drill mode
 * (`{"database", "source", "mode": "drill", "approval": "skip"}`): the drill restores, validates,
 * records the measured recovery time and deletes its instance; it never cuts over. One role for all
 * schedules that may start this one state machine; deliveries that still fail after two retries land
 * in an encrypted dead-letter queue.
 */
export class DrillSchedules extends Construct {
  readonly schedules: scheduler.Schedule[] = [];
  readonly deadLetterQueue: sqs.Queue;

  constructor(scope: Construct, id: string, props: DrillSchedulesProps) {
    super(scope, id);
    if (props.drills.length === 0) throw new Error('drills: at least one scheduled drill is needed (received none)');
    this.deadLetterQueue = deadLetterQueue(
      this,
      'This queue is the dead-letter queue of the drill schedules (deliveries that failed for good stay 14 days); a queue behind it would only move them. Its depth is alarmed (the drill-dead-letters alarm).',
    );
    const role = new iam.Role(this, 'Role', {
      description: 'EventBridge Scheduler starting pgdr failover drills',
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', { conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(this).account } } }),
    });
    acknowledgeCompliance(
      role,
      'IAMNoInlinePolicy',
      "The drill schedules' role carries one policy of its own, written by CDK grants: start this one state machine and send to this one dead-letter queue.",
    );
    for (const drill of props.drills) {
      const input: FailoverInput = { database: drill.database, source: drill.source, mode: 'drill', approval: 'skip' };
      this.schedules.push(
        new scheduler.Schedule(this, `${drill.database}-Drill`, {
          description: `pgdr: failover drill of ${drill.database} (${drill.source}, never cuts over)`,
          schedule: scheduler.ScheduleExpression.expression(drill.expression, TimeZone.of(drill.timeZone ?? 'UTC')),
          target: new schedulerTargets.StepFunctionsStartExecution(props.stateMachine, {
            role,
            input: scheduler.ScheduleTargetInput.fromObject(input),
            deadLetterQueue: this.deadLetterQueue,
            retryAttempts: 2,
            maxEventAge: Duration.hours(1),
          }),
        }),
      );
    }
  }
}
