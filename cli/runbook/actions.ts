/**
 * What on-call does for each runbook section an alarm names (lib/database-alarms.ts RUNBOOK; the
 * prose is docs/alarms.md), as concrete steps for one database of one stack. Keyed by the section
 * keys, so a new section does not compile until it has its actions here.
 */
import type { DatabaseConfig } from '../../lib/config';
import { RUNBOOK } from '../../lib/database-alarms';

export type RunbookSection = keyof typeof RUNBOOK;

/** What the actions of an alarm may name. */
export interface ActionContext {
  /** The database the alarm watches (undefined: stack-wide). */
  readonly db?: DatabaseConfig;
  readonly stackName: string;
  /** Shell-ready value or placeholder of the BackupBucket output. */
  readonly bucket: string;
  /** Shell-ready value or placeholder of the FailoverStateMachine output. */
  readonly stateMachine: string;
  /** The recovery dashboard's name. */
  readonly dashboard: string;
  /** The log group of a job of the database (`dump`, `verify`, `restore`, `failover/validate`, `monitor`) or of the stack (`failover`). */
  readonly logGroup: (job: string) => string;
}

const code = (text: string) => `\`${text}\``;

const classesOf = (db: DatabaseConfig | undefined) => db?.backupClasses.map((c) => c.name) ?? [];

/** The section key of a section heading, or undefined when it is not one of pgdr's. */
export function sectionKey(heading: string | undefined): RunbookSection | undefined {
  return (Object.keys(RUNBOOK) as RunbookSection[]).find((k) => RUNBOOK[k] === heading);
}

export const ACTIONS: Record<RunbookSection, (c: ActionContext) => string[]> = {
  rpo: (c) => {
    const name = c.db?.name ?? '<database>';
    const first = classesOf(c.db)[0] ?? 'daily';
    return [
      `See where it stands: ${code(`pgdr status ${name}`)} and the ${code(c.dashboard)} dashboard; check this database's stale-*, backup-failed-* and verify-failed alarms.`,
      `Read the pointer: ${code(`aws s3 cp s3://${c.bucket}/${name}/latest-verified.json -`)} (a missing or revoked pointer counts as no verified backup).`,
      `Take a backup now and verify it: ${code(`pgdr backup ${name} --class ${first}`)} then ${code(`pgdr verify ${name}`)}.`,
      c.db?.source.type === 'rds' && c.db.source.pointInTimeRecovery
        ? `With PITR the alarm reads the PITR lag: check the instance's automated backups (${code(`aws rds describe-db-instances --db-instance-identifier ${c.db.source.instanceIdentifier} --query "DBInstances[0].[LatestRestorableTime,BackupRetentionPeriod]"`)}).`
        : `Read the dump and verify logs: ${code(`aws logs tail ${c.logGroup('dump')} --since 26h`)}, ${code(`aws logs tail ${c.logGroup('verify')} --since 26h`)}.`,
    ];
  },
  stale: (c) => [
    `The class's schedule stopped, its dumps fail or its verifications fail: look at its backup-failed-* and the verify-failed alarms, and the schedules (EventBridge Scheduler console, group of stack ${c.stackName}).`,
    `Logs: ${code(`aws logs tail ${c.logGroup('dump')} --since 26h`)} and ${code(`aws logs tail ${c.logGroup('verify')} --since 26h`)}; run one by hand with ${code(`pgdr backup ${c.db?.name ?? '<database>'} --class <class>`)}.`,
  ],
  backupFailed: (c) => [
    `Read why: ${code(`aws logs tail ${c.logGroup('dump')} --since 2h`)} (the error names the cause: credentials, network, pg_dump version, disk, S3).`,
    `Fix it, then ${code(`pgdr backup ${c.db?.name ?? '<database>'} --class <class>`)}; a message in the dump job's dead-letter queue holds the failed request (see "Dead letters").`,
  ],
  verifyFailed: (c) => [
    `The backup must not be used for recovery. Read the verification record next to the dump (${code(`aws s3 ls s3://${c.bucket}/${c.db?.name ?? '<database>'}/ --recursive | grep verification.json | tail -3`)}) and ${code(`aws logs tail ${c.logGroup('verify')} --since 2h`)}.`,
    `A checksum failure means a damaged object: take a new backup (${code(`pgdr backup ${c.db?.name ?? '<database>'}`)}). A row-count mismatch or a failed smoke query means the dump is not what the manifest says: escalate to the database owner.`,
  ],
  restoreSlow: (c) => [
    `The last restore test took too long for the RTO (${c.db?.rto.text ?? 'rto'}): give the verify job more memory (${code('jobs.verify.memoryMiB')}: CPU scales with it), pick a faster compression, or split the database; then ${code(`pgdr verify ${c.db?.name ?? '<database>'}`)} to measure again.`,
  ],
  estimatedRto: (c) => [
    `A recovery started now would likely miss the RTO (${c.db?.rto.text ?? 'rto'}): check ${code(`pgdr status ${c.db?.name ?? '<database>'}`)} (estimated RTO, newest backup size), prefer a faster source (pitr/snapshot for RDS), a bigger ${code('failover.instanceClass')}, or raise the RTO with the business owner.`,
  ],
  recovery: (c) => [
    `The last drill or failover reached a validated instance later than the RTO: read its recovery record (${code(`aws s3 ls s3://${c.bucket}/${c.db?.name ?? '<database>'}/recoveries/ --recursive`)}) for where the time went (instance creation, restore, validation), fix that, and run a drill (${code(`pgdr drill ${c.db?.name ?? '<database>'}`)}).`,
  ],
  drill: (c) => [
    `Run a drill now: ${code(`pgdr drill ${c.db?.name ?? '<database>'}`)} (see "Failover and drills" below for the AWS CLI and console); if a scheduled drill should have run, check its schedule and the failover-failed alarm.`,
  ],
  health: (c) => [
    `Check the database itself (connections, CPU, locks, network from the jobs' subnets) and the monitor's log: ${code(`aws logs tail ${c.logGroup('monitor')} --since 1h`)}.`,
    `If the database is lost, fail over (see "Failover and drills"): the objectives are ${c.db ? `RPO ${c.db.rpo.text}, RTO ${c.db.rto.text}` : 'in the database section'}.`,
  ],
  storage: (c) => [
    `Add storage before the instance fills: ${code(`aws rds modify-db-instance --db-instance-identifier ${c.db?.source.type === 'rds' ? c.db.source.instanceIdentifier : '<instance>'} --allocated-storage <GiB> --apply-immediately`)} (or enable storage autoscaling), and find what grows.`,
  ],
  deadLetters: (c) => [
    `A job failed for good: read the message (it holds the request and the error) in the dead-letter queue of the job (SQS console, queues of stack ${c.stackName} named ...DeadLetters...), fix the cause, re-run the job (${code(`pgdr backup|verify ${c.db?.name ?? '<database>'}`)}), then purge the queue.`,
  ],
  monitor: (c) => [
    `The monitor stopped publishing: the RPO alarm treats this as a breach. Read ${code(`aws logs tail ${c.logGroup('monitor')} --since 1h`)} and check its schedule and dead-letter queue.`,
  ],
  atRisk: () => [`Summary state only: handle the other alarms of this database that are in ALARM (${code('pgdr status')} lists them).`],
  failover: (c) => [
    `Read the failure notification on the critical topic and the execution's history (${code(`aws stepfunctions list-executions --state-machine-arn "${c.stateMachine}" --status-filter FAILED --max-items 5`)}; ${code(`aws logs tail ${c.logGroup('failover')} --since 6h`)}).`,
    `A timed-out or failed failover may have left an instance ${code('pgdr-<database>-<execution>-…')}: see "Cleanup". Traffic was never switched by a failed run.`,
  ],
};
