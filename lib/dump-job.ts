import { Size, TimeZone } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import { Construct } from 'constructs';
import { JobProps, PgdrFunction } from './pgdr-function';
import { pgdrMetric, PgdrMetricOptions } from './pgdr-metrics';

/** When one backup class of a database is dumped. */
export interface DumpSchedule {
  /** Backup class name (passed to the function as `{ "backupClass": ... }`). */
  readonly backupClass: string;
  /** EventBridge Scheduler expression: `cron(...)` or `rate(...)`. */
  readonly expression: string;
  /** IANA time zone the expression is read in. @default "UTC" */
  readonly timeZone?: string;
}

/** A metric the dump job publishes per database and backup class: `BackupFailed` (Sum by default) or `BackupBytes` (Maximum by default), over 5 minutes. */
export function dumpJobMetric(name: 'BackupFailed' | 'BackupBytes', database: string, backupClass: string, options: PgdrMetricOptions = {}): cloudwatch.Metric {
  return pgdrMetric(name, { database, class: backupClass }, { statistic: name === 'BackupFailed' ? cloudwatch.Stats.SUM : cloudwatch.Stats.MAXIMUM, ...options });
}

/**
 * Memory of the dump job when none is given: one full vCPU (Lambda gives 1 vCPU at 1769 MiB).
 * The job is CPU-bound (pg_dump + zstd + SHA-256; BENCHMARKS.md "Lambda memory"): up to one vCPU
 * its GB-seconds per GiB of dump stay the same while it runs faster (1.7× against 1024 MiB);
 * beyond it the pipeline (one pg_dump thread) gains little. Its memory use does not grow with the
 * database (peak RSS ~120 MiB).
 */
export const DEFAULT_DUMP_MEMORY_MIB = 1769;

/** Properties of a {@link DumpJob} (memorySize defaults to {@link DEFAULT_DUMP_MEMORY_MIB} here). */
export interface DumpJobProps extends JobProps {
  /** Port of the database server. @default 5432 */
  readonly databasePort?: number;
  /** One schedule per scheduled backup class. @default [] (on demand only) */
  readonly schedules?: DumpSchedule[];
}

/**
 * The dump job of one database: a function that streams `pg_dump` through a hasher into the
 * vault and writes the manifest last, run by EventBridge Scheduler per backup class (time zone
 * aware), with retries and a dead-letter queue. It may write `<database>/*` and read its one secret.
 */
export class DumpJob extends Construct {
  readonly job: PgdrFunction;
  readonly schedules: scheduler.Schedule[];
  private readonly database: string;

  constructor(scope: Construct, id: string, props: DumpJobProps) {
    super(scope, id);
    const seen = new Set<string>();
    for (const [i, s] of (props.schedules ?? []).entries()) {
      if (seen.has(s.backupClass)) throw new Error(`schedules[${i}].backupClass: must be unique (received "${s.backupClass}" twice)`);
      seen.add(s.backupClass);
    }

    this.database = props.database;
    this.job = new PgdrFunction(this, 'Dump', { ...props, job: 'dump', memorySize: props.memorySize ?? Size.mebibytes(DEFAULT_DUMP_MEMORY_MIB), databasePorts: [props.databasePort ?? 5432] });
    props.vault.grantWriteDumps(this.job.function, props.database);

    this.schedules = (props.schedules ?? []).map(
      (s) =>
        new scheduler.Schedule(this, `Schedule-${s.backupClass}`, {
          description: `pgdr: dump ${props.database} (${s.backupClass})`,
          schedule: scheduler.ScheduleExpression.expression(s.expression, TimeZone.of(s.timeZone ?? 'UTC')),
          target: this.job.scheduledInvoke({ backupClass: s.backupClass }),
        }),
    );
  }

  /** Failed dump runs of a backup class (`BackupFailed` {database, class}, 1 per failed run). @default Sum over 5 minutes */
  metricBackupFailed(backupClass: string, options: PgdrMetricOptions = {}): cloudwatch.Metric {
    return dumpJobMetric('BackupFailed', this.database, backupClass, options);
  }

  /** Stored size of each dump of a backup class (`BackupBytes` {database, class}). @default Maximum over 5 minutes */
  metricBackupBytes(backupClass: string, options: PgdrMetricOptions = {}): cloudwatch.Metric {
    return dumpJobMetric('BackupBytes', this.database, backupClass, options);
  }
}
