import { ArnFormat, Duration, Stack, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { CONTAINER_NAME, ENV, IMAGE_PATHS } from '../container/contract';
import type { RecoveryMode, RecoverySettings, RecoverySource, RestoreTaskSettings } from '../lambda/failover/contract';
import type { AlertTopics } from './alert-topics';
import type { BackupVault } from './backup-vault';
import { ControlFunction } from './control-function';
import { encryptedLogGroup } from './log-encryption';
import { pgdrMetric, PgdrMetricOptions } from './pgdr-metrics';
import { acknowledgeCompliance, wildcardResourceFinding } from './nag';
import { STATES } from './failover-states';
import { databasePrefix } from '../lambda/shared/layout';

/** A resolved resource ARN as cdk-nag names it in a finding: `Ref X` → `<X>`, `Fn::GetAtt [X, A]` → `<X.A>`. */
function nagResource(stack: Stack, value: string): string {
  const part = (p: unknown): string => {
    if (typeof p === 'string') return p;
    const o = p as { Ref?: string; 'Fn::GetAtt'?: [string, string]; 'Fn::Join'?: [string, unknown[]] };
    if (o.Ref) return `<${o.Ref}>`;
    if (o['Fn::GetAtt']) return `<${o['Fn::GetAtt'].join('.')}>`;
    if (o['Fn::Join']) return o['Fn::Join'][1].map(part).join(o['Fn::Join'][0]);
    throw new Error(`cannot name ${JSON.stringify(p)} in a cdk-nag finding`);
  };
  return part(stack.resolve(value));
}

/** Every recovery instance's identifier starts with this (IAM scopes RDS writes to it). */
export const RECOVERY_INSTANCE_PREFIX = 'pgdr-';

/** RDS statuses a new instance does not come back from: the run fails (and cleans up). */
export const TERMINAL_INSTANCE_STATUSES = [
  'failed',
  'incompatible-restore',
  'incompatible-parameters',
  'incompatible-network',
  'incompatible-option-group',
  'incompatible-credentials',
  'inaccessible-encryption-credentials',
  'inaccessible-encryption-credentials-recoverable',
  'restore-error',
  'storage-full',
  'deleting',
  'stopped',
  'stopping',
];

/** The ECS task on Fargate that restores a database (the `fargate` runner): what `ecs:runTask.sync` starts. */
export interface RestoreTaskRunner {
  /** The cluster the task runs in (its VPC holds `subnets`). */
  readonly cluster: ecs.ICluster;
  /** The job image's task definition; the state machine may pass its task and execution roles, nothing else. */
  readonly taskDefinition: ecs.FargateTaskDefinition;
  /** The container the overrides name. @default CONTAINER_NAME ("job", container/contract.ts) */
  readonly containerName?: string;
  /** Security groups of the task (1-5: the recovery instances must accept it, as they accept the restore Lambda). */
  readonly securityGroups: ec2.ISecurityGroup[];
  /** Subnets of the task, in the cluster's VPC (private, with routes to S3, Secrets Manager and RDS). */
  readonly subnets: ec2.SubnetSelection;
}

/** One protected database as the workflow sees it. */
export interface RecoveryDatabase {
  /** Its settings (functions and restoreTask excluded: taken from `restore`/`restoreTask`/`validate`). */
  readonly settings: Omit<RecoverySettings, 'functions' | 'restoreTask'>;
  /** The restore job (dump source) of the database as a Lambda. Exactly one of `restore` and `restoreTask`. @default none */
  readonly restore?: lambda.IFunction;
  /** The restore job as an ECS task on Fargate (`ecs:runTask.sync`). Exactly one of `restore` and `restoreTask`. @default none */
  readonly restoreTask?: RestoreTaskRunner;
  /** The validate job of the database. */
  readonly validate: lambda.IFunction;
}

/** The dimensions of a recovery metric: which database, drill or failover, from which source. */
export interface RecoveryRunKind {
  readonly database: string;
  readonly mode: RecoveryMode;
  readonly source: RecoverySource;
}

/** Properties of a {@link FailoverWorkflow}. */
export interface FailoverWorkflowProps {
  /** The vault (dumps, manifests, recovery records; its key encrypts the logs). */
  readonly vault: BackupVault;
  /** Where notifications go (critical / warning). */
  readonly topics: AlertTopics;
  /** The databases the workflow can recover (at least one). */
  readonly databases: RecoveryDatabase[];
  /** Wait between two DescribeDBInstances of the new instance. @default Duration.seconds(30) */
  readonly pollInterval?: Duration;
}

/** The state names tests and operators refer to (lib/failover-states.ts). */
export { STATES };

/** ecs:runTask.sync raises this when RunTask answers with Failures (no task started: capacity, ENI limits); a retry is safe. */
const ECS_NOT_STARTED_ERRORS = ['AmazonECS.Unknown'];
/** Transient S3 API errors as Step Functions names them. */
const S3_TRANSIENT_ERRORS = ['S3.S3Exception', 'S3.SdkClientException', 'S3.InternalErrorException', 'S3.SlowDownException'];

const LAMBDA_RETRY_ERRORS = ['Lambda.ServiceException', 'Lambda.AWSLambdaException', 'Lambda.SdkClientException', 'Lambda.TooManyRequestsException'];
/** Transient RDS API errors (throttling, service errors) as Step Functions names them. */
const RDS_TRANSIENT_ERRORS = ['Rds.RdsException', 'Rds.SdkClientException', 'Rds.ThrottlingException'];
/** The instance is busy (still creating, modifying): deletion waits for it. */
const RDS_BUSY_ERRORS = ['Rds.InvalidDbInstanceStateException'];

/**
 * The failover workflow: one Step Functions state machine per stack (JSONPath) that restores a new
 * RDS PostgreSQL instance from PITR, a snapshot or a verified dump, waits for it within the RTO,
 * proves it against the backup's manifest and the configured queries, asks for an approval, cuts
 * the application over (secret / SSM parameter / Route 53, each checked before anything is
 * created), probes a health URL, and records the measured recovery time. A drill never cuts over
 * and deletes its instance. Every Task has a Catch: a failed run never switches traffic (a failed
 * health check rolls the cutover back), notifies with the cause, deletes what it created when
 * configured, and ends in a Fail state that names the error. The data contract is
 * lambda/failover/contract.ts.
 */
export class FailoverWorkflow extends Construct {
  readonly stateMachine: sfn.StateMachine;
  readonly preflight: ControlFunction;
  readonly cutover: ControlFunction;
  readonly report: ControlFunction;
  readonly logGroup: logs.LogGroup;
  private readonly vault: BackupVault;

  constructor(scope: Construct, id: string, props: FailoverWorkflowProps) {
    super(scope, id);
    if (props.databases.length === 0) throw new Error('databases: the failover workflow needs at least one database (received none)');
    const stack = Stack.of(this);
    const { vault, topics } = props;
    this.vault = vault;
    const pollSeconds = (props.pollInterval ?? Duration.seconds(30)).toSeconds();
    if (pollSeconds < 5 || pollSeconds > 600) throw new Error(`pollInterval: must be 5 s to 10 min (received ${pollSeconds} s)`);

    this.preflight = new ControlFunction(this, 'PreflightJob', { job: 'failover/preflight', description: 'failover input validation and recovery plan', vault });
    this.cutover = new ControlFunction(this, 'CutoverJob', {
      job: 'failover/cutover',
      description: 'failover cutover targets: check, apply, roll back, health check',
      vault,
      timeout: Duration.minutes(15),
    });
    this.report = new ControlFunction(this, 'ReportJob', { job: 'failover/report', description: 'failover recovery records, metrics and notifications', vault });
    this.grantControl(props);

    const settings: Record<string, RecoverySettings> = {};
    for (const db of props.databases) {
      const restoreTask = db.restoreTask ? this.restoreTaskSettings(db.settings.database, db.restoreTask) : undefined;
      if (!db.restore === !restoreTask) {
        throw new Error(`databases[${db.settings.database}]: needs exactly one restore runner, restore (Lambda) or restoreTask (Fargate) (received ${db.restore ? 'both' : 'neither'})`);
      }
      settings[db.settings.database] = {
        ...db.settings,
        functions: { restore: db.restore?.functionArn ?? null, validate: db.validate.functionArn },
        ...(restoreTask ? { restoreTask } : {}),
      };
    }
    const taskDatabases = props.databases.filter((d) => d.restoreTask);
    const lambdaDatabases = props.databases.filter((d) => d.restore);

    const rdsArn = (resource: string, name: string) => stack.formatArn({ service: 'rds', resource, resourceName: name, arnFormat: ArnFormat.COLON_RESOURCE_NAME });
    const newInstances = rdsArn('db', `${RECOVERY_INSTANCE_PREFIX}*`);
    const sourceInstances = props.databases.flatMap((d) => (d.settings.sourceInstanceIdentifier ? [rdsArn('db', d.settings.sourceInstanceIdentifier)] : []));
    const placement = [rdsArn('subgrp', '*'), rdsArn('og', '*'), rdsArn('pg', '*')];

    // ---- states -------------------------------------------------------------------------
    const configure = new sfn.CustomState(this, STATES.configure, {
      // A CustomState: CDK drops null values from a Pass state's Parameters, and these keys must exist.
      stateJson: {
      Type: 'Pass',
      Comment: 'The run state: the input, the configured databases, and every key later states fill (JSONPath cannot add optional keys).',
      Parameters: {
        'input.$': '$$.Execution.Input',
        execution: { 'name.$': '$$.Execution.Name', 'startTime.$': '$$.Execution.StartTime' },
        databases: settings,
        topics: { critical: topics.critical.topicArn, warning: topics.warning.topicArn },
        plan: null,
        instance: null,
        restore: null,
        validation: null,
        approval: null,
        cutover: null,
        cleanup: null,
        cleanupError: null,
        failure: null,
        report: null,
        rtoNotified: false,
      },
      },
    });

    const lambdaTask = (name: string, fn: lambda.IFunction, payload: Record<string, unknown>, resultPath: string | null, timeout = Duration.minutes(2)) =>
      new tasks.LambdaInvoke(this, name, {
        lambdaFunction: fn,
        payload: sfn.TaskInput.fromObject(payload),
        payloadResponseOnly: true,
        retryOnServiceExceptions: true,
        resultPath: resultPath === null ? sfn.JsonPath.DISCARD : resultPath,
        taskTimeout: sfn.Timeout.duration(timeout),
      });
    // A database's own job, chosen by the plan (one function per database and job).
    const databaseJob = (name: string, functionPath: string, payload: Record<string, unknown>, resultPath: string, timeoutSeconds: number) =>
      new sfn.CustomState(this, name, {
        stateJson: {
          Type: 'Task',
          Resource: `arn:${stack.partition}:states:::lambda:invoke`,
          Parameters: { 'FunctionName.$': functionPath, Payload: payload },
          ResultSelector: { 'value.$': '$.Payload' },
          ResultPath: resultPath,
          TimeoutSeconds: timeoutSeconds,
        },
      }).addRetry({ errors: LAMBDA_RETRY_ERRORS, interval: Duration.seconds(2), maxAttempts: 3, backoffRate: 2 });
    const publish = (name: string, parameters: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
      new sfn.CustomState(this, name, {
        stateJson: { Type: 'Task', Resource: `arn:${stack.partition}:states:::sns:publish`, Parameters: parameters, ResultPath: null, TimeoutSeconds: 60, ...extra },
      }).addRetry({ errors: ['Sns.SnsException', 'Sns.ThrottledException', 'States.Timeout'], interval: Duration.seconds(2), maxAttempts: 3, backoffRate: 2 });
    const rdsCall = (name: string, action: string, parameters: Record<string, unknown>, resources: string[], resultSelector: Record<string, unknown> | undefined, resultPath: string | null) =>
      new tasks.CallAwsService(this, name, {
        service: 'rds',
        action,
        parameters,
        iamResources: resources,
        resultSelector,
        resultPath: resultPath === null ? sfn.JsonPath.DISCARD : resultPath,
        taskTimeout: sfn.Timeout.duration(Duration.minutes(5)),
      }).addRetry({ errors: RDS_TRANSIENT_ERRORS, interval: Duration.seconds(5), maxAttempts: 4, backoffRate: 2 });
    const catchTo = <T extends sfn.TaskStateBase | sfn.CustomState>(state: T, handler: sfn.IChainable, resultPath = '$.failure'): T => {
      state.addCatch(handler, { errors: ['States.ALL'], resultPath });
      return state;
    };

    // Failure path: clean up per plan, report, notify, fail with the error's name.
    const failRun = new sfn.Fail(this, STATES.fail, { comment: 'The run failed: no traffic was switched (or the cutover was rolled back).', errorPath: '$.failure.Error', causePath: '$.failure.Cause' });
    // Report (record + notification text), notify, fail: the failure path and the rejected input share it.
    const failedPayload = Object.fromEntries(
      ['plan', 'input', 'execution', 'instance', 'validation', 'cutover', 'failure', 'cleanup', 'cleanupError', 'topics'].map((k) => [`${k}.$`, `$.${k}`]),
    );
    const reportThenFail = (reportName: string, notifyName: string, fail: sfn.Fail) => {
      const notify = catchTo(publish(notifyName, { 'TopicArn.$': '$.report.topicArn', 'Subject.$': '$.report.subject', 'Message.$': '$.report.message' }), fail, '$.notifyError');
      notify.next(fail);
      const report = catchTo(lambdaTask(reportName, this.report.function, { action: 'failed', ...failedPayload }, '$.report'), fail, '$.reportError');
      report.next(notify);
      return report;
    };
    const reportFailure = reportThenFail(STATES.report, STATES.notifyFailure, failRun);
    // DeleteDBInstance of this run's instance (no final snapshot: a drill's or a failed run's instance holds nothing new), retried while RDS says it is busy.
    const deleteInstance = (name: string, reason: string, onError: sfn.IChainable, errorPath: string) =>
      catchTo(
        rdsCall(
          name,
          'deleteDBInstance',
          { 'DbInstanceIdentifier.$': '$.plan.instanceIdentifier', SkipFinalSnapshot: true, DeleteAutomatedBackups: true },
          [newInstances],
          { deleted: true, reason },
          '$.cleanup',
        ).addRetry({ errors: RDS_BUSY_ERRORS, interval: Duration.seconds(60), maxAttempts: 20, backoffRate: 1.2 }),
        onError,
        errorPath,
      );
    const deleteFailed = deleteInstance(STATES.deleteFailed, 'deleted after the failure (deleteOnFailure)', reportFailure, '$.cleanupError');
    deleteFailed.next(reportFailure);
    const disableProtection = catchTo(
      rdsCall(
        STATES.disableProtection,
        'modifyDBInstance',
        { 'DbInstanceIdentifier.$': '$.plan.instanceIdentifier', DeletionProtection: false, ApplyImmediately: true },
        [newInstances],
        undefined,
        null,
      ).addRetry({ errors: RDS_BUSY_ERRORS, interval: Duration.seconds(60), maxAttempts: 20, backoffRate: 1.2 }),
      reportFailure,
      '$.cleanupError',
    );
    disableProtection.next(deleteFailed);
    const keepInstance = new sfn.Pass(this, 'KeepFailedInstance', {
      result: sfn.Result.fromObject({ deleted: false, reason: 'kept for forensics (deleteOnFailure is "drill-only" or "never")' }),
      resultPath: '$.cleanup',
    }).next(reportFailure);
    const failed = new sfn.Choice(this, STATES.failed, { comment: 'Clean up what this run created, per plan.deleteOnFailure.' })
      .when(sfn.Condition.isNull('$.instance'), reportFailure)
      .when(sfn.Condition.booleanEquals('$.plan.deleteOnFailure', false), keepInstance)
      .when(sfn.Condition.booleanEquals('$.plan.rds.DeletionProtection', true), disableProtection)
      .otherwise(deleteFailed);

    // Input rejected: no plan, nothing created.
    const rejected = new sfn.Fail(this, STATES.rejected, { comment: 'The input was rejected before any RDS call: the error names the field and the rule.', errorPath: '$.failure.Error', causePath: '$.failure.Cause' });
    // Still null (Configure) for a rejected input: no plan, nothing created.
    const reportRejected = reportThenFail(STATES.inputRejected, STATES.notifyRejected, rejected);

    const preflight = catchTo(
      lambdaTask(STATES.preflight, this.preflight.function, { 'input.$': '$.input', 'execution.$': '$.execution', 'databases.$': '$.databases' }, '$.plan'),
      reportRejected,
    );
    const checkTargets = catchTo(lambdaTask(STATES.checkTargets, this.cutover.function, { action: 'check', 'plan.$': '$.plan' }, null), failed);

    // Create / restore the instance.
    // Step Functions speaks the SDK for Java 2.x member names: a leading acronym is folded (DbInstanceClass), one inside stays (SourceDBInstanceIdentifier, MultiAZ).
    const common = {
      'DbInstanceClass.$': '$.plan.rds.DBInstanceClass',
      'DbSubnetGroupName.$': '$.plan.rds.DBSubnetGroupName',
      'VpcSecurityGroupIds.$': '$.plan.rds.VpcSecurityGroupIds',
      'MultiAZ.$': '$.plan.rds.MultiAZ',
      'DeletionProtection.$': '$.plan.rds.DeletionProtection',
      'Tags.$': '$.plan.rds.Tags',
      PubliclyAccessible: false,
      CopyTagsToSnapshot: true,
    };
    // Endpoint and secret come once the instance is available (DescribeCreated/RestoredInstance).
    const created = { 'identifier.$': '$.DbInstance.DbInstanceIdentifier', 'status.$': '$.DbInstance.DbInstanceStatus' };
    const restoreResources = [newInstances, ...sourceInstances, ...placement];
    const restorePitrLatest = rdsCall(
      STATES.restorePitrLatest,
      'restoreDBInstanceToPointInTime',
      { 'SourceDBInstanceIdentifier.$': '$.plan.pitr.sourceInstanceIdentifier', 'TargetDBInstanceIdentifier.$': '$.plan.instanceIdentifier', UseLatestRestorableTime: true, ...common },
      restoreResources,
      created,
      '$.instance',
    );
    const restorePitrAt = rdsCall(
      STATES.restorePitrAt,
      'restoreDBInstanceToPointInTime',
      { 'SourceDBInstanceIdentifier.$': '$.plan.pitr.sourceInstanceIdentifier', 'TargetDBInstanceIdentifier.$': '$.plan.instanceIdentifier', 'RestoreTime.$': '$.plan.pitr.restoreTime', ...common },
      restoreResources,
      created,
      '$.instance',
    );
    const restoreSnapshot = rdsCall(
      STATES.restoreSnapshot,
      'restoreDBInstanceFromDBSnapshot',
      { 'DbInstanceIdentifier.$': '$.plan.instanceIdentifier', 'DbSnapshotIdentifier.$': '$.plan.snapshot.snapshotIdentifier', ...common },
      // Snapshot names are not known at synth (automated ones are rds:<instance>-<date>); RDS checks they belong to the account.
      [newInstances, rdsArn('snapshot', '*'), ...placement],
      created,
      '$.instance',
    );
    const createInstance = rdsCall(
      STATES.createInstance,
      'createDBInstance',
      {
        'DbInstanceIdentifier.$': '$.plan.instanceIdentifier',
        'Engine.$': '$.plan.rds.Engine',
        'EngineVersion.$': '$.plan.rds.EngineVersion',
        'AllocatedStorage.$': '$.plan.rds.AllocatedStorage',
        'MasterUsername.$': '$.plan.rds.MasterUsername',
        ManageMasterUserPassword: true,
        StorageEncrypted: true,
        'Port.$': '$.plan.rds.Port',
        ...common,
      },
      [newInstances, ...placement],
      created,
      '$.instance',
    );
    for (const s of [restorePitrLatest, restorePitrAt, restoreSnapshot, createInstance]) catchTo(s, failed);

    // Wait loop.
    const wait = new sfn.Wait(this, STATES.wait, { time: sfn.WaitTime.duration(Duration.seconds(pollSeconds)) });
    for (const s of [restorePitrLatest, restorePitrAt, restoreSnapshot, createInstance]) s.next(wait);
    const describe = catchTo(
      rdsCall(
        STATES.describe,
        'describeDBInstances',
        { 'DbInstanceIdentifier.$': '$.plan.instanceIdentifier' },
        [newInstances],
        { 'identifier.$': '$.DbInstances[0].DbInstanceIdentifier', 'status.$': '$.DbInstances[0].DbInstanceStatus' },
        '$.instance',
      ),
      failed,
    );
    wait.next(describe);
    const availableSelector = {
      'identifier.$': '$.DbInstances[0].DbInstanceIdentifier',
      'status.$': '$.DbInstances[0].DbInstanceStatus',
      'host.$': '$.DbInstances[0].Endpoint.Address',
      'port.$': '$.DbInstances[0].Endpoint.Port',
    };
    // Only an instance created with ManageMasterUserPassword (the dump source) has a managed master secret.
    const describeCreated = catchTo(
      rdsCall(
        STATES.describeCreated,
        'describeDBInstances',
        { 'DbInstanceIdentifier.$': '$.plan.instanceIdentifier' },
        [newInstances],
        { ...availableSelector, 'masterSecretArn.$': '$.DbInstances[0].MasterUserSecret.SecretArn' },
        '$.instance',
      ),
      failed,
    );
    // A copy of the source has none: a CustomState, because CDK drops the null from a ResultSelector (IAM: the describe above).
    const describeRestored = catchTo(
      new sfn.CustomState(this, STATES.describeRestored, {
        stateJson: {
          Type: 'Task',
          Resource: `arn:${stack.partition}:states:::aws-sdk:rds:describeDBInstances`,
          Parameters: { 'DbInstanceIdentifier.$': '$.plan.instanceIdentifier' },
          ResultSelector: { ...availableSelector, masterSecretArn: null },
          ResultPath: '$.instance',
          TimeoutSeconds: 300,
        },
      }).addRetry({ errors: RDS_TRANSIENT_ERRORS, interval: Duration.seconds(5), maxAttempts: 4, backoffRate: 2 }),
      failed,
    );
    const instanceFailed = new sfn.Pass(this, 'InstanceFailed', {
      parameters: { Error: 'InstanceFailed', 'Cause.$': "States.Format('the new instance {} ended in status {}: it will not become available', $.instance.identifier, $.instance.status)" },
      resultPath: '$.failure',
    }).next(failed);
    const timedOut = new sfn.Pass(this, 'RecoveryTimedOut', {
      parameters: { Error: 'RecoveryTimedOut', 'Cause.$': "States.Format('the new instance {} is still {} at the hard timeout {}', $.instance.identifier, $.instance.status, $.plan.hardDeadline)" },
      resultPath: '$.failure',
    }).next(failed);
    const markRto = new sfn.Pass(this, STATES.markRto, { result: sfn.Result.fromBoolean(true), resultPath: '$.rtoNotified' }).next(wait);
    const notifyRto = catchTo(
      publish(STATES.notifyRto, {
        'TopicArn.$': '$.topics.critical',
        'Subject.$': "States.Format('pgdr: RTO exceeded, still recovering {}', $.plan.database)",
        'Message.$':
          "States.Format('The {} of database {} ({} source, execution {}) passed its RTO of {} seconds at {}. pgdr is still recovering: the new instance {} is {}. The run goes on until {} and notifies again when it ends.', $.plan.mode, $.plan.database, $.plan.source, $.execution.name, $.plan.rtoSeconds, $.plan.rtoDeadline, $.instance.identifier, $.instance.status, $.plan.hardDeadline)",
      }),
      markRto,
      '$.notifyError',
    ).next(markRto);
    const budget = new sfn.Choice(this, STATES.budget)
      .when(sfn.Condition.timestampGreaterThanJsonPath('$.clock.now', '$.plan.hardDeadline'), timedOut)
      .when(sfn.Condition.and(sfn.Condition.timestampGreaterThanJsonPath('$.clock.now', '$.plan.rtoDeadline'), sfn.Condition.booleanEquals('$.rtoNotified', false)), notifyRto)
      .otherwise(wait);
    const clock = new sfn.Pass(this, STATES.clock, { parameters: { 'now.$': '$$.State.EnteredTime' }, resultPath: '$.clock' }).next(budget);
    const status = new sfn.Choice(this, STATES.status)
      .when(sfn.Condition.and(sfn.Condition.stringEquals('$.instance.status', 'available'), sfn.Condition.stringEquals('$.plan.source', 'dump')), describeCreated)
      .when(sfn.Condition.stringEquals('$.instance.status', 'available'), describeRestored)
      .when(sfn.Condition.or(...TERMINAL_INSTANCE_STATUSES.map((s) => sfn.Condition.stringEquals('$.instance.status', s))), instanceFailed)
      .otherwise(clock);
    describe.next(status);

    // Prove the instance.
    const instancePayload = {
      'identifier.$': '$.instance.identifier',
      'status.$': '$.instance.status',
      'host.$': '$.instance.host',
      'port.$': '$.instance.port',
      'masterSecretArn.$': '$.instance.masterSecretArn',
    };
    const validate = catchTo(
      databaseJob(STATES.validate, '$.plan.functions.validate', { 'plan.$': '$.plan', instance: instancePayload }, '$.validation', 900),
      failed,
    );
    // The job's result is under `value` (ResultSelector); later states read it at $.validation / $.restore.
    const unwrapValidation = new sfn.Pass(this, 'UnwrapValidation', { inputPath: '$.validation.value', resultPath: '$.validation' });
    validate.next(unwrapValidation);
    // The restore job's event, whichever runner runs it (lambda/restore/handler.ts RestoreEvent).
    const restoreEvent = {
      'database.$': '$.plan.database',
      'backupKey.$': '$.plan.backup.manifestKey',
      target: { 'host.$': '$.instance.host', 'port.$': '$.instance.port', 'masterSecretArn.$': '$.instance.masterSecretArn' },
      'cutoverSecretArn.$': '$.plan.cutover.secretArn',
    };
    const restoreDump = lambdaDatabases.length === 0 ? undefined : catchTo(databaseJob(STATES.restoreDump, '$.plan.functions.restore', restoreEvent, '$.restore', 900), failed);
    restoreDump?.next(new sfn.Pass(this, 'UnwrapRestore', { inputPath: '$.restore.value', resultPath: '$.restore' })).next(validate);
    // The task's result document is the entry point's ({ job, ok, result }): the restore result is under `result`.
    const unwrapRestoreTask = () => new sfn.Pass(this, 'UnwrapRestoreTask', { inputPath: '$.restore.value.result', resultPath: '$.restore' }).next(validate);
    const restoreTask = taskDatabases.length === 0 ? undefined : this.restoreTaskStates(restoreEvent, unwrapRestoreTask(), (state) => catchTo(state, failed));
    if (restoreDump && restoreTask) {
      describeCreated.next(new sfn.Choice(this, STATES.restoreRunner, { comment: 'The restore job of the database runs as a Lambda or as an ECS task on Fargate (plan.runner).' }).when(sfn.Condition.stringEquals('$.plan.runner', 'fargate'), restoreTask).otherwise(restoreDump));
    } else {
      describeCreated.next((restoreDump ?? restoreTask)!);
    }
    describeRestored.next(validate);

    // Finish: record, notify, output.
    const outputFields = {
      'database.$': '$.plan.database',
      'mode.$': '$.plan.mode',
      'source.$': '$.plan.source',
      instance: { 'identifier.$': '$.instance.identifier', 'host.$': '$.instance.host', 'port.$': '$.instance.port' },
      'cleanup.$': '$.cleanup',
    };
    const output = new sfn.Pass(this, STATES.output, {
      parameters: { ...outputFields, 'timings.$': '$.report.timings', 'recordKey.$': '$.report.recordKey', 'outcome.$': '$.report.outcome' },
    });
    const outputWithoutReport = new sfn.Pass(this, 'OutputWithoutRecord', {
      comment: 'The recovery itself succeeded; only its record or notification failed (reportError). Never roll back a recovery for that.',
      parameters: { ...outputFields, 'reportError.$': '$.reportError', outcome: 'succeeded' },
    });
    const notifySuccess = catchTo(
      publish(STATES.notifySuccess, { 'TopicArn.$': '$.report.topicArn', 'Subject.$': '$.report.subject', 'Message.$': '$.report.message' }),
      output,
      '$.notifyError',
    ).next(output);
    const finish = catchTo(
      lambdaTask(
        STATES.finish,
        this.report.function,
        {
          action: 'finish',
          'plan.$': '$.plan',
          instance: instancePayload,
          'validation.$': '$.validation',
          'cutover.$': '$.cutover',
          'restore.$': '$.restore',
          'cleanup.$': '$.cleanup',
          'topics.$': '$.topics',
        },
        '$.report',
      ),
      outputWithoutReport,
      '$.reportError',
    ).next(notifySuccess);

    const deleteDrill = deleteInstance(STATES.deleteDrill, 'drill: deleted once validated', failed, '$.failure').next(finish);

    // Cutover.
    const rolledBack = new sfn.Pass(this, 'CutoverRolledBack', {
      parameters: { 'Error.$': '$.failure.Error', 'Cause.$': "States.Format('{}; the cutover was rolled back: traffic is on the previous server again', $.failure.Cause)" },
      resultPath: '$.failure',
    });
    rolledBack.next(failed);
    const rollbackFailed = new sfn.Pass(this, 'RollbackFailed', {
      parameters: {
        Error: 'RollbackFailed',
        'Cause.$': "States.Format('{}: {}; ROLLING BACK THE CUTOVER FAILED ({}: {}): traffic may point at the new instance, check the targets by hand', $.failure.Error, $.failure.Cause, $.rollbackError.Error, $.rollbackError.Cause)",
      },
      resultPath: '$.failure',
    }).next(failed);
    const rollback = catchTo(
      lambdaTask(STATES.rollback, this.cutover.function, { action: 'rollback', 'plan.$': '$.plan', 'applied.$': '$.cutover' }, null),
      rollbackFailed,
      '$.rollbackError',
    ).next(rolledBack);
    const healthCheck = catchTo(lambdaTask(STATES.healthCheck, this.cutover.function, { action: 'health', 'plan.$': '$.plan' }, null, Duration.minutes(15)), rollback).next(finish);
    // Not(IsNull true) rather than IsNull false: the same in ASL, and aws-local-stepfunctions 3 only evaluates the first correctly.
    const hasHealthCheck = new sfn.Choice(this, STATES.hasHealthCheck).when(sfn.Condition.not(sfn.Condition.isNull('$.plan.cutover.healthCheck')), healthCheck).otherwise(finish);
    const cutover = catchTo(
      lambdaTask(STATES.cutover, this.cutover.function, { action: 'apply', 'plan.$': '$.plan', instance: instancePayload }, '$.cutover', Duration.minutes(5)),
      failed,
    ).next(hasHealthCheck);

    // Approval.
    const notApproved = new sfn.Pass(this, 'NotApproved', {
      parameters: { Error: 'Rejected', Cause: 'the approver answered without "approved": true: no cutover' },
      resultPath: '$.failure',
    }).next(failed);
    const approved = new sfn.Choice(this, STATES.approved)
      .when(sfn.Condition.and(sfn.Condition.isPresent('$.approval.approved'), sfn.Condition.booleanEquals('$.approval.approved', true)), cutover)
      .otherwise(notApproved);
    const approve = catchTo(
      new sfn.CustomState(this, STATES.approve, {
        stateJson: {
          Type: 'Task',
          Comment: 'Waits for send-task-success {"approved": true}; send-task-failure or the timeout ends the run without cutover.',
          Resource: `arn:${stack.partition}:states:::sns:publish.waitForTaskToken`,
          Parameters: {
            'TopicArn.$': '$.topics.critical',
            'Subject.$': '$.approvalMessage.subject',
            'Message.$': "States.Format('{}{}{}{}{}', $.approvalMessage.before, $$.Task.Token, $.approvalMessage.middle, $$.Task.Token, $.approvalMessage.after)",
          },
          TimeoutSecondsPath: '$.plan.approvalTimeoutSeconds',
          ResultPath: '$.approval',
        },
      }),
      failed,
    ).next(approved);
    const approvalMessage = catchTo(
      lambdaTask(STATES.approvalMessage, this.report.function, { action: 'approval', 'plan.$': '$.plan', instance: instancePayload, 'validation.$': '$.validation' }, '$.approvalMessage'),
      failed,
    ).next(approve);

    const whatNext = new sfn.Choice(this, STATES.whatNext)
      .when(sfn.Condition.stringEquals('$.plan.mode', 'drill'), deleteDrill)
      .when(sfn.Condition.booleanEquals('$.plan.cutover.any', false), finish)
      .when(sfn.Condition.stringEquals('$.plan.approval', 'required'), approvalMessage)
      .otherwise(cutover);
    const validationFailed = new sfn.Pass(this, 'ValidationFailed', {
      parameters: { Error: 'ValidationFailed', 'Cause.$': '$.validation.summary' },
      resultPath: '$.failure',
    }).next(failed);
    unwrapValidation.next(new sfn.Choice(this, STATES.validated).when(sfn.Condition.booleanEquals('$.validation.ok', true), whatNext).otherwise(validationFailed));

    const chooseSource = new sfn.Choice(this, STATES.chooseSource)
      .when(sfn.Condition.and(sfn.Condition.stringEquals('$.plan.source', 'pitr'), sfn.Condition.booleanEquals('$.plan.pitr.useLatestRestorableTime', true)), restorePitrLatest)
      .when(sfn.Condition.stringEquals('$.plan.source', 'pitr'), restorePitrAt)
      .when(sfn.Condition.stringEquals('$.plan.source', 'snapshot'), restoreSnapshot)
      .otherwise(createInstance);

    const definition = configure.next(preflight).next(checkTargets).next(chooseSource);

    // ---- the state machine --------------------------------------------------------------
    this.logGroup = encryptedLogGroup(this, 'Logs', {
      encryptionKey: vault.key,
      logGroupName: vault.logGroupName('failover'),
      retention: logs.RetentionDays.ONE_YEAR,
    });
    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      comment: 'pgdr failover: restore a new RDS instance (pitr, snapshot or dump), validate it, approve, cut over, record the recovery time',
      definitionBody: sfn.DefinitionBody.fromChainable(definition),
      queryLanguage: sfn.QueryLanguage.JSON_PATH,
      logs: { destination: this.logGroup, level: sfn.LogLevel.ALL, includeExecutionData: true },
      tracingEnabled: true,
      timeout: Duration.days(2),
    });
    const role = this.stateMachine;
    for (const db of props.databases) {
      db.restore?.grantInvoke(role);
      db.validate.grantInvoke(role);
    }
    this.grantRestoreTasks(taskDatabases);
    topics.grantPublish(role);
    this.grantManagedMasterSecretCreation();
    const acknowledge = (id: string, reason: string) => Validations.of(this.stateMachine).acknowledge({ id: `AwsSolutions-IAM5[Resource::${id}]`, reason });
    for (const fn of [this.preflight.function, this.cutover.function, this.report.function, ...props.databases.flatMap((d) => [...(d.restore ? [d.restore] : []), d.validate])]) {
      Validations.of(this.stateMachine).acknowledge({
        id: wildcardResourceFinding(fn, 'Arn', ':*'),
        reason: 'Lambda grantInvoke also names the qualified ARNs (versions/aliases) of this one function; nothing else is invocable.',
      });
    }
    const rdsFinding = (resource: string) => `arn:<AWS::Partition>:rds:<AWS::Region>:<AWS::AccountId>:${resource}`;
    acknowledge(rdsFinding(`db:${RECOVERY_INSTANCE_PREFIX}*`), `Each run creates, describes and deletes an instance named at run time (${RECOVERY_INSTANCE_PREFIX}<database>-<execution>); the prefix is what is known at synth, and no other instance is writable.`);
    for (const [kind, what] of [['og', 'option group'], ['pg', 'parameter group'], ['subgrp', 'DB subnet group']] as const) {
      acknowledge(rdsFinding(`${kind}:*`), `RDS authorizes the ${what} a new instance uses on the caller; it is the source's or RDS's default, resolved at run time, and these calls only reference it.`);
    }
    acknowledge(rdsFinding('snapshot:*'), 'RestoreDBInstanceFromDBSnapshot reads a snapshot named at run time (automated ones are rds:<instance>-<date>); Preflight only accepts snapshots of the configured source instance.');
    acknowledgeCompliance(this.stateMachine, 'IAMNoInlinePolicy', "The state machine's role carries one policy of its own, written by CDK grants scoped to the functions, topics and RDS resources of this workflow.");
    Validations.of(this.stateMachine).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'X-Ray PutTraceSegments/PutTelemetryRecords/GetSampling* and the CloudWatch Logs delivery actions of Step Functions logging take no resource; they need "*".',
    });
  }

  /** A restore task as the Configure state renders it (ARNs and ids), after checking the props. */
  private restoreTaskSettings(database: string, task: RestoreTaskRunner): RestoreTaskSettings {
    const containerName = task.containerName ?? CONTAINER_NAME;
    const prop = `databases[${database}].restoreTask`;
    if (!task.taskDefinition.findContainer(containerName)) {
      const names = task.taskDefinition.node.children.filter((c): c is ecs.ContainerDefinition => c instanceof ecs.ContainerDefinition).map((c) => c.containerName);
      throw new Error(`${prop}.containerName: must name a container of the task definition (received ${JSON.stringify(containerName)}; it has ${JSON.stringify(names)})`);
    }
    if (task.securityGroups.length < 1 || task.securityGroups.length > 5) {
      throw new Error(`${prop}.securityGroups: a Fargate task takes 1 to 5 security groups, the ones recovery instances accept (received ${task.securityGroups.length})`);
    }
    const subnets = task.cluster.vpc.selectSubnets(task.subnets).subnetIds;
    if (subnets.length === 0) throw new Error(`${prop}.subnets: selects no subnet of the cluster's VPC (received ${JSON.stringify(task.subnets)})`);
    return {
      cluster: task.cluster.clusterArn,
      taskDefinition: task.taskDefinition.taskDefinitionArn,
      containerName,
      subnets,
      securityGroups: task.securityGroups.map((g) => g.securityGroupId),
    };
  }

  /**
   * The Fargate restore: the event as a document, `ecs:runTask.sync` of the database's task (the
   * values come from the plan: one state machine serves every database), then the result the task
   * left in the vault, read into `$.restore` in the shape the restore Lambda returns. A task that
   * exits non-zero fails the state (States.TaskFailed): `guard` adds the run's Catch.
   */
  private restoreTaskStates(event: Record<string, unknown>, next: sfn.IChainable, guard: (state: sfn.CustomState) => sfn.CustomState): sfn.IChainable {
    const stack = Stack.of(this);
    const prepare = new sfn.Pass(this, STATES.prepareRestoreTask, {
      comment: 'The restore event as one document: the container reads it from PGDR_EVENT (States.JsonToString needs a path).',
      parameters: event,
      resultPath: '$.restoreRequest',
    });
    const run = guard(
      new sfn.CustomState(this, STATES.runRestoreTask, {
        stateJson: {
          Type: 'Task',
          Comment: 'Runs the restore job as an ECS task on Fargate and waits for it to stop; a non-zero exit fails the state (States.TaskFailed).',
          Resource: `arn:${stack.partition}:states:::ecs:runTask.sync`,
          Parameters: {
            LaunchType: 'FARGATE',
            'Cluster.$': '$.plan.restoreTask.cluster',
            'TaskDefinition.$': '$.plan.restoreTask.taskDefinition',
            NetworkConfiguration: {
              AwsvpcConfiguration: { 'Subnets.$': '$.plan.restoreTask.subnets', 'SecurityGroups.$': '$.plan.restoreTask.securityGroups', AssignPublicIp: 'DISABLED' },
            },
            Overrides: {
              ContainerOverrides: [
                {
                  'Name.$': '$.plan.restoreTask.containerName',
                  Command: ['node', IMAGE_PATHS.entry, 'restore'],
                  Environment: [
                    { Name: ENV.event, 'Value.$': 'States.JsonToString($.restoreRequest)' },
                    { Name: ENV.resultKey, 'Value.$': '$.plan.restoreTask.resultKey' },
                  ],
                },
              ],
            },
          },
          ResultPath: null,
          TimeoutSecondsPath: '$.plan.restoreTask.timeoutSeconds',
        },
      }).addRetry({ errors: ECS_NOT_STARTED_ERRORS, interval: Duration.seconds(30), maxAttempts: 3, backoffRate: 2 }),
    );
    const read = guard(
      new sfn.CustomState(this, STATES.readRestoreResult, {
        stateJson: {
          Type: 'Task',
          Comment: 'The result document the restore task wrote to the vault (PGDR_RESULT_KEY, container/entry.ts): { job, ok, result }, result being what the restore Lambda returns.',
          Resource: `arn:${stack.partition}:states:::aws-sdk:s3:getObject`,
          Parameters: { Bucket: this.vault.bucket.bucketName, 'Key.$': '$.plan.restoreTask.resultKey' },
          ResultSelector: { 'value.$': 'States.StringToJson($.Body)' },
          ResultPath: '$.restore',
          TimeoutSeconds: 60,
        },
      }).addRetry({ errors: S3_TRANSIENT_ERRORS, interval: Duration.seconds(2), maxAttempts: 3, backoffRate: 2 }),
    );
    return prepare.next(run).next(read).next(next);
  }

  /**
   * What `ecs:runTask.sync` needs, and nothing wider: RunTask of the restore task definitions (in
   * their cluster), Stop/DescribeTasks of tasks in those clusters, the managed rule Step Functions
   * follows ECS tasks with, PassRole of exactly the tasks' task and execution roles (to ECS only),
   * and GetObject of the results under `<database>/recoveries/` (kms:Decrypt through S3).
   */
  private grantRestoreTasks(databases: RecoveryDatabase[]): void {
    if (databases.length === 0) return;
    const stack = Stack.of(this);
    const role = this.stateMachine;
    for (const db of databases) {
      const task = db.restoreTask!;
      const { taskDefinition, cluster } = task;
      role.addToRolePolicy(new iam.PolicyStatement({ actions: ['ecs:RunTask'], resources: [taskDefinition.taskDefinitionArn], conditions: { ArnEquals: { 'ecs:cluster': cluster.clusterArn } } }));
      const tasksOfCluster = stack.formatArn({ service: 'ecs', resource: 'task', resourceName: `${cluster.clusterName}/*` });
      role.addToRolePolicy(new iam.PolicyStatement({ actions: ['ecs:StopTask', 'ecs:DescribeTasks'], resources: [tasksOfCluster] }));
      const roles = [taskDefinition.taskRole, ...(taskDefinition.executionRole ? [taskDefinition.executionRole] : [])];
      role.addToRolePolicy(
        new iam.PolicyStatement({ actions: ['iam:PassRole'], resources: roles.map((r) => r.roleArn), conditions: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } } }),
      );
      Validations.of(role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::${nagResource(stack, tasksOfCluster)}]`,
        reason: `A task's id is made by ECS when runTask.sync starts it; Stop/DescribeTasks are limited to tasks of the cluster the restore of ${db.settings.database} runs in (Step Functions' own template uses "*").`,
      });
      const results = `${databasePrefix(db.settings.database)}recoveries/*`;
      role.addToRolePolicy(new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: [this.vault.bucket.arnForObjects(results)] }));
      Validations.of(role).acknowledge({
        id: wildcardResourceFinding(this.vault.bucket, 'Arn', `/${results}`),
        reason: `The restore task's result key carries the execution (recoveryJobResultKey); the read is limited to the recoveries of ${db.settings.database}.`,
      });
    }
    role.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['events:PutTargets', 'events:PutRule', 'events:DescribeRule'],
        resources: [stack.formatArn({ service: 'events', resource: 'rule', resourceName: 'StepFunctionsGetEventsForECSTaskRule' })],
      }),
    );
    role.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['kms:Decrypt'], resources: [this.vault.key.keyArn], conditions: { StringEquals: { 'kms:ViaService': `s3.${stack.region}.amazonaws.com` } } }),
    );
  }

  /** The control functions' grants. */
  private grantControl(props: FailoverWorkflowProps): void {
    const stack = Stack.of(this);
    const { vault, databases } = props;
    // Preflight reads the records (verified backups) and describes the source instances and their snapshots.
    for (const db of databases) vault.grantReadDumps(this.preflight.function, db.settings.database);
    const rdsArn = (resource: string, name: string) => stack.formatArn({ service: 'rds', resource, resourceName: name, arnFormat: ArnFormat.COLON_RESOURCE_NAME });
    const sources = databases.flatMap((d) => (d.settings.sourceInstanceIdentifier ? [d.settings.sourceInstanceIdentifier] : []));
    if (sources.length > 0) {
      this.preflight.function.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['rds:DescribeDBInstances', 'rds:DescribeDBSnapshots'],
          resources: [...sources.map((s) => rdsArn('db', s)), rdsArn('snapshot', '*')],
        }),
      );
      Validations.of(this.preflight.function).acknowledge({
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:<AWS::Region>:<AWS::AccountId>:snapshot:*]`,
        reason: 'Snapshot names are chosen by RDS (automated: rds:<instance>-<date>) or by people; DescribeDBSnapshots reads metadata only and the code filters by the source instance.',
      });
    }
    // The report writes recovery records under <db>/recoveries/ (write-once) and reads nothing else.
    for (const db of databases) vault.grantWriteDumps(this.report.function, db.settings.database);
    // Cutover targets: exactly the configured ones.
    for (const db of databases) {
      const c = db.settings.cutover;
      if (c.secretArn) {
        const secret = secretsmanager.Secret.fromSecretCompleteArn(this, `${db.settings.database}-CutoverSecret`, c.secretArn);
        secret.grantRead(this.cutover.function);
        secret.grantWrite(this.cutover.function);
        this.cutover.function.addToRolePolicy(new iam.PolicyStatement({ actions: ['secretsmanager:UpdateSecretVersionStage', 'secretsmanager:DescribeSecret'], resources: [c.secretArn] }));
      }
      if (c.ssmParameterName) {
        this.cutover.function.addToRolePolicy(
          new iam.PolicyStatement({
            actions: ['ssm:GetParameter', 'ssm:PutParameter', 'ssm:DeleteParameter'],
            resources: [stack.formatArn({ service: 'ssm', resource: 'parameter', resourceName: c.ssmParameterName.replace(/^\//, '') })],
          }),
        );
      }
      if (c.route53) {
        this.cutover.function.addToRolePolicy(
          new iam.PolicyStatement({
            actions: ['route53:GetHostedZone', 'route53:ListResourceRecordSets', 'route53:ChangeResourceRecordSets'],
            resources: [`arn:${stack.partition}:route53:::hostedzone/${c.route53.hostedZoneId}`],
          }),
        );
      }
    }
  }

  /** CreateDBInstance with ManageMasterUserPassword: RDS creates the master secret (rds!db-…) with the caller's rights. */
  private grantManagedMasterSecretCreation(): void {
    const stack = Stack.of(this);
    const statement = new iam.PolicyStatement({
      actions: ['secretsmanager:CreateSecret', 'secretsmanager:TagResource'],
      resources: [stack.formatArn({ service: 'secretsmanager', resource: 'secret', resourceName: 'rds!*', arnFormat: ArnFormat.COLON_RESOURCE_NAME })],
    });
    this.stateMachine.addToRolePolicy(statement);
    Validations.of(this.stateMachine).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:rds!*]',
      reason: 'RDS names the managed master secret of a new instance itself (rds!db-<uuid>), so only the prefix RDS uses is known; RDS creates it with the caller\'s rights.',
    });
  }

  /**
   * The measured recovery time of drills or failovers of a database from one source
   * (`RecoverySeconds` {database, mode, source}, published by the report job on success).
   * @default Maximum over 5 minutes
   */
  metricRecoverySeconds(run: RecoveryRunKind, options: PgdrMetricOptions = {}): cloudwatch.Metric {
    return pgdrMetric('RecoverySeconds', { database: run.database, mode: run.mode, source: run.source }, options);
  }

  /** Failed runs (`RecoveryFailed` {database, mode, source}). @default Sum over 5 minutes */
  metricRecoveryFailed(run: RecoveryRunKind, options: PgdrMetricOptions = {}): cloudwatch.Metric {
    return pgdrMetric('RecoveryFailed', { database: run.database, mode: run.mode, source: run.source }, { statistic: cloudwatch.Stats.SUM, ...options });
  }

  /** Executions of the state machine that failed (AWS/States ExecutionsFailed). @default Sum over 5 minutes */
  metricFailed(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.stateMachine.metricFailed(props);
  }

  /** Executions of the state machine that hit its timeout (AWS/States ExecutionsTimedOut). @default Sum over 5 minutes */
  metricTimedOut(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.stateMachine.metricTimedOut(props);
  }
}
