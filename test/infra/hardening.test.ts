/**
 * The compliance packs' genuine findings, fixed (issue 10, defect 13), and the vault key's guards
 * (defect 14), asserted on the templates of every shipped configuration.
 */
import { loadConfig } from '../../lib/config';
import { KEY_DESTRUCTION_ACTIONS } from '../../lib/backup-vault';
import { SHIPPED_CONFIGS, synthConfig } from './synth';

type Resources = Record<string, { Type: string; Properties?: any; DeletionPolicy?: string; UpdateReplacePolicy?: string }>;

function ofType(resources: Resources, type: string): [string, any][] {
  return Object.entries(resources).filter(([, r]) => r.Type === type);
}

/** Logical ids a value refers to (Ref, Fn::GetAtt), anywhere inside it. */
function refsIn(value: unknown): string[] {
  const text = JSON.stringify(value ?? null);
  return [...text.matchAll(/"Ref":"([^"]+)"|"Fn::GetAtt":\["([^"]+)"/g)].map((m) => m[1] ?? m[2]);
}

describe.each(SHIPPED_CONFIGS)('%s', (configPath) => {
  const { template } = synthConfig(configPath);
  const resources = template.toJSON().Resources as Resources;
  const [vaultKeyId] = ofType(resources, 'AWS::KMS::Key').find(([id]) => id.startsWith('VaultKey'))!;
  const keyPolicy = resources[vaultKeyId].Properties.KeyPolicy.Statement as any[];

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

  it("logs every transition of the tools build's waiter state machine and traces it", () => {
    const machines = ofType(resources, 'AWS::StepFunctions::StateMachine');
    expect(machines.length).toBeGreaterThan(0);
    for (const [, m] of machines) {
      expect(m.Properties.TracingConfiguration).toEqual({ Enabled: true });
      expect(m.Properties.LoggingConfiguration).toMatchObject({ Level: 'ALL', IncludeExecutionData: false, Destinations: [expect.anything()] });
    }
  });

  it('keeps the vault key whatever happens to the stack, with the longest deletion window', () => {
    expect(resources[vaultKeyId]).toMatchObject({ DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain', Properties: { PendingWindowInDays: 30 } });
  });

  it("denies deleting or disabling the vault key to all but the break-glass principal (default: the account's root user)", () => {
    expect(keyPolicy).toContainEqual({
      Effect: 'Deny',
      Principal: { AWS: '*' },
      Action: KEY_DESTRUCTION_ACTIONS,
      Resource: '*',
      Condition: { ArnNotEquals: { 'aws:PrincipalArn': { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::', { Ref: 'AWS::AccountId' }, ':root']] } } },
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

describe('the vault key policy', () => {
  const base = loadConfig('examples/4-school-admissions.json');
  const policyOf = (config: typeof base) => {
    const { template } = synthConfig(config);
    const [, key] = Object.entries(template.findResources('AWS::KMS::Key')).find(([id]) => id.startsWith('VaultKey'))!;
    return key;
  };

  it('keeps the key with removalPolicy "destroy" (only the buckets go)', () => {
    const { template } = synthConfig({ ...base, vault: { ...base.vault, removalPolicy: 'destroy' } });
    const keys = Object.entries(template.findResources('AWS::KMS::Key')).filter(([id]) => id.startsWith('VaultKey'));
    expect(keys.map(([, k]) => [k.DeletionPolicy, k.UpdateReplacePolicy])).toEqual([['Retain', 'Retain']]);
    expect(Object.values(template.findResources('AWS::S3::Bucket', { Properties: { ObjectLockEnabled: true } })).map((b) => b.DeletionPolicy)).toEqual(['Delete']);
  });

  it('names a configured break-glass principal in the Deny and allows it to act on the key', () => {
    const arn = 'arn:aws:iam::111122223333:role/security/pgdr-break-glass';
    const statements = policyOf({ ...base, vault: { ...base.vault, breakGlassPrincipalArn: arn } }).Properties.KeyPolicy.Statement as any[];
    expect(statements).toContainEqual(expect.objectContaining({ Effect: 'Deny', Action: KEY_DESTRUCTION_ACTIONS, Condition: { ArnNotEquals: { 'aws:PrincipalArn': arn } } }));
    expect(statements).toContainEqual(
      expect.objectContaining({ Effect: 'Allow', Principal: { AWS: arn }, Action: expect.arrayContaining(['kms:ScheduleKeyDeletion', 'kms:CancelKeyDeletion', 'kms:DisableKey', 'kms:EnableKey']) }),
    );
  });

  it('does not change with the databases or the network: adding a database never rewrites it', () => {
    const more = { ...base, databases: [...base.databases, { ...base.databases[0], name: 'exams' }] };
    const existingNetwork = { ...base, network: { vpcId: 'vpc-0123abcd', availabilityZones: ['eu-west-1a'], privateSubnetIds: ['subnet-0123abcd'] } };
    const policy = JSON.stringify(policyOf(base).Properties.KeyPolicy);
    expect(JSON.stringify(policyOf(more).Properties.KeyPolicy)).toBe(policy);
    expect(JSON.stringify(policyOf(existingNetwork).Properties.KeyPolicy)).toBe(policy);
  });
});
