/**
 * The Fargate runner (issue 11): examples/fargate-large.json synthesizes offline and Docker-free with
 * the job image build, the task definitions, schedules and rules of a database on Fargate, least
 * privilege and no unacknowledged cdk-nag finding in any pack. One synthesis of the example (plus a
 * small Lambda database restore-testing on an ephemeral server, to see PGDR_VERIFY_MODE reach a Lambda).
 * The image's build context is checked in a small app of its own, bundling a stand-in entry point.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Ajv from 'ajv';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { CONTAINER_NAME, ENV, IMAGE_PATHS } from '../../container/contract';
import { loadConfig, PgdrConfig } from '../../lib/config';
import { configJsonSchema } from '../../lib/config/json-schema';
import { imageBuildCommands, JobImage } from '../../lib/job-image';
import { aslErrors, failoverDefinition } from '../../local/failover-runner';
import { synthConfig } from './synth';

const EXAMPLE = 'examples/fargate-large.json';
const root = join(__dirname, '..', '..');

type Resources = Record<string, { Type: string; Properties?: any; Metadata?: any; DependsOn?: string[] }>;

function withLambdaEphemeral(config: PgdrConfig): PgdrConfig {
  const small = loadConfig(join(root, 'pgdr.config.json')).databases[0];
  return { ...config, databases: [...config.databases, { ...small, name: 'audit', verification: { ...small.verification, mode: 'ephemeral', serverSecretArn: undefined } }] };
}

const config = withLambdaEphemeral(loadConfig(join(root, EXAMPLE)));
const ledger = config.databases[0];
const { stack, template, violations } = synthConfig(config);
const resources = template.toJSON().Resources as Resources;
const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);
const fargate = stack.fargateJobs.get('ledger')!.fargate;
const idOf = (construct: { node: { defaultChild?: unknown } }) => stack.getLogicalId(construct.node.defaultChild as any);
const envOf = (r: any): Record<string, string> => Object.fromEntries(r.Properties.ContainerDefinitions[0].Environment.map((e: any) => [e.Name, e.Value]));
const statements = ofType('AWS::IAM::Policy').flatMap(([id, r]) => (r.Properties.PolicyDocument.Statement as any[]).map((s) => ({ policy: id, actions: [s.Action].flat() as string[], resource: s.Resource })));

describe(EXAMPLE, () => {
  it('validates against pgdr.config.schema.json and loads as a 16-vCPU Fargate database dumping in directory format', () => {
    const raw = JSON.parse(readFileSync(join(root, EXAMPLE), 'utf8'));
    const validate = new Ajv({ allErrors: true }).compile(configJsonSchema());
    expect(validate(raw)).toBe(true);
    expect(Object.keys(raw)[0]).toBe('$schema');
    expect(ledger.runner).toMatchObject({ type: 'fargate', cpu: 16384, memoryMiB: 32768, ephemeralStorageGiB: 200, dumpFormat: 'directory' });
  });

  it('the failover definition is valid ASL with Fargate and Lambda databases, and with Fargate databases only (no unreachable state of the other runner)', () => {
    expect(aslErrors(failoverDefinition(template))).toEqual([]);
    const fargateOnly = synthConfig(loadConfig(join(root, EXAMPLE)));
    expect(aslErrors(failoverDefinition(fargateOnly.template))).toEqual([]);
  });

  it('a Lambda database with restore tests on an ephemeral server gets a tools layer built with the server, and PGDR_VERIFY_MODE=ephemeral', () => {
    const builds = ofType('AWS::CodeBuild::Project').map(([, r]) => String(r.Properties.Source?.BuildSpec ?? '')).filter((spec) => spec.includes('pack-pg-tools.sh'));
    const major = config.databases.find((d) => d.name === 'audit')!.source.engineMajorVersion;
    const withServer = builds.filter((spec) => spec.includes('--with-server'));
    // Only the layer of the Lambda database's major carries the server (the Fargate database's image has its own).
    expect(withServer).toHaveLength(1);
    expect(withServer[0]).toContain(`postgresql${major} postgresql${major}-server `);
    expect(withServer[0]).toContain(`--expect-major ${major} `);
    const verify = ofType('AWS::Lambda::Function').find(([id]) => id.startsWith('auditVerify'));
    expect(verify?.[1].Properties.Environment.Variables).toMatchObject({ PGDR_VERIFY_MODE: 'ephemeral' });
  });

  it('synthesizes with zero unacknowledged cdk-nag findings (AwsSolutions, NIST 800-53 R5, HIPAA Security, PCI DSS 3.2.1), each acknowledgement with its own reason', () => {
    expect(violations).toEqual([]);
    const packs = /^(AwsSolutions|NIST\.800\.53\.R5|HIPAA\.Security|PCI\.DSS\.321)-/;
    const acknowledged = Object.values(resources)
      .flatMap((r) => (r.Metadata?.cdk_nag?.rules_to_suppress ?? []) as { id: string; reason: string }[])
      .filter((a) => packs.test(a.id));
    const ours = acknowledged.filter((a) => /Fargate|job image|ecr:|task/.test(a.reason));
    expect(ours.length).toBeGreaterThan(3);
    const rule = (id: string) => id.replace(packs, '').replace(/\[.*$/, '');
    const rulesByReason = new Map<string, Set<string>>();
    for (const a of acknowledged) {
      expect(a.reason).toMatch(/\w+ \w+ \w+ \w+/);
      rulesByReason.set(a.reason, (rulesByReason.get(a.reason) ?? new Set()).add(rule(a.id)));
    }
    for (const [reason, rules] of rulesByReason) expect({ reason, rules: [...rules] }).toEqual({ reason, rules: [[...rules][0]] });
  });

  it('builds the job image at deploy time: ECR repository (KMS, scan on push, immutable tags), privileged CodeBuild project, custom resource, and the task definitions wait for it', () => {
    const [[repoId, repo]] = ofType('AWS::ECR::Repository');
    expect(repo.Properties).toMatchObject({ ImageScanningConfiguration: { ScanOnPush: true }, ImageTagMutability: 'IMMUTABLE', EncryptionConfiguration: { EncryptionType: 'KMS' } });
    const image = stack.jobImages.get(16)!;
    expect(image.imageTag).toMatch(/^16-[0-9a-f]{24}$/);
    const project = ofType('AWS::CodeBuild::Project').find(([, r]) => r.Properties.Environment.PrivilegedMode)!;
    expect(project).toBeDefined();
    const vars = Object.fromEntries((project[1].Properties.Environment.EnvironmentVariables as any[]).map((v) => [v.Name, v.Value]));
    expect(vars.PGDR_IMAGE_TAG).toBe(image.imageTag);
    expect(JSON.parse(project[1].Properties.Source.BuildSpec).phases.build.commands).toEqual(imageBuildCommands(16).build);
    const [[runId, run]] = ofType('Custom::PgdrJobImageBuild');
    expect(run.Properties.ImageTag).toBe(image.imageTag);
    expect(JSON.stringify(run.Properties.Output)).toContain(repoId);
    for (const [, td] of ofType('AWS::ECS::TaskDefinition')) {
      expect(td.DependsOn).toContain(runId);
      expect(JSON.stringify(td.Properties.ContainerDefinitions[0].Image)).toContain(`:${image.imageTag}`);
    }
  });

  it('one cluster with container insights; dump, verify and restore task definitions with the configured size, read-only root, writable work space and the contract environment', () => {
    template.resourceCountIs('AWS::ECS::Cluster', 1);
    template.hasResourceProperties('AWS::ECS::Cluster', { ClusterSettings: [{ Name: 'containerInsights', Value: 'enabled' }] });
    const defs = ofType('AWS::ECS::TaskDefinition');
    expect(defs.map(([, r]) => r.Properties.Family).sort()).toEqual(['PgdrLedger-ledger-dump', 'PgdrLedger-ledger-restore', 'PgdrLedger-ledger-verify']);
    for (const [, r] of defs) {
      const job = r.Properties.Family.split('-').pop();
      expect(r.Properties).toMatchObject({ Cpu: '16384', Memory: '32768', EphemeralStorage: { SizeInGiB: 200 }, RequiresCompatibilities: ['FARGATE'], NetworkMode: 'awsvpc' });
      const container = r.Properties.ContainerDefinitions[0];
      expect(container).toMatchObject({ Name: CONTAINER_NAME, Command: [IMAGE_PATHS.entry, job], ReadonlyRootFilesystem: true, LogConfiguration: { LogDriver: 'awslogs' } });
      expect(container.MountPoints.map((m: any) => m.ContainerPath).sort()).toEqual(['/tmp', IMAGE_PATHS.workDir]);
      const env = envOf(r);
      expect(env).toMatchObject({ [ENV.database]: 'ledger', [ENV.pgBin]: IMAGE_PATHS.pgBin, [ENV.workDir]: IMAGE_PATHS.workDir, POWERTOOLS_METRICS_NAMESPACE: 'PgDr' });
      expect(JSON.stringify(env)).not.toMatch(/password/i);
    }
    const byJob = (job: string) => envOf(defs.find(([, r]) => r.Properties.Family.endsWith(`-${job}`))![1]);
    expect(byJob('dump')).toMatchObject({ [ENV.dumpFormat]: 'directory', [ENV.dumpJobs]: '16', PGDR_PG_SSLMODE: 'verify-full' });
    expect(byJob('verify')).toMatchObject({ [ENV.verifyMode]: 'ephemeral', [ENV.pgServerBin]: IMAGE_PATHS.pgBin, [ENV.restoreJobs]: '16' });
    expect(JSON.parse(byJob('verify')[ENV.verification])).toMatchObject({ restoreTestEveryNth: 7, smokeQueries: [{ name: 'journal entries present' }, { name: 'balanced ledger' }] });
    // The restore task fills the recovery instance (db.r6g.2xlarge: 8 vCPUs), not its own 16 vCPUs.
    expect(byJob('restore')).toMatchObject({ [ENV.restoreJobs]: '8', PGDR_PG_SSLMODE: 'verify-full', PGDR_PG_SSLROOTCERT: '/app/rds-global-bundle.pem' });
    // Logs: encrypted with the vault key, under the vault's log group prefix.
    for (const [, r] of defs) {
      const group = resources[r.Properties.ContainerDefinitions[0].LogConfiguration.Options['awslogs-group'].Ref];
      expect(group.Properties).toMatchObject({ LogGroupName: expect.stringMatching(/^\/pgdr\/PgdrLedger\/ledger\/fargate-/), KmsKeyId: { 'Fn::GetAtt': [expect.stringMatching(/^VaultKey/), 'Arn'] } });
    }
  });

  it('schedules the dump per backup class and the restore test on ECS RunTask, with the class as a container override, retries and the dead-letter queue', () => {
    const dlq = idOf(fargate.deadLetterQueue);
    const onEcs = ofType('AWS::Scheduler::Schedule').filter(([, r]) => r.Properties.Target.EcsParameters);
    expect(onEcs).toHaveLength(2);
    for (const [, r] of onEcs) {
      expect(r.Properties.Target).toMatchObject({
        Arn: { 'Fn::GetAtt': [idOf(stack.jobCluster!), 'Arn'] },
        DeadLetterConfig: { Arn: { 'Fn::GetAtt': [dlq, 'Arn'] } },
        RetryPolicy: { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 3600 },
        EcsParameters: { LaunchType: 'FARGATE', NetworkConfiguration: { AwsvpcConfiguration: { AssignPublicIp: 'DISABLED' } } },
      });
    }
    const dump = onEcs.find(([, r]) => r.Properties.Target.EcsParameters.TaskDefinitionArn.Ref === idOf(fargate.dump.taskDefinition))!;
    expect(dump[1].Properties).toMatchObject({ ScheduleExpression: 'cron(0 1 * * ? *)', ScheduleExpressionTimezone: 'Europe/Berlin' });
    expect(JSON.parse(dump[1].Properties.Target.Input)).toEqual({ containerOverrides: [{ name: CONTAINER_NAME, environment: [{ name: ENV.backupClass, value: 'nightly' }] }] });
    const test = onEcs.find(([, r]) => r.Properties.Target.EcsParameters.TaskDefinitionArn.Ref === idOf(fargate.verify.taskDefinition))!;
    expect(JSON.parse(test[1].Properties.Target.Input)).toEqual({ containerOverrides: [{ name: CONTAINER_NAME, environment: [{ name: ENV.restoreTest, value: 'true' }] }] });
    // No dump or verify Lambda for the Fargate database.
    expect(stack.jobs.has('ledger')).toBe(false);
    expect(ofType('AWS::Lambda::Function').filter(([id]) => /^ledger(DumpJob|VerifyJob)/.test(id))).toEqual([]);
  });

  it('starts a verify task for each new manifest with PGDR_MANIFEST_KEY from the event, and routes tasks that stopped without a reported end to the dead-letter queue', () => {
    const manifest = resources[idOf(fargate.manifestRule)].Properties;
    expect(manifest.EventPattern).toMatchObject({ source: ['aws.s3'], 'detail-type': ['Object Created'], detail: { object: { key: [{ wildcard: 'ledger/*.manifest.json' }] } } });
    const [target] = manifest.Targets;
    expect(target).toMatchObject({
      EcsParameters: { TaskDefinitionArn: { Ref: idOf(fargate.verify.taskDefinition) }, LaunchType: 'FARGATE' },
      DeadLetterConfig: { Arn: { 'Fn::GetAtt': [idOf(fargate.deadLetterQueue), 'Arn'] } },
      RetryPolicy: { MaximumRetryAttempts: 2 },
      InputTransformer: { InputPathsMap: { 'detail-object-key': '$.detail.object.key' } },
    });
    expect(JSON.parse(target.InputTransformer.InputTemplate.replace('<detail-object-key>', '"ledger/x.manifest.json"'))).toEqual({
      containerOverrides: [{ name: CONTAINER_NAME, environment: [{ name: ENV.manifestKey, value: 'ledger/x.manifest.json' }] }],
    });
    const stopped = resources[idOf(fargate.stoppedTaskRule)].Properties;
    expect(stopped.EventPattern).toMatchObject({ source: ['aws.ecs'], 'detail-type': ['ECS Task State Change'], detail: { lastStatus: ['STOPPED'] } });
    expect(stopped.EventPattern.detail.$or).toEqual(
      expect.arrayContaining([{ stopCode: ['TaskFailedToStart'] }, { containers: { exitCode: [{ 'anything-but': [0, 1] }] } }]),
    );
    expect(stopped.EventPattern.detail.taskDefinitionArn).toHaveLength(3);
    expect(stopped.Targets).toEqual([expect.objectContaining({ Arn: { 'Fn::GetAtt': [idOf(fargate.deadLetterQueue), 'Arn'] } })]);
    // ... and that queue is one of those the database's dead-letters alarm watches.
    const alarm = ofType('AWS::CloudWatch::Alarm').find(([, r]) => r.Properties.AlarmName?.includes?.('ledger') && r.Properties.AlarmName.includes('dead-letters'));
    expect(JSON.stringify(alarm?.[1].Properties.Metrics)).toContain(idOf(fargate.deadLetterQueue));
  });

  it('IAM: no wildcard action anywhere; iam:PassRole only on the task and execution roles, for the scheduler and EventBridge roles', () => {
    expect(statements.flatMap((s) => s.actions).filter((a) => a.includes('*'))).toEqual([]);
    const taskRoles = [fargate.executionRole, fargate.dump.taskRole, fargate.verify.taskRole, fargate.restore.taskRole].map((r) => idOf(r as any));
    const passRole = statements.filter((s) => s.actions.includes('iam:PassRole'));
    expect(passRole.length).toBeGreaterThan(0);
    for (const s of passRole) {
      expect(s.actions).toEqual(['iam:PassRole']);
      for (const r of [s.resource].flat()) expect(taskRoles).toContain(r['Fn::GetAtt'][0]);
      // Scheduler and EventBridge start tasks; the failover state machine runs the restore task (ecs:runTask.sync).
      expect(s.policy).toMatch(/SchedulerRole|EventsRole|FailoverStateMachineRole/);
    }
    // The same grants as the Lambda jobs: the dump task may write, not read, the database's prefix; restore reads the RDS-managed secrets of recovery instances only.
    const of = (role: any) => statements.filter((s) => resources[s.policy].Properties.Roles.some((x: any) => x.Ref === idOf(role))).flatMap((s) => s.actions);
    expect(of(fargate.dump.taskRole)).toEqual(expect.arrayContaining(['s3:PutObject', 'secretsmanager:GetSecretValue']));
    expect(of(fargate.dump.taskRole)).not.toContain('s3:GetObject');
    expect(of(fargate.verify.taskRole)).toEqual(expect.arrayContaining(['s3:GetObject', 's3:PutObject']));
    expect(of(fargate.restore.taskRole)).toEqual(expect.arrayContaining(['s3:GetObject', 'secretsmanager:DescribeSecret']));
  });

  it('writes the cluster, task definitions, subnets and security groups of the Fargate database in its output (the Lambda database keeps its functions)', () => {
    const outputs = template.toJSON().Outputs as Record<string, { Value: any }>;
    const ledgerOut = Object.entries(outputs).find(([id]) => id.startsWith('DatabaseLedger'))![1];
    const text = JSON.stringify(ledgerOut.Value);
    for (const id of [idOf(stack.jobCluster!), idOf(fargate.dump.taskDefinition), idOf(fargate.verify.taskDefinition), idOf(fargate.restore.taskDefinition)]) expect(text).toContain(id);
    expect(text).toContain('\\"runner\\":\\"fargate\\"');
    expect(text).not.toContain('dumpFunction');
  });

  it('passes PGDR_VERIFY_MODE=ephemeral to the verify Lambda of a Lambda database in that mode', () => {
    template.hasResourceProperties('AWS::Lambda::Function', { Description: 'pgdr verify job of audit', Environment: { Variables: { [ENV.verifyMode]: 'ephemeral' } } });
  });
});

describe('JobImage build context (bundled with the local esbuild, no Docker)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgdr-job-image-test-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('bundles the given entry point into entry.js next to the Dockerfile and the CA files; the tag follows the content', () => {
    const entry = join(dir, 'stand-in-entry.ts');
    const ca = join(dir, 'ca.pem');
    writeFileSync(ca, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
    const build = (marker: string) => {
      writeFileSync(entry, `import { JOBS } from '${join(root, 'container', 'contract').replace(/\\/g, '/')}';\nconsole.log('${marker}', JOBS.join(','));\n`);
      const app = new App({ outdir: mkdtempSync(join(dir, 'out-')) });
      const s = new Stack(app, 'ImageOnly');
      const image = new JobImage(s, 'Image', { majorVersion: 16, entry, caBundleFiles: [ca] });
      const assembly = app.synth();
      const staged = readdirSync(assembly.directory).find((f) => f.startsWith('asset.') && readdirSync(join(assembly.directory, f)).includes('Dockerfile'))!;
      const context = join(assembly.directory, staged);
      return { image, files: readdirSync(context).sort(), bundle: readFileSync(join(context, 'entry.js'), 'utf8'), ca: readdirSync(join(context, 'ca')), template: Template.fromStack(s) };
    };
    const first = build('first');
    expect(first.files).toEqual(['Dockerfile', 'ca', 'entry.js']);
    expect(first.bundle).toContain('first');
    expect(first.bundle).toMatch(/\["dump", "verify", "restore"\]/); // the contract, bundled in
    expect(first.ca.filter((f) => f.endsWith('.pem'))).toHaveLength(1);
    expect(first.image.caBundlePath(ca)).toMatch(/^\/app\/ca\/[0-9a-f]{16}\.pem$/);
    expect(build('first').image.imageTag).toBe(first.image.imageTag);
    expect(build('second').image.imageTag).not.toBe(first.image.imageTag);
  });

  it('names the entry when it does not exist, and the major when Amazon Linux has no package for it', () => {
    const s = new Stack(new App({ outdir: mkdtempSync(join(dir, 'out-')) }), 'Bad');
    expect(() => new JobImage(s, 'Missing', { majorVersion: 16, entry: join(dir, 'nope.ts') })).toThrow(/^entry: the container entry point does not exist \(received ".*nope\.ts"\)$/);
    expect(() => new JobImage(s, 'Old', { majorVersion: 13 })).toThrow(/majorVersion: .*15, 16, 17.*\(received 13\)/);
  });
});
