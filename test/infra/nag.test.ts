/**
 * Every shipped configuration, synthesized once: the four cdk-nag packs report nothing
 * unacknowledged, every acknowledgement has its own true reason, and the genuine findings of the
 * compliance packs stay fixed (issue 10, defect 13), as do the vault key's guards (defect 14).
 */
import * as s3 from 'aws-cdk-lib/aws-s3';
import { KEY_DESTRUCTION_ACTIONS } from '../../lib/backup-vault';
import { loadConfig } from '../../lib/config';
import { NagViolation, SHIPPED_CONFIGS, synthConfig } from './synth';

/** The packs every pgdr app runs (lib/nag.ts): their rule ids start with these prefixes. */
const PACKS = ['AwsSolutions', 'NIST.800.53.R5', 'HIPAA.Security', 'PCI.DSS.321'];

/** Unacknowledged findings grouped by pack, as `rule path` lines (readable when the test fails). */
function byPack(violations: NagViolation[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const v of violations) {
    const pack = PACKS.find((p) => v.rule.startsWith(`${p}-`)) ?? 'unknown';
    (out[pack] ??= []).push(`${v.rule} ${v.path}`);
  }
  return out;
}

/** A rule id without its pack prefix and finding suffix: `HIPAA.Security-LambdaDLQ` and `NIST.800.53.R5-LambdaDLQ` are one cause. */
function ruleOf(id: string): string {
  const pack = PACKS.find((p) => id.startsWith(`${p}-`));
  return (pack ? id.slice(pack.length + 1) : id).replace(/\[.*$/, '');
}

interface Acknowledgement {
  readonly id: string;
  readonly reason: string;
}

type Resources = Record<string, { Type: string; Properties?: any; Metadata?: any; DeletionPolicy?: string; UpdateReplacePolicy?: string }>;

function ofType(resources: Resources, type: string): [string, any][] {
  return Object.entries(resources).filter(([, r]) => r.Type === type);
}

/** Logical ids a value refers to (Ref, Fn::GetAtt), anywhere inside it. */
function refsIn(value: unknown): string[] {
  const text = JSON.stringify(value ?? null);
  return [...text.matchAll(/"Ref":"([^"]+)"|"Fn::GetAtt":\["([^"]+)"/g)].map((m) => m[1] ?? m[2]);
}

it('the cdk-nag harness reports findings of every pack when there are some', () => {
  const { violations } = synthConfig('pgdr.config.json', (stack) => new s3.Bucket(stack, 'CarelessBucket'));
  const careless = violations.filter((v) => v.path.includes('CarelessBucket')).map((v) => v.rule);
  expect(careless).toEqual(
    expect.arrayContaining([
      'AwsSolutions-S1',
      'AwsSolutions-S10',
      'NIST.800.53.R5-S3BucketLoggingEnabled',
      'HIPAA.Security-S3BucketSSLRequestsOnly',
      'PCI.DSS.321-S3BucketVersioningEnabled',
    ]),
  );
});

describe.each(SHIPPED_CONFIGS)('%s', (configPath) => {
  // One synthesis per configuration; the four packs all run on it.
  const synthesized = synthConfig(configPath);
  const resources = synthesized.template.toJSON().Resources as Resources;
  const acknowledged: Acknowledgement[] = Object.values(resources).flatMap((r) => r.Metadata?.cdk_nag?.rules_to_suppress ?? []);
  const [vaultKeyId] = ofType(resources, 'AWS::KMS::Key').find(([id]) => id.startsWith('VaultKey'))!;
  const keyPolicy = resources[vaultKeyId].Properties.KeyPolicy.Statement as any[];

  it('synthesizes with zero unacknowledged findings in AwsSolutions, NIST 800-53 R5, HIPAA Security and PCI DSS 3.2.1', () => {
    expect(byPack(synthesized.violations)).toEqual({});
  });

  it('gives every acknowledgement a written reason', () => {
    expect(acknowledged.length).toBeGreaterThan(0);
    for (const ack of acknowledged) {
      expect(ack.reason).toEqual(expect.stringMatching(/\w+ \w+ \w+ \w+/));
    }
  });

  it('never gives two different rules the same reason word for word (the same rule in several packs is one cause)', () => {
    const rulesByReason = new Map<string, Set<string>>();
    for (const ack of acknowledged.filter((a) => PACKS.some((p) => a.id.startsWith(`${p}-`)))) {
      const rules = rulesByReason.get(ack.reason) ?? new Set<string>();
      rules.add(ruleOf(ack.id));
      rulesByReason.set(ack.reason, rules);
    }
    const shared = [...rulesByReason].filter(([, rules]) => rules.size > 1).map(([reason, rules]) => `${[...rules].join(', ')}: "${reason}"`);
    expect(shared).toEqual([]);
  });

  it('claims no alarm in an acknowledgement while the stack has none', () => {
    const alarms = Object.values(resources).filter((r) => r.Type === 'AWS::CloudWatch::Alarm');
    const claims = acknowledged.filter((a) => /\balarmed\b|\balarm (on|watches|fires|pages)\b/i.test(a.reason));
    expect(alarms.length > 0 ? [] : claims).toEqual([]);
  });

  it('encrypts every log group with a customer-managed key', () => {
    const groups = ofType(resources, 'AWS::Logs::LogGroup');
    expect(groups.length).toBeGreaterThan(0);
    expect(groups.filter(([, r]) => !r.Properties.KmsKeyId).map(([id]) => id)).toEqual([]);
  });

  it('gives no instance a public IP by launching in a subnet of the created VPC', () => {
    const subnets = ofType(resources, 'AWS::EC2::Subnet');
    expect(subnets.length).toBeGreaterThan(0);
    expect(subnets.filter(([, r]) => r.Properties.MapPublicIpOnLaunch !== false).map(([id]) => id)).toEqual([]);
  });

  it('keeps the vault key out of reach of the tools build: own key for the project and its logs, no IAM statement on the vault key', () => {
    const projects = ofType(resources, 'AWS::CodeBuild::Project');
    expect(projects.length).toBeGreaterThan(0);
    for (const [, project] of projects) {
      expect(refsIn(project.Properties.EncryptionKey)).not.toContain(vaultKeyId);
      const role = refsIn(project.Properties.ServiceRole)[0];
      const policies = ofType(resources, 'AWS::IAM::Policy').filter(([, p]) => refsIn(p.Properties.Roles).includes(role));
      expect(policies.length).toBeGreaterThan(0);
      expect(policies.flatMap(([, p]) => refsIn(p.Properties.PolicyDocument))).not.toContain(vaultKeyId);
    }
    const buildLogs = ofType(resources, 'AWS::Logs::LogGroup').filter(([, r]) => String(r.Properties.LogGroupName).startsWith('/pgdr-tools/'));
    expect(buildLogs.length).toBeGreaterThan(0);
    for (const [, group] of buildLogs) expect(refsIn(group.Properties.KmsKeyId)).not.toContain(vaultKeyId);
  });

  it("logs every transition of the state machines (the tools build's waiter without its data, the failover with it: no secret is in its state) and traces them", () => {
    const machines = ofType(resources, 'AWS::StepFunctions::StateMachine');
    expect(machines.map(([id]) => id.startsWith('Failover'))).toContain(true);
    for (const [id, m] of machines) {
      expect(m.Properties.TracingConfiguration).toEqual({ Enabled: true });
      expect(m.Properties.LoggingConfiguration).toMatchObject({ Level: 'ALL', IncludeExecutionData: id.startsWith('Failover'), Destinations: [expect.anything()] });
    }
  });

  it('keeps the vault key whatever happens to the stack, with the longest deletion window', () => {
    expect(resources[vaultKeyId]).toMatchObject({ DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain', Properties: { PendingWindowInDays: 30 } });
  });

  it("denies deleting or disabling the vault key to all but the break-glass principal (default: the account's root user)", () => {
    const accountRoot = { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::', { Ref: 'AWS::AccountId' }, ':root']] };
    expect(keyPolicy).toContainEqual({
      Effect: 'Deny',
      Principal: { AWS: '*' },
      Action: KEY_DESTRUCTION_ACTIONS,
      Resource: '*',
      Condition: { ArnNotEquals: { 'aws:PrincipalArn': loadConfig(configPath).vault.breakGlassPrincipalArn ?? accountRoot } },
    });
  });

  it('lets grants on the vault key be made only by AWS services for a resource', () => {
    expect(keyPolicy).toContainEqual({
      Effect: 'Deny',
      Principal: { AWS: '*' },
      Action: 'kms:CreateGrant',
      Resource: '*',
      Condition: { BoolIfExists: { 'kms:GrantIsForAWSResource': 'false' } },
    });
  });
});
