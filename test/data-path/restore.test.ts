/**
 * The failover's restore job (issue 6, `dump` source): a verified dump of a source whose roles
 * exist only on the source is restored into a FRESH cluster (the "new instance"), with the roles'
 * real attributes and memberships, owners, grants, equal counts, and the application login's new
 * password; by `pg_restore --jobs 2` from a file and streamed. Keys that are not verified backups
 * of the database are refused before anything is created; a damaged object fails in file mode
 * before pg_restore runs and leaves no temporary file.
 */
import { captureStdout } from '../support/stdout';
import { LocalSecretsManager, startLocalSecretsManager, localAwsEnv } from '../support/secrets-server';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { Readable } from 'node:stream';
import { join } from 'node:path';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { Client } from 'pg';
import { PgCluster, PG_BIN } from '../../local/pg-cluster';
import { startTestS3, TestS3 } from '../support/s3-server';
import { harness, LogCapture } from '../support/harness';
import { connectionFromUrl } from '../../lambda/shared/connection';
import { keysFromDumpKey, latestVerifiedKey } from '../../lambda/shared/layout';
import { S3ObjectStore } from '../../lambda/shared/s3-store';
import { systemClock } from '../../lambda/shared/ports';
import { resolveVerifiedBackup, RestoreDeps, RestoreRequest, runRestore } from '../../lambda/restore/core';
import { handler as restoreHandler } from '../../lambda/restore/handler';
import type { BackupManifest } from '../../lambda/shared/records';

const APP_PASSWORD = "new-app-Pw-'quoted' 9f2c";
const SOURCE_APP_PASSWORD = 'old-app-Pw-1b7e';

const ROLES_SQL = `
CREATE ROLE app_owner NOLOGIN;
CREATE ROLE readers NOLOGIN;
CREATE ROLE app_login LOGIN PASSWORD '${SOURCE_APP_PASSWORD}' CONNECTION LIMIT 15 IN ROLE readers;
ALTER ROLE app_login SET search_path = shop, public;
`;
const SHOP_SQL = `
CREATE SCHEMA shop AUTHORIZATION app_owner;
SET ROLE app_owner;
CREATE TABLE shop.item (id int PRIMARY KEY, name text);
INSERT INTO shop.item SELECT g, 'item ' || g FROM generate_series(1, 300) g;
CREATE TABLE shop.secret (id int);
INSERT INTO shop.secret VALUES (1);
GRANT USAGE ON SCHEMA shop TO readers;
GRANT SELECT ON shop.item TO readers;
RESET ROLE;
`;

let source: PgCluster;
let s3: TestS3;
let workRoot: string;
let shop: BackupManifest;
let latin: BackupManifest;

beforeAll(async () => {
  [source, s3] = await Promise.all([PgCluster.start(), startTestS3()]);
  workRoot = mkdtempSync(join(tmpdir(), 'pgdr-restore-test-'));
  await source.sql('postgres', ROLES_SQL);
  await source.createDatabase('shop');
  await source.sql('shop', SHOP_SQL);
  await source.sql('postgres', `CREATE DATABASE latin ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0`);
  await source.sql('latin', `CREATE TABLE notes (id int PRIMARY KEY, body text); INSERT INTO notes VALUES (1, E'caf\\xe9')`);
  const h = harness(source, s3, 'shop', 'shop');
  shop = await h.dump();
  expect((await h.verify({ restoreTest: true })).ok).toBe(true);
  const l = harness(source, s3, 'latin', 'latin');
  latin = await l.dump();
  expect((await l.verify({ restoreTest: true })).ok).toBe(true);
});

afterAll(async () => {
  await Promise.allSettled([s3?.stop(), source?.stop()]);
  if (workRoot) rmSync(workRoot, { recursive: true, force: true });
});

const store = () => new S3ObjectStore(s3.client, s3.bucket, { kmsKeyId: 'arn:aws:kms:eu-west-1:123456789012:key/test', partSize: 5 * 1024 * 1024 });
const manifestKeyOf = (m: BackupManifest) => keysFromDumpKey(m.dump.key).manifest;

function workDir(): string {
  return mkdtempSync(join(workRoot, 'work-'));
}

function deps(target: PgCluster, overrides: Partial<RestoreDeps> = {}): RestoreDeps & { log: LogCapture } {
  return { store: store(), target: connectionFromUrl(target.url('postgres')), pgBin: PG_BIN, log: new LogCapture(), clock: systemClock, ...overrides } as RestoreDeps & { log: LogCapture };
}

async function withFresh<T>(fn: (target: PgCluster) => Promise<T>): Promise<T> {
  const target = await PgCluster.start();
  try {
    return await fn(target);
  } finally {
    await target.stop();
  }
}

/** Connects as `user` with `password` to `database` of `cluster` and runs `sql`. */
async function asLogin(cluster: PgCluster, user: string, password: string, database: string, sql: string) {
  const client = new Client({ host: cluster.host, port: cluster.port, user, password, database });
  await client.connect();
  try {
    return (await client.query(sql)).rows;
  } finally {
    await client.end();
  }
}

async function expectRestoredShop(target: PgCluster, log: LogCapture) {
  const roles = await target.sql('postgres', `SELECT rolname, rolcanlogin, rolconnlimit FROM pg_roles WHERE rolname IN ('app_owner', 'readers', 'app_login') ORDER BY 1`);
  expect(roles).toEqual([
    { rolname: 'app_login', rolcanlogin: true, rolconnlimit: 15 },
    { rolname: 'app_owner', rolcanlogin: false, rolconnlimit: -1 },
    { rolname: 'readers', rolcanlogin: false, rolconnlimit: -1 },
  ]);
  expect(await target.sql('postgres', `SELECT pg_has_role('app_login', 'readers', 'MEMBER') AS member`)).toEqual([{ member: true }]);
  expect(await target.sql('shop', `SELECT tableowner FROM pg_tables WHERE schemaname = 'shop' ORDER BY tablename`)).toEqual([{ tableowner: 'app_owner' }, { tableowner: 'app_owner' }]);
  // The application login connects with the NEW password, reads what it was granted, nothing else.
  expect(await asLogin(target, 'app_login', APP_PASSWORD, 'shop', 'SELECT count(*)::int AS n FROM item')).toEqual([{ n: 300 }]);
  await expect(asLogin(target, 'app_login', APP_PASSWORD, 'shop', 'SELECT * FROM shop.secret')).rejects.toThrow(/permission denied for table secret/);
  await expect(asLogin(target, 'app_login', SOURCE_APP_PASSWORD, 'shop', 'SELECT 1')).rejects.toThrow(/password authentication failed/);
  // No password anywhere in the log.
  expect(log.text()).not.toContain(APP_PASSWORD);
  expect(log.text()).not.toContain(target.password);
}

const request = (overrides: Partial<RestoreRequest> = {}): RestoreRequest => ({ database: 'shop', appLogin: { role: 'app_login', password: APP_PASSWORD }, ...overrides });

test('file mode: pg_restore --jobs 2 into a fresh server recreates the roles, owners, grants, counts; the app login connects with its new password', async () => {
  await withFresh(async (target) => {
    const dir = workDir();
    const d = deps(target, { workDir: dir, jobs: 2 });
    const result = await runRestore(d, request());
    expect(result).toMatchObject({ mode: 'file', jobs: 2, ok: true, mismatches: [], manifestKey: manifestKeyOf(shop), targetDatabase: 'shop', appLoginPasswordSet: 'app_login', bytes: shop.dump.bytes });
    expect(result.modeReason).toMatch(/bytes free in the work directory, \d+ needed: pg_restore --jobs 2 from a file/);
    expect(result.rolesCreated.sort()).toEqual(['app_login', 'app_owner', 'readers']);
    expect(result.rolesExisting).toEqual(['postgres']);
    expect(JSON.stringify(result)).not.toContain(APP_PASSWORD);
    expect(readdirSync(dir)).toEqual([]);
    await expectRestoredShop(target, d.log);
    // The role settings came along (this-database settings go to the restored database).
    expect(await asLogin(target, 'app_login', APP_PASSWORD, 'shop', 'SHOW search_path')).toEqual([{ search_path: 'shop, public' }]);
  });
});

test('stream mode (no room for the file): the same restore, streamed, and it says why', async () => {
  await withFresh(async (target) => {
    const d = deps(target, { workDir: workDir(), jobs: 2, freeBytes: async () => 1000 });
    const result = await runRestore(d, request({ backupKey: shop.dump.key }));
    expect(result).toMatchObject({ mode: 'stream', jobs: 1, ok: true, mismatches: [] });
    expect(result.modeReason).toMatch(/^1000 bytes free in the work directory, \d+ needed: streamed$/);
    await expectRestoredShop(target, d.log);
  });
});

test('a LATIN1 source is restored with its encoding, byte for byte, into another target name', async () => {
  await withFresh(async (target) => {
    const result = await runRestore(deps(target, { workDir: workDir() }), { database: 'latin', targetDatabase: 'latin_new' });
    expect(result).toMatchObject({ mode: 'file', ok: true, targetDatabase: 'latin_new', appLoginPasswordSet: null });
    expect(latin.locale!.encoding).toBe('LATIN1');
    expect(await target.sql('latin_new', `SELECT pg_encoding_to_char(encoding) AS enc FROM pg_database WHERE datname = current_database()`)).toEqual([{ enc: 'LATIN1' }]);
    expect(await target.sql('latin_new', `SELECT octet_length(body) AS n FROM notes`)).toEqual([{ n: 4 }]);
  });
});

describe('backup keys that are not verified backups of the database are refused before anything is created', () => {
  let target: PgCluster;
  beforeAll(async () => {
    target = await PgCluster.start();
  });
  afterAll(async () => {
    await target?.stop();
  });

  async function expectRefused(req: RestoreRequest, message: RegExp) {
    await expect(resolveVerifiedBackup(store(), req.database, req.backupKey)).rejects.toThrow(message);
    const dir = workDir();
    await expect(runRestore(deps(target, { workDir: dir }), req)).rejects.toThrow(message);
    expect(await target.databases()).not.toContain('shop');
    expect(await target.sql('postgres', `SELECT rolname FROM pg_roles WHERE rolname IN ('app_owner', 'readers', 'app_login')`)).toEqual([]);
    expect(readdirSync(dir)).toEqual([]);
  }

  test('a key outside the database prefix', async () => {
    await expectRefused(request({ backupKey: manifestKeyOf(latin) }), /^backupKey: "latin\/.*" is outside the prefix shop\/ of database shop$/);
    await expectRefused(request({ backupKey: `shop/../${manifestKeyOf(latin)}` }), /is outside the prefix shop\//);
  });

  test('a key without a manifest, and one without a verified record', async () => {
    await expectRefused(request({ backupKey: 'shop/daily/2020/01/01/shop_daily_2020-01-01T00-00-00-000Z.dump' }), /^backupKey: shop\/daily\/.* has no manifest in bucket pgdr-test-vault$/);
    const h = harness(source, s3, 'unverified', 'shop');
    const m = await h.dump();
    await expectRefused({ database: 'unverified', backupKey: manifestKeyOf(m) }, /^backupKey: .* was never verified \(no .*verification\.json\); only a verified backup is restored$/);
  });

  test('an application login that is the target admin login (its password is the managed secret\'s)', async () => {
    const dir = workDir();
    await expect(runRestore(deps(target, { workDir: dir }), request({ appLogin: { role: 'postgres', password: APP_PASSWORD } }))).rejects.toThrow(
      /^appLogin: "postgres" is the target's admin login; its password belongs to the instance's managed secret and is not changed$/,
    );
    expect(await target.databases()).not.toContain('shop');
    expect(readdirSync(dir)).toEqual([]);
  });

  test('a revoked latest-verified pointer', async () => {
    const h = harness(source, s3, 'revoked', 'shop');
    const m = await h.dump();
    expect((await h.verify({ restoreTest: false })).ok).toBe(true);
    const key = latestVerifiedKey('revoked');
    const pointer = JSON.parse(await (await s3.client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: key }))).Body!.transformToString());
    await s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: key, Body: JSON.stringify({ ...pointer, revoked: { at: new Date().toISOString(), reason: 'object altered' } }) }));
    expect(pointer.manifestKey).toBe(manifestKeyOf(m));
    await expectRefused({ database: 'revoked' }, /^backupKey: revoked\/latest-verified\.json is revoked \(object altered\)/);
  });
});

test('a damaged object fails in file mode before pg_restore runs, and leaves no temporary file', async () => {
  const h = harness(source, s3, 'damaged', 'shop');
  // Compressed inside the archive: the object is written to the file as it is, so only the hash can tell.
  const m = await h.dump({ compression: 'pg_dump-gzip' });
  expect((await h.verify({ restoreTest: false })).ok).toBe(true);
  const original = Buffer.from(await (await s3.client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: m.dump.key }))).Body!.transformToByteArray());
  // Same size, one byte changed near the end.
  const damaged = Buffer.from(original);
  damaged[damaged.length - 20] ^= 0xff;
  await s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: m.dump.key, Body: damaged }));
  await withFresh(async (target) => {
    const dir = workDir();
    const d = deps(target, { workDir: dir });
    await expect(runRestore(d, { database: 'damaged' })).rejects.toThrow(/^dump object damaged\/.* has SHA-256 [0-9a-f]{64}, the manifest says [0-9a-f]{64}: not restored$/);
    expect(readdirSync(dir)).toEqual([]);
    // The database was created (left for the workflow's cleanup) but pg_restore never ran in it.
    expect(await target.sql('shop', `SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = 'shop'`)).toEqual([{ n: 0 }]);
  });
});

test('a download that breaks halfway removes its temporary file and restores nothing', async () => {
  const real = store();
  const breaking = Object.assign(Object.create(Object.getPrototypeOf(real)) as S3ObjectStore, real, {
    getStream: async (key: string) => {
      const body = await real.getStream(key);
      if (!body) return body;
      return Readable.from((async function* () {
        for await (const chunk of body as AsyncIterable<Buffer>) {
          yield chunk;
          throw new Error('connection reset by peer');
        }
      })());
    },
  });
  await withFresh(async (target) => {
    const dir = workDir();
    await expect(runRestore(deps(target, { workDir: dir, store: breaking }), request())).rejects.toThrow(/^restore of shop\/.* into shop failed: downloading the dump to .* failed: connection reset by peer$/);
    expect(readdirSync(dir)).toEqual([]);
    expect(await target.sql('shop', `SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = 'shop'`)).toEqual([{ n: 0 }]);
  });
});

describe('the handler as deployed (environment contract, its own SDK clients)', () => {
  const MASTER_ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-1234-AbCdEf';
  const CUTOVER_ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:pgdr/shop-app-AbCdEf';
  const savedEnv = { ...process.env };
  let secrets: LocalSecretsManager;
  let target: PgCluster;
  const stdout = captureStdout();

  beforeAll(async () => {
    target = await PgCluster.start();
    // RDS-managed master secrets hold only username and password; the endpoint comes in the event.
    const values: Record<string, string> = {
      [MASTER_ARN]: JSON.stringify({ username: 'postgres', password: target.password }),
      [CUTOVER_ARN]: JSON.stringify({ engine: 'postgres', host: 'old.example', port: 5432, username: 'app_login', password: APP_PASSWORD }),
    };
    secrets = await startLocalSecretsManager(values);
    Object.assign(process.env, {
      ...localAwsEnv(s3.endpoint, secrets.endpoint),
      PGDR_BUCKET: s3.bucket,
      PGDR_PG_BIN: PG_BIN,
      PGDR_WORK_DIR: workDir(),
      POWERTOOLS_SERVICE_NAME: 'pgdr-test',
    });
  });

  afterAll(async () => {
    process.env = savedEnv;
    await secrets?.stop();
    await target?.stop();
  });

  test('restores the latest verified backup into the new instance and gives the app login the cutover password', async () => {
    const result = await restoreHandler({ database: 'shop', target: { host: target.host, port: target.port, masterSecretArn: MASTER_ARN }, cutoverSecretArn: CUTOVER_ARN });
    expect(result).toMatchObject({ ok: true, mode: 'file', jobs: 2, manifestKey: manifestKeyOf(shop), appLoginPasswordSet: 'app_login' });
    expect(await asLogin(target, 'app_login', APP_PASSWORD, 'shop', 'SELECT count(*)::int AS n FROM item')).toEqual([{ n: 300 }]);
    expect(readdirSync(process.env.PGDR_WORK_DIR!)).toEqual([]);
    const printed = stdout.text();
    expect(printed).toContain('restore: finished');
    expect(printed).not.toContain(APP_PASSWORD);
    expect(printed).not.toContain(target.password);
  });

  test('an unreadable master secret fails with one clear line', async () => {
    await expect(restoreHandler({ database: 'shop', target: { host: target.host, port: target.port, masterSecretArn: `${MASTER_ARN}x` } })).rejects.toThrow(
      `cannot read secret ${MASTER_ARN}x: ResourceNotFoundException: Secrets Manager can't find the specified secret.`,
    );
  });
});
