/**
 * The CLI's contract, in ONE place: what a command asks of a backend, and what the local drill
 * reports. Two backends implement {@link Backend}: `cli/aws/` (the deployed stack, found from its
 * CloudFormation outputs) and `cli/local/` (`--local`: PostgreSQL clusters under `.pgdr/`, the
 * local S3 server, the synthesized state machine in the local interpreter with the RDS simulator).
 * Commands (cli/commands/*.ts) talk to a Backend only, so `--local` runs the same command code.
 */
import type { FailoverInput } from '../lambda/failover/contract';
import type { BackupManifest, VerificationRecord } from '../lambda/shared/records';

/** The exit codes of every command (documented in `--help` and the README). */
export const EXIT = {
  ok: 0,
  /** A step failed, a verification failed, a failover failed, or an objective was missed. */
  failed: 1,
  /** Bad usage or input: unknown database, malformed URL, invalid configuration, unknown option. */
  usage: 2,
  /** AWS is not reachable as needed: no credentials, stack not deployed, no permission. */
  environment: 3,
  /** Interrupted (128 + signal number). */
  sigint: 130,
  sigterm: 143,
} as const;

/** One backup as status shows it. */
export interface BackupSummary {
  /** Dump key in the vault. */
  readonly key: string;
  readonly backupClass: string;
  /** When the dump's snapshot was taken (ISO 8601). */
  readonly at: string;
  readonly ageSeconds: number;
  readonly bytes: number;
}

/** A database's recovery posture: `pgdr status`. */
export interface DatabaseStatus {
  readonly database: string;
  readonly rpoSeconds: number;
  readonly rtoSeconds: number;
  readonly newestBackup?: BackupSummary;
  readonly newestVerified?: BackupSummary;
  /** newestVerified age ≤ RPO (false when there is none). */
  readonly withinRpo: boolean;
  /** The newest restore test (from the newest verification record that ran one). */
  readonly lastRestoreTest?: { readonly at: string; readonly seconds: number; readonly ok: boolean };
  /** The newest recovery record (drill or failover). */
  readonly lastRecovery?: { readonly at: string; readonly mode: 'drill' | 'failover'; readonly source: string; readonly ok: boolean; readonly seconds?: number; readonly withinRto?: boolean };
  /** The monitor's estimate (lambda/monitor/core.ts estimateRtoSeconds) from the records. */
  readonly estimatedRtoSeconds?: number;
  /** Names of the stack's alarms for this database in ALARM (local: always empty, `alarmsKnown` false). */
  readonly alarmsInAlarm: string[];
  readonly alarmsKnown: boolean;
  /** What could not be read (one line each), never fatal to the rest. */
  readonly problems: string[];
}

/** One event of a following failover run. */
export interface WorkflowEvent {
  readonly type: 'state-entered' | 'state-exited' | 'approval-requested' | 'succeeded' | 'failed';
  readonly at: Date;
  /** The state (state-entered/-exited, approval-requested). */
  readonly state?: string;
  /** failed: error name and cause; approval-requested: the approval message. */
  readonly error?: string;
  readonly detail?: string;
}

/** A started failover or drill. */
export interface FailoverRun {
  /** Execution ARN (AWS) or local execution name: what `pgdr approve|reject` take. */
  readonly executionId: string;
  /** Where to watch it: a console URL (AWS) or the local record path. */
  readonly where: string;
}

/** How a followed run ended. */
export interface FailoverOutcome {
  readonly status: 'SUCCEEDED' | 'FAILED' | 'ABORTED' | 'TIMED_OUT';
  /** The state machine's output (SUCCEEDED). */
  readonly output?: Record<string, unknown>;
  readonly error?: string;
  readonly cause?: string;
  readonly startedAt: Date;
  readonly stoppedAt: Date;
  /** States in order, with their time. */
  readonly states: ReadonlyArray<{ readonly name: string; readonly enteredAt: Date; readonly seconds: number }>;
}

export interface ApprovalAnswer {
  readonly approve: boolean;
  readonly comment?: string;
}

/** What a command needs of AWS or of the local world. Every method throws CliError (one clear line) on failure. */
export interface Backend {
  readonly kind: 'aws' | 'local';
  /** Status of `database`, or of every configured database. */
  status(database?: string): Promise<DatabaseStatus[]>;
  /** Runs the dump job now and waits; resolves to its manifest. */
  backup(database: string, backupClass?: string): Promise<BackupManifest>;
  /** Runs the verify job on `key` (default the newest backup) and waits. */
  verify(database: string, key?: string): Promise<VerificationRecord>;
  /** Starts the failover state machine. */
  startFailover(input: FailoverInput): Promise<FailoverRun>;
  /** Follows a run until it ends, calling `onEvent` for each event (history so far first). */
  follow(executionId: string, onEvent: (event: WorkflowEvent) => void, signal?: AbortSignal): Promise<FailoverOutcome>;
  /** Answers the pending approval of a run (send-task-success/-failure with its task token). */
  answerApproval(executionId: string, answer: ApprovalAnswer): Promise<void>;
  close(): Promise<void>;
}

/** The database name `pgdr drill --local` uses when none is given (the embedded default's targets). */
export const DEFAULT_DRILL_DATABASE = 'drill';

/** The steps of a local drill, in order. */
export const DRILL_STEPS = ['prepare-source', 'backup', 'verify', 'failover', 'validate', 'teardown'] as const;
export type DrillStepName = (typeof DRILL_STEPS)[number];

/** Progress of a drill, for a live display. */
export type DrillProgress =
  | { readonly type: 'step-started'; readonly step: DrillStepName; readonly at: Date }
  | { readonly type: 'step-ended'; readonly step: DrillStepName; readonly at: Date; readonly result: DrillStep }
  | { readonly type: 'workflow'; readonly event: WorkflowEvent };

/** One step of a local drill. */
export interface DrillStep {
  readonly name: DrillStepName;
  readonly ok: boolean;
  readonly seconds: number;
  /** One line: what it did or why it failed. */
  readonly detail: string;
}

/** `pgdr drill --local --json`: one JSON object. */
export interface DrillReport {
  readonly ok: boolean;
  readonly database: string;
  readonly source: 'dump' | 'pitr' | 'snapshot';
  /**
   * rpoSeconds: the data a recovery at the end of the drill would lose = drill end − the recovered
   * backup's snapshot time; rtoSeconds: failover start → new instance validated.
   */
  readonly measured: { readonly rpoSeconds: number; readonly rtoSeconds: number };
  readonly targets: { readonly rpoSeconds: number; readonly rtoSeconds: number };
  readonly steps: DrillStep[];
  /** Rows and tables of the source and of the recovered instance. */
  readonly data?: { readonly tables: number; readonly rows: number; readonly recoveredRows: number };
  /** Each failure, one line (objective missed, step failed). */
  readonly failures: string[];
  readonly executionId?: string;
}
