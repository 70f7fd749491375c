/**
 * The container image of the Fargate jobs (issue 11), built at deploy time without Docker on the
 * deploying machine: at synth time esbuild (the local one, as for the Lambda handlers) bundles the
 * container entry point into one file, which travels with container/Dockerfile as an S3 asset; during
 * the deployment a privileged CodeBuild project builds the image from it and pushes it to an ECR
 * repository (KMS, scan on push, immutable tags; the tag follows the asset's hash), run and awaited
 * by a custom resource (lib/deploy-time-build.ts, shared with the tools layer build). `cdk synth`
 * stays offline and Docker-free.
 */
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { CustomResource, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as codebuild from 'aws-cdk-lib/aws-codebuild';
import * as ecr from 'aws-cdk-lib/aws-ecr';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3assets from 'aws-cdk-lib/aws-s3-assets';
import * as cxapi from 'aws-cdk-lib/cx-api';
import { Construct } from 'constructs';
import { buildSync } from 'esbuild';
import { addDeployTimeBuild } from './deploy-time-build';
import { cloudWatchLogsKeyStatement } from './log-encryption';
import { DEFAULT_TOOLS_MAJORS } from './config/rules';
import { RDS_CA_BUNDLE_URL } from './pg-tools-build';

const PROJECT_ROOT = path.join(__dirname, '..');
/** The Dockerfile of the job image. */
export const JOB_DOCKERFILE = path.join(PROJECT_ROOT, 'container', 'Dockerfile');
/** The container entry point bundled into the image by default. */
export const JOB_ENTRY = path.join(PROJECT_ROOT, 'container', 'entry.ts');
/** Where the image keeps the RDS CA bundle (fetched by the Dockerfile). */
export const IMAGE_RDS_CA_BUNDLE = '/app/rds-global-bundle.pem';
/** Where the image keeps the CA bundles of the configuration (`<dir>/<sha256 prefix>.pem`). */
export const IMAGE_CA_DIR = '/app/ca';

/** Properties of a {@link JobImage}. */
export interface JobImageProps {
  /** PostgreSQL major of the client and server in the image (`postgresql<major>` must exist in Amazon Linux 2023). */
  readonly majorVersion: number;
  /** The container entry point (TypeScript), bundled with esbuild into /app/entry.js. @default container/entry.ts */
  readonly entry?: string;
  /** PEM files of CA certificates copied into the image (see {@link caBundlePath}). @default [] */
  readonly caBundleFiles?: string[];
  /** Key of the repository, the build's output and its logs; never the vault key (the build must not read backups). @default a key created here, with rotation */
  readonly encryptionKey?: kms.IKey;
}

/**
 * The job image of one PostgreSQL major: its repository, the deploy-time build, and the
 * {@link containerImage} task definitions use (they must depend on {@link buildRun}).
 */
export class JobImage extends Construct {
  readonly repository: ecr.Repository;
  /** The image tag: `<major>-<hash of the build context and build commands>`. */
  readonly imageTag: string;
  /** The image for ECS container definitions (grants the execution role the pull). */
  readonly containerImage: ecs.ContainerImage;
  /** The custom resource that builds and pushes the image during the deployment. */
  readonly buildRun: CustomResource;
  readonly project: codebuild.Project;
  readonly encryptionKey: kms.IKey;
  private readonly caFiles = new Map<string, string>();

  constructor(scope: Construct, id: string, props: JobImageProps) {
    super(scope, id);
    const major = props.majorVersion;
    if (!DEFAULT_TOOLS_MAJORS.includes(major)) {
      throw new Error(`majorVersion: Amazon Linux 2023 packages PostgreSQL ${DEFAULT_TOOLS_MAJORS.join(', ')} for the job image (received ${major})`);
    }
    const stack = Stack.of(this);
    for (const file of props.caBundleFiles ?? []) {
      const resolved = path.resolve(file);
      this.caFiles.set(resolved, `${createHash('sha256').update(readFileSync(resolved)).digest('hex').slice(0, 16)}.pem`);
    }
    const context = stageContext(props.entry ?? JOB_ENTRY, this.caFiles, stack.bundlingRequired);
    const asset = new s3assets.Asset(this, 'Context', { path: context });
    // The asset copied the directory into the cloud assembly (staging) when it was constructed;
    // without staging (the disable-asset-staging context) the assembly points at it: kept to the end.
    if (this.node.tryGetContext(cxapi.DISABLE_ASSET_STAGING_CONTEXT)) process.once('exit', () => rmSync(context, { recursive: true, force: true }));
    else rmSync(context, { recursive: true, force: true });

    this.encryptionKey =
      props.encryptionKey ??
      new kms.Key(this, 'Key', { description: `pgdr job image, PostgreSQL ${major} (${stack.stackName})`, enableKeyRotation: true, removalPolicy: RemovalPolicy.RETAIN });
    this.repository = new ecr.Repository(this, 'Repository', {
      imageScanOnPush: true,
      imageTagMutability: ecr.TagMutability.IMMUTABLE,
      encryption: ecr.RepositoryEncryption.KMS,
      encryptionKey: this.encryptionKey,
      // Images are rebuilt from the repository by any deployment; a retained repository keeps the ones running tasks use.
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: [{ description: 'keep the ten newest images (rollbacks)', maxImageCount: 10 }],
    });

    const commands = imageBuildCommands(major);
    this.imageTag = `${major}-${createHash('sha256').update(JSON.stringify({ context: asset.assetHash, commands })).digest('hex').slice(0, 24)}`;
    const imageUri = this.repository.repositoryUriForTag(this.imageTag);
    const logGroupNamePrefix = `/pgdr-image/${stack.stackName}/${major}/`;
    this.encryptionKey.addToResourcePolicy(cloudWatchLogsKeyStatement(this, `${logGroupNamePrefix}*`));

    const build = addDeployTimeBuild(this, {
      what: `job image build (PostgreSQL ${major})`,
      description: `pgdr: the Fargate job image for PostgreSQL ${major} (container/Dockerfile), pushed to ECR`,
      buildImage: codebuild.LinuxBuildImage.AMAZON_LINUX_2023_5,
      privileged: true, // docker build needs the daemon
      computeType: codebuild.ComputeType.SMALL,
      environmentVariables: {
        PGDR_CONTEXT_URL: { value: asset.s3ObjectUrl },
        PGDR_REGISTRY: { value: `${stack.account}.dkr.ecr.${stack.region}.${stack.urlSuffix}` },
        PGDR_REPOSITORY: { value: this.repository.repositoryName },
        PGDR_IMAGE_TAG: { value: this.imageTag },
        PGDR_IMAGE_URI: { value: imageUri },
        PGDR_RDS_CA_BUNDLE_URL: { value: RDS_CA_BUNDLE_URL },
      },
      commands,
      statements: [
        new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: [asset.bucket.arnForObjects(asset.s3ObjectKey)] }),
        new iam.PolicyStatement({
          actions: ['ecr:DescribeImages', 'ecr:BatchCheckLayerAvailability', 'ecr:InitiateLayerUpload', 'ecr:UploadLayerPart', 'ecr:CompleteLayerUpload', 'ecr:PutImage', 'ecr:BatchGetImage'],
          resources: [this.repository.repositoryArn],
        }),
        new iam.PolicyStatement({ actions: ['ecr:GetAuthorizationToken'], resources: ['*'] }), // GetAuthorizationToken has no resource
      ],
      encryptionKey: this.encryptionKey,
      logGroupNamePrefix,
      resourceType: 'Custom::PgdrJobImageBuild',
      properties: { Output: imageUri, ImageTag: this.imageTag },
    });
    Validations.of(build.buildPolicy).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'ecr:GetAuthorizationToken (the docker login of the image build) has no resource-level permissions; every push action names the one repository.',
    });
    this.project = build.project;
    this.buildRun = build.buildRun;
    this.containerImage = ecs.ContainerImage.fromEcrRepository(this.repository, this.imageTag);
  }

  /** Where a PEM file given in `caBundleFiles` is inside the image. */
  caBundlePath(file: string): string {
    const name = this.caFiles.get(path.resolve(file));
    if (!name) throw new Error(`caBundleFiles: ${file} was not given to the job image of this major (received "${file}")`);
    return `${IMAGE_CA_DIR}/${name}`;
  }
}

/**
 * The buildspec commands of the image build: fetch the context asset, and unless the tag is already
 * in the repository (tags are immutable: a rerun of the same build, e.g. after a rollback, must not
 * fail), build with the major as a build argument, log in and push. Needs the PGDR_* variables above.
 */
export function imageBuildCommands(majorVersion: number): { build: string[] } {
  return {
    build: [
      'aws s3 cp --no-progress "$PGDR_CONTEXT_URL" context.zip',
      'mkdir -p context && (cd context && unzip -q ../context.zip)',
      [
        'if aws ecr describe-images --repository-name "$PGDR_REPOSITORY" --image-ids imageTag="$PGDR_IMAGE_TAG" >/dev/null 2>&1; then',
        'echo "$PGDR_IMAGE_URI is already in the repository";',
        'else',
        'aws ecr get-login-password | docker login --username AWS --password-stdin "$PGDR_REGISTRY"',
        `&& docker build --pull --build-arg PG_MAJOR=${majorVersion} --build-arg RDS_CA_BUNDLE_URL="$PGDR_RDS_CA_BUNDLE_URL" -t "$PGDR_IMAGE_URI" context`,
        '&& docker push "$PGDR_IMAGE_URI";',
        'fi',
      ].join(' '),
    ],
  };
}

/**
 * The build context, staged in a temporary directory: the Dockerfile, entry.js bundled from
 * `entry`, and ca/ with the configured CA files. When the stack is not bundled (`cdk
 * synth --exclusively` of another stack, or tests with `aws:cdk:bundling-stacks` []) entry.js is a
 * stub naming the entry and nothing is bundled, as NodejsFunction does.
 */
function stageContext(entry: string, caFiles: Map<string, string>, bundle: boolean): string {
  if (bundle && !existsSync(entry)) throw new Error(`entry: the container entry point does not exist (received "${entry}")`);
  const dir = mkdtempSync(path.join(tmpdir(), 'pgdr-job-image-'));
  try {
    fillContext(dir, entry, caFiles, bundle);
    return dir;
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

function fillContext(dir: string, entry: string, caFiles: Map<string, string>, bundle: boolean): void {
  copyFileSync(JOB_DOCKERFILE, path.join(dir, 'Dockerfile'));
  mkdirSync(path.join(dir, 'ca'));
  writeFileSync(path.join(dir, 'ca', '.keep'), '');
  for (const [file, name] of caFiles) copyFileSync(file, path.join(dir, 'ca', name));
  if (!bundle) {
    writeFileSync(path.join(dir, 'entry.js'), `// not bundled in this synthesis (bundling skipped): ${path.relative(PROJECT_ROOT, entry)}\n`);
    return;
  }
  const result = buildSync({
    entryPoints: [entry],
    outfile: path.join(dir, 'entry.js'),
    bundle: true,
    platform: 'node',
    target: 'node22',
    format: 'cjs',
    // Readable stack traces without a source map: a map would name the temporary directory and change the hash every synthesis.
    minify: false,
    external: ['pg-native'],
    logLevel: 'silent',
    absWorkingDir: PROJECT_ROOT,
  });
  if (result.errors.length > 0) throw new Error(`entry: esbuild could not bundle ${entry}: ${result.errors.map((e) => e.text).join('; ')}`);
}
