/**
 * Preflight of the failover workflow (lambda/failover/preflight): the handler against a real local
 * S3 (s3rver) holding real, verified backups of a real PostgreSQL source, and the local RDS
 * simulator with that source registered as an RDS instance (through the real @aws-sdk/client-rds).
 *
 * - Malformed inputs (table-driven): each refused with an error named InvalidInput whose message
 *   names the field; the static ones before ANY RDS or S3 call, and nothing is written anywhere.
 * - Inputs refused by the lookups (unverified backup, snapshot of another instance, a restore time
 *   outside the restorable window, ...): only Describe calls, nothing written.
 * - Valid inputs: the plan for each source, drill vs failover, approval, external databases.
 * - recoveryInstanceIdentifier: RDS identifier rules for any execution name.
 */
import type { Readable } from 'node:stream';
import { PgCluster } from '../../local/pg-cluster';
import { RdsSimulator } from '../../local/rds-simulator';
import { identifierError } from '../../local/rds/params';
import { startTestS3, TestS3 } from '../support/s3-server';
import { harness } from '../support/harness';
import { keysFromDumpKey, latestVerifiedKey } from '../../lambda/shared/layout';
import { S3ObjectStore } from '../../lambda/shared/s3-store';
import type { ObjectStore, PutTextOptions, StoredText, UploadOptions } from '../../lambda/shared/ports';
import type { BackupManifest } from '../../lambda/shared/records';
import type { PreflightEvent, RecoveryPlan, RecoverySettings } from '../../lambda/failover/contract';
import { recoveryInstanceIdentifier, shown } from '../../lambda/failover/preflight/core';
import { rdsReader } from '../../lambda/failover/preflight/rds';
import { handler as realHandler, makeHandler } from '../../lambda/failover/preflight/handler';

const NOW = new Date('2026-11-25T12:00:00Z');
const EXECUTION = { name: 'incident-42', startTime: '2026-11-25T12:00:00.000Z' };
const SOURCE_ID = 'prod-db';
const AUTOMATED = 'rds:prod-db-2026-11-25-03-00';

/** An ObjectStore that records every call it forwards (to prove "no S3 call" and "nothing written"). */
class RecordingStore implements ObjectStore {
  readonly calls: string[] = [];
  constructor(private readonly inner: ObjectStore) {}
  get bucket(): string {
    return this.inner.bucket;
  }
  getText(key: string): Promise<StoredText | undefined> {
    this.calls.push(`getText ${key}`);
    return this.inner.getText(key);
  }
  putText(key: string, text: string, options?: PutTextOptions): Promise<void> {
    this.calls.push(`putText ${key}`);
    return this.inner.putText(key, text, options);
  }
  getStream(key: string): Promise<Readable | undefined> {
    this.calls.push(`getStream ${key}`);
    return this.inner.getStream(key);
  }
  uploadStream(key: string, body: AsyncIterable<Buffer>, contentType: string, options?: UploadOptions): Promise<void> {
    this.calls.push(`uploadStream ${key}`);
    return this.inner.uploadStream(key, body, contentType, options);
  }
  listKeys(prefix: string): Promise<string[]> {
    this.calls.push(`listKeys ${prefix}`);
    return this.inner.listKeys(prefix);
  }
}

function settings(database: string, overrides: Omit<Partial<RecoverySettings>, 'instance'> & { instance?: Partial<RecoverySettings['instance']> } = {}): RecoverySettings {
  const { instance, ...rest } = overrides;
  return {
    database,
    sourceType: 'rds',
    sourceInstanceIdentifier: SOURCE_ID,
    pointInTimeRecovery: true,
    sourceSecretArn: `arn:aws:secretsmanager:us-east-1:123456789012:secret:${database}-source`,
    engineMajorVersion: 16,
    port: 5432,
    rpoSeconds: 3600,
    rtoSeconds: 1800,
    hardTimeoutSeconds: 7200,
    approvalTimeoutSeconds: 900,
    requireApproval: true,
    deleteOnFailure: 'drill-only',
    instance: { instanceClass: 'db.t4g.medium', dbSubnetGroupName: 'pgdr-private', securityGroupIds: ['sg-0123456789abcdef0'], multiAz: true, allocatedStorageGiB: 50, ...instance },
    cutover: { secretArn: `arn:aws:secretsmanager:us-east-1:123456789012:secret:${database}-app` },
    validation: { rowLossTolerancePercent: 10, smokeQueries: [{ name: 'items', sql: 'select 1 from item', minRows: 1 }], freshnessQueries: [] },
    functions: { restore: 'arn:aws:lambda:us-east-1:123456789012:function:restore', validate: 'arn:aws:lambda:us-east-1:123456789012:function:validate' },
    ...rest,
  };
}

const DATABASES: Record<string, RecoverySettings> = {
  shop: settings('shop'),
  ext: settings('ext', {
    sourceType: 'external', sourceInstanceIdentifier: undefined, pointInTimeRecovery: false, requireApproval: false, deleteOnFailure: 'always',
    instance: { dbSubnetGroupName: undefined, securityGroupIds: [], multiAz: false },
    cutover: { ssmParameterName: '/app/db-host', route53: { hostedZoneId: 'Z123', recordName: 'db.example.com', ttlSeconds: 30 }, healthCheck: { url: 'https://app.example.com/health', timeoutSeconds: 60 } },
  }),
  legacy: settings('legacy', { sourceInstanceIdentifier: 'legacy-db', pointInTimeRecovery: false, deleteOnFailure: 'never' }),
  stale: settings('stale', { sourceInstanceIdentifier: 'stale-db', instance: { dbSubnetGroupName: undefined, securityGroupIds: [] }, cutover: {} }),
  ghost: settings('ghost', { sourceInstanceIdentifier: 'ghost-db' }),
  revoked: settings('revoked'),
};

let source: PgCluster;
let s3: TestS3;
let sim: RdsSimulator;
let shopVerified: BackupManifest;
let shopUnverified: BackupManifest;
let extVerified: BackupManifest;

beforeAll(async () => {
  [source, s3, sim] = await Promise.all([PgCluster.start(), startTestS3(), RdsSimulator.start({ now: () => NOW })]);
  await source.createDatabase('shop');
  await source.sql('shop', "CREATE TABLE item (id int PRIMARY KEY, name text); INSERT INTO item SELECT g, 'item ' || g FROM generate_series(1, 50) g");
  const shop = harness(source, s3, 'shop', 'shop');
  shopVerified = await shop.dump();
  expect((await shop.verify({ manifestKey: manifestKeyOf(shopVerified), restoreTest: false })).ok).toBe(true);
  shopUnverified = await shop.dump();
  const ext = harness(source, s3, 'ext', 'shop');
  extVerified = await ext.dump();
  expect((await ext.verify({ manifestKey: manifestKeyOf(extVerified), restoreTest: false })).ok).toBe(true);
  await store().putText(
    latestVerifiedKey('revoked'),
    JSON.stringify({
      schemaVersion: 1, database: 'revoked', backupClass: 'daily', dumpKey: 'revoked/daily/2026/11/24/revoked_daily_2026-11-24T02-00-00-000Z.dump',
      manifestKey: 'revoked/daily/2026/11/24/revoked_daily_2026-11-24T02-00-00-000Z.manifest.json',
      verificationKey: 'revoked/daily/2026/11/24/revoked_daily_2026-11-24T02-00-00-000Z.verification.json',
      backupStartedAt: '2026-11-24T02:00:00.000Z', verifiedAt: '2026-11-24T02:10:00.000Z', level: 1, revoked: { at: '2026-11-25T02:00:00.000Z', reason: 'sha256 differs' },
    }),
  );
  // The simulator's restorable window starts where DescribeDBInstances' BackupRetentionPeriod (7 days) puts it.
  const week = new Date(NOW.getTime() - 7 * 86_400_000);
  await sim.registerSource(SOURCE_ID, source, { earliestRestorableTime: week });
  await sim.registerSource('other-db', source, { earliestRestorableTime: week });
  await sim.registerSource('legacy-db', source, { earliestRestorableTime: week });
  await sim.registerSource('stale-db', source, { earliestRestorableTime: week });
  sim.setLatestRestorableTime('stale-db', new Date(NOW.getTime() - 3600_000));
  sim.addSnapshot(SOURCE_ID, AUTOMATED, 'automated', new Date('2026-11-25T03:00:00Z'));
  sim.addSnapshot(SOURCE_ID, 'before-upgrade', 'manual', new Date('2026-11-20T10:00:00Z'));
  sim.addSnapshot(SOURCE_ID, 'rds:prod-db-2026-11-24-03-00', 'automated', new Date('2026-11-24T03:00:00Z'));
  sim.addSnapshot('other-db', 'other-snap', 'manual', new Date('2026-11-25T06:00:00Z'));
});

afterAll(async () => {
  await Promise.allSettled([sim?.stop(), s3?.stop()]);
  await source?.stop();
});

const manifestKeyOf = (m: BackupManifest) => keysFromDumpKey(m.dump.key).manifest;
const store = () => new S3ObjectStore(s3.client, s3.bucket);

interface Run {
  readonly store: RecordingStore;
  readonly rdsCalls: { action: string; params: Readonly<Record<string, string>> }[];
  readonly plan?: RecoveryPlan;
  readonly error?: Error;
}

/** Runs the handler (local adapters) on one input; returns the plan or the error and what it called. */
async function run(input: unknown, databases: Record<string, RecoverySettings> = DATABASES, execution = EXECUTION): Promise<Run> {
  const recording = new RecordingStore(store());
  const rds = sim.client();
  const before = sim.calls.length;
  const handle = makeHandler({ store: recording, rds: rdsReader(rds), clock: { now: () => NOW } });
  const event: PreflightEvent = { input, execution, databases };
  try {
    const plan = await handle(event);
    return { store: recording, rdsCalls: sim.calls.slice(before), plan };
  } catch (err) {
    return { store: recording, rdsCalls: sim.calls.slice(before), error: err as Error };
  } finally {
    rds.destroy();
  }
}

async function planOf(input: unknown, databases?: Record<string, RecoverySettings>): Promise<Run & { plan: RecoveryPlan }> {
  const r = await run(input, databases);
  if (r.error) throw r.error;
  return r as Run & { plan: RecoveryPlan };
}

const good = { database: 'shop', source: 'dump' };
const polluted = JSON.parse('{"database": "shop", "source": "dump", "__proto__": {"polluted": true}}');
const manyKeys = Object.fromEntries([...Array(100).keys()].map((i) => [`k${i}`, i]));
const shopKey = (name: string) => `shop/daily/2026/11/25/${name}`;

/** [title, input, field the message must name, a fragment it must contain]. Static: no RDS and no S3 call. */
const STATIC_TABLE: [string, unknown, string, string?][] = [
  ['null', null, 'input', 'received null'],
  ['an array', [good], 'input', 'an array'],
  ['a number', 42, 'input', 'number 42'],
  ['a JSON string of an object', JSON.stringify(good), 'input', 'must be a JSON object'],
  ['a boolean', true, 'input'],
  ['undefined', undefined, 'input', 'received nothing'],
  ['an empty object', {}, 'database', 'is required'],
  ['no source', { database: 'shop' }, 'source', 'is required'],
  ['no database', { source: 'dump' }, 'database', 'is required'],
  ['database a number', { database: 5, source: 'dump' }, 'database', 'number 5'],
  ['database unknown', { database: 'nope', source: 'dump' }, 'database', '"nope"'],
  ['database in capitals', { database: 'SHOP', source: 'dump' }, 'database', '"SHOP"'],
  ['database SQL injection', { database: "shop'; drop table users; --", source: 'dump' }, 'database', `"shop'; drop table users; --"`],
  ['database __proto__', { database: '__proto__', source: 'dump' }, 'database', '"__proto__"'],
  ['database constructor', { database: 'constructor', source: 'dump' }, 'database', '"constructor"'],
  ['database toString', { database: 'toString', source: 'dump' }, 'database', '"toString"'],
  ['database hasOwnProperty', { database: 'hasOwnProperty', source: 'dump' }, 'database'],
  ['database an array', { database: ['shop'], source: 'dump' }, 'database', 'an array'],
  ['database null', { database: null, source: 'dump' }, 'database', 'received null'],
  ['database an object', { database: { name: 'shop' }, source: 'dump' }, 'database', 'an object'],
  ['database with a right-to-left override', { database: 'sh\u202eop', source: 'dump' }, 'database', '\\u202e'],
  ['database with a newline', { database: 'shop\n', source: 'dump' }, 'database', '"shop\\n"'],
  ['database huge', { database: 'x'.repeat(100_000), source: 'dump' }, 'database', '(100000 characters)'],
  ['source in capitals', { database: 'shop', source: 'PITR' }, 'source', '"PITR"'],
  ['source unknown', { database: 'shop', source: 'backup' }, 'source', '"backup"'],
  ['source a number', { database: 'shop', source: 1 }, 'source', 'number 1'],
  ['source null', { database: 'shop', source: null }, 'source', 'null'],
  ['source an array', { database: 'shop', source: ['dump'] }, 'source', 'an array'],
  ['source with a space', { database: 'shop', source: 'dump ' }, 'source', '"dump "'],
  ['pitr of an external database', { database: 'ext', source: 'pitr' }, 'source', 'needs an RDS source'],
  ['snapshot of an external database', { database: 'ext', source: 'snapshot' }, 'source', 'needs an RDS source'],
  ['pitr without point-in-time recovery', { database: 'legacy', source: 'pitr' }, 'source', 'point-in-time recovery'],
  ['unknown key', { ...good, extra: 1 }, 'input', 'unknown key "extra"'],
  ['__proto__ key', polluted, 'input', 'unknown key "__proto__"'],
  ['constructor key', { ...good, constructor: 'x' }, 'input', '"constructor"'],
  ['prototype key', { ...good, prototype: {} }, 'input', '"prototype"'],
  ['a hundred unknown keys', { ...good, ...manyKeys }, 'input', 'and 90 more'],
  ['key with a newline', { ...good, 'restore\ntime': 'x' }, 'input', '"restore\\ntime"'],
  ['key in another case', { ...good, Database: 'shop' }, 'input', '"Database"'],
  ['misspelled key', { database: 'shop', source: 'pitr', restore_time: '2026-11-25T10:00:00Z' }, 'input', '"restore_time"'],
  ['restoreTime with dump', { ...good, restoreTime: '2026-11-25T10:00:00Z' }, 'restoreTime', 'only for source "pitr"'],
  ['snapshotIdentifier with pitr', { database: 'shop', source: 'pitr', snapshotIdentifier: 'before-upgrade' }, 'snapshotIdentifier', 'only for source "snapshot"'],
  ['backupKey with snapshot', { database: 'shop', source: 'snapshot', backupKey: shopKey('x.dump') }, 'backupKey', 'only for source "dump"'],
  ['restoreTime "yesterday"', { database: 'shop', source: 'pitr', restoreTime: 'yesterday' }, 'restoreTime', 'must be an ISO-8601 time with a timezone such as "2026-11-25T10:00:00Z" (received "yesterday")'],
  ['restoreTime without zone', { database: 'shop', source: 'pitr', restoreTime: '2026-11-25T10:00:00' }, 'restoreTime', 'timezone'],
  ['restoreTime with a space', { database: 'shop', source: 'pitr', restoreTime: '2026-11-25 10:00:00Z' }, 'restoreTime', 'timezone'],
  ['restoreTime lower-case z', { database: 'shop', source: 'pitr', restoreTime: '2026-11-25T10:00:00z' }, 'restoreTime'],
  ['restoreTime 30 February', { database: 'shop', source: 'pitr', restoreTime: '2026-02-30T10:00:00Z' }, 'restoreTime', 'real calendar date'],
  ['restoreTime 29 February of a common year', { database: 'shop', source: 'pitr', restoreTime: '2025-02-29T10:00:00Z' }, 'restoreTime', 'real calendar date'],
  ['restoreTime month 13', { database: 'shop', source: 'pitr', restoreTime: '2026-13-01T00:00:00Z' }, 'restoreTime', 'real calendar date'],
  ['restoreTime day 0', { database: 'shop', source: 'pitr', restoreTime: '2026-11-00T00:00:00Z' }, 'restoreTime', 'real calendar date'],
  ['restoreTime hour 24', { database: 'shop', source: 'pitr', restoreTime: '2026-11-25T24:00:00Z' }, 'restoreTime', 'time of day'],
  ['restoreTime minute 60', { database: 'shop', source: 'pitr', restoreTime: '2026-11-25T10:60:00Z' }, 'restoreTime', 'time of day'],
  ['restoreTime offset +25:00', { database: 'shop', source: 'pitr', restoreTime: '2026-11-25T10:00:00+25:00' }, 'restoreTime', 'offset'],
  ['restoreTime offset without colon', { database: 'shop', source: 'pitr', restoreTime: '2026-11-25T10:00:00+0100' }, 'restoreTime', 'timezone'],
  ['restoreTime a minute in the future', { database: 'shop', source: 'pitr', restoreTime: '2026-11-25T12:01:00Z' }, 'restoreTime', 'future'],
  ['restoreTime in 2099', { database: 'shop', source: 'pitr', restoreTime: '2099-01-01T00:00:00Z' }, 'restoreTime', 'future'],
  ['restoreTime in the future by its offset', { database: 'shop', source: 'pitr', restoreTime: '2026-11-25T11:30:00-01:00' }, 'restoreTime', 'future'],
  ['restoreTime a number', { database: 'shop', source: 'pitr', restoreTime: 1764064800000 }, 'restoreTime', 'number 1764064800000'],
  ['restoreTime empty', { database: 'shop', source: 'pitr', restoreTime: '' }, 'restoreTime', 'received ""'],
  ['restoreTime null', { database: 'shop', source: 'pitr', restoreTime: null }, 'restoreTime', 'received null'],
  ['restoreTime with a trailing newline', { database: 'shop', source: 'pitr', restoreTime: '2026-11-25T10:00:00Z\n' }, 'restoreTime', '\\n'],
  ['restoreTime in full-width digits', { database: 'shop', source: 'pitr', restoreTime: '\uff12\uff10\uff12\uff16-11-25T10:00:00Z' }, 'restoreTime', '\\uff12'],
  ['restoreTime date only', { database: 'shop', source: 'pitr', restoreTime: '2026-11-25' }, 'restoreTime'],
  ['restoreTime with SQL', { database: 'shop', source: 'pitr', restoreTime: "2026-11-25T10:00:00Z'; drop table users; --" }, 'restoreTime', 'drop table'],
  ['snapshotIdentifier empty', { database: 'shop', source: 'snapshot', snapshotIdentifier: '' }, 'snapshotIdentifier', 'RDS DB snapshot identifier'],
  ['snapshotIdentifier starting with a digit', { database: 'shop', source: 'snapshot', snapshotIdentifier: '1snap' }, 'snapshotIdentifier', '"1snap"'],
  ['snapshotIdentifier with --', { database: 'shop', source: 'snapshot', snapshotIdentifier: 'snap--x' }, 'snapshotIdentifier'],
  ['snapshotIdentifier with a trailing hyphen', { database: 'shop', source: 'snapshot', snapshotIdentifier: 'snap-' }, 'snapshotIdentifier'],
  ['snapshotIdentifier with an underscore', { database: 'shop', source: 'snapshot', snapshotIdentifier: 'snap_1' }, 'snapshotIdentifier'],
  ['snapshotIdentifier with SQL', { database: 'shop', source: 'snapshot', snapshotIdentifier: "x'; drop table users; --" }, 'snapshotIdentifier', 'drop table'],
  ['snapshotIdentifier of 300 characters', { database: 'shop', source: 'snapshot', snapshotIdentifier: 'a'.repeat(300) }, 'snapshotIdentifier', '(300 characters)'],
  ['snapshotIdentifier a number', { database: 'shop', source: 'snapshot', snapshotIdentifier: 42 }, 'snapshotIdentifier', 'number 42'],
  ['snapshotIdentifier "rds:" alone', { database: 'shop', source: 'snapshot', snapshotIdentifier: 'rds:' }, 'snapshotIdentifier'],
  ['snapshotIdentifier an ARN', { database: 'shop', source: 'snapshot', snapshotIdentifier: 'arn:aws:rds:us-east-1:123456789012:snapshot:x' }, 'snapshotIdentifier'],
  ['snapshotIdentifier with an emoji', { database: 'shop', source: 'snapshot', snapshotIdentifier: 'snap-\u{1f4a5}' }, 'snapshotIdentifier', '\\u{1f4a5}'],
  ['backupKey of another database', { ...good, backupKey: 'ext/daily/2026/11/25/ext_daily_2026-11-25T02-00-00-000Z.manifest.json' }, 'backupKey', 'inside "shop/"'],
  ['backupKey climbing with ../', { ...good, backupKey: 'shop/../ext/daily/2026/11/25/ext_daily_2026-11-25T02-00-00-000Z.dump' }, 'backupKey', '".."'],
  ['backupKey starting with ../', { ...good, backupKey: '../shop/daily/x.dump' }, 'backupKey', '".."'],
  ['backupKey with a wrong suffix', { ...good, backupKey: shopKey('shop_daily_2026-11-25T02-00-00-000Z.sql') }, 'backupKey', '.manifest.json'],
  ['backupKey the latest-verified pointer', { ...good, backupKey: 'shop/latest-verified.json' }, 'backupKey'],
  ['backupKey the verification record', { ...good, backupKey: shopKey('shop_daily_2026-11-25T02-00-00-000Z.verification.json') }, 'backupKey'],
  ['backupKey with a leading slash', { ...good, backupKey: `/${shopKey('shop_daily_2026-11-25T02-00-00-000Z.dump')}` }, 'backupKey', 'inside "shop/"'],
  ['backupKey naming another database inside shop/', { ...good, backupKey: shopKey('ext_daily_2026-11-25T02-00-00-000Z.manifest.json') }, 'backupKey', 'a backup of database "shop"'],
  ['backupKey huge', { ...good, backupKey: `shop/${'x'.repeat(5000)}.dump` }, 'backupKey', 'at most 1024'],
  ['backupKey with a newline', { ...good, backupKey: 'shop/a\n.dump' }, 'backupKey', 'printable'],
  ['backupKey an object', { ...good, backupKey: { key: 'shop/x.dump' } }, 'backupKey', 'an object'],
  ['backupKey empty', { ...good, backupKey: '' }, 'backupKey'],
  ['mode in capitals', { ...good, mode: 'Drill' }, 'mode', '"Drill"'],
  ['mode a boolean', { ...good, mode: true }, 'mode', 'boolean true'],
  ['mode unknown', { ...good, mode: 'test' }, 'mode', '"failover", "drill"'],
  ['approval "yes"', { ...good, approval: 'yes' }, 'approval', '"yes"'],
  ['approval false', { ...good, approval: false }, 'approval', 'boolean false'],
  ['approval null', { ...good, approval: null }, 'approval', 'null'],
];

/** Every row with four cells: jest's it.each would take a missing last argument for a done callback. */
const STATIC_CASES: [string, unknown, string, string][] = STATIC_TABLE.map(([title, input, field, fragment]) => [title, input, field, fragment ?? '']);

describe('static checks: refused before any RDS or S3 call', () => {
  let keysBefore: string[];
  beforeAll(async () => {
    keysBefore = await s3.keys();
  });

  it('has at least 60 malformed inputs', () => {
    expect(STATIC_CASES.length).toBeGreaterThanOrEqual(60);
  });

  it.each(STATIC_CASES)('%s', async (_title, input, field, fragment) => {
    const r = await run(input);
    expect(r.error?.name).toBe('InvalidInput');
    expect(r.error?.message).toMatch(new RegExp(`(^|; |failover input: )${field}: `));
    if (fragment) expect(r.error?.message).toContain(fragment);
    // No raw control characters in a message (they are escaped), and bounded however large the input.
    expect(r.error?.message).not.toMatch(/[\n\r\u202e]/);
    expect(r.error?.message.length).toBeLessThan(2000);
    expect(r.rdsCalls).toEqual([]);
    expect(r.store.calls).toEqual([]);
    expect(await s3.keys()).toEqual(keysBefore);
  });

  it('reports every problem at once', async () => {
    const r = await run({ database: 'nope', source: 'x', mode: 'y', approval: 'z', extra: 1, restoreTime: 'soon' });
    expect(r.error?.name).toBe('InvalidInput');
    expect(r.error?.message).toMatch(/^6 problems in the failover input: /);
    for (const field of ['input', 'database', 'source', 'restoreTime', 'mode', 'approval']) expect(r.error?.message).toContain(`${field}: `);
    expect((r.error as unknown as { problems: string[] }).problems).toHaveLength(6);
    expect(r.rdsCalls).toEqual([]);
    expect(r.store.calls).toEqual([]);
  });

  it('a __proto__ key pollutes nothing', async () => {
    await run(polluted);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('shows values safely', () => {
    expect(shown('a"b\\c')).toBe('"a\\"b\\\\c"');
    expect(shown('é')).toBe('"\\u00e9"');
    expect(shown('y'.repeat(61))).toBe(`"${'y'.repeat(60)}\\u2026" (61 characters)`);
    expect(shown(undefined)).toBe('nothing');
  });
});

/** Refused by a lookup: reads only (Describe calls, GETs), nothing written. */
const LOOKUP_CASES: [string, () => unknown, string, string][] = [
  ['an unverified backup', () => ({ ...good, backupKey: manifestKeyOf(shopUnverified) }), 'backupKey', 'was never verified'],
  ['an unverified backup by its dump key', () => ({ ...good, backupKey: shopUnverified.dump.key }), 'backupKey', 'was never verified'],
  ['a backup that does not exist', () => ({ ...good, backupKey: shopKey('shop_daily_2026-11-25T02-00-00-000Z.manifest.json') }), 'backupKey', 'has no manifest'],
  ['dump of a database with no verified backup', () => ({ database: 'stale', source: 'dump' }), 'backupKey', 'has no verified backup'],
  ['dump of a database whose pointer is revoked', () => ({ database: 'revoked', source: 'dump' }), 'backupKey', 'is revoked'],
  ['a snapshot of another instance', () => ({ database: 'shop', source: 'snapshot', snapshotIdentifier: 'other-snap' }), 'snapshotIdentifier', 'it is of instance "other-db"'],
  ['a snapshot that does not exist', () => ({ database: 'shop', source: 'snapshot', snapshotIdentifier: 'no-such-snap' }), 'snapshotIdentifier', 'no such snapshot'],
  ['snapshot of an instance with none', () => ({ database: 'legacy', source: 'snapshot' }), 'snapshotIdentifier', 'has no available automated or manual snapshot'],
  ['pitr before the restorable window', () => ({ database: 'shop', source: 'pitr', restoreTime: '2026-11-17T12:00:00Z' }), 'restoreTime', 'restorable window 2026-11-18T12:00:00.000Z .. 2026-11-25T12:00:00.000Z'],
  ['pitr after the latest restorable time', () => ({ database: 'stale', source: 'pitr', restoreTime: '2026-11-25T11:30:00Z' }), 'restoreTime', 'restorable window 2026-11-18T11:00:00.000Z .. 2026-11-25T11:00:00.000Z'],
  ['pitr of an instance RDS does not have', () => ({ database: 'ghost', source: 'pitr' }), 'source', 'no such instance'],
];

describe('lookups: refused with reads only', () => {
  it.each(LOOKUP_CASES)('%s', async (_title, input, field, fragment) => {
    const keysBefore = await s3.keys();
    const r = await run(input());
    expect(r.error?.name).toBe('InvalidInput');
    expect(r.error?.message).toMatch(new RegExp(`^${field}: `));
    expect(r.error?.message).toContain(fragment);
    expect(r.rdsCalls.every((c) => c.action.startsWith('Describe'))).toBe(true);
    expect(r.store.calls.every((c) => c.startsWith('getText '))).toBe(true);
    expect(await s3.keys()).toEqual(keysBefore);
  });
});

describe('valid inputs: the plan', () => {
  it('pitr, latest restorable time: every field of the plan', async () => {
    const { plan, rdsCalls, store: recording } = await planOf({ database: 'shop', source: 'pitr' });
    expect(plan).toEqual({
      schemaVersion: 1,
      database: 'shop',
      source: 'pitr',
      mode: 'failover',
      approval: 'required',
      execution: EXECUTION,
      instanceIdentifier: recoveryInstanceIdentifier('shop', 'incident-42'),
      rtoDeadline: '2026-11-25T12:30:00.000Z',
      hardDeadline: '2026-11-25T14:00:00.000Z',
      rtoSeconds: 1800,
      rpoSeconds: 3600,
      approvalTimeoutSeconds: 900,
      pitr: { sourceInstanceIdentifier: SOURCE_ID, useLatestRestorableTime: true, restoreTime: null },
      snapshot: null,
      backup: { manifestKey: manifestKeyOf(shopVerified), startedAt: shopVerified.startedAt },
      rds: {
        DBInstanceClass: 'db.t4g.medium',
        DBSubnetGroupName: 'pgdr-private',
        VpcSecurityGroupIds: ['sg-0123456789abcdef0'],
        MultiAZ: true,
        DeletionProtection: true,
        Tags: [
          { Key: 'pgdr:database', Value: 'shop' },
          { Key: 'pgdr:execution', Value: 'incident-42' },
          { Key: 'pgdr:mode', Value: 'failover' },
        ],
        Engine: 'postgres',
        EngineVersion: '16',
        AllocatedStorage: 50,
        MasterUsername: 'pgdr_master',
        Port: 5432,
      },
      deleteOnFailure: false,
      cutover: { secretArn: DATABASES.shop.cutover.secretArn, ssmParameterName: null, route53: null, healthCheck: null, any: true },
      validation: DATABASES.shop.validation,
      sourceSecretArn: DATABASES.shop.sourceSecretArn,
      port: 5432,
      functions: DATABASES.shop.functions,
      runner: 'lambda',
      restoreTask: null,
    });
    expect(plan.instanceIdentifier).toMatch(/^pgdr-shop-incident-42-[0-9a-f]{8}$/);
    expect(rdsCalls).toEqual([{ action: 'DescribeDBInstances', params: { DBInstanceIdentifier: SOURCE_ID } }]);
    expect(recording.calls).toEqual(['getText shop/latest-verified.json']);
    // Every key present (JSONPath cannot omit one): no undefined anywhere in the plan.
    expect(JSON.parse(JSON.stringify(plan))).toEqual(plan);
  });

  it('pitr at a time inside the window, with an offset: normalized to UTC', async () => {
    const { plan } = await planOf({ database: 'shop', source: 'pitr', restoreTime: '2026-11-25T12:30:00.5+01:00' });
    expect(plan.pitr).toEqual({ sourceInstanceIdentifier: SOURCE_ID, useLatestRestorableTime: false, restoreTime: '2026-11-25T11:30:00.500Z' });
  });

  it('pitr at the first second of the window and at the latest restorable time', async () => {
    expect((await planOf({ database: 'shop', source: 'pitr', restoreTime: '2026-11-18T12:00:00Z' })).plan.pitr?.restoreTime).toBe('2026-11-18T12:00:00.000Z');
    expect((await planOf({ database: 'shop', source: 'pitr', restoreTime: '2026-11-25T12:00:00Z' })).plan.pitr?.restoreTime).toBe('2026-11-25T12:00:00.000Z');
  });

  it('pitr of a database with no verified backup: backup null, network from the source or "default"', async () => {
    const { plan } = await planOf({ database: 'stale', source: 'pitr' });
    expect(plan.backup).toBeNull();
    expect(plan.rds.DBSubnetGroupName).toBe('default');
    expect(plan.rds.VpcSecurityGroupIds).toEqual([]);
    expect(plan.cutover).toEqual({ secretArn: null, ssmParameterName: null, route53: null, healthCheck: null, any: false });
  });

  it('pitr with a revoked latest-verified pointer: backup null', async () => {
    expect((await planOf({ database: 'revoked', source: 'pitr' })).plan.backup).toBeNull();
  });

  it('snapshot, newest available (automated or manual)', async () => {
    const { plan, rdsCalls } = await planOf({ database: 'shop', source: 'snapshot' });
    expect(plan.snapshot).toEqual({ snapshotIdentifier: AUTOMATED, createdAt: '2026-11-25T03:00:00.000Z' });
    expect(plan.pitr).toBeNull();
    expect(plan.backup).toEqual({ manifestKey: manifestKeyOf(shopVerified), startedAt: shopVerified.startedAt });
    expect(rdsCalls).toEqual([{ action: 'DescribeDBSnapshots', params: { DBInstanceIdentifier: SOURCE_ID } }]);
  });

  it('snapshot, named (manual and automated)', async () => {
    expect((await planOf({ database: 'shop', source: 'snapshot', snapshotIdentifier: 'before-upgrade' })).plan.snapshot).toEqual({
      snapshotIdentifier: 'before-upgrade', createdAt: '2026-11-20T10:00:00.000Z',
    });
    const { plan, rdsCalls } = await planOf({ database: 'shop', source: 'snapshot', snapshotIdentifier: 'rds:prod-db-2026-11-24-03-00' });
    expect(plan.snapshot?.snapshotIdentifier).toBe('rds:prod-db-2026-11-24-03-00');
    expect(rdsCalls).toEqual([{ action: 'DescribeDBSnapshots', params: { DBSnapshotIdentifier: 'rds:prod-db-2026-11-24-03-00' } }]);
  });

  it('dump, latest verified: no RDS call when the network is configured', async () => {
    const { plan, rdsCalls } = await planOf(good);
    expect(plan.backup).toEqual({ manifestKey: manifestKeyOf(shopVerified), startedAt: shopVerified.startedAt });
    expect(plan.pitr).toBeNull();
    expect(plan.snapshot).toBeNull();
    expect(rdsCalls).toEqual([]);
  });

  it('dump of a database restored by an ECS task: the plan names the task, its result key for this execution and its time limit', async () => {
    const restoreTask = {
      cluster: 'arn:aws:ecs:us-east-1:123456789012:cluster/pgdr-jobs',
      taskDefinition: 'arn:aws:ecs:us-east-1:123456789012:task-definition/pgdr-shop-restore:3',
      containerName: 'job',
      subnets: ['subnet-0a', 'subnet-0b'],
      securityGroups: ['sg-0123456789abcdef0'],
    };
    const fargate = { ...DATABASES, shop: settings('shop', { functions: { restore: null, validate: DATABASES.shop.functions.validate }, restoreTask }) };
    const { plan } = await planOf(good, fargate);
    expect(plan).toMatchObject({ runner: 'fargate', functions: { restore: null }, restoreTask: { ...restoreTask, resultKey: 'shop/recoveries/2026/11/incident-42.restore.result', timeoutSeconds: 7200 } });
    expect(JSON.parse(JSON.stringify(plan))).toEqual(plan);
  });

  it('dump, named by its manifest key and by its dump key', async () => {
    expect((await planOf({ ...good, backupKey: manifestKeyOf(shopVerified) })).plan.backup?.manifestKey).toBe(manifestKeyOf(shopVerified));
    expect((await planOf({ ...good, backupKey: shopVerified.dump.key })).plan.backup?.manifestKey).toBe(manifestKeyOf(shopVerified));
  });

  it('drill vs failover: deletion protection, cleanup, cutover, tags', async () => {
    const failover = (await planOf({ ...good, mode: 'failover' })).plan;
    const drill = (await planOf({ ...good, mode: 'drill' })).plan;
    expect([failover.mode, drill.mode]).toEqual(['failover', 'drill']);
    expect([failover.rds.DeletionProtection, drill.rds.DeletionProtection]).toEqual([true, false]);
    expect([failover.deleteOnFailure, drill.deleteOnFailure]).toEqual([false, true]);
    expect([failover.cutover.any, drill.cutover.any]).toEqual([true, false]);
    expect(drill.rds.Tags).toContainEqual({ Key: 'pgdr:mode', Value: 'drill' });
    expect(drill.instanceIdentifier).toBe(failover.instanceIdentifier);
  });

  it('deleteOnFailure "always" and "never" whatever the mode', async () => {
    expect((await planOf({ database: 'ext', source: 'dump' })).plan.deleteOnFailure).toBe(true);
    expect((await planOf({ database: 'legacy', source: 'snapshot', snapshotIdentifier: 'before-upgrade' }, { ...DATABASES, legacy: { ...DATABASES.legacy, sourceInstanceIdentifier: SOURCE_ID } })).plan.deleteOnFailure).toBe(false);
    const never = { ...DATABASES, shop: { ...DATABASES.shop, deleteOnFailure: 'never' as const } };
    expect((await planOf({ ...good, mode: 'drill' }, never)).plan.deleteOnFailure).toBe(false);
  });

  it('approval: the configured default, and the input overrides it', async () => {
    expect((await planOf(good)).plan.approval).toBe('required');
    expect((await planOf({ ...good, approval: 'skip' })).plan.approval).toBe('skip');
    expect((await planOf({ database: 'ext', source: 'dump' })).plan.approval).toBe('skip');
    expect((await planOf({ database: 'ext', source: 'dump', approval: 'required' })).plan.approval).toBe('required');
  });

  it('external database: dump accepted (default network, cutover targets), pitr refused', async () => {
    const { plan, rdsCalls } = await planOf({ database: 'ext', source: 'dump' });
    expect(plan.backup).toEqual({ manifestKey: manifestKeyOf(extVerified), startedAt: extVerified.startedAt });
    expect(plan.rds.DBSubnetGroupName).toBe('default');
    expect(plan.rds.VpcSecurityGroupIds).toEqual([]);
    expect(plan.rds.MultiAZ).toBe(false);
    expect(plan.cutover).toEqual({
      secretArn: null, ssmParameterName: '/app/db-host', route53: { hostedZoneId: 'Z123', recordName: 'db.example.com', ttlSeconds: 30 },
      healthCheck: { url: 'https://app.example.com/health', timeoutSeconds: 60 }, any: true,
    });
    expect(rdsCalls).toEqual([]);
    const refused = await run({ database: 'ext', source: 'pitr' });
    expect(refused.error?.name).toBe('InvalidInput');
    expect(refused.error?.message).toBe('source: "pitr" needs an RDS source, and database "ext" is external: use "dump" (received "pitr")');
  });

  it('dump of an RDS database without configured network: the source instance is asked, and may be gone', async () => {
    const open = { ...DATABASES, shop: settings('shop', { instance: { dbSubnetGroupName: undefined, securityGroupIds: [] } }) };
    const { plan, rdsCalls } = await planOf(good, open);
    expect(rdsCalls.map((c) => c.action)).toEqual(['DescribeDBInstances']);
    expect(plan.rds.DBSubnetGroupName).toBe('default');
    const gone = { ...DATABASES, shop: settings('shop', { sourceInstanceIdentifier: 'ghost-db', instance: { dbSubnetGroupName: undefined, securityGroupIds: [] } }) };
    expect((await planOf(good, gone)).plan.backup?.manifestKey).toBe(manifestKeyOf(shopVerified));
  });

  it('the identifier differs per execution', async () => {
    const a = (await run(good, DATABASES, { name: 'drill-2026-11-25', startTime: EXECUTION.startTime })).plan;
    const b = (await run(good, DATABASES, { name: 'drill-2026-11-26', startTime: EXECUTION.startTime })).plan;
    expect(a?.instanceIdentifier).not.toBe(b?.instanceIdentifier);
  });

  it('a malformed event (not the input) is InvalidEvent', async () => {
    const r = await run(good, DATABASES, { name: 'x', startTime: 'not a time' });
    expect(r.error?.name).toBe('InvalidEvent');
    expect(r.error?.message).toContain('execution.startTime');
  });
});

describe('handler wiring', () => {
  it('the real handler has no side effect at import and needs PGDR_BUCKET when called', async () => {
    const saved = process.env.PGDR_BUCKET;
    delete process.env.PGDR_BUCKET;
    try {
      await expect(realHandler({ input: good, execution: EXECUTION, databases: DATABASES })).rejects.toThrow('PGDR_BUCKET');
    } finally {
      if (saved !== undefined) process.env.PGDR_BUCKET = saved;
    }
  });

  it('makeHandler takes a factory, called once', async () => {
    let made = 0;
    const rds = sim.client();
    try {
      const handle = makeHandler(() => {
        made++;
        return { store: store(), rds: rdsReader(rds), clock: { now: () => NOW } };
      });
      expect(made).toBe(0);
      await handle({ input: good, execution: EXECUTION, databases: DATABASES });
      await handle({ input: good, execution: EXECUTION, databases: DATABASES });
      expect(made).toBe(1);
    } finally {
      rds.destroy();
    }
  });
});

describe('recoveryInstanceIdentifier', () => {
  const valid = (id: string) => identifierError('DBInstanceIdentifier', id) === undefined && id.length <= 63;

  it('examples', () => {
    expect(recoveryInstanceIdentifier('shop', 'incident-42')).toMatch(/^pgdr-shop-incident-42-[0-9a-f]{8}$/);
    expect(recoveryInstanceIdentifier('shop', 'Drill 2026-11-25 ☕ Café')).toMatch(/^pgdr-shop-drill-2026-11-25-cafe-[0-9a-f]{8}$/);
    expect(recoveryInstanceIdentifier('shop', '☕☕☕')).toMatch(/^pgdr-shop-[0-9a-f]{8}$/);
    expect(recoveryInstanceIdentifier('a--b', '--x--')).toMatch(/^pgdr-a-b-x-[0-9a-f]{8}$/);
    const long = recoveryInstanceIdentifier('a'.repeat(32), 'b'.repeat(80));
    expect(long.length).toBeLessThanOrEqual(63);
    expect(valid(long)).toBe(true);
  });

  it('deterministic, and different for names that differ only past the cut', () => {
    const base = 'x'.repeat(60);
    expect(recoveryInstanceIdentifier('shop', `${base}-1`)).toBe(recoveryInstanceIdentifier('shop', `${base}-1`));
    expect(recoveryInstanceIdentifier('shop', `${base}-1`)).not.toBe(recoveryInstanceIdentifier('shop', `${base}-2`));
    expect(recoveryInstanceIdentifier('shop', 'Run_1')).not.toBe(recoveryInstanceIdentifier('shop', 'run-1'));
  });

  it('property: always a valid RDS identifier of at most 63 characters', () => {
    // A seeded generator (xorshift) over ASCII, Latin letters with accents, CJK, emoji, separators.
    let seed = 0x2545f491;
    const next = () => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) / 0x100000000;
    };
    const alphabet = [...'abcXYZ019-_. :/--', 'é', 'ß', 'Å', 'ǅ', '中', '文', '☕', '\u{1f4a5}', '\u202e', '\n', '\t', 'ﬁ', 'Ⅻ'];
    const names = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const length = 1 + Math.floor(next() * 120);
      const name = Array.from({ length }, () => alphabet[Math.floor(next() * alphabet.length)]).join('');
      const dbLength = 2 + Math.floor(next() * 31);
      const db = Array.from({ length: dbLength }, () => 'abz09-'[Math.floor(next() * 6)]).join('');
      const id = recoveryInstanceIdentifier(db, name);
      if (!valid(id)) throw new Error(`invalid identifier ${JSON.stringify(id)} for ${JSON.stringify([db, name])}`);
      names.add(`${db}\u0000${name}`);
    }
    expect(names.size).toBeGreaterThan(1900);
  });
});
