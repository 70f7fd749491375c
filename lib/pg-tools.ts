import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { Annotations, AssetHashType, BundlingOptions, DockerImage, ILocalBundling, Token } from 'aws-cdk-lib';
import type * as codebuild from 'aws-cdk-lib/aws-codebuild';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { DEFAULT_TOOLS_MAJORS } from './config/rules';
import { caBundleProblem, RDS_CA_BUNDLE_IN_LAYER } from './tls-ca';
import { PgToolsCodeBuild, RDS_CA_BUNDLE_URL } from './pg-tools-build';

/** Where the layer contents come from. */
export type PgToolsSourceKind = 'codeBuild' | 'docker' | 'layerArn' | 'localDirectory';

/** When the Docker source may pack the build host's own PostgreSQL binaries instead of running Docker. */
export type PgToolsHostBuild = 'fallback' | 'prefer' | 'never';

/** glibc of the Lambda runtimes on Amazon Linux 2023 (nodejs22.x, nodejs24.x): host builds must need no newer. */
export const LAMBDA_GLIBC = '2.34';
/** PostgreSQL majors whose client packages (`postgresql<major>`) Amazon Linux 2023 ships. */
export const AL2023_PG_MAJORS: readonly number[] = DEFAULT_TOOLS_MAJORS;
/** The client tools every layer must hold. */
export const PG_TOOLS = ['pg_dump', 'pg_restore', 'psql'] as const;

const MIN_MAJOR = 13;
const MAX_MAJOR = 18;
const DEFAULT_IMAGE = 'public.ecr.aws/amazonlinux/amazonlinux:2023';
const SCRIPTS_DIR = path.join(__dirname, '..', 'scripts');
const PACK_SCRIPT = 'pack-pg-tools.sh';
const LAYER_ARN_RE = /^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:layer:[A-Za-z0-9_-]+:\d+$/;

/** Options of {@link PgToolsSource.codeBuild}. */
export interface CodeBuildPgToolsOptions {
  /** Bucket receiving the built layer zip. @default a small bucket created by the construct (SSE-S3, versioned, TLS only, no public access, current objects kept) */
  readonly bucket?: s3.IBucket;
  /** Key prefix of the built zips: `<prefix><major>/<arch>/<hash>.zip`. Empty or ending with "/". @default 'pg-tools/' */
  readonly keyPrefix?: string;
  /** KMS key encrypting the CodeBuild project's output (e.g. the backup vault's key). @default a key created by the construct, with rotation */
  readonly encryptionKey?: kms.IKey;
  /** Server access log target for the bucket the construct creates; not allowed together with `bucket`. @default no access logs (acknowledged in cdk-nag with the reason) */
  readonly accessLogBucket?: s3.IBucket;
  /** CodeBuild image; must be Amazon Linux 2023 (dnf, `postgresql<major>` packages) of the layer's architecture. @default LinuxBuildImage.AMAZON_LINUX_2023_5 (x86_64) or LinuxArmBuildImage.AMAZON_LINUX_2023_STANDARD_3_0 (arm64) */
  readonly buildImage?: codebuild.IBuildImage;
  /**
   * Also pack a PostgreSQL server (`postgresql<major>-server`: initdb, pg_ctl, postgres, their share/
   * and modules, under `/opt/server/`, `scripts/pack-pg-tools.sh --with-server`) for restore tests on
   * an ephemeral server in the verify Lambda (`verification.mode: "ephemeral"`); ~60 MiB more unpacked.
   * @default false
   */
  readonly withServer?: boolean;
}

/** Options of {@link PgToolsSource.docker}. */
export interface DockerPgToolsOptions {
  /** Image in which `postgresql<major>` is installed with dnf and packed. @default DockerImage.fromRegistry('public.ecr.aws/amazonlinux/amazonlinux:2023') */
  readonly image?: DockerImage;
  /** Pack the host's PostgreSQL binaries: 'fallback' only when no Docker engine answers, 'prefer' before trying Docker, 'never'. @default 'fallback' */
  readonly hostBuild?: PgToolsHostBuild;
  /** Host directory holding pg_dump of the wanted major, for host builds. @default the first of /usr/lib/postgresql/<major>/bin, /usr/pgsql-<major>/bin, /usr/local/pgsql/bin, /usr/bin whose pg_dump has that major */
  readonly hostBinDir?: string;
  /** A local copy of the RDS CA bundle (global-bundle.pem) for host builds, which run offline; the Docker build downloads it. @default host builds ship no RDS CA bundle (a warning says so) */
  readonly rdsCaBundleFile?: string;
}

/**
 * Where the PostgreSQL client tools come from:
 * - {@link PgToolsSource.codeBuild} (default): built at deploy time, in AWS CodeBuild, from Amazon
 *   Linux 2023 packages; synthesis needs no Docker, no network and no local PostgreSQL;
 * - {@link PgToolsSource.docker}: built when the app is synthesized, from Amazon Linux 2023
 *   packages in a Docker container, or, without Docker, from the host's own binaries (see {@link PgTools});
 * - {@link PgToolsSource.layerArn}: an existing layer version, used as is;
 * - {@link PgToolsSource.localDirectory}: a directory already laid out as `bin/` + `lib/`
 *   (for instance the output of `scripts/pack-pg-tools.sh`).
 */
export abstract class PgToolsSource {
  /**
   * Build the layer at deploy time in CodeBuild (Amazon Linux 2023 standard image of the layer's
   * architecture): `dnf install postgresql<major>`, `scripts/pack-pg-tools.sh`, zip, upload to S3 at
   * a key fixed at synth time; a custom resource runs the build and fails the deployment if it fails.
   */
  static codeBuild(options: CodeBuildPgToolsOptions = {}): PgToolsSource {
    return new CodeBuildSource(options);
  }

  /** Build the layer from Amazon Linux 2023 packages with Docker bundling (host binaries as fallback). */
  static docker(options: DockerPgToolsOptions = {}): PgToolsSource {
    return new DockerSource(options);
  }

  /** Use an existing layer version; it must hold `bin/pg_dump`, `bin/pg_restore`, `bin/psql` and their `lib/`. */
  static layerArn(arn: string): PgToolsSource {
    return new LayerArnSource(arn);
  }

  /** Upload a local directory laid out as `bin/` + `lib/` as the layer, without bundling. */
  static localDirectory(directory: string): PgToolsSource {
    return new LocalDirectorySource(directory);
  }

  /** Which kind of source this is. */
  abstract readonly kind: PgToolsSourceKind;
}

class CodeBuildSource extends PgToolsSource {
  readonly kind = 'codeBuild' as const;
  constructor(readonly options: CodeBuildPgToolsOptions) {
    super();
  }
}

class DockerSource extends PgToolsSource {
  readonly kind = 'docker' as const;
  constructor(readonly options: DockerPgToolsOptions) {
    super();
  }
}

class LayerArnSource extends PgToolsSource {
  readonly kind = 'layerArn' as const;
  constructor(readonly arn: string) {
    super();
  }
}

class LocalDirectorySource extends PgToolsSource {
  readonly kind = 'localDirectory' as const;
  constructor(readonly directory: string) {
    super();
  }
}

/** Properties of a {@link PgTools}. */
export interface PgToolsProps {
  /** PostgreSQL major version of the tools; must equal the server's (pg_dump refuses a newer server). */
  readonly majorVersion: number;
  /** Where the tools come from. @default PgToolsSource.codeBuild() (built at deploy time; synthesis stays offline and Docker-free) */
  readonly source?: PgToolsSource;
  /** Instruction set of the binaries, and so of every function using the layer. @default lambda.Architecture.X86_64 */
  readonly architecture?: lambda.Architecture;
  /** Runtimes the layer declares itself compatible with. @default [lambda.Runtime.NODEJS_22_X, lambda.Runtime.NODEJS_24_X] */
  readonly compatibleRuntimes?: lambda.Runtime[];
}

/**
 * PostgreSQL client tools (`pg_dump`, `pg_restore`, `psql`, and `zstd` when the build has it) as a
 * Lambda layer: executables under `/opt/bin`, the shared libraries they link under `/opt/lib`
 * (glibc itself comes from the Lambda runtime). Lambda puts `/opt/lib` on `LD_LIBRARY_PATH`, but
 * after the runtime's own directories: a handler spawning the tools should put {@link libDir} first
 * (see {@link childEnvironment}).
 *
 * The default source ({@link PgToolsSource.codeBuild}) builds the layer at deploy time, in AWS:
 * synthesis only stages `scripts/pack-pg-tools.sh` as a plain file asset, so `cdk synth` works
 * offline, without Docker and without a local PostgreSQL of any major. During the deployment a
 * custom resource runs a CodeBuild project on the Amazon Linux 2023 standard image (the Lambda OS)
 * that installs `postgresql<major>` with dnf, packs it with that script and uploads the zip to S3 at
 * a key fixed at synth time; the layer version is created from that object (see {@link codeBuild}).
 *
 * {@link PgToolsSource.docker} builds the layer while the app is synthesized instead:
 * - with a Docker engine: `dnf install postgresql<major>` in Amazon Linux 2023 (the Lambda OS),
 *   then `scripts/pack-pg-tools.sh` (needs the image registry and the AL2023 package repositories);
 * - with no Docker engine (and by default only then): `scripts/pack-pg-tools.sh` on the host's own
 *   PostgreSQL binaries of the same major, if the host is Linux on the layer's architecture and
 *   every packed file needs glibc ≤ 2.34; this works offline. Otherwise synthesis fails with a
 *   message naming the ways out (start Docker, install the client of that major, use a layer ARN or
 *   a local directory, or skip bundling with `--exclusively`/context `aws:cdk:bundling-stacks=[]`).
 * Stacks whose bundling is skipped (context `aws:cdk:bundling-stacks`, e.g. `[]` in unit tests) run
 * neither: the layer points at the unbuilt source directory, fine for assertions, not for deploying.
 */
export class PgTools extends Construct {
  /** The layer to add to the functions that run the tools. */
  readonly layer: lambda.ILayerVersion;
  /** Where the executables are inside the function (`/opt/bin/pg_dump`, ...). */
  readonly binDir = '/opt/bin';
  /** Where the shared libraries are inside the function. */
  readonly libDir = '/opt/lib';
  /** PostgreSQL major version of the tools. */
  readonly majorVersion: number;
  /** Instruction set of the binaries. */
  readonly architecture: lambda.Architecture;
  /** Where the tools come from. */
  readonly sourceKind: PgToolsSourceKind;
  /** The deploy-time build (project, bucket, object key, custom resource), with the codeBuild source only. */
  readonly codeBuild?: PgToolsCodeBuild;
  /**
   * Where the RDS CA bundle is inside the function (`/opt/share/pgdr/rds-global-bundle.pem`), or
   * undefined when this layer does not ship it: the CodeBuild source and the Docker build fetch it; a
   * local directory has it when packed with `--ca-bundle`; a host build when given `rdsCaBundleFile`;
   * a layer ARN is taken on trust to follow the same layout.
   */
  readonly rdsCaBundle?: string;

  constructor(scope: Construct, id: string, props: PgToolsProps) {
    super(scope, id);
    const source = props.source ?? PgToolsSource.codeBuild();
    this.sourceKind = source.kind;
    this.majorVersion = validateMajor(props.majorVersion, source);
    this.architecture = props.architecture ?? lambda.Architecture.X86_64;
    if (this.architecture.name !== lambda.Architecture.X86_64.name && this.architecture.name !== lambda.Architecture.ARM_64.name) {
      throw new Error(`architecture: must be lambda.Architecture.X86_64 or ARM_64 (received "${this.architecture.name}")`);
    }
    const compatibleRuntimes = props.compatibleRuntimes ?? [lambda.Runtime.NODEJS_22_X, lambda.Runtime.NODEJS_24_X];
    if (compatibleRuntimes.length === 0) throw new Error('compatibleRuntimes: must name at least one runtime (received [])');
    const description = `PostgreSQL ${this.majorVersion} client tools (pg_dump, pg_restore, psql) for pgdr: /opt/bin + /opt/lib`;

    const rdsCaBundle = `/opt/${RDS_CA_BUNDLE_IN_LAYER}`;
    if (source instanceof LayerArnSource) {
      validateLayerArn(source.arn);
      this.layer = lambda.LayerVersion.fromLayerVersionArn(this, 'Layer', source.arn);
      this.rdsCaBundle = rdsCaBundle;
      return;
    }

    let code: lambda.Code;
    let bundler: PgToolsHostBundler | undefined;
    if (source instanceof CodeBuildSource) {
      this.codeBuild = new PgToolsCodeBuild(this, 'Build', { majorVersion: this.majorVersion, architecture: this.architecture, ...source.options });
      // What Code.fromBucket() returns, minus its warning that CloudFormation cannot see the object
      // change: the key names its inputs (script, major, image, architecture, commands), so any change
      // to what is built is a new key, and so a new layer version.
      code = new lambda.S3Code(this.codeBuild.bucket, this.codeBuild.objectKey);
      this.rdsCaBundle = rdsCaBundle;
    } else if (source instanceof LocalDirectorySource) {
      validateLocalDirectory(source.directory, this.majorVersion);
      code = lambda.Code.fromAsset(path.resolve(source.directory));
      if (fs.existsSync(path.join(source.directory, RDS_CA_BUNDLE_IN_LAYER))) this.rdsCaBundle = rdsCaBundle;
    } else if (source instanceof DockerSource) {
      const { bundling, host } = dockerBundling(this.majorVersion, this.architecture, source.options);
      bundler = host;
      // OUTPUT: the asset hash follows what was packed (Docker and host builds differ; a new AL2023
      // package release yields a new layer version).
      code = lambda.Code.fromAsset(SCRIPTS_DIR, { bundling, assetHashType: AssetHashType.OUTPUT });
    } else {
      throw new Error(`source: unknown kind (received "${(source as PgToolsSource).kind}")`);
    }

    this.layer = new lambda.LayerVersion(this, 'Layer', {
      code,
      description,
      license: 'PostgreSQL',
      compatibleRuntimes,
      compatibleArchitectures: [this.architecture],
    });
    // The layer is created from the object the build writes: only once the build has succeeded.
    if (this.codeBuild) this.layer.node.addDependency(this.codeBuild.buildRun);
    // The asset (and so any bundling) is created when the layer binds its code, just above.
    if (bundler?.hostBuildFrom) {
      Annotations.of(this).addInfo(
        `PostgreSQL ${this.majorVersion} client tools packed from the host (${bundler.hostBuildFrom}), not from Amazon Linux 2023 packages: ${bundler.reason}`,
      );
    }
    // The Docker build downloads the RDS CA bundle; a host build packs it only from a local copy.
    const hostWithoutCa = bundler?.hostBuildFrom !== undefined && !bundler.settings.rdsCaBundleFile;
    if (source instanceof DockerSource && !hostWithoutCa) this.rdsCaBundle = rdsCaBundle;
    if (hostWithoutCa) {
      Annotations.of(this).addWarningV2(
        'pgdr:pgToolsNoRdsCaBundle',
        `the PostgreSQL ${this.majorVersion} client tools packed from the host hold no RDS CA bundle (host builds run offline): pass rdsCaBundleFile, or jobs of RDS sources cannot verify the server`,
      );
    }
  }

  /** Full path of a tool inside the function, e.g. `/opt/bin/pg_dump`. */
  toolPath(tool: string): string {
    return `${this.binDir}/${tool}`;
  }

  /**
   * Environment entries a handler should give the tools it spawns: `LD_LIBRARY_PATH` with
   * {@link libDir} first (Lambda lists the runtime's `/lib64` before `/opt/lib`), then `inherited`.
   */
  childEnvironment(inherited?: string): Record<string, string> {
    return { LD_LIBRARY_PATH: inherited ? `${this.libDir}:${inherited}` : this.libDir };
  }

  /**
   * Adds the layer to `fn` and tells it where the tools are: `PGDR_PG_BIN` (= {@link binDir}; the
   * handlers' process runner puts the sibling `lib/` first on the child's `LD_LIBRARY_PATH`) and
   * `PGDR_PG_MAJOR`. Fails when the function's architecture differs from the layer's.
   */
  addTo(fn: lambda.Function): void {
    if (fn.architecture.name !== this.architecture.name) {
      throw new Error(`${fn.node.path}: architecture must be ${this.architecture.name} to use the pg tools layer (received ${fn.architecture.name})`);
    }
    fn.addLayers(this.layer);
    fn.addEnvironment('PGDR_PG_BIN', this.binDir);
    fn.addEnvironment('PGDR_PG_MAJOR', String(this.majorVersion));
  }
}

function validateMajor(major: number, source: PgToolsSource): number {
  if (!Number.isInteger(major) || major < MIN_MAJOR || major > MAX_MAJOR) {
    throw new Error(`majorVersion: must be a whole number from ${MIN_MAJOR} to ${MAX_MAJOR} (received ${major})`);
  }
  if ((source.kind === 'docker' || source.kind === 'codeBuild') && !AL2023_PG_MAJORS.includes(major)) {
    throw new Error(
      `majorVersion: must be one of ${AL2023_PG_MAJORS.join(', ')} (the postgresql<major> packages of Amazon Linux 2023) with source PgToolsSource.${source.kind}(); ` +
        `use PgToolsSource.layerArn() or .localDirectory() for other majors (received ${major})`,
    );
  }
  return major;
}

function validateLayerArn(arn: string): void {
  if (Token.isUnresolved(arn)) return;
  if (!LAYER_ARN_RE.test(arn)) {
    throw new Error(`source.layerArn: must be a layer version ARN like arn:aws:lambda:<region>:<account>:layer:<name>:<version> (received "${arn}")`);
  }
}

function validateLocalDirectory(directory: string, major: number): void {
  const at = 'source.localDirectory';
  if (!directory) throw new Error(`${at}: must be a directory laid out as bin/ + lib/ (received "${directory}")`);
  if (!fs.existsSync(directory) || !fs.statSync(directory).isDirectory()) {
    throw new Error(`${at}: must be an existing directory laid out as bin/ + lib/ (received "${directory}", which does not exist or is not a directory)`);
  }
  const missing = [...PG_TOOLS.map((t) => `bin/${t}`), 'lib'].filter((p) => !fs.existsSync(path.join(directory, p)));
  if (missing.length > 0) {
    throw new Error(`${at}: must hold bin/pg_dump, bin/pg_restore, bin/psql and lib/ (received "${directory}", missing ${missing.join(', ')})`);
  }
  const notExecutable = PG_TOOLS.filter((t) => (fs.statSync(path.join(directory, 'bin', t)).mode & 0o111) === 0);
  if (notExecutable.length > 0) {
    throw new Error(`${at}: bin/ tools must be executable (received "${directory}", not executable: ${notExecutable.join(', ')})`);
  }
  const found = embeddedMajor(path.join(directory, 'bin', 'pg_dump'));
  if (found !== undefined && found !== major) {
    throw new Error(`${at}: bin/pg_dump must be PostgreSQL ${major} like majorVersion (received "${directory}" holding pg_dump ${found})`);
  }
}

/** The major version pg_dump prints for --version, read from the binary (works for any architecture). */
export function embeddedMajor(pgDump: string): number | undefined {
  const m = /pg_dump \(PostgreSQL\) (\d+)/.exec(fs.readFileSync(pgDump).toString('latin1'));
  return m ? Number(m[1]) : undefined;
}

function dockerBundling(
  major: number,
  architecture: lambda.Architecture,
  options: DockerPgToolsOptions,
): { bundling: BundlingOptions; host: PgToolsHostBundler } {
  const hostBuild = options.hostBuild ?? 'fallback';
  if (!['fallback', 'prefer', 'never'].includes(hostBuild)) {
    throw new Error(`source.hostBuild: must be 'fallback', 'prefer' or 'never' (received "${hostBuild}")`);
  }
  if (options.hostBinDir !== undefined && !path.isAbsolute(options.hostBinDir)) {
    throw new Error(`source.hostBinDir: must be an absolute path (received "${options.hostBinDir}")`);
  }
  const pkg = `postgresql${major}`;
  const script = [
    'set -euo pipefail',
    // glibc-common brings ldd; zstd is packed next to the PostgreSQL tools.
    `dnf install -y -q --setopt=install_weak_deps=False ${pkg} zstd glibc-common >&2`,
    `bindir="$(dirname "$(rpm -ql ${pkg} | grep '/pg_dump$' | head -n 1)")"`,
    `curl -fsS --retry 3 --proto =https -o /tmp/rds-global-bundle.pem ${RDS_CA_BUNDLE_URL}`,
    `bash /asset-input/${PACK_SCRIPT} --expect-major ${major} --ca-bundle /tmp/rds-global-bundle.pem "$bindir" /asset-output`,
    // dnf needs root; hand the output back to the owner of the mounted output directory.
    'chown -R "$(stat -c %u:%g /asset-output)" /asset-output',
  ].join('\n');
  if (options.rdsCaBundleFile !== undefined) {
    const problem = caBundleProblem(options.rdsCaBundleFile);
    if (problem) throw new Error(`source.rdsCaBundleFile: must be a PEM file of CA certificates, but it ${problem} (received "${options.rdsCaBundleFile}")`);
  }
  const host = new PgToolsHostBundler({
    majorVersion: major,
    architecture: architecture.name,
    hostBuild,
    hostBinDir: options.hostBinDir,
    rdsCaBundleFile: options.rdsCaBundleFile && path.resolve(options.rdsCaBundleFile),
  });
  return {
    host,
    bundling: {
      image: options.image ?? DockerImage.fromRegistry(DEFAULT_IMAGE),
      platform: architecture.dockerPlatform,
      user: 'root',
      command: ['bash', '-c', script],
      local: host,
    },
  };
}

/** Settings of a {@link PgToolsHostBundler}. */
export interface PgToolsHostBundlerSettings {
  /** PostgreSQL major to pack. */
  readonly majorVersion: number;
  /** Lambda architecture name of the layer ('x86_64' or 'arm64'). */
  readonly architecture: string;
  /** When to pack the host binaries instead of using Docker. */
  readonly hostBuild: PgToolsHostBuild;
  /** Host directory to pack. @default searched (see DockerPgToolsOptions.hostBinDir) */
  readonly hostBinDir?: string;
  /** Absolute path of the RDS CA bundle to pack. @default none packed */
  readonly rdsCaBundleFile?: string;
}

/**
 * The local half of the Docker source's bundling: decides between Docker and the host's binaries,
 * and runs `scripts/pack-pg-tools.sh` on the host when that is the choice. CDK calls
 * {@link tryBundle} before Docker; `false` means "use Docker".
 */
export class PgToolsHostBundler implements ILocalBundling {
  /** The host directory packed by the last successful {@link tryBundle}, if it packed. */
  hostBuildFrom?: string;
  /** Why the host was used. */
  reason?: string;

  constructor(readonly settings: PgToolsHostBundlerSettings) {}

  tryBundle(outputDir: string): boolean {
    const { majorVersion, hostBuild } = this.settings;
    if (hostBuild === 'never') return false;
    const docker = hostBuild === 'fallback' ? dockerEngineAnswers() : undefined;
    if (docker === true) return false;

    const hostProblem = this.hostProblem();
    if (typeof hostProblem === 'string') {
      if (hostBuild === 'prefer' && dockerEngineAnswers()) return false;
      throw new Error(
        `cannot build the PostgreSQL ${majorVersion} client tools layer: no Docker engine answers (${dockerCommand()} version) and ${hostProblem}. ` +
          `Start Docker, install the PostgreSQL ${majorVersion} client on this host, use PgToolsSource.layerArn() or .localDirectory(), ` +
          `or skip bundling (cdk synth --exclusively OTHER_STACK, or context aws:cdk:bundling-stacks=[]).`,
      );
    }
    const binDir = hostProblem.binDir;
    const run = spawnSync(
      'bash',
      [
        path.join(SCRIPTS_DIR, PACK_SCRIPT),
        '--expect-major', String(majorVersion),
        '--max-glibc', LAMBDA_GLIBC,
        ...(this.settings.rdsCaBundleFile ? ['--ca-bundle', this.settings.rdsCaBundleFile] : []),
        binDir,
        outputDir,
      ],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
    );
    if (run.status !== 0) {
      const detail = `${run.stderr ?? ''}${run.error ? String(run.error) : ''}`.trim();
      if (hostBuild === 'prefer' && dockerEngineAnswers()) {
        process.stderr.write(`pgdr: packing host PostgreSQL tools from ${binDir} failed, using Docker: ${detail}\n`);
        fs.rmSync(outputDir, { recursive: true, force: true });
        fs.mkdirSync(outputDir, { recursive: true });
        return false;
      }
      throw new Error(`cannot build the PostgreSQL ${majorVersion} client tools layer: no Docker engine answers, and packing ${binDir} failed: ${detail}`);
    }
    process.stderr.write(`pgdr: packed PostgreSQL ${majorVersion} client tools from the host (${binDir}) instead of Amazon Linux 2023 packages\n`);
    this.hostBuildFrom = binDir;
    this.reason = hostBuild === 'prefer' ? "hostBuild is 'prefer'" : 'no Docker engine answered';
    return true;
  }

  /** Why the host cannot build, or the directory it can build from. */
  private hostProblem(): string | { binDir: string } {
    const { majorVersion, architecture, hostBinDir } = this.settings;
    if (process.platform !== 'linux') return `the host is ${process.platform}, not Linux`;
    const hostArch = process.arch === 'x64' ? 'x86_64' : process.arch === 'arm64' ? 'arm64' : process.arch;
    if (hostArch !== architecture) return `the host is ${hostArch}, the layer ${architecture}`;
    const candidates = hostBinDir
      ? [hostBinDir]
      : [`/usr/lib/postgresql/${majorVersion}/bin`, `/usr/pgsql-${majorVersion}/bin`, '/usr/local/pgsql/bin', '/usr/bin'];
    for (const dir of candidates) {
      const pgDump = path.join(dir, 'pg_dump');
      if (!fs.existsSync(pgDump)) continue;
      let major: number | undefined;
      try {
        major = embeddedMajor(fs.realpathSync(pgDump));
      } catch {
        continue;
      }
      if (major === majorVersion) return { binDir: dir };
    }
    return `no pg_dump of PostgreSQL ${majorVersion} was found in ${candidates.join(', ')}`;
  }
}

function dockerCommand(): string {
  return process.env.CDK_DOCKER ?? 'docker';
}

/** True when a Docker engine answers (the CLI alone is not enough). */
function dockerEngineAnswers(): boolean {
  const r = spawnSync(dockerCommand(), ['version', '--format', '{{.Server.Version}}'], { encoding: 'utf8', timeout: 15_000, stdio: ['ignore', 'pipe', 'pipe'] });
  return r.status === 0 && (r.stdout ?? '').trim().length > 0;
}
