/** The monitor's settings from the configuration (no CDK: the CLI's status reads them too). */
import type { MonitorSettings } from '../lambda/monitor/contract';
import { DatabaseConfig, longestGapSeconds, parseSchedule } from './config';

/** Seconds an RDS instance takes to be created/restored until available, assumed until a recovery record measured it. */
export const DEFAULT_INSTANCE_CREATE_SECONDS = 20 * 60;

/** The monitor's settings for a database of the configuration. */
export function monitorSettings(db: DatabaseConfig): MonitorSettings {
  return {
    classes: db.backupClasses.flatMap((c) => (c.schedule ? [{ name: c.name, intervalSeconds: longestGapSeconds([parseSchedule(c.schedule.expression, c.schedule.timeZone)]) }] : [])),
    rdsInstanceIdentifier: db.source.type === 'rds' ? db.source.instanceIdentifier : undefined,
    pointInTimeRecovery: db.source.type === 'rds' && db.source.pointInTimeRecovery,
    defaultInstanceCreateSeconds: DEFAULT_INSTANCE_CREATE_SECONDS,
    rtoSeconds: db.rto.seconds,
    rpoSeconds: db.rpo.seconds,
  };
}
