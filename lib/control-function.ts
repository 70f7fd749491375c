import { Duration, Size } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import { Construct } from 'constructs';
import type { BackupVault } from './backup-vault';
import { encryptedLogGroup } from './log-encryption';
import { acknowledgeCompliance, acknowledgeLambdaBasics } from './nag';
import { bundling, handlerEntry } from './pgdr-function';

/** Properties of a {@link ControlFunction}. */
export interface ControlFunctionProps {
  /** Handler folder under lambda/ (e.g. "failover/preflight"); its handler.ts exports `handler`. */
  readonly job: string;
  /** One line: what the function does. */
  readonly description: string;
  /** The vault: its bucket name goes into PGDR_BUCKET, its key encrypts the log group. */
  readonly vault: BackupVault;
  /** Memory. @default Size.mebibytes(512) */
  readonly memorySize?: Size;
  /** Timeout. @default Duration.minutes(1) */
  readonly timeout?: Duration;
  /** More environment variables (never a secret). @default {} */
  readonly environment?: Record<string, string>;
}

/**
 * A pgdr function that works the AWS control plane only (RDS, Secrets Manager, SSM, Route 53, S3
 * records) and never a database: outside the VPC, no PostgreSQL tools, invoked synchronously by
 * the failover state machine (whose Retry/Catch handle its errors). Log group encrypted with the
 * vault key, X-Ray tracing.
 */
export class ControlFunction extends Construct {
  readonly function: nodejs.NodejsFunction;

  constructor(scope: Construct, id: string, props: ControlFunctionProps) {
    super(scope, id);
    const logGroup = encryptedLogGroup(this, 'Logs', {
      encryptionKey: props.vault.key,
      logGroupName: props.vault.logGroupName('control', ...props.job.split('/')),
      retention: logs.RetentionDays.ONE_YEAR,
    });
    this.function = new nodejs.NodejsFunction(this, 'Function', {
      description: `pgdr: ${props.description}`,
      ...handlerEntry(props.job),
      architecture: lambda.Architecture.ARM_64,
      memorySize: (props.memorySize ?? Size.mebibytes(512)).toMebibytes(),
      timeout: props.timeout ?? Duration.minutes(1),
      logGroup,
      tracing: lambda.Tracing.ACTIVE,
      environment: {
        POWERTOOLS_SERVICE_NAME: `pgdr-${props.job.replace(/\//g, '-')}`,
        POWERTOOLS_METRICS_NAMESPACE: 'PgDr',
        PGDR_BUCKET: props.vault.bucket.bucketName,
        PGDR_KMS_KEY_ARN: props.vault.key.keyArn,
        NODE_OPTIONS: '--enable-source-maps',
        ...props.environment,
      },
      bundling: bundling(),
    });
    acknowledgeLambdaBasics(this.function, false);
    acknowledgeCompliance(
      this,
      'IAMNoInlinePolicy',
      "The function's role carries one policy of its own, written by CDK grants scoped to the resources this function calls; a managed policy would be shared by nothing.",
    );
    acknowledgeCompliance(
      this.function,
      'LambdaInsideVPC',
      'It calls AWS control-plane APIs only (RDS, Secrets Manager, SSM, Route 53, which has no VPC endpoint, S3 records) and probes the public health URL; it never connects to a database, so a VPC would add NAT costs and no isolation.',
    );
    acknowledgeCompliance(
      this.function,
      'LambdaDLQ',
      'Invoked synchronously by the failover state machine only: an error returns to its Retry and Catch, which notify and clean up; there is no asynchronous invocation to park.',
    );
    acknowledgeCompliance(
      this.function,
      'LambdaConcurrency',
      'Invoked only by failover runs started by operators (a handful a year); reserved concurrency would take from the unreserved pool and cannot be set in a new account whose quota is 10.',
    );
  }
}
