import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { BackupVault, BackupVaultProps } from '../../lib/backup-vault';
import { loadConfig } from '../../lib/config';
import { synthConfig, TEST_CONTEXT } from './synth';

// Each app synthesizes into a directory of its own under this one (without an outdir the CDK makes
// a cdk.outXXXX in the temp dir per app and leaves it there), removed after the file's tests.
const outRoot = mkdtempSync(join(tmpdir(), 'pgdr-vault-test-'));
afterAll(() => rmSync(outRoot, { recursive: true, force: true }));

function vaultTemplate(props: BackupVaultProps = {}, use?: (vault: BackupVault, stack: Stack) => void): Template {
  const app = new App({ outdir: mkdtempSync(join(outRoot, 'out-')), context: TEST_CONTEXT });
  const stack = new Stack(app, 'T', { env: { region: 'eu-west-1', account: '123456789012' } });
  const vault = new BackupVault(stack, 'Vault', props);
  use?.(vault, stack);
  return Template.fromStack(stack);
}

const dumpBucket = { ObjectLockEnabled: true };

describe('BackupVault', () => {
  it('encrypts dumps with a rotating customer-managed key and a bucket key', () => {
    const t = vaultTemplate();
    t.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
    t.hasResourceProperties('AWS::S3::Bucket', {
      ...dumpBucket,
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [
          { BucketKeyEnabled: true, ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: { 'Fn::GetAtt': [Match.stringLikeRegexp('VaultKey'), 'Arn'] } } },
        ],
      },
    });
  });

  it('blocks public access, versions objects, and locks them in governance mode for 7 days by default', () => {
    vaultTemplate().hasResourceProperties('AWS::S3::Bucket', {
      ...dumpBucket,
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
      VersioningConfiguration: { Status: 'Enabled' },
      ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled', Rule: { DefaultRetention: { Mode: 'GOVERNANCE', Days: 7 } } },
    });
  });

  it('takes a compliance-mode retention when asked', () => {
    vaultTemplate({ objectLockRetention: s3.ObjectLockRetention.compliance(Duration.days(30)) }).hasResourceProperties('AWS::S3::Bucket', {
      ObjectLockConfiguration: { Rule: { DefaultRetention: { Mode: 'COMPLIANCE', Days: 30 } } },
    });
  });

  it('denies every request that is not over TLS', () => {
    vaultTemplate().hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: Match.stringLikeRegexp('VaultDumps') },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Action: 's3:*', Principal: { AWS: '*' }, Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });

  it('logs access to a separate bucket and sends events to EventBridge without a custom resource', () => {
    const t = vaultTemplate();
    t.hasResourceProperties('AWS::S3::Bucket', {
      ...dumpBucket,
      LoggingConfiguration: { DestinationBucketName: { Ref: Match.stringLikeRegexp('VaultAccessLogs') }, LogFilePrefix: 'dumps/' },
      NotificationConfiguration: { EventBridgeConfiguration: { EventBridgeEnabled: true } },
    });
    t.resourceCountIs('AWS::Lambda::Function', 0);
    t.resourceCountIs('Custom::S3BucketNotifications', 0);
  });

  it('retains key and buckets by default', () => {
    const t = vaultTemplate();
    t.hasResource('AWS::KMS::Key', { DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
    t.hasResource('AWS::S3::Bucket', { Properties: Match.objectLike(dumpBucket), DeletionPolicy: 'Retain' });
    vaultTemplate({ removalPolicy: RemovalPolicy.DESTROY }).hasResource('AWS::S3::Bucket', { Properties: Match.objectLike(dumpBucket), DeletionPolicy: 'Delete' });
  });

  it('keeps the key when the buckets are to be destroyed', () => {
    vaultTemplate({ removalPolicy: RemovalPolicy.DESTROY }).hasResource('AWS::KMS::Key', { DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
  });

  it('rejects a break-glass principal that is not a role, user or root ARN, naming the prop and the value', () => {
    expect(() => vaultTemplate({ breakGlassPrincipalArn: 'admin' })).toThrow(/^breakGlassPrincipalArn: must be the ARN of an IAM role, an IAM user or an account root.* \(received "admin"\)$/);
  });

  it('aborts incomplete multipart uploads after a day and expires noncurrent versions bucket-wide', () => {
    vaultTemplate().hasResourceProperties('AWS::S3::Bucket', {
      ...dumpBucket,
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          { Id: 'all-objects', Status: 'Enabled', AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 }, NoncurrentVersionExpiration: { NoncurrentDays: 30 }, ExpiredObjectDeleteMarker: true },
        ]),
      },
    });
  });

  it('rejects lifecycle values S3 would refuse, naming the prop and the value', () => {
    const base = { database: 'app', backupClass: 'daily', expireAfter: Duration.days(90) };
    expect(() => vaultTemplate({ backupClasses: [{ ...base, infrequentAccessAfter: Duration.days(10) }] })).toThrow(
      'backupClasses[0].infrequentAccessAfter: must be at least 30 days (S3 minimum) (received 10 days)',
    );
    expect(() => vaultTemplate({ backupClasses: [{ ...base, infrequentAccessAfter: Duration.days(30), glacierInstantRetrievalAfter: Duration.days(40) }] })).toThrow(
      /backupClasses\[0\]\.glacierInstantRetrievalAfter: must be at least infrequentAccessAfter \+ 30 days \(received 40 days\)/,
    );
    expect(() => vaultTemplate({ backupClasses: [{ ...base, infrequentAccessAfter: Duration.days(30), expireAfter: Duration.days(30) }] })).toThrow(
      /backupClasses\[0\]\.expireAfter: must be later than the last transition \(30 days\) \(received 30 days\)/,
    );
    expect(() => vaultTemplate({ backupClasses: [{ ...base, database: 'App/Prod' }] })).toThrow(/backupClasses\[0\]\.database: .*\(received "App\/Prod"\)/);
    expect(() => vaultTemplate({ noncurrentVersionExpiration: Duration.hours(1) })).toThrow(/noncurrentVersionExpiration: must be at least 1 day/);
  });

  it('scopes write grants to the database prefix: put and abort only, no delete, no retention changes', () => {
    const t = vaultTemplate({}, (vault, stack) => vault.grantWriteDumps(new iam.Role(stack, 'Writer', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') }), 'shop'));
    t.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: Match.stringLikeRegexp('Writer') }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          {
            Effect: 'Allow',
            Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
            Resource: { 'Fn::GetAtt': [Match.stringLikeRegexp('VaultKey'), 'Arn'] },
            Condition: { StringEquals: { 'kms:ViaService': 's3.eu-west-1.amazonaws.com' } },
          },
          {
            Effect: 'Allow',
            Action: ['s3:AbortMultipartUpload', 's3:PutObject'],
            Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [Match.stringLikeRegexp('VaultDumps'), 'Arn'] }, '/shop/*']] },
          },
        ]),
      },
    });
  });

  it('scopes read grants to the database prefix, listing included', () => {
    const t = vaultTemplate({}, (vault, stack) => vault.grantReadDumps(new iam.Role(stack, 'Reader', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') }), 'shop'));
    t.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: Match.stringLikeRegexp('Reader') }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Action: 's3:ListBucket', Condition: { StringLike: { 's3:prefix': ['shop/', 'shop/*'] } } }),
          Match.objectLike({
            Action: ['s3:GetObject', 's3:GetObjectVersion'],
            Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [Match.stringLikeRegexp('VaultDumps'), 'Arn'] }, '/shop/*']] },
          }),
        ]),
      },
    });
  });
});

describe('the stack derives one lifecycle rule per backup class from the configuration', () => {
  it.each(['pgdr.config.json', 'examples/4-school-admissions.json', 'examples/3-clinic-booking.json'])('%s', (path) => {
    const config = loadConfig(path);
    const { template } = synthConfig(path);
    const expected = config.databases.flatMap((db) =>
      db.backupClasses.map((c) => {
        const transitions = [
          ...(c.retention.standardIaAfterDays ? [{ StorageClass: 'STANDARD_IA', TransitionInDays: c.retention.standardIaAfterDays }] : []),
          ...(c.retention.glacierIrAfterDays ? [{ StorageClass: 'GLACIER_IR', TransitionInDays: c.retention.glacierIrAfterDays }] : []),
        ];
        return {
          Id: `${db.name}-${c.name}`,
          Prefix: `${db.name}/${c.name}/`,
          Status: 'Enabled',
          ExpirationInDays: c.retention.expireAfterDays,
          NoncurrentVersionExpiration: { NoncurrentDays: config.vault.noncurrentVersionExpirationDays },
          ...(transitions.length ? { Transitions: transitions } : {}),
        };
      }),
    );
    const buckets = template.findResources('AWS::S3::Bucket', { Properties: { ObjectLockEnabled: true } });
    expect(Object.keys(buckets)).toHaveLength(1);
    const rules = Object.values(buckets)[0].Properties.LifecycleConfiguration.Rules.filter((r: { Id: string }) => r.Id !== 'all-objects');
    expect(rules).toEqual(expected);
  });
});
