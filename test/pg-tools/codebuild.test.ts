/**
 * PgToolsSource.codeBuild() (the default source): the layer is built at deploy time by CodeBuild.
 * No Docker, no AWS: the template is asserted, the handlers run against a stand-in SDK, and the
 * buildspec's build commands run on this machine's PostgreSQL 15 with `aws`/`rpm` stand-ins.
 */
import { spawnSync, SpawnSyncReturns } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { App, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as codebuild from 'aws-cdk-lib/aws-codebuild';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { BackupVault } from '../../lib/backup-vault';
import { nagPacks } from '../../lib/nag';
import { PgTools, PgToolsHostBundler, PgToolsProps, PgToolsSource } from '../../lib/pg-tools';
import { BUILD_HANDLER_SOURCE, BUILD_QUERY_INTERVAL, BUILD_TOTAL_TIMEOUT, RDS_CA_BUNDLE_URL } from '../../lib/pg-tools-build';
import { writeCurlShim } from '../support/curl-shim';
import { ephemeralServerFromEnv, packedServerBin } from '../../lambda/shared/env';
import { startEphemeralServer } from '../../lambda/shared/ephemeral-server';
import { TestPki } from '../support/test-pki';

const HOST_PG15 = '/usr/lib/postgresql/15/bin';
/** The feature flags of a real `cdk synth` (cdk.json has no bundling context: every stack bundles). */
const CDK_CONTEXT: Record<string, unknown> = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'cdk.json'), 'utf8')).context;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pgdr-codebuild-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** An app as `cdk synth` makes it: cdk.json's feature flags, no bundling context (CDK's default: bundle every stack). */
function synthesize(props: Partial<PgToolsProps> = {}, extend?: (stack: Stack) => Partial<PgToolsProps>) {
  const app = new App({ outdir: fs.mkdtempSync(path.join(tmp, 'out-')), context: CDK_CONTEXT });
  const stack = new Stack(app, 'Test');
  const more = extend?.(stack) ?? {};
  const tools = new PgTools(stack, 'PgTools', { majorVersion: 16, ...props, ...more });
  return { app, stack, tools, template: Template.fromStack(stack) };
}

function only<T = any>(template: Template, type: string): { id: string; resource: T } {
  const found = Object.entries(template.findResources(type));
  expect(found).toHaveLength(1);
  return { id: found[0][0], resource: found[0][1] as T };
}

function buildspecOf(template: Template): { env: { shell: string }; phases: { install: { commands: string[] }; build: { commands: string[] } } } {
  return JSON.parse(only(template, 'AWS::CodeBuild::Project').resource.Properties.Source.BuildSpec);
}

function envOf(template: Template): Record<string, unknown> {
  const vars: { Name: string; Value: unknown }[] = only(template, 'AWS::CodeBuild::Project').resource.Properties.Environment.EnvironmentVariables;
  return Object.fromEntries(vars.map((v) => [v.Name, v.Value]));
}

describe('default source: PgToolsSource.codeBuild()', () => {
  it('synthesizes offline with no bundling context, no Docker on PATH, and never asks the host', () => {
    const savedPath = process.env.PATH;
    const savedDocker = process.env.CDK_DOCKER;
    const spy = jest.spyOn(PgToolsHostBundler.prototype, 'tryBundle');
    const emptyBin = fs.mkdtempSync(path.join(tmp, 'bin-'));
    try {
      process.env.PATH = emptyBin; // no docker, no pg_dump, nothing
      delete process.env.CDK_DOCKER;
      const { app, tools, stack } = synthesize();
      expect(app.node.tryGetContext('aws:cdk:bundling-stacks')).toBeUndefined();
      expect(stack.bundlingRequired).toBe(true);
      const assembly = app.synth();
      expect(tools.sourceKind).toBe('codeBuild');
      expect(spy).not.toHaveBeenCalled();
      // Only plain file assets: the script (staged as is) and the provider framework's own code.
      const manifest = JSON.parse(fs.readFileSync(path.join(assembly.directory, 'Test.assets.json'), 'utf8'));
      expect(manifest.dockerImages ?? {}).toEqual({});
      const staged = Object.values<any>(manifest.files).filter((f) => f.source.path !== 'Test.template.json');
      expect(staged.map((f) => f.source.packaging ?? 'file').sort()).toEqual(['file', 'zip']);
      const script = staged.find((f) => (f.source.packaging ?? 'file') === 'file');
      expect(fs.readFileSync(path.join(assembly.directory, script.source.path), 'utf8')).toBe(
        fs.readFileSync(path.join(__dirname, '..', '..', 'scripts', 'pack-pg-tools.sh'), 'utf8'),
      );
    } finally {
      process.env.PATH = savedPath;
      if (savedDocker !== undefined) process.env.CDK_DOCKER = savedDocker;
      spy.mockRestore();
    }
  });

  it('adds the build project, custom resource, bucket, key and layer', () => {
    const { template } = synthesize();
    for (const [type, n] of [
      ['AWS::CodeBuild::Project', 1],
      ['Custom::PgdrPgToolsBuild', 1],
      ['AWS::S3::Bucket', 1],
      ['AWS::KMS::Key', 1],
      ['AWS::Lambda::LayerVersion', 1],
      ['AWS::StepFunctions::StateMachine', 1],
      ['AWS::Lambda::Function', 5], // StartBuild, WaitForBuild + the provider framework's onEvent, isComplete, onTimeout
    ] as const) {
      template.resourceCountIs(type, n);
    }
  });

  it('the buildspec installs postgresql16 on Amazon Linux 2023 and runs the pack script on it', () => {
    const { template } = synthesize();
    template.hasResourceProperties('AWS::CodeBuild::Project', {
      Environment: { Image: 'aws/codebuild/amazonlinux-x86_64-standard:5.0', Type: 'LINUX_CONTAINER', PrivilegedMode: false },
      Source: { Type: 'NO_SOURCE' },
      Artifacts: { Type: 'NO_ARTIFACTS' },
    });
    const spec = buildspecOf(template);
    expect(spec.env.shell).toBe('bash');
    expect(spec.phases.install.commands).toEqual([expect.stringMatching(/^dnf install -y .*\bpostgresql16 zstd\b/)]);
    const build = spec.phases.build.commands.join('\n');
    expect(build).toMatch(/aws s3 cp .*"\$PGDR_SCRIPT_URL" pack-pg-tools\.sh/);
    expect(build).toMatch(/rpm -ql postgresql16 \| grep '\/pg_dump\$'/);
    expect(build).toMatch(/bash pack-pg-tools\.sh --expect-major 16 --max-glibc 2\.34 --ca-bundle rds-global-bundle\.pem "\$bindir" layer/);
    expect(build).toMatch(/aws s3 cp .*pg-tools\.zip "s3:\/\/\$PGDR_BUCKET\/\$PGDR_KEY"$/m);
    expect(envOf(template).PGDR_SCRIPT_URL).toEqual({ 'Fn::Sub': expect.stringMatching(/^s3:\/\/cdk-[a-z0-9]+-assets-\$\{AWS::AccountId\}-\$\{AWS::Region\}\/[0-9a-f]{64}\.sh$/) });
  });

  it('the buildspec fetches the RDS CA bundle over HTTPS, has the pack script check it, and zips it into the layer', () => {
    const { template, tools } = synthesize();
    const build = buildspecOf(template).phases.build.commands;
    const fetch = build.findIndex((c) => c.startsWith('curl '));
    const pack = build.findIndex((c) => c.startsWith('bash pack-pg-tools.sh '));
    expect(build[fetch]).toBe(`curl -fsS --retry 3 --proto =https -o rds-global-bundle.pem ${RDS_CA_BUNDLE_URL}`);
    expect(RDS_CA_BUNDLE_URL).toBe('https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem');
    expect(fetch).toBeLessThan(pack);
    expect(build[pack]).toContain(' --ca-bundle rds-global-bundle.pem ');
    expect(build).toContain('(cd layer && zip -qr -X ../pg-tools.zip bin lib share pg-tools.manifest)');
    expect(tools.rdsCaBundle).toBe('/opt/share/pgdr/rds-global-bundle.pem');
  });

  it('ARM64 layers build on the Amazon Linux 2023 ARM image', () => {
    const { template } = synthesize({ majorVersion: 17, architecture: lambda.Architecture.ARM_64 });
    template.hasResourceProperties('AWS::CodeBuild::Project', {
      Environment: { Image: 'aws/codebuild/amazonlinux-aarch64-standard:3.0', Type: 'ARM_CONTAINER' },
    });
    expect(buildspecOf(template).phases.install.commands[0]).toMatch(/\bpostgresql17\b/);
    template.hasResourceProperties('AWS::Lambda::LayerVersion', {
      CompatibleArchitectures: ['arm64'],
      Content: { S3Key: Match.stringLikeRegexp('^pg-tools/17/arm64/[0-9a-f]{32}\\.zip$') },
    });
  });

  it('the layer is made from the bucket and key the build writes, after the build', () => {
    const { template, tools } = synthesize();
    const bucket = only(template, 'AWS::S3::Bucket').id;
    const run = only(template, 'Custom::PgdrPgToolsBuild');
    const layer = only(template, 'AWS::Lambda::LayerVersion').resource;
    const key: string = layer.Properties.Content.S3Key;
    expect(key).toMatch(/^pg-tools\/16\/x86_64\/[0-9a-f]{32}\.zip$/);
    expect(key).toBe(tools.codeBuild!.objectKey);
    expect(layer.Properties.Content.S3Bucket).toEqual({ Ref: bucket });
    expect(envOf(template)).toMatchObject({ PGDR_BUCKET: { Ref: bucket }, PGDR_KEY: key });
    expect(run.resource.Properties).toMatchObject({ Bucket: { Ref: bucket }, Key: key, ProjectName: { Ref: only(template, 'AWS::CodeBuild::Project').id } });
    // Ordering: project and its policy -> build run -> layer.
    expect(layer.DependsOn).toContain(run.id);
    const policy = Object.entries(template.findResources('AWS::IAM::Policy')).find(([id]) => id.includes('BuildPolicy'))![0];
    expect(run.resource.DependsOn).toEqual(expect.arrayContaining([only(template, 'AWS::CodeBuild::Project').id, policy, bucket]));
  });

  it('the key changes with the major, the architecture and the image, and only then', () => {
    const key = (props: Partial<PgToolsProps>) => synthesize(props).tools.codeBuild!.objectKey;
    const base = key({});
    expect(key({})).toBe(base);
    const others = [
      key({ majorVersion: 15 }),
      key({ architecture: lambda.Architecture.ARM_64 }),
      key({ source: PgToolsSource.codeBuild({ buildImage: codebuild.LinuxBuildImage.AMAZON_LINUX_2023_6 }) }),
    ];
    expect(new Set([base, ...others]).size).toBe(4);
    expect(others.map((k) => k.split('/').pop())).not.toContain(base.split('/').pop());
  });

  it('the custom resource polls every 30 s for at most 30 minutes', () => {
    expect(BUILD_QUERY_INTERVAL.toSeconds()).toBe(30);
    expect(BUILD_TOTAL_TIMEOUT.toMinutes()).toBe(30);
    const { template } = synthesize();
    const definition = JSON.stringify(only(template, 'AWS::StepFunctions::StateMachine').resource.Properties.DefinitionString);
    expect(definition).toMatch(/\\"IntervalSeconds\\":30/);
    expect(definition).toMatch(/\\"MaxAttempts\\":60/);
    template.hasResourceProperties('AWS::Lambda::Function', { Handler: 'index.onEvent', Runtime: 'nodejs24.x' });
    template.hasResourceProperties('AWS::Lambda::Function', { Handler: 'index.isComplete', Runtime: 'nodejs24.x' });
  });
});

describe('least privilege', () => {
  const { template } = synthesize();
  const policies = Object.entries(template.findResources('AWS::IAM::Policy')).map(([id, r]) => ({
    id,
    statements: (r.Properties.PolicyDocument.Statement as { Action: string | string[]; Resource: unknown }[]).map((s) => ({
      actions: ([] as string[]).concat(s.Action),
      resource: s.Resource,
    })),
  }));
  const project = only(template, 'AWS::CodeBuild::Project').id;
  const withAction = (action: string) => policies.flatMap((p) => p.statements.filter((s) => s.actions.includes(action)).map((s) => ({ ...s, policy: p.id })));

  it('no wildcard actions anywhere', () => {
    const actions = policies.flatMap((p) => p.statements.flatMap((s) => s.actions));
    expect(actions.length).toBeGreaterThan(10);
    expect(actions.filter((a) => a.includes('*'))).toEqual([]);
  });

  it('StartBuild and BatchGetBuilds only on the one project, each for one handler', () => {
    for (const action of ['codebuild:StartBuild', 'codebuild:BatchGetBuilds']) {
      const grants = withAction(action);
      expect(grants).toHaveLength(1);
      expect(grants[0].actions).toEqual([action]);
      expect(grants[0].resource).toEqual({ 'Fn::GetAtt': [project, 'Arn'] });
    }
    expect(withAction('codebuild:StartBuild')[0].policy).not.toBe(withAction('codebuild:BatchGetBuilds')[0].policy);
  });

  it('the build may put exactly its one object, read exactly the script, use its key and write its logs', () => {
    const role = only(template, 'AWS::CodeBuild::Project').resource.Properties.ServiceRole['Fn::GetAtt'][0];
    const rolePolicies = Object.entries(template.findResources('AWS::IAM::Policy')).filter(([, r]) =>
      (r.Properties.Roles as { Ref: string }[]).some((x) => x.Ref === role),
    );
    expect(rolePolicies).toHaveLength(1);
    const statements = policies.find((p) => p.id === rolePolicies[0][0])!.statements;
    const bucket = only(template, 'AWS::S3::Bucket').id;
    const key = only(template, 'AWS::Lambda::LayerVersion').resource.Properties.Content.S3Key;
    const byAction = (a: string) => statements.find((s) => s.actions.includes(a))!;
    expect(statements.map((s) => [...s.actions].sort()).sort()).toEqual(
      [
        ['kms:Decrypt', 'kms:DescribeKey', 'kms:Encrypt', 'kms:GenerateDataKey'],
        ['logs:CreateLogStream', 'logs:PutLogEvents'],
        ['s3:GetObject'],
        ['s3:PutObject'],
      ].sort(),
    );
    expect(byAction('s3:PutObject').resource).toEqual({ 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucket, 'Arn'] }, `/${key}`]] });
    expect(JSON.stringify(byAction('s3:GetObject').resource)).toMatch(/assets-.*\/[0-9a-f]{64}\.sh"\]\]\}$/);
    expect(byAction('kms:Encrypt').resource).toEqual({ 'Fn::GetAtt': [only(template, 'AWS::KMS::Key').id, 'Arn'] });
    expect(byAction('logs:PutLogEvents').resource).toEqual({ 'Fn::GetAtt': [only(template, 'AWS::CodeBuild::Project').resource.Properties.LogsConfig.CloudWatchLogs.GroupName.Ref, 'Arn'] });
    expect(withAction('s3:PutObject')).toHaveLength(1);
  });

  it('the project is encrypted with the KMS key and logs to a log group with retention', () => {
    const p = only(template, 'AWS::CodeBuild::Project').resource.Properties;
    expect(p.EncryptionKey).toEqual({ 'Fn::GetAtt': [only(template, 'AWS::KMS::Key').id, 'Arn'] });
    const group = p.LogsConfig.CloudWatchLogs.GroupName.Ref;
    expect(template.findResources('AWS::Logs::LogGroup')[group].Properties.RetentionInDays).toBe(90);
    template.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
  });
});

describe('cdk-nag: AwsSolutions, NIST 800-53 R5, HIPAA Security and PCI DSS 3.2.1 (the packs of the app)', () => {
  function nag(build: (stack: Stack) => void): { rule: string; path: string }[] {
    const outdir = fs.mkdtempSync(path.join(tmp, 'nag-'));
    const app = new App({ outdir, context: CDK_CONTEXT });
    build(new Stack(app, 'Test'));
    Validations.of(app).addPlugins(...nagPacks(app));
    try {
      app.synth();
      return [];
    } catch (err) {
      const report = path.join(outdir, 'validation-report.json');
      if (!fs.existsSync(report)) throw err;
      const r = JSON.parse(fs.readFileSync(report, 'utf8')) as {
        pluginReports: { violations: { ruleName: string; violatingConstructs: { constructPath: string }[] }[] }[];
      };
      const found = r.pluginReports.flatMap((p) => p.violations.flatMap((v) => v.violatingConstructs.map((c) => ({ rule: v.ruleName, path: c.constructPath }))));
      if (found.length === 0) throw err;
      return found;
    }
  }

  it('the harness sees findings when there are some', () => {
    expect(nag((stack) => new s3.Bucket(stack, 'Careless'))).toEqual(expect.arrayContaining([{ rule: 'AwsSolutions-S1', path: 'Test/Careless/Resource' }]));
  });

  it('zero unacknowledged findings with the default source, for x86_64 and ARM64', () => {
    expect(
      nag((stack) => {
        new PgTools(stack, 'PgTools16', { majorVersion: 16 });
        new PgTools(stack, 'PgTools17Arm', { majorVersion: 17, architecture: lambda.Architecture.ARM_64 });
      }),
    ).toEqual([]);
  });

  it("zero findings with a given key and the vault's access log bucket; that key encrypts the build's logs", () => {
    let stack!: Stack;
    expect(
      nag((s) => {
        stack = s;
        const vault = new BackupVault(s, 'Vault');
        const encryptionKey = new kms.Key(s, 'BuildKey', { enableKeyRotation: true });
        new PgTools(s, 'PgTools', { majorVersion: 15, source: PgToolsSource.codeBuild({ encryptionKey, accessLogBucket: vault.accessLogBucket }) });
      }),
    ).toEqual([]);
    const t = Template.fromStack(stack);
    t.resourceCountIs('AWS::KMS::Key', 2); // the vault's and the given one; none made by the build
    const groups = Object.values(t.findResources('AWS::Logs::LogGroup')) as { Properties: { LogGroupName: string; KmsKeyId: unknown } }[];
    expect(groups.map((g) => g.Properties.LogGroupName).sort()).toEqual(
      ['codebuild', 'provider', 'start-build', 'wait-for-build', 'waiter'].map((n) => `/pgdr-tools/Test/15-x86_64/${n}`),
    );
    for (const g of groups) expect(g.Properties.KmsKeyId).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/^BuildKey/), 'Arn'] });
    t.hasResourceProperties('AWS::S3::Bucket', { LoggingConfiguration: { LogFilePrefix: 'pg-tools-builds/' } });
  });

  it('zero findings with a given KMS-encrypted bucket; the build may use its key to upload', () => {
    let stack!: Stack;
    expect(
      nag((s) => {
        stack = s;
        const vault = new BackupVault(s, 'Vault');
        new PgTools(s, 'PgTools', { majorVersion: 16, source: PgToolsSource.codeBuild({ bucket: vault.bucket, keyPrefix: 'tools/', encryptionKey: vault.key }) });
      }),
    ).toEqual([]);
    const t = Template.fromStack(stack);
    t.resourceCountIs('AWS::S3::Bucket', 2); // the vault's two; none added
    t.hasResourceProperties('AWS::Lambda::LayerVersion', { Content: { S3Key: Match.stringLikeRegexp('^tools/16/x86_64/') } });
    // The upload is SSE-KMS with the vault key (multipart: GenerateDataKey and Decrypt).
    const buildPolicy = Object.entries(t.findResources('AWS::IAM::Policy')).find(([id]) => id.includes('BuildPolicy'))![1];
    const vaultKey = Object.keys(t.findResources('AWS::KMS::Key'))[0];
    const onKey = (buildPolicy.Properties.PolicyDocument.Statement as { Action: string | string[]; Resource: unknown }[])
      .filter((st) => JSON.stringify(st.Resource) === JSON.stringify({ 'Fn::GetAtt': [vaultKey, 'Arn'] }))
      .flatMap((st) => ([] as string[]).concat(st.Action));
    expect(onKey).toEqual(expect.arrayContaining(['kms:GenerateDataKey', 'kms:Decrypt']));
  });

  it('every acknowledgement has a written reason', () => {
    const app = new App({ outdir: fs.mkdtempSync(path.join(tmp, 'ack-')) });
    const stack = new Stack(app, 'Test');
    new PgTools(stack, 'PgTools', { majorVersion: 16 });
    const acks = stack.node
      .findAll()
      .flatMap((c) => c.node.metadata.filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY).map((m) => m.data as Record<string, string>));
    const flat = acks.flatMap((m) => Object.entries(m).map(([id, reason]) => ({ id: id.replace(/^Annotation::/, ''), reason })));
    expect(flat.map((a) => a.id)).toEqual(
      expect.arrayContaining(['AwsSolutions-S1', 'AwsSolutions-IAM5[Resource::*]', expect.stringMatching(/^AwsSolutions-IAM5\[Resource::<.*\.Arn>:\*\]$/)]),
    );
    for (const a of flat) expect(a.reason).toMatch(/\w+ \w+ \w+ \w+ \w+/);
  });
});

describe('codeBuild source props', () => {
  const make = (props: PgToolsProps) => () => synthesize(props);
  it('rejects what it cannot build', () => {
    expect(make({ majorVersion: 13 })).toThrow(/majorVersion: must be one of 15, 16, 17 .*PgToolsSource\.codeBuild\(\).*\(received 13\)/);
    expect(make({ majorVersion: 16, source: PgToolsSource.codeBuild({ keyPrefix: 'no-slash' }) })).toThrow(/source\.keyPrefix: must be empty or end with "\/".*\(received "no-slash"\)/);
    expect(() =>
      synthesize({}, (stack) => ({
        source: PgToolsSource.codeBuild({ bucket: new s3.Bucket(stack, 'B'), accessLogBucket: new s3.Bucket(stack, 'L') }),
      })),
    ).toThrow(/source\.accessLogBucket: only applies to the bucket PgTools creates/);
  });

  it('uses a given key for the project', () => {
    const { template, stack } = synthesize({}, (s) => ({ source: PgToolsSource.codeBuild({ encryptionKey: new kms.Key(s, 'Given', { enableKeyRotation: true }) }) }));
    template.resourceCountIs('AWS::KMS::Key', 1);
    template.hasResourceProperties('AWS::CodeBuild::Project', { EncryptionKey: { 'Fn::GetAtt': [Match.stringLikeRegexp('^Given'), 'Arn'] } });
    expect(stack.node.tryFindChild('Given')).toBeDefined();
  });
});

describe('custom resource handlers (stand-in CodeBuild SDK)', () => {
  type Sent = { command: string; input: any };
  function load(reply: (s: Sent) => any): { handlers: any; sent: Sent[] } {
    const sent: Sent[] = [];
    const command = (name: string) =>
      class {
        constructor(readonly input: unknown) {}
        readonly name = name;
      };
    const sdk = {
      CodeBuildClient: class {
        async send(c: { name: string; input: unknown }) {
          const s = { command: c.name, input: c.input };
          sent.push(s);
          return reply(s);
        }
      },
      StartBuildCommand: command('StartBuild'),
      BatchGetBuildsCommand: command('BatchGetBuilds'),
    };
    const module = { exports: {} as any };
    const fakeRequire = (name: string) => {
      if (name !== '@aws-sdk/client-codebuild') throw new Error(`unexpected require ${name}`);
      return sdk;
    };
    new Function('require', 'exports', 'module', BUILD_HANDLER_SOURCE)(fakeRequire, module.exports, module);
    return { handlers: module.exports, sent };
  }
  const props = { ServiceToken: 'x', ProjectName: 'proj', Bucket: 'bkt', Key: 'pg-tools/16/x86_64/abc.zip' };
  const log = jest.spyOn(console, 'log').mockImplementation(() => undefined);
  afterAll(() => log.mockRestore());

  it('Create and Update start the build and hand its id on; Delete does nothing', async () => {
    const { handlers, sent } = load(() => ({ build: { id: 'proj:1234' } }));
    for (const RequestType of ['Create', 'Update']) {
      await expect(handlers.onEvent({ RequestType, ResourceProperties: props, PhysicalResourceId: 'old' })).resolves.toEqual({
        PhysicalResourceId: 's3://bkt/pg-tools/16/x86_64/abc.zip',
        Data: { BuildId: 'proj:1234', Bucket: 'bkt', Key: 'pg-tools/16/x86_64/abc.zip' },
      });
    }
    expect(sent).toEqual([
      { command: 'StartBuild', input: { projectName: 'proj' } },
      { command: 'StartBuild', input: { projectName: 'proj' } },
    ]);
    await expect(handlers.onEvent({ RequestType: 'Delete', ResourceProperties: props, PhysicalResourceId: 's3://bkt/k' })).resolves.toEqual({ PhysicalResourceId: 's3://bkt/k' });
    await expect(handlers.isComplete({ RequestType: 'Delete', ResourceProperties: props })).resolves.toEqual({ IsComplete: true });
    expect(sent).toHaveLength(2);
  });

  it('isComplete: in progress, succeeded', async () => {
    let status = 'IN_PROGRESS';
    const { handlers, sent } = load(() => ({ builds: [{ id: 'proj:1', buildStatus: status }] }));
    const event = { RequestType: 'Create', ResourceProperties: props, Data: { BuildId: 'proj:1' } };
    await expect(handlers.isComplete(event)).resolves.toEqual({ IsComplete: false });
    status = 'SUCCEEDED';
    await expect(handlers.isComplete(event)).resolves.toEqual({ IsComplete: true });
    expect(sent[0]).toEqual({ command: 'BatchGetBuilds', input: { ids: ['proj:1'] } });
  });

  it('isComplete: a failed build fails the deployment with the failed phase, its message and the log link', async () => {
    const { handlers } = load(() => ({
      builds: [
        {
          id: 'proj:9',
          buildStatus: 'FAILED',
          phases: [
            { phaseType: 'INSTALL', phaseStatus: 'SUCCEEDED' },
            { phaseType: 'BUILD', phaseStatus: 'FAILED', contexts: [{ statusCode: 'COMMAND_EXECUTION_ERROR', message: 'Error while executing command: bash pack-pg-tools.sh ... Reason: exit status 1' }] },
          ],
          logs: { deepLink: 'https://console.aws.amazon.com/cloudwatch/home#logEvent:group=g;stream=s' },
        },
      ],
    }));
    await expect(handlers.isComplete({ RequestType: 'Update', ResourceProperties: props, Data: { BuildId: 'proj:9' } })).rejects.toThrow(
      /^PostgreSQL client tools build proj:9 FAILED: BUILD FAILED: Error while executing command: bash pack-pg-tools\.sh .*exit status 1 \(log: https:\/\/console\.aws\.amazon\.com\/cloudwatch\/.*stream=s\)$/,
    );
    const { handlers: timedOut } = load(() => ({ builds: [{ id: 'proj:3', buildStatus: 'TIMED_OUT' }] }));
    await expect(timedOut.isComplete({ RequestType: 'Create', ResourceProperties: props, Data: { BuildId: 'proj:3' } })).rejects.toThrow(
      'PostgreSQL client tools build proj:3 TIMED_OUT: no reason given (log: no log link)',
    );
  });
});

// The buildspec's build phase, run as CodeBuild would (one bash, commands in order, stop at the first
// failure) on this machine's PostgreSQL 15, with stand-ins only for what needs AWS or dnf: `aws s3 cp`
// copies to and from a local directory, `rpm -ql` lists the Debian package's pg_dump.
(fs.existsSync(`${HOST_PG15}/pg_dump`) ? describe : describe.skip)('the buildspec build commands, run locally', () => {
  /**
   * Runs the build phase with the stand-ins; `curl` serves `caBundle` as the RDS bundle.
   * Returns the run and where the upload would land.
   */
  function runBuild(caBundle: string, withServer = false): { run: SpawnSyncReturns<string>; zip: string } {
    const { app, template } = synthesize({ majorVersion: 15, ...(withServer ? { source: PgToolsSource.codeBuild({ withServer }) } : {}) });
    const assembly = app.synth();
    const spec = buildspecOf(template);
    const env = envOf(template);
    const s3root = fs.mkdtempSync(path.join(tmp, 's3-'));
    // The script as CDK staged it, where the build's PGDR_SCRIPT_URL points.
    const scriptKey = path.basename((env.PGDR_SCRIPT_URL as { 'Fn::Sub': string })['Fn::Sub']);
    fs.mkdirSync(path.join(s3root, 'assets'));
    fs.copyFileSync(path.join(assembly.directory, `asset.${scriptKey.replace(/\.sh$/, '')}.sh`), path.join(s3root, 'assets', scriptKey));

    const shims = fs.mkdtempSync(path.join(tmp, 'shims-'));
    fs.writeFileSync(
      path.join(shims, 'aws'),
      [
        '#!/usr/bin/env bash',
        'set -euo pipefail',
        '[ "$1 $2" = "s3 cp" ] || { echo "aws stand-in: unsupported: $*" >&2; exit 2; }',
        'args=(); for a in "${@:3}"; do [ "$a" = --no-progress ] || args+=("$a"); done',
        `map() { case "$1" in s3://*) echo "${s3root}/\${1#s3://}" ;; *) echo "$1" ;; esac; }`,
        'src="$(map "${args[0]}")"; dst="$(map "${args[1]}")"; mkdir -p "$(dirname "$dst")"; cp "$src" "$dst"',
      ].join('\n'),
      { mode: 0o755 },
    );
    fs.writeFileSync(
      path.join(shims, 'rpm'),
      [
        '#!/bin/sh',
        'case "$1 $2" in',
        `"-ql postgresql15") printf '%s\\n' ${HOST_PG15}/pg_dump ${HOST_PG15}/pg_restore ${HOST_PG15}/psql ;;`,
        `"-ql postgresql15-server") printf '%s\\n' ${HOST_PG15}/postgres /usr/share/postgresql/15/postgres.bki /usr/lib/postgresql/15/lib/plpgsql.so ;;`,
        '*) exit 1 ;;',
        'esac',
        '',
      ].join('\n'),
      { mode: 0o755 },
    );
    writeCurlShim(shims, RDS_CA_BUNDLE_URL, caBundle);
    const work = fs.mkdtempSync(path.join(tmp, 'src-'));
    // Debian 12's server links ICU, whose libstdc++ needs glibc 2.36: the Lambda glibc check (2.34,
    // Amazon Linux 2023, where the build really runs) cannot hold for this machine's server binaries.
    const commands = spec.phases.build.commands.map((c) => (withServer ? c.replace('--max-glibc 2.34', '--max-glibc 2.36') : c));
    const run = spawnSync(spec.env.shell, ['-c', `set -e\n${commands.join('\n')}`], {
      cwd: work,
      encoding: 'utf8',
      env: {
        PATH: `${shims}:${process.env.PATH}`,
        PGDR_SCRIPT_URL: `s3://assets/${scriptKey}`,
        PGDR_BUCKET: 'layer-bucket',
        PGDR_KEY: env.PGDR_KEY as string,
      },
    });
    return { run, zip: path.join(s3root, 'layer-bucket', env.PGDR_KEY as string) };
  }

  it('fetch the script asset and the RDS CA bundle, pack, zip and upload a layer whose pg_dump runs from its own lib/', () => {
    // The RDS bundle's URL served from a bundle of two test CAs (no network here).
    const pki = new TestPki();
    const caBundle = path.join(tmp, 'rds-test-bundle.pem');
    fs.writeFileSync(caBundle, fs.readFileSync(pki.ca('rds-root-1'), 'utf8') + fs.readFileSync(pki.ca('rds-root-2'), 'utf8'));
    pki.remove();
    const { run, zip } = runBuild(caBundle);
    expect({ status: run.status, stderr: run.status === 0 ? '' : run.stderr }).toEqual({ status: 0, stderr: '' });
    expect(run.stdout).toMatch(/^version pg_dump \(PostgreSQL\) 15\./m); // the manifest, printed to the build log
    expect(run.stdout).toMatch(/^ca-bundle share\/pgdr\/rds-global-bundle\.pem 2 certificates sha256 [0-9a-f]{64}$/m);

    expect(fs.existsSync(zip)).toBe(true);
    const unpacked = fs.mkdtempSync(path.join(tmp, 'layer-'));
    expect(spawnSync('unzip', ['-q', zip, '-d', unpacked]).status).toBe(0);
    expect(fs.readdirSync(unpacked).sort()).toEqual(['bin', 'lib', 'pg-tools.manifest', 'share']);
    expect(fs.readFileSync(path.join(unpacked, 'share', 'pgdr', 'rds-global-bundle.pem'))).toEqual(fs.readFileSync(caBundle));
    expect(fs.readdirSync(path.join(unpacked, 'bin'))).toEqual(expect.arrayContaining(['pg_dump', 'pg_restore', 'psql']));
    const version = spawnSync(path.join(unpacked, 'bin', 'pg_dump'), ['--version'], { encoding: 'utf8', env: { LD_LIBRARY_PATH: path.join(unpacked, 'lib') } });
    expect(version.stdout).toMatch(/^pg_dump \(PostgreSQL\) 15\./);
  });

  it('withServer (a Lambda database with ephemeral restore tests): the layer also carries a server, which the verify job finds through the manifest and starts', async () => {
    const pki = new TestPki();
    const caBundle = path.join(tmp, 'rds-test-bundle-2.pem');
    fs.writeFileSync(caBundle, fs.readFileSync(pki.ca('rds-root-1'), 'utf8'));
    pki.remove();
    const { run, zip } = runBuild(caBundle, true);
    expect({ status: run.status, stderr: run.status === 0 ? '' : run.stderr }).toEqual({ status: 0, stderr: '' });
    const unpacked = fs.mkdtempSync(path.join(tmp, 'layer-server-'));
    expect(spawnSync('unzip', ['-q', zip, '-d', unpacked]).status).toBe(0);
    expect(fs.readdirSync(unpacked).sort()).toEqual(['bin', 'lib', 'pg-tools.manifest', 'server', 'share']);
    // What the verify Lambda does in ephemeral mode with PGDR_PG_BIN=/opt/bin and no PGDR_PG_SERVER_BIN.
    const { bin } = ephemeralServerFromEnv({ PGDR_PG_BIN: path.join(unpacked, 'bin') });
    expect(bin).toBe(packedServerBin(path.join(unpacked, 'bin')));
    expect(bin.startsWith(path.join(unpacked, 'server'))).toBe(true);
    // The postgres OS user runs it when the test runs as root: open the way to the unpacked layer.
    for (let dir = unpacked; dir !== tmp && dir !== path.dirname(dir); dir = path.dirname(dir)) fs.chmodSync(dir, 0o755);
    fs.chmodSync(tmp, 0o755);
    const workDir = fs.mkdtempSync(path.join(tmp, 'ephemeral-'));
    fs.chmodSync(workDir, 0o755);
    const server = await startEphemeralServer({ bin, workDir, memoryMb: 64 });
    try {
      expect(server.versionNum).toBeGreaterThanOrEqual(150000);
    } finally {
      await server.stop();
    }
  });

  it('a download that is not PEM certificates (an error page) fails the build at the pack step and uploads nothing', () => {
    const page = path.join(tmp, 'error-page.pem');
    fs.writeFileSync(page, '<?xml version="1.0"?><Error><Code>AccessDenied</Code></Error>\n');
    const { run, zip } = runBuild(page);
    expect(run.status).not.toBe(0);
    expect(run.stderr).toMatch(/^pack-pg-tools: error: --ca-bundle 'rds-global-bundle\.pem' holds no PEM certificate/m);
    expect(fs.existsSync(zip)).toBe(false);
  });
});
