import { Annotations, ArnFormat, Duration, Size, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct, IConstruct } from 'constructs';
import { JobProps, PgdrFunction } from './pgdr-function';
import { RECOVERY_INSTANCE_PREFIX } from './failover-workflow';

/** Properties of {@link RecoveryJobs}. */
export interface RecoveryJobsProps extends JobProps {
  /** The application's secret the cutover switches; its login gets its password on a new server. @default none */
  readonly cutoverSecret?: secretsmanager.ISecret;
  /** Ports of the recovery instances. @default [5432] */
  readonly databasePorts?: number[];
  /** Memory of the restore job (CPU scales with it; pg_restore --jobs 2 wants ~1 vCPU). @default Size.mebibytes(2048) */
  readonly restoreMemorySize?: Size;
  /** pg_restore --jobs of the restore job (PGDR_RESTORE_JOBS, 1-16): the stack gives the recovery instance's vCPUs (config/rules.ts failoverRestoreJobs). @default 2 */
  readonly restoreJobs?: number;
  /** Ephemeral storage of the restore job (the file that pg_restore --jobs needs). @default Size.gibibytes(10) */
  readonly restoreEphemeralStorage?: Size;
  /** Create the restore Lambda: false when another runner restores (an ECS Fargate task, lib/fargate-jobs.ts). @default true */
  readonly restoreFunction?: boolean;
}

/**
 * The two jobs the failover workflow runs inside the VPC for one database: `restore` (fills a new
 * instance from a verified dump) and `validate` (proves a recovered instance against the manifest,
 * smoke and freshness queries). Both read the database's records and the RDS-managed master secret
 * of the instances the workflow creates for this database (by tag, never another instance's).
 */
export class RecoveryJobs extends Construct {
  /** The restore Lambda; undefined when `restoreFunction` is false. */
  readonly restore?: PgdrFunction;
  readonly validate: PgdrFunction;

  constructor(scope: Construct, id: string, props: RecoveryJobsProps) {
    super(scope, id);
    // Recovery instances are RDS whatever the source is: authenticate them with the RDS CA bundle when the tools layer has it.
    const tls: JobProps['tls'] = props.pgTools.rdsCaBundle ? { mode: 'verify-full', caBundle: 'rds' } : { mode: 'require' };
    if (!props.pgTools.rdsCaBundle) {
      Annotations.of(this).addWarningV2(
        'pgdr:recovery-tls',
        `The PostgreSQL tools layer of ${props.database} ships no RDS CA bundle: the restore and validate jobs encrypt their connections to recovery instances but cannot authenticate them (sslmode=require). Pack the layer with scripts/pack-pg-tools.sh --ca-bundle global-bundle.pem.`,
      );
    }
    if (props.restoreFunction !== false) this.restore = new PgdrFunction(this, 'Restore', {
      ...props,
      tls,
      job: 'restore',
      memorySize: props.restoreMemorySize ?? Size.mebibytes(2048),
      timeout: props.timeout ?? Duration.minutes(15),
      retryAttempts: 0,
      ephemeralStorageSize: props.restoreEphemeralStorage ?? Size.gibibytes(10),
      environment: { PGDR_WORK_DIR: '/tmp', PGDR_RESTORE_JOBS: String(props.restoreJobs ?? 2) },
    });
    this.validate = new PgdrFunction(this, 'Validate', { ...props, tls, job: 'failover/validate', memorySize: props.memorySize ?? Size.mebibytes(1024), retryAttempts: 0 });
    for (const job of [this.restore, this.validate].filter((j): j is PgdrFunction => j !== undefined)) {
      props.vault.grantReadDumps(job.function, props.database);
      grantRecoveryInstanceSecrets(job.function, props.database);
    }
    if (this.restore) props.cutoverSecret?.grantRead(this.restore.function);
  }
}

/**
 * Lets `grantee` read the RDS-managed master secrets of the recovery instances the failover workflow
 * creates for `database` (by their aws:rds:primaryDBInstanceArn tag, never another instance's).
 */
export function grantRecoveryInstanceSecrets(grantee: iam.IGrantable & IConstruct, database: string): void {
  const stack = Stack.of(grantee);
  grantee.grantPrincipal.addToPrincipalPolicy(
    new iam.PolicyStatement({
      actions: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'],
      resources: [stack.formatArn({ service: 'secretsmanager', resource: 'secret', resourceName: 'rds!*', arnFormat: ArnFormat.COLON_RESOURCE_NAME })],
      conditions: {
        StringLike: {
          'secretsmanager:ResourceTag/aws:rds:primaryDBInstanceArn': stack.formatArn({
            service: 'rds',
            resource: 'db',
            resourceName: `${RECOVERY_INSTANCE_PREFIX}${database}-*`,
            arnFormat: ArnFormat.COLON_RESOURCE_NAME,
          }),
        },
      },
    }),
  );
  Validations.of(grantee).acknowledge({
    id: 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:rds!*]',
    reason: `RDS names a managed master secret itself (rds!db-<uuid>); the condition on its aws:rds:primaryDBInstanceArn tag limits this to the recovery instances of ${database}.`,
  });
}
