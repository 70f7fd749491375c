/**
 * The recovery-objectives monitor (lambda/monitor) against real parts: s3rver holding REAL dumps and
 * verification records (dump + verify of a real PostgreSQL source through the harness), the real
 * pg probe through a secret (SecretReader port over an in-memory secret map) to real clusters, the
 * RDS simulator through the real @aws-sdk/client-rds (PITR lag, allocated storage), EMF lines from
 * the real metrics adapter captured from its stream, and an injected clock.
 *
 * - pointers: fresh, stale, missing, revoked, corrupt (the run goes on) → BackupAgeSeconds;
 * - per-class ages from the verification records;
 * - estimated RTO from the recorded restore tests and a recovery record, and the fallback;
 * - health: reachable, database down (wrong port, stopped cluster, wrong password), connections
 *   near the limit (> 90 %);
 * - parts fail on their own: S3 down, RDS API error; every part still reported;
 * - the EMF lines' names, units, dimensions; no password anywhere.
 */
import { Writable } from 'node:stream';
import { PgCluster, freePort } from '../../local/pg-cluster';
import { RdsSimulator } from '../../local/rds-simulator';
import { recordingClient, startTestS3, TestS3 } from '../support/s3-server';
import { harness, LogCapture } from '../support/harness';
import { latestVerifiedKey, recoveryRecordKey, keysFromDumpKey } from '../../lambda/shared/layout';
import { S3ObjectStore } from '../../lambda/shared/s3-store';
import { emfMetricsWithDimensions } from '../../lambda/shared/metrics';
import type { SecretReader } from '../../lambda/shared/ports';
import type { BackupManifest, LatestVerified, VerificationRecord } from '../../lambda/shared/records';
import { rdsReader } from '../../lambda/failover/preflight/rds';
import { NO_BACKUP_AGE_SECONDS, MonitorSettings } from '../../lambda/monitor/contract';
import {
  DEFAULT_RESTORE_BYTES_PER_SECOND,
  DEFAULT_VALIDATION_SECONDS,
  estimateRtoSeconds,
  median,
  MonitorDeps,
  MonitorReport,
  StorageReader,
} from '../../lambda/monitor/core';
import { pgDatabaseProbe } from '../../lambda/monitor/probe';
import { makeHandler } from '../../lambda/monitor/handler';

const DB = 'shop';
const SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:shop-source';
const PASSWORD = 'Src-Pw-9d3f-"quoted"';
const WRONG_PASSWORD = 'Wrong-Pw-77aa-monitor';
const LOGIN_PASSWORD = 'Login-Pw-5e1c';
const INSTANCE = 'prod-shop';
const SETTINGS: MonitorSettings = {
  classes: [
    { name: 'daily', intervalSeconds: 86_400 },
    { name: 'hourly', intervalSeconds: 3_600 },
  ],
  pointInTimeRecovery: false,
  defaultInstanceCreateSeconds: 900,
  rtoSeconds: 3_600,
  rpoSeconds: 86_400,
};

let source: PgCluster;
let s3: TestS3;
let sim: RdsSimulator;
let daily: BackupManifest;
let dailyRecord: VerificationRecord;
let hourly: BackupManifest;
let hourlyRecord: VerificationRecord;
let pointerText: string;

beforeAll(async () => {
  [source, s3, sim] = await Promise.all([PgCluster.start({ password: PASSWORD }), startTestS3(), RdsSimulator.start()]);
  await source.createDatabase(DB);
  await source.sql(DB, `CREATE TABLE item (id int PRIMARY KEY, name text); INSERT INTO item SELECT g, repeat('x', 200) || g FROM generate_series(1, 5000) g;`);
  const h = harness(source, s3, DB, DB);
  daily = await h.dump({}, 'daily');
  dailyRecord = await h.verify({ manifestKey: keysFromDumpKey(daily.dump.key).manifest, restoreTest: true });
  hourly = await h.dump({}, 'hourly');
  hourlyRecord = await h.verify({ manifestKey: keysFromDumpKey(hourly.dump.key).manifest, restoreTest: true });
  expect(dailyRecord.ok && hourlyRecord.ok).toBe(true);
  pointerText = (await store().getText(latestVerifiedKey(DB)))!.text;
  await sim.registerSource(INSTANCE, source);
});

afterAll(async () => {
  await Promise.allSettled([s3?.stop(), source?.stop(), sim?.stop()]);
});

const store = () => new S3ObjectStore(s3.client, s3.bucket);

/** The secret map behind the SecretReader port (what Secrets Manager would return). */
function secrets(doc: Record<string, unknown>): SecretReader {
  return { json: async (id) => (id === SECRET ? doc : Promise.reject(new Error(`no secret ${id}`))) };
}

interface Captured {
  report: MonitorReport;
  emf: Array<Record<string, unknown>>;
  log: LogCapture;
}

/** Runs the monitor through the handler with real adapters; `overrides` replace ports. */
async function monitor(now: Date, overrides: Partial<MonitorDeps> = {}, settings: Partial<MonitorSettings> = {}): Promise<Captured> {
  const emf: Array<Record<string, unknown>> = [];
  const out = new Writable({
    write: (chunk, _enc, cb) => {
      for (const line of chunk.toString().split('\n').filter(Boolean)) emf.push(JSON.parse(line));
      cb();
    },
  });
  const log = new LogCapture();
  const handler = makeHandler({
    database: DB,
    settings: { ...SETTINGS, ...settings },
    store: store(),
    rds: rdsReader(sim.client()),
    probe: pgDatabaseProbe({ secrets: secrets(source.secret('postgres')), secretId: SECRET, tls: { sslmode: 'disable' } }),
    metrics: (dimensions) => emfMetricsWithDimensions(dimensions, out),
    clock: { now: () => now },
    log,
    ...overrides,
  });
  const report = await handler({ source: 'aws.scheduler' });
  return { report, emf, log };
}

const value = (report: MonitorReport, metric: string, backupClass?: string): number | undefined =>
  report.values.find((v) => v.metric === metric && v.dimensions.class === backupClass)?.value;

const at = (iso: string, plusSeconds: number) => new Date(Date.parse(iso) + plusSeconds * 1000);

/** Writes the pointer, runs `fn`, puts the real pointer back. */
async function withPointer<T>(text: string | undefined, fn: () => Promise<T>): Promise<T> {
  const key = latestVerifiedKey(DB);
  const { DeleteObjectCommand } = await import('@aws-sdk/client-s3');
  try {
    if (text === undefined) await s3.client.send(new DeleteObjectCommand({ Bucket: s3.bucket, Key: key }));
    else await store().putText(key, text);
    return await fn();
  } finally {
    await store().putText(key, pointerText);
  }
}

describe('backup age', () => {
  it('fresh pointer: seconds since the newest verified backup started; per class from the verification records', async () => {
    const pointer = JSON.parse(pointerText) as LatestVerified;
    expect(pointer.manifestKey).toBe(keysFromDumpKey(hourly.dump.key).manifest);
    const { report, log } = await monitor(at(hourly.startedAt, 120));
    expect(value(report, 'BackupAgeSeconds')).toBe(120);
    expect(value(report, 'BackupAgeSeconds', 'hourly')).toBe(120);
    const dailyAge = Math.round((Date.parse(hourly.startedAt) + 120_000 - Date.parse(daily.startedAt)) / 1000);
    expect(value(report, 'BackupAgeSeconds', 'daily')).toBe(dailyAge);
    expect(report.latestVerified).toEqual({ manifestKey: pointer.manifestKey, backupStartedAt: hourly.startedAt });
    expect(report.classes.daily).toEqual({ manifestKey: keysFromDumpKey(daily.dump.key).manifest, backupStartedAt: daily.startedAt });
    expect(report.problems).toEqual([]);
    expect(log.entries.filter((e) => e.level === 'WARN')).toEqual([]);
  });

  it('stale: three days later the ages say so', async () => {
    const { report } = await monitor(at(hourly.startedAt, 3 * 86_400));
    expect(value(report, 'BackupAgeSeconds')).toBe(3 * 86_400);
    expect(value(report, 'BackupAgeSeconds', 'hourly')).toBe(3 * 86_400);
    expect(value(report, 'BackupAgeSeconds', 'daily')).toBeGreaterThan(3 * 86_400);
  });

  it('missing pointer: NO_BACKUP_AGE_SECONDS, and the report says why', async () => {
    const { report, log } = await withPointer(undefined, () => monitor(at(hourly.startedAt, 60)));
    expect(value(report, 'BackupAgeSeconds')).toBe(NO_BACKUP_AGE_SECONDS);
    expect(report.latestVerified).toEqual({ none: expect.stringMatching(/^missing/) });
    expect(report.problems).toContainEqual({ part: 'backup-age', message: expect.stringContaining('missing') });
    expect(log.entries.filter((e) => e.level === 'WARN' && e.attributes?.part === 'backup-age')).toHaveLength(1);
    // the classes still have their verified backups
    expect(value(report, 'BackupAgeSeconds', 'hourly')).toBe(60);
    // no drill recorded yet: the drill age is the age of nothing, so the drill-age alarm fires
    expect(value(report, 'DrillAgeSeconds')).toBe(NO_BACKUP_AGE_SECONDS);
    expect(report.skipped).toContainEqual(expect.stringContaining('DrillAgeSeconds: no successful drill recorded'));
  });

  it('revoked pointer: no verified backup (the reason is reported)', async () => {
    const revoked = { ...JSON.parse(pointerText), revoked: { at: hourly.startedAt, reason: 'sha256 mismatch on re-verification' } };
    const { report } = await withPointer(JSON.stringify(revoked), () => monitor(at(hourly.startedAt, 60)));
    expect(value(report, 'BackupAgeSeconds')).toBe(NO_BACKUP_AGE_SECONDS);
    expect(report.latestVerified).toEqual({ none: expect.stringContaining('sha256 mismatch on re-verification') });
    expect(report.estimate).toBeNull();
    expect(report.values.map((v) => v.metric)).not.toContain('EstimatedRtoSeconds');
  });

  it('corrupt pointer: the run does not crash; NO_BACKUP_AGE_SECONDS and every other part published', async () => {
    const { report } = await withPointer('{"schemaVersion": 1, "database": ', () => monitor(at(hourly.startedAt, 60)));
    expect(value(report, 'BackupAgeSeconds')).toBe(NO_BACKUP_AGE_SECONDS);
    expect(report.problems).toContainEqual({ part: 'backup-age', message: expect.stringMatching(/corrupt: RecordError: .*not valid JSON/) });
    expect(value(report, 'DatabaseReachable')).toBe(1);
    expect(value(report, 'BackupAgeSeconds', 'daily')).toBeDefined();
  });

  it('a damaged verification record is skipped with a problem; the older verified backup of the class counts', async () => {
    const h = harness(source, s3, DB, DB);
    const newer = await h.dump({}, 'daily');
    const newerKey = keysFromDumpKey(newer.dump.key).verification;
    await store().putText(newerKey, '{"schemaVersion": 1}');
    const { DeleteObjectCommand } = await import('@aws-sdk/client-s3');
    try {
      const { report } = await monitor(at(hourly.startedAt, 60));
      expect(report.problems).toEqual([{ part: 'class-age', message: expect.stringContaining(`verification record ${newerKey} skipped: RecordError`) }]);
      expect(report.classes.daily).toEqual({ manifestKey: keysFromDumpKey(daily.dump.key).manifest, backupStartedAt: daily.startedAt });
      expect(value(report, 'BackupAgeSeconds')).toBe(60);
    } finally {
      for (const Key of Object.values(keysFromDumpKey(newer.dump.key))) await s3.client.send(new DeleteObjectCommand({ Bucket: s3.bucket, Key }));
    }
  });

  it('a pointer whose backupStartedAt is not a date counts as corrupt', async () => {
    const bad = { ...JSON.parse(pointerText), backupStartedAt: 'yesterday' };
    const { report } = await withPointer(JSON.stringify(bad), () => monitor(at(hourly.startedAt, 60)));
    expect(value(report, 'BackupAgeSeconds')).toBe(NO_BACKUP_AGE_SECONDS);
    expect(report.latestVerified).toEqual({ none: 'corrupt: backupStartedAt "yesterday" is not a date' });
  });

  it('a class with no verified backup: NO_BACKUP_AGE_SECONDS for that class', async () => {
    const { report } = await monitor(at(hourly.startedAt, 60), {}, { classes: [...SETTINGS.classes, { name: 'weekly', intervalSeconds: 604_800 }] });
    expect(value(report, 'BackupAgeSeconds', 'weekly')).toBe(NO_BACKUP_AGE_SECONDS);
    expect(report.classes.weekly).toEqual({ none: 'no verified backup' });
  });
});

describe('estimated RTO', () => {
  it('from the recorded restore tests: default instance creation + bytes / median throughput + median checks', async () => {
    const { report } = await monitor(at(hourly.startedAt, 60));
    const samples = [dailyRecord, hourlyRecord].map((r) => ({ rate: r.integrity.expectedBytes / r.restoreTest!.restoreSeconds, checks: r.restoreTest!.totalSeconds - r.restoreTest!.restoreSeconds }));
    const throughput = median(samples.map((s) => s.rate));
    const checks = median(samples.map((s) => s.checks));
    expect(report.estimate).toMatchObject({
      instanceCreateSeconds: 900,
      instanceCreateOrigin: 'default',
      backupBytes: hourly.dump.bytes,
      throughputOrigin: 'measured',
      validationOrigin: 'measured',
    });
    expect(report.estimate!.throughputBytesPerSecond).toBeCloseTo(throughput, 6);
    expect(report.estimate!.validationSeconds).toBeCloseTo(checks, 6);
    expect(report.estimate!.throughputSamples.sort()).toEqual([keysFromDumpKey(daily.dump.key).verification, keysFromDumpKey(hourly.dump.key).verification].sort());
    const expected = estimateRtoSeconds({ instanceCreateSeconds: 900, backupBytes: hourly.dump.bytes, throughputBytesPerSecond: throughput, validationSeconds: checks });
    expect(value(report, 'EstimatedRtoSeconds')).toBe(expected);
    expect(report.skipped).toContainEqual(expect.stringContaining('instance creation: no recovery measured it yet'));
  });

  it('a successful pitr drill measured the instance creation: the newest one is used, failed and dump runs are not', async () => {
    const base = { schemaVersion: 1, database: DB, mode: 'drill', input: { database: DB, source: 'pitr' }, instance: null, backup: null, validation: null, cutover: null, failure: null, cleanup: null };
    const records = [
      { ...base, execution: 'drill-old', source: 'pitr', startedAt: '2026-10-01T03:00:00.000Z', finishedAt: '2026-10-01T03:20:00.000Z', outcome: 'succeeded', timings: { validatedSeconds: 1500, cutOverSeconds: null, rtoSeconds: 3600, rtoMet: true } },
      { ...base, execution: 'drill-new', source: 'snapshot', startedAt: '2026-11-01T03:00:00.000Z', finishedAt: '2026-11-01T03:11:00.000Z', outcome: 'succeeded', timings: { validatedSeconds: 640.5, cutOverSeconds: null, rtoSeconds: 3600, rtoMet: true } },
      { ...base, execution: 'drill-failed', source: 'pitr', startedAt: '2026-11-02T03:00:00.000Z', finishedAt: '2026-11-02T03:05:00.000Z', outcome: 'failed', timings: { validatedSeconds: 100, cutOverSeconds: null, rtoSeconds: 3600, rtoMet: null } },
      { ...base, execution: 'drill-dump', source: 'dump', startedAt: '2026-11-03T03:00:00.000Z', finishedAt: '2026-11-03T03:30:00.000Z', outcome: 'succeeded', timings: { validatedSeconds: 1800, cutOverSeconds: null, rtoSeconds: 3600, rtoMet: true } },
    ];
    const keys = records.map((r) => recoveryRecordKey(DB, r.startedAt, r.execution));
    await Promise.all(records.map((r, i) => store().putText(keys[i], JSON.stringify(r))));
    await store().putText(`${DB}/recoveries/2026/11/garbage.json`, 'not json');
    const { DeleteObjectCommand } = await import('@aws-sdk/client-s3');
    try {
      const { report } = await monitor(at(hourly.startedAt, 60));
      expect(report.estimate).toMatchObject({ instanceCreateSeconds: 640.5, instanceCreateOrigin: 'measured', instanceCreateFrom: keys[1] });
      expect(value(report, 'EstimatedRtoSeconds')).toBe(
        estimateRtoSeconds({ instanceCreateSeconds: 640.5, backupBytes: hourly.dump.bytes, throughputBytesPerSecond: report.estimate!.throughputBytesPerSecond, validationSeconds: report.estimate!.validationSeconds }),
      );
      expect(report.problems).toContainEqual({ part: 'estimated-rto', message: expect.stringContaining('garbage.json skipped') });
      // The newest SUCCESSFUL drill, whatever its source (the failed one of Nov 2 does not count).
      expect(value(report, 'DrillAgeSeconds')).toBe(Math.round((at(hourly.startedAt, 60).getTime() - Date.parse('2026-11-03T03:30:00.000Z')) / 1000));
    } finally {
      for (const Key of [...keys, `${DB}/recoveries/2026/11/garbage.json`]) await s3.client.send(new DeleteObjectCommand({ Bucket: s3.bucket, Key }));
    }
  });

  it('no restore test measured yet: the documented default throughput and validation allowance, and the report says so', async () => {
    const h = harness(source, s3, 'lone', DB);
    const m = await h.dump({}, 'daily');
    const r = await h.verify({ restoreTest: false });
    expect(r.ok && r.level === 1).toBe(true);
    const { report } = await monitor(at(m.startedAt, 60), { database: 'lone' }, { classes: [{ name: 'daily', intervalSeconds: 86_400 }] });
    expect(report.estimate).toMatchObject({ throughputOrigin: 'default', throughputBytesPerSecond: DEFAULT_RESTORE_BYTES_PER_SECOND, validationOrigin: 'default', validationSeconds: DEFAULT_VALIDATION_SECONDS, throughputSamples: [] });
    expect(value(report, 'EstimatedRtoSeconds')).toBe(Math.ceil(900 + m.dump.bytes / DEFAULT_RESTORE_BYTES_PER_SECOND + DEFAULT_VALIDATION_SECONDS));
    expect(report.skipped).toContainEqual(expect.stringContaining('no restore test measured yet'));
    expect(value(report, 'BackupAgeSeconds', 'daily')).toBe(60);
  });
});

describe('RDS: PITR lag and free storage', () => {
  const rdsSettings = { rdsInstanceIdentifier: INSTANCE, pointInTimeRecovery: true };

  it('PitrLagSeconds = now − LatestRestorableTime; FreeStoragePercent = free / allocated', async () => {
    const now = at(hourly.startedAt, 60);
    sim.setLatestRestorableTime(INSTANCE, new Date(now.getTime() - 312_000));
    const asked: string[] = [];
    const storage: StorageReader = {
      freeStorageBytes: async (id) => {
        asked.push(id);
        return 3 * 2 ** 30; // the simulator's source has 20 GiB allocated
      },
    };
    const { report } = await monitor(now, { storage }, rdsSettings);
    expect(value(report, 'PitrLagSeconds')).toBe(312);
    expect(value(report, 'FreeStoragePercent')).toBe(15);
    expect(asked).toEqual([INSTANCE]);
    expect(report.problems).toEqual([]);
  });

  it('without a FreeStorageSpace reader the percent is skipped, and the report says so', async () => {
    const { report } = await monitor(at(hourly.startedAt, 60), {}, rdsSettings);
    expect(report.values.map((v) => v.metric)).not.toContain('FreeStoragePercent');
    expect(report.skipped).toContainEqual(expect.stringContaining('FreeStoragePercent: no FreeStorageSpace reader'));
  });

  it('an RDS API error is one problem; every other value is still published', async () => {
    sim.failNext('DescribeDBInstances', 'InternalFailure');
    const { report, log } = await monitor(at(hourly.startedAt, 60), { storage: { freeStorageBytes: async () => 1 } }, rdsSettings);
    expect(report.problems).toEqual([{ part: 'pitr', message: expect.stringContaining('InternalFailure') }]);
    expect(log.entries.filter((e) => e.level === 'WARN')).toHaveLength(1);
    expect(report.values.map((v) => v.metric).sort()).toEqual(
      ['BackupAgeSeconds', 'BackupAgeSeconds', 'BackupAgeSeconds', 'ConnectionsUsedPercent', 'DatabaseReachable', 'DrillAgeSeconds', 'EstimatedRtoSeconds'].sort(),
    );
  });

  it('an instance that is gone has no point-in-time recovery: NO_BACKUP_AGE_SECONDS', async () => {
    const { report } = await monitor(at(hourly.startedAt, 60), {}, { rdsInstanceIdentifier: 'gone-db', pointInTimeRecovery: true });
    expect(value(report, 'PitrLagSeconds')).toBe(NO_BACKUP_AGE_SECONDS);
    expect(report.problems).toContainEqual({ part: 'pitr', message: expect.stringContaining('gone-db not found') });
  });
});

describe('S3 down', () => {
  it('backup ages fall to NO_BACKUP_AGE_SECONDS with the reason; health still published', async () => {
    const failing = recordingClient(s3, () => Object.assign(new Error('simulated outage'), { name: 'ServiceUnavailable' }));
    const { report, log } = await monitor(at(hourly.startedAt, 60), { store: new S3ObjectStore(failing.client, s3.bucket) });
    expect(value(report, 'BackupAgeSeconds')).toBe(NO_BACKUP_AGE_SECONDS);
    expect(value(report, 'BackupAgeSeconds', 'daily')).toBe(NO_BACKUP_AGE_SECONDS);
    expect(report.latestVerified).toEqual({ none: expect.stringContaining('ServiceUnavailable') });
    expect(value(report, 'DatabaseReachable')).toBe(1);
    expect(value(report, 'ConnectionsUsedPercent')).toBeGreaterThan(0);
    expect(log.entries.filter((e) => e.level === 'WARN').length).toBe(report.problems.length);
  });
});

describe('health probe', () => {
  it('database down (nothing listens on the port): reachable 0, the error named, the other metrics published', async () => {
    const port = await freePort();
    const probe = pgDatabaseProbe({ secrets: secrets({ ...source.secret('postgres'), port }), secretId: SECRET, tls: { sslmode: 'disable' } });
    const { report } = await monitor(at(hourly.startedAt, 60), { probe });
    expect(value(report, 'DatabaseReachable')).toBe(0);
    expect(report.values.map((v) => v.metric)).not.toContain('ConnectionsUsedPercent');
    expect(report.problems).toEqual([{ part: 'health', message: expect.stringContaining(`127.0.0.1:${port}: connection refused`) }]);
    expect(value(report, 'BackupAgeSeconds')).toBe(60);
    expect(value(report, 'EstimatedRtoSeconds')).toBeGreaterThan(0);
  });

  it('wrong password: reachable 0, "password authentication failed", and no password anywhere', async () => {
    const probe = pgDatabaseProbe({ secrets: secrets(source.secret('postgres', WRONG_PASSWORD)), secretId: SECRET, tls: { sslmode: 'disable' } });
    const { report, log, emf } = await monitor(at(hourly.startedAt, 60), { probe });
    expect(value(report, 'DatabaseReachable')).toBe(0);
    expect(report.problems).toEqual([{ part: 'health', message: expect.stringContaining('password authentication failed for postgres@127.0.0.1') }]);
    const everything = [JSON.stringify(report), log.text(), JSON.stringify(emf)].join('\n');
    for (const secret of [WRONG_PASSWORD, PASSWORD, encodeURIComponent(PASSWORD)]) expect(everything).not.toContain(secret);
  });

  describe('a small server', () => {
    let small: PgCluster;
    const open: Array<{ end(): Promise<void> }> = [];
    beforeAll(async () => {
      small = await PgCluster.start({ password: PASSWORD, settings: { max_connections: 12 } });
    });
    afterAll(async () => {
      await Promise.allSettled(open.map((c) => c.end()));
      await small?.stop();
    });
    const smallProbe = () => pgDatabaseProbe({ secrets: secrets(small.secret('postgres')), secretId: SECRET, tls: { sslmode: 'disable' } });

    it('connections near the limit: above 90 % of max_connections', async () => {
      const idle = await monitor(at(hourly.startedAt, 60), { probe: smallProbe() });
      expect(value(idle.report, 'ConnectionsUsedPercent')).toBeCloseTo((1 / 12) * 100, 1); // the probe alone
      for (let i = 0; i < 10; i++) open.push(await small.client());
      const busy = await monitor(at(hourly.startedAt, 60), { probe: smallProbe() });
      expect(value(busy.report, 'DatabaseReachable')).toBe(1);
      expect(value(busy.report, 'ConnectionsUsedPercent')).toBeCloseTo((11 / 12) * 100, 1);
      expect(value(busy.report, 'ConnectionsUsedPercent')).toBeGreaterThan(90);
      // An unprivileged login sees every backend's row of pg_stat_activity (not its details): the
      // same count. (It cannot connect past max_connections − superuser_reserved_connections: fewer open here.)
      await Promise.all(open.splice(0, 3).map((c) => c.end()));
      await small.sql('postgres', `CREATE ROLE pgdr_probe LOGIN PASSWORD '${LOGIN_PASSWORD}'`);
      const login = pgDatabaseProbe({ secrets: secrets({ ...small.secret('postgres'), username: 'pgdr_probe', password: LOGIN_PASSWORD }), secretId: SECRET, tls: { sslmode: 'disable' } });
      const asLogin = await monitor(at(hourly.startedAt, 60), { probe: login });
      const asSuperuser = await monitor(at(hourly.startedAt, 60), { probe: smallProbe() });
      expect(asLogin.report.problems).toEqual([]);
      expect(value(asLogin.report, 'ConnectionsUsedPercent')).toBeCloseTo((8 / 12) * 100, 1);
      expect(value(asSuperuser.report, 'ConnectionsUsedPercent')).toBeCloseTo((8 / 12) * 100, 1);
    });

    it('a stopped cluster: reachable 0, the rest published', async () => {
      await Promise.allSettled(open.splice(0).map((c) => c.end()));
      await small.stop();
      const { report } = await monitor(at(hourly.startedAt, 60), { probe: smallProbe() });
      expect(value(report, 'DatabaseReachable')).toBe(0);
      expect(report.problems).toEqual([{ part: 'health', message: expect.stringContaining('connection refused') }]);
      expect(value(report, 'BackupAgeSeconds')).toBe(60);
    });
  });
});

describe('EMF', () => {
  it('one line per dimension set, namespace PgDr, the contract names, units and dimensions', async () => {
    sim.setLatestRestorableTime(INSTANCE, at(hourly.startedAt, 0));
    const { report, emf } = await monitor(at(hourly.startedAt, 60), { storage: { freeStorageBytes: async () => 2 * 2 ** 30 } }, { rdsInstanceIdentifier: INSTANCE, pointInTimeRecovery: true });
    expect(emf).toHaveLength(3); // {database}, {database, daily}, {database, hourly}
    const byDims = (dims: string[]) => emf.find((l) => JSON.stringify((l._aws as { CloudWatchMetrics: Array<{ Dimensions: string[][] }> }).CloudWatchMetrics[0].Dimensions) === JSON.stringify([dims]));
    const db = byDims(['database'])!;
    expect(db).toBeDefined();
    expect(db.database).toBe(DB);
    const directive = (db._aws as { CloudWatchMetrics: Array<{ Namespace: string; Metrics: Array<{ Name: string; Unit: string }> }> }).CloudWatchMetrics[0];
    expect(directive.Namespace).toBe('PgDr');
    expect(directive.Metrics.sort((a, b) => a.Name.localeCompare(b.Name))).toEqual([
      { Name: 'BackupAgeSeconds', Unit: 'Seconds' },
      { Name: 'ConnectionsUsedPercent', Unit: 'Percent' },
      { Name: 'DatabaseReachable', Unit: 'Count' },
      { Name: 'DrillAgeSeconds', Unit: 'Seconds' },
      { Name: 'EstimatedRtoSeconds', Unit: 'Seconds' },
      { Name: 'FreeStoragePercent', Unit: 'Percent' },
      { Name: 'PitrLagSeconds', Unit: 'Seconds' },
    ]);
    expect(db).toMatchObject({ BackupAgeSeconds: 60, PitrLagSeconds: 60, DatabaseReachable: 1, FreeStoragePercent: 10, EstimatedRtoSeconds: value(report, 'EstimatedRtoSeconds') });
    for (const cls of ['daily', 'hourly']) {
      const line = byDims(['database', 'class'])
        ? emf.find((l) => l.class === cls && JSON.stringify((l._aws as { CloudWatchMetrics: Array<{ Dimensions: string[][] }> }).CloudWatchMetrics[0].Dimensions) === JSON.stringify([['database', 'class']]))
        : undefined;
      expect(line).toMatchObject({ database: DB, class: cls, BackupAgeSeconds: value(report, 'BackupAgeSeconds', cls) });
      expect(Object.keys(line!).sort()).toEqual(['BackupAgeSeconds', '_aws', 'class', 'database']);
    }
  });
});
