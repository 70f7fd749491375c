import { ArnFormat, Duration, Size, Stack, Token } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import { Construct } from 'constructs';
import type { MonitorMetric, MonitorSettings } from '../lambda/monitor/contract';
import { JobProps, PgdrFunction } from './pgdr-function';
import { pgdrMetric, PgdrMetricOptions } from './pgdr-metrics';

export { DEFAULT_INSTANCE_CREATE_SECONDS, monitorSettings } from './monitor-settings';

/** Properties of a {@link MonitorJob}. */
export interface MonitorJobProps extends JobProps {
  /** What the monitor measures and against what (env PGDR_MONITOR; no secrets). */
  readonly settings: MonitorSettings;
  /** How often it runs (whole minutes, 1-60). @default Duration.minutes(5) */
  readonly interval?: Duration;
  /** TCP port of the database server (the health probe connects to it). @default 5432 */
  readonly databasePort?: number;
}

/**
 * The recovery-objectives monitor of one database (lambda/monitor): run by EventBridge Scheduler
 * every `interval`, it publishes the age of the newest verified backup (overall and per class),
 * the PITR lag and free storage of an RDS source, the estimated RTO, the health probe and the age
 * of the newest successful drill (lambda/monitor/contract.ts). It may read the database's records
 * and secret, describe its RDS instance, and read CloudWatch metrics.
 */
export class MonitorJob extends Construct {
  readonly job: PgdrFunction;
  readonly schedule: scheduler.Schedule;
  /** How often the monitor runs. */
  readonly interval: Duration;
  private readonly database: string;

  constructor(scope: Construct, id: string, props: MonitorJobProps) {
    super(scope, id);
    this.interval = props.interval ?? Duration.minutes(5);
    const minutes = this.interval.toSeconds() / 60;
    if (!Token.isUnresolved(this.interval.toSeconds()) && (!Number.isInteger(minutes) || minutes < 1 || minutes > 60)) {
      throw new Error(`interval: must be whole minutes from 1 to 60 (received ${this.interval.toHumanString()})`);
    }
    this.database = props.database;
    const stack = Stack.of(this);

    this.job = new PgdrFunction(this, 'Monitor', {
      ...props,
      job: 'monitor',
      databasePorts: [props.databasePort ?? 5432],
      memorySize: props.memorySize ?? Size.mebibytes(512),
      // A run must end before the next one starts.
      timeout: props.timeout ?? Duration.seconds(Math.min(60, this.interval.toSeconds() - 10)),
      // A failed run is replaced by the next one within minutes; a retry would only overlap it.
      retryAttempts: 0,
      environment: { PGDR_MONITOR: JSON.stringify(props.settings) },
      unscopedActions: {
        actions: ['cloudwatch:GetMetricStatistics', 'cloudwatch:GetMetricData'],
        reason: "CloudWatch metric reads (the RDS source's FreeStorageSpace) have no resource-level permissions either; they read metrics only, no data of the database.",
      },
    });
    props.vault.grantReadDumps(this.job.function, props.database);

    if (props.settings.rdsInstanceIdentifier) {
      this.job.function.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['rds:DescribeDBInstances'],
          resources: [stack.formatArn({ service: 'rds', resource: 'db', resourceName: props.settings.rdsInstanceIdentifier, arnFormat: ArnFormat.COLON_RESOURCE_NAME })],
        }),
      );
    }

    this.schedule = new scheduler.Schedule(this, 'Schedule', {
      description: `pgdr: monitor the recovery objectives of ${props.database}`,
      schedule: scheduler.ScheduleExpression.rate(this.interval),
      target: this.job.scheduledInvoke({}),
    });
  }

  /** Seconds since the newest verified backup of the database started (`BackupAgeSeconds` {database}). @default Maximum over 5 minutes */
  metricBackupAge(options?: PgdrMetricOptions): cloudwatch.Metric {
    return this.metric('BackupAgeSeconds', options);
  }

  /** Seconds since the newest verified backup of one class started (`BackupAgeSeconds` {database, class}). @default Maximum over 5 minutes */
  metricClassBackupAge(backupClass: string, options: PgdrMetricOptions = {}): cloudwatch.Metric {
    return pgdrMetric('BackupAgeSeconds', { database: this.database, class: backupClass }, options);
  }

  /** now − LatestRestorableTime of the RDS source (`PitrLagSeconds`). @default Maximum over 5 minutes */
  metricPitrLag(options?: PgdrMetricOptions): cloudwatch.Metric {
    return this.metric('PitrLagSeconds', options);
  }

  /** What a recovery would take now (`EstimatedRtoSeconds`). @default Maximum over 5 minutes */
  metricEstimatedRto(options?: PgdrMetricOptions): cloudwatch.Metric {
    return this.metric('EstimatedRtoSeconds', options);
  }

  /** 1 when the health probe connected, else 0 (`DatabaseReachable`). @default Minimum over 5 minutes */
  metricReachable(options: PgdrMetricOptions = {}): cloudwatch.Metric {
    return this.metric('DatabaseReachable', { statistic: cloudwatch.Stats.MINIMUM, ...options });
  }

  /** Connections in use against max_connections, in % (`ConnectionsUsedPercent`). @default Maximum over 5 minutes */
  metricConnectionsUsed(options?: PgdrMetricOptions): cloudwatch.Metric {
    return this.metric('ConnectionsUsedPercent', options);
  }

  /** Free storage of the RDS source, in % of the allocated storage (`FreeStoragePercent`). @default Minimum over 5 minutes */
  metricFreeStorage(options: PgdrMetricOptions = {}): cloudwatch.Metric {
    return this.metric('FreeStoragePercent', { statistic: cloudwatch.Stats.MINIMUM, ...options });
  }

  /** Seconds since the newest successful drill finished (`DrillAgeSeconds`). @default Maximum over 5 minutes */
  metricDrillAge(options?: PgdrMetricOptions): cloudwatch.Metric {
    return this.metric('DrillAgeSeconds', options);
  }

  private metric(name: MonitorMetric, options: PgdrMetricOptions = {}): cloudwatch.Metric {
    return pgdrMetric(name, { database: this.database }, options);
  }
}
