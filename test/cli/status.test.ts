/**
 * `pgdr status`'s shared reading (cli/status.ts) against s3rver holding REAL records: dumps and
 * verification records made by the real dump and verify cores of a real PostgreSQL source
 * (test/support/harness.ts), the pointer they advance, and recovery records in the report's shape.
 * Unreadable records are problems, never fatal. The clock is a parameter: no sleeps.
 */
import type { RecoveryRecord } from '../../lambda/failover/contract';
import { keysFromDumpKey, recoveryRecordKey } from '../../lambda/shared/layout';
import { S3ObjectStore } from '../../lambda/shared/s3-store';
import type { BackupManifest, VerificationRecord } from '../../lambda/shared/records';
import { DatabaseConfig, loadConfig } from '../../lib/config';
import { DEFAULT_INSTANCE_CREATE_SECONDS } from '../../lib/monitor-settings';
import { DEFAULT_RESTORE_BYTES_PER_SECOND, DEFAULT_VALIDATION_SECONDS, estimateRtoSeconds } from '../../lambda/monitor/core';
import type { DatabaseStatus } from '../../cli/contract';
import { readDatabaseStatus, renderStatusTable, shortDuration } from '../../cli/status';
import { harness } from '../support/harness';
import { PgCluster } from '../../local/pg-cluster';
import { startTestS3, TestS3 } from '../support/s3-server';

const DB = 'shop';
const config = loadConfig('pgdr.config.json');
const shop: DatabaseConfig = config.databases.find((d) => d.name === DB)!;

let source: PgCluster;
let s3: TestS3;
let unverified: BackupManifest;
let verified: BackupManifest;
let record: VerificationRecord;

beforeAll(async () => {
  [source, s3] = await Promise.all([PgCluster.start(), startTestS3()]);
  await source.createDatabase(DB);
  await source.sql(DB, `CREATE TABLE orders (id int PRIMARY KEY, note text); INSERT INTO orders SELECT g, 'n' || g FROM generate_series(1, 2000) g;`);
  const h = harness(source, s3, DB, DB);
  verified = await h.dump({}, 'daily');
  record = await h.verify({ manifestKey: keysFromDumpKey(verified.dump.key).manifest, restoreTest: true });
  expect(record.ok).toBe(true);
  unverified = await h.dump({}, 'daily');
}, 120_000);

afterAll(async () => {
  await Promise.allSettled([s3?.stop(), source?.stop()]);
});

const store = () => new S3ObjectStore(s3.client, s3.bucket);
const at = (iso: string, plusSeconds: number) => new Date(Date.parse(iso) + plusSeconds * 1000);

function recovery(overrides: Partial<RecoveryRecord> & Pick<RecoveryRecord, 'execution' | 'startedAt' | 'finishedAt'>): RecoveryRecord {
  return {
    schemaVersion: 1,
    database: DB,
    mode: 'drill',
    source: 'dump',
    input: { database: DB, source: 'dump', mode: 'drill' },
    outcome: 'succeeded',
    instance: { identifier: `pgdr-${DB}-x`, host: null, port: null },
    backup: { manifestKey: keysFromDumpKey(verified.dump.key).manifest, startedAt: verified.startedAt },
    timings: { validatedSeconds: 1500, cutOverSeconds: null, rtoSeconds: 3600, rtoMet: true },
    validation: { ok: true, failures: [], summary: 'ok' },
    cutover: null,
    failure: null,
    cleanup: null,
    ...overrides,
  };
}

describe('readDatabaseStatus', () => {
  it('reports the newest backup, the newest verified one, the restore test and the estimate', async () => {
    const now = at(unverified.startedAt, 3600);
    const status = await readDatabaseStatus(store(), shop, now);
    expect(status.database).toBe(DB);
    expect(status.rpoSeconds).toBe(86_400);
    expect(status.rtoSeconds).toBe(3600);
    expect(status.newestBackup).toEqual({ key: unverified.dump.key, backupClass: 'daily', at: unverified.startedAt, ageSeconds: 3600, bytes: unverified.dump.bytes });
    expect(status.newestVerified).toMatchObject({ key: verified.dump.key, at: verified.startedAt, bytes: verified.dump.bytes });
    expect(status.newestVerified!.ageSeconds).toBe(Math.round((now.getTime() - Date.parse(verified.startedAt)) / 1000));
    expect(status.withinRpo).toBe(true);
    expect(status.lastRestoreTest).toEqual({ at: record.verifiedAt, seconds: record.restoreTest!.totalSeconds, ok: true });
    // The monitor's estimate: default instance creation + bytes ÷ the restore test's throughput + its checks.
    const test = record.restoreTest!;
    const measured = test.restoreSeconds > 0;
    expect(status.estimatedRtoSeconds).toBe(
      estimateRtoSeconds({
        instanceCreateSeconds: DEFAULT_INSTANCE_CREATE_SECONDS,
        backupBytes: verified.dump.bytes,
        throughputBytesPerSecond: measured ? verified.dump.bytes / test.restoreSeconds : DEFAULT_RESTORE_BYTES_PER_SECOND,
        validationSeconds: measured ? test.totalSeconds - test.restoreSeconds : DEFAULT_VALIDATION_SECONDS,
      }),
    );
    expect(status.lastRecovery).toBeUndefined();
    expect(status.problems).toEqual([]);
  });

  it('is outside the RPO once the newest verified backup is older than it', async () => {
    const status = await readDatabaseStatus(store(), shop, at(verified.startedAt, 86_401));
    expect(status.withinRpo).toBe(false);
    expect(status.newestVerified!.ageSeconds).toBe(86_401);
  });

  it('takes the newest recovery record, whatever its outcome, and its measured time against the RTO', async () => {
    const older = recovery({ execution: 'drill-1', startedAt: '2026-10-30T10:00:00.000Z', finishedAt: '2026-10-30T10:30:00.000Z' });
    const newer = recovery({
      execution: 'failover-2',
      mode: 'failover',
      source: 'pitr',
      outcome: 'failed',
      startedAt: '2026-11-02T10:00:00.000Z',
      finishedAt: '2026-11-02T11:10:00.000Z',
      timings: { validatedSeconds: 4000, cutOverSeconds: null, rtoSeconds: 3600, rtoMet: false },
      failure: { error: 'ValidationFailed', cause: 'rows lost' },
    });
    for (const r of [older, newer]) await store().putText(recoveryRecordKey(DB, r.startedAt, r.execution), JSON.stringify(r));
    const status = await readDatabaseStatus(store(), shop, new Date('2026-11-02T12:00:00.000Z'));
    expect(status.lastRecovery).toEqual({ at: newer.finishedAt, mode: 'failover', source: 'pitr', ok: false, seconds: 4000, withinRto: false });
  });

  it('turns every unreadable part into a problem line and still reports the rest', async () => {
    const broken: DatabaseConfig = { ...shop, name: 'broken' };
    const s = store();
    await s.putText('broken/daily/2026/11/20/broken_daily_2026-11-20T03-00-00-000Z.manifest.json', '{"schemaVersion": 1, "truncated');
    await s.putText('broken/latest-verified.json', 'not json');
    await s.putText('broken/recoveries/2026/11/x.json', '{"schemaVersion": 9}');
    const status = await readDatabaseStatus(s, broken, new Date('2026-11-21T00:00:00.000Z'));
    expect(status.newestBackup).toBeUndefined();
    expect(status.newestVerified).toBeUndefined();
    expect(status.withinRpo).toBe(false);
    expect(status.lastRecovery).toBeUndefined();
    expect(status.problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^manifest broken\/daily\/2026\/11\/20\/broken_daily_2026-11-20T03-00-00-000Z\.manifest\.json unreadable: /),
        expect.stringMatching(/^latest-verified pointer broken\/latest-verified\.json: corrupt: /),
        expect.stringMatching(/^recovery record broken\/recoveries\/2026\/11\/x\.json unreadable: .*schema version 1/),
      ]),
    );
  });

  it('reports a database with nothing in the vault as having no backup', async () => {
    const status = await readDatabaseStatus(store(), { ...shop, name: 'fresh' }, new Date());
    expect(status).toMatchObject({ database: 'fresh', withinRpo: false });
    expect(status.newestBackup).toBeUndefined();
    expect(status.problems).toContainEqual(expect.stringContaining('latest-verified pointer fresh/latest-verified.json: missing'));
  });

  it('a vault that cannot be reached is problems, not an exception', async () => {
    const down = new S3ObjectStore(s3.client, 'no-such-bucket');
    const status = await readDatabaseStatus(down, shop, new Date());
    expect(status.newestBackup).toBeUndefined();
    expect(status.problems.some((p) => p.startsWith('cannot list s3://no-such-bucket/shop/'))).toBe(true);
    expect(status.problems.some((p) => p.startsWith('cannot list recovery records s3://no-such-bucket/shop/recoveries/'))).toBe(true);
  });
});

describe('renderStatusTable', () => {
  const base: DatabaseStatus = {
    database: 'shop',
    rpoSeconds: 86_400,
    rtoSeconds: 3600,
    newestBackup: { key: 'k1', backupClass: 'daily', at: '2026-11-25T03:00:00.000Z', ageSeconds: 7200, bytes: 10 },
    newestVerified: { key: 'k0', backupClass: 'daily', at: '2026-11-24T03:00:00.000Z', ageSeconds: 93_600, bytes: 10 },
    withinRpo: false,
    lastRestoreTest: { at: '2026-11-24T03:10:00.000Z', seconds: 42, ok: true },
    lastRecovery: { at: '2026-11-20T10:30:00.000Z', mode: 'drill', source: 'dump', ok: true, seconds: 1500, withinRto: true },
    estimatedRtoSeconds: 1100,
    alarmsInAlarm: ['Pgdr-shop-backup-age'],
    alarmsKnown: true,
    problems: [],
  };
  const now = new Date('2026-11-25T05:00:00.000Z');

  it('prints one aligned row per database against its objectives', () => {
    const other: DatabaseStatus = { ...base, database: 'warehouse-db', newestBackup: undefined, newestVerified: undefined, lastRestoreTest: undefined, lastRecovery: undefined, estimatedRtoSeconds: undefined, alarmsInAlarm: [], alarmsKnown: false, problems: ['latest-verified pointer warehouse-db/latest-verified.json: missing (no verified backup yet)'] };
    const text = renderStatusTable([base, other], now);
    const lines = text.split('\n');
    expect(lines[0]).toMatch(/^DATABASE +NEWEST BACKUP \/ RPO +NEWEST VERIFIED \/ RPO +LAST RESTORE TEST +LAST DRILL\/FAILOVER \/ RTO +EST\. RTO \/ RTO +ALARMS IN ALARM$/);
    expect(lines[1]).toContain('2h / 1d ok (daily)');
    expect(lines[1]).toContain('1d 2h / 1d OVER (daily)');
    expect(lines[1]).toContain('ok 42s, 1d 1h ago');
    expect(lines[1]).toContain('drill dump 25m / 1h ok, 4d 18h ago');
    expect(lines[1]).toContain('18m / 1h ok');
    expect(lines[1]).toMatch(/Pgdr-shop-backup-age$/);
    expect(lines[2]).toMatch(/^warehouse-db +none +none +never +never +unknown +n\/a$/);
    // Columns line up: every column starts at the same offset in each row.
    const col = (line: string, i: number) => line.split(/ {2,}/).slice(0, i).join('  ').length;
    expect(lines[1].indexOf('2h /')).toBe(lines[0].indexOf('NEWEST BACKUP'));
    expect(col(lines[2], 1)).toBeLessThanOrEqual(lines[0].indexOf('NEWEST BACKUP'));
    expect(text).toContain('problems:\n  warehouse-db: latest-verified pointer warehouse-db/latest-verified.json: missing (no verified backup yet)');
  });

  it('short durations', () => {
    expect([5, 65, 3600, 3660, 90_000, 86_400 * 3].map(shortDuration)).toEqual(['5s', '1m 5s', '1h', '1h 1m', '1d 1h', '3d']);
  });
});
