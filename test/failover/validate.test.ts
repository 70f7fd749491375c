/**
 * The failover's Validate Lambda against REAL PostgreSQL: a source with the rich schema, a table
 * dated by `created_at` and a table with a quoted unicode name; one real backup (dump + verify,
 * manifest in the local S3 server). The "recovered instance" is a pg_basebackup copy of the source
 * (pitr/snapshot), mutated in the order the cases need, and a fresh server filled by the restore
 * handler (dump). Secrets come from a SecretReader over a map of JSON (test inputs).
 */
import { LocalSecretsManager, startLocalSecretsManager } from '../support/secrets-server';
import { keysFromDumpKey } from '../../lambda/shared/layout';
import { S3ObjectStore } from '../../lambda/shared/s3-store';
import type { Clock } from '../../lambda/shared/ports';
import type { BackupManifest } from '../../lambda/shared/records';
import type { FreshnessQuerySetting, InstanceState, RecoveryPlan, SmokeQuerySetting, ValidateEvent, ValidationResult } from '../../lambda/failover/contract';
import { compareTables, lossPercent, recoveryPoint, ValidationError } from '../../lambda/failover/validate/core';
import { handler, makeHandler, ValidateHandlerDeps } from '../../lambda/failover/validate/handler';
import { makeHandler as makeRestoreHandler } from '../../lambda/restore/handler';
import { RICH_SCHEMA } from '../support/fixtures';
import { captureStdout } from '../support/stdout';
import { secretMap } from '../support/secret-map';
import { harness, LogCapture } from '../support/harness';
import { PgCluster, PG_BIN } from '../../local/pg-cluster';
import { startTestS3, TestS3 } from '../support/s3-server';

const UNICODE_TABLE = 'app."Kunden ""Zürich"" ✓"';
const EXTRA_SCHEMA = `
CREATE TABLE app.orders (id serial PRIMARY KEY, created_at timestamptz NOT NULL);
INSERT INTO app.orders (created_at) SELECT now() - i * interval '1 minute' FROM generate_series(1, 50) i;
CREATE TABLE app.empty_log (created_at timestamptz);
CREATE TABLE ${UNICODE_TABLE} (id int PRIMARY KEY, "Name" text);
INSERT INTO ${UNICODE_TABLE} SELECT i, 'Kunde ' || i FROM generate_series(1, 20) i;
`;

const SOURCE_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:pgdr/shop-source-AbCdEf';
const MASTER_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-new-AbCdEf';
const WRONG_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:pgdr/shop-wrong-AbCdEf';
const WRONG_PASSWORD = 'wrong-Pw-7c1d-never-shown';

let source: PgCluster;
let copy: PgCluster;
let s3: TestS3;
let manifest: BackupManifest;
let manifestKey: string;
let startTime: string;
const secretValues: Record<string, string> = {};
const log = new LogCapture();

const secrets = secretMap(secretValues);

beforeAll(async () => {
  [source, s3] = await Promise.all([PgCluster.start(), startTestS3()]);
  await source.createDatabase('shop');
  await source.sql('shop', RICH_SCHEMA);
  await source.sql('shop', EXTRA_SCHEMA);
  const h = harness(source, s3, 'shop', 'shop');
  manifest = await h.dump();
  expect((await h.verify({ restoreTest: false })).ok).toBe(true);
  manifestKey = keysFromDumpKey(manifest.dump.key).manifest;
  startTime = new Date(Date.parse(manifest.startedAt) + 60_000).toISOString();
  copy = await PgCluster.fromBaseBackup(source);
  // The source's secret: its old endpoint; the validation must use the new instance's.
  secretValues[SOURCE_ARN] = JSON.stringify({ engine: 'postgres', host: 'old-primary.invalid', port: 1, dbname: 'shop', username: 'postgres', password: source.password });
  secretValues[WRONG_ARN] = JSON.stringify({ host: 'old-primary.invalid', port: 1, dbname: 'shop', username: 'postgres', password: WRONG_PASSWORD });
}, 120_000);

afterAll(async () => {
  await Promise.allSettled([s3?.stop(), source?.stop(), copy?.stop()]);
});

const clock: Clock = { now: () => new Date(Date.parse(startTime) + 125_000) };
const deps = (): ValidateHandlerDeps => ({ store: new S3ObjectStore(s3.client, s3.bucket), secrets, tls: {}, clock, log });

interface PlanOptions {
  source?: RecoveryPlan['source'];
  restoreTime?: string | null;
  snapshotCreatedAt?: string | null;
  backup?: RecoveryPlan['backup'];
  tolerance?: number;
  smokeQueries?: SmokeQuerySetting[];
  freshnessQueries?: FreshnessQuerySetting[];
  sourceSecretArn?: string;
  rpoSeconds?: number;
}

function plan(o: PlanOptions = {}): RecoveryPlan {
  const src = o.source ?? 'pitr';
  return {
    schemaVersion: 1,
    database: 'shop',
    source: src,
    mode: 'drill',
    approval: 'skip',
    execution: { name: 'exec-1', startTime },
    instanceIdentifier: 'pgdr-shop-exec-1',
    rtoDeadline: startTime,
    hardDeadline: startTime,
    rtoSeconds: 3600,
    rpoSeconds: o.rpoSeconds ?? 3600,
    approvalTimeoutSeconds: 3600,
    pitr: src === 'pitr' ? { sourceInstanceIdentifier: 'shop-db', useLatestRestorableTime: !o.restoreTime, restoreTime: o.restoreTime ?? null } : null,
    snapshot: src === 'snapshot' ? { snapshotIdentifier: 'rds:shop-db-2026', createdAt: o.snapshotCreatedAt ?? null } : null,
    backup: o.backup === undefined ? { manifestKey, startedAt: manifest.startedAt } : o.backup,
    rds: {
      DBInstanceClass: 'db.t4g.micro', DBSubnetGroupName: 'default', VpcSecurityGroupIds: [], MultiAZ: false, DeletionProtection: false, Tags: [],
      Engine: 'postgres', EngineVersion: '15', AllocatedStorage: 20, MasterUsername: 'pgdr', Port: 5432,
    },
    deleteOnFailure: true,
    cutover: { secretArn: null, ssmParameterName: null, route53: null, healthCheck: null, any: false },
    validation: { rowLossTolerancePercent: o.tolerance ?? 10, smokeQueries: o.smokeQueries ?? [], freshnessQueries: o.freshnessQueries ?? [] },
    sourceSecretArn: o.sourceSecretArn ?? SOURCE_ARN,
    port: 5432,
    functions: { restore: 'arn:restore', validate: 'arn:validate' },
    runner: 'lambda',
    restoreTask: null,
  };
}

const instance = (cluster: PgCluster, masterSecretArn: string | null = null): InstanceState => ({ identifier: 'pgdr-shop-exec-1', status: 'available', host: cluster.host, port: cluster.port, masterSecretArn });
const validate = (p: RecoveryPlan, inst: InstanceState = instance(copy)): Promise<ValidationResult> => makeHandler(deps())({ plan: p, instance: inst } satisfies ValidateEvent);
const table = (r: ValidationResult, name: string) => r.tables.find((t) => t.table === name);
const FRESH: FreshnessQuerySetting = { name: 'newest order', sql: 'SELECT max(created_at) FROM app.orders' };

describe('the handler as deployed (environment, its own S3 and Secrets Manager clients)', () => {
  const savedEnv = { ...process.env };
  const stdout = captureStdout();
  let secretsServer: LocalSecretsManager;

  beforeAll(async () => {
    secretsServer = await startLocalSecretsManager(secretValues);
    Object.assign(process.env, {
      AWS_REGION: 'eu-west-1',
      AWS_ACCESS_KEY_ID: 'S3RVER',
      AWS_SECRET_ACCESS_KEY: 'S3RVER',
      AWS_ENDPOINT_URL_S3: s3.endpoint,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: secretsServer.endpoint,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      PGDR_BUCKET: s3.bucket,
      PGDR_PG_SSLMODE: 'prefer',
      POWERTOOLS_SERVICE_NAME: 'pgdr-test',
    });
  });
  afterAll(async () => {
    process.env = savedEnv;
    await secretsServer?.stop();
  });

  test('validates the copy with the manifest from the bucket and the source secret from Secrets Manager; logs hold no password', async () => {
    const r = await handler({ plan: plan({ restoreTime: manifest.startedAt, freshnessQueries: [FRESH] }), instance: instance(copy) });
    expect(r.failures).toEqual([]);
    expect(r).toMatchObject({ ok: true, manifestKey });
    expect(r.tables).toHaveLength(Object.keys(manifest.rowCounts).length);
    const printed = stdout.text();
    expect(printed).toContain('validate: finished');
    expect(printed).not.toContain(source.password);
  });

  test('an unreadable secret is a ValidationError naming the secret', async () => {
    await expect(handler({ plan: plan({ sourceSecretArn: `${SOURCE_ARN}x` }), instance: instance(copy) })).rejects.toMatchObject({
      name: 'ValidationError',
      message: `cannot read secret ${SOURCE_ARN}x: ResourceNotFoundException: Secrets Manager can't find the specified secret.`,
    });
  });
});

describe('pitr/snapshot: a copy of the source', () => {
  test('passes: every table side by side with the manifest, object counts, smoke and freshness queries; timings from the injected clock', async () => {
    const r = await validate(plan({ restoreTime: manifest.startedAt, smokeQueries: [{ name: 'users', sql: 'SELECT id FROM app."User"', minRows: 300 }], freshnessQueries: [FRESH] }));
    expect(r.failures).toEqual([]);
    expect(r).toMatchObject({ ok: true, database: 'shop', manifestKey, validatedAt: clock.now().toISOString(), secondsSinceStart: 125 });
    expect(r.tables.map((t) => t.table)).toEqual(Object.keys(manifest.rowCounts).sort());
    expect(table(r, 'app."Ticket"')).toEqual({ table: 'app."Ticket"', expected: 2000, actual: 2000, lossPercent: 0, ok: true });
    // A quoted unicode name is compared under the very name the manifest gives it.
    expect(table(r, UNICODE_TABLE)).toEqual({ table: UNICODE_TABLE, expected: 20, actual: 20, lossPercent: 0, ok: true });
    expect(r.objects.find((o) => o.what === 'indexes')).toEqual({ what: 'indexes', expected: manifest.objectCounts.indexes, actual: manifest.objectCounts.indexes, ok: true });
    expect(r.objects.every((o) => o.ok)).toBe(true);
    expect(r.smokeQueries).toEqual([{ name: 'users', rows: 300, minRows: 300, ok: true }]);
    expect(r.freshness).toHaveLength(1);
    expect(r.freshness[0]).toMatchObject({ name: 'newest order', ok: true, notBefore: new Date(Date.parse(manifest.startedAt) - 3600_000).toISOString() });
    expect(Date.parse(r.freshness[0].newest!)).toBeLessThanOrEqual(Date.parse(manifest.startedAt));
    // The new endpoint (not the secret's old one), the login's database.
    expect(r.summary.split('\n')[0]).toBe(`shop: pitr recovery, instance pgdr-shop-exec-1 (127.0.0.1:${copy.port}/shop).`);
    expect(r.summary).toContain(`Counts compared with manifest ${manifestKey} (backup of ${manifest.startedAt}), row-loss tolerance 10 %: ${Object.keys(manifest.rowCounts).length} tables, no table lost rows; object counts ok.`);
    expect(r.summary).toContain('Smoke queries: 1/1 passed.');
    expect(r.summary).toMatch(/Freshness: 1\/1 passed; newest data must be at or after .* \(the restore time .* minus the RPO of 3600 s\)\./);
    expect(r.summary).toMatch(/Result: OK\.$/);
    expect(log.text()).not.toContain(source.password);
    expect(JSON.stringify(r)).not.toContain(source.password);
  });

  test('wrong password: a thrown ValidationError that names the login and the server, not the password', async () => {
    const err = await validate(plan({ sourceSecretArn: WRONG_ARN })).catch((e: unknown) => e as Error);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as Error).name).toBe('ValidationError');
    expect((err as Error).message).toBe(`cannot connect to the new instance pgdr-shop-exec-1: password authentication failed for postgres@127.0.0.1:${copy.port}/shop`);
    expect((err as Error).message).not.toContain(WRONG_PASSWORD);
    // An unreadable secret and an instance without endpoint are the same kind of error.
    await expect(validate(plan({ sourceSecretArn: `${SOURCE_ARN}x` }))).rejects.toThrow(new ValidationError(`cannot read secret ${SOURCE_ARN}x: ResourceNotFoundException`));
    await expect(validate(plan(), { ...instance(copy), host: null, port: null })).rejects.toMatchObject({ name: 'ValidationError', message: 'instance "pgdr-shop-exec-1" has no endpoint (host null, port null)' });
    expect(log.text()).not.toContain(WRONG_PASSWORD);
  });

  test('statement_timeout = 1ms on the database (as a managed provider sets it): counts, smoke and freshness queries still run', async () => {
    await copy.sql('postgres', `ALTER DATABASE shop SET statement_timeout = '1ms'`);
    try {
      // Read from the catalog: a session on shop itself runs under the 1 ms timeout.
      expect(await copy.sql('postgres', `SELECT s.setconfig FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase WHERE d.datname = 'shop' AND s.setrole = 0`)).toEqual([{ setconfig: ['statement_timeout=1ms'] }]);
      const r = await validate(plan({ restoreTime: manifest.startedAt, smokeQueries: [{ name: 'tickets', sql: 'SELECT t.*, u.* FROM app."Ticket" t JOIN app."User" u ON u.id = t."userId"', minRows: 2000 }], freshnessQueries: [FRESH] }));
      expect(r.failures).toEqual([]);
      expect(r.ok).toBe(true);
      expect(r.smokeQueries[0]).toEqual({ name: 'tickets', rows: 2000, minRows: 2000, ok: true });
    } finally {
      await copy.sql('postgres', 'ALTER DATABASE shop RESET statement_timeout');
    }
  });

  test('a failing smoke query (too few rows) and an erroring one fail the run; the passing one is still reported', async () => {
    const r = await validate(
      plan({
        smokeQueries: [
          { name: 'no users', sql: 'SELECT 1 FROM app."User" WHERE false', minRows: 1 },
          { name: 'broken', sql: 'SELECT * FROM app.no_such_table', minRows: 0 },
          { name: 'events', sql: 'SELECT * FROM app."Event"', minRows: 40 },
        ],
      }),
    );
    expect(r.ok).toBe(false);
    expect(r.smokeQueries).toEqual([
      { name: 'no users', rows: 0, minRows: 1, ok: false },
      { name: 'broken', rows: null, minRows: 0, ok: false, error: 'relation "app.no_such_table" does not exist' },
      { name: 'events', rows: 40, minRows: 40, ok: true },
    ]);
    expect(r.failures).toEqual(['smoke query "no users" returned 0 rows, needs at least 1', 'smoke query "broken" failed: relation "app.no_such_table" does not exist']);
    expect(r.summary).toContain('Smoke queries: 1/3 passed (failed: "no users", "broken").');
    expect(r.summary).toContain('Result: FAILED (2 checks): smoke query "no users" returned 0 rows, needs at least 1 ...');
  });

  test('freshness: fresh passes; empty table (NULL, no row), a non-timestamp and an erroring query each fail by name, none hides the others', async () => {
    const r = await validate(
      plan({
        restoreTime: manifest.startedAt,
        freshnessQueries: [
          { name: 'empty max', sql: 'SELECT max(created_at) FROM app.empty_log' },
          { name: 'no row', sql: 'SELECT created_at FROM app.empty_log' },
          { name: 'a number', sql: 'SELECT 42 AS n' },
          { name: 'text', sql: `SELECT '2026-01-01'::text` },
          { name: 'broken', sql: 'SELECT max(created_at) FROM app.no_such_table' },
          FRESH,
        ],
      }),
    );
    expect(r.ok).toBe(false);
    expect(r.failures).toEqual([
      'freshness query "empty max" returned NULL (no data to date the recovery by)',
      'freshness query "no row" returned no row (expected one timestamp)',
      'freshness query "a number" returned 42, not a timestamp',
      'freshness query "text" returned "2026-01-01", not a timestamp',
      'freshness query "broken" failed: relation "app.no_such_table" does not exist',
    ]);
    expect(r.freshness.map((f) => [f.name, f.ok])).toEqual([['empty max', false], ['no row', false], ['a number', false], ['text', false], ['broken', false], ['newest order', true]]);
    // Counts still compared and fine: only freshness failed.
    expect(r.tables.every((t) => t.ok)).toBe(true);
  });

  test('freshness: data older than the recovery point minus the RPO is stale (pitr restore time, snapshot creation, pitr latest = the execution start)', async () => {
    const newest = (await copy.sql<{ t: Date }>('shop', 'SELECT max(created_at) AS t FROM app.orders'))[0].t;
    const later = new Date(newest.getTime() + 2 * 86_400_000).toISOString();
    const stale = await validate(plan({ restoreTime: later, freshnessQueries: [FRESH] }));
    const notBefore = new Date(Date.parse(later) - 3600_000).toISOString();
    expect(stale.ok).toBe(false);
    expect(stale.freshness).toEqual([{ name: 'newest order', newest: newest.toISOString(), notBefore, ok: false, error: `newest ${newest.toISOString()} is older than ${notBefore}` }]);
    expect(stale.failures).toEqual([`freshness query "newest order" newest ${newest.toISOString()} is older than ${notBefore}`]);
    expect(stale.summary).toContain(`(the restore time ${later} minus the RPO of 3600 s)`);
    // Snapshot: its creation time is the recovery point; a larger RPO makes the same data fresh.
    const snap = await validate(plan({ source: 'snapshot', snapshotCreatedAt: later, freshnessQueries: [FRESH] }));
    expect(snap.failures).toEqual([`freshness query "newest order" newest ${newest.toISOString()} is older than ${notBefore}`]);
    expect((await validate(plan({ source: 'snapshot', snapshotCreatedAt: later, rpoSeconds: 3 * 86_400, freshnessQueries: [FRESH] }))).ok).toBe(true);
    // Recovery points by source (pure).
    expect(recoveryPoint(plan({ restoreTime: null }), manifest)).toEqual({ at: new Date(startTime), basis: 'the execution start (latest restorable time)' });
    expect(recoveryPoint(plan({ source: 'snapshot' }), manifest)).toEqual({ at: new Date(startTime), basis: 'the execution start' });
    expect(recoveryPoint(plan({ source: 'dump' }), manifest)).toEqual({ at: new Date(manifest.startedAt), basis: 'the backup start' });
  });

  test('no verified manifest (backup null): counts are not compared, the summary says so, the other checks run', async () => {
    const r = await validate(plan({ backup: null, smokeQueries: [{ name: 'users', sql: 'SELECT 1 FROM app."User"', minRows: 1 }] }));
    expect(r).toMatchObject({ ok: true, manifestKey: null, tables: [], objects: [], failures: [] });
    expect(r.smokeQueries[0].ok).toBe(true);
    expect(r.summary).toContain('Row and object counts NOT compared: no verified backup manifest for shop.');
  });

  test('rows lost within the tolerance pass with the numbers side by side; more rows than the manifest are fine', async () => {
    await copy.sql('shop', `DELETE FROM app."Ticket" WHERE id <= 100; INSERT INTO app.orders (created_at) VALUES (now());`);
    const r = await validate(plan());
    expect(r.failures).toEqual([]);
    expect(r.ok).toBe(true);
    expect(table(r, 'app."Ticket"')).toEqual({ table: 'app."Ticket"', expected: 2000, actual: 1900, lossPercent: 5, ok: true });
    expect(table(r, 'app.orders')).toEqual({ table: 'app.orders', expected: 50, actual: 51, lossPercent: -2, ok: true });
    expect(r.summary).toContain('worst loss app."Ticket" 5 % (2000 -> 1900)');
  });

  test('a table that lost more than the tolerance fails, named with the percentages', async () => {
    await copy.sql('shop', `DELETE FROM ${UNICODE_TABLE} WHERE id > 15`);
    const r = await validate(plan());
    expect(r.ok).toBe(false);
    expect(r.failures).toEqual([`table ${UNICODE_TABLE} lost 25 % of its rows (manifest 20, recovered 15), more than the tolerance of 10 %`]);
    expect(table(r, UNICODE_TABLE)).toEqual({ table: UNICODE_TABLE, expected: 20, actual: 15, lossPercent: 25, ok: false });
    expect(table(r, 'app."Ticket"')!.ok).toBe(true);
    expect(r.summary).toContain(`worst loss ${UNICODE_TABLE} 25 % (20 -> 15)`);
    // A tolerance of 30 % lets it through.
    expect((await validate(plan({ tolerance: 30 }))).ok).toBe(true);
  });

  test('fewer indexes than the manifest fail', async () => {
    await copy.sql('shop', 'DROP INDEX app.ticket_event_idx');
    const r = await validate(plan({ tolerance: 30 }));
    const n = manifest.objectCounts.indexes;
    expect(r.failures).toEqual([`indexes: manifest ${n}, recovered ${n - 1} (fewer than the backup)`]);
    expect(r.objects.find((o) => o.what === 'indexes')).toEqual({ what: 'indexes', expected: n, actual: n - 1, ok: false });
    expect(r.summary).toContain('object counts short: indexes');
  });

  test('a dropped table fails: the table is missing, and so are its objects', async () => {
    await copy.sql('shop', 'DROP TABLE "Billing"."Invoice" CASCADE');
    const r = await validate(plan({ tolerance: 30 }));
    expect(r.ok).toBe(false);
    expect(table(r, '"Billing"."Invoice"')).toEqual({ table: '"Billing"."Invoice"', expected: 150, actual: null, lossPercent: null, ok: false });
    expect(r.failures).toEqual(
      expect.arrayContaining([
        'table "Billing"."Invoice" is missing (the manifest lists it with 150 rows)',
        `tables: manifest ${manifest.objectCounts.tables}, recovered ${manifest.objectCounts.tables - 1} (fewer than the backup)`,
        `views: manifest ${manifest.objectCounts.views}, recovered ${manifest.objectCounts.views - 1} (fewer than the backup)`,
      ]),
    );
    expect(r.summary).toContain('1 missing');
  });
});

describe('dump: a fresh server filled by the restore handler', () => {
  let target: PgCluster;
  beforeAll(async () => {
    target = await PgCluster.start();
    // RDS-managed master secrets hold only username and password.
    secretValues[MASTER_ARN] = JSON.stringify({ username: 'postgres', password: target.password });
    const restore = makeRestoreHandler({ store: deps().store, secrets, tls: {}, pgBin: PG_BIN, jobs: 1, log, clock });
    // As the state machine calls it: cutoverSecretArn null when the database has no cutover secret.
    const restored = await restore({ database: 'shop', backupKey: manifestKey, target: { host: target.host, port: target.port, masterSecretArn: MASTER_ARN }, cutoverSecretArn: null });
    expect(restored).toMatchObject({ ok: true, manifestKey, targetDatabase: 'shop', appLoginPasswordSet: null });
  }, 120_000);
  afterAll(async () => {
    await target?.stop();
  });

  test('equal counts pass (the master secret, the database the manifest names); the source secret is not used', async () => {
    const r = await validate(plan({ source: 'dump', sourceSecretArn: WRONG_ARN, freshnessQueries: [FRESH] }), instance(target, MASTER_ARN));
    expect(r.failures).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.tables.every((t) => t.ok && t.expected === t.actual && t.lossPercent === 0)).toBe(true);
    expect(r.objects.every((o) => o.ok && o.expected === o.actual)).toBe(true);
    expect(r.freshness[0]).toMatchObject({ ok: true, notBefore: new Date(Date.parse(manifest.startedAt) - 3600_000).toISOString() });
    expect(r.summary).toContain(`Counts compared with manifest ${manifestKey} (backup of ${manifest.startedAt}), must be equal: ${Object.keys(manifest.rowCounts).length} tables, all rows equal; object counts ok.`);
    expect(r.summary).toContain('(the backup start');
    expect(log.text()).not.toContain(target.password);
  });

  test('one row fewer than the manifest fails (a dump restore must be exact)', async () => {
    await target.sql('shop', 'DELETE FROM app.orders WHERE id = (SELECT max(id) FROM app.orders)');
    const r = await validate(plan({ source: 'dump', tolerance: 50 }), instance(target, MASTER_ARN));
    expect(r.ok).toBe(false);
    expect(r.failures).toEqual(['rows of app.orders: manifest 50, restored 49']);
    expect(table(r, 'app.orders')).toEqual({ table: 'app.orders', expected: 50, actual: 49, lossPercent: 2, ok: false });
  });

  test('a dump recovery without the managed master secret is a ValidationError', async () => {
    await expect(validate(plan({ source: 'dump' }), instance(target, null))).rejects.toMatchObject({
      name: 'ValidationError',
      message: 'instance pgdr-shop-exec-1: dump recovery without instance.masterSecretArn (the managed master secret)',
    });
  });
});

test('pure pieces: loss percentages and the exact/tolerant comparisons', () => {
  expect(lossPercent(3, 2)).toBe(33.33);
  expect(lossPercent(0, 5)).toBe(0);
  const tolerant = compareTables({ a: 10, b: 10, gone: 1 }, { a: 9, b: 12, extra: 3 }, false, 10);
  expect(tolerant.failures).toEqual(['table gone is missing (the manifest lists it with 1 rows)']);
  expect(tolerant.tables).toEqual([
    { table: 'a', expected: 10, actual: 9, lossPercent: 10, ok: true },
    { table: 'b', expected: 10, actual: 12, lossPercent: -20, ok: true },
    { table: 'extra', expected: null, actual: 3, lossPercent: null, ok: true },
    { table: 'gone', expected: 1, actual: null, lossPercent: null, ok: false },
  ]);
  expect(compareTables({ a: 10 }, { a: 10, extra: 3 }, true, 10).failures).toEqual(['rows of extra: manifest no such table, restored 3']);
});
