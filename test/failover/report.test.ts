/**
 * The report Lambda through its handler against a real local S3 server (s3rver on 127.0.0.1):
 * the approval message around the task token, the recovery record (key, schema, write-once), the
 * EMF metrics as the real adapter prints them, and the notification text (commands, forensics,
 * redaction).
 */
import { Writable } from 'node:stream';
import type { ApprovalMessage, CutoverResult, RecoveryRecord, ReportEvent, ReportResult, Topics } from '../../lambda/failover/contract';
import { makeHandler } from '../../lambda/failover/report/handler';
import { asciiSubject } from '../../lambda/failover/report/core';
import { recoveryRecordKey } from '../../lambda/shared/layout';
import { S3ObjectStore } from '../../lambda/shared/s3-store';
import { startTestS3, TestS3 } from '../support/s3-server';
import { FIXTURE_INSTANCE, recoveryPlan, validationResult } from '../support/failover-fixtures';

const TOPICS: Topics = { critical: 'arn:aws:sns:eu-west-1:111122223333:pgdr-critical', warning: 'arn:aws:sns:eu-west-1:111122223333:pgdr-warning' };
const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:orders-app-AbCdEf';
const KEY = 'orders/recoveries/2026/11/exec-1.json';

let s3: TestS3;
beforeAll(async () => {
  s3 = await startTestS3();
});
afterAll(async () => {
  await s3?.stop();
});

/** A fresh execution name per test, so records of one test never meet another's. */
let n = 0;
const nextExecution = () => `exec-${++n}`;

interface Run {
  handler: (event: ReportEvent) => Promise<ApprovalMessage | ReportResult>;
  emf: Array<Record<string, any>>;
  clock: { t: number };
}

function run(at = '2026-11-25T10:25:00.000Z'): Run {
  const emf: Array<Record<string, any>> = [];
  const clock = { t: Date.parse(at) };
  const metricsOut = new Writable({
    write: (chunk, _enc, cb) => {
      for (const line of chunk.toString().split('\n').filter(Boolean)) emf.push(JSON.parse(line));
      cb();
    },
  });
  const handler = makeHandler({ store: new S3ObjectStore(s3.client, s3.bucket), clock: { now: () => new Date(clock.t) }, metricsOut });
  return { handler, emf, clock };
}

async function readRecord(key: string): Promise<RecoveryRecord> {
  const text = (await new S3ObjectStore(s3.client, s3.bucket).getText(key))!.text;
  return JSON.parse(text);
}

function cutoverResult(secondsSinceStart: number): CutoverResult {
  return {
    at: new Date(Date.parse('2026-11-25T10:00:00.000Z') + secondsSinceStart * 1000).toISOString(),
    secondsSinceStart,
    secret: { arn: SECRET_ARN, versionId: 'pgdr-0123456789abcdef0123456789abcdef01234567', previousVersionId: 'v-old' },
    ssm: null,
    route53: { hostedZoneId: 'Z0123', recordName: 'db.orders.example.com.', previous: { type: 'CNAME', ttl: 300, values: ['old.example.com.'] } },
  };
}

describe('approval', () => {
  test('the parts around the token give the exact approve and reject commands, the validation summary and the expiry', async () => {
    const r = run('2026-11-25T10:20:00.000Z');
    const plan = recoveryPlan({ secretArn: SECRET_ARN }, { approval: 'required' });
    const msg = (await r.handler({ action: 'approval', plan, instance: FIXTURE_INSTANCE, validation: validationResult(1100) })) as ApprovalMessage;
    const token = 'AQCEAAAAKgAAAAMAAAAAAAAAAe+token/with+base64=';
    const text = `${msg.before}${token}${msg.middle}${token}${msg.after}`;
    expect(text).toContain(`aws stepfunctions send-task-success --task-token ${token} --task-output '{"approved":true}'`);
    expect(text).toMatch(new RegExp(`aws stepfunctions send-task-failure --task-token ${token.replace(/[+/=]/g, '\\$&')} --error Rejected --cause "rejected by <your name>"`));
    expect(text).toContain('Database:     orders');
    expect(text).toContain('Mode:         failover');
    expect(text).toContain('Source:       pitr of orders-prod to its latest restorable time');
    expect(text).toContain(`New instance: ${FIXTURE_INSTANCE.host}:5433 (instance ${FIXTURE_INSTANCE.identifier})`);
    expect(text).toContain('Elapsed:      1200 s (20 min) since start, within the RTO of 3600 s (1 h 0 min) (2400 s (40 min) left)');
    expect(text).toContain('all within 10 %');
    expect(text).toContain(`Approving switches: secret ${SECRET_ARN}`);
    expect(text).toContain('expires after 1800 s (30 min)');
    expect(text).toMatch(/NO cutover/);
    expect(msg.subject).toBe('pgdr: approve failover cutover of orders (pitr)');
    expect(r.emf).toEqual([]);
    expect(await s3.keys('orders/recoveries/')).toEqual([]);
  });

  test('past the RTO it says so', async () => {
    const r = run('2026-11-25T11:10:00.000Z');
    const msg = (await r.handler({ action: 'approval', plan: recoveryPlan(), instance: FIXTURE_INSTANCE, validation: validationResult(4000) })) as ApprovalMessage;
    expect(msg.before).toContain('RTO of 3600 s (1 h 0 min) EXCEEDED by 600 s (10 min)');
  });
});

describe('finish', () => {
  test('failover: writes the record under <db>/recoveries/YYYY/MM/<execution>.json, publishes the metrics, summarizes', async () => {
    const r = run();
    const execution = nextExecution();
    const plan = recoveryPlan({ secretArn: SECRET_ARN, route53: { hostedZoneId: 'Z0123', recordName: 'db.orders.example.com', ttlSeconds: 30 } }, { execution: { name: execution, startTime: '2026-11-25T10:00:00.000Z' } });
    const result = (await r.handler({
      action: 'finish', plan, instance: FIXTURE_INSTANCE, validation: validationResult(1100), cutover: cutoverResult(1250), restore: null, cleanup: null, topics: TOPICS,
    })) as ReportResult;

    const key = `orders/recoveries/2026/11/${execution}.json`;
    expect(result).toMatchObject({ recordKey: key, topicArn: TOPICS.warning, outcome: 'succeeded', timings: { validatedSeconds: 1100, cutOverSeconds: 1250 } });
    expect(await s3.keys('orders/recoveries/')).toContain(key);
    const record = await readRecord(key);
    expect(record).toEqual({
      schemaVersion: 1,
      database: 'orders',
      execution,
      mode: 'failover',
      source: 'pitr',
      input: { database: 'orders', source: 'pitr', mode: 'failover', approval: 'skip' },
      startedAt: '2026-11-25T10:00:00.000Z',
      finishedAt: '2026-11-25T10:25:00.000Z',
      outcome: 'succeeded',
      instance: { identifier: FIXTURE_INSTANCE.identifier, host: FIXTURE_INSTANCE.host, port: 5433 },
      backup: null,
      timings: { validatedSeconds: 1100, cutOverSeconds: 1250, rtoSeconds: 3600, rtoMet: true },
      validation: { ok: true, failures: [], summary: validationResult(1100).summary },
      cutover: cutoverResult(1250),
      failure: null,
      cleanup: null,
    });

    expect(r.emf).toHaveLength(1);
    const line = r.emf[0];
    expect(line._aws.CloudWatchMetrics[0].Namespace).toBe('PgDr');
    expect(line._aws.CloudWatchMetrics[0].Dimensions).toEqual([['database', 'mode', 'source']]);
    expect(line._aws.CloudWatchMetrics[0].Metrics).toEqual(expect.arrayContaining([
      { Name: 'RecoverySeconds', Unit: 'Seconds' }, { Name: 'RecoveryValidatedSeconds', Unit: 'Seconds' }, { Name: 'RecoverySucceeded', Unit: 'Count' },
    ]));
    expect(line).toMatchObject({ database: 'orders', mode: 'failover', source: 'pitr', RecoverySeconds: 1250, RecoveryValidatedSeconds: 1100, RecoverySucceeded: 1 });
    expect(line).not.toHaveProperty('service');
    expect(line).not.toHaveProperty('RecoveryFailed');

    expect(result.subject).toBe('pgdr: failover of orders SUCCEEDED (pitr, 1250 s, RTO met)');
    expect(result.message).toContain('pgdr failover of database "orders" SUCCEEDED.');
    expect(result.message).toContain(`New endpoint: ${FIXTURE_INSTANCE.host}:5433`);
    expect(result.message).toContain('traffic switched after 1250 s (20 min 50 s)');
    expect(result.message).toContain('recovery time 1250 s (20 min 50 s): RTO MET');
    expect(result.message).toContain(`secret ${SECRET_ARN}: new version pgdr-0123456789abcdef0123456789abcdef01234567 is AWSCURRENT`);
    expect(result.message).toContain(`Route 53 db.orders.example.com.: CNAME -> ${FIXTURE_INSTANCE.host} (was CNAME old.example.com.)`);
    expect(result.message).toContain(`Instance: ${FIXTURE_INSTANCE.identifier} is the new primary and is kept (deletion protection on).`);
    expect(result.message).toContain(`Recovery record: ${key}`);
  });

  test('a retry finds its own record: the same key, the record unchanged, no second metric', async () => {
    const r = run();
    const execution = nextExecution();
    const plan = recoveryPlan({}, { execution: { name: execution, startTime: '2026-11-25T10:00:00.000Z' } });
    const event: ReportEvent = { action: 'finish', plan, instance: FIXTURE_INSTANCE, validation: validationResult(1100), cutover: null, restore: null, cleanup: null, topics: TOPICS };
    const first = (await r.handler(event)) as ReportResult;
    const before = await readRecord(first.recordKey!);
    r.clock.t += 7000;
    const second = (await r.handler(event)) as ReportResult;
    expect(second.recordKey).toBe(first.recordKey);
    expect(await readRecord(first.recordKey!)).toEqual(before);
    expect(r.emf).toHaveLength(1);
    expect(second.message).not.toMatch(/already existed/);
  });

  test('drill: recovery time is start -> validated, traffic not switched, RTO missed is said', async () => {
    const r = run();
    const execution = nextExecution();
    const plan = recoveryPlan({}, { mode: 'drill', source: 'dump', pitr: null, backup: { manifestKey: 'orders/full/2026/11/25/orders_full_2026-11-25T02-00-00-000Z.manifest.json', startedAt: '2026-11-25T02:00:00.000Z' }, execution: { name: execution, startTime: '2026-11-25T10:00:00.000Z' }, rds: { ...recoveryPlan().rds, DeletionProtection: false } });
    const result = (await r.handler({ action: 'finish', plan, instance: FIXTURE_INSTANCE, validation: validationResult(4000), cutover: null, restore: { ok: true, bytes: 256e6, dumpKey: 'orders/full/x.dump', mode: 'file', jobs: 2, throughputMBps: 35.1, seconds: { total: 7.3 } }, cleanup: null, topics: TOPICS })) as ReportResult;
    expect(result.topicArn).toBe(TOPICS.warning);
    expect(result.subject).toBe('pgdr: drill of orders SUCCEEDED (dump, 4000 s, RTO missed)');
    expect(result.message).toContain('recovery time 4000 s (1 h 6 min 40 s): RTO MISSED by 400 s (6 min 40 s)');
    expect(result.message).toContain('Cutover: traffic was NOT switched (drill).');
    expect(result.message).toContain('Restore: 256.0 MB from orders/full/x.dump in 7 s, file mode, 2 jobs, 35.1 MB/s');
    expect(result.message).toContain(`Instance: ${FIXTURE_INSTANCE.identifier} is deleted at the end of the drill.`);
    const record = await readRecord(result.recordKey!);
    expect(record.input).toEqual({ database: 'orders', source: 'dump', backupKey: plan.backup!.manifestKey, mode: 'drill', approval: 'skip' });
    expect(record.timings).toEqual({ validatedSeconds: 4000, cutOverSeconds: null, rtoSeconds: 3600, rtoMet: false });
    expect(r.emf[0]).toMatchObject({ database: 'orders', mode: 'drill', source: 'dump', RecoverySeconds: 4000, RecoveryValidatedSeconds: 4000, RecoverySucceeded: 1 });
  });
});

describe('failed', () => {
  const secretCause = 'connection to postgres://u:secret@h:5432/orders failed: password authentication failed';

  test('failover after a failed validation: critical topic, forensics commands, redacted cause, RecoveryFailed', async () => {
    const r = run();
    const execution = nextExecution();
    const plan = recoveryPlan({ secretArn: SECRET_ARN }, { execution: { name: execution, startTime: '2026-11-25T10:00:00.000Z' } });
    const validation = validationResult(1100, { ok: false, failures: ['public.users lost 12 % of its rows (1000 -> 880), tolerance 10 %'], summary: 'row counts: 1 table beyond tolerance' });
    const result = (await r.handler({
      action: 'failed', plan, input: { database: 'orders', source: 'pitr' }, execution: plan.execution, instance: FIXTURE_INSTANCE, validation, cutover: null,
      failure: { Error: 'ValidationFailed', Cause: secretCause }, cleanup: { deleted: false, reason: 'kept for forensics: deleteOnFailure is drill-only and this is a failover' }, cleanupError: null, topics: TOPICS,
    })) as ReportResult;
    expect(result).toMatchObject({ topicArn: TOPICS.critical, outcome: 'failed', recordKey: `orders/recoveries/2026/11/${execution}.json`, timings: { validatedSeconds: 1100, cutOverSeconds: null } });
    expect(result.subject).toBe('pgdr: failover of orders FAILED (pitr: ValidationFailed)');
    expect(result.message).toContain('pgdr failover of database "orders" FAILED: ValidationFailed.');
    expect(result.message).toContain('Cause: connection to postgres://u:***@h:5432/orders failed');
    expect(result.message).toContain('  - public.users lost 12 % of its rows (1000 -> 880), tolerance 10 %');
    expect(result.message).toContain('Cutover: traffic was NOT switched.');
    expect(result.message).toContain(`Instance: ${FIXTURE_INSTANCE.identifier} kept for forensics (kept for forensics: deleteOnFailure is drill-only and this is a failover). When done, delete it:`);
    expect(result.message).toContain(`  aws rds modify-db-instance --db-instance-identifier ${FIXTURE_INSTANCE.identifier} --no-deletion-protection --apply-immediately`);
    expect(result.message).toContain(`  aws rds delete-db-instance --db-instance-identifier ${FIXTURE_INSTANCE.identifier} --skip-final-snapshot`);
    expect(result.message).toContain('failed after 1500 s (25 min)');
    expect(result.message).not.toContain('secret@');

    const stored = (await new S3ObjectStore(s3.client, s3.bucket).getText(result.recordKey!))!.text;
    expect(stored).not.toContain(':secret@');
    const record = JSON.parse(stored) as RecoveryRecord;
    expect(record).toMatchObject({
      outcome: 'failed',
      failure: { error: 'ValidationFailed', cause: 'connection to postgres://u:***@h:5432/orders failed: password authentication failed' },
      timings: { validatedSeconds: 1100, cutOverSeconds: null, rtoSeconds: 3600, rtoMet: null },
      validation: { ok: false },
      cleanup: { deleted: false },
    });
    expect(r.emf).toHaveLength(1);
    expect(r.emf[0]).toMatchObject({ database: 'orders', mode: 'failover', source: 'pitr', RecoveryFailed: 1 });
    expect(r.emf[0]._aws.CloudWatchMetrics[0].Dimensions).toEqual([['database', 'mode', 'source']]);
    expect(r.emf[0]).not.toHaveProperty('RecoverySeconds');
  });

  test('drill failure goes to the warning topic and says the instance was deleted', async () => {
    const r = run();
    const execution = nextExecution();
    const plan = recoveryPlan({}, { mode: 'drill', deleteOnFailure: true, execution: { name: execution, startTime: '2026-11-25T10:00:00.000Z' } });
    const result = (await r.handler({
      action: 'failed', plan, input: {}, execution: plan.execution, instance: FIXTURE_INSTANCE, validation: null, cutover: null,
      failure: { Error: 'InstanceFailed', Cause: 'status incompatible-restore' }, cleanup: { deleted: true, reason: 'drill' }, cleanupError: null, topics: TOPICS,
    })) as ReportResult;
    expect(result.topicArn).toBe(TOPICS.warning);
    expect(result.message).toContain(`Instance: ${FIXTURE_INSTANCE.identifier} deleted (drill).`);
    expect(result.message).toContain('Validation: not reached.');
    expect(r.emf[0]).toMatchObject({ mode: 'drill', RecoveryFailed: 1 });
  });

  test('a failed cleanup says the instance is left behind, with the command', async () => {
    const r = run();
    const execution = nextExecution();
    const plan = recoveryPlan({}, { mode: 'drill', deleteOnFailure: true, execution: { name: execution, startTime: '2026-11-25T10:00:00.000Z' }, rds: { ...recoveryPlan().rds, DeletionProtection: false } });
    const result = (await r.handler({
      action: 'failed', plan, input: {}, execution: plan.execution, instance: FIXTURE_INSTANCE, validation: null, cutover: null,
      failure: { Error: 'States.Timeout', Cause: 'hard timeout' }, cleanup: null, cleanupError: { Error: 'InvalidDBInstanceState', Cause: 'Instance is not in available state' }, topics: TOPICS,
    })) as ReportResult;
    expect(result.message).toContain(`Instance: CLEANUP FAILED, ${FIXTURE_INSTANCE.identifier} is left behind (InvalidDBInstanceState: Instance is not in available state). Delete it by hand:`);
    expect(result.message).toContain(`  aws rds delete-db-instance --db-instance-identifier ${FIXTURE_INSTANCE.identifier} --skip-final-snapshot`);
    expect(result.message).not.toContain('modify-db-instance');
    expect((await readRecord(result.recordKey!)).cleanup).toEqual({ deleted: false, reason: 'cleanup failed, the instance is left behind: InvalidDBInstanceState: Instance is not in available state' });
  });

  test('a health check failure after the cutover says traffic was switched and rolled back', async () => {
    const r = run();
    const execution = nextExecution();
    const plan = recoveryPlan({ secretArn: SECRET_ARN }, { execution: { name: execution, startTime: '2026-11-25T10:00:00.000Z' } });
    const result = (await r.handler({
      action: 'failed', plan, input: {}, execution: plan.execution, instance: FIXTURE_INSTANCE, validation: validationResult(1100), cutover: cutoverResult(1250),
      failure: { Error: 'HealthCheckFailed', Cause: 'health check https://api/health got no 2xx within 60 s' }, cleanup: null, cleanupError: null, topics: TOPICS,
    })) as ReportResult;
    expect(result.message).toContain('Cutover: traffic had been switched and was rolled back to the previous targets:');
    expect(result.message).toContain(`Instance: ${FIXTURE_INSTANCE.identifier} is kept for forensics (deleteOnFailure is off for this failover). When done, delete it:`);
    expect((await readRecord(result.recordKey!)).cutover).toEqual(cutoverResult(1250));
  });

  test('a failure after the success record was written keeps that record and says so', async () => {
    const r = run();
    const execution = nextExecution();
    const plan = recoveryPlan({}, { execution: { name: execution, startTime: '2026-11-25T10:00:00.000Z' } });
    const finished = (await r.handler({ action: 'finish', plan, instance: FIXTURE_INSTANCE, validation: validationResult(1100), cutover: null, restore: null, cleanup: null, topics: TOPICS })) as ReportResult;
    const failed = (await r.handler({
      action: 'failed', plan, input: {}, execution: plan.execution, instance: FIXTURE_INSTANCE, validation: validationResult(1100), cutover: null,
      failure: { Error: 'SNS.InternalErrorException', Cause: 'notify failed' }, cleanup: null, cleanupError: null, topics: TOPICS,
    })) as ReportResult;
    expect(failed.recordKey).toBe(finished.recordKey);
    expect((await readRecord(finished.recordKey!)).outcome).toBe('succeeded');
    expect(failed.message).toContain('a different record for this execution already existed and was kept as is');
  });

  test('a rejected input (no plan): no record, no metric, warning topic, the input shown redacted', async () => {
    const r = run();
    const keysBefore = await s3.keys();
    const result = (await r.handler({
      action: 'failed', plan: null, input: { database: 'orders', source: 'pitr', restoreTime: 'yesterday', note: 'postgres://u:secret@h/db' },
      execution: { name: 'bad-input-1', startTime: '2026-11-25T10:00:00.000Z' }, instance: null, validation: null, cutover: null,
      failure: { Error: 'InvalidInput', Cause: 'restoreTime: "yesterday" is not an ISO-8601 time; unknown key "note"' }, cleanup: null, cleanupError: null, topics: TOPICS,
    })) as ReportResult;
    expect(result).toMatchObject({ recordKey: null, topicArn: TOPICS.warning, outcome: 'failed', timings: { validatedSeconds: null, cutOverSeconds: null }, subject: 'pgdr: failover input rejected (InvalidInput)' });
    expect(result.message).toContain('restoreTime: "yesterday" is not an ISO-8601 time');
    expect(result.message).toContain('  "note": "postgres://u:***@h/db"');
    expect(result.message).toContain('  "restoreTime": "yesterday",');
    expect(result.message).not.toContain('secret');
    expect(await s3.keys()).toEqual(keysBefore);
    expect(r.emf).toEqual([]);
  });
});

describe('shapes', () => {
  test('recoveryRecordKey: the month of the start, a key-safe execution name', () => {
    expect(recoveryRecordKey('orders', '2026-11-25T10:00:00.000Z', 'exec-1')).toBe(KEY);
    expect(recoveryRecordKey('orders', '2026-11-25T10:00:00Z', 'Manual_Run-2026.11.25')).toBe('orders/recoveries/2026/11/Manual_Run-2026.11.25.json');
    const odd = recoveryRecordKey('orders', new Date('2027-01-01T00:00:00Z'), 'a b/c?d#é..');
    expect(odd).toMatch(/^orders\/recoveries\/2027\/01\/a_b_c_d__\.\.-[0-9a-f]{8}\.json$/);
    // Two names that sanitize alike still get two keys.
    expect(recoveryRecordKey('orders', '2027-01-01T00:00:00Z', 'a_b/c_d#é..')).not.toBe(odd);
    expect(recoveryRecordKey('orders', '2026-11-25T10:00:00Z', '..')).toMatch(/^orders\/recoveries\/2026\/11\/__-[0-9a-f]{8}\.json$/);
    expect(recoveryRecordKey('orders', '2026-11-25T10:00:00Z', 'x'.repeat(200))).toMatch(new RegExp(`^orders/recoveries/2026/11/${'x'.repeat(80)}-[0-9a-f]{8}\\.json$`));
    expect(() => recoveryRecordKey('orders', 'not a time', 'e')).toThrow(/not a valid date/);
  });

  test('subjects are printable ASCII of at most 100 characters', () => {
    const s = asciiSubject(`pgdr: ${'é'.repeat(50)}\n${'x'.repeat(100)}`);
    expect(s.length).toBe(100);
    expect(s).toMatch(/^[\x20-\x7e]+$/);
    expect(s.endsWith('...')).toBe(true);
  });

  test('an unknown action is InvalidInput', async () => {
    await expect(run().handler({ action: 'publish' } as never)).rejects.toMatchObject({ name: 'InvalidInput' });
  });
});
