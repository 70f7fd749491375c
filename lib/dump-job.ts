import { Duration, Size, TimeZone } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { BackupVault } from './backup-vault';
import { PgdrFunction, PgToolsLayer } from './pgdr-function';

/** When one backup class of a database is dumped. */
export interface DumpSchedule {
  /** Backup class name (passed to the function as `{ "backupClass": ... }`). */
  readonly backupClass: string;
  /** EventBridge Scheduler expression: `cron(...)` or `rate(...)`. */
  readonly expression: string;
  /** IANA time zone the expression is read in. @default "UTC" */
  readonly timeZone?: string;
}

/** Properties of a {@link DumpJob}. */
export interface DumpJobProps {
  /** pgdr database name. */
  readonly database: string;
  /** Secret with host/port/dbname/username/password of the account pg_dump uses. */
  readonly secret: secretsmanager.ISecret;
  /** Where dumps go. */
  readonly vault: BackupVault;
  /** PostgreSQL client tools of the server's major version. */
  readonly pgTools: PgToolsLayer;
  /** VPC that reaches the database. */
  readonly vpc: ec2.IVpc;
  /** Subnets of the VPC. @default the VPC's private subnets */
  readonly vpcSubnets?: ec2.SubnetSelection;
  /** Port of the database server. @default 5432 */
  readonly databasePort?: number;
  /** One schedule per scheduled backup class. @default [] (on demand only) */
  readonly schedules?: DumpSchedule[];
  /** Function memory. @default Size.mebibytes(1024) */
  readonly memorySize?: Size;
  /** Function timeout. @default Duration.minutes(15) */
  readonly timeout?: Duration;
}

/**
 * The dump job of one database: a function that streams `pg_dump` through a hasher into the
 * vault and writes the manifest last, run by EventBridge Scheduler per backup class (time zone
 * aware), with retries and a dead-letter queue. It may write `<database>/*` and read its one secret.
 */
export class DumpJob extends Construct {
  readonly job: PgdrFunction;
  readonly schedules: scheduler.Schedule[];

  constructor(scope: Construct, id: string, props: DumpJobProps) {
    super(scope, id);
    const seen = new Set<string>();
    for (const [i, s] of (props.schedules ?? []).entries()) {
      if (seen.has(s.backupClass)) throw new Error(`schedules[${i}].backupClass: must be unique (received "${s.backupClass}" twice)`);
      seen.add(s.backupClass);
    }

    this.job = new PgdrFunction(this, 'Dump', {
      job: 'dump',
      database: props.database,
      pgTools: props.pgTools,
      vpc: props.vpc,
      vpcSubnets: props.vpcSubnets,
      databasePorts: [props.databasePort ?? 5432],
      memorySize: props.memorySize,
      timeout: props.timeout,
      encryptionKey: props.vault.key,
      environment: {
        PGDR_BUCKET: props.vault.bucket.bucketName,
        PGDR_KMS_KEY_ARN: props.vault.key.keyArn,
        PGDR_SECRET_ARN: props.secret.secretArn,
      },
    });
    props.vault.grantWriteDumps(this.job.function, props.database);
    props.secret.grantRead(this.job.function);

    this.schedules = (props.schedules ?? []).map(
      (s) =>
        new scheduler.Schedule(this, `Schedule-${s.backupClass}`, {
          description: `pgdr: dump ${props.database} (${s.backupClass})`,
          schedule: scheduler.ScheduleExpression.expression(s.expression, TimeZone.of(s.timeZone ?? 'UTC')),
          target: this.job.scheduledInvoke({ backupClass: s.backupClass }),
        }),
    );
  }
}
