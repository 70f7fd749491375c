import { Duration, Size, Stack, Token, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as destinations from 'aws-cdk-lib/aws-lambda-destinations';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as schedulerTargets from 'aws-cdk-lib/aws-scheduler-targets';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import * as path from 'node:path';
import type { BackupVault } from './backup-vault';
import { encryptedLogGroup } from './log-encryption';
import { acknowledgeCompliance, acknowledgeLambdaBasics, wildcardResourceFinding } from './nag';
import { caBundleProblem, FUNCTION_CA_FILE, FUNCTION_CODE_DIR, PUBLIC_CAS, RDS_CA_BUNDLE, TLS_MODES, TlsMode } from './tls-ca';

const PROJECT_ROOT = path.join(__dirname, '..');

/** What a job needs of the PostgreSQL client tools (a {@link PgTools} fits). */
export interface PgToolsLayer {
  /** Layer holding bin/ and lib/. */
  readonly layer: lambda.ILayerVersion;
  /** Where the binaries are inside the function. */
  readonly binDir: string;
  /** Architecture the binaries are built for. */
  readonly architecture: lambda.Architecture;
  /** Path of the RDS CA bundle inside the function, when the layer ships it. @default none (jobs cannot use caBundle "rds") */
  readonly rdsCaBundle?: string;
}

/** How a job authenticates the database server over TLS. */
export interface JobTls {
  /** sslmode when the secret names none: `verify-full`, `verify-ca`, `require` (encrypted, server not authenticated) or `disable`. @default "verify-full" */
  readonly mode?: TlsMode;
  /**
   * The CAs verify-ca and verify-full trust: `"rds"` (the RDS CA bundle in the tools layer),
   * `"public"` (Node.js's public CAs), or the path of a PEM file, copied into the function.
   * @default "public"
   */
  readonly caBundle?: string;
}

/** What every pgdr job of one database is given (the dump and verify jobs extend it). */
export interface JobProps {
  /** pgdr database name (S3 prefix, metric dimension, log context). */
  readonly database: string;
  /** Secret with host/port/dbname/username/password of the database server. */
  readonly secret: secretsmanager.ISecret;
  /** The backup vault (bucket, key). */
  readonly vault: BackupVault;
  /** PostgreSQL client tools of the server's major version. */
  readonly pgTools: PgToolsLayer;
  /** VPC that reaches the database. */
  readonly vpc: ec2.IVpc;
  /** Subnets of the VPC. @default the VPC's private subnets */
  readonly vpcSubnets?: ec2.SubnetSelection;
  /** TLS to the database: the sslmode used when its secret names none, and the CAs trusted. @default { mode: "verify-full", caBundle: "public" } */
  readonly tls?: JobTls;
  /** Memory (CPU scales with it). @default Size.mebibytes(1024) */
  readonly memorySize?: Size;
  /** Timeout, at most 15 minutes. @default Duration.minutes(15) */
  readonly timeout?: Duration;
}

/** Properties of a {@link PgdrFunction}. */
export interface PgdrFunctionProps extends JobProps {
  /** Handler folder under lambda/ (e.g. "dump"); its handler.ts exports `handler`. */
  readonly job: string;
  /** TCP ports of the PostgreSQL servers the function connects to. @default [5432] */
  readonly databasePorts?: number[];
  /** Retries of a failed asynchronous invocation (0-2). @default 1 */
  readonly retryAttempts?: number;
  /** More environment variables (no secrets: secrets are read from Secrets Manager at run time). @default {} */
  readonly environment?: Record<string, string>;
  /** Size of /tmp. @default Size.mebibytes(512) */
  readonly ephemeralStorageSize?: Size;
  /** Actions without resource-level permissions the job needs on "*", and why. @default none */
  readonly unscopedActions?: { readonly actions: string[]; readonly reason: string };
}

/**
 * One pgdr job function: a NodejsFunction bundled by esbuild from lambda/<job>/handler.ts that
 * may read its database's secret and knows the vault (PGDR_BUCKET, PGDR_KMS_KEY_ARN), in
 * the VPC with its own security group (egress to HTTPS and the database ports only), the
 * PostgreSQL tools layer, a log group with retention, Powertools settings, asynchronous retries
 * and a dead-letter queue for invocations that still fail.
 */
export class PgdrFunction extends Construct {
  readonly function: nodejs.NodejsFunction;
  /** The function's security group; the databases must allow inbound from it. */
  readonly securityGroup: ec2.SecurityGroup;
  /** Receives the asynchronous invocations (and scheduler deliveries) that failed for good. */
  readonly deadLetterQueue: sqs.Queue;
  private schedulerRole?: iam.Role;

  constructor(scope: Construct, id: string, props: PgdrFunctionProps) {
    super(scope, id);
    const timeout = props.timeout ?? Duration.minutes(15);
    if (!Token.isUnresolved(timeout.toSeconds()) && timeout.toSeconds() > 900) {
      throw new Error(`timeout: must be at most 15 minutes (the Lambda limit) (received ${timeout.toHumanString()})`);
    }
    const tls = jobTls(props.tls, props.pgTools);
    const retryAttempts = props.retryAttempts ?? 1;
    if (!Number.isInteger(retryAttempts) || retryAttempts < 0 || retryAttempts > 2) {
      throw new Error(`retryAttempts: must be 0, 1 or 2 (received ${retryAttempts})`);
    }

    this.securityGroup = jobSecurityGroup(this, props.vpc, `pgdr ${props.job} job of ${props.database}`, props.databasePorts ?? [5432]);

    this.deadLetterQueue = deadLetterQueue(
      this,
      'This queue is itself the dead-letter queue of the job (failed invocations and scheduler deliveries land here and stay 14 days); a queue behind it would only move them. Its depth is alarmed: the dead-letters alarm of the database (lib/database-alarms.ts) warns as soon as it is not empty.',
    );

    // Encrypted with the vault key: the vault's key policy lets CloudWatch Logs use it for its log group names.
    const logGroup = encryptedLogGroup(this, 'Logs', {
      encryptionKey: props.vault.key,
      logGroupName: props.vault.logGroupName(props.database, props.job),
      retention: logs.RetentionDays.ONE_YEAR,
    });

    this.function = new nodejs.NodejsFunction(this, 'Function', {
      description: `pgdr ${props.job} job of ${props.database}`,
      ...handlerEntry(props.job),
      architecture: props.pgTools.architecture,
      memorySize: (props.memorySize ?? Size.mebibytes(1024)).toMebibytes(),
      ephemeralStorageSize: props.ephemeralStorageSize,
      timeout,
      layers: [props.pgTools.layer],
      vpc: props.vpc,
      vpcSubnets: props.vpcSubnets,
      securityGroups: [this.securityGroup],
      logGroup,
      tracing: lambda.Tracing.ACTIVE,
      retryAttempts,
      onFailure: new destinations.SqsDestination(this.deadLetterQueue),
      environment: {
        POWERTOOLS_SERVICE_NAME: `pgdr-${props.job}`,
        POWERTOOLS_METRICS_NAMESPACE: 'PgDr',
        PGDR_DATABASE: props.database,
        PGDR_PG_BIN: props.pgTools.binDir,
        PGDR_BUCKET: props.vault.bucket.bucketName,
        PGDR_KMS_KEY_ARN: props.vault.key.keyArn,
        PGDR_SECRET_ARN: props.secret.secretArn,
        PGDR_PG_SSLMODE: tls.mode,
        PGDR_PG_SSLROOTCERT: tls.rootCert,
        NODE_OPTIONS: '--enable-source-maps',
        ...props.environment,
      },
      // A configured CA file travels in the function's code (the asset hash follows its content).
      bundling: bundling(tls.copyFile ? { commandHooks: copyIntoBundle(tls.copyFile, FUNCTION_CA_FILE) } : {}),
    });
    props.secret.grantRead(this.function);
    if (props.unscopedActions) {
      this.function.addToRolePolicy(new iam.PolicyStatement({ actions: props.unscopedActions.actions, resources: ['*'] }));
    }

    acknowledgeLambdaBasics(this.function, true, props.unscopedActions && `${props.unscopedActions.actions.join(', ')}: ${props.unscopedActions.reason}`);
    acknowledgeCompliance(
      this,
      'IAMNoInlinePolicy',
      "The job's role and its scheduler role each carry one policy of their own, written by CDK grants scoped to this database's prefix, secret and function; a managed policy would be shared by nothing.",
    );
    acknowledgeCompliance(
      this.function,
      'LambdaDLQ',
      'Failed asynchronous invocations go to the dead-letter queue through an on-failure destination (EventInvokeConfig), which keeps the error and the request; the older DeadLetterConfig would keep less.',
    );
    acknowledgeCompliance(
      this.function,
      'LambdaConcurrency',
      "Invocations come only from this database's schedules, new manifests and operators; reserved concurrency would take from the account's unreserved pool and cannot be set at all in a new account whose concurrency quota is still 10.",
    );
  }

  /** Messages waiting in the dead-letter queue (ApproximateNumberOfMessagesVisible). @default Maximum over 5 minutes */
  metricDeadLetters(options: { readonly period?: Duration } = {}): cloudwatch.Metric {
    return this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ statistic: cloudwatch.Stats.MAXIMUM, period: options.period ?? Duration.minutes(5) });
  }

  /**
   * A target for EventBridge Scheduler that invokes the function with `input`, retries delivery
   * twice within an hour and parks what still fails in the dead-letter queue. All schedules of
   * the function share one role that may invoke this function only.
   */
  scheduledInvoke(input: Record<string, unknown>): schedulerTargets.LambdaInvoke {
    if (!this.schedulerRole) {
      this.schedulerRole = new iam.Role(this, 'SchedulerRole', {
        description: `EventBridge Scheduler invoking ${this.node.path}`,
        assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
          conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(this).account } },
        }),
      });
      Validations.of(this.schedulerRole).acknowledge({
        id: wildcardResourceFinding(this.function, 'Arn', ':*'),
        reason: 'Lambda grantInvoke also names the qualified ARNs (versions/aliases) of this one function; nothing else is invocable.',
      });
    }
    return new schedulerTargets.LambdaInvoke(this.function, {
      role: this.schedulerRole,
      input: scheduler.ScheduleTargetInput.fromObject(input),
      deadLetterQueue: this.deadLetterQueue,
      retryAttempts: 2,
      maxEventAge: Duration.hours(1),
    });
  }
}

/**
 * A dead-letter queue (`DeadLetters`): SSE-SQS, so it is encrypted at rest without handing every
 * sender (Lambda, Scheduler, EventBridge) KMS rights; TLS only; messages kept 14 days. `reason` says
 * why it has no dead-letter queue of its own (cdk-nag AwsSolutions-SQS3).
 */
export function deadLetterQueue(scope: Construct, reason: string): sqs.Queue {
  const queue = new sqs.Queue(scope, 'DeadLetters', { encryption: sqs.QueueEncryption.SQS_MANAGED, enforceSSL: true, retentionPeriod: Duration.days(14) });
  Validations.of(queue).acknowledge({ id: 'AwsSolutions-SQS3', reason });
  return queue;
}

/** The entry, runtime and project settings of a pgdr function whose code is lambda/<job>/handler.ts. */
export function handlerEntry(job: string): Pick<nodejs.NodejsFunctionProps, 'entry' | 'handler' | 'projectRoot' | 'depsLockFilePath' | 'runtime'> {
  return {
    entry: path.join(PROJECT_ROOT, 'lambda', job, 'handler.ts'),
    handler: 'handler',
    projectRoot: PROJECT_ROOT,
    depsLockFilePath: path.join(PROJECT_ROOT, 'package-lock.json'),
    runtime: lambda.Runtime.NODEJS_24_X,
  };
}

/** esbuild options of every pgdr function (minified, source maps, no pg-native). */
export function bundling(extra: Partial<nodejs.BundlingOptions> = {}): nodejs.BundlingOptions {
  return { minify: true, sourceMap: true, target: 'node24', externalModules: ['pg-native'], ...extra };
}

/**
 * The security group of one job (`SecurityGroup`): egress to HTTPS (AWS APIs) and the PostgreSQL
 * ports only; the databases must allow inbound from it. Lambda and Fargate jobs have the same rules.
 */
export function jobSecurityGroup(scope: Construct, vpc: ec2.IVpc, what: string, databasePorts: number[]): ec2.SecurityGroup {
  const group = new ec2.SecurityGroup(scope, 'SecurityGroup', { vpc, description: `${what}: egress to HTTPS and PostgreSQL only`, allowAllOutbound: false });
  group.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), 'AWS APIs (S3, Secrets Manager, CloudWatch)');
  for (const port of new Set(databasePorts)) group.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(port), `PostgreSQL on ${port}`);
  return group;
}

/**
 * What a job's environment says about TLS (PGDR_PG_SSLMODE, PGDR_PG_SSLROOTCERT), and the CA file to
 * copy into the job's code, if any. `pgTools.rdsCaBundle` is where the job finds the RDS CA bundle.
 */
export function jobTls(tls: JobTls = {}, pgTools: Pick<PgToolsLayer, 'rdsCaBundle'>): { mode: TlsMode; rootCert: string; copyFile?: string } {
  const mode = tls.mode ?? 'verify-full';
  if (!(TLS_MODES as readonly string[]).includes(mode)) throw new Error(`tls.mode: must be one of ${TLS_MODES.join(', ')} (received "${mode}")`);
  const caBundle = tls.caBundle ?? PUBLIC_CAS;
  if (caBundle === PUBLIC_CAS) return { mode, rootCert: PUBLIC_CAS };
  if (caBundle === RDS_CA_BUNDLE) {
    if (!pgTools.rdsCaBundle) {
      throw new Error(
        `tls.caBundle: "${RDS_CA_BUNDLE}" needs the RDS CA bundle in the PostgreSQL client tools layer, and this layer ships none ` +
          '(a local directory packed without --ca-bundle, or a host build without rdsCaBundleFile) (received "rds")',
      );
    }
    return { mode, rootCert: pgTools.rdsCaBundle };
  }
  const problem = caBundleProblem(caBundle);
  if (problem) throw new Error(`tls.caBundle: must be "${RDS_CA_BUNDLE}", "${PUBLIC_CAS}" or a PEM file of CA certificates, but the file ${problem} (received "${caBundle}")`);
  return { mode, rootCert: `${FUNCTION_CODE_DIR}/${FUNCTION_CA_FILE}`, copyFile: path.resolve(caBundle) };
}

/** esbuild command hooks that copy `file` into the bundle as `name`. */
function copyIntoBundle(file: string, name: string): nodejs.ICommandHooks {
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  return {
    beforeBundling: () => [],
    beforeInstall: () => [],
    afterBundling: (_inputDir: string, outputDir: string) => [`cp ${quote(file)} ${quote(path.join(outputDir, name))}`],
  };
}
