/**
 * Runs the failover workflow as deployed: the definition is read from the SYNTHESIZED template
 * (never a hand-built copy), its CloudFormation tokens resolved to ARNs, and executed by
 * aws-local-stepfunctions. Every Task is routed by its Resource, the way Step Functions would:
 *   - a Lambda function ARN, or `arn:aws:states:::lambda:invoke` with `FunctionName`: the local
 *     handler of that function (the real handler code, wired to local adapters by the test);
 *   - `arn:aws:states:::aws-sdk:rds:*`: the RDS simulator (`sim.sdkTask`: strict Parameters in the
 *     Step Functions spelling, errors named `Rds.<Name>Exception`);
 *   - `arn:aws:states:::sns:publish`: recorded in `notifications`;
 *   - `arn:aws:states:::sns:publish.waitForTaskToken`: recorded, then answered by the approver
 *     (a fixed answer for tests, or an async callback: the CLI's local approvals), as
 *     `send-task-success`/`-failure` or the timeout would;
 *   - `arn:aws:states:::ecs:runTask.sync`: the local stand-in of the task definition's container
 *     (`localJobContainer`: the real handler behind the container contract), with the overrides'
 *     command and environment; a non-zero exit fails the state with `States.TaskFailed` and the
 *     stopped task as the cause, as Step Functions does;
 *   - `arn:aws:states:::aws-sdk:s3:getObject`: the local vault (errors `S3.NoSuchKeyException`).
 * `onEvent` follows the run live (states entered and exited, approval requested, with their
 * time); `signal` aborts the execution (status ABORTED).
 * Waits and retry intervals are overridden to 0 (no real sleeping). The Context Object gives
 * `$$.State.EnteredTime` a clock the test chooses (the RTO and hard-timeout checks read it) and
 * `$$.Task.Token` a token.
 */
import { CfnElement, Stack } from 'aws-cdk-lib';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { IConstruct } from 'constructs';
import type { Template } from 'aws-cdk-lib/assertions';
import { ExecutionAbortedError, ExecutionError, StateMachine } from 'aws-local-stepfunctions';
import type { WorkflowEvent } from '../cli/contract';
import { ENV, EXIT_USAGE } from '../container/contract';
import { runToDocument } from '../container/entry';
import type { ObjectStore } from '../lambda/shared/ports';
import type { PgdrStack } from '../lib/pgdr-stack';
import { Definition, failoverDefinition as definitionOf, localFunctionArn, localTaskDefinitionArn, TemplateJson } from '../lib/synthesize';
import type { RdsSimulator } from './rds-simulator';

// aws-local-stepfunctions 3 uses Promise.withResolvers (Node 22+); Node 20 lacks it.
const P = Promise as unknown as { withResolvers?: <T>() => { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } };
if (!P.withResolvers) {
  P.withResolvers = <T>() => {
    let resolve!: (v: T) => void;
    let reject!: (e: unknown) => void;
    const promise = new Promise<T>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  };
}

export const ACCOUNT = '123456789012';
export const REGION = 'eu-west-1';

type Json = Record<string, unknown>;
export type { Definition };

/** A Lambda handler as the state machine calls it. */
export type LocalHandler = (event: never) => Promise<unknown>;

/** What the definition's tokens resolve to when it runs locally. */
export const LOCAL_TOKENS = { account: ACCOUNT, region: REGION };
const TOKENS = LOCAL_TOKENS;

/** The ARN a resolved `Fn::GetAtt [X, Arn]` of a function gets. */
export const functionArn = (logicalId: string) => localFunctionArn(TOKENS, logicalId);

/** The failover state machine's definition from a synthesized template, tokens resolved (`logicalId`: which state machine, @default the stack's). */
export function failoverDefinition(template: Template, logicalId?: string): Definition {
  return definitionOf(template.toJSON() as TemplateJson, TOKENS, logicalId);
}

/** The ARN a resolved `Ref` of a task definition gets. */
export const taskDefinitionArn = (logicalId: string) => localTaskDefinitionArn(TOKENS, logicalId);

/** The logical id of a function (or any construct with a CloudFormation resource) in the stack (what `functionArn` names). */
export function logicalIdOf(stack: PgdrStack, fn: IFunction | IConstruct): string {
  return Stack.of(stack).getLogicalId(fn.node.defaultChild as CfnElement);
}

/** A container as `ecs:runTask.sync` runs it, locally: the overrides' command and environment in, its exit code out. */
export type LocalContainerTask = (run: { readonly command: readonly string[]; readonly environment: Readonly<Record<string, string>> }) => Promise<number>;

/** What the runner needs besides Lambda handlers and RDS. */
export interface LocalServices {
  /** Task definition ARN (as the definition names it: `taskDefinitionArn`) → its container's stand-in. @default none */
  readonly tasks?: Record<string, LocalContainerTask>;
  /** The vault, for `aws-sdk:s3:getObject` (the results tasks leave). @default none */
  readonly store?: Pick<ObjectStore, 'getText'>;
}

/**
 * A job as the container entry point runs it (container/contract.ts, container/entry.ts
 * `runToDocument`): the event from PGDR_EVENT, the result document written to the vault at
 * PGDR_RESULT_KEY, and the entry point's exit code (EXIT_USAGE when PGDR_EVENT is not JSON).
 * `onError` sees the error, if any.
 */
export function localJobContainer(job: LocalHandler, store: Pick<ObjectStore, 'putText'>, onError?: (err: unknown) => void): LocalContainerTask {
  return async ({ environment }) => {
    let event: unknown;
    try {
      event = JSON.parse(environment[ENV.event] ?? '');
    } catch (err) {
      onError?.(err);
      return EXIT_USAGE;
    }
    const { doc, code } = await runToDocument('restore', () => job(event as never), onError);
    const key = environment[ENV.resultKey];
    if (key) await store.putText(key, `${JSON.stringify(doc)}\n`, { contentType: 'application/json' });
    return code;
  };
}

/** An answer to an approval request. */
export type ApprovalVerdict = 'approve' | 'reject' | 'timeout';

export interface Notification {
  readonly state: string;
  readonly topicArn: string;
  readonly subject: string;
  readonly message: string;
}

/** An approval request as an approver callback sees it. */
export interface ApprovalRequest extends Notification {
  readonly executionName: string;
  readonly taskToken: string;
}

/** What the approver does with an approval request: a fixed answer (tests), or a callback that decides. */
export type Approver = ApprovalVerdict | 'no-answer-field' | ((request: ApprovalRequest) => Promise<ApprovalVerdict>);

export interface RunOptions {
  /** `$$.State.EnteredTime` for the whole run. @default now */
  readonly now?: Date;
  readonly approver?: Approver;
  /** Execution name. @default a unique one */
  readonly executionName?: string;
  /** Called before each Task runs (state name, effective input); may throw to inject a failure. */
  readonly beforeTask?: (state: string, input: Json) => void | Promise<void>;
  /** Called for each state entered/exited and each approval request, as it happens. */
  readonly onEvent?: (event: WorkflowEvent) => void;
  /** Aborts the execution (the result's status is then ABORTED). */
  readonly signal?: AbortSignal;
}

export interface RunResult {
  readonly status: 'SUCCEEDED' | 'FAILED' | 'ABORTED';
  readonly output?: Json;
  readonly error?: string;
  readonly cause?: string;
  /** The states entered, in order. */
  readonly path: string[];
  readonly notifications: Notification[];
  readonly executionName: string;
  readonly taskToken: string;
}

let runs = 0;

/** Runs the synthesized definition with local handlers and the RDS simulator. */
export class FailoverRunner {
  readonly definition: Definition;
  private readonly handlers = new Map<string, LocalHandler>();

  constructor(
    definition: Definition,
    private readonly sim: RdsSimulator,
    handlers: Record<string, LocalHandler>,
    private readonly services: LocalServices = {},
  ) {
    this.definition = definition;
    for (const [arn, handler] of Object.entries(handlers)) this.handlers.set(arn, handler);
  }

  /** The Task states of the definition (names) with their Resource. */
  tasks(): Array<[string, string]> {
    return Object.entries(this.definition.States)
      .filter(([, s]) => s.Type === 'Task')
      .map(([name, s]) => [name, s.Resource ?? '']);
  }

  async run(input: unknown, options: RunOptions = {}): Promise<RunResult> {
    const executionName = options.executionName ?? `run-${process.pid}-${++runs}`;
    const taskToken = `token-${executionName}`;
    const notifications: Notification[] = [];
    const path: string[] = [];
    const taskHandlers: Record<string, (input: Json) => Promise<unknown>> = {};
    for (const [name, resource] of this.tasks()) {
      taskHandlers[name] = async (taskInput: Json) => {
        await options.beforeTask?.(name, taskInput);
        return this.runTask(name, resource, taskInput, notifications, options.approver ?? 'approve', { executionName, taskToken, onEvent: options.onEvent });
      };
    }
    const zero = (type: string) => Object.fromEntries(Object.entries(this.definition.States).filter(([, s]) => s.Type === type || (type === 'Retry' && s.Retry)).map(([n]) => [n, 0]));
    const machine = new StateMachine(localDefinition(this.definition) as never, { validationOptions: { checkArn: false, checkPaths: true } });
    const execution = machine.run(input as never, {
      overrides: { taskResourceLocalHandlers: taskHandlers as never, waitTimeOverrides: zero('Wait'), retryIntervalOverrides: zero('Retry') },
      context: { Execution: { Name: executionName }, State: { EnteredTime: (options.now ?? new Date()).toISOString() }, Task: { Token: taskToken } } as never,
    });
    const collect = (async () => {
      for await (const event of execution.eventLogs) {
        const e = event as { type: string; timestamp: number; state?: { name: string } };
        if (e.type === 'StateEntered' && e.state) path.push(e.state.name);
        if ((e.type === 'StateEntered' || e.type === 'StateExited') && e.state) {
          options.onEvent?.({ type: e.type === 'StateEntered' ? 'state-entered' : 'state-exited', state: e.state.name, at: new Date(e.timestamp) });
        }
      }
    })();
    const abort = () => execution.abort();
    if (options.signal?.aborted) abort();
    options.signal?.addEventListener('abort', abort, { once: true });
    try {
      const output = (await execution.result) as Json;
      await collect;
      return { status: 'SUCCEEDED', output, path, notifications, executionName, taskToken };
    } catch (err) {
      await collect.catch(() => undefined);
      if (err instanceof ExecutionAbortedError) return { status: 'ABORTED', error: 'Aborted', cause: String(options.signal?.reason ?? 'aborted'), path, notifications, executionName, taskToken };
      if (!(err instanceof ExecutionError)) throw err;
      const cause = (err as Error & { cause?: { name?: string; message?: string } }).cause;
      return { status: 'FAILED', error: cause?.name, cause: cause?.message, path, notifications, executionName, taskToken };
    } finally {
      options.signal?.removeEventListener('abort', abort);
    }
  }

  private async runTask(
    name: string,
    resource: string,
    input: Json,
    notifications: Notification[],
    approver: Approver,
    run: { executionName: string; taskToken: string; onEvent?: (event: WorkflowEvent) => void },
  ): Promise<unknown> {
    if (resource.startsWith('arn:aws:states:::aws-sdk:rds:')) return this.sim.sdkTask(resource, input);
    if (resource === 'arn:aws:states:::sns:publish' || resource === 'arn:aws:states:::sns:publish.waitForTaskToken') {
      notifications.push({ state: name, topicArn: String(input.TopicArn), subject: String(input.Subject ?? ''), message: String(input.Message) });
      if (resource === 'arn:aws:states:::sns:publish') return { MessageId: `m-${notifications.length}` };
      if (approver === 'no-answer-field') return { comment: 'looks fine' };
      const request: ApprovalRequest = { ...notifications[notifications.length - 1], executionName: run.executionName, taskToken: run.taskToken };
      // The approver sends the request first; the event then says it is out.
      const answer = typeof approver === 'function' ? approver(request) : Promise.resolve(approver);
      run.onEvent?.({ type: 'approval-requested', state: name, at: new Date(), detail: request.message });
      const verdict = await answer;
      if (verdict === 'approve') return { approved: true };
      if (verdict === 'reject') throw named('Rejected', 'rejected by the on-call engineer');
      throw named('States.Timeout', 'the approval request timed out');
    }
    if (resource === 'arn:aws:states:::lambda:invoke') {
      const handler = this.handler(String(input.FunctionName), name);
      return { StatusCode: 200, Payload: roundTrip(await handler(roundTrip(input.Payload) as never)) };
    }
    if (resource.startsWith('arn:aws:lambda:')) return roundTrip(await this.handler(resource, name)(roundTrip(input) as never));
    if (resource === 'arn:aws:states:::ecs:runTask.sync') return this.runContainer(name, input);
    if (resource === 'arn:aws:states:::aws-sdk:s3:getObject') {
      const key = String(input.Key);
      if (!this.services.store) throw new Error(`${name}: no local store for ${resource}`);
      const stored = await this.services.store.getText(key);
      if (!stored) throw named('S3.NoSuchKeyException', `The specified key does not exist. (Service: S3, Status Code: 404): ${key}`);
      return { Body: stored.text, ContentLength: Buffer.byteLength(stored.text), ContentType: 'application/json' };
    }
    throw new Error(`${name}: no local route for the resource ${resource}`);
  }

  /** RunTask and wait, as `ecs:runTask.sync`: the result is the stopped task (DescribeTasks' shape). */
  private async runContainer(state: string, input: Json): Promise<unknown> {
    const definition = String(input.TaskDefinition);
    const task = this.services.tasks?.[definition];
    if (!task) throw new Error(`${state}: no local container for the task definition ${definition} (known: ${Object.keys(this.services.tasks ?? {}).join(', ')})`);
    const override = ((input.Overrides as Json | undefined)?.ContainerOverrides as Json[] | undefined)?.[0] ?? {};
    const environment = Object.fromEntries(((override.Environment as { Name: string; Value: string }[] | undefined) ?? []).map((e) => [e.Name, e.Value]));
    const exitCode = await task({ command: (override.Command as string[] | undefined) ?? [], environment });
    const stopped = {
      TaskArn: `arn:aws:ecs:${REGION}:${ACCOUNT}:task/local/${++runs}`,
      ClusterArn: input.Cluster,
      TaskDefinitionArn: definition,
      LaunchType: 'FARGATE',
      LastStatus: 'STOPPED',
      StopCode: 'EssentialContainerExited',
      StoppedReason: 'Essential container in task exited',
      Containers: [{ Name: override.Name, LastStatus: 'STOPPED', ExitCode: exitCode }],
    };
    if (exitCode !== 0) throw named('States.TaskFailed', JSON.stringify(stopped));
    return stopped;
  }

  private handler(arn: string, state: string): LocalHandler {
    const handler = this.handlers.get(arn);
    if (!handler) throw new Error(`${state}: no local handler for ${arn} (known: ${[...this.handlers.keys()].join(', ')})`);
    return handler;
  }
}

/**
 * The definition as the local interpreter can run it. One difference is bridged: Step Functions
 * resolves `TimeoutSecondsPath` against the state's input, aws-local-stepfunctions 3 against the
 * Parameters it built (where `$.plan…` does not exist), so the path is dropped here; the timeout is
 * what the test's approver simulates (`States.Timeout`), and test/infra/failover.test.ts checks the
 * path in the synthesized definition.
 */
function localDefinition(definition: Definition): Definition {
  const states = Object.fromEntries(
    Object.entries(definition.States).map(([name, state]) => {
      const copy: Json = { ...state };
      delete copy.TimeoutSecondsPath;
      return [name, copy];
    }),
  );
  return { ...definition, States: states as Definition['States'] };
}

/** Lambda payloads travel as JSON: what a handler returns is what Step Functions sees. */
function roundTrip(value: unknown): unknown {
  return value === undefined ? null : JSON.parse(JSON.stringify(value));
}

function named(name: string, message: string): Error {
  const err = new Error(message);
  err.name = name;
  return err;
}

/** asl-validator's verdict on a definition. */
export function aslErrors(definition: Definition): string[] {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const validator = require('asl-validator') as (d: unknown) => { isValid: boolean; errorsText: (sep?: string) => string };
  const result = validator(definition);
  return result.isValid ? [] : result.errorsText('\n').split('\n');
}
