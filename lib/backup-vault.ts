import { Aws, Duration, RemovalPolicy, Stack, Tags, Token, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct, IConstruct } from 'constructs';
import { BREAK_GLASS_ARN_RE, BREAK_GLASS_ARN_RULE } from './iam-arn';
import { cloudWatchLogsKeyStatement } from './log-encryption';
import { acknowledgeCompliance, wildcardResourceFinding } from './nag';
import { classPrefix, databasePrefix } from '../lambda/shared/layout';

/** S3 refuses a transition to Standard-IA earlier than 30 days after creation. */
const MIN_DAYS_TO_IA = 30;
/** S3 wants 30 days in Standard-IA before the next transition. */
const MIN_DAYS_IN_IA = 30;
const NAME_RE = /^[a-z][a-z0-9-]{0,30}[a-z0-9]$/;
/** Key actions that would make every dump unreadable, denied to all but the break-glass principal. */
export const KEY_DESTRUCTION_ACTIONS = ['kms:DisableKey', 'kms:ScheduleKeyDeletion'];
/** Tag on the vault key, for service control policies that protect it from outside the account. */
export const VAULT_KEY_TAG = 'pgdr:vault-key';

/** Lifecycle of the dumps of one backup class of one database. */
export interface BackupClassLifecycle {
  /** The database name (first key segment). */
  readonly database: string;
  /** The backup class name (second key segment). */
  readonly backupClass: string;
  /** Move dumps to Standard-IA this long after creation (at least 30 days). @default never */
  readonly infrequentAccessAfter?: Duration;
  /** Move dumps to Glacier Instant Retrieval this long after creation. @default never */
  readonly glacierInstantRetrievalAfter?: Duration;
  /** Expire dumps this long after creation. */
  readonly expireAfter: Duration;
}

/** Properties of a {@link BackupVault}. */
export interface BackupVaultProps {
  /** One lifecycle rule set per backup class, scoped to `<database>/<class>/`. @default [] */
  readonly backupClasses?: BackupClassLifecycle[];
  /** Object Lock default retention for every new object version. @default governance, 7 days */
  readonly objectLockRetention?: s3.ObjectLockRetention;
  /** Keep replaced or deleted object versions this long. @default Duration.days(30) */
  readonly noncurrentVersionExpiration?: Duration;
  /** Abort multipart uploads left incomplete (a failed dump) after this long. @default Duration.days(1) */
  readonly abortIncompleteMultipartUploadAfter?: Duration;
  /** Keep server access logs this long. @default Duration.days(365) */
  readonly accessLogRetention?: Duration;
  /**
   * What happens to the buckets when the stack is deleted. The key is kept whatever this says (a
   * deleted key makes every dump and every copy of it unreadable); delete it by hand, as the
   * break-glass principal, once nothing needs it. @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * The only principal (`aws:PrincipalArn`) that may schedule the deletion of the key or disable
   * it: an IAM role, an IAM user or an account root ARN. @default the account's root user
   */
  readonly breakGlassPrincipalArn?: string;
}

/**
 * The backup vault: a customer-managed KMS key and an S3 bucket for dumps with SSE-KMS, Object
 * Lock, versioning, TLS-only access, lifecycle per backup class and server access logging.
 *
 * The key outlives the stack and resists deletion from inside the account: it is always retained,
 * its policy denies `kms:ScheduleKeyDeletion` and `kms:DisableKey` to every principal but the
 * break-glass one, allows `kms:CreateGrant` only for AWS services acting for a resource
 * (`kms:GrantIsForAWSResource`), and does not change with the configuration (one CloudWatch Logs
 * statement covers every pgdr log group of the stack), so adding databases never rewrites it.
 */
export class BackupVault extends Construct {
  /** The customer-managed key that encrypts every object (rotation on). */
  readonly key: kms.Key;
  /** The bucket holding dumps, manifests and verification records. */
  readonly bucket: s3.Bucket;
  /** The bucket receiving the dump bucket's server access logs. */
  readonly accessLogBucket: s3.Bucket;
  /** Log groups named under this prefix may be encrypted with {@link key} (see {@link logGroupName}). */
  readonly logGroupNamePrefix: string;

  constructor(scope: Construct, id: string, props: BackupVaultProps = {}) {
    super(scope, id);
    const classes = props.backupClasses ?? [];
    classes.forEach((c, i) => validateClass(c, i));
    const noncurrent = props.noncurrentVersionExpiration ?? Duration.days(30);
    requireDays('noncurrentVersionExpiration', noncurrent, 1);
    const abortAfter = props.abortIncompleteMultipartUploadAfter ?? Duration.days(1);
    requireDays('abortIncompleteMultipartUploadAfter', abortAfter, 1);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const breakGlass = props.breakGlassPrincipalArn;
    if (breakGlass !== undefined && !Token.isUnresolved(breakGlass) && !BREAK_GLASS_ARN_RE.test(breakGlass)) {
      throw new Error(`breakGlassPrincipalArn: ${BREAK_GLASS_ARN_RULE} (received "${breakGlass}")`);
    }
    const stack = Stack.of(this);
    this.logGroupNamePrefix = `/pgdr/${stack.stackName}/`;

    this.key = new kms.Key(this, 'Key', {
      description: `pgdr backup vault key (${stack.stackName})`,
      enableKeyRotation: true,
      // Never deleted with the stack, whatever the buckets' removal policy.
      removalPolicy: RemovalPolicy.RETAIN,
      // Should the break-glass principal schedule the deletion, the longest window to take it back.
      pendingWindow: Duration.days(30),
    });
    Tags.of(this.key).add(VAULT_KEY_TAG, stack.stackName);
    this.key.addToResourcePolicy(cloudWatchLogsKeyStatement(this, `${this.logGroupNamePrefix}*`));
    this.protectKey(breakGlass ?? `arn:${Aws.PARTITION}:iam::${Aws.ACCOUNT_ID}:root`, breakGlass !== undefined);

    this.accessLogBucket = new s3.Bucket(this, 'AccessLogs', {
      // S3 server access logging delivers only to SSE-S3 encrypted buckets.
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      versioned: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: [
        {
          id: 'expire-access-logs',
          expiration: props.accessLogRetention ?? Duration.days(365),
          noncurrentVersionExpiration: Duration.days(30),
          abortIncompleteMultipartUploadAfter: Duration.days(1),
        },
      ],
      removalPolicy,
    });
    Validations.of(this.accessLogBucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason: 'This bucket is the server access log target of the backup bucket; logging it to itself would loop.',
    });
    acknowledgeCompliance(
      this.accessLogBucket,
      'S3DefaultEncryptionKMS',
      'S3 server access logging delivers only to a target bucket with SSE-S3 default encryption; the logs hold request metadata, no backup data.',
    );
    acknowledgeCompliance(
      this.accessLogBucket,
      'S3BucketReplicationEnabled',
      'Server access logs of the dump bucket are an audit aid, not a backup; losing the region loses the dumps they describe too.',
    );

    this.bucket = new s3.Bucket(this, 'Dumps', {
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: this.key,
      bucketKeyEnabled: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      versioned: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      objectLockEnabled: true,
      objectLockDefaultRetention: props.objectLockRetention ?? s3.ObjectLockRetention.governance(Duration.days(7)),
      serverAccessLogsBucket: this.accessLogBucket,
      serverAccessLogsPrefix: 'dumps/',
      removalPolicy,
      lifecycleRules: [
        {
          id: 'all-objects',
          abortIncompleteMultipartUploadAfter: abortAfter,
          noncurrentVersionExpiration: noncurrent,
          expiredObjectDeleteMarker: true,
        },
        ...classes.map((c): s3.LifecycleRule => ({
          id: `${c.database}-${c.backupClass}`,
          prefix: classPrefix(c.database, c.backupClass),
          transitions: transitionsOf(c),
          expiration: c.expireAfter,
          noncurrentVersionExpiration: noncurrent,
        })),
      ],
    });
    acknowledgeCompliance(
      this.bucket,
      'S3BucketReplicationEnabled',
      'Replication of the dumps to a recovery region is not built yet (a planned vault option); until then the copies are protected by versioning and Object Lock in this region only.',
    );
    // New manifests reach the verify job through EventBridge. Set on the CloudFormation resource
    // itself: the L2 `eventBridgeEnabled` would add a custom-resource Lambda to do the same.
    (this.bucket.node.defaultChild as s3.CfnBucket).notificationConfiguration = {
      eventBridgeConfiguration: { eventBridgeEnabled: true },
    };
  }

  /** The name of a log group under {@link logGroupNamePrefix} that may be encrypted with {@link key}. */
  logGroupName(...parts: string[]): string {
    return `${this.logGroupNamePrefix}${parts.join('/')}`;
  }

  /**
   * The key policy's guards: nobody but `breakGlassArn` may schedule the key's deletion or disable
   * it (an explicit Deny wins over every Allow, the account's IAM policies included), and grants
   * may only be made by AWS services for a resource. A configured break-glass principal is also
   * allowed those actions in the key policy itself (no IAM policy needed, other accounts work).
   */
  private protectKey(breakGlassArn: string, explicitPrincipal: boolean): void {
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: KEY_DESTRUCTION_ACTIONS,
        resources: ['*'],
        conditions: { ArnNotEquals: { 'aws:PrincipalArn': breakGlassArn } },
      }),
    );
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ['kms:CreateGrant'],
        resources: ['*'],
        conditions: { BoolIfExists: { 'kms:GrantIsForAWSResource': 'false' } },
      }),
    );
    if (explicitPrincipal) {
      this.key.addToResourcePolicy(
        new iam.PolicyStatement({
          principals: [new iam.ArnPrincipal(breakGlassArn)],
          actions: [...KEY_DESTRUCTION_ACTIONS, 'kms:CancelKeyDeletion', 'kms:EnableKey', 'kms:DescribeKey'],
          resources: ['*'],
        }),
      );
    }
  }

  /**
   * Lets `grantee` write dumps, manifests and verification records under `<database>/`
   * (the whole bucket when no database is given): PutObject and AbortMultipartUpload, and the
   * KMS data keys S3 asks for on its behalf. No delete, no retention changes.
   */
  grantWriteDumps(grantee: iam.IGrantable, database?: string): iam.Grant {
    this.grantKey(grantee, ['kms:GenerateDataKey', 'kms:Decrypt']);
    this.acknowledgeObjectWildcard(grantee, database);
    return iam.Grant.addToPrincipalOrResource({
      grantee,
      actions: ['s3:PutObject', 's3:AbortMultipartUpload'],
      resourceArns: [this.objectArns(database)],
      resource: this.bucket,
    });
  }

  /** Lets `grantee` list and read everything under `<database>/` (the whole bucket when no database is given). */
  grantReadDumps(grantee: iam.IGrantable, database?: string): iam.Grant {
    this.grantKey(grantee, ['kms:Decrypt']);
    this.acknowledgeObjectWildcard(grantee, database);
    iam.Grant.addToPrincipalOrResource({
      grantee,
      actions: ['s3:ListBucket'],
      resourceArns: [this.bucket.bucketArn],
      resource: this.bucket,
      conditions: database ? { StringLike: { 's3:prefix': [databasePrefix(database), `${databasePrefix(database)}*`] } } : undefined,
    });
    return iam.Grant.addToPrincipalOrResource({
      grantee,
      actions: ['s3:GetObject', 's3:GetObjectVersion'],
      resourceArns: [this.objectArns(database)],
      resource: this.bucket,
    });
  }

  /** Total size of the dump bucket in S3 Standard, reported daily by S3. */
  metricBucketSizeBytes(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.storageMetric('BucketSizeBytes', 'StandardStorage', props);
  }

  /** Number of objects in the dump bucket, reported daily by S3. */
  metricNumberOfObjects(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.storageMetric('NumberOfObjects', 'AllStorageTypes', props);
  }

  private storageMetric(metricName: string, storageType: string, props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: 'AWS/S3',
      metricName,
      dimensionsMap: { BucketName: this.bucket.bucketName, StorageType: storageType },
      period: Duration.days(1),
      statistic: 'Average',
      ...props,
    });
  }

  /** Object keys are made at run time (timestamps): a grant can only name the prefix. */
  private acknowledgeObjectWildcard(grantee: iam.IGrantable, database?: string): void {
    if (!isConstruct(grantee)) return;
    Validations.of(grantee).acknowledge({
      id: wildcardResourceFinding(this.bucket, 'Arn', database ? `/${databasePrefix(database)}*` : '/*'),
      reason: database
        ? `Backup object keys carry the time of the backup; the grant is limited to the one database prefix "${databasePrefix(database)}".`
        : 'Backup object keys carry the time of the backup; this grantee serves every database in the vault.',
    });
  }

  private objectArns(database?: string): string {
    return this.bucket.arnForObjects(database ? `${databasePrefix(database)}*` : '*');
  }

  private grantKey(grantee: iam.IGrantable, actions: string[]): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions,
        resources: [this.key.keyArn],
        conditions: { StringEquals: { 'kms:ViaService': `s3.${Stack.of(this).region}.amazonaws.com` } },
      }),
    );
  }
}

function isConstruct(x: unknown): x is IConstruct {
  return typeof x === 'object' && x !== null && 'node' in x;
}

function transitionsOf(c: BackupClassLifecycle): s3.Transition[] {
  const transitions: s3.Transition[] = [];
  if (c.infrequentAccessAfter) transitions.push({ storageClass: s3.StorageClass.INFREQUENT_ACCESS, transitionAfter: c.infrequentAccessAfter });
  if (c.glacierInstantRetrievalAfter) {
    transitions.push({ storageClass: s3.StorageClass.GLACIER_INSTANT_RETRIEVAL, transitionAfter: c.glacierInstantRetrievalAfter });
  }
  return transitions;
}

function validateClass(c: BackupClassLifecycle, i: number): void {
  const at = `backupClasses[${i}]`;
  if (!NAME_RE.test(c.database)) throw new Error(`${at}.database: must be 2-32 characters of a-z, 0-9 and "-" (received "${c.database}")`);
  if (!NAME_RE.test(c.backupClass)) throw new Error(`${at}.backupClass: must be 2-32 characters of a-z, 0-9 and "-" (received "${c.backupClass}")`);
  const ia = days(c.infrequentAccessAfter);
  const gir = days(c.glacierInstantRetrievalAfter);
  const exp = days(c.expireAfter);
  if (ia !== undefined && ia < MIN_DAYS_TO_IA) {
    throw new Error(`${at}.infrequentAccessAfter: must be at least ${MIN_DAYS_TO_IA} days (S3 minimum) (received ${ia} days)`);
  }
  if (ia !== undefined && gir !== undefined && gir < ia + MIN_DAYS_IN_IA) {
    throw new Error(`${at}.glacierInstantRetrievalAfter: must be at least infrequentAccessAfter + ${MIN_DAYS_IN_IA} days (received ${gir} days)`);
  }
  const last = Math.max(ia ?? 0, gir ?? 0);
  if (exp !== undefined && exp <= last) {
    throw new Error(`${at}.expireAfter: must be later than the last transition (${last} days) (received ${exp} days)`);
  }
}

function requireDays(prop: string, d: Duration, min: number): void {
  const n = days(d);
  if (n !== undefined && n < min) throw new Error(`${prop}: must be at least ${min} day(s) (received ${n} days)`);
}

/** Whole days of a duration, or undefined when it is an unresolved token. */
function days(d: Duration | undefined): number | undefined {
  if (d === undefined || Token.isUnresolved(d.toSeconds())) return undefined;
  return d.toDays({ integral: false });
}
