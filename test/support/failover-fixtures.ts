/** A RecoveryPlan, an instance and a validation result as the failover workflow passes them, for Lambda tests. */
import type { InstanceState, RecoveryPlan, ValidationResult } from '../../lambda/failover/contract';

export const FIXTURE_START = '2026-11-25T10:00:00.000Z';

export const FIXTURE_INSTANCE: InstanceState = {
  identifier: 'pgdr-orders-exec-1',
  status: 'available',
  host: 'pgdr-orders-exec-1.c9akciq32.eu-west-1.rds.amazonaws.com',
  port: 5433,
  masterSecretArn: null,
};

/** A pitr failover plan of database "orders", execution "exec-1", with the given cutover targets. */
export function recoveryPlan(cutover: Partial<RecoveryPlan['cutover']> = {}, overrides: Partial<RecoveryPlan> = {}): RecoveryPlan {
  const c = { secretArn: null, ssmParameterName: null, route53: null, healthCheck: null, ...cutover };
  return {
    schemaVersion: 1,
    database: 'orders',
    source: 'pitr',
    mode: 'failover',
    approval: 'skip',
    execution: { name: 'exec-1', startTime: FIXTURE_START },
    instanceIdentifier: FIXTURE_INSTANCE.identifier,
    rtoDeadline: '2026-11-25T11:00:00.000Z',
    hardDeadline: '2026-11-25T13:00:00.000Z',
    rtoSeconds: 3600,
    rpoSeconds: 900,
    approvalTimeoutSeconds: 1800,
    pitr: { sourceInstanceIdentifier: 'orders-prod', useLatestRestorableTime: true, restoreTime: null },
    snapshot: null,
    backup: null,
    rds: {
      DBInstanceClass: 'db.t4g.micro', DBSubnetGroupName: 'default', VpcSecurityGroupIds: [], MultiAZ: false, DeletionProtection: true, Tags: [],
      Engine: 'postgres', EngineVersion: '16', AllocatedStorage: 20, MasterUsername: 'pgdr', Port: 5432,
    },
    deleteOnFailure: false,
    cutover: { ...c, any: !!(c.secretArn || c.ssmParameterName || c.route53) },
    validation: { rowLossTolerancePercent: 10, smokeQueries: [], freshnessQueries: [] },
    sourceSecretArn: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:orders-source-AbCdEf',
    port: 5432,
    functions: { restore: 'arn:restore', validate: 'arn:validate' },
    runner: 'lambda',
    restoreTask: null,
    ...overrides,
  };
}

/** A passed validation `secondsSinceStart` after the start. */
export function validationResult(secondsSinceStart: number, overrides: Partial<ValidationResult> = {}): ValidationResult {
  return {
    ok: true,
    validatedAt: new Date(Date.parse(FIXTURE_START) + secondsSinceStart * 1000).toISOString(),
    secondsSinceStart,
    database: 'orders',
    manifestKey: 'orders/full/2026/11/25/orders_full_2026-11-25T02-00-00-000Z.manifest.json',
    tables: [{ table: 'public.users', expected: 1000, actual: 1002, lossPercent: -0.2, ok: true }],
    objects: [{ what: 'tables', expected: 3, actual: 3, ok: true }],
    smokeQueries: [{ name: 'users exist', rows: 1002, minRows: 1, ok: true }],
    freshness: [],
    failures: [],
    summary: '3 tables compared with orders_full_2026-11-25T02-00-00-000Z: all within 10 %\n1 smoke query passed',
    ...overrides,
  };
}
