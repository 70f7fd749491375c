/**
 * The AWS backend (cli/aws/backend.ts) against local parts wherever one exists:
 *   - S3: s3rver holding REAL records (dumps and verification records made by the real cores);
 *   - Lambda: the real LambdaClient against a local Invoke endpoint (test/support/lambda-endpoint.ts)
 *     that runs the real dump and verify cores against a real PostgreSQL cluster and s3rver;
 *   - the SDK client mock only for control-plane reads with no emulator (CloudFormation
 *     DescribeStacks, CloudWatch DescribeAlarms) and for Step Functions (history, start,
 *     send-task), with events shaped as the Step Functions API returns them.
 * No sleeps: follow() gets an injected sleep that advances the mocked history.
 */
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { CloudWatchClient, DescribeAlarmsCommand, DescribeAlarmsCommandInput } from '@aws-sdk/client-cloudwatch';
import {
  GetExecutionHistoryCommand,
  GetExecutionHistoryCommandInput,
  HistoryEvent,
  SendTaskFailureCommand,
  SendTaskSuccessCommand,
  SFNClient,
  StartExecutionCommand,
  StopExecutionCommand,
  TaskTimedOut,
} from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { approvalMessage } from '../../lambda/failover/report/core';
import { keysFromDumpKey } from '../../lambda/shared/layout';
import type { BackupManifest } from '../../lambda/shared/records';
import { loadConfig, PgdrConfig } from '../../lib/config';
import { STATES } from '../../lib/failover-workflow';
import { databaseOutputId, DatabaseOutputs } from '../../lib/stack-outputs';
import { AwsBackend, consoleUrl, openAwsBackend, pendingApprovalToken } from '../../cli/aws/backend';
import { EXIT, WorkflowEvent } from '../../cli/contract';
import { CliError } from '../../cli/errors';
import { FIXTURE_INSTANCE, recoveryPlan, validationResult } from '../support/failover-fixtures';
import { harness, Harness } from '../support/harness';
import { LambdaEndpoint, startLambdaEndpoint } from '../support/lambda-endpoint';
import { PgCluster } from '../../local/pg-cluster';
import { startTestS3, TestS3 } from '../support/s3-server';

const PASSWORD = 'Src-Pw-4f1a-aws-backend';
const STACK = 'Pgdr';
const REGION = 'eu-west-1';
const MACHINE = `arn:aws:states:${REGION}:123456789012:stateMachine:PgdrFailover1234`;
const base = loadConfig('pgdr.config.json');
const shop = base.databases[0];
/** Two databases, one name a prefix of the other (alarm names must not mix). */
const config: PgdrConfig = { ...base, databases: [shop, { ...shop, name: 'shop-eu' }] };

const jobs = (database: string): DatabaseOutputs => ({
  database,
  dumpFunction: `Pgdr-${database}DumpJobFunction-AbC123`,
  backupClasses: ['daily', 'predeploy'],
  verifyFunction: `Pgdr-${database}VerifyJobFunction-DeF456`,
  monitorFunction: `Pgdr-${database}MonitorFunction-GhI789`,
});

let source: PgCluster;
let s3: TestS3;
let lambda: LambdaEndpoint;
let good: Harness;
let broken: Harness;

function outputsFor(bucket: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    FailoverStateMachine: MACHINE,
    CriticalTopic: `arn:aws:sns:${REGION}:123456789012:Pgdr-critical`,
    BackupBucket: bucket,
    [databaseOutputId('shop')]: JSON.stringify(jobs('shop')),
    [databaseOutputId('shop-eu')]: JSON.stringify(jobs('shop-eu')),
    'shopJobSecurityGroups': 'sg-1,sg-2',
    ...extra,
  };
}

/** A CloudFormation client whose DescribeStacks returns the stack with `outputs` (mocked: no emulator). */
function cloudFormation(outputs: Record<string, string>): CloudFormationClient {
  const client = new CloudFormationClient({ region: REGION, credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test' } });
  mockClient(client)
    .on(DescribeStacksCommand, { StackName: STACK })
    .resolves({
      Stacks: [
        {
          StackName: STACK,
          StackId: `arn:aws:cloudformation:${REGION}:123456789012:stack/${STACK}/0b5c`,
          CreationTime: new Date('2026-11-01T00:00:00Z'),
          StackStatus: 'UPDATE_COMPLETE',
          Outputs: Object.entries(outputs).map(([OutputKey, OutputValue]) => ({ OutputKey, OutputValue })),
        },
      ],
    });
  return client;
}

const sfnClient = () => new SFNClient({ region: REGION, credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test' } });

async function open(options: { cloudWatch?: CloudWatchClient; sfn?: SFNClient; now?: Date; sleep?: (ms: number) => Promise<void> } = {}): Promise<AwsBackend> {
  return openAwsBackend({
    config,
    clients: {
      cloudFormation: cloudFormation(outputsFor(s3.bucket)),
      s3: s3.client,
      lambda: lambda.client(),
      cloudWatch: options.cloudWatch ?? new CloudWatchClient({ region: REGION, credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test' } }),
      sfn: options.sfn ?? sfnClient(),
    },
    clock: { now: () => options.now ?? new Date() },
    sleep: options.sleep,
    pollMs: 1000,
  });
}

beforeAll(async () => {
  [source, s3] = await Promise.all([PgCluster.start({ password: PASSWORD }), startTestS3()]);
  await source.createDatabase('shop');
  await source.sql('shop', `CREATE TABLE orders (id int PRIMARY KEY, note text); INSERT INTO orders SELECT g, 'n' || g FROM generate_series(1, 3000) g;`);
  good = harness(source, s3, 'shop', 'shop');
  // shop-eu's dump connects to a database that does not exist: a real pg_dump failure.
  broken = harness(source, s3, 'shop-eu', 'no_such_database');
  const verifyHandler = (h: Harness) => async (event: unknown) => {
    const e = event as { restoreTest?: boolean; detail?: { object: { key: string } } };
    return e.restoreTest ? h.verify({ restoreTest: true }) : h.verify({ manifestKey: decodeURIComponent(e.detail!.object.key), restoreTest: false });
  };
  lambda = await startLambdaEndpoint({
    [jobs('shop').dumpFunction]: (event) => good.dump({}, (event as { backupClass: string }).backupClass),
    [jobs('shop').verifyFunction]: verifyHandler(good),
    [jobs('shop-eu').dumpFunction]: (event) => broken.dump({}, (event as { backupClass: string }).backupClass),
  });
}, 120_000);

afterAll(async () => {
  await Promise.allSettled([lambda?.stop(), s3?.stop(), source?.stop()]);
});

describe('backup and verify: the deployed jobs through Lambda Invoke', () => {
  let manifest: BackupManifest;

  it('backup invokes the database dump function with its class and returns the real manifest', async () => {
    const backend = await open();
    manifest = await backend.backup('shop', 'predeploy');
    expect(lambda.invocations.at(-1)).toEqual({ name: jobs('shop').dumpFunction, event: { backupClass: 'predeploy' } });
    expect(manifest).toMatchObject({ database: 'shop', backupClass: 'predeploy', sourceDatabase: 'shop' });
    expect(manifest.rowCounts['public.orders']).toBe(3000);
    expect(await s3.keys('shop/predeploy/')).toEqual(expect.arrayContaining([manifest.dump.key, keysFromDumpKey(manifest.dump.key).manifest]));
    // Default class: the first one the stack has.
    const daily = await backend.backup('shop');
    expect(daily.backupClass).toBe('daily');
    await backend.close();
  });

  it('verify with a key sends the S3 Object Created event of its manifest; without one, a restore test of the newest', async () => {
    const backend = await open();
    const record = await backend.verify('shop', manifest.dump.key);
    expect(lambda.invocations.at(-1)!.event).toEqual({
      source: 'aws.s3',
      'detail-type': 'Object Created',
      detail: { bucket: { name: s3.bucket }, object: { key: keysFromDumpKey(manifest.dump.key).manifest } },
    });
    expect(record).toMatchObject({ ok: true, dumpKey: manifest.dump.key, level: 1 });
    const tested = await backend.verify('shop');
    expect(lambda.invocations.at(-1)!.event).toEqual({ restoreTest: true });
    expect(tested).toMatchObject({ ok: true, level: 2 });
    expect(tested.restoreTest!.rowCountMismatches).toEqual([]);
  });

  it('a failed dump is one line with the function error, without the password, exit 1', async () => {
    const backend = await open();
    const err = await backend.backup('shop-eu').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CliError);
    const { message, exitCode } = err as CliError;
    expect(exitCode).toBe(EXIT.failed);
    expect(message).toMatch(new RegExp(`^backup of shop-eu \\(daily\\) failed \\(function ${jobs('shop-eu').dumpFunction}\\): \\w+: .*no_such_database`));
    expect(message).not.toContain('\n');
    expect(message).not.toContain(PASSWORD);
    // The dump core left no manifest behind.
    expect((await s3.keys('shop-eu/')).filter((k) => k.endsWith('.manifest.json'))).toEqual([]);
  });

  it('rejects an unknown backup class and a key of another database before invoking anything', async () => {
    const backend = await open();
    const before = lambda.invocations.length;
    await expect(backend.backup('shop', 'weekly')).rejects.toMatchObject({ message: 'unknown backup class "weekly" of shop: the stack has daily, predeploy', exitCode: EXIT.usage });
    await expect(backend.verify('shop', 'other/daily/2026/11/20/other_daily_2026-11-20T03-00-00-000Z.dump')).rejects.toMatchObject({ exitCode: EXIT.usage });
    expect(lambda.invocations.length).toBe(before);
  });
});

describe('status: the vault over S3 and the alarms in ALARM', () => {
  it('reads the real records and the database own alarms, paged, metric and composite', async () => {
    const cw = new CloudWatchClient({ region: REGION, credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test' } });
    const alarms = ['Pgdr-shop-backup-age', 'Pgdr-shop-eu-backup-age', 'Pgdr-shop-restore-test-failed', 'Pgdr-shop-at-risk'];
    const cwMock = mockClient(cw);
    // As CloudWatch filters by prefix, one alarm per page.
    cwMock.on(DescribeAlarmsCommand).callsFake((input: DescribeAlarmsCommandInput) => {
      const matching = alarms.filter((a) => a.startsWith(input.AlarmNamePrefix!));
      const index = input.NextToken ? Number(input.NextToken) : 0;
      const name = matching[index];
      const page = name === undefined ? [] : [{ AlarmName: name, StateValue: 'ALARM' }];
      return {
        MetricAlarms: name && !name.endsWith('at-risk') ? page : [],
        CompositeAlarms: name?.endsWith('at-risk') ? page : [],
        NextToken: index + 1 < matching.length ? String(index + 1) : undefined,
      };
    });
    const now = new Date(Date.now() + 3600_000);
    const backend = await open({ cloudWatch: cw, now });
    const [status] = await backend.status('shop');
    expect(status.database).toBe('shop');
    expect(status.alarmsKnown).toBe(true);
    expect(status.alarmsInAlarm).toEqual(['Pgdr-shop-at-risk', 'Pgdr-shop-backup-age', 'Pgdr-shop-restore-test-failed']);
    expect(cwMock.commandCalls(DescribeAlarmsCommand)[0].args[0].input).toMatchObject({ StateValue: 'ALARM', AlarmNamePrefix: 'Pgdr-shop-', AlarmTypes: ['MetricAlarm', 'CompositeAlarm'] });
    // Pgdr-shop-eu-… matches the prefix too: 4 pages, and it is left out.
    expect(cwMock.commandCalls(DescribeAlarmsCommand).length).toBe(4);
    // From the records the jobs above wrote.
    expect(status.newestBackup?.backupClass).toBe('daily');
    expect(status.newestVerified).toBeDefined();
    expect(status.lastRestoreTest?.ok).toBe(true);
    expect(status.estimatedRtoSeconds).toBeGreaterThan(0);
    expect(status.withinRpo).toBe(true);
    // Every configured database when none is named.
    const all = await backend.status();
    expect(all.map((s) => s.database)).toEqual(['shop', 'shop-eu']);
    expect(all[1].alarmsInAlarm).toEqual(['Pgdr-shop-eu-backup-age']);
  });

  it('alarms that cannot be read are a problem line, not a failure', async () => {
    const cw = new CloudWatchClient({ region: REGION, credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test' } });
    const denied = Object.assign(new Error('User: arn:aws:sts::123456789012:assumed-role/oncall/alice is not authorized to perform: cloudwatch:DescribeAlarms'), { name: 'AccessDenied', $metadata: { httpStatusCode: 403 } });
    mockClient(cw).on(DescribeAlarmsCommand).rejects(denied);
    const backend = await open({ cloudWatch: cw });
    const [status] = await backend.status('shop');
    expect(status.alarmsKnown).toBe(false);
    expect(status.alarmsInAlarm).toEqual([]);
    expect(status.problems).toContain('alarms unknown: no permission: cloudwatch:DescribeAlarms on alarms Pgdr-shop-*: User: arn:aws:sts::123456789012:assumed-role/oncall/alice is not authorized to perform: cloudwatch:DescribeAlarms');
    expect(status.newestBackup).toBeDefined();
  });
});

// ---------------------------------------------------------------- Step Functions

const EXECUTION = `arn:aws:states:${REGION}:123456789012:execution:PgdrFailover1234:pgdr-shop-failover-2026-11-26T02-00-00-000Z`;
const TOKEN = 'AQCEAAAAKgAAAAMAAAAAAAAAAfV2Zk+7lSYz3c9/Q1hJ4rG2x0Oe5pX9n8kA0b1C2d3E4f5G6h7I8j9K0l==';
const T0 = Date.parse('2026-11-26T02:00:00.000Z');
const plan = recoveryPlan({ secretArn: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:app-AbCdEf' }, { approval: 'required', database: 'shop' });
const parts = approvalMessage(plan, FIXTURE_INSTANCE, validationResult(600), new Date(T0 + 600_000));

/** A history as GetExecutionHistory returns it, built event by event (ids, previousEventId, timestamps). */
class History {
  readonly events: HistoryEvent[] = [];
  private lastStateEntered = 0;
  private at(seconds: number): Date {
    return new Date(T0 + seconds * 1000);
  }
  private push(seconds: number, event: Omit<HistoryEvent, 'id' | 'timestamp' | 'previousEventId'>, previous?: number): number {
    const id = this.events.length + 1;
    this.events.push({ id, previousEventId: previous ?? id - 1, timestamp: this.at(seconds), ...event } as HistoryEvent);
    return id;
  }
  started(): this {
    this.push(0, { type: 'ExecutionStarted', executionStartedEventDetails: { input: JSON.stringify({ database: 'shop', source: 'pitr' }), inputDetails: { truncated: false }, roleArn: 'arn:aws:iam::123456789012:role/PgdrFailoverRole' } }, 0);
    return this;
  }
  /** A Lambda task state: entered, scheduled, started, succeeded, exited. */
  lambdaTask(name: string, from: number, to: number): this {
    const entered = this.push(from, { type: 'TaskStateEntered', stateEnteredEventDetails: { name, input: '{}', inputDetails: { truncated: false } } });
    this.push(from, { type: 'TaskScheduled', taskScheduledEventDetails: { resourceType: 'lambda', resource: 'invoke', region: REGION, parameters: '{"FunctionName":"arn:aws:lambda:eu-west-1:123456789012:function:x","Payload":{}}' } }, entered);
    this.push(from, { type: 'TaskStarted', taskStartedEventDetails: { resourceType: 'lambda', resource: 'invoke' } });
    this.push(to, { type: 'TaskSucceeded', taskSucceededEventDetails: { resourceType: 'lambda', resource: 'invoke', output: '{}', outputDetails: { truncated: false } } });
    this.push(to, { type: 'TaskStateExited', stateExitedEventDetails: { name, output: '{}', outputDetails: { truncated: false } } });
    return this;
  }
  pass(name: string, at: number, kind: 'Pass' | 'Choice' = 'Pass'): this {
    this.push(at, { type: `${kind}StateEntered`, stateEnteredEventDetails: { name, input: '{}', inputDetails: { truncated: false } } });
    this.push(at, { type: `${kind}StateExited`, stateExitedEventDetails: { name, output: '{}', outputDetails: { truncated: false } } });
    return this;
  }
  /** ApproveCutover entered and its sns:publish.waitForTaskToken scheduled and submitted: the run waits. */
  approvalWaiting(at: number): this {
    const input = { plan, approvalMessage: parts, topics: { critical: 'arn:aws:sns:eu-west-1:123456789012:Pgdr-critical' } };
    this.lastStateEntered = this.push(at, { type: 'TaskStateEntered', stateEnteredEventDetails: { name: STATES.approve, input: JSON.stringify(input), inputDetails: { truncated: false } } });
    const parameters = { TopicArn: input.topics.critical, Subject: parts.subject, Message: `${parts.before}${TOKEN}${parts.middle}${TOKEN}${parts.after}` };
    this.push(at, { type: 'TaskScheduled', taskScheduledEventDetails: { resourceType: 'sns', resource: 'publish.waitForTaskToken', region: REGION, parameters: JSON.stringify(parameters), timeoutInSeconds: 1800 } }, this.lastStateEntered);
    this.push(at, { type: 'TaskStarted', taskStartedEventDetails: { resourceType: 'sns', resource: 'publish.waitForTaskToken' } });
    this.push(at, { type: 'TaskSubmitted', taskSubmittedEventDetails: { resourceType: 'sns', resource: 'publish.waitForTaskToken', output: '{"MessageId":"5b1c"}', outputDetails: { truncated: false } } });
    return this;
  }
  approved(at: number): this {
    this.push(at, { type: 'TaskSucceeded', taskSucceededEventDetails: { resourceType: 'sns', resource: 'publish.waitForTaskToken', output: '{"approved":true}', outputDetails: { truncated: false } } });
    this.push(at, { type: 'TaskStateExited', stateExitedEventDetails: { name: STATES.approve, output: '{}', outputDetails: { truncated: false } } });
    return this;
  }
  succeeded(at: number, output: Record<string, unknown>): this {
    this.push(at, { type: 'ExecutionSucceeded', executionSucceededEventDetails: { output: JSON.stringify(output), outputDetails: { truncated: false } } });
    return this;
  }
  failed(at: number, error: string, cause: string): this {
    this.push(at, { type: 'FailStateEntered', stateEnteredEventDetails: { name: STATES.fail, input: '{}', inputDetails: { truncated: false } } });
    this.push(at, { type: 'ExecutionFailed', executionFailedEventDetails: { error, cause } });
    return this;
  }
}

/** A mocked SFN client whose GetExecutionHistory pages `history.events` (3 per page, like a small maxResults). */
function sfnWith(history: History) {
  const client = sfnClient();
  const mock = mockClient(client);
  mock.on(GetExecutionHistoryCommand).callsFake((input: GetExecutionHistoryCommandInput) => {
    const from = input.nextToken ? Number(input.nextToken) : 0;
    const page = history.events.slice(from, from + 3);
    return { events: page, nextToken: from + 3 < history.events.length ? String(from + 3) : undefined };
  });
  return { client, mock };
}

describe('failover: start, follow, approve', () => {
  it('starts the state machine with a named execution and the input, and points at the console', async () => {
    const { client, mock } = sfnWith(new History());
    mock.on(StartExecutionCommand).callsFake((input) => ({ executionArn: `arn:aws:states:${REGION}:123456789012:execution:PgdrFailover1234:${input.name}`, startDate: new Date(T0) }));
    const backend = await open({ sfn: client, now: new Date(T0) });
    const run = await backend.startFailover({ database: 'shop', source: 'dump', mode: 'drill', approval: 'skip' });
    const sent = mock.commandCalls(StartExecutionCommand)[0].args[0].input;
    expect(sent).toEqual({ stateMachineArn: MACHINE, name: 'pgdr-shop-drill-2026-11-26T02-00-00-000Z', input: JSON.stringify({ database: 'shop', source: 'dump', mode: 'drill', approval: 'skip' }) });
    expect(run.executionId).toBe(`arn:aws:states:${REGION}:123456789012:execution:PgdrFailover1234:pgdr-shop-drill-2026-11-26T02-00-00-000Z`);
    expect(run.where).toBe(`https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/${run.executionId}`);
    expect(consoleUrl(run.executionId)).toBe(run.where);
    await expect(backend.startFailover({ database: 'nope', source: 'dump' })).rejects.toMatchObject({ exitCode: EXIT.usage });
  });

  it('follows the history page by page, polling with the injected sleep, to the outcome', async () => {
    const history = new History().started().pass('Configure', 0).lambdaTask('Preflight', 1, 3).lambdaTask('Validate', 400, 600).pass('CutoverOrDrill', 600, 'Choice').approvalWaiting(601);
    const { client, mock } = sfnWith(history);
    const steps = [
      () => history.approved(900).lambdaTask('Cutover', 900, 930),
      () => history.succeeded(940, { database: 'shop', outcome: 'succeeded', cutOverSeconds: 930 }),
    ];
    let sleeps = 0;
    const sleep = async (ms: number) => {
      expect(ms).toBe(1000);
      steps[sleeps++]();
    };
    const backend = await open({ sfn: client, sleep });
    const events: WorkflowEvent[] = [];
    const outcome = await backend.follow(EXECUTION, (e) => events.push(e));
    expect(sleeps).toBe(2);
    expect(mock.commandCalls(GetExecutionHistoryCommand)[0].args[0].input).toMatchObject({ executionArn: EXECUTION, includeExecutionData: true });
    expect(events.map((e) => `${e.type}${e.state ? ` ${e.state}` : ''}`)).toEqual([
      'state-entered Configure', 'state-exited Configure',
      'state-entered Preflight', 'state-exited Preflight',
      'state-entered Validate', 'state-exited Validate',
      'state-entered CutoverOrDrill', 'state-exited CutoverOrDrill',
      'state-entered ApproveCutover', 'approval-requested ApproveCutover', 'state-exited ApproveCutover',
      'state-entered Cutover', 'state-exited Cutover',
      'succeeded',
    ]);
    const approval = events.find((e) => e.type === 'approval-requested')!;
    expect(approval.detail).toContain(parts.subject);
    expect(approval.detail).not.toContain(TOKEN);
    expect(outcome).toMatchObject({ status: 'SUCCEEDED', output: { outcome: 'succeeded', cutOverSeconds: 930 }, startedAt: new Date(T0), stoppedAt: new Date(T0 + 940_000) });
    expect(outcome.states.map((s) => [s.name, s.seconds])).toEqual([
      ['Configure', 0], ['Preflight', 2], ['Validate', 200], ['CutoverOrDrill', 0], ['ApproveCutover', 299], ['Cutover', 30],
    ]);
  });

  it('reports a failed run with its error and cause', async () => {
    const history = new History().started().pass('Configure', 0).lambdaTask('Preflight', 1, 2).failed(5, 'InvalidInput', 'input.source: must be one of pitr, snapshot, dump (received "tape")');
    const backend = await open({ sfn: sfnWith(history).client, sleep: async () => fail('no poll after the end') });
    const events: WorkflowEvent[] = [];
    const outcome = await backend.follow(EXECUTION, (e) => events.push(e));
    expect(events.at(-1)).toMatchObject({ type: 'failed', error: 'InvalidInput', detail: 'input.source: must be one of pitr, snapshot, dump (received "tape")' });
    expect(outcome).toMatchObject({ status: 'FAILED', error: 'InvalidInput' });
    expect(outcome.states.map((s) => s.name)).toEqual(['Configure', 'Preflight', STATES.fail]);
  });

  it('an abort stops following without stopping the execution', async () => {
    const history = new History().started().pass('Configure', 0);
    const { client, mock } = sfnWith(history);
    const controller = new AbortController();
    const backend = await open({ sfn: client, sleep: () => new Promise(() => controller.abort()) });
    const err = await backend.follow(EXECUTION, () => undefined, controller.signal).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CliError);
    expect((err as CliError).message).toBe(`stopped following: the run goes on; follow it at ${consoleUrl(EXECUTION)}`);
    expect((err as CliError).exitCode).toBe(EXIT.sigint);
    expect(mock.commandCalls(StopExecutionCommand)).toEqual([]);
  });

  it('approve sends the task token of the pending approval with {"approved": true, "comment"}', async () => {
    const history = new History().started().lambdaTask('Validate', 1, 300).approvalWaiting(301);
    expect(pendingApprovalToken(history.events)).toBe(TOKEN);
    const { client, mock } = sfnWith(history);
    mock.on(SendTaskSuccessCommand).resolves({});
    mock.on(SendTaskFailureCommand).resolves({});
    const backend = await open({ sfn: client });
    await backend.answerApproval(EXECUTION, { approve: true, comment: 'alice: checked the orders' });
    expect(mock.commandCalls(SendTaskSuccessCommand)[0].args[0].input).toEqual({ taskToken: TOKEN, output: JSON.stringify({ approved: true, comment: 'alice: checked the orders' }) });
    await backend.answerApproval(EXECUTION, { approve: false, comment: 'data looks stale' });
    expect(mock.commandCalls(SendTaskFailureCommand)[0].args[0].input).toEqual({ taskToken: TOKEN, error: 'Rejected', cause: 'data looks stale' });
  });

  it('a run not waiting for approval, or ended, is one clear line; a stale token is never shown', async () => {
    const busy = new History().started().lambdaTask('Preflight', 1, 2).pass('ChooseSource', 3, 'Choice');
    busy.events.push({ id: busy.events.length + 1, previousEventId: busy.events.length, timestamp: new Date(T0 + 4000), type: 'TaskStateEntered', stateEnteredEventDetails: { name: 'RestoreDump', input: '{}' } });
    await expect((await open({ sfn: sfnWith(busy).client })).answerApproval(EXECUTION, { approve: true })).rejects.toMatchObject({
      message: `run ${EXECUTION} is not waiting for approval (it is in RestoreDump)`,
      exitCode: EXIT.usage,
    });
    const answered = new History().started().approvalWaiting(1).approved(2);
    expect(pendingApprovalToken(answered.events)).toBeUndefined();
    const ended = new History().started().approvalWaiting(1).approved(2).succeeded(3, {});
    await expect((await open({ sfn: sfnWith(ended).client })).answerApproval(EXECUTION, { approve: true })).rejects.toMatchObject({
      message: `run ${EXECUTION} has ended (ExecutionSucceeded): there is no approval to answer`,
      exitCode: EXIT.usage,
    });
    // The approval timed out between the read and the answer: AWS's message quotes the token.
    const waiting = new History().started().approvalWaiting(1);
    const { client, mock } = sfnWith(waiting);
    mock.on(SendTaskSuccessCommand).rejects(new TaskTimedOut({ message: `Task Timed Out: '${TOKEN}'`, $metadata: { httpStatusCode: 400 } }));
    const err = await (await open({ sfn: client })).answerApproval(EXECUTION, { approve: true }).catch((e: unknown) => e);
    expect((err as CliError).message).toBe(`the approval on execution ${EXECUTION} is no longer pending (TaskTimedOut): the run timed out, was answered or ended`);
    expect((err as CliError).message).not.toContain(TOKEN);
    expect((err as CliError).exitCode).toBe(EXIT.failed);
    // Any other refusal quoting the token: the line shows the rest, never the token.
    const again = sfnWith(waiting);
    again.mock.on(SendTaskFailureCommand).rejects(Object.assign(new Error(`Invalid token '${TOKEN}' for execution`), { name: 'InternalFailure' }));
    const other = await (await open({ sfn: again.client })).answerApproval(EXECUTION, { approve: false }).catch((e: unknown) => e);
    expect((other as CliError).message).toMatch(/^states:SendTaskFailure on execution .* failed: InternalFailure: Invalid token '.+' for execution$/);
    expect((other as CliError).message).not.toContain(TOKEN);
  });
});
