/**
 * The failover workflow end to end: the SYNTHESIZED state machine definition run in
 * aws-local-stepfunctions against the RDS simulator (new instances are real PostgreSQL clusters:
 * pg_basebackup copies of the source for pitr/snapshot, empty clusters the real restore job fills
 * for dump), the real Lambda handlers, the local S3 server, and stand-ins for Secrets Manager, SSM
 * and Route 53 that follow the APIs' semantics (test/support/failover-world.ts).
 *
 * Invariants checked after every run: a run that did not succeed left every cutover target as it
 * was (or rolled it back), and a drill leaves no instance behind.
 */
import { Client } from 'pg';
import { recoveryInstanceIdentifier } from '../../lambda/failover/preflight/core';
import type { RecoveryRecord } from '../../lambda/failover/contract';
import { STATES } from '../../lib/failover-workflow';
import type { RunOptions, RunResult } from '../../local/failover-runner';
import { APP_PASSWORD, APP_SECRET, RECORD, SNAPSHOT, SOURCE_INSTANCE, SSM_PARAMETER, startWorld, World, ZONE } from '../support/failover-world';

jest.setTimeout(180_000);

let world: World;
beforeAll(async () => {
  world = await startWorld();
}, 300_000);
afterAll(async () => {
  await world?.stop();
});

interface Targets {
  secret: string | undefined;
  ssm: string | undefined;
  dns: string;
}
function targets(): Targets {
  return {
    secret: world.secrets.valueOf(APP_SECRET),
    ssm: world.parameters.valueOf(SSM_PARAMETER),
    dns: JSON.stringify(world.dns.zones.get(ZONE)?.records ?? []),
  };
}

/** Runs the workflow and checks the invariants: a failed run leaves the targets as they were; a drill leaves no instance. */
async function run(input: Record<string, unknown>, options: RunOptions = {}): Promise<RunResult & { before: Targets; instance: string }> {
  const before = targets();
  const executionName = options.executionName ?? `e2e-${Math.random().toString(36).slice(2, 10)}`;
  const instance = typeof input.database === 'string' ? recoveryInstanceIdentifier(input.database, executionName) : '';
  const result = await world.runner.run(input, { ...options, executionName });
  if (result.status !== 'SUCCEEDED') expect(targets()).toEqual(before);
  // RDS lists a deleted instance as "deleting" for a while; its cluster is already stopped.
  if (input.mode === 'drill') expect([instance, world.sim.status(instance) ?? 'gone']).toEqual([instance, expect.stringMatching(/^(deleting|gone)$/)]);
  return { ...result, before, instance };
}

const record = (result: RunResult, database: string): Promise<RecoveryRecord> => world.recoveryRecord(database, result.executionName);

async function connect(host: string, port: number, user: string, password: string, database: string): Promise<string> {
  const client = new Client({ host, port, user, password, database, ssl: false });
  await client.connect();
  try {
    return (await client.query<{ u: string }>('SELECT current_user AS u')).rows[0].u;
  } finally {
    await client.end();
  }
}

describe('recoveries that succeed', () => {
  test('pitr (latest), failover without approval: validated against the manifest, secret/SSM/DNS switched, health checked, recorded, instance kept with deletion protection', async () => {
    world.health.splice(0, world.health.length, 503, 200);
    const result = await run({ database: 'clinic', source: 'pitr' });
    expect([result.status, result.error, result.cause]).toEqual(['SUCCEEDED', undefined, undefined]);
    expect(result.path).toEqual(expect.arrayContaining([STATES.restorePitrLatest, STATES.validate, STATES.cutover, STATES.healthCheck, STATES.finish]));
    expect(result.path).not.toContain(STATES.approve);
    const output = result.output as { instance: { identifier: string; host: string; port: number }; timings: { validatedSeconds: number; cutOverSeconds: number }; recordKey: string };
    expect(output.instance.identifier).toBe(result.instance);
    expect(output.timings.cutOverSeconds).toBeGreaterThanOrEqual(output.timings.validatedSeconds);
    // The cutover: the secret carries the new endpoint (the old value is AWSPREVIOUS), the SSM URL keeps its user and database, the CNAME points at the instance.
    const secret = JSON.parse(world.secrets.valueOf(APP_SECRET)!);
    expect(secret).toMatchObject({ host: output.instance.host, port: output.instance.port, username: 'app_user', password: APP_PASSWORD });
    expect(JSON.parse(world.secrets.valueOf(APP_SECRET, 'AWSPREVIOUS')!).host).toBe(JSON.parse(result.before.secret!).host);
    expect(world.parameters.valueOf(SSM_PARAMETER)).toBe(`postgresql://app_user@${output.instance.host}:${output.instance.port}/clinicdb?sslmode=require`);
    expect(targets().dns).toContain(RECORD);
    expect(targets().dns).toContain(output.instance.host);
    // The instance is a real copy of the source: the app login works with its password there.
    expect(await connect(output.instance.host, output.instance.port, 'postgres', world.source.password, 'clinicdb')).toBe('postgres');
    expect(world.sim.status(result.instance)).toBe('available');
    // The recovery record and the metric.
    const rec = await record(result, 'clinic');
    expect(rec).toMatchObject({ schemaVersion: 1, database: 'clinic', mode: 'failover', source: 'pitr', outcome: 'succeeded', instance: { identifier: result.instance } });
    expect(rec.timings.cutOverSeconds).toEqual(output.timings.cutOverSeconds);
    expect(output.recordKey).toContain(`clinic/recoveries/`);
    const metric = world.metrics.find((m) => 'RecoverySeconds' in m && m.mode === 'failover' && m.source === 'pitr');
    expect(metric).toMatchObject({ database: 'clinic', RecoverySeconds: expect.any(Number) });
    const success = result.notifications.find((n) => n.state === STATES.notifySuccess);
    expect(success?.message).toContain(result.instance);
  });

  test('snapshot (newest), drill: validated, never cut over, instance deleted, recorded', async () => {
    const result = await run({ database: 'clinic', source: 'snapshot', mode: 'drill' });
    expect(result.status).toBe('SUCCEEDED');
    expect(result.path).toContain(STATES.restoreSnapshot);
    expect(result.path).toContain(STATES.deleteDrill);
    expect(result.path).not.toContain(STATES.cutover);
    expect(targets()).toEqual(result.before);
    const restore = world.sim.calls.find((c) => c.action === 'RestoreDBInstanceFromDBSnapshot' && c.params.DBInstanceIdentifier === result.instance);
    expect(restore?.params).toMatchObject({ DBSnapshotIdentifier: SNAPSHOT, DeletionProtection: 'false', 'Tags.Tag.3.Value': 'drill' });
    const rec = await record(result, 'clinic');
    expect(rec).toMatchObject({ mode: 'drill', source: 'snapshot', outcome: 'succeeded', cleanup: { deleted: true } });
    expect(rec.timings.validatedSeconds).toEqual(expect.any(Number));
  });

  test('dump of an external database, approval required and given: the restore job fills a new instance, the app login gets the secret\'s password, cutover', async () => {
    const result = await run({ database: 'shop', source: 'dump' }, { approver: 'approve' });
    expect([result.status, result.error, result.cause]).toEqual(['SUCCEEDED', undefined, undefined]);
    expect(result.path).toEqual(expect.arrayContaining([STATES.createInstance, STATES.restoreDump, STATES.validate, STATES.approve, STATES.cutover]));
    const approval = result.notifications.find((n) => n.state === STATES.approve)!;
    expect(approval.message).toContain(`aws stepfunctions send-task-success --task-token ${result.taskToken}`);
    expect(approval.message).toContain(`aws stepfunctions send-task-failure --task-token ${result.taskToken}`);
    const create = world.sim.calls.find((c) => c.action === 'CreateDBInstance' && c.params.DBInstanceIdentifier === result.instance);
    expect(create?.params).toMatchObject({ ManageMasterUserPassword: 'true', StorageEncrypted: 'true', DeletionProtection: 'true' });
    const output = result.output as { instance: { host: string; port: number } };
    expect(await connect(output.instance.host, output.instance.port, 'app_user', APP_PASSWORD, 'clinicdb')).toBe('app_user');
    const rec = await record(result, 'shop');
    expect(rec).toMatchObject({ source: 'dump', outcome: 'succeeded', validation: { ok: true } });
  });
});

describe('runs that must not cut over', () => {
  test.each([
    ['rejected', 'reject', 'Rejected'],
    ['timed out', 'timeout', 'States.Timeout'],
    ['answered without "approved": true', 'no-answer-field', 'Rejected'],
  ] as const)('approval %s: no cutover, the failover instance is kept for forensics and the notification says how to delete it', async (_what, approver, error) => {
    const result = await run({ database: 'shop', source: 'dump', approval: 'required' }, { approver });
    expect([result.status, result.error]).toEqual(['FAILED', error]);
    expect(result.path).not.toContain(STATES.cutover);
    expect(world.sim.instanceIds()).toContain(result.instance);
    const failure = result.notifications.find((n) => n.state === STATES.notifyFailure)!;
    expect(failure.message).toContain(`aws rds delete-db-instance --db-instance-identifier ${result.instance}`);
    expect((await record(result, 'shop')).outcome).toBe('failed');
  });

  test('an RDS API error on the restore call: the run fails with its name, nothing was created, the failure is paged', async () => {
    world.sim.failNext('RestoreDBInstanceToPointInTime', 'InsufficientDBInstanceCapacity');
    const result = await run({ database: 'clinic', source: 'pitr', mode: 'drill' });
    expect([result.status, result.error]).toEqual(['FAILED', 'Rds.InsufficientDbInstanceCapacityException']);
    expect(world.sim.instanceIds()).not.toContain(result.instance);
    expect(result.notifications.map((n) => n.state)).toEqual([STATES.notifyFailure]);
  });

  test('the instance fails (incompatible-restore): InstanceFailed, the drill instance is deleted', async () => {
    const executionName = 'e2e-fate-1';
    world.sim.setFate(recoveryInstanceIdentifier('clinic', executionName), 'incompatible-restore');
    const result = await run({ database: 'clinic', source: 'pitr', mode: 'drill' }, { executionName });
    expect([result.status, result.error]).toEqual(['FAILED', 'InstanceFailed']);
    expect(result.cause).toContain('incompatible-restore');
    expect(result.path).toContain(STATES.deleteFailed);
  });

  test('validation mismatch: the copy lost half a table against the manifest (beyond the 10 % tolerance): no cutover', async () => {
    await world.source.sql('clinicdb', 'CREATE TABLE app.audit_saved AS SELECT * FROM app.audit WHERE id % 2 = 0; DELETE FROM app.audit WHERE id % 2 = 0');
    try {
      const result = await run({ database: 'clinic', source: 'pitr' });
      expect([result.status, result.error]).toEqual(['FAILED', 'ValidationFailed']);
      expect(result.cause).toMatch(/app\.audit.*50/);
      expect(result.path).not.toContain(STATES.cutover);
    } finally {
      await world.source.sql('clinicdb', 'INSERT INTO app.audit SELECT * FROM app.audit_saved; DROP TABLE app.audit_saved');
    }
  });

  test('freshness miss: the newest event is older than the recovery point minus the RPO: no cutover', async () => {
    await world.source.sql('clinicdb', "UPDATE app.events SET created_at = created_at - interval '3 days'");
    try {
      const result = await run({ database: 'clinic', source: 'pitr' });
      expect([result.status, result.error]).toEqual(['FAILED', 'ValidationFailed']);
      expect(result.cause).toContain('newest event');
    } finally {
      await world.source.sql('clinicdb', "UPDATE app.events SET created_at = created_at + interval '3 days'");
    }
  });

  test('a cutover target fails mid-way (SSM): what was switched is undone, CutoverFailed', async () => {
    world.parameters.failNext('put');
    const result = await run({ database: 'clinic', source: 'pitr' });
    expect([result.status, result.error]).toEqual(['FAILED', 'CutoverFailed']);
  });

  test('the health check never answers 2xx: the cutover is rolled back, HealthCheckFailed', async () => {
    world.health.splice(0, world.health.length, 500);
    try {
      const result = await run({ database: 'clinic', source: 'pitr' });
      expect([result.status, result.error]).toEqual(['FAILED', 'HealthCheckFailed']);
      expect(result.path).toEqual(expect.arrayContaining([STATES.cutover, STATES.healthCheck, STATES.rollback]));
      expect(result.cause).toContain('rolled back');
      expect(result.notifications.find((n) => n.state === STATES.notifyFailure)?.message).toMatch(/rolled back/);
    } finally {
      world.health.splice(0, world.health.length, 200);
    }
  });

  test('past the hard timeout the run gives up (RecoveryTimedOut); the failover instance is kept', async () => {
    const result = await run({ database: 'clinic', source: 'pitr', approval: 'skip' }, { now: new Date(Date.now() + 7 * 3600_000) });
    expect([result.status, result.error]).toEqual(['FAILED', 'RecoveryTimedOut']);
    expect(result.path).not.toContain(STATES.validate);
  });
});

describe('the RTO budget', () => {
  test('past the RTO (not the hard timeout) the critical topic is told once and the recovery goes on', async () => {
    const result = await run({ database: 'clinic', source: 'snapshot', mode: 'drill' }, { now: new Date(Date.now() + 3600_000 + 60_000) });
    expect(result.status).toBe('SUCCEEDED');
    const rto = result.notifications.filter((n) => n.state === STATES.notifyRto);
    expect(rto).toHaveLength(1);
    expect(rto[0].subject).toContain('RTO exceeded');
    expect(rto[0].topicArn).toMatch(/Critical/);
  });
});

describe('malformed input is rejected before any RDS call', () => {
  const future = new Date(Date.now() + 86_400_000).toISOString();
  const cases: Array<[string, unknown]> = [
    ['not an object', 'clinic'],
    ['an array', [{ database: 'clinic', source: 'pitr' }]],
    ['null', null],
    ['a number', 42],
    ['empty', {}],
    ['no source', { database: 'clinic' }],
    ['no database', { source: 'pitr' }],
    ['unknown database', { database: 'billing', source: 'dump' }],
    ['database in capitals', { database: 'CLINIC', source: 'dump' }],
    ['database with a quote', { database: "clinic'; DROP TABLE users; --", source: 'dump' }],
    ['database with unicode', { database: 'clinic✓', source: 'dump' }],
    ['database a number', { database: 7, source: 'dump' }],
    ['database empty', { database: '', source: 'dump' }],
    ['unknown source', { database: 'clinic', source: 'backup' }],
    ['source in capitals', { database: 'clinic', source: 'PITR' }],
    ['source an array', { database: 'clinic', source: ['pitr'] }],
    ['pitr of an external database', { database: 'shop', source: 'pitr' }],
    ['snapshot of an external database', { database: 'shop', source: 'snapshot' }],
    ['unknown key', { database: 'clinic', source: 'pitr', force: true }],
    ['misspelled key', { database: 'clinic', source: 'pitr', restore_time: '2026-11-25T10:00:00Z' }],
    ['prototype key', JSON.parse('{"database":"clinic","source":"pitr","__proto__":{"mode":"drill"}}')],
    ['constructor key', { database: 'clinic', source: 'pitr', constructor: 'x' }],
    ['restoreTime with dump', { database: 'clinic', source: 'dump', restoreTime: '2026-11-25T10:00:00Z' }],
    ['restoreTime with snapshot', { database: 'clinic', source: 'snapshot', restoreTime: '2026-11-25T10:00:00Z' }],
    ['snapshotIdentifier with pitr', { database: 'clinic', source: 'pitr', snapshotIdentifier: SNAPSHOT }],
    ['backupKey with pitr', { database: 'clinic', source: 'pitr', backupKey: 'clinic/hourly/x.manifest.json' }],
    ['restoreTime without zone', { database: 'clinic', source: 'pitr', restoreTime: '2026-11-25T10:00:00' }],
    ['restoreTime as words', { database: 'clinic', source: 'pitr', restoreTime: 'yesterday' }],
    ['restoreTime Feb 30', { database: 'clinic', source: 'pitr', restoreTime: '2026-02-30T10:00:00Z' }],
    ['restoreTime hour 25', { database: 'clinic', source: 'pitr', restoreTime: '2026-11-25T25:00:00Z' }],
    ['restoreTime in the future', { database: 'clinic', source: 'pitr', restoreTime: future }],
    ['restoreTime a number', { database: 'clinic', source: 'pitr', restoreTime: 1764000000 }],
    ['restoreTime empty', { database: 'clinic', source: 'pitr', restoreTime: '' }],
    ['restoreTime date only', { database: 'clinic', source: 'pitr', restoreTime: '2026-11-25' }],
    ['restoreTime with newline', { database: 'clinic', source: 'pitr', restoreTime: '2026-11-25T10:00:00Z\n' }],
    ['snapshotIdentifier with spaces', { database: 'clinic', source: 'snapshot', snapshotIdentifier: 'my snapshot' }],
    ['snapshotIdentifier with quote', { database: 'clinic', source: 'snapshot', snapshotIdentifier: "snap'1" }],
    ['snapshotIdentifier double hyphen', { database: 'clinic', source: 'snapshot', snapshotIdentifier: 'snap--1' }],
    ['snapshotIdentifier too long', { database: 'clinic', source: 'snapshot', snapshotIdentifier: `s${'x'.repeat(300)}` }],
    ['snapshotIdentifier a number', { database: 'clinic', source: 'snapshot', snapshotIdentifier: 12 }],
    ['backupKey of another database', { database: 'shop', source: 'dump', backupKey: 'clinic/hourly/2026/11/25/clinic_hourly_20261125T030000Z.manifest.json' }],
    ['backupKey with ..', { database: 'shop', source: 'dump', backupKey: 'shop/../clinic/x.manifest.json' }],
    ['backupKey absolute', { database: 'shop', source: 'dump', backupKey: '/shop/daily/x.manifest.json' }],
    ['backupKey not a manifest or dump', { database: 'shop', source: 'dump', backupKey: 'shop/daily/notes.txt' }],
    ['backupKey a number', { database: 'shop', source: 'dump', backupKey: 5 }],
    ['backupKey with a URL and password', { database: 'shop', source: 'dump', backupKey: 'postgres://admin:hunter2@db/x' }],
    ['mode unknown', { database: 'clinic', source: 'pitr', mode: 'test' }],
    ['mode boolean', { database: 'clinic', source: 'pitr', mode: true }],
    ['approval unknown', { database: 'clinic', source: 'pitr', approval: 'maybe' }],
    ['approval boolean', { database: 'clinic', source: 'pitr', approval: false }],
    ['huge string', { database: 'x'.repeat(100_000), source: 'pitr' }],
    ['nested object as database', { database: { name: 'clinic' }, source: 'pitr' }],
  ];

  test(`${cases.length} malformed inputs: each ends in InputRejected with InvalidInput naming the field, notified, and RDS never called`, async () => {
    expect(cases.length).toBeGreaterThanOrEqual(50);
    const callsBefore = world.sim.calls.length;
    const recordsBefore = (await world.keys('')).length;
    for (const [what, input] of cases) {
      const result = await world.runner.run(input);
      expect([what, result.status, result.error, result.path[result.path.length - 1]]).toEqual([what, 'FAILED', 'InvalidInput', STATES.rejected]);
      expect([what, result.cause && result.cause.length > 0]).toEqual([what, true]);
      expect([what, result.notifications.map((n) => n.state)]).toEqual([what, [STATES.notifyRejected]]);
      expect(result.cause).not.toContain('hunter2');
    }
    expect(world.sim.calls.length).toBe(callsBefore);
    expect((await world.keys('')).length).toBe(recordsBefore);
  });

  test('inputs that pass the syntax but not the lookups also fail before anything is created: a restore time outside the window, a missing snapshot, an unverified backup', async () => {
    const creates = () => world.sim.calls.filter((c) => !c.action.startsWith('Describe')).length;
    const before = creates();
    const outside = await world.runner.run({ database: 'clinic', source: 'pitr', restoreTime: '2020-01-01T00:00:00Z' });
    expect([outside.status, outside.error]).toEqual(['FAILED', 'InvalidInput']);
    expect(outside.cause).toMatch(/restorable window/);
    const snapshot = await world.runner.run({ database: 'clinic', source: 'snapshot', snapshotIdentifier: 'no-such-snapshot' });
    expect([snapshot.status, snapshot.error]).toEqual(['FAILED', 'InvalidInput']);
    const key = await world.runner.run({ database: 'shop', source: 'dump', backupKey: 'shop/daily/2020/01/01/shop_daily_20200101T000000Z.manifest.json' });
    expect([key.status, key.error]).toEqual(['FAILED', 'InvalidInput']);
    expect(creates()).toBe(before);
  });
});

test('the source instance is never touched: no call names it except describes and restores from it', () => {
  const touching = world.sim.calls.filter((c) => Object.values(c.params).includes(SOURCE_INSTANCE));
  expect(touching.map((c) => c.action).filter((a) => !['DescribeDBInstances', 'DescribeDBSnapshots', 'RestoreDBInstanceToPointInTime'].includes(a))).toEqual([]);
});
