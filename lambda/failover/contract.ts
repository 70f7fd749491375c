/**
 * The failover workflow's data contract, in ONE place: what the state machine (lib/failover-workflow.ts)
 * hands its Lambdas and what they return. The state machine is JSONPath: every value a Task needs
 * is computed by a Lambda (the plan) and read with a path; nothing is derived inside the definition.
 *
 * Flow (state names in the definition):
 *   Configure (Pass: `{input, execution, databases}` — the per-database RecoverySettings are rendered
 *   into the definition by the construct) → Preflight (Lambda `preflight`: PreflightEvent → RecoveryPlan,
 *   or an error named InvalidInput before any RDS call that creates anything) → CheckCutoverTargets
 *   (Lambda `cutover`, action check) → one RDS create/restore call → Wait/Describe loop with the RTO
 *   notice → RestoreDump (dump only: Lambda `restore` of the database; for a database whose restore
 *   runner is Fargate instead: RestoreRunner → PrepareRestoreTask → RunRestoreTask (ecs:runTask.sync,
 *   the restore event in PGDR_EVENT) → ReadRestoreResult (the result the task left at
 *   `plan.restoreTask.resultKey`)) → Validate (Lambda `validate`
 *   of the database: ValidateEvent → ValidationResult) → ApproveCutover (SNS publish
 *   .waitForTaskToken, message parts from Lambda `report` action approval) → Cutover (Lambda `cutover`,
 *   apply) → HealthCheck (Lambda `cutover`, action health; on failure: action rollback) → Report
 *   (Lambda `report`, action finish: recovery record + RecoverySeconds metric + the notification text)
 *   → Notify (SNS) → drill: delete the instance.
 *   Every failure: Report (action failed) → Notify → cleanup per `plan.deleteOnFailure` → Fail.
 */

export const RECOVERY_RECORD_SCHEMA_VERSION = 1;

export const RECOVERY_SOURCES = ['pitr', 'snapshot', 'dump'] as const;
export type RecoverySource = (typeof RECOVERY_SOURCES)[number];
export const RECOVERY_MODES = ['failover', 'drill'] as const;
export type RecoveryMode = (typeof RECOVERY_MODES)[number];

/** The execution input the incident commander types (validated by Preflight). */
export interface FailoverInput {
  readonly database: string;
  readonly source: RecoverySource;
  /** pitr: ISO-8601; default the latest restorable time. */
  readonly restoreTime?: string;
  /** snapshot: default the newest available. */
  readonly snapshotIdentifier?: string;
  /** dump: manifest or dump key; default the latest verified. */
  readonly backupKey?: string;
  /** @default "failover" */
  readonly mode?: RecoveryMode;
  /** @default from the configuration (failover.requireApproval) */
  readonly approval?: 'required' | 'skip';
}

export interface SmokeQuerySetting {
  readonly name: string;
  readonly sql: string;
  readonly minRows: number;
}

export interface FreshnessQuerySetting {
  readonly name: string;
  readonly sql: string;
}

/** Per-database settings the construct renders into the definition (no secrets: ARNs only). */
export interface RecoverySettings {
  readonly database: string;
  readonly sourceType: 'rds' | 'external';
  /** rds: the instance pitr/snapshot restore from. */
  readonly sourceInstanceIdentifier?: string;
  /** rds: automated backups with PITR are on. */
  readonly pointInTimeRecovery: boolean;
  /** The source's connection secret: its login also exists on a pitr/snapshot copy. */
  readonly sourceSecretArn: string;
  readonly engineMajorVersion: number;
  readonly port: number;
  readonly rpoSeconds: number;
  readonly rtoSeconds: number;
  readonly hardTimeoutSeconds: number;
  readonly approvalTimeoutSeconds: number;
  readonly requireApproval: boolean;
  readonly deleteOnFailure: 'drill-only' | 'always' | 'never';
  readonly instance: {
    readonly instanceClass: string;
    /** Default: the source's (rds), "default" (external). */
    readonly dbSubnetGroupName?: string;
    /** Default: the source's (rds), none (external). */
    readonly securityGroupIds: string[];
    readonly multiAz: boolean;
    readonly allocatedStorageGiB: number;
  };
  readonly cutover: {
    readonly secretArn?: string;
    readonly ssmParameterName?: string;
    readonly route53?: { readonly hostedZoneId: string; readonly recordName: string; readonly ttlSeconds: number };
    readonly healthCheck?: { readonly url: string; readonly timeoutSeconds: number };
  };
  readonly validation: {
    readonly rowLossTolerancePercent: number;
    readonly smokeQueries: SmokeQuerySetting[];
    readonly freshnessQueries: FreshnessQuerySetting[];
  };
  /** Lambda function ARNs of this database's restore and validate jobs (restore: null when it runs as an ECS task). */
  readonly functions: { readonly restore: string | null; readonly validate: string };
  /** The restore runs as this ECS task on Fargate instead of the restore Lambda. @default the Lambda (functions.restore) */
  readonly restoreTask?: RestoreTaskSettings;
}

/** Where a job runs: a Lambda function, or an ECS task on Fargate (issue 11). */
export const JOB_RUNNERS = ['lambda', 'fargate'] as const;
export type JobRunner = (typeof JOB_RUNNERS)[number];

/** The ECS task that restores a Fargate database (rendered by the construct: ARNs and ids, no secrets). */
export interface RestoreTaskSettings {
  /** Cluster ARN. */
  readonly cluster: string;
  /** Task definition ARN (its container runs `node /app/entry.js restore`: container/contract.ts). */
  readonly taskDefinition: string;
  /** The container the overrides name. */
  readonly containerName: string;
  /** awsvpc placement: subnet ids and security group ids. */
  readonly subnets: string[];
  readonly securityGroups: string[];
}

/** Stack-wide SNS topics by severity. */
export interface Topics {
  readonly critical: string;
  readonly warning: string;
}

/** Preflight's event: the raw input and the execution, plus the configured databases. */
export interface PreflightEvent {
  /** `$$.Execution.Input`: anything; validated here. */
  readonly input: unknown;
  readonly execution: { readonly name: string; readonly startTime: string };
  /** Keyed by database name. */
  readonly databases: Record<string, RecoverySettings>;
}

/** What the failure path did to the created instance (`$.cleanup`). */
export interface CleanupState {
  /** DeleteDBInstance was called and accepted. */
  readonly deleted: boolean;
  /** Why (e.g. "kept for forensics: deleteOnFailure is drill-only and this is a failover"). */
  readonly reason: string;
}

/** A caught error in Step Functions' shape. */
export interface CaughtError {
  readonly Error: string;
  readonly Cause: string;
}

/** A tag in the RDS API's shape. */
export interface RdsTag {
  readonly Key: string;
  readonly Value: string;
}

/**
 * Preflight's result (`$.plan`): the validated input, resolved defaults, and every RDS parameter
 * the state machine passes verbatim (all keys always present: JSONPath cannot omit a key).
 */
export interface RecoveryPlan {
  readonly schemaVersion: 1;
  readonly database: string;
  readonly source: RecoverySource;
  readonly mode: RecoveryMode;
  readonly approval: 'required' | 'skip';
  readonly execution: { readonly name: string; readonly startTime: string };
  /** The new instance: `pgdr-<db>-<execution>`, RDS identifier rules, ≤ 63 chars, unique per execution. */
  readonly instanceIdentifier: string;
  /** ISO-8601: start + rto (notified once when passed) and start + hard timeout (the run fails). */
  readonly rtoDeadline: string;
  readonly hardDeadline: string;
  readonly rtoSeconds: number;
  readonly rpoSeconds: number;
  readonly approvalTimeoutSeconds: number;
  /** pitr: `useLatestRestorableTime` xor `restoreTime`. */
  readonly pitr: { readonly sourceInstanceIdentifier: string; readonly useLatestRestorableTime: boolean; readonly restoreTime: string | null } | null;
  /** snapshot: the resolved snapshot (the newest available one when not named). */
  readonly snapshot: { readonly snapshotIdentifier: string; readonly createdAt: string | null } | null;
  /**
   * The verified backup: dump — the one restored; pitr/snapshot — the newest verified manifest the
   * recovered instance is compared with (null when the database has none: counts are then not
   * compared, and the validation summary says so).
   */
  readonly backup: { readonly manifestKey: string; readonly startedAt: string } | null;
  /** Common RDS parameters of the create/restore call. */
  readonly rds: {
    readonly DBInstanceClass: string;
    readonly DBSubnetGroupName: string;
    readonly VpcSecurityGroupIds: string[];
    readonly MultiAZ: boolean;
    readonly DeletionProtection: boolean;
    readonly Tags: RdsTag[];
    /** dump only (CreateDBInstance): */
    readonly Engine: 'postgres';
    readonly EngineVersion: string;
    readonly AllocatedStorage: number;
    readonly MasterUsername: string;
    readonly Port: number;
  };
  /** Delete the created instance when the run fails. */
  readonly deleteOnFailure: boolean;
  /** Which cutover steps run (Choice states read these). */
  readonly cutover: {
    readonly secretArn: string | null;
    readonly ssmParameterName: string | null;
    readonly route53: { readonly hostedZoneId: string; readonly recordName: string; readonly ttlSeconds: number } | null;
    readonly healthCheck: { readonly url: string; readonly timeoutSeconds: number } | null;
    /** True when any target is set (and mode is failover). */
    readonly any: boolean;
  };
  readonly validation: RecoverySettings['validation'];
  readonly sourceSecretArn: string;
  readonly port: number;
  readonly functions: RecoverySettings['functions'];
  /** Where the dump restore runs (RestoreRunner chooses by it). */
  readonly runner: JobRunner;
  /** fargate: the task, where it leaves its result, and how long it may run; lambda: null. */
  readonly restoreTask: RestoreTaskPlan | null;
}

/** The plan's restore task: the configured task plus this run's result key and time limit. */
export interface RestoreTaskPlan extends RestoreTaskSettings {
  /** `<database>/recoveries/<YYYY>/<MM>/<execution>.restore.result` (layout.ts recoveryJobResultKey): PGDR_RESULT_KEY. */
  readonly resultKey: string;
  /** The RunRestoreTask state's timeout: the database's hard timeout (the run ends there anyway). */
  readonly timeoutSeconds: number;
}

/** The new instance as the Describe loop saw it last (`$.instance`). */
export interface InstanceState {
  readonly identifier: string;
  readonly status: string;
  readonly host: string | null;
  readonly port: number | null;
  /** dump (CreateDBInstance with ManageMasterUserPassword): the managed master secret. */
  readonly masterSecretArn: string | null;
}

/** The validate Lambda's event. */
export interface ValidateEvent {
  readonly plan: RecoveryPlan;
  readonly instance: InstanceState;
}

export interface TableComparison {
  readonly table: string;
  readonly expected: number | null;
  readonly actual: number | null;
  /** Share of rows lost against the manifest, in percent (negative: more rows). */
  readonly lossPercent: number | null;
  readonly ok: boolean;
}

export interface FreshnessResult {
  readonly name: string;
  /** The newest timestamp the query returned (ISO), null when none. */
  readonly newest: string | null;
  /** The oldest acceptable: backup time minus rpo. */
  readonly notBefore: string;
  readonly ok: boolean;
  readonly error?: string;
}

/** What Validate found (`$.validation`); `ok` false routes to the failure path: no cutover. */
export interface ValidationResult {
  readonly ok: boolean;
  readonly validatedAt: string;
  /** Seconds from the execution start to `validatedAt`. */
  readonly secondsSinceStart: number;
  readonly database: string;
  readonly manifestKey: string | null;
  readonly tables: TableComparison[];
  readonly objects: { readonly what: string; readonly expected: number | null; readonly actual: number | null; readonly ok: boolean }[];
  readonly smokeQueries: { readonly name: string; readonly rows: number | null; readonly minRows: number; readonly ok: boolean; readonly error?: string }[];
  readonly freshness: FreshnessResult[];
  /** One line per failed check. */
  readonly failures: string[];
  /** Human summary (a few lines), used in the approval and the notifications. */
  readonly summary: string;
}

/** The cutover Lambda's event. */
export type CutoverEvent =
  | { readonly action: 'check'; readonly plan: RecoveryPlan }
  | { readonly action: 'apply'; readonly plan: RecoveryPlan; readonly instance: InstanceState }
  | { readonly action: 'rollback'; readonly plan: RecoveryPlan; readonly applied: CutoverResult }
  | { readonly action: 'health'; readonly plan: RecoveryPlan };

/** What a cutover changed, with what it needs to undo it. */
export interface CutoverResult {
  readonly at: string;
  readonly secondsSinceStart: number;
  readonly secret: { readonly arn: string; readonly versionId: string; readonly previousVersionId: string | null } | null;
  readonly ssm: { readonly name: string; readonly version: number; readonly previousValue: string | null } | null;
  readonly route53: { readonly hostedZoneId: string; readonly recordName: string; readonly previous: { readonly type: string; readonly ttl: number; readonly values: string[] } | null } | null;
}

/** The report Lambda's event. */
export type ReportEvent =
  | { readonly action: 'approval'; readonly plan: RecoveryPlan; readonly instance: InstanceState; readonly validation: ValidationResult }
  | {
      readonly action: 'finish';
      readonly plan: RecoveryPlan;
      readonly instance: InstanceState;
      readonly validation: ValidationResult;
      readonly cutover: CutoverResult | null;
      readonly restore: unknown;
      readonly cleanup: CleanupState | null;
      readonly topics: Topics;
    }
  | {
      readonly action: 'failed';
      /** Absent when the input was rejected (no plan). */
      readonly plan: RecoveryPlan | null;
      readonly input: unknown;
      readonly execution: { readonly name: string; readonly startTime: string };
      readonly instance: InstanceState | null;
      readonly validation: ValidationResult | null;
      readonly cutover: CutoverResult | null;
      readonly failure: CaughtError;
      readonly cleanup: CleanupState | null;
      /** The cleanup itself failed (the instance is left behind: the message says so). */
      readonly cleanupError: CaughtError | null;
      readonly topics: Topics;
    };

/**
 * `approval`: the message around the task token — the state machine publishes
 * `States.Format('{}{}{}{}{}', before, token, middle, token, after)` (the token twice: the AWS CLI
 * approve and reject commands).
 */
export interface ApprovalMessage {
  readonly subject: string;
  readonly before: string;
  readonly middle: string;
  readonly after: string;
}

/** `finish` / `failed`: the record written and the notification to publish. */
export interface ReportResult {
  readonly recordKey: string | null;
  /** finish: warning topic; failed: critical for a failover, warning for a drill or a rejected input. */
  readonly topicArn: string;
  readonly subject: string;
  readonly message: string;
  readonly outcome: 'succeeded' | 'failed';
  readonly timings: { readonly validatedSeconds: number | null; readonly cutOverSeconds: number | null };
}

/** `<db>/recoveries/YYYY/MM/<execution>.json`: one per run that got a plan. */
export interface RecoveryRecord {
  readonly schemaVersion: typeof RECOVERY_RECORD_SCHEMA_VERSION;
  readonly database: string;
  readonly execution: string;
  readonly mode: RecoveryMode;
  readonly source: RecoverySource;
  readonly input: FailoverInput;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly outcome: 'succeeded' | 'failed';
  readonly instance: { readonly identifier: string; readonly host: string | null; readonly port: number | null } | null;
  readonly backup: RecoveryPlan['backup'];
  readonly timings: {
    /** Start → validated, seconds (the measured RTO of a drill). */
    readonly validatedSeconds: number | null;
    /** Start → traffic switched, seconds (the measured RTO of a failover). */
    readonly cutOverSeconds: number | null;
    readonly rtoSeconds: number;
    readonly rtoMet: boolean | null;
  };
  readonly validation: { readonly ok: boolean; readonly failures: string[]; readonly summary: string } | null;
  readonly cutover: CutoverResult | null;
  readonly failure: { readonly error: string; readonly cause: string } | null;
  readonly cleanup: CleanupState | null;
}
