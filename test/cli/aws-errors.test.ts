/**
 * Every AWS error of the CLI is one clear line with the right exit code (cli/aws/errors.ts), on the
 * real paths where they happen: openAwsBackend with no credentials (the SDK's real default chain),
 * a stack that is not deployed and a stack without pgdr's outputs (CloudFormation mocked: no
 * emulator), an unknown database, no permission and an unreachable endpoint (the real LambdaClient
 * against the local Invoke endpoint). Never a password or token in a line.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CloudFormationClient, CloudFormationClientResolvedConfig, CloudFormationServiceException, DescribeStacksCommand, ServiceInputTypes, ServiceOutputTypes } from '@aws-sdk/client-cloudformation';
import { AwsStub, mockClient } from 'aws-sdk-client-mock';
import { loadConfig } from '../../lib/config';
import { databaseOutputId } from '../../lib/stack-outputs';
import { AwsClients, loadStackOutputs, openAwsBackend } from '../../cli/aws/backend';
import { awsCliError, unknownDatabaseError } from '../../cli/aws/errors';
import { EXIT } from '../../cli/contract';
import { CliError } from '../../cli/errors';
import { startLambdaEndpoint, LambdaEndpoint } from '../support/lambda-endpoint';

const REGION = 'eu-west-1';
const config = loadConfig('pgdr.config.json');
const credentials = { accessKeyId: 'AKIDTEST', secretAccessKey: 'test' };
const OUTPUTS: Record<string, string> = {
  FailoverStateMachine: `arn:aws:states:${REGION}:123456789012:stateMachine:PgdrFailover`,
  CriticalTopic: `arn:aws:sns:${REGION}:123456789012:Pgdr-critical`,
  BackupBucket: 'pgdr-vault-123',
  [databaseOutputId('shop')]: JSON.stringify({ database: 'shop', dumpFunction: 'Pgdr-shopDump', backupClasses: ['daily'], verifyFunction: 'Pgdr-shopVerify', monitorFunction: 'Pgdr-shopMonitor' }),
};

function cloudFormation(behave: (mock: AwsStub<ServiceInputTypes, ServiceOutputTypes, CloudFormationClientResolvedConfig>) => void): CloudFormationClient {
  const client = new CloudFormationClient({ region: REGION, credentials });
  behave(mockClient(client));
  return client;
}

const withOutputs = (outputs: Record<string, string>) =>
  cloudFormation((m) => m.on(DescribeStacksCommand).resolves({ Stacks: [{ StackName: 'Pgdr', CreationTime: new Date(), StackStatus: 'CREATE_COMPLETE', Outputs: Object.entries(outputs).map(([OutputKey, OutputValue]) => ({ OutputKey, OutputValue })) }] }));

async function failure(promise: Promise<unknown>): Promise<CliError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CliError);
  expect((err as CliError).message).not.toContain('\n');
  return err as CliError;
}

let lambda: LambdaEndpoint;
beforeAll(async () => {
  lambda = await startLambdaEndpoint({}, { denied: ['Pgdr-shopDump'] });
});
afterAll(async () => {
  await lambda?.stop();
});

describe('on the real paths', () => {
  const saved = { ...process.env };
  let home: string;
  beforeEach(() => {
    home = mkdtempSync(join(tmpdir(), 'pgdr-aws-'));
  });
  afterEach(() => {
    process.env = { ...saved };
    rmSync(home, { recursive: true, force: true });
  });

  it('no credentials: the default chain finds none for the profile; one line, exit 3', async () => {
    for (const k of Object.keys(process.env)) if (k.startsWith('AWS_')) delete process.env[k];
    writeFileSync(join(home, 'config'), '[profile other]\nregion = eu-west-1\n');
    writeFileSync(join(home, 'credentials'), '');
    Object.assign(process.env, { AWS_REGION: REGION, AWS_PROFILE: 'oncall', AWS_CONFIG_FILE: join(home, 'config'), AWS_SHARED_CREDENTIALS_FILE: join(home, 'credentials'), AWS_EC2_METADATA_DISABLED: 'true' });
    const err = await failure(openAwsBackend({ config }));
    expect(err.message).toMatch(/^no AWS credentials: set AWS_PROFILE \(or run aws sso login\) or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY \(cloudformation:DescribeStacks: /);
    expect(err.exitCode).toBe(EXIT.environment);
  });

  it('stack not deployed: names the stack and the region; exit 3', async () => {
    const missing = new CloudFormationServiceException({ name: 'ValidationError', $fault: 'client', $metadata: { httpStatusCode: 400 }, message: 'Stack with id Pgdr does not exist' });
    const err = await failure(openAwsBackend({ config, clients: { cloudFormation: cloudFormation((m) => m.on(DescribeStacksCommand).rejects(missing)) } }));
    expect(err.message).toBe("stack Pgdr is not deployed in eu-west-1: run npx cdk deploy (or set AWS_REGION to the stack's region)");
    expect(err.exitCode).toBe(EXIT.environment);
  });

  it('missing output: deployed by an older pgdr; exit 3', async () => {
    const { BackupBucket: _bucket, ...rest } = OUTPUTS;
    void _bucket;
    const err = await failure(openAwsBackend({ config, clients: { cloudFormation: withOutputs(rest) } }));
    expect(err.message).toBe('stack Pgdr has no output BackupBucket: deployed with an older pgdr? run npx cdk deploy');
    expect(err.exitCode).toBe(EXIT.environment);
    expect(await loadStackOutputs('Pgdr', { cloudFormation: withOutputs(OUTPUTS) })).toEqual(OUTPUTS);
  });

  it('unknown database: exit 2, naming the configured ones', async () => {
    const backend = await openAwsBackend({ config, clients: { cloudFormation: withOutputs(OUTPUTS), lambda: lambda.client() } });
    for (const call of [backend.backup('orders'), backend.verify('orders'), backend.status('orders'), backend.startFailover({ database: 'orders', source: 'dump' })]) {
      const err = await failure(call);
      expect(err.message).toBe('unknown database "orders": the configuration has shop');
      expect(err.exitCode).toBe(EXIT.usage);
    }
    expect(lambda.invocations).toEqual([]);
  });

  it('no permission: the operation, the resource and what IAM said; exit 3', async () => {
    const backend = await openAwsBackend({ config, clients: { cloudFormation: withOutputs(OUTPUTS), lambda: lambda.client() } });
    const err = await failure(backend.backup('shop'));
    expect(err.message).toBe(
      'no permission: lambda:Invoke on function Pgdr-shopDump: User: arn:aws:sts::123456789012:assumed-role/oncall/alice is not authorized to perform: lambda:InvokeFunction on resource: arn:aws:lambda:eu-west-1:123456789012:function:Pgdr-shopDump because no identity-based policy allows the lambda:InvokeFunction action',
    );
    expect(err.exitCode).toBe(EXIT.environment);
    // A function the stack names but that is gone.
    const gone = await failure(backend.verify('shop'));
    expect(gone.message).toBe("function Pgdr-shopVerify not found: the stack's outputs name a function that is gone; run npx cdk deploy");
    expect(gone.exitCode).toBe(EXIT.environment);
  });

  it('network: an endpoint that does not answer is one line; exit 3', async () => {
    const down = await startLambdaEndpoint({});
    const client = down.client();
    await down.stop();
    const clients: Partial<AwsClients> = { cloudFormation: withOutputs(OUTPUTS), lambda: client };
    const backend = await openAwsBackend({ config, clients });
    const err = await failure(backend.backup('shop'));
    expect(err.message).toMatch(/^cannot reach AWS for lambda:Invoke on function Pgdr-shopDump: ECONNREFUSED: connect ECONNREFUSED 127\.0\.0\.1:\d+$/);
    expect(err.exitCode).toBe(EXIT.environment);
  });
});

describe('awsCliError', () => {
  const ctx = { operation: 'states:SendTaskSuccess', resource: 'execution arn:x' };
  const error = (name: string, message: string, extra: Record<string, unknown> = {}) => Object.assign(new Error(message), { name, ...extra });

  it.each([
    [error('ThrottlingException', 'Rate exceeded'), 'AWS throttled states:SendTaskSuccess on execution arn:x (ThrottlingException): try again in a minute', EXIT.environment],
    [error('ExpiredTokenException', 'The security token included in the request is expired'), 'AWS rejected the credentials (ExpiredTokenException): refresh them (aws sso login, new keys) or check AWS_PROFILE: The security token included in the request is expired', EXIT.environment],
    [error('Error', 'Region is missing'), 'no AWS region: set AWS_REGION (or a region in the profile of AWS_PROFILE)', EXIT.environment],
    [error('ExecutionDoesNotExist', 'Execution Does Not Exist: arn:x'), 'no such execution on execution arn:x: give the execution ARN that pgdr failover printed (Execution Does Not Exist: arn:x)', EXIT.usage],
    [error('InternalFailure', 'boom\nsecond line'), 'states:SendTaskSuccess on execution arn:x failed: InternalFailure: boom second line', EXIT.failed],
  ])('%s', (err, line, code) => {
    const mapped = awsCliError(err, ctx);
    expect(mapped.message).toBe(line);
    expect(mapped.exitCode).toBe(code);
  });

  it('hides a password known to this run, wherever it sits', () => {
    process.env.PGPASSWORD = 'Pg-Secret-8812';
    try {
      const mapped = awsCliError(error('InternalFailure', 'connect to postgres://app:Pg-Secret-8812@db:5432/shop failed'), ctx);
      expect(mapped.message).not.toContain('Pg-Secret-8812');
    } finally {
      delete process.env.PGPASSWORD;
    }
  });

  it('passes a CliError through and lists no databases when none are configured', () => {
    const own = new CliError('mine', EXIT.usage);
    expect(awsCliError(own, ctx)).toBe(own);
    expect(unknownDatabaseError('x', []).message).toBe('unknown database "x": the configuration has no databases');
  });
});
