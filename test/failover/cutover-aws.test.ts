/**
 * The cutover's AWS adapters on real SDK v3 clients whose requests are answered by a middleware
 * before they leave the process: which command is sent with which parameters, and how the answers
 * (not found, paging, escaped names) are read. There is no local Secrets Manager, SSM or Route 53
 * here; this proves the adapters' side of the API, the in-memory stand-ins prove the core's.
 */
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SSMClient } from '@aws-sdk/client-ssm';
import { Route53Client } from '@aws-sdk/client-route-53';
import { route53Target, secretsManagerTarget, ssmParameterTarget } from '../../lambda/failover/cutover/aws';
import { stub } from '../support/sdk-stub';

const named = (name: string, message = name): Error => Object.assign(new Error(message), { name });
const region = { region: 'eu-west-1', credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'example' } };

describe('Secrets Manager adapter', () => {
  test('current reads AWSCURRENT and the AWSPREVIOUS version id; a missing secret is undefined', async () => {
    const s = stub(new SecretsManagerClient(region), (command, input) => {
      if (input.SecretId === 'gone') return named('ResourceNotFoundException');
      if (command === 'GetSecretValueCommand') return { SecretString: '{"host":"h","port":5432}', VersionId: 'v2' };
      return { VersionIdsToStages: { v1: ['AWSPREVIOUS'], v2: ['AWSCURRENT'], v0: [] } };
    });
    const target = secretsManagerTarget(s.client);
    await expect(target.current('arn:s')).resolves.toEqual({ versionId: 'v2', value: '{"host":"h","port":5432}', previousVersionId: 'v1' });
    await expect(target.current('gone')).resolves.toBeUndefined();
    expect(s.sent.map((c) => c.command)).toEqual(['GetSecretValueCommand', 'DescribeSecretCommand', 'GetSecretValueCommand']);
  });

  test('put sends the ClientRequestToken; moveCurrent moves AWSCURRENT from one version to the other', async () => {
    const s = stub(new SecretsManagerClient(region), (command, input) => (command === 'PutSecretValueCommand' ? { VersionId: input.ClientRequestToken } : {}));
    const target = secretsManagerTarget(s.client);
    await expect(target.put('arn:s', '{"host":"n"}', 'pgdr-0123456789abcdef0123456789abcdef01234567')).resolves.toBe('pgdr-0123456789abcdef0123456789abcdef01234567');
    await target.moveCurrent('arn:s', 'v1', 'v2');
    expect(s.sent).toEqual([
      { command: 'PutSecretValueCommand', input: { SecretId: 'arn:s', SecretString: '{"host":"n"}', ClientRequestToken: 'pgdr-0123456789abcdef0123456789abcdef01234567' } },
      { command: 'UpdateSecretVersionStageCommand', input: { SecretId: 'arn:s', VersionStage: 'AWSCURRENT', MoveToVersionId: 'v1', RemoveFromVersionId: 'v2' } },
    ]);
  });
});

describe('SSM adapter', () => {
  test('get decrypts, selects a version as name:version, maps ParameterNotFound / ParameterVersionNotFound to undefined', async () => {
    const s = stub(new SSMClient(region), (_command, input) => {
      if (input.Name === '/gone') return named('ParameterNotFound');
      if (input.Name === '/p:9') return named('ParameterVersionNotFound');
      return { Parameter: { Name: '/p', Value: 'h:5432', Version: 3, Type: 'SecureString' } };
    });
    const target = ssmParameterTarget(s.client);
    await expect(target.get('/p')).resolves.toEqual({ value: 'h:5432', version: 3, type: 'SecureString' });
    await expect(target.get('/p', 2)).resolves.toMatchObject({ value: 'h:5432' });
    await expect(target.get('/gone')).resolves.toBeUndefined();
    await expect(target.get('/p', 9)).resolves.toBeUndefined();
    expect(s.sent.map((c) => c.input)).toEqual([
      { Name: '/p', WithDecryption: true }, { Name: '/p:2', WithDecryption: true }, { Name: '/gone', WithDecryption: true }, { Name: '/p:9', WithDecryption: true },
    ]);
  });

  test('put overwrites without naming a type (the parameter keeps its own); delete tolerates a missing parameter', async () => {
    const s = stub(new SSMClient(region), (command) => (command === 'PutParameterCommand' ? { Version: 4 } : named('ParameterNotFound')));
    const target = ssmParameterTarget(s.client);
    await expect(target.put('/p', 'n:5433')).resolves.toBe(4);
    await expect(target.delete('/p')).resolves.toBeUndefined();
    expect(s.sent[0]).toEqual({ command: 'PutParameterCommand', input: { Name: '/p', Value: 'n:5433', Overwrite: true } });
  });
});

describe('Route 53 adapter', () => {
  test('recordSets pages while the name continues, decodes escapes, stops at the next name', async () => {
    const pages = [
      {
        ResourceRecordSets: [{ Name: 'db.example.com.', Type: 'CNAME', TTL: 300, ResourceRecords: [{ Value: 'old.example.com' }] }],
        IsTruncated: true, NextRecordName: 'db.example.com.', NextRecordType: 'TXT',
      },
      {
        ResourceRecordSets: [
          { Name: 'db.example.com.', Type: 'TXT', TTL: 60, ResourceRecords: [{ Value: '"v=1"' }] },
          { Name: 'dc.example.com.', Type: 'A', TTL: 60, ResourceRecords: [{ Value: '192.0.2.1' }] },
        ],
        IsTruncated: true, NextRecordName: 'dd.example.com.', NextRecordType: 'A',
      },
    ];
    const s = stub(new Route53Client(region), () => pages.shift() ?? new Error('read past the name'));
    const found = await route53Target(s.client).recordSets('Z1', 'DB.example.com.');
    expect(found).toEqual([
      { name: 'db.example.com.', type: 'CNAME', ttl: 300, values: ['old.example.com'], alias: false, setIdentifier: null },
      { name: 'db.example.com.', type: 'TXT', ttl: 60, values: ['"v=1"'], alias: false, setIdentifier: null },
    ]);
    expect(s.sent.map((c) => [c.input.StartRecordName, c.input.StartRecordType])).toEqual([['DB.example.com.', undefined], ['db.example.com.', 'TXT']]);

    const wildcard = stub(new Route53Client(region), () => ({ ResourceRecordSets: [{ Name: '\\052.example.com.', Type: 'A', AliasTarget: { DNSName: 'lb.', HostedZoneId: 'Z2', EvaluateTargetHealth: false } }], IsTruncated: false }));
    await expect(route53Target(wildcard.client).recordSets('Z1', '*.example.com')).resolves.toEqual([
      { name: '*.example.com.', type: 'A', ttl: null, values: [], alias: true, setIdentifier: null },
    ]);
  });

  test('zoneName maps NoSuchHostedZone to undefined; change sends one UPSERT in a change batch', async () => {
    const s = stub(new Route53Client(region), (command, input) => {
      if (command === 'GetHostedZoneCommand') return input.Id === 'ZGONE' ? named('NoSuchHostedZone') : { HostedZone: { Id: input.Id, Name: 'example.com.', CallerReference: 'x' } };
      return { ChangeInfo: { Id: 'C1', Status: 'PENDING', SubmittedAt: new Date() } };
    });
    const target = route53Target(s.client);
    await expect(target.zoneName('Z1')).resolves.toBe('example.com.');
    await expect(target.zoneName('ZGONE')).resolves.toBeUndefined();
    await target.change('Z1', 'UPSERT', { name: 'db.example.com.', type: 'CNAME', ttl: 30, values: ['new.example.com.'] });
    expect(s.sent[2]).toEqual({
      command: 'ChangeResourceRecordSetsCommand',
      input: {
        HostedZoneId: 'Z1',
        ChangeBatch: {
          Comment: 'pgdr cutover: UPSERT db.example.com.',
          Changes: [{ Action: 'UPSERT', ResourceRecordSet: { Name: 'db.example.com.', Type: 'CNAME', TTL: 30, ResourceRecords: [{ Value: 'new.example.com.' }] } }],
        },
      },
    });
  });
});
