import { Duration, Size, TimeZone } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as events from 'aws-cdk-lib/aws-events';
import * as eventTargets from 'aws-cdk-lib/aws-events-targets';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { databasePrefix } from '../lambda/shared/layout';
import type { BackupVault } from './backup-vault';
import type { VerifyMode } from './config';
import { JobProps, PgdrFunction } from './pgdr-function';
import { pgdrMetric, PgdrMetricOptions } from './pgdr-metrics';

/** Environment variables are limited to 4 KB in all; keep the policy well below. */
const MAX_POLICY_BYTES = 3000;

/** A query run against each restored copy. */
export interface SmokeQuery {
  /** Label shown in verification records. */
  readonly name: string;
  /** Read-only SQL. */
  readonly sql: string;
  /** Fewest rows the query must return. @default 1 */
  readonly minRows?: number;
}

/** Properties of a {@link VerifyJob} (memorySize defaults to 2048 MiB here). */
export interface VerifyJobProps extends JobProps {
  /** Secret of another server for scratch restores. @default restores go to the source server */
  readonly verificationServerSecret?: secretsmanager.ISecret;
  /** Ports of the source and verification servers. @default [5432] */
  readonly databasePorts?: number[];
  /** Restore-test every Nth backup (0: only on the schedule). @default 1 */
  readonly restoreTestEveryNth?: number;
  /** Also restore-test the newest backup on this schedule. @default none */
  readonly restoreTestSchedule?: { readonly expression: string; readonly timeZone?: string };
  /** Queries run against each restored copy. @default [] */
  readonly smokeQueries?: SmokeQuery[];
  /**
   * Size of /tmp: a restore test downloads the decompressed dump there and runs `pg_restore --jobs 2`
   * on the file when it fits (archive + 10 %), else streams into one pg_restore. @default Size.mebibytes(10240)
   */
  readonly ephemeralStorageSize?: Size;
  /** Where restore tests run; only "ephemeral" is passed on (PGDR_VERIFY_MODE), the others follow from verificationServerSecret as before. @default "server" with a verificationServerSecret, else "source" */
  readonly verifyMode?: VerifyMode;
}

/** The S3 → EventBridge events of a new manifest under `<database>/` in the vault (what starts a verification). */
export function newManifestPattern(vault: BackupVault, database: string): events.EventPattern {
  return {
    source: ['aws.s3'],
    detailType: ['Object Created'],
    detail: {
      bucket: { name: [vault.bucket.bucketName] },
      object: { key: events.Match.wildcard(`${databasePrefix(database)}*.manifest.json`) },
    },
  };
}

/**
 * The verification policy the verify job reads from PGDR_VERIFICATION (JSON), checked: every Nth a
 * whole number ≥ 0, and the JSON small enough for a Lambda's 4 KB environment.
 */
export function verificationPolicy(restoreTestEveryNth: number = 1, smokeQueries: SmokeQuery[] = []): string {
  if (!Number.isInteger(restoreTestEveryNth) || restoreTestEveryNth < 0) throw new Error(`restoreTestEveryNth: must be a whole number ≥ 0 (received ${restoreTestEveryNth})`);
  const policy = JSON.stringify({ restoreTestEveryNth, smokeQueries: smokeQueries.map((q) => ({ name: q.name, sql: q.sql, minRows: q.minRows ?? 1 })) });
  if (Buffer.byteLength(policy) > MAX_POLICY_BYTES) {
    throw new Error(`smokeQueries: must fit in ${MAX_POLICY_BYTES} bytes of JSON (the Lambda environment limit is 4 KB) (received ${Buffer.byteLength(policy)} bytes)`);
  }
  return policy;
}

/** A metric the verify job publishes per database and backup class (`<name>` {database, class}). @default Maximum over 5 minutes */
export function verifyJobMetric(name: 'VerifyFailed' | 'RowCountMismatches' | 'RestoreTestSeconds', database: string, backupClass: string, options: PgdrMetricOptions = {}): cloudwatch.Metric {
  return pgdrMetric(name, { database, class: backupClass }, options);
}

/**
 * The verify job of one database: runs for every new manifest under `<database>/` (S3 →
 * EventBridge) and on an optional schedule; checks size and SHA-256, `pg_restore --list`, and
 * restore-tests per the policy. Reads `<database>/*`, writes verification records and the
 * latest-verified pointer there, reads the secrets it needs.
 */
export class VerifyJob extends Construct {
  readonly job: PgdrFunction;
  /** The rule that routes new manifests of this database to the job. */
  readonly manifestRule: events.Rule;
  private readonly database: string;

  constructor(scope: Construct, id: string, props: VerifyJobProps) {
    super(scope, id);
    const policy = verificationPolicy(props.restoreTestEveryNth, props.smokeQueries);

    this.database = props.database;
    this.job = new PgdrFunction(this, 'Verify', {
      ...props,
      job: 'verify',
      memorySize: props.memorySize ?? Size.mebibytes(2048),
      ephemeralStorageSize: props.ephemeralStorageSize ?? Size.mebibytes(10240),
      environment: {
        ...(props.verificationServerSecret ? { PGDR_VERIFY_SECRET_ARN: props.verificationServerSecret.secretArn } : {}),
        ...(props.verifyMode === 'ephemeral' ? { PGDR_VERIFY_MODE: props.verifyMode } : {}),
        PGDR_VERIFICATION: policy,
        PGDR_WORK_DIR: '/tmp',
        PGDR_RESTORE_JOBS: '2',
      },
    });
    props.vault.grantReadDumps(this.job.function, props.database);
    props.vault.grantWriteDumps(this.job.function, props.database);
    props.verificationServerSecret?.grantRead(this.job.function);

    this.manifestRule = new events.Rule(this, 'NewManifest', {
      description: `pgdr: verify each new backup of ${props.database}`,
      eventPattern: newManifestPattern(props.vault, props.database),
      targets: [
        new eventTargets.LambdaFunction(this.job.function, {
          deadLetterQueue: this.job.deadLetterQueue,
          retryAttempts: 2,
          maxEventAge: Duration.hours(2),
        }),
      ],
    });

    if (props.restoreTestSchedule) {
      new scheduler.Schedule(this, 'RestoreTestSchedule', {
        description: `pgdr: restore-test the newest backup of ${props.database}`,
        schedule: scheduler.ScheduleExpression.expression(props.restoreTestSchedule.expression, TimeZone.of(props.restoreTestSchedule.timeZone ?? 'UTC')),
        target: this.job.scheduledInvoke({ restoreTest: true }),
      });
    }
  }

  /** Failed verifications of a backup class (`VerifyFailed` {database, class}, 1 per failed check). @default Sum over 5 minutes */
  metricVerifyFailed(backupClass: string, options: PgdrMetricOptions = {}): cloudwatch.Metric {
    return this.metric('VerifyFailed', backupClass, { statistic: cloudwatch.Stats.SUM, ...options });
  }

  /** Tables whose restored row count differs from the manifest, per restore test (`RowCountMismatches` {database, class}). @default Maximum over 5 minutes */
  metricRowCountMismatches(backupClass: string, options: PgdrMetricOptions = {}): cloudwatch.Metric {
    return this.metric('RowCountMismatches', backupClass, options);
  }

  /** Duration of a restore test (`RestoreTestSeconds` {database, class}). @default Maximum over 5 minutes */
  metricRestoreTestSeconds(backupClass: string, options: PgdrMetricOptions = {}): cloudwatch.Metric {
    return this.metric('RestoreTestSeconds', backupClass, options);
  }

  private metric(name: 'VerifyFailed' | 'RowCountMismatches' | 'RestoreTestSeconds', backupClass: string, options: PgdrMetricOptions): cloudwatch.Metric {
    return verifyJobMetric(name, this.database, backupClass, options);
  }
}
