/** The PgTools construct: sources, layer properties, prop validation. No test runs Docker. */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { App, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { PgTools, PgToolsHostBundler, PgToolsProps, PgToolsSource } from '../../lib/pg-tools';
import { RDS_CA_BUNDLE_URL } from '../../lib/pg-tools-build';
import { writeCurlShim } from '../support/curl-shim';
import { TestPki } from '../support/test-pki';

const HOST_PG15 = '/usr/lib/postgresql/15/bin';
const ARN = 'arn:aws:lambda:eu-west-1:123456789012:layer:pg-tools-15:3';
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pgdr-pgtools-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A stack whose asset bundling CDK skips (context aws:cdk:bundling-stacks = []): Docker is never asked. */
function stackWithoutBundling(): Stack {
  const app = new App({ outdir: fs.mkdtempSync(path.join(tmp, 'out-')), context: { 'aws:cdk:bundling-stacks': [] } });
  return new Stack(app, 'Test');
}

/** A directory laid out like a packed layer; pg_dump carries the version string PostgreSQL embeds. */
function fakeLayerDir(major: number, omit: string[] = []): string {
  const dir = fs.mkdtempSync(path.join(tmp, 'layer-'));
  fs.mkdirSync(path.join(dir, 'bin'));
  fs.mkdirSync(path.join(dir, 'lib'));
  for (const t of ['pg_dump', 'pg_restore', 'psql'].filter((t) => !omit.includes(t))) {
    fs.writeFileSync(path.join(dir, 'bin', t), `\x7fELF...${t} (PostgreSQL) ${major}.4\0...`, { mode: 0o755 });
  }
  fs.writeFileSync(path.join(dir, 'lib', 'libpq.so.5'), 'lib');
  return dir;
}

describe('PgTools sources', () => {
  it('local directory: a layer for nodejs22.x and nodejs24.x on x86_64, from the directory as is', () => {
    const stack = stackWithoutBundling();
    const tools = new PgTools(stack, 'PgTools', { majorVersion: 15, source: PgToolsSource.localDirectory(fakeLayerDir(15)) });
    const t = Template.fromStack(stack);
    t.resourceCountIs('AWS::Lambda::LayerVersion', 1);
    t.hasResourceProperties('AWS::Lambda::LayerVersion', {
      CompatibleRuntimes: ['nodejs22.x', 'nodejs24.x'],
      CompatibleArchitectures: ['x86_64'],
      Description: Match.stringLikeRegexp('^PostgreSQL 15 client tools'),
      Content: { S3Bucket: Match.anyValue(), S3Key: Match.stringLikeRegexp('\\.zip$') },
    });
    expect(tools.binDir).toBe('/opt/bin');
    expect(tools.libDir).toBe('/opt/lib');
    expect(tools.majorVersion).toBe(15);
    expect(tools.sourceKind).toBe('localDirectory');
    expect(tools.toolPath('pg_dump')).toBe('/opt/bin/pg_dump');
  });

  it('the architecture is a prop: ARM64 layers declare arm64', () => {
    const stack = stackWithoutBundling();
    new PgTools(stack, 'PgTools', { majorVersion: 16, architecture: lambda.Architecture.ARM_64, source: PgToolsSource.localDirectory(fakeLayerDir(16)) });
    Template.fromStack(stack).hasResourceProperties('AWS::Lambda::LayerVersion', { CompatibleArchitectures: ['arm64'] });
  });

  it('layer ARN: no layer resource; functions get the given layer and where the tools are', () => {
    const stack = stackWithoutBundling();
    const tools = new PgTools(stack, 'PgTools', { majorVersion: 15, source: PgToolsSource.layerArn(ARN) });
    const fn = new lambda.Function(stack, 'Fn', { runtime: lambda.Runtime.NODEJS_22_X, handler: 'index.handler', code: lambda.Code.fromInline('exports.handler=1') });
    tools.addTo(fn);
    const t = Template.fromStack(stack);
    t.resourceCountIs('AWS::Lambda::LayerVersion', 0);
    expect(tools.layer.layerVersionArn).toBe(ARN);
    t.hasResourceProperties('AWS::Lambda::Function', {
      Layers: [ARN],
      Environment: { Variables: Match.objectLike({ PGDR_PG_BIN: '/opt/bin', PGDR_PG_MAJOR: '15' }) },
    });
  });

  it('Docker source: synthesizes with bundling skipped by context, without asking Docker or the host', () => {
    const spy = jest.spyOn(PgToolsHostBundler.prototype, 'tryBundle');
    try {
      const stack = stackWithoutBundling();
      const tools = new PgTools(stack, 'PgTools', { majorVersion: 17, source: PgToolsSource.docker() });
      const t = Template.fromStack(stack);
      t.hasResourceProperties('AWS::Lambda::LayerVersion', {
        CompatibleRuntimes: ['nodejs22.x', 'nodejs24.x'],
        Description: Match.stringLikeRegexp('^PostgreSQL 17 '),
      });
      expect(tools.sourceKind).toBe('docker');
      expect(spy).not.toHaveBeenCalled();
    } finally {
      spy.mockRestore();
    }
  });

  it('the RDS CA bundle: a local directory has it only when packed with --ca-bundle; a layer ARN is taken on trust', () => {
    const withCa = fakeLayerDir(15);
    fs.mkdirSync(path.join(withCa, 'share', 'pgdr'), { recursive: true });
    fs.writeFileSync(path.join(withCa, 'share', 'pgdr', 'rds-global-bundle.pem'), '-----BEGIN CERTIFICATE-----\n');
    const stack = stackWithoutBundling();
    const local = (dir: string, id: string) => new PgTools(stack, id, { majorVersion: 15, source: PgToolsSource.localDirectory(dir) });
    expect(local(withCa, 'WithCa').rdsCaBundle).toBe('/opt/share/pgdr/rds-global-bundle.pem');
    expect(local(fakeLayerDir(15), 'WithoutCa').rdsCaBundle).toBeUndefined();
    expect(new PgTools(stack, 'Arn', { majorVersion: 15, source: PgToolsSource.layerArn(ARN) }).rdsCaBundle).toBe('/opt/share/pgdr/rds-global-bundle.pem');
  });

  it('compatible runtimes are a prop', () => {
    const stack = stackWithoutBundling();
    new PgTools(stack, 'PgTools', { majorVersion: 15, compatibleRuntimes: [lambda.Runtime.NODEJS_24_X], source: PgToolsSource.localDirectory(fakeLayerDir(15)) });
    Template.fromStack(stack).hasResourceProperties('AWS::Lambda::LayerVersion', { CompatibleRuntimes: ['nodejs24.x'] });
  });
});

describe('PgTools Docker source when bundling runs and no Docker engine answers', () => {
  const saved = process.env.CDK_DOCKER;
  // A "docker" that never answers, so these tests behave the same on a machine that has Docker.
  beforeAll(() => (process.env.CDK_DOCKER = '/bin/false'));
  afterAll(() => (saved === undefined ? delete process.env.CDK_DOCKER : (process.env.CDK_DOCKER = saved)));

  (fs.existsSync(`${HOST_PG15}/pg_dump`) ? it : it.skip)('packs the host PostgreSQL of the same major into the layer asset, offline, and says so', () => {
    const outdir = fs.mkdtempSync(path.join(tmp, 'synth-'));
    const app = new App({ outdir });
    const stack = new Stack(app, 'Test');
    new PgTools(stack, 'PgTools', { majorVersion: 15, source: PgToolsSource.docker() });
    const assembly = app.synth();
    const t = Template.fromStack(stack);
    const key: string = Object.values(t.findResources('AWS::Lambda::LayerVersion'))[0].Properties.Content.S3Key;
    const assetDir = path.join(assembly.directory, `asset.${key.replace(/\.zip$/, '')}`);
    expect(fs.readdirSync(path.join(assetDir, 'bin'))).toEqual(expect.arrayContaining(['pg_dump', 'pg_restore', 'psql']));
    expect(fs.readdirSync(path.join(assetDir, 'lib'))).toContain('libpq.so.5');
    expect(fs.readFileSync(path.join(assetDir, 'pg-tools.manifest'), 'utf8')).toMatch(/^version pg_dump \(PostgreSQL\) 15\./m);
    Annotations.fromStack(stack).hasInfo('/Test/PgTools', Match.stringLikeRegexp(`packed from the host \\(${HOST_PG15}\\).*no Docker engine answered`));
  });

  (fs.existsSync(`${HOST_PG15}/pg_dump`) ? it : it.skip)('host builds run offline: they pack the RDS CA bundle from rdsCaBundleFile, and without it warn and ship none', () => {
    const pki = new TestPki();
    try {
      const app = new App({ outdir: fs.mkdtempSync(path.join(tmp, 'synth-')) });
      const stack = new Stack(app, 'Test');
      const withCa = new PgTools(stack, 'WithCa', { majorVersion: 15, source: PgToolsSource.docker({ rdsCaBundleFile: pki.ca('rds-local-copy') }) });
      const withoutCa = new PgTools(stack, 'WithoutCa', { majorVersion: 15, source: PgToolsSource.docker() });
      const assembly = app.synth();
      expect(withCa.rdsCaBundle).toBe('/opt/share/pgdr/rds-global-bundle.pem');
      expect(withoutCa.rdsCaBundle).toBeUndefined();
      const t = Template.fromStack(stack);
      const keys = Object.entries(t.findResources('AWS::Lambda::LayerVersion')).map(([id, r]) => [id, r.Properties.Content.S3Key as string]);
      const asset = (prefix: string) => path.join(assembly.directory, `asset.${keys.find(([id]) => id.startsWith(prefix))![1].replace(/\.zip$/, '')}`);
      expect(fs.readFileSync(path.join(asset('WithCa'), 'share', 'pgdr', 'rds-global-bundle.pem'))).toEqual(fs.readFileSync(path.join(pki.dir, 'rds-local-copy.crt')));
      expect(fs.existsSync(path.join(asset('WithoutCa'), 'share'))).toBe(false);
      Annotations.fromStack(stack).hasWarning('/Test/WithoutCa', Match.stringLikeRegexp('hold no RDS CA bundle .*pass rdsCaBundleFile'));
      Annotations.fromStack(stack).hasNoWarning('/Test/WithCa', Match.anyValue());
    } finally {
      pki.remove();
    }
  });

  it('fails with the ways out when the host has no client of that major', () => {
    const app = new App({ outdir: fs.mkdtempSync(path.join(tmp, 'synth-')) });
    const stack = new Stack(app, 'Test');
    expect(() => new PgTools(stack, 'PgTools', { majorVersion: 16, source: PgToolsSource.docker({ hostBinDir: path.join(tmp, 'no-such-bin') }) })).toThrow(
      /cannot build the PostgreSQL 16 client tools layer: no Docker engine answers .*no pg_dump of PostgreSQL 16 was found.*Start Docker.*layerArn\(\).*aws:cdk:bundling-stacks/,
    );
  });

  it("hostBuild 'never' goes straight to Docker (which then fails here)", () => {
    const app = new App({ outdir: fs.mkdtempSync(path.join(tmp, 'synth-')) });
    const stack = new Stack(app, 'Test');
    expect(() => new PgTools(stack, 'PgTools', { majorVersion: 15, source: PgToolsSource.docker({ hostBuild: 'never' }) })).toThrow(/Failed to bundle asset/);
  });
});

describe('PgTools Docker source with a Docker engine', () => {
  const saved = process.env.CDK_DOCKER;
  afterAll(() => (saved === undefined ? delete process.env.CDK_DOCKER : (process.env.CDK_DOCKER = saved)));

  // A stand-in `docker` that records its arguments and runs the container command on the host,
  // with /asset-input, /asset-output and /tmp mapped back, `dnf`/`rpm` shimmed to the Debian binaries
  // and `curl` serving a test CA bundle for the RDS bundle's URL: it checks the command CDK would run
  // in Amazon Linux 2023, end to end, without an engine.
  (fs.existsSync(`${HOST_PG15}/pg_dump`) ? it : it.skip)('runs dnf install postgresql<major> and the pack script in amazonlinux:2023 as root', () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'fake-docker-'));
    const log = path.join(dir, 'log');
    fs.mkdirSync(path.join(dir, 'shims'));
    fs.writeFileSync(path.join(dir, 'shims', 'dnf'), `#!/bin/sh\necho "dnf $*" >> ${log}\n`, { mode: 0o755 });
    fs.writeFileSync(path.join(dir, 'shims', 'rpm'), `#!/bin/sh\necho ${HOST_PG15}/pg_dump\n`, { mode: 0o755 });
    const pki = new TestPki();
    const caBundle = pki.ca('rds-test-root');
    writeCurlShim(path.join(dir, 'shims'), RDS_CA_BUNDLE_URL, caBundle);
    fs.mkdirSync(path.join(dir, 'container-tmp'));
    const docker = path.join(dir, 'docker');
    fs.writeFileSync(
      docker,
      [
        '#!/usr/bin/env bash',
        `printf '%s\\n' "docker $*" >> ${log}`,
        '[ "$1" = version ] && { echo 27.0.0; exit 0; }',
        '[ "$1" = run ] || exit 1',
        'args=("$@"); in=; out=',
        'for ((i=0; i<${#args[@]}; i++)); do [ "${args[i]}" = -v ] || continue; m="${args[i+1]}"; h="${m%%:*}"; r="${m#*:}"; c="${r%%:*}";',
        '  [ "$c" = /asset-input ] && in="$h"; [ "$c" = /asset-output ] && out="$h"; done',
        'script="${args[-1]}"',
        // /tmp first: the mapped asset directories may themselves lie under /tmp.
        `script="\${script//\\/tmp\\//${path.join(dir, 'container-tmp')}/}"`,
        'script="${script//\\/asset-input/$in}"; script="${script//\\/asset-output/$out}"',
        `PATH="${path.join(dir, 'shims')}:$PATH" exec bash -c "$script"`,
      ].join('\n'),
      { mode: 0o755 },
    );
    process.env.CDK_DOCKER = docker;
    const app = new App({ outdir: fs.mkdtempSync(path.join(tmp, 'synth-')) });
    const stack = new Stack(app, 'Test');
    const tools = new PgTools(stack, 'PgTools', { majorVersion: 15, source: PgToolsSource.docker() });
    const assembly = app.synth();

    const calls = fs.readFileSync(log, 'utf8');
    const run = calls.split('\n').find((l) => l.startsWith('docker run '))!;
    expect(run).toMatch(/ -u root /);
    expect(run).toMatch(/ --platform linux\/amd64 /);
    expect(run).toMatch(/ public\.ecr\.aws\/amazonlinux\/amazonlinux:2023 bash -c /);
    expect(calls).toMatch(/^dnf install -y .*postgresql15 zstd glibc-common$/m);
    expect(tools.sourceKind).toBe('docker');
    Annotations.fromStack(stack).hasNoInfo('/Test/PgTools', Match.anyValue());
    const t = Template.fromStack(stack);
    t.hasResourceProperties('AWS::Lambda::LayerVersion', { CompatibleArchitectures: ['x86_64'] });
    const key: string = Object.values(t.findResources('AWS::Lambda::LayerVersion'))[0].Properties.Content.S3Key;
    const assetDir = path.join(assembly.directory, `asset.${key.replace(/\.zip$/, '')}`);
    expect(fs.readdirSync(path.join(assetDir, 'bin'))).toEqual(expect.arrayContaining(['pg_dump', 'pg_restore', 'psql']));
    // The RDS CA bundle, downloaded in the container and checked by the pack script.
    expect(calls).toContain(`curl -fsS --retry 3 --proto =https -o /tmp/rds-global-bundle.pem ${RDS_CA_BUNDLE_URL}`);
    expect(fs.readFileSync(path.join(assetDir, 'share', 'pgdr', 'rds-global-bundle.pem'))).toEqual(fs.readFileSync(caBundle));
    expect(tools.rdsCaBundle).toBe('/opt/share/pgdr/rds-global-bundle.pem');
    pki.remove();
  });
});

describe('PgToolsHostBundler decision', () => {
  const saved = process.env.CDK_DOCKER;
  afterEach(() => (saved === undefined ? delete process.env.CDK_DOCKER : (process.env.CDK_DOCKER = saved)));

  it("leaves the build to Docker when an engine answers (hostBuild 'fallback')", () => {
    const fakeDocker = path.join(tmp, 'docker-answers');
    fs.writeFileSync(fakeDocker, '#!/bin/sh\necho 27.0.0\n', { mode: 0o755 });
    process.env.CDK_DOCKER = fakeDocker;
    const out = fs.mkdtempSync(path.join(tmp, 'bundle-'));
    const bundler = new PgToolsHostBundler({ majorVersion: 15, architecture: 'x86_64', hostBuild: 'fallback' });
    expect(bundler.tryBundle(out)).toBe(false);
    expect(fs.readdirSync(out)).toEqual([]);
    expect(bundler.hostBuildFrom).toBeUndefined();
  });

  it('does not pack host binaries for another architecture', () => {
    process.env.CDK_DOCKER = '/bin/false';
    const other = process.arch === 'arm64' ? 'x86_64' : 'arm64';
    const bundler = new PgToolsHostBundler({ majorVersion: 15, architecture: other, hostBuild: 'fallback' });
    expect(() => bundler.tryBundle(fs.mkdtempSync(path.join(tmp, 'bundle-')))).toThrow(new RegExp(`the layer ${other}`));
  });
});

describe('PgTools prop validation', () => {
  const make = (props: PgToolsProps) => () => new PgTools(stackWithoutBundling(), 'PgTools', props);

  it('majorVersion outside the supported range', () => {
    expect(make({ majorVersion: 12 })).toThrow('majorVersion: must be a whole number from 13 to 18 (received 12)');
    expect(make({ majorVersion: 15.5 })).toThrow(/majorVersion: must be a whole number .*\(received 15\.5\)/);
  });

  it('majorVersion without Amazon Linux 2023 packages, with the CodeBuild (default) or Docker source', () => {
    expect(make({ majorVersion: 14 })).toThrow(/majorVersion: must be one of 15, 16, 17 .*PgToolsSource\.codeBuild\(\).*\(received 14\)/);
    expect(make({ majorVersion: 18, source: PgToolsSource.docker() })).toThrow(/majorVersion: must be one of 15, 16, 17 .*PgToolsSource\.docker\(\).*\(received 18\)/);
    expect(make({ majorVersion: 14, source: PgToolsSource.localDirectory(fakeLayerDir(14)) })).not.toThrow();
  });

  it('an empty or malformed layer ARN', () => {
    expect(make({ majorVersion: 15, source: PgToolsSource.layerArn('') })).toThrow(/source\.layerArn: must be a layer version ARN .*\(received ""\)/);
    expect(make({ majorVersion: 15, source: PgToolsSource.layerArn('arn:aws:lambda:eu-west-1:123456789012:layer:pg') })).toThrow(
      /source\.layerArn: .*\(received "arn:aws:lambda:eu-west-1:123456789012:layer:pg"\)/,
    );
  });

  it('a local directory that is missing, incomplete, or of another major', () => {
    expect(make({ majorVersion: 15, source: PgToolsSource.localDirectory(path.join(tmp, 'nope')) })).toThrow(/source\.localDirectory: .*does not exist/);
    expect(make({ majorVersion: 15, source: PgToolsSource.localDirectory(fakeLayerDir(15, ['psql'])) })).toThrow(/source\.localDirectory: .*missing bin\/psql/);
    expect(make({ majorVersion: 15, source: PgToolsSource.localDirectory(fakeLayerDir(16)) })).toThrow(
      /source\.localDirectory: bin\/pg_dump must be PostgreSQL 15 like majorVersion \(received ".*" holding pg_dump 16\)/,
    );
  });

  it('other props', () => {
    const dir = fakeLayerDir(15);
    expect(make({ majorVersion: 15, compatibleRuntimes: [], source: PgToolsSource.localDirectory(dir) })).toThrow('compatibleRuntimes: must name at least one runtime (received [])');
    expect(make({ majorVersion: 15, architecture: lambda.Architecture.custom('riscv64'), source: PgToolsSource.localDirectory(dir) })).toThrow(
      /architecture: must be .*\(received "riscv64"\)/,
    );
    expect(make({ majorVersion: 15, source: PgToolsSource.docker({ hostBinDir: 'relative/bin' }) })).toThrow(
      'source.hostBinDir: must be an absolute path (received "relative/bin")',
    );
  });

  it('an rdsCaBundleFile that is not PEM certificates', () => {
    const notPem = path.join(tmp, 'not-a-bundle.pem');
    fs.writeFileSync(notPem, 'hello\n');
    expect(make({ majorVersion: 15, source: PgToolsSource.docker({ rdsCaBundleFile: notPem }) })).toThrow(
      `source.rdsCaBundleFile: must be a PEM file of CA certificates, but it holds no PEM certificate (-----BEGIN CERTIFICATE----- block) (received "${notPem}")`,
    );
  });

  it('addTo refuses a function of another architecture', () => {
    const stack = stackWithoutBundling();
    const tools = new PgTools(stack, 'PgTools', { majorVersion: 15, source: PgToolsSource.layerArn(ARN) });
    const fn = new lambda.Function(stack, 'Fn', {
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      handler: 'index.handler',
      code: lambda.Code.fromInline('exports.handler=1'),
    });
    expect(() => tools.addTo(fn)).toThrow(/Test\/Fn: architecture must be x86_64 to use the pg tools layer \(received arm64\)/);
  });
});
