/**
 * The AWS backend of the CLI (cli/contract.ts Backend): finds the deployed resources from the
 * stack's CloudFormation outputs (lib/stack-outputs.ts) and
 *   - status: the vault's records through S3 (cli/status.ts) + the database's alarms in ALARM;
 *   - backup / verify: Lambda Invoke (RequestResponse, no retry) of the database's dump / verify job;
 *   - startFailover / follow / answerApproval: Step Functions StartExecution, GetExecutionHistory
 *     (paged, then polled with the injected sleep), SendTaskSuccess / SendTaskFailure with the task
 *     token of the pending `ApproveCutover` task, read from the execution history.
 * Region and credentials come from the SDK's default chain (AWS_REGION, AWS_PROFILE, …); clients
 * are injectable for tests. Every AWS error is one line (cli/aws/errors.ts).
 */
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { CloudWatchClient, DescribeAlarmsCommand } from '@aws-sdk/client-cloudwatch';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { S3Client } from '@aws-sdk/client-s3';
import { GetExecutionHistoryCommand, HistoryEvent, SendTaskFailureCommand, SendTaskSuccessCommand, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import type { ApprovalMessage, FailoverInput } from '../../lambda/failover/contract';
import { keyTimestamp, manifestKeyOf } from '../../lambda/shared/layout';
import { Clock, seconds, systemClock } from '../../lambda/shared/ports';
import { BackupManifest, parseManifest, parseVerification, VerificationRecord } from '../../lambda/shared/records';
import { S3ObjectStore } from '../../lambda/shared/s3-store';
import type { PgdrConfig } from '../../lib/config';
import { STATES } from '../../lib/failover-states';
import { DatabaseOutputs, databaseOutputs, parseStackOutputs, StackOutputs } from '../../lib/stack-outputs';
import { ApprovalAnswer, Backend, DatabaseStatus, EXIT, FailoverOutcome, FailoverRun, WorkflowEvent } from '../contract';
import { CliError } from '../errors';
import { redactOutput, rememberSecret } from '../shared';
import { readDatabaseStatus } from '../status';
import { awsCall, awsCliError } from './errors';
import { configuredDatabase } from '../resolve';

/** The AWS clients the backend uses. */
export interface AwsClients {
  readonly cloudFormation: CloudFormationClient;
  readonly sfn: SFNClient;
  readonly lambda: LambdaClient;
  readonly cloudWatch: CloudWatchClient;
  readonly s3: S3Client;
}

export interface AwsBackendOptions {
  readonly config: PgdrConfig;
  /** Clients to use instead of new ones from the default chain (tests, another region). */
  readonly clients?: Partial<AwsClients>;
  readonly clock?: Clock;
  /** How follow() waits between two polls of the history. @default setTimeout */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Milliseconds between two polls of the history. @default 5000 */
  readonly pollMs?: number;
}

/** Clients from the SDK's default chain for those not given. Lambda: one attempt (a job is never run twice by a retry). */
function makeClients(given: Partial<AwsClients> = {}): { clients: AwsClients; created: Array<{ destroy(): void }> } {
  const created: Array<{ destroy(): void }> = [];
  const make = <T extends { destroy(): void }>(client: T | undefined, create: () => T): T => {
    if (client) return client;
    const made = create();
    created.push(made);
    return made;
  };
  return {
    clients: {
      cloudFormation: make(given.cloudFormation, () => new CloudFormationClient({})),
      sfn: make(given.sfn, () => new SFNClient({})),
      lambda: make(given.lambda, () => new LambdaClient({ maxAttempts: 1 })),
      cloudWatch: make(given.cloudWatch, () => new CloudWatchClient({})),
      s3: make(given.s3, () => new S3Client({})),
    },
    created,
  };
}

/** The client's region, or undefined when none is configured. */
async function regionOf(client: { config: { region: () => Promise<string> } }): Promise<string | undefined> {
  try {
    return await client.config.region();
  } catch {
    return undefined;
  }
}

/** OutputKey → OutputValue of the deployed `stackName` (for the runbook and the backend). */
export async function loadStackOutputs(stackName: string, clients: Partial<Pick<AwsClients, 'cloudFormation'>> = {}): Promise<Record<string, string>> {
  const client = clients.cloudFormation ?? new CloudFormationClient({});
  try {
    const region = await regionOf(client);
    const out = await awsCall({ operation: 'cloudformation:DescribeStacks', resource: `stack ${stackName}`, stackName, region }, () =>
      client.send(new DescribeStacksCommand({ StackName: stackName })),
    );
    const stack = out.Stacks?.[0];
    if (!stack) throw new CliError(`stack ${stackName} is not deployed in ${region ?? 'this region'}: run npx cdk deploy`, EXIT.environment);
    return Object.fromEntries((stack.Outputs ?? []).filter((o) => o.OutputKey && o.OutputValue !== undefined).map((o) => [o.OutputKey!, o.OutputValue!]));
  } finally {
    if (!clients.cloudFormation) client.destroy();
  }
}

/** Opens the backend of the deployed `config.stackName`: reads its outputs first (so a missing stack fails here, in one line). */
export async function openAwsBackend(options: AwsBackendOptions): Promise<AwsBackend> {
  const { clients, created } = makeClients(options.clients);
  try {
    const outputs = parseStackOutputs(options.config.stackName, await loadStackOutputs(options.config.stackName, clients));
    return new AwsBackend(options, clients, outputs, await regionOf(clients.sfn), created);
  } catch (err) {
    for (const client of created) client.destroy();
    throw err;
  }
}

const decoder = new TextDecoder();

/** Events of a history that end an execution. */
const TERMINAL = new Set(['ExecutionSucceeded', 'ExecutionFailed', 'ExecutionAborted', 'ExecutionTimedOut']);

export class AwsBackend implements Backend {
  readonly kind = 'aws' as const;
  private readonly clock: Clock;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly pollMs: number;

  constructor(
    private readonly options: AwsBackendOptions,
    readonly clients: AwsClients,
    readonly outputs: StackOutputs,
    readonly region: string | undefined,
    private readonly created: Array<{ destroy(): void }> = [],
  ) {
    this.clock = options.clock ?? systemClock;
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.pollMs = options.pollMs ?? 5000;
  }

  private get config(): PgdrConfig {
    return this.options.config;
  }

  private database(name: string) {
    return configuredDatabase(this.config, name);
  }

  private jobsOf(name: string): DatabaseOutputs {
    this.database(name);
    return databaseOutputs(this.outputs, name);
  }

  // ------------------------------------------------------------ status

  async status(database?: string): Promise<DatabaseStatus[]> {
    const dbs = database === undefined ? this.config.databases : [this.database(database)];
    const store = new S3ObjectStore(this.clients.s3, this.outputs.backupBucket);
    const now = this.clock.now();
    return Promise.all(
      dbs.map(async (db) => {
        const [vault, alarms] = await Promise.all([readDatabaseStatus(store, db, now), this.alarmsInAlarm(db.name)]);
        return {
          ...vault,
          alarmsInAlarm: alarms.names,
          alarmsKnown: alarms.problem === undefined,
          problems: alarms.problem ? [...vault.problems, alarms.problem] : vault.problems,
        };
      }),
    );
  }

  /** Names of the database's metric and composite alarms in ALARM (`<stack>-<db>-…`, not another database's longer name). */
  private async alarmsInAlarm(database: string): Promise<{ names: string[]; problem?: string }> {
    const prefix = `${this.outputs.stackName}-${database}-`;
    const others = this.config.databases.map((d) => `${this.outputs.stackName}-${d.name}-`).filter((p) => p !== prefix && p.startsWith(prefix));
    const names: string[] = [];
    try {
      let token: string | undefined;
      do {
        const out = await awsCall({ operation: 'cloudwatch:DescribeAlarms', resource: `alarms ${prefix}*`, region: this.region }, () =>
          this.clients.cloudWatch.send(
            new DescribeAlarmsCommand({ StateValue: 'ALARM', AlarmNamePrefix: prefix, AlarmTypes: ['MetricAlarm', 'CompositeAlarm'], NextToken: token, MaxRecords: 100 }),
          ),
        );
        for (const alarm of [...(out.MetricAlarms ?? []), ...(out.CompositeAlarms ?? [])]) {
          if (alarm.AlarmName && !others.some((o) => alarm.AlarmName!.startsWith(o))) names.push(alarm.AlarmName);
        }
        token = out.NextToken;
      } while (token);
    } catch (err) {
      return { names: [], problem: `alarms unknown: ${(err as Error).message}` };
    }
    return { names: names.sort() };
  }

  // ------------------------------------------------------------ jobs

  /** Invokes `functionName` and waits; a function error is one CliError line (EXIT.failed). */
  private async invoke(functionName: string, payload: unknown, what: string): Promise<unknown> {
    const out = await awsCall({ operation: 'lambda:Invoke', resource: `function ${functionName}`, region: this.region }, () =>
      this.clients.lambda.send(new InvokeCommand({ FunctionName: functionName, InvocationType: 'RequestResponse', Payload: JSON.stringify(payload) })),
    );
    const text = out.Payload ? decoder.decode(out.Payload) : '';
    if (out.FunctionError) {
      let reason = text;
      try {
        const body = JSON.parse(text) as { errorType?: string; errorMessage?: string };
        if (body.errorMessage) reason = `${body.errorType ? `${body.errorType}: ` : ''}${body.errorMessage}`;
      } catch {
        // Not JSON: the raw payload is the reason.
      }
      throw new CliError(redactOutput(`${what} failed (function ${functionName}): ${reason.replace(/\s+/g, ' ').trim().slice(0, 1000)}`), EXIT.failed);
    }
    try {
      return JSON.parse(text);
    } catch {
      throw new CliError(redactOutput(`${what}: function ${functionName} returned no JSON: ${text.slice(0, 200)}`), EXIT.failed);
    }
  }

  async backup(database: string, backupClass?: string): Promise<BackupManifest> {
    const jobs = this.jobsOf(database);
    const chosen = backupClass ?? jobs.backupClasses[0];
    if (!chosen || !jobs.backupClasses.includes(chosen)) {
      throw new CliError(`unknown backup class "${backupClass}" of ${database}: the stack has ${jobs.backupClasses.join(', ') || 'none'}`, EXIT.usage);
    }
    const result = await this.invoke(jobs.dumpFunction, { backupClass: chosen }, `backup of ${database} (${chosen})`);
    try {
      return parseManifest(JSON.stringify(result), `the result of ${jobs.dumpFunction}`);
    } catch (err) {
      throw new CliError(redactOutput(`backup of ${database}: ${(err as Error).message}`), EXIT.failed);
    }
  }

  async verify(database: string, key?: string): Promise<VerificationRecord> {
    const jobs = this.jobsOf(database);
    let event: unknown = { restoreTest: true };
    if (key !== undefined) {
      const manifestKey = manifestKeyOf(key);
      if (!manifestKey || !manifestKey.startsWith(`${database}/`)) {
        throw new CliError(`--key must be a dump (.dump or .dir/) or manifest (.manifest.json) key of ${database} (received ${JSON.stringify(key)})`, EXIT.usage);
      }
      // What EventBridge delivers for a new manifest (keys URL-encoded as S3 sends them).
      event = {
        source: 'aws.s3',
        'detail-type': 'Object Created',
        detail: { bucket: { name: this.outputs.backupBucket }, object: { key: encodeURIComponent(manifestKey).replace(/%2F/g, '/') } },
      };
    }
    const result = await this.invoke(jobs.verifyFunction, event, `verification of ${database}${key ? ` ${key}` : ''}`);
    if (result && typeof result === 'object' && 'skipped' in result) {
      throw new CliError(redactOutput(`verification of ${database} skipped: ${String((result as { skipped: unknown }).skipped)}`), EXIT.failed);
    }
    try {
      return parseVerification(JSON.stringify(result), `the result of ${jobs.verifyFunction}`);
    } catch (err) {
      throw new CliError(redactOutput(`verification of ${database}: ${(err as Error).message}`), EXIT.failed);
    }
  }

  // ------------------------------------------------------------ failover

  async startFailover(input: FailoverInput): Promise<FailoverRun> {
    this.database(input.database);
    const name = `pgdr-${input.database}-${input.mode ?? 'failover'}-${keyTimestamp(this.clock.now())}`.slice(0, 80);
    const out = await awsCall({ operation: 'states:StartExecution', resource: `state machine ${this.outputs.failoverStateMachine}`, region: this.region }, () =>
      this.clients.sfn.send(new StartExecutionCommand({ stateMachineArn: this.outputs.failoverStateMachine, name, input: JSON.stringify(input) })),
    );
    if (!out.executionArn) throw new CliError(`states:StartExecution returned no execution ARN for ${name}`, EXIT.failed);
    return { executionId: out.executionArn, where: consoleUrl(out.executionArn) };
  }

  /** Every event of the execution so far (all pages, oldest first). */
  private async history(executionArn: string): Promise<HistoryEvent[]> {
    const events: HistoryEvent[] = [];
    let token: string | undefined;
    do {
      const out = await awsCall({ operation: 'states:GetExecutionHistory', resource: `execution ${executionArn}`, region: this.region }, () =>
        this.clients.sfn.send(new GetExecutionHistoryCommand({ executionArn, includeExecutionData: true, maxResults: 1000, nextToken: token })),
      );
      events.push(...(out.events ?? []));
      token = out.nextToken;
    } while (token);
    return events;
  }

  async follow(executionId: string, onEvent: (event: WorkflowEvent) => void, signal?: AbortSignal): Promise<FailoverOutcome> {
    const reader = new HistoryReader();
    let lastId = 0;
    for (;;) {
      if (signal?.aborted) throw this.stopped(executionId);
      const events = await this.history(executionId);
      for (const event of events) {
        if ((event.id ?? 0) <= lastId) continue;
        lastId = event.id ?? lastId;
        for (const e of reader.add(event)) onEvent(e);
        if (reader.outcome) return reader.outcome;
      }
      await this.wait(signal, executionId);
    }
  }

  private stopped(executionId: string): CliError {
    return new CliError(`stopped following: the run goes on; follow it at ${consoleUrl(executionId)}`, EXIT.sigint);
  }

  /** The injected sleep, cut short by `signal`. */
  private async wait(signal: AbortSignal | undefined, executionId: string): Promise<void> {
    if (!signal) return this.sleep(this.pollMs);
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(this.stopped(executionId));
      signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      await Promise.race([this.sleep(this.pollMs), aborted]);
    } finally {
      signal.removeEventListener('abort', onAbort!);
      aborted.catch(() => undefined);
    }
  }

  async answerApproval(executionId: string, answer: ApprovalAnswer): Promise<void> {
    const events = await this.history(executionId);
    const end = events.find((e) => TERMINAL.has(e.type ?? ''));
    if (end) throw new CliError(`run ${executionId} has ended (${end.type}): there is no approval to answer`, EXIT.usage);
    const token = pendingApprovalToken(events);
    if (!token) {
      const reader = new HistoryReader();
      for (const e of events) reader.add(e);
      throw new CliError(`run ${executionId} is not waiting for approval${reader.current ? ` (it is in ${reader.current})` : ''}`, EXIT.usage);
    }
    rememberSecret(token);
    const context = { operation: answer.approve ? 'states:SendTaskSuccess' : 'states:SendTaskFailure', resource: `execution ${executionId}`, region: this.region };
    try {
      if (answer.approve) {
        await this.clients.sfn.send(new SendTaskSuccessCommand({ taskToken: token, output: JSON.stringify({ approved: true, ...(answer.comment ? { comment: answer.comment } : {}) }) }));
      } else {
        await this.clients.sfn.send(new SendTaskFailureCommand({ taskToken: token, error: 'Rejected', cause: (answer.comment ?? 'rejected with pgdr reject').slice(0, 32_000) }));
      }
    } catch (err) {
      throw awsCliError(err, context);
    }
  }

  async close(): Promise<void> {
    for (const client of this.created) client.destroy();
  }
}

/** The Step Functions console page of an execution. */
export function consoleUrl(executionArn: string): string {
  const [, partition, , region] = executionArn.split(':');
  const host = partition === 'aws-cn' ? `${region}.console.amazonaws.cn` : partition === 'aws-us-gov' ? `console.amazonaws-us-gov.com` : `${region}.console.aws.amazon.com`;
  return `https://${host}/states/home?region=${region}#/v2/executions/details/${executionArn}`;
}

const parseJson = (text: string | undefined): unknown => {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
};

/**
 * The task token of the approval the run waits for, or undefined: the newest `ApproveCutover`
 * TaskStateEntered whose task is scheduled and has not ended. The token is read from the scheduled
 * task's resolved Message, `before + token + middle + token + after` (lib/failover-workflow.ts),
 * with `before`/`middle` from the state's input (`$.approvalMessage`).
 */
export function pendingApprovalToken(events: HistoryEvent[]): string | undefined {
  const entered = [...events].reverse().find((e) => e.type === 'TaskStateEntered' && e.stateEnteredEventDetails?.name === STATES.approve);
  if (!entered) return undefined;
  const after = events.filter((e) => (e.id ?? 0) > (entered.id ?? 0));
  if (after.some((e) => ['TaskSucceeded', 'TaskFailed', 'TaskTimedOut', 'TaskStateExited', 'TaskStateAborted'].includes(e.type ?? ''))) return undefined;
  const scheduled = after.find((e) => e.type === 'TaskScheduled');
  if (!scheduled) return undefined;
  const input = parseJson(entered.stateEnteredEventDetails?.input) as { approvalMessage?: ApprovalMessage } | undefined;
  const params = parseJson(scheduled.taskScheduledEventDetails?.parameters) as { Message?: string } | undefined;
  const parts = input?.approvalMessage;
  const message = params?.Message;
  if (!parts || typeof message !== 'string' || !message.startsWith(parts.before)) return undefined;
  const end = message.indexOf(parts.middle, parts.before.length);
  const token = end > parts.before.length ? message.slice(parts.before.length, end) : undefined;
  return token && token.trim() === token ? token : undefined;
}

/** Turns history events into WorkflowEvents and, at the end, the FailoverOutcome. */
class HistoryReader {
  outcome?: FailoverOutcome;
  /** The state the run is in. */
  current?: string;
  private startedAt?: Date;
  private readonly names = new Map<number, string>();
  private readonly open = new Map<string, Date>();
  private readonly states: Array<{ name: string; enteredAt: Date; seconds: number }> = [];

  add(event: HistoryEvent): WorkflowEvent[] {
    const at = event.timestamp ?? new Date(0);
    const type = event.type ?? '';
    if (type === 'ExecutionStarted') {
      this.startedAt = at;
      return [];
    }
    if (type.endsWith('StateEntered') && event.stateEnteredEventDetails?.name) {
      const state = event.stateEnteredEventDetails.name;
      this.names.set(event.id ?? 0, state);
      this.open.set(state, at);
      this.current = state;
      return [{ type: 'state-entered', at, state }];
    }
    if (type.endsWith('StateExited') && event.stateExitedEventDetails?.name) {
      const state = event.stateExitedEventDetails.name;
      const enteredAt = this.open.get(state) ?? at;
      this.open.delete(state);
      this.states.push({ name: state, enteredAt, seconds: seconds(enteredAt, at) });
      return [{ type: 'state-exited', at, state }];
    }
    if (type === 'TaskScheduled' && this.names.get(event.previousEventId ?? -1) === STATES.approve) {
      const subject = (parseJson(event.taskScheduledEventDetails?.parameters) as { Subject?: string } | undefined)?.Subject;
      return [{ type: 'approval-requested', at, state: STATES.approve, detail: redactOutput(`${subject ? `${subject}: ` : ''}answer with pgdr approve|reject and this run's execution ARN`) }];
    }
    if (TERMINAL.has(type)) {
      const details = event.executionFailedEventDetails ?? event.executionAbortedEventDetails ?? event.executionTimedOutEventDetails;
      const status = ({ ExecutionSucceeded: 'SUCCEEDED', ExecutionFailed: 'FAILED', ExecutionAborted: 'ABORTED', ExecutionTimedOut: 'TIMED_OUT' } as const)[type as 'ExecutionSucceeded'];
      for (const [name, enteredAt] of this.open) this.states.push({ name, enteredAt, seconds: seconds(enteredAt, at) });
      this.open.clear();
      const output = parseJson(event.executionSucceededEventDetails?.output);
      const error = details?.error ?? (status === 'SUCCEEDED' ? undefined : status);
      const cause = details?.cause === undefined ? undefined : redactOutput(details.cause);
      this.outcome = {
        status,
        ...(output && typeof output === 'object' ? { output: output as Record<string, unknown> } : {}),
        ...(error ? { error } : {}),
        ...(cause ? { cause } : {}),
        startedAt: this.startedAt ?? at,
        stoppedAt: at,
        states: [...this.states].sort((a, b) => a.enteredAt.getTime() - b.enteredAt.getTime()),
      };
      return [status === 'SUCCEEDED' ? { type: 'succeeded', at } : { type: 'failed', at, ...(error ? { error } : {}), ...(cause ? { detail: cause } : {}) }];
    }
    return [];
  }
}
