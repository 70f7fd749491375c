/**
 * Restore tests on an ephemeral PostgreSQL (issue 11): the verify job starts its own throw-away
 * server (shared/ephemeral-server.ts) in its work directory, restores into it as superuser (all
 * the roles the dump needs are created, owners and privileges are checked), and always stops it.
 * The source sees nothing but the dump: its login here has no CREATEDB and is not a superuser, and
 * no database other than the source's ever exists on it.
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { isAlive, PgCluster, PG_BIN } from '../../local/pg-cluster';
import { startTestS3, TestS3 } from '../support/s3-server';
import { harness } from '../support/harness';
import { connectionFromUrl } from '../../lambda/shared/connection';
import { keysFromDumpKey } from '../../lambda/shared/layout';
import { withClient } from '../../lambda/shared/pg-client';
import { EphemeralServer, RESTORE_TARGET_MALLOC, startEphemeralServer, stopLeftoverServers } from '../../lambda/shared/ephemeral-server';
import type { RestoreServer } from '../../lambda/verify/core';
import type { BackupManifest } from '../../lambda/shared/records';

const DUMPER_PASSWORD = 'dumper-Pw-0e7c41';

const SHOP_SQL = `
CREATE SCHEMA shop AUTHORIZATION app_owner;
SET ROLE app_owner;
CREATE TABLE shop.item (id int PRIMARY KEY, name text NOT NULL);
INSERT INTO shop.item SELECT g, 'item ' || g FROM generate_series(1, 1000) g;
CREATE TABLE shop.sale (id int PRIMARY KEY, item int REFERENCES shop.item(id), qty int);
INSERT INTO shop.sale SELECT g, 1 + g % 1000, g % 7 FROM generate_series(1, 3000) g;
CREATE VIEW shop.totals AS SELECT item, sum(qty) FROM shop.sale GROUP BY item;
GRANT USAGE ON SCHEMA shop TO reader;
GRANT SELECT ON shop.item, shop.totals TO reader;
RESET ROLE;
`;

let pg: PgCluster;
let s3: TestS3;
/** The verify job's ephemeral storage (PGDR_WORK_DIR); the postgres OS user may enter it. */
const workDir = mkdtempSync(join(tmpdir(), 'pgdr-ephemeral-work-'));
chmodSync(workDir, 0o755);

beforeAll(async () => {
  [pg, s3] = await Promise.all([PgCluster.start(), startTestS3()]);
  await pg.sql('postgres', `CREATE ROLE app_owner NOLOGIN; CREATE ROLE reader NOLOGIN; CREATE ROLE dumper LOGIN PASSWORD '${DUMPER_PASSWORD}' NOCREATEDB NOSUPERUSER IN ROLE pg_read_all_data`);
  await pg.createDatabase('shop');
  await pg.sql('shop', SHOP_SQL);
  await pg.sql('postgres', `CREATE DATABASE latin1 ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0`);
  await pg.sql('latin1', `CREATE TABLE notes (id int PRIMARY KEY, body text); INSERT INTO notes VALUES (1, E'caf\\xe9')`);
});

afterAll(async () => {
  rmSync(workDir, { recursive: true, force: true });
  await Promise.allSettled([s3?.stop(), pg?.stop()]);
});

/** The dump login: pg_read_all_data, no CREATEDB, not a superuser. */
const dumper = (database: string) => ({ ...connectionFromUrl(pg.url(database)), username: 'dumper', password: DUMPER_PASSWORD });

/** An ephemeral restore server that remembers every server it started (to check they are gone). */
function ephemeral(started: EphemeralServer[]): RestoreServer {
  return {
    kind: 'ephemeral',
    start: async () => {
      const server = await startEphemeralServer({ bin: PG_BIN, workDir, memoryMb: 128 });
      started.push(server);
      return server;
    },
  };
}

function expectGone(started: EphemeralServer[]): void {
  expect(started).toHaveLength(1);
  expect(isAlive(started[0].pid)).toBe(false);
  expect(existsSync(started[0].dir)).toBe(false);
  expect(readdirSync(workDir).filter((f) => f.startsWith('pgdr-ephemeral-'))).toEqual([]);
}

let shop: BackupManifest;

test('a dump by a login without CREATEDB is restore-tested on an ephemeral server: owners, privileges and counts checked, nothing created on the source', async () => {
  const before = await pg.databases();
  await expect(withClient(dumper('postgres'), (c) => c.query('CREATE DATABASE pgdr_probe'))).rejects.toThrow(/permission denied to create database/);
  const h = harness(pg, s3, 'shop', 'shop');
  shop = await h.dump({ connection: dumper('shop') });
  const started: EphemeralServer[] = [];
  const record = await h.verify({ restoreTest: true }, { restoreServer: ephemeral(started), workDir, jobs: 2 });

  expect(record.failures).toEqual([]);
  expect(record).toMatchObject({ ok: true, level: 2 });
  const test = record.restoreTest!;
  expect(test.server).toBe('ephemeral');
  expect(test.ephemeralServer!.version).toBe(started[0].version);
  expect(test.ephemeralServer!.version).toMatch(/^\d+\.\d+/);
  expect(test.ephemeralServer!.startSeconds).toBeGreaterThan(0);
  expect(test.ephemeralServer!.startSeconds).toBeLessThanOrEqual(test.totalSeconds);
  expect(test).toMatchObject({ mode: 'file', jobs: 2, rowCountMismatches: [], objectCountMismatches: [], privilegeMismatches: [], ownersChecked: true, privilegesChecked: true, rolesMissing: [] });
  expect([...test.rolesCreated!].sort()).toEqual(['app_owner', 'reader']);
  expect(Object.keys(shop.rowCounts).sort()).toEqual(['shop.item', 'shop.sale']);
  expect(h.emf.values('VerifySucceeded')).toEqual([1]);
  // The server went away with its data directory; the source never saw another database.
  expectGone(started);
  expect(await pg.databases()).toEqual(before);
  expect(h.log.text()).not.toContain(started[0].connection.password);
});

test.each([
  ['a manifest whose row counts do not match', (m: BackupManifest) => ({ ...m, rowCounts: { ...m.rowCounts, 'shop.sale': 2999 } }), /^rows of shop\.sale: manifest 2999, restored 3000$/],
  ['a locale the ephemeral server cannot create', (m: BackupManifest) => ({ ...m, locale: { ...m.locale!, collate: 'xx_XX.UTF-8', ctype: 'xx_XX.UTF-8' } }), /^restore test failed: .*xx_XX/],
])('%s fails the restore test, and the server is still stopped and removed', async (_what, edit, failure) => {
  const h = harness(pg, s3, 'shop', 'shop');
  const manifestKey = keysFromDumpKey(shop.dump.key).manifest;
  await s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: manifestKey, Body: JSON.stringify(edit(shop)) }));
  const started: EphemeralServer[] = [];
  try {
    const record = await h.verify({ manifestKey, restoreTest: true }, { restoreServer: ephemeral(started), workDir });
    expect(record.ok).toBe(false);
    expect(record.failures).toEqual([expect.stringMatching(failure)]);
    expect(record.restoreTest!.server).toBe('ephemeral');
    expectGone(started);
  } finally {
    await s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: manifestKey, Body: JSON.stringify(shop) }));
  }
});

test('an ephemeral server older than the source is refused and stopped before any restore', async () => {
  const h = harness(pg, s3, 'shop', 'shop');
  const started: EphemeralServer[] = [];
  const older: RestoreServer = {
    kind: 'ephemeral',
    start: async () => {
      const server = await startEphemeralServer({ bin: PG_BIN, workDir, memoryMb: 64 });
      started.push(server);
      return { ...server, version: '14.11', versionNum: 140011 };
    },
  };
  const record = await h.verify({ manifestKey: keysFromDumpKey(shop.dump.key).manifest, restoreTest: true }, { restoreServer: older });
  expect(record.ok).toBe(false);
  expect(record.failures).toEqual([
    `restore test failed: the ephemeral server is PostgreSQL 14.11, older than the source's ${shop.server.version}: set PGDR_PG_SERVER_BIN to a server of major ${Math.floor(shop.server.versionNum / 10000)} or newer`,
  ]);
  expect(record.restoreTest).toMatchObject({ server: 'ephemeral', restoreSeconds: 0, scratchDropped: false });
  expectGone(started);
});

test('a damaged dump fails the integrity check: the server started while the dump was read is stopped and removed unused', async () => {
  const h = harness(pg, s3, 'damaged', 'shop');
  const manifest = await h.dump({ connection: dumper('shop') });
  await s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: manifest.dump.key, Body: Buffer.alloc(manifest.dump.bytes, 0x42) }));
  const started: EphemeralServer[] = [];
  const record = await h.verify({ restoreTest: true }, { restoreServer: ephemeral(started) });
  expect(record.ok).toBe(false);
  expect(record.failures).toContain('restore test skipped: the integrity check failed');
  expect(record.restoreTest).toBeUndefined();
  expectGone(started);
});

test('a dump object that is gone: the early server is stopped too, and the record says the object is missing', async () => {
  const h = harness(pg, s3, 'gone', 'shop');
  const manifest = await h.dump({ connection: dumper('shop') });
  await s3.client.send(new DeleteObjectCommand({ Bucket: s3.bucket, Key: manifest.dump.key }));
  const started: EphemeralServer[] = [];
  const record = await h.verify({ restoreTest: true }, { restoreServer: ephemeral(started) });
  expect(record.ok).toBe(false);
  expect(record.failures).toContain(`dump object ${manifest.dump.key} is missing`);
  expectGone(started);
});

test('a LATIN1 database restores byte for byte into a LATIN1 scratch database on the ephemeral server', async () => {
  const h = harness(pg, s3, 'latin1', 'latin1', {
    restoreTestEveryNth: 1,
    smokeQueries: [
      { name: 'encoding', sql: `SELECT 1 FROM pg_database WHERE datname = current_database() AND pg_encoding_to_char(encoding) = 'LATIN1' AND datcollate = 'C'`, minRows: 1 },
      { name: 'bytes', sql: `SELECT 1 FROM notes WHERE octet_length(body) = 4 AND convert_to(body, 'LATIN1') = '\\x636166e9'::bytea`, minRows: 1 },
    ],
  });
  const manifest = await h.dump({ connection: dumper('latin1') });
  expect(manifest.locale).toMatchObject({ encoding: 'LATIN1', collate: 'C' });
  const started: EphemeralServer[] = [];
  const record = await h.verify({ restoreTest: true }, { restoreServer: ephemeral(started) });
  expect(record.failures).toEqual([]);
  expect(record.restoreTest!.locale).toMatchObject({ checked: true, actual: manifest.locale });
  expect(record.restoreTest!.smokeQueries.map((q) => q.ok)).toEqual([true, true]);
  expectGone(started);
});

test('the ephemeral server: restore-target settings, loopback only, no password on its command line or on disk', async () => {
  const server = await startEphemeralServer({ bin: PG_BIN, workDir, memoryMb: 512 });
  try {
    const settings = await withClient(server.connection, async (c) => {
      const { rows } = await c.query<{ name: string; setting: string; unit: string | null }>(
        `SELECT name, setting, unit FROM pg_settings WHERE name IN ('fsync', 'full_page_writes', 'synchronous_commit', 'wal_level', 'max_wal_senders', 'autovacuum',
           'dynamic_shared_memory_type', 'shared_buffers', 'maintenance_work_mem', 'listen_addresses') ORDER BY name`,
      );
      return Object.fromEntries(rows.map((r) => [r.name, r.unit === '8kB' ? `${(Number(r.setting) * 8) / 1024}MB` : r.unit === 'kB' ? `${Number(r.setting) / 1024}MB` : r.setting]));
    });
    expect(settings).toEqual({
      autovacuum: 'off',
      dynamic_shared_memory_type: 'mmap',
      fsync: 'off',
      full_page_writes: 'off',
      listen_addresses: '127.0.0.1',
      maintenance_work_mem: '64MB',
      max_wal_senders: '0',
      shared_buffers: '128MB',
      synchronous_commit: 'off',
      wal_level: 'minimal',
    });
    expect(server.connection).toMatchObject({ host: '127.0.0.1', username: 'postgres', sslmode: 'disable' });
    expect(readFileSync(`/proc/${server.pid}/cmdline`, 'utf8')).not.toContain(server.connection.password);
    // glibc's malloc settings reach the postmaster, whose backends inherit them.
    const environ = readFileSync(`/proc/${server.pid}/environ`, 'utf8').split('\0');
    for (const [name, value] of Object.entries(RESTORE_TARGET_MALLOC)) expect(environ).toContain(`${name}=${value}`);
    expect(readdirSync(server.dir).filter((f) => f.startsWith('pwfile'))).toEqual([]);
  } finally {
    await server.stop();
    await server.stop();
  }
  expect(isAlive(server.pid)).toBe(false);
  expect(existsSync(server.dir)).toBe(false);
});

test('a server that cannot start leaves nothing behind and says why', async () => {
  await expect(startEphemeralServer({ bin: join(workDir, 'no-such-bin'), workDir })).rejects.toThrow(`the ephemeral server's bin directory ${join(workDir, 'no-such-bin')} has no initdb, pg_ctl, postgres: it must hold a PostgreSQL server (PGDR_PG_SERVER_BIN)`);
  const long = join(workDir, 'd'.repeat(100));
  await expect(startEphemeralServer({ bin: PG_BIN, workDir: long })).rejects.toThrow(`the work directory ${long} is too long for the ephemeral server's unix socket`);
  expect(existsSync(long)).toBe(false);
  // initdb fails inside the server's new directory: the directory goes too.
  await expect(startEphemeralServer({ bin: PG_BIN, workDir, locale: 'xx_XX.UTF-8' })).rejects.toThrow(/initdb failed \(1\): .*xx_XX/s);
  expect(readdirSync(workDir).filter((f) => f.startsWith('pgdr-ephemeral-'))).toEqual([]);
});

test('a server left running by a run that was stopped (a Lambda timeout) is stopped and removed by the next run; nothing else is touched', async () => {
  const left = await startEphemeralServer({ bin: PG_BIN, workDir });
  const notOurs = join(workDir, 'pgdr-ephemeral-keep-me');
  mkdirSync(notOurs);
  try {
    expect(await stopLeftoverServers(workDir)).toEqual([left.dir.slice(workDir.length + 1)]);
    expect(isAlive(left.pid)).toBe(false);
    expect(existsSync(left.dir)).toBe(false);
    expect(existsSync(notOurs)).toBe(true);
  } finally {
    await left.stop();
    rmSync(notOurs, { recursive: true, force: true });
  }
});
