import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { Construct } from 'constructs';
import { RECOVERY_MODES, RECOVERY_SOURCES, RecoverySource } from '../lambda/failover/contract';
import type { AlarmFactory, MetricAlarmOptions } from './alarm-factory';
import { DatabaseConfig, longestGapSeconds, parseSchedule, RDS_PITR_RPO_SECONDS } from './config';
import type { DumpJob } from './dump-job';
import type { FailoverWorkflow } from './failover-workflow';
import type { MonitorJob } from './monitor-job';
import type { PgdrFunction } from './pgdr-function';
import type { VerifyJob } from './verify-job';

const { GREATER_THAN_THRESHOLD: ABOVE, LESS_THAN_THRESHOLD: BELOW, GREATER_THAN_OR_EQUAL_TO_THRESHOLD: AT_LEAST } = cloudwatch.ComparisonOperator;
const { BREACHING, NOT_BREACHING, IGNORE } = cloudwatch.TreatMissingData;

/** The monitor runs at most this far apart (issue 7: every 5 minutes by default). */
export const MAX_MONITOR_INTERVAL_SECONDS = 300;
/** The detection budget is never below this (issue 7: 10 % of the RPO or 5 minutes, whichever is larger). */
export const MIN_DETECTION_BUDGET_SECONDS = 300;
/** Connections in use above this share of max_connections page. */
export const CONNECTIONS_CRITICAL_PERCENT = 90;
/** Free storage of an RDS source below this share of its allocated storage pages. */
export const FREE_STORAGE_CRITICAL_PERCENT = 10;
/** A database unreachable for longer than this pages. */
export const UNREACHABLE_SECONDS = 300;
/** Allowance for the one 25-hour day a year of a cron schedule read in a time zone with daylight saving. */
export const DST_ALLOWANCE_SECONDS = 3600;

/** How fast an RPO breach is seen: the monitor interval and the age alarms' period and datapoints. */
export interface DetectionPlan {
  /** How often the monitor publishes (whole minutes). */
  readonly monitorIntervalSeconds: number;
  /** Period of the age alarms (= the monitor interval: every period holds one sample, so missing data means a missing run). */
  readonly periodSeconds: number;
  /** Periods evaluated; all of them must breach (datapointsToAlarm = evaluationPeriods). */
  readonly evaluationPeriods: number;
  /** max(10 % of the RPO, 5 minutes). */
  readonly budgetSeconds: number;
  /** monitor interval + period × evaluation periods (≤ budget). */
  readonly worstCaseSeconds: number;
}

/**
 * Chooses the monitor interval and the age alarms' period and evaluation periods from the RPO, so
 * that the worst case from an RPO breach to the alarm firing (the breach happens just after a
 * sample: one interval until the monitor sees it, then period × evaluation periods until the alarm
 * has enough breaching datapoints) stays within max(10 % of the RPO, 5 minutes). The interval is at
 * most 5 minutes and at least 1; up to 3 datapoints are required when the budget allows (fewer
 * false alarms from one odd sample).
 */
export function detectionPlan(rpoSeconds: number): DetectionPlan {
  if (!(rpoSeconds > 0)) throw new Error(`rpo: must be positive to plan the detection latency (received ${rpoSeconds} s)`);
  const budgetSeconds = Math.max(Math.floor(rpoSeconds / 10), MIN_DETECTION_BUDGET_SECONDS);
  const minutes = Math.max(1, Math.min(MAX_MONITOR_INTERVAL_SECONDS / 60, Math.floor(budgetSeconds / 2 / 60)));
  const interval = minutes * 60;
  let evaluationPeriods = 1;
  while (evaluationPeriods < 3 && interval + (evaluationPeriods + 1) * interval <= budgetSeconds) evaluationPeriods++;
  return { monitorIntervalSeconds: interval, periodSeconds: interval, evaluationPeriods, budgetSeconds, worstCaseSeconds: interval + evaluationPeriods * interval };
}

/** Whether an IANA time zone observes daylight saving (its UTC offset differs between January and July). */
export function observesDaylightSaving(timeZone: string): boolean {
  const offset = (month: number) =>
    new Intl.DateTimeFormat('en-US', { timeZone, timeZoneName: 'longOffset' }).formatToParts(new Date(Date.UTC(2026, month, 1))).find((p) => p.type === 'timeZoneName')?.value;
  return offset(0) !== offset(6);
}

/** The thresholds (seconds unless named otherwise) a database's configuration implies. */
export interface DatabaseThresholds {
  /** RPO grace: time a dump plus its verification may take (both jobs' timeouts), + 1 h when only cron schedules in a zone with daylight saving meet the RPO. */
  readonly graceSeconds: number;
  /** The RPO alarm: the metric it reads and the age above which it fires. */
  readonly rpo: { readonly metric: 'BackupAgeSeconds' | 'PitrLagSeconds'; readonly thresholdSeconds: number };
  /** Stale-class thresholds by scheduled class: the class's longest gap + both timeouts (+ 1 h for a cron schedule in a zone with daylight saving). */
  readonly staleClass: Record<string, number>;
  readonly restoreTestWarningSeconds: number;
  readonly restoreTestCriticalSeconds: number;
  readonly estimatedRtoSeconds: number;
  readonly recoverySeconds: number;
  readonly drillMaxAgeSeconds: number;
}

/**
 * Thresholds from the configuration. RPO: with RDS point-in-time recovery the RPO is the PITR lag
 * (transaction logs reach S3 every 5 minutes, so the lag may reach the RPO + 5 minutes in normal
 * operation); otherwise the age of the newest verified backup, which legitimately reaches the
 * schedule's longest gap + the dump and verify run time (the pointer advances only after the next
 * backup is verified), so the alarm allows the RPO + that grace and does not flap daily when the
 * RPO equals the schedule interval.
 */
export function databaseThresholds(db: DatabaseConfig): DatabaseThresholds {
  const runSeconds = db.jobs.dump.timeout.seconds + db.jobs.verify.timeout.seconds;
  const scheduled = db.backupClasses.flatMap((c) =>
    c.schedule
      ? [{ name: c.name, gap: longestGapSeconds([parseSchedule(c.schedule.expression, c.schedule.timeZone)]), dst: c.schedule.expression.startsWith('cron(') && observesDaylightSaving(c.schedule.timeZone) }]
      : [],
  );
  // The 25-hour day matters to the RPO only when no schedule free of it meets the RPO by itself.
  const rpoNeedsDst = scheduled.some((c) => c.dst) && !scheduled.some((c) => !c.dst && c.gap <= db.rpo.seconds);
  const graceSeconds = runSeconds + (rpoNeedsDst ? DST_ALLOWANCE_SECONDS : 0);
  const pitr = db.source.type === 'rds' && db.source.pointInTimeRecovery;
  const staleClass: Record<string, number> = {};
  for (const c of scheduled) staleClass[c.name] = c.gap + runSeconds + (c.dst ? DST_ALLOWANCE_SECONDS : 0);
  const rto = db.rto.seconds;
  return {
    graceSeconds,
    rpo: pitr ? { metric: 'PitrLagSeconds', thresholdSeconds: db.rpo.seconds + RDS_PITR_RPO_SECONDS } : { metric: 'BackupAgeSeconds', thresholdSeconds: db.rpo.seconds + graceSeconds },
    staleClass,
    restoreTestWarningSeconds: Math.round(0.8 * rto),
    restoreTestCriticalSeconds: rto,
    estimatedRtoSeconds: rto,
    recoverySeconds: rto,
    drillMaxAgeSeconds: db.drill.maxAge.seconds,
  };
}

/** The sources a database can be recovered from (the failover's `dump` always; RDS adds snapshot and, with PITR, pitr). */
export function recoverySourcesOf(db: DatabaseConfig): RecoverySource[] {
  if (db.source.type !== 'rds') return ['dump'];
  return RECOVERY_SOURCES.filter((s) => s !== 'pitr' || (db.source.type === 'rds' && db.source.pointInTimeRecovery));
}

/** Properties of {@link DatabaseAlarms}. */
export interface DatabaseAlarmsProps {
  /** The validated configuration of the database (thresholds come from it). */
  readonly config: DatabaseConfig;
  readonly factory: AlarmFactory;
  readonly monitor: MonitorJob;
  /** The dump job's metrics (a DumpJob, or FargateJobs: the same core publishes the same metrics). */
  readonly dump: Pick<DumpJob, 'metricBackupFailed'>;
  /** The verify job's metrics (a VerifyJob, or FargateJobs). */
  readonly verify: Pick<VerifyJob, 'metricVerifyFailed' | 'metricRowCountMismatches' | 'metricRestoreTestSeconds'>;
  readonly failover: FailoverWorkflow;
  /** Every job of the database whose dead-letter queue is watched (dump, verify or the Fargate jobs, monitor, recovery jobs). */
  readonly jobs: Pick<PgdrFunction, 'metricDeadLetters'>[];
  /** The detection plan the monitor was scheduled with. @default detectionPlan(config.rpo.seconds) */
  readonly detection?: DetectionPlan;
}

/** The runbook sections alarm descriptions point to (headings of docs/alarms.md; `pgdr runbook` maps each to its actions). */
export const RUNBOOK = {
  rpo: 'RPO breach: no recent verified backup',
  stale: 'Stale backup class',
  backupFailed: 'Backup failed',
  verifyFailed: 'Verification failed',
  restoreSlow: 'Restore test slower than the RTO',
  estimatedRto: 'Estimated RTO above the RTO',
  recovery: 'Drill or failover slower than the RTO',
  drill: 'No recent drill',
  health: 'Database unreachable or out of connections',
  storage: 'Low free storage',
  deadLetters: 'Dead letters',
  monitor: 'Monitor silent',
  atRisk: 'Database at risk',
  failover: 'Failover execution failed',
} as const;

/**
 * The alarms of one database, with thresholds from its configuration (see {@link databaseThresholds}
 * and {@link detectionPlan}), and one composite "at risk" alarm over all of them.
 */
export class DatabaseAlarms extends Construct {
  readonly alarms: cloudwatch.Alarm[] = [];
  readonly atRisk: cloudwatch.CompositeAlarm;
  readonly thresholds: DatabaseThresholds;
  readonly detection: DetectionPlan;

  constructor(scope: Construct, id: string, props: DatabaseAlarmsProps) {
    super(scope, id);
    const { config: db, monitor, dump, verify, failover } = props;
    const database = db.name;
    const t = (this.thresholds = databaseThresholds(db));
    const plan = (this.detection = props.detection ?? detectionPlan(db.rpo.seconds));
    const samplePeriod = Duration.seconds(plan.periodSeconds);
    const hour = Duration.hours(1);
    const add = (o: Omit<MetricAlarmOptions, 'database' | 'scope'>) => {
      const alarm = props.factory.metricAlarm({ ...o, database, scope: this });
      this.alarms.push(alarm);
      return alarm;
    };
    const classes = db.backupClasses.map((c) => c.name);
    const acrossClasses = (fn: string, metricOf: (cls: string) => cloudwatch.IMetric, period: Duration, label: string) =>
      new cloudwatch.MathExpression({
        expression: `${fn}([${classes.map((_, i) => `c${i}`).join(',')}])`,
        usingMetrics: Object.fromEntries(classes.map((c, i) => [`c${i}`, metricOf(c)])),
        period,
        label,
      });
    const hours = (s: number) => `${Math.round((s / 3600) * 100) / 100} h`;

    // RPO
    add({
      name: 'rpo',
      severity: 'critical',
      metric: t.rpo.metric === 'PitrLagSeconds' ? monitor.metricPitrLag({ period: samplePeriod }) : monitor.metricBackupAge({ period: samplePeriod }),
      threshold: t.rpo.thresholdSeconds,
      comparison: ABOVE,
      evaluationPeriods: plan.evaluationPeriods,
      treatMissingData: BREACHING,
      summary:
        t.rpo.metric === 'PitrLagSeconds'
          ? `${database}: the RDS point-in-time recovery lag is above the RPO (${db.rpo.text}) + 5 min of log upload: a failure now would lose more data than the objective allows.`
          : `${database}: the newest verified backup is older than the RPO (${db.rpo.text}) + ${hours(t.graceSeconds)} for the dump and verify run: a failure now would lose more data than the objective allows.`,
      runbookSection: RUNBOOK.rpo,
    });
    for (const [cls, threshold] of Object.entries(t.staleClass)) {
      add({
        name: `stale-${cls}`,
        severity: 'warning',
        metric: monitor.metricClassBackupAge(cls, { period: samplePeriod }),
        threshold,
        comparison: ABOVE,
        evaluationPeriods: plan.evaluationPeriods,
        treatMissingData: BREACHING,
        summary: `${database}: the newest verified "${cls}" backup is older than the class's schedule allows (${hours(threshold)} including the run time): its dumps or verifications stopped.`,
        runbookSection: RUNBOOK.stale,
      });
    }
    // Backup failures: one is a warning, a failure in two consecutive schedule intervals pages.
    for (const c of db.backupClasses) {
      add({
        name: `backup-failed-${c.name}`,
        severity: 'warning',
        metric: dump.metricBackupFailed(c.name, { period: hour }),
        threshold: 1,
        comparison: AT_LEAST,
        treatMissingData: NOT_BREACHING,
        summary: `${database}: a "${c.name}" dump failed in the last hour (the job retries; the next run may succeed).`,
        runbookSection: RUNBOOK.backupFailed,
      });
      const gap = c.schedule ? longestGapSeconds([parseSchedule(c.schedule.expression, c.schedule.timeZone)]) : 86400;
      const period = Math.min(86400, Math.max(3600, Math.ceil(gap / 60) * 60));
      add({
        name: `backup-failed-repeatedly-${c.name}`,
        severity: 'critical',
        metric: dump.metricBackupFailed(c.name, { period: Duration.seconds(period) }),
        threshold: 1,
        comparison: AT_LEAST,
        evaluationPeriods: 2,
        treatMissingData: NOT_BREACHING,
        summary: `${database}: "${c.name}" dumps failed in two consecutive ${hours(period)} windows: backups are not being taken.`,
        runbookSection: RUNBOOK.backupFailed,
      });
    }
    add({
      name: 'verify-failed',
      severity: 'critical',
      metric: acrossClasses('SUM', (c) => verify.metricVerifyFailed(c, { period: hour }), hour, 'VerifyFailed (all classes)'),
      threshold: 1,
      comparison: AT_LEAST,
      treatMissingData: NOT_BREACHING,
      summary: `${database}: a backup failed verification (checksum, pg_restore --list or restore test): it cannot be trusted for a recovery.`,
      runbookSection: RUNBOOK.verifyFailed,
    });
    add({
      name: 'row-count-mismatch',
      severity: 'critical',
      metric: acrossClasses('MAX', (c) => verify.metricRowCountMismatches(c, { period: hour }), hour, 'RowCountMismatches (all classes)'),
      threshold: 0,
      comparison: ABOVE,
      treatMissingData: NOT_BREACHING,
      summary: `${database}: a restore test found tables whose row counts differ from the backup's manifest.`,
      runbookSection: RUNBOOK.verifyFailed,
    });
    // The last restore test holds the state until the next one (missing data: keep the state).
    const restoreTest = () => acrossClasses('MAX', (c) => verify.metricRestoreTestSeconds(c, { period: hour }), hour, 'RestoreTestSeconds (all classes)');
    add({
      name: 'restore-test-slow',
      severity: 'warning',
      metric: restoreTest(),
      threshold: t.restoreTestWarningSeconds,
      comparison: ABOVE,
      treatMissingData: IGNORE,
      summary: `${database}: the last restore test took more than 80 % of the RTO (${db.rto.text}): a recovery is close to missing its objective.`,
      runbookSection: RUNBOOK.restoreSlow,
    });
    add({
      name: 'restore-test-over-rto',
      severity: 'critical',
      metric: restoreTest(),
      threshold: t.restoreTestCriticalSeconds,
      comparison: ABOVE,
      treatMissingData: IGNORE,
      summary: `${database}: the last restore test took longer than the RTO (${db.rto.text}): a recovery would miss its objective.`,
      runbookSection: RUNBOOK.restoreSlow,
    });
    add({
      name: 'estimated-rto',
      severity: 'warning',
      metric: monitor.metricEstimatedRto({ period: samplePeriod }),
      threshold: t.estimatedRtoSeconds,
      comparison: ABOVE,
      evaluationPeriods: 2,
      treatMissingData: NOT_BREACHING,
      summary: `${database}: a recovery started now is estimated to take longer than the RTO (${db.rto.text}) (restore throughput, backup size, instance creation).`,
      runbookSection: RUNBOOK.estimatedRto,
    });
    const runs = RECOVERY_MODES.flatMap((mode) => recoverySourcesOf(db).map((source) => ({ mode, source })));
    add({
      name: 'recovery-over-rto',
      severity: 'critical',
      metric: new cloudwatch.MathExpression({
        expression: `MAX([${runs.map((_, i) => `r${i}`).join(',')}])`,
        usingMetrics: Object.fromEntries(runs.map((r, i) => [`r${i}`, failover.metricRecoverySeconds({ database, ...r }, { period: hour })])),
        period: hour,
        label: 'RecoverySeconds (drills and failovers, every source)',
      }),
      threshold: t.recoverySeconds,
      comparison: ABOVE,
      treatMissingData: IGNORE,
      summary: `${database}: the last drill or failover took longer than the RTO (${db.rto.text}) to reach a validated instance.`,
      runbookSection: RUNBOOK.recovery,
    });
    // CloudWatch alarms look back at most 7 days: the monitor publishes the drill's age instead.
    add({
      name: 'no-recent-drill',
      severity: 'warning',
      metric: monitor.metricDrillAge({ period: hour }),
      threshold: t.drillMaxAgeSeconds,
      comparison: ABOVE,
      treatMissingData: BREACHING,
      summary: `${database}: no successful drill within drill.maxAge (${db.drill.maxAge.text}): the recovery path and its RTO are unproven.`,
      runbookSection: RUNBOOK.drill,
    });
    const unreachableDatapoints = Math.ceil(UNREACHABLE_SECONDS / plan.monitorIntervalSeconds) + 1;
    add({
      name: 'unreachable',
      severity: 'critical',
      metric: monitor.metricReachable({ period: samplePeriod }),
      threshold: 1,
      comparison: BELOW,
      evaluationPeriods: unreachableDatapoints,
      treatMissingData: NOT_BREACHING,
      summary: `${database}: the health probe could not connect for more than ${UNREACHABLE_SECONDS / 60} minutes (${unreachableDatapoints} probes in a row).`,
      runbookSection: RUNBOOK.health,
    });
    add({
      name: 'connections',
      severity: 'critical',
      metric: monitor.metricConnectionsUsed({ period: samplePeriod }),
      threshold: CONNECTIONS_CRITICAL_PERCENT,
      comparison: ABOVE,
      evaluationPeriods: 2,
      treatMissingData: NOT_BREACHING,
      summary: `${database}: more than ${CONNECTIONS_CRITICAL_PERCENT} % of max_connections in use in two probes in a row: new connections will soon be refused.`,
      runbookSection: RUNBOOK.health,
    });
    if (db.source.type === 'rds') {
      add({
        name: 'free-storage',
        severity: 'critical',
        metric: monitor.metricFreeStorage({ period: samplePeriod }),
        threshold: FREE_STORAGE_CRITICAL_PERCENT,
        comparison: BELOW,
        evaluationPeriods: 2,
        treatMissingData: NOT_BREACHING,
        summary: `${database}: less than ${FREE_STORAGE_CRITICAL_PERCENT} % of the RDS instance's storage is free.`,
        runbookSection: RUNBOOK.storage,
      });
    }
    add({
      name: 'dead-letters',
      severity: 'warning',
      metric: new cloudwatch.MathExpression({
        expression: `MAX([${props.jobs.map((_, i) => `q${i}`).join(',')}])`,
        usingMetrics: Object.fromEntries(props.jobs.map((j, i) => [`q${i}`, j.metricDeadLetters()])),
        period: Duration.minutes(5),
        label: 'Dead letters (largest queue of the jobs)',
      }),
      threshold: 0,
      comparison: ABOVE,
      treatMissingData: NOT_BREACHING,
      summary: `${database}: a job invocation or scheduled run failed for good and waits in a dead-letter queue.`,
      runbookSection: RUNBOOK.deadLetters,
    });
    add({
      name: 'monitor-silent',
      severity: 'warning',
      metric: monitor.metricReachable({ statistic: cloudwatch.Stats.SAMPLE_COUNT, period: samplePeriod }),
      threshold: 1,
      comparison: BELOW,
      evaluationPeriods: 2,
      treatMissingData: BREACHING,
      summary: `${database}: the monitor published nothing for two intervals: backup age, PITR lag and health are not measured (the RPO alarm treats this as a breach).`,
      runbookSection: RUNBOOK.monitor,
    });

    this.atRisk = props.factory.compositeAlarm({
      name: 'at-risk',
      database,
      scope: this,
      severity: 'warning',
      rule: cloudwatch.AlarmRule.anyOf(...this.alarms.map((a) => cloudwatch.AlarmRule.fromAlarm(a, cloudwatch.AlarmState.ALARM))),
      summary: `${database}: at least one of its recovery-objective alarms is in ALARM (the summary state of the database; each alarm notifies on its own, so this one goes to the warning topic only).`,
      runbookSection: RUNBOOK.atRisk,
    });
  }
}

/** Stack-wide alarms of the failover state machine: an execution failed or timed out (critical). */
export function failoverAlarms(factory: AlarmFactory, failover: FailoverWorkflow): cloudwatch.Alarm[] {
  const period = Duration.minutes(5);
  return [
    factory.metricAlarm({
      name: 'failover-failed',
      severity: 'critical',
      metric: failover.metricFailed({ period, statistic: cloudwatch.Stats.SUM }),
      threshold: 1,
      comparison: AT_LEAST,
      treatMissingData: NOT_BREACHING,
      summary: 'A failover or drill execution failed (it notified the cause, cleaned up per its settings and never cut over).',
      runbookSection: RUNBOOK.failover,
    }),
    factory.metricAlarm({
      name: 'failover-timed-out',
      severity: 'critical',
      metric: failover.metricTimedOut({ period, statistic: cloudwatch.Stats.SUM }),
      threshold: 1,
      comparison: AT_LEAST,
      treatMissingData: NOT_BREACHING,
      summary: 'A failover or drill execution hit the state machine timeout: what it created may still exist.',
      runbookSection: RUNBOOK.failover,
    }),
  ];
}
