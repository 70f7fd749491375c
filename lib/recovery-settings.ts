import type { RecoverySettings } from '../lambda/failover/contract';
import type { DatabaseConfig } from './config';

/** The default hard timeout of a recovery: three times the RTO, at least two hours (RDS restores of large databases take hours). */
export function defaultHardTimeoutSeconds(rtoSeconds: number): number {
  return Math.max(3 * rtoSeconds, 2 * 3600);
}

/** What the failover workflow knows of one configured database (rendered into its definition; ARNs, never secrets). */
export function recoverySettings(db: DatabaseConfig): Omit<RecoverySettings, 'functions'> {
  const f = db.failover;
  return {
    database: db.name,
    sourceType: db.source.type,
    sourceInstanceIdentifier: db.source.type === 'rds' ? db.source.instanceIdentifier : undefined,
    pointInTimeRecovery: db.source.type === 'rds' && db.source.pointInTimeRecovery,
    sourceSecretArn: db.source.secretArn,
    engineMajorVersion: db.source.engineMajorVersion,
    port: db.source.port,
    rpoSeconds: db.rpo.seconds,
    rtoSeconds: db.rto.seconds,
    hardTimeoutSeconds: f.hardTimeout?.seconds ?? defaultHardTimeoutSeconds(db.rto.seconds),
    approvalTimeoutSeconds: f.approvalTimeout.seconds,
    requireApproval: f.requireApproval,
    deleteOnFailure: f.deleteOnFailure,
    instance: {
      instanceClass: f.instanceClass,
      dbSubnetGroupName: f.dbSubnetGroupName,
      securityGroupIds: f.securityGroupIds,
      multiAz: f.multiAz,
      allocatedStorageGiB: f.allocatedStorageGiB,
    },
    cutover: {
      secretArn: f.cutover.secretArn,
      ssmParameterName: f.cutover.ssmParameterName,
      route53: f.cutover.route53 ? { hostedZoneId: f.cutover.route53.hostedZoneId, recordName: f.cutover.route53.recordName, ttlSeconds: f.cutover.route53.ttl.seconds } : undefined,
      healthCheck: f.healthCheck ? { url: f.healthCheck.url, timeoutSeconds: f.healthCheck.timeout.seconds } : undefined,
    },
    validation: {
      rowLossTolerancePercent: f.validation.rowLossTolerancePercent,
      smokeQueries: db.verification.smokeQueries.map((q) => ({ name: q.name, sql: q.sql, minRows: q.minRows })),
      freshnessQueries: f.validation.freshnessQueries.map((q) => ({ name: q.name, sql: q.sql })),
    },
  };
}
