/**
 * The deploy-time build behind `PgToolsSource.codeBuild()`: a CodeBuild project on the Amazon Linux
 * 2023 standard image installs `postgresql<major>`, runs `scripts/pack-pg-tools.sh` and uploads the
 * zipped `bin/` + `lib/` to S3 at a key fixed at synth time; a custom resource runs the build during
 * the deployment and waits for it. Synthesis needs no Docker, no network and no PostgreSQL.
 */
import { createHash } from 'crypto';
import * as path from 'path';
import { CustomResource, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as codebuild from 'aws-cdk-lib/aws-codebuild';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3assets from 'aws-cdk-lib/aws-s3-assets';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import { cloudWatchLogsKeyStatement, encryptedLogGroup } from './log-encryption';
import { acknowledgeCompliance } from './nag';

/** The packing script, shipped to the build as a plain S3 file asset (no bundling). */
export const PACK_SCRIPT_PATH = path.join(__dirname, '..', 'scripts', 'pack-pg-tools.sh');
/** Newest glibc the packed files may need: the Lambda runtimes on Amazon Linux 2023 have 2.34. */
const LAMBDA_GLIBC = '2.34';

/** The CA bundle of every RDS region, published by AWS; fetched by the build, packed into the layer. */
export const RDS_CA_BUNDLE_URL = 'https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem';

/** How long the custom resource waits for the build, in all. */
export const BUILD_TOTAL_TIMEOUT = Duration.minutes(30);
/** How often the custom resource asks CodeBuild whether the build has finished. */
export const BUILD_QUERY_INTERVAL = Duration.seconds(30);

/** Settings of a {@link PgToolsCodeBuild}. */
export interface PgToolsCodeBuildProps {
  /** PostgreSQL major (`postgresql<major>` must exist in Amazon Linux 2023). */
  readonly majorVersion: number;
  /** Instruction set of the build and so of the binaries. */
  readonly architecture: lambda.Architecture;
  /** Bucket receiving the built zip. @default a bucket created here (SSE-S3, versioned, TLS only, no public access) */
  readonly bucket?: s3.IBucket;
  /** Key prefix of the built zips in the bucket. @default 'pg-tools/' */
  readonly keyPrefix?: string;
  /**
   * Key encrypting the CodeBuild project's build output and the build's log groups; CloudWatch Logs
   * is allowed to use it for those log groups (an imported key must allow that itself). Never the
   * key of backup data: the build would be able to use it. @default a key created here, with rotation
   */
  readonly encryptionKey?: kms.IKey;
  /** Bucket receiving the server access logs of the bucket created here (ignored when `bucket` is given). @default no access logs (acknowledged) */
  readonly accessLogBucket?: s3.IBucket;
  /** CodeBuild image. @default Amazon Linux 2023 standard: LinuxBuildImage.AMAZON_LINUX_2023_5 (x86_64), LinuxArmBuildImage.AMAZON_LINUX_2023_STANDARD_3_0 (arm64) */
  readonly buildImage?: codebuild.IBuildImage;
}

/** The Amazon Linux 2023 standard CodeBuild image for a Lambda architecture. */
export function defaultBuildImage(architecture: lambda.Architecture): codebuild.IBuildImage {
  return architecture.name === lambda.Architecture.ARM_64.name
    ? codebuild.LinuxArmBuildImage.AMAZON_LINUX_2023_STANDARD_3_0
    : codebuild.LinuxBuildImage.AMAZON_LINUX_2023_5;
}

/**
 * Shell commands of the build, one string per buildspec command (buildspec 0.2 runs them in one bash
 * shell, so variables carry over). They fetch the RDS CA bundle ({@link RDS_CA_BUNDLE_URL}) and pack
 * it at `share/pgdr/rds-global-bundle.pem` (`/opt/share/pgdr/...` in Lambda). Needs `PGDR_SCRIPT_URL`
 * (the script asset), `PGDR_BUCKET` and `PGDR_KEY` in the environment. Exported so tests can run the
 * same commands.
 */
export function buildCommands(majorVersion: number): { install: string[]; build: string[] } {
  const pkg = `postgresql${majorVersion}`;
  return {
    // glibc-common brings ldd, binutils readelf (for --max-glibc), zip the packaging; --allowerasing
    // lets postgresql<major> replace another major's client should the image carry one.
    install: [`dnf install -y -q --allowerasing --setopt=install_weak_deps=False ${pkg} zstd glibc-common binutils zip`],
    build: [
      'aws s3 cp --no-progress "$PGDR_SCRIPT_URL" pack-pg-tools.sh',
      `bindir="$(dirname "$(rpm -ql ${pkg} | grep '/pg_dump$' | head -n 1)")"`,
      // The RDS CA bundle, over HTTPS (curl verifies AWS's certificate); the pack script checks it is PEM certificates.
      `curl -fsS --retry 3 --proto =https -o rds-global-bundle.pem ${RDS_CA_BUNDLE_URL}`,
      `bash pack-pg-tools.sh --expect-major ${majorVersion} --max-glibc ${LAMBDA_GLIBC} --ca-bundle rds-global-bundle.pem "$bindir" layer`,
      'cat layer/pg-tools.manifest',
      '(cd layer && zip -qr -X ../pg-tools.zip bin lib share pg-tools.manifest)',
      'aws s3 cp --no-progress pg-tools.zip "s3://$PGDR_BUCKET/$PGDR_KEY"',
    ],
  };
}

/**
 * A CodeBuild project building the layer zip, the bucket it writes to, and the custom resource that
 * runs it on Create/Update (Delete: nothing) and fails the deployment when the build fails.
 */
export class PgToolsCodeBuild extends Construct {
  /** Bucket holding the built zip. */
  readonly bucket: s3.IBucket;
  /** Key of the built zip, fixed at synth time: `<prefix><major>/<arch>/<hash>.zip`. */
  readonly objectKey: string;
  /** The build project. */
  readonly project: codebuild.Project;
  /** The custom resource running the build; the layer must depend on it. */
  readonly buildRun: CustomResource;
  /** Key encrypting the project's build output and the build's logs. */
  readonly encryptionKey: kms.IKey;
  /** The build's log groups are named under this prefix: `/pgdr-tools/<stack>/<major>-<arch>/`. */
  readonly logGroupNamePrefix: string;

  constructor(scope: Construct, id: string, props: PgToolsCodeBuildProps) {
    super(scope, id);
    const { majorVersion, architecture } = props;
    const keyPrefix = props.keyPrefix ?? 'pg-tools/';
    if (keyPrefix !== '' && !/^[A-Za-z0-9!_.*'()\-/]*\/$/.test(keyPrefix)) {
      throw new Error(`source.keyPrefix: must be empty or end with "/" and use only S3-safe characters (received "${keyPrefix}")`);
    }
    if (props.bucket && props.accessLogBucket) {
      throw new Error('source.accessLogBucket: only applies to the bucket PgTools creates; configure access logs on the given bucket instead');
    }
    const image = props.buildImage ?? defaultBuildImage(architecture);
    const commands = buildCommands(majorVersion);

    const script = new s3assets.Asset(this, 'PackScript', { path: PACK_SCRIPT_PATH });
    const hash = createHash('sha256')
      .update(JSON.stringify({ script: script.assetHash, majorVersion, image: image.imageId, architecture: architecture.name, commands }))
      .digest('hex')
      .slice(0, 32);
    this.objectKey = `${keyPrefix}${majorVersion}/${architecture.name}/${hash}.zip`;

    this.bucket = props.bucket ?? this.createBucket(props.accessLogBucket);
    this.encryptionKey =
      props.encryptionKey ??
      new kms.Key(this, 'Key', {
        description: `pgdr PostgreSQL ${majorVersion} tools build (${Stack.of(this).stackName})`,
        enableKeyRotation: true,
        removalPolicy: RemovalPolicy.RETAIN,
      });

    this.logGroupNamePrefix = `/pgdr-tools/${Stack.of(this).stackName}/${majorVersion}-${architecture.name}/`;
    this.encryptionKey.addToResourcePolicy(cloudWatchLogsKeyStatement(this, `${this.logGroupNamePrefix}*`));
    const logGroup = this.logGroup('BuildLogs', 'codebuild');
    // Every permission of the build is written out below; the project itself may add none
    // (its defaults include wildcard actions and report-group permissions it does not need).
    const role = new iam.Role(this, 'BuildRole', {
      assumedBy: new iam.ServicePrincipal('codebuild.amazonaws.com'),
      description: `Builds the PostgreSQL ${majorVersion} client tools layer of pgdr`,
    });
    this.project = new codebuild.Project(this, 'Project', {
      description: `pgdr: PostgreSQL ${majorVersion} client tools layer (${architecture.name}) from Amazon Linux 2023 packages`,
      role: role.withoutPolicyUpdates(),
      grantReportGroupPermissions: false,
      environment: { buildImage: image, computeType: codebuild.ComputeType.SMALL },
      environmentVariables: {
        PGDR_SCRIPT_URL: { value: script.s3ObjectUrl },
        PGDR_BUCKET: { value: this.bucket.bucketName },
        PGDR_KEY: { value: this.objectKey },
      },
      buildSpec: codebuild.BuildSpec.fromObject({
        version: '0.2',
        env: { shell: 'bash' },
        phases: { install: { commands: commands.install }, build: { commands: commands.build } },
      }),
      logging: { cloudWatch: { logGroup } },
      timeout: Duration.minutes(20),
      queuedTimeout: Duration.minutes(8),
    });
    // Set on the L1: the L2 would grant kms:ReEncrypt*/GenerateDataKey* (wildcard actions).
    (this.project.node.defaultChild as codebuild.CfnProject).encryptionKey = this.encryptionKey.keyArn;

    const statements = [
      new iam.PolicyStatement({ actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [logGroup.logGroupArn] }),
      new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: [script.bucket.arnForObjects(script.s3ObjectKey)] }),
      new iam.PolicyStatement({ actions: ['s3:PutObject'], resources: [this.bucket.arnForObjects(this.objectKey)] }),
      new iam.PolicyStatement({
        actions: ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey', 'kms:DescribeKey'],
        resources: [this.encryptionKey.keyArn],
      }),
    ];
    if (this.bucket.encryptionKey) {
      // SSE-KMS upload (multipart for a zip this size needs Decrypt as well).
      statements.push(new iam.PolicyStatement({ actions: ['kms:GenerateDataKey', 'kms:Decrypt'], resources: [this.bucket.encryptionKey.keyArn] }));
    }
    const buildPolicy = new iam.Policy(this, 'BuildPolicy', { roles: [role], statements });
    this.project.node.addDependency(buildPolicy);

    // The custom resource: onEvent starts the build, isComplete polls it.
    const code = lambda.Code.fromInline(BUILD_HANDLER_SOURCE);
    const onEvent = this.handler('StartBuild', code, 'index.onEvent', 'codebuild:StartBuild');
    const isComplete = this.handler('WaitForBuild', code, 'index.isComplete', 'codebuild:BatchGetBuilds');
    const provider = new cr.Provider(this, 'Provider', {
      onEventHandler: onEvent,
      isCompleteHandler: isComplete,
      queryInterval: BUILD_QUERY_INTERVAL,
      totalTimeout: BUILD_TOTAL_TIMEOUT,
      logGroup: this.logGroup('ProviderLogs', 'provider'),
      disableWaiterStateMachineLogging: false,
      // Every state transition (no execution data: it holds CloudFormation's pre-signed response URL).
      waiterStateMachineLogOptions: { destination: this.logGroup('WaiterLogs', 'waiter'), level: sfn.LogLevel.ALL, includeExecutionData: false },
    });
    traceWaiter(provider);
    acknowledgeProviderFindings(provider, [onEvent, isComplete]);
    acknowledgeCompliance(
      this,
      'IAMNoInlinePolicy',
      'Each role of the tools build (project, handlers, provider framework) carries one policy of its own, naming the one project, function, log group or object it needs; none is shared.',
    );
    acknowledgeCompliance(
      this,
      'LambdaInsideVPC',
      'The tools build functions only call the CodeBuild, Lambda and Step Functions APIs during a deployment and touch no database or backup; outside the VPC they need no NAT or endpoints.',
    );
    acknowledgeCompliance(
      this,
      'LambdaDLQ',
      'The tools build functions run only inside a deployment; every failure reaches CloudFormation, which fails and rolls back the deployment, so a queue of failed events would hold nothing to act on.',
    );
    acknowledgeCompliance(
      this,
      'LambdaConcurrency',
      'The tools build functions run once per deployment that changes the layer (one build, polled every 30 s); reserving concurrency for them would only take it from the jobs.',
    );
    acknowledgeCompliance(
      this.project,
      'CodeBuildProjectSourceRepoUrl',
      'The project has no source repository (NO_SOURCE: an inline buildspec and an S3 script asset), so there is no repository credential for OAuth to replace.',
    );

    this.buildRun = new CustomResource(this, 'Build', {
      serviceToken: provider.serviceToken,
      resourceType: 'Custom::PgdrPgToolsBuild',
      properties: { ProjectName: this.project.projectName, Bucket: this.bucket.bucketName, Key: this.objectKey },
    });
    // The build needs its project, role, policy, script and (for a bucket made here) the bucket policy in place.
    this.buildRun.node.addDependency(this.project, buildPolicy);
    if (!props.bucket) this.buildRun.node.addDependency(this.bucket);
  }

  private createBucket(accessLogBucket: s3.IBucket | undefined): s3.Bucket {
    const bucket = new s3.Bucket(this, 'Bucket', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      versioned: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      // Current objects stay: CloudFormation may need a zip again to roll a layer back.
      lifecycleRules: [{ id: 'old-builds', noncurrentVersionExpiration: Duration.days(30), abortIncompleteMultipartUploadAfter: Duration.days(1) }],
      removalPolicy: RemovalPolicy.RETAIN,
      ...(accessLogBucket ? { serverAccessLogsBucket: accessLogBucket, serverAccessLogsPrefix: 'pg-tools-builds/' } : {}),
    });
    acknowledgeCompliance(
      bucket,
      'S3DefaultEncryptionKMS',
      'Holds only zips of public Amazon Linux packages (no database data); SSE-S3 lets CloudFormation create the layer from them without a key grant.',
    );
    acknowledgeCompliance(
      bucket,
      'S3BucketReplicationEnabled',
      'The zips are rebuilt from public Amazon Linux packages by the next deployment; a copy in another region would protect nothing that cannot be remade.',
    );
    if (!accessLogBucket) {
      Validations.of(bucket).acknowledge({
        id: 'AwsSolutions-S1',
        reason:
          'Holds only zips of public Amazon Linux packages, written by one CodeBuild project at keys fixed at synth time and read by CloudFormation; no database data. Pass accessLogBucket to log it.',
      });
      acknowledgeCompliance(
        bucket,
        'S3BucketLoggingEnabled',
        'No accessLogBucket was given to this tools build; its bucket serves only synth-time keys of rebuildable package zips (pgdr itself passes the vault access log bucket).',
      );
    }
    return bucket;
  }

  /**
   * A log group of the build, encrypted with {@link encryptionKey}, kept three months and deleted
   * with the stack: its name is fixed, so a retained one would stop the stack from being created again.
   */
  private logGroup(id: string, name: string): logs.LogGroup {
    const group = encryptedLogGroup(this, id, { encryptionKey: this.encryptionKey, logGroupName: `${this.logGroupNamePrefix}${name}`, retention: logs.RetentionDays.THREE_MONTHS });
    group.applyRemovalPolicy(RemovalPolicy.DESTROY);
    return group;
  }

  /** One handler of the custom resource, with its own role, log group and the one CodeBuild action it needs. */
  private handler(id: string, code: lambda.Code, handler: string, action: string): lambda.Function {
    const logGroup = this.logGroup(`${id}Logs`, id.replace(/[A-Z]/g, (c, i: number) => (i ? '-' : '') + c.toLowerCase()));
    const role = new iam.Role(this, `${id}Role`, { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
    role.addToPolicy(new iam.PolicyStatement({ actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [logGroup.logGroupArn] }));
    role.addToPolicy(new iam.PolicyStatement({ actions: [action], resources: [this.project.projectArn] }));
    return new lambda.Function(this, id, {
      runtime: lambda.Runtime.NODEJS_24_X,
      code,
      handler,
      role,
      logGroup,
      timeout: Duration.seconds(30),
      memorySize: 256,
      description: `pgdr: ${action} for the PostgreSQL client tools build`,
    });
  }
}

/**
 * Turns on X-Ray tracing of the Provider's waiter state machine (the Provider API has no switch for
 * it) and lets its role send the traces.
 */
function traceWaiter(provider: cr.Provider): void {
  const waiter = provider.node.findChild('waiter-state-machine');
  (waiter.node.defaultChild as sfn.CfnStateMachine).tracingConfiguration = { enabled: true };
  (waiter.node.findChild('Role') as iam.Role).addToPrincipalPolicy(
    new iam.PolicyStatement({
      actions: ['xray:PutTraceSegments', 'xray:PutTelemetryRecords', 'xray:GetSamplingRules', 'xray:GetSamplingTargets'],
      resources: ['*'], // X-Ray actions take no resource
    }),
  );
  Validations.of(waiter).acknowledge({
    id: 'AwsSolutions-IAM5[Resource::*]',
    reason: 'The waiter needs CloudWatch Logs log-delivery actions and X-Ray trace actions, which take no resource; its Lambda invocations are scoped to the framework functions.',
  });
}

/**
 * cdk-nag findings on what aws-cdk-lib's Provider framework creates (its three functions and
 * their roles), none of which the Provider API lets us change.
 */
function acknowledgeProviderFindings(provider: cr.Provider, handlers: lambda.Function[]): void {
  const v = Validations.of(provider);
  v.acknowledge({
    id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
    reason: "The provider framework's own functions get the AWS-managed basic execution policy, which only lets them write their logs.",
  });
  const stack = Stack.of(provider);
  const invoked = [
    ...handlers,
    provider.node.findChild('framework-isComplete') as lambda.Function,
    provider.node.findChild('framework-onTimeout') as lambda.Function,
  ];
  for (const fn of invoked) {
    const logicalId = stack.getLogicalId(fn.node.defaultChild as lambda.CfnFunction);
    v.acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${logicalId}.Arn>:*]`,
      reason: `lambda:InvokeFunction on "${fn.node.id}" written by the provider framework: ":*" covers the versions and aliases of that one function, no other function.`,
    });
  }
}

/**
 * The custom resource handlers (Node.js, AWS SDK v3 from the Lambda runtime). `onEvent` starts the
 * build on Create and Update and does nothing on Delete; `isComplete` reports IN_PROGRESS as not
 * complete, SUCCEEDED as complete, and anything else as an error naming the failed phases, their
 * messages and the build's log link, which fails the deployment.
 */
export const BUILD_HANDLER_SOURCE = `
const { CodeBuildClient, StartBuildCommand, BatchGetBuildsCommand } = require('@aws-sdk/client-codebuild');
const client = new CodeBuildClient({});
exports.onEvent = async (event) => {
  const p = event.ResourceProperties;
  if (event.RequestType === 'Delete') return { PhysicalResourceId: event.PhysicalResourceId };
  const out = await client.send(new StartBuildCommand({ projectName: p.ProjectName }));
  const id = out.build.id;
  console.log(JSON.stringify({ message: 'build started', buildId: id, bucket: p.Bucket, key: p.Key }));
  return { PhysicalResourceId: 's3://' + p.Bucket + '/' + p.Key, Data: { BuildId: id, Bucket: p.Bucket, Key: p.Key } };
};
exports.isComplete = async (event) => {
  if (event.RequestType === 'Delete') return { IsComplete: true };
  const id = event.Data && event.Data.BuildId;
  if (!id) throw new Error('no build id from onEvent');
  const out = await client.send(new BatchGetBuildsCommand({ ids: [id] }));
  const b = (out.builds || [])[0];
  if (!b) throw new Error('build ' + id + ' not found');
  if (b.buildStatus === 'SUCCEEDED') return { IsComplete: true };
  if (b.buildStatus === 'IN_PROGRESS') return { IsComplete: false };
  const reasons = (b.phases || [])
    .filter((ph) => ph.phaseStatus && ph.phaseStatus !== 'SUCCEEDED')
    .map((ph) => ph.phaseType + ' ' + ph.phaseStatus + ((ph.contexts || []).some((c) => c.message) ? ': ' + ph.contexts.map((c) => c.message).filter(Boolean).join('; ') : ''));
  const log = (b.logs && b.logs.deepLink) || 'no log link';
  const msg = 'PostgreSQL client tools build ' + id + ' ' + b.buildStatus + ': ' + (reasons.join(' | ') || 'no reason given') + ' (log: ' + log + ')';
  console.log(JSON.stringify({ message: 'build failed', buildId: id, status: b.buildStatus, reasons, log }));
  throw new Error(msg.slice(0, 2000));
};
`;
