/**
 * The report job of the failover workflow: the words around the run.
 *
 *   - approval: the SNS message asking a human to approve the cutover, in the parts the state
 *     machine joins around the task token (ApprovalMessage);
 *   - finish / failed: the recovery record (`<db>/recoveries/<YYYY>/<MM>/<execution>.json`,
 *     written once), the recovery metrics (EMF, dimensions database, mode, source) and the
 *     notification (topic, subject, human summary) the state machine publishes.
 *
 * Pure core: the store, the clock and the metrics are ports. Every error cause passes through
 * redact.ts before it reaches a message or the record.
 */
import {
  ApprovalMessage,
  CaughtError,
  CleanupState,
  CutoverResult,
  FailoverInput,
  InstanceState,
  RECOVERY_RECORD_SCHEMA_VERSION,
  RecoveryPlan,
  RecoveryRecord,
  ReportEvent,
  ReportResult,
  Topics,
  ValidationResult,
} from '../contract';
import { recoveryRecordKey } from '../../shared/layout';
import { Clock, LogPort, MetricsPort, ObjectStore, PreconditionFailedError, seconds, silentLog } from '../../shared/ports';
import { redactSecrets } from '../../shared/redact';
import { namedError } from '../../shared/named-error';

export interface RecoveryDimensions {
  readonly database: string;
  readonly mode: string;
  readonly source: string;
}

export interface ReportDeps {
  readonly store: ObjectStore;
  readonly clock: Clock;
  /** Metrics of one recovery run, bound to its dimensions. */
  readonly metrics: (dimensions: RecoveryDimensions) => MetricsPort;
  readonly log?: LogPort;
}

/** The event is not one of the three actions or lacks what the action needs. */
export class InvalidReportEvent extends namedError('InvalidInput') {}

/** SNS subjects: at most 100 characters, printable ASCII. */
export const MAX_SUBJECT = 100;

export function asciiSubject(text: string): string {
  const clean = text.replace(/[^\x20-\x7e]/g, '?').replace(/\s+/g, ' ').trim();
  return clean.length <= MAX_SUBJECT ? clean : `${clean.slice(0, MAX_SUBJECT - 3)}...`;
}

/** "412 s (6 min 52 s)" */
export function duration(totalSeconds: number): string {
  const s = Math.round(totalSeconds);
  if (s < 60) return `${s} s`;
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = s % 60;
  return `${s} s (${h > 0 ? `${h} h ` : ''}${m} min${rest ? ` ${rest} s` : ''})`;
}

const redact = (text: string): string => redactSecrets(text);

function describeSource(plan: RecoveryPlan): string {
  switch (plan.source) {
    case 'pitr':
      if (!plan.pitr) return 'pitr';
      return plan.pitr.useLatestRestorableTime
        ? `pitr of ${plan.pitr.sourceInstanceIdentifier} to its latest restorable time`
        : `pitr of ${plan.pitr.sourceInstanceIdentifier} to ${plan.pitr.restoreTime}`;
    case 'snapshot':
      return plan.snapshot ? `snapshot ${plan.snapshot.snapshotIdentifier}${plan.snapshot.createdAt ? ` (taken ${plan.snapshot.createdAt})` : ''}` : 'snapshot';
    case 'dump':
      return plan.backup ? `dump ${plan.backup.manifestKey} (taken ${plan.backup.startedAt})` : 'dump';
    default:
      return String(plan.source);
  }
}

function endpoint(instance: InstanceState | null): string {
  if (!instance) return 'none';
  return instance.host ? `${instance.host}:${instance.port ?? '?'} (instance ${instance.identifier})` : `instance ${instance.identifier} (no endpoint yet, status ${instance.status})`;
}

function cutoverTargets(plan: RecoveryPlan): string[] {
  const c = plan.cutover;
  const targets: string[] = [];
  if (c.secretArn) targets.push(`secret ${c.secretArn}`);
  if (c.ssmParameterName) targets.push(`SSM parameter ${c.ssmParameterName}`);
  if (c.route53) targets.push(`Route 53 ${c.route53.recordName} (zone ${c.route53.hostedZoneId}, TTL ${c.route53.ttlSeconds} s)`);
  return targets;
}

function switched(cutover: CutoverResult, host: string | null): string[] {
  const lines: string[] = [];
  if (cutover.secret) lines.push(`secret ${cutover.secret.arn}: new version ${cutover.secret.versionId} is AWSCURRENT (the previous one, ${cutover.secret.previousVersionId ?? 'none'}, is AWSPREVIOUS)`);
  if (cutover.ssm) lines.push(`SSM parameter ${cutover.ssm.name}: version ${cutover.ssm.version}`);
  if (cutover.route53) lines.push(`Route 53 ${cutover.route53.recordName}: CNAME -> ${host ?? 'the new instance'}${cutover.route53.previous ? ` (was ${cutover.route53.previous.type} ${cutover.route53.previous.values.join(', ')})` : ' (new record)'}`);
  return lines;
}

// ---------------------------------------------------------------- approval

export function approvalMessage(plan: RecoveryPlan, instance: InstanceState, validation: ValidationResult, now: Date): ApprovalMessage {
  const elapsed = seconds(new Date(plan.execution.startTime), now);
  const rto = elapsed <= plan.rtoSeconds
    ? `within the RTO of ${duration(plan.rtoSeconds)} (${duration(plan.rtoSeconds - elapsed)} left)`
    : `RTO of ${duration(plan.rtoSeconds)} EXCEEDED by ${duration(elapsed - plan.rtoSeconds)}`;
  const targets = cutoverTargets(plan);
  const approver = '<your name>';
  const before = [
    `pgdr ${plan.mode} of database "${plan.database}" is waiting for your approval to switch traffic to the new instance.`,
    '',
    `Database:     ${plan.database}`,
    `Mode:         ${plan.mode}`,
    `Source:       ${describeSource(plan)}`,
    `New instance: ${endpoint(instance)}`,
    `Execution:    ${plan.execution.name} (started ${plan.execution.startTime})`,
    `Elapsed:      ${duration(elapsed)} since start, ${rto}`,
    '',
    `Validation:   ${validation.ok ? 'PASSED' : 'FAILED'} at ${validation.validatedAt}`,
    ...redact(validation.summary).split('\n').map((l) => `  ${l}`),
    '',
    `Approving switches: ${targets.length ? targets.join('; ') : 'no cutover target is configured (nothing is switched)'}${plan.cutover.healthCheck ? `, then probes ${redact(plan.cutover.healthCheck.url)}` : ''}.`,
    '',
    'To APPROVE the cutover:',
    '',
    '  aws stepfunctions send-task-success --task-token ',
  ].join('\n');
  const middle = [
    ` --task-output '{"approved":true}'`,
    '',
    'To REJECT it (no cutover; the run fails and cleans up per its configuration):',
    '',
    '  aws stepfunctions send-task-failure --task-token ',
  ].join('\n');
  const after = [
    ` --error Rejected --cause "rejected by ${approver}"`,
    '',
    `This request expires after ${duration(plan.approvalTimeoutSeconds)}: with no answer by then, the run fails and there is NO cutover.`,
    '',
  ].join('\n');
  return { subject: asciiSubject(`pgdr: approve ${plan.mode} cutover of ${plan.database} (${plan.source})`), before, middle, after };
}

// ---------------------------------------------------------------- record

/** The input as resolved by Preflight (what was actually recovered). */
export function resolvedInput(plan: RecoveryPlan): FailoverInput {
  return {
    database: plan.database,
    source: plan.source,
    ...(plan.pitr && !plan.pitr.useLatestRestorableTime && plan.pitr.restoreTime ? { restoreTime: plan.pitr.restoreTime } : {}),
    ...(plan.snapshot ? { snapshotIdentifier: plan.snapshot.snapshotIdentifier } : {}),
    ...(plan.source === 'dump' && plan.backup ? { backupKey: plan.backup.manifestKey } : {}),
    mode: plan.mode,
    approval: plan.approval,
  };
}

interface RunFacts {
  readonly plan: RecoveryPlan;
  /** The restore job's result (dump source), when the event carries one. */
  readonly restore?: unknown;
  readonly outcome: 'succeeded' | 'failed';
  readonly instance: InstanceState | null;
  readonly validation: ValidationResult | null;
  readonly cutover: CutoverResult | null;
  readonly failure: CaughtError | null;
  readonly cleanup: CleanupState | null;
  readonly cleanupError: CaughtError | null;
}

function timingsOf(facts: RunFacts) {
  const validatedSeconds = facts.validation ? facts.validation.secondsSinceStart : null;
  const cutOverSeconds = facts.cutover ? facts.cutover.secondsSinceStart : null;
  const recoverySeconds = facts.plan.mode === 'failover' && cutOverSeconds !== null ? cutOverSeconds : validatedSeconds;
  const rtoMet = facts.outcome === 'succeeded' && recoverySeconds !== null ? recoverySeconds <= facts.plan.rtoSeconds : null;
  return { validatedSeconds, cutOverSeconds, recoverySeconds, rtoMet };
}

function cleanupOf(facts: RunFacts): CleanupState | null {
  if (facts.cleanupError) return { deleted: false, reason: `cleanup failed, the instance is left behind: ${facts.cleanupError.Error}: ${redact(facts.cleanupError.Cause)}` };
  return facts.cleanup ? { deleted: facts.cleanup.deleted, reason: redact(facts.cleanup.reason) } : null;
}

export function recoveryRecord(facts: RunFacts, finishedAt: Date): RecoveryRecord {
  const { plan } = facts;
  const t = timingsOf(facts);
  return {
    schemaVersion: RECOVERY_RECORD_SCHEMA_VERSION,
    database: plan.database,
    execution: plan.execution.name,
    mode: plan.mode,
    source: plan.source,
    input: resolvedInput(plan),
    startedAt: plan.execution.startTime,
    finishedAt: finishedAt.toISOString(),
    outcome: facts.outcome,
    instance: facts.instance ? { identifier: facts.instance.identifier, host: facts.instance.host, port: facts.instance.port } : null,
    backup: plan.backup,
    timings: { validatedSeconds: t.validatedSeconds, cutOverSeconds: t.cutOverSeconds, rtoSeconds: plan.rtoSeconds, rtoMet: t.rtoMet },
    validation: facts.validation
      ? { ok: facts.validation.ok, failures: facts.validation.failures.map(redact), summary: redact(facts.validation.summary) }
      : null,
    cutover: facts.cutover,
    failure: facts.failure ? { error: facts.failure.Error, cause: redact(facts.failure.Cause) } : null,
    cleanup: cleanupOf(facts),
  };
}

/** Writes the record once; a retry that finds the same record (but for finishedAt) is fine. */
async function writeRecord(deps: ReportDeps, key: string, record: RecoveryRecord): Promise<'written' | 'retry' | 'kept-existing'> {
  try {
    await deps.store.putText(key, `${JSON.stringify(record, null, 2)}\n`, { contentType: 'application/json', ifNoneMatch: true });
    return 'written';
  } catch (err) {
    if (!(err instanceof PreconditionFailedError)) throw err;
  }
  const existing = await deps.store.getText(key);
  if (existing) {
    try {
      const doc = JSON.parse(existing.text) as RecoveryRecord;
      if (JSON.stringify({ ...doc, finishedAt: '' }) === JSON.stringify({ ...record, finishedAt: '' })) return 'retry';
    } catch {
      // not ours or damaged: kept, and said so
    }
  }
  return 'kept-existing';
}

// ---------------------------------------------------------------- messages

function forensicsCommands(identifier: string, deletionProtection: boolean): string[] {
  return [
    ...(deletionProtection ? [`  aws rds modify-db-instance --db-instance-identifier ${identifier} --no-deletion-protection --apply-immediately`] : []),
    `  aws rds delete-db-instance --db-instance-identifier ${identifier} --skip-final-snapshot`,
  ];
}

function instanceLines(facts: RunFacts): string[] {
  const { plan } = facts;
  const id = facts.instance?.identifier ?? plan.instanceIdentifier;
  if (facts.cleanupError) {
    return [
      `Instance: CLEANUP FAILED, ${id} is left behind (${facts.cleanupError.Error}: ${redact(facts.cleanupError.Cause)}). Delete it by hand:`,
      ...forensicsCommands(id, plan.rds.DeletionProtection),
    ];
  }
  if (facts.cleanup?.deleted) return [`Instance: ${id} deleted (${redact(facts.cleanup.reason)}).`];
  if (facts.outcome === 'succeeded') {
    if (plan.mode === 'drill') return [`Instance: ${id} is deleted at the end of the drill.`];
    return [`Instance: ${id} is the new primary and is kept${plan.rds.DeletionProtection ? ' (deletion protection on)' : ''}.`];
  }
  if (facts.cleanup) {
    return [`Instance: ${id} kept for forensics (${redact(facts.cleanup.reason)}). When done, delete it:`, ...forensicsCommands(id, plan.rds.DeletionProtection)];
  }
  const created = facts.instance ? '' : ' (if it was created)';
  if (plan.deleteOnFailure) return [`Instance: ${id}${created} is deleted by the failure path (deleteOnFailure).`];
  return [
    `Instance: ${id}${created} is kept for forensics (deleteOnFailure is off for this ${plan.mode}). When done, delete it:`,
    ...forensicsCommands(id, plan.rds.DeletionProtection),
  ];
}

function cutoverLines(facts: RunFacts): string[] {
  const { plan, cutover } = facts;
  if (facts.outcome === 'failed') {
    if (cutover && facts.failure?.Error === 'RollbackFailed') {
      return ['Cutover: traffic was switched and the ROLLBACK FAILED: some targets may still point at the new instance (see the cause above):', ...switched(cutover, facts.instance?.host ?? null).map((l) => `  ${l}`)];
    }
    if (cutover) return ['Cutover: traffic had been switched and was rolled back to the previous targets:', ...switched(cutover, facts.instance?.host ?? null).map((l) => `  ${l}`)];
    return ['Cutover: traffic was NOT switched.'];
  }
  if (plan.mode === 'drill') return ['Cutover: traffic was NOT switched (drill).'];
  if (!cutover) return [`Cutover: traffic was NOT switched (${plan.cutover.any ? 'no cutover ran' : 'no cutover target is configured'}); point the applications at the new endpoint.`];
  const lines = switched(cutover, facts.instance?.host ?? null);
  if (lines.length === 0) return ['Cutover: traffic was NOT switched (no target changed).'];
  return [`Cutover: switched at ${cutover.at}:`, ...lines.map((l) => `  ${l}`)];
}

function timingLines(facts: RunFacts, now: Date): string[] {
  const { plan } = facts;
  const t = timingsOf(facts);
  const lines: string[] = [`Timings (RTO ${duration(plan.rtoSeconds)}):`];
  lines.push(`  validated after ${t.validatedSeconds === null ? '- (not reached)' : duration(t.validatedSeconds)}`);
  if (plan.mode === 'failover') lines.push(`  traffic switched after ${t.cutOverSeconds === null ? '- (not switched)' : duration(t.cutOverSeconds)}`);
  if (facts.outcome === 'succeeded') {
    if (t.recoverySeconds !== null) lines.push(`  recovery time ${duration(t.recoverySeconds)}: RTO ${t.rtoMet ? 'MET' : `MISSED by ${duration(t.recoverySeconds - plan.rtoSeconds)}`}`);
  } else {
    lines.push(`  failed after ${duration(seconds(new Date(plan.execution.startTime), now))}`);
  }
  return lines;
}

/** One line about the dump restore (lambda/restore RestoreResult), or none when the event has no such result. */
function restoreLines(restore: unknown): string[] {
  const r = restore as { bytes?: unknown; dumpKey?: unknown; mode?: unknown; jobs?: unknown; throughputMBps?: unknown; seconds?: { total?: unknown } } | null | undefined;
  if (!r || typeof r !== 'object' || typeof r.bytes !== 'number' || typeof r.seconds?.total !== 'number') return [];
  return [
    `Restore: ${(r.bytes / 1e6).toFixed(1)} MB${typeof r.dumpKey === 'string' ? ` from ${r.dumpKey}` : ''} in ${duration(r.seconds.total)}` +
      `${typeof r.mode === 'string' ? `, ${r.mode} mode` : ''}${typeof r.jobs === 'number' ? `, ${r.jobs} job${r.jobs === 1 ? '' : 's'}` : ''}` +
      `${typeof r.throughputMBps === 'number' ? `, ${r.throughputMBps} MB/s` : ''}`,
  ];
}

function validationLines(validation: ValidationResult | null): string[] {
  if (!validation) return ['Validation: not reached.'];
  return [
    `Validation: ${validation.ok ? 'PASSED' : 'FAILED'} at ${validation.validatedAt}`,
    ...redact(validation.summary).split('\n').filter(Boolean).map((l) => `  ${l}`),
    ...(validation.ok ? [] : validation.failures.map((f) => `  - ${redact(f)}`)),
  ];
}

function summaryMessage(facts: RunFacts, now: Date, recordKey: string, recordNote: string | null): { subject: string; message: string } {
  const { plan } = facts;
  const t = timingsOf(facts);
  const verb = facts.outcome === 'succeeded' ? 'SUCCEEDED' : 'FAILED';
  const head = facts.outcome === 'succeeded'
    ? `pgdr ${plan.mode} of database "${plan.database}" SUCCEEDED.`
    : `pgdr ${plan.mode} of database "${plan.database}" FAILED: ${facts.failure?.Error ?? 'unknown error'}.`;
  const lines = [
    head,
    ...(facts.failure ? [`Cause: ${redact(facts.failure.Cause)}`] : []),
    '',
    `Database:     ${plan.database}`,
    `Mode:         ${plan.mode}`,
    `Source:       ${describeSource(plan)}`,
    `Execution:    ${plan.execution.name} (started ${plan.execution.startTime}, reported ${now.toISOString()})`,
    `New endpoint: ${endpoint(facts.instance)}`,
    '',
    ...timingLines(facts, now),
    ...restoreLines(facts.restore),
    '',
    ...validationLines(facts.validation),
    '',
    ...cutoverLines(facts),
    '',
    ...instanceLines(facts),
    '',
    `Recovery record: ${recordKey}${recordNote ? ` (${recordNote})` : ''}`,
    '',
  ];
  const rto = facts.outcome === 'succeeded' && t.recoverySeconds !== null ? `, ${Math.round(t.recoverySeconds)} s, RTO ${t.rtoMet ? 'met' : 'missed'}` : facts.failure ? `: ${facts.failure.Error}` : '';
  const subject = asciiSubject(`pgdr: ${plan.mode} of ${plan.database} ${verb} (${plan.source}${rto})`);
  return { subject, message: lines.join('\n') };
}

function rejectedMessage(input: unknown, failure: CaughtError, execution: { name: string; startTime: string }): { subject: string; message: string } {
  let shown: string;
  try {
    // One key per line: the redaction then hides only the value that holds a password.
    shown = JSON.stringify(input, null, 2) ?? 'undefined';
  } catch {
    shown = String(input);
  }
  if (shown.length > 2000) shown = `${shown.slice(0, 2000)}...`;
  const message = [
    `pgdr failover input REJECTED: ${failure.Error}.`,
    `Cause: ${redact(failure.Cause)}`,
    '',
    `Execution: ${execution.name} (started ${execution.startTime})`,
    'Input:',
    ...redact(shown).split('\n').map((l) => `  ${l}`),
    '',
    'Nothing was created and traffic was NOT switched; no recovery record is written. Fix the input and start a new execution.',
    '',
  ].join('\n');
  return { subject: asciiSubject(`pgdr: failover input rejected (${failure.Error})`), message };
}

// ---------------------------------------------------------------- finish / failed

async function report(deps: ReportDeps, facts: RunFacts, topics: Topics): Promise<ReportResult> {
  const log = deps.log ?? silentLog;
  const { plan } = facts;
  const now = deps.clock.now();
  const key = recoveryRecordKey(plan.database, plan.execution.startTime, plan.execution.name);
  const record = recoveryRecord(facts, now);
  const written = await writeRecord(deps, key, record);
  const note = written === 'kept-existing' ? 'a different record for this execution already existed and was kept as is' : null;
  if (written === 'kept-existing') log.warn('recovery record already exists with other content; kept', { key });
  const t = timingsOf(facts);
  if (written === 'written') {
    // A retry that found its own record published these already.
    const metrics = deps.metrics({ database: plan.database, mode: plan.mode, source: plan.source });
    if (facts.outcome === 'succeeded') {
      if (t.recoverySeconds !== null) metrics.add('RecoverySeconds', t.recoverySeconds, 'Seconds');
      if (t.validatedSeconds !== null) metrics.add('RecoveryValidatedSeconds', t.validatedSeconds, 'Seconds');
      metrics.add('RecoverySucceeded', 1, 'Count');
    } else {
      metrics.add('RecoveryFailed', 1, 'Count');
    }
    metrics.flush();
  }
  const { subject, message } = summaryMessage(facts, now, key, note);
  const topicArn = facts.outcome === 'succeeded' || plan.mode === 'drill' ? topics.warning : topics.critical;
  log.info('recovery reported', { key, outcome: facts.outcome, record: written, recoverySeconds: t.recoverySeconds });
  return { recordKey: key, topicArn, subject, message, outcome: facts.outcome, timings: { validatedSeconds: t.validatedSeconds, cutOverSeconds: t.cutOverSeconds } };
}

function requireTopics(topics: Topics | undefined): Topics {
  if (!topics || typeof topics.critical !== 'string' || typeof topics.warning !== 'string') throw new InvalidReportEvent('the event needs "topics" {critical, warning}');
  return topics;
}

function requirePlan(plan: RecoveryPlan | null | undefined, action: string): RecoveryPlan {
  if (!plan || typeof plan !== 'object' || !plan.execution || !plan.database) throw new InvalidReportEvent(`${action} needs "plan" (the RecoveryPlan)`);
  return plan;
}

export async function runReport(deps: ReportDeps, event: ReportEvent): Promise<ApprovalMessage | ReportResult> {
  if (!event || typeof event !== 'object') throw new InvalidReportEvent('expected {"action": "approval" | "finish" | "failed", ...}');
  switch (event.action) {
    case 'approval': {
      const plan = requirePlan(event.plan, 'approval');
      if (!event.instance || !event.validation) throw new InvalidReportEvent('approval needs "instance" and "validation"');
      return approvalMessage(plan, event.instance, event.validation, deps.clock.now());
    }
    case 'finish': {
      const plan = requirePlan(event.plan, 'finish');
      if (!event.validation) throw new InvalidReportEvent('finish needs "validation"');
      return report(
        deps,
        {
          plan,
          outcome: 'succeeded',
          restore: event.restore,
          instance: event.instance ?? null,
          validation: event.validation,
          cutover: event.cutover ?? null,
          failure: null,
          cleanup: event.cleanup ?? null,
          cleanupError: null,
        },
        requireTopics(event.topics),
      );
    }
    case 'failed': {
      const topics = requireTopics(event.topics);
      const failure: CaughtError = event.failure && typeof event.failure === 'object'
        ? { Error: String(event.failure.Error ?? 'Error'), Cause: String(event.failure.Cause ?? '') }
        : { Error: 'Unknown', Cause: 'no error was passed to the report' };
      if (!event.plan) {
        const execution = event.execution ?? { name: 'unknown', startTime: deps.clock.now().toISOString() };
        const { subject, message } = rejectedMessage(event.input, failure, execution);
        (deps.log ?? silentLog).info('rejected input reported', { execution: execution.name, error: failure.Error });
        return { recordKey: null, topicArn: topics.warning, subject, message, outcome: 'failed', timings: { validatedSeconds: null, cutOverSeconds: null } };
      }
      return report(
        deps,
        {
          plan: event.plan,
          outcome: 'failed',
          instance: event.instance ?? null,
          validation: event.validation ?? null,
          cutover: event.cutover ?? null,
          failure,
          cleanup: event.cleanup ?? null,
          cleanupError: event.cleanupError ?? null,
        },
        topics,
      );
    }
    default:
      throw new InvalidReportEvent(`unknown action ${JSON.stringify((event as { action?: unknown }).action)}: expected approval, finish or failed`);
  }
}
