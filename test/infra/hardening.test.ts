/** The vault key's guards (issue 10, defect 14) under configurations the examples do not cover. */
import { loadConfig } from '../../lib/config';
import { KEY_DESTRUCTION_ACTIONS } from '../../lib/backup-vault';
import { synthConfig } from './synth';

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
