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
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3assets from 'aws-cdk-lib/aws-s3-assets';
import { Construct } from 'constructs';
import { addDeployTimeBuild, BUILD_QUERY_INTERVAL, BUILD_TOTAL_TIMEOUT, buildHandlerSource } from './deploy-time-build';
import { cloudWatchLogsKeyStatement } from './log-encryption';
import { acknowledgeCompliance } from './nag';

/** The packing script, shipped to the build as a plain S3 file asset (no bundling). */
export const PACK_SCRIPT_PATH = path.join(__dirname, '..', 'scripts', 'pack-pg-tools.sh');
/** Newest glibc the packed files may need: the Lambda runtimes on Amazon Linux 2023 have 2.34. */
const LAMBDA_GLIBC = '2.34';

/** The CA bundle of every RDS region, published by AWS; fetched by the build, packed into the layer. */
export const RDS_CA_BUNDLE_URL = 'https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem';

export { BUILD_QUERY_INTERVAL, BUILD_TOTAL_TIMEOUT };

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
  /** Also install `postgresql<major>-server` and pack the server (`--with-server`) for ephemeral restore tests. @default false */
  readonly withServer?: boolean;
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
export function buildCommands(majorVersion: number, withServer = false): { install: string[]; build: string[] } {
  const pkg = `postgresql${majorVersion}`;
  // The server's package brings initdb/pg_ctl/postgres and pg_config (which --with-server reads).
  const server = withServer ? ` ${pkg}-server` : '';
  return {
    // glibc-common brings ldd, binutils readelf (for --max-glibc), zip the packaging; --allowerasing
    // lets postgresql<major> replace another major's client should the image carry one.
    install: [`dnf install -y -q --allowerasing --setopt=install_weak_deps=False ${pkg}${server} zstd glibc-common binutils zip`],
    build: [
      'aws s3 cp --no-progress "$PGDR_SCRIPT_URL" pack-pg-tools.sh',
      `bindir="$(dirname "$(rpm -ql ${pkg} | grep '/pg_dump$' | head -n 1)")"`,
      // The RDS CA bundle, over HTTPS (curl verifies AWS's certificate); the pack script checks it is PEM certificates.
      `curl -fsS --retry 3 --proto =https -o rds-global-bundle.pem ${RDS_CA_BUNDLE_URL}`,
      // --with-server reads the server's directories from pg_config; Amazon Linux ships it only in a
      // -devel package, so answer its three questions from the server package's own file list.
      ...(withServer
        ? [
            `[ -x "$bindir/pg_config" ] || printf '%s\\n' '#!/bin/sh' 'f() { dirname "$(rpm -ql ${pkg}-server | grep "/$1$" | head -n 1)"; }' 'case "$1" in --bindir) f postgres ;; --sharedir) f postgres.bki ;; --pkglibdir) f plpgsql.so ;; *) exit 1 ;; esac' > "$bindir/pg_config"`,
            'chmod 755 "$bindir/pg_config"',
          ]
        : []),
      `bash pack-pg-tools.sh --expect-major ${majorVersion} --max-glibc ${LAMBDA_GLIBC} --ca-bundle rds-global-bundle.pem${withServer ? ' --with-server' : ''} "$bindir" layer`,
      'cat layer/pg-tools.manifest',
      `(cd layer && zip -qr -X ../pg-tools.zip bin lib share${withServer ? ' server' : ''} pg-tools.manifest)`,
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
    const commands = buildCommands(majorVersion, props.withServer === true);

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
    const statements = [
      new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: [script.bucket.arnForObjects(script.s3ObjectKey)] }),
      new iam.PolicyStatement({ actions: ['s3:PutObject'], resources: [this.bucket.arnForObjects(this.objectKey)] }),
    ];
    if (this.bucket.encryptionKey) {
      // SSE-KMS upload (multipart for a zip this size needs Decrypt as well).
      statements.push(new iam.PolicyStatement({ actions: ['kms:GenerateDataKey', 'kms:Decrypt'], resources: [this.bucket.encryptionKey.keyArn] }));
    }
    const build = addDeployTimeBuild(this, {
      what: 'PostgreSQL client tools build',
      description: `pgdr: PostgreSQL ${majorVersion} client tools layer (${architecture.name}) from Amazon Linux 2023 packages`,
      buildImage: image,
      environmentVariables: {
        PGDR_SCRIPT_URL: { value: script.s3ObjectUrl },
        PGDR_BUCKET: { value: this.bucket.bucketName },
        PGDR_KEY: { value: this.objectKey },
      },
      commands,
      statements,
      encryptionKey: this.encryptionKey,
      logGroupNamePrefix: this.logGroupNamePrefix,
      resourceType: 'Custom::PgdrPgToolsBuild',
      properties: { Bucket: this.bucket.bucketName, Key: this.objectKey },
    });
    this.project = build.project;
    this.buildRun = build.buildRun;
    // The build needs (for a bucket made here) the bucket policy in place.
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

}

/** The custom resource handlers of the tools build (see {@link buildHandlerSource}). */
export const BUILD_HANDLER_SOURCE = buildHandlerSource('PostgreSQL client tools build');
