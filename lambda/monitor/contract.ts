/**
 * The recovery-objectives monitor's contract, in ONE place: what the monitor Lambda (one per
 * database, in the jobs' VPC, run by EventBridge Scheduler every `intervalSeconds`) publishes and
 * what the alarms (lib/) read. Namespace `PgDr` (lambda/shared/metrics.ts).
 *
 * Metrics and their dimensions:
 *   - `BackupAgeSeconds` {database}: seconds since the newest VERIFIED backup of the database started
 *     (`latest-verified.json`; missing, revoked or unreadable → no verified backup: the value is the
 *     age of nothing, published as `NO_BACKUP_AGE_SECONDS` so the RPO alarm fires, never skipped);
 *     and {database, class} per backup class (newest verified backup of that class).
 *   - `PitrLagSeconds` {database}: RDS sources with PITR: now − LatestRestorableTime.
 *   - `EstimatedRtoSeconds` {database}: what a recovery would take now (see the monitor core).
 *   - `DatabaseReachable` {database}: 1 when a connection through the source secret succeeded, else 0.
 *   - `ConnectionsUsedPercent` {database}: connections in use / max_connections × 100 (when reachable).
 *   - `FreeStoragePercent` {database}: RDS sources: FreeStorageSpace / allocated storage × 100.
 *   - `DrillAgeSeconds` {database}: seconds since the newest SUCCESSFUL drill's recovery record
 *     (`<database>/recoveries/`, mode drill, outcome succeeded) finished; none → `NO_BACKUP_AGE_SECONDS`.
 *     (CloudWatch alarms look back at most 7 days: a `drill.maxAge` of weeks needs an age metric.)
 */

/** The value `BackupAgeSeconds` takes when the database has no verified backup: 10 years. */
export const NO_BACKUP_AGE_SECONDS = 10 * 365 * 86_400;

export const MONITOR_METRICS = ['BackupAgeSeconds', 'PitrLagSeconds', 'EstimatedRtoSeconds', 'DatabaseReachable', 'ConnectionsUsedPercent', 'FreeStoragePercent', 'DrillAgeSeconds'] as const;
export type MonitorMetric = (typeof MONITOR_METRICS)[number];

/** The monitor's settings (env PGDR_MONITOR, JSON; no secrets). */
export interface MonitorSettings {
  /** Backup classes with a schedule and the longest gap their schedule leaves, in seconds. */
  readonly classes: { readonly name: string; readonly intervalSeconds: number }[];
  /** RDS sources: the instance (PITR lag, free storage). */
  readonly rdsInstanceIdentifier?: string;
  /** Whether the RDS source has PITR on. */
  readonly pointInTimeRecovery: boolean;
  /** Seconds to create/restore an instance until it is available, used until a recovery record measured it. */
  readonly defaultInstanceCreateSeconds: number;
  /** The database's RTO and RPO, for the log line (the alarms hold the thresholds). */
  readonly rtoSeconds: number;
  readonly rpoSeconds: number;
}
