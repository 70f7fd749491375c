/**
 * The restore test loads its scratch database without WAL for its rows (verify/unlogged.ts),
 * against real PostgreSQL and the local S3 server: the objects first, every user table made
 * unlogged while empty, then the data and what is built on it. What it must keep: the same
 * checks passing (rows, objects, owners, grants) on a database with foreign keys, an identity
 * column, partitions, a table unlogged already and a name that needs quoting; the restore
 * server's WAL, measured by its LSN, a fraction of what a plain restore of the same archive
 * writes; and plain logged restores where unlogged tables would break the restore (a table added
 * to a publication; an ALTER TABLE that fails halfway is undone, since a logged table may not
 * reference an unlogged one) or would not pay (small tables).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PgCluster, PG_BIN } from '../../local/pg-cluster';
import { startTestS3, TestS3 } from '../support/s3-server';
import { harness } from '../support/harness';
import { serverLogSince, serverLogSize } from '../support/server-log';
import { fakeBin } from '../support/fake-bin';
import { UNLOGGED_MIN_BYTES_PER_TABLE } from '../../lambda/verify/unlogged';
import type { BackupManifest } from '../../lambda/shared/records';

let pg: PgCluster;
let s3: TestS3;
let work: string;

/** ~20 MB of rows: a parent and a child with a foreign key to it, an identity column, partitions, an unlogged table, owners and grants. */
const SHOP_SQL = `
CREATE ROLE shop_owner NOLOGIN;
CREATE ROLE "shop ""reader"" ü" NOLOGIN;
CREATE TABLE a_parent (id int PRIMARY KEY, payload text NOT NULL);
INSERT INTO a_parent SELECT g, repeat(md5(g::text), 8) FROM generate_series(1, 60000) g;
CREATE TABLE b_child (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, parent int NOT NULL REFERENCES a_parent, note text);
INSERT INTO b_child (parent, note) SELECT g % 60000 + 1, 'note ' || g FROM generate_series(1, 40000) g;
CREATE INDEX b_child_parent ON b_child (parent);
CREATE TABLE "Ünïcode ""quoted"" table" (id int, v text);
INSERT INTO "Ünïcode ""quoted"" table" SELECT g, 'v' || g FROM generate_series(1, 1000) g;
CREATE TABLE measurements (at int NOT NULL, v text) PARTITION BY RANGE (at);
CREATE TABLE measurements_1 PARTITION OF measurements FOR VALUES FROM (0) TO (5000);
CREATE TABLE measurements_2 PARTITION OF measurements FOR VALUES FROM (5000) TO (10000);
INSERT INTO measurements SELECT g, 'm' || g FROM generate_series(0, 9999) g;
CREATE UNLOGGED TABLE cache (k int PRIMARY KEY, v text);
INSERT INTO cache SELECT g, 'c' || g FROM generate_series(1, 500) g;
ALTER TABLE a_parent OWNER TO shop_owner;
GRANT SELECT ON b_child TO "shop ""reader"" ü";`;

beforeAll(async () => {
  // Index builds get a parallel worker on this server whatever the table's size, and the
  // postmaster logs each worker it starts (DEBUG1: starting background worker process ...).
  [pg, s3] = await Promise.all([PgCluster.start({ settings: { min_parallel_table_scan_size: 0, log_min_messages: 'debug1' } }), startTestS3()]);
  await pg.createDatabase('shop');
  await pg.sql('shop', SHOP_SQL);
  // Settled: no autovacuum of the new tables writing WAL while a test measures it.
  await pg.sql('shop', 'VACUUM ANALYZE');
  work = mkdtempSync(join(tmpdir(), 'pgdr-unlogged-'));
});

afterAll(async () => {
  if (work) rmSync(work, { recursive: true, force: true });
  await Promise.allSettled([s3?.stop(), pg?.stop()]);
});

async function lsn(): Promise<string> {
  const [row] = await pg.sql<{ lsn: string }>('postgres', 'SELECT pg_current_wal_lsn()::text AS lsn');
  return row.lsn;
}

/** Bytes of WAL the server wrote while `fn` ran. */
async function walOf(fn: () => Promise<unknown>): Promise<number> {
  const before = await lsn();
  await fn();
  const [row] = await pg.sql<{ bytes: string }>('postgres', `SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1)::bigint AS bytes`, [before]);
  return Number(row.bytes);
}

/** Parallel workers the postmaster started while `fn` ran (its server.log: DEBUG1 lines). */
async function parallelWorkersOf(fn: () => Promise<unknown>): Promise<number> {
  const from = serverLogSize(pg);
  await fn();
  const log = serverLogSince(pg, from);
  return (log.match(/starting background worker process "parallel worker for PID \d+"/g) ?? []).length;
}

/** WAL of a plain `pg_restore --jobs 2` of the source database's archive into a new database on the same server, and its drop. */
async function plainRestoreWal(source: string): Promise<number> {
  const file = join(work, `${source}.dump`);
  const env = { ...process.env, PGPASSWORD: pg.password, PGHOST: '127.0.0.1', PGPORT: String(pg.port), PGUSER: pg.user };
  expect(spawnSync(join(PG_BIN, 'pg_dump'), ['--format=custom', `--file=${file}`, source], { env }).status).toBe(0);
  return walOf(async () => {
    await pg.sql('postgres', 'CREATE DATABASE plain_copy TEMPLATE template0');
    const restore = spawnSync(join(PG_BIN, 'pg_restore'), ['--jobs=2', '--dbname=plain_copy', file], { env, encoding: 'utf8' });
    expect(restore.stderr).toBe('');
    await pg.sql('postgres', 'DROP DATABASE plain_copy');
  });
}

function verifyOf(database: string, sourceDb: string, pgBin = PG_BIN) {
  const dir = mkdtempSync(join(work, 'dir-'));
  return harness(pg, s3, database, sourceDb).verify({ restoreTest: true }, { pgBin, workDir: dir, jobs: 2 });
}

describe('a database of ~20 MB with foreign keys, identity, partitions, an unlogged table, owners and grants', () => {
  let manifest: BackupManifest;
  let plainWal: number;
  let plainWorkers: number;

  beforeAll(async () => {
    manifest = await harness(pg, s3, 'shop', 'shop').dump({ compression: 'zstd-stream' });
    plainWorkers = await parallelWorkersOf(async () => (plainWal = await plainRestoreWal('shop')));
  });

  test('every permanent table is made unlogged before its rows: every check passes, and the server writes a fraction of the WAL of a plain restore', async () => {
    expect(manifest.dump.uncompressedBytes).toBeGreaterThan(Object.keys(manifest.rowCounts).length * UNLOGGED_MIN_BYTES_PER_TABLE);
    let record: Awaited<ReturnType<typeof verifyOf>> | undefined;
    let workers = -1;
    const wal = await walOf(async () => (workers = await parallelWorkersOf(async () => (record = await verifyOf('shop', 'shop')))));
    expect(record!.failures).toEqual([]);
    expect(record!.ok).toBe(true);
    // a_parent, b_child, the quoted one, two partitions (cache is unlogged already).
    expect(record!.restoreTest).toMatchObject({ mode: 'file', unloggedTables: 5, rowCountMismatches: [], objectCountMismatches: [], privilegeMismatches: [], ownersChecked: true, privilegesChecked: true });
    expect(record!.restoreTest!.unloggedReason).toBeUndefined();
    // The plain restore writes its ~20 MB of rows and indexes to WAL (plus the new database's catalog).
    expect(plainWal).toBeGreaterThan(20 * 1024 * 1024);
    expect(wal).toBeLessThan(plainWal / 2);
    // The same server gave the plain restore's index builds parallel workers; the restore test's
    // scratch database (on the source server) takes none from the pool its applications share.
    expect(plainWorkers).toBeGreaterThan(0);
    expect(workers).toBe(0);
  });

  test('an ALTER TABLE that fails halfway (a table turned into a publication member behind pgdr): the tables altered before it are set back to logged, and the restore passes', async () => {
    // pg_restore's first run (the objects) also puts b_child into a publication, so its ALTER
    // TABLE fails after a_parent's succeeded; b_child's foreign key to a_parent (post-data) then
    // fails unless a_parent is logged again.
    const bin = fakeBin({
      pg_restore: `"$REAL" "$@"; rc=$?
case "$*" in *--section=pre-data*)
  for a in "$@"; do case "$a" in --dbname=*) db="\${a#--dbname=}";; esac; done
  "$(dirname "$REAL")/psql" -X -q -d "$db" -c 'CREATE PUBLICATION behind_pgdr FOR TABLE b_child' 2>/dev/null || rc=9;;
esac
exit $rc`,
    });
    try {
      let record: Awaited<ReturnType<typeof verifyOf>> | undefined;
      const wal = await walOf(async () => (record = await verifyOf('shop', 'shop', bin.dir)));
      expect(record!.failures).toEqual([]);
      expect(record!.restoreTest).toMatchObject({ unloggedTables: 0, unloggedReason: expect.stringMatching(/^ALTER TABLE public\.b_child SET UNLOGGED failed \(.*publication.*\): all tables stay logged$/) });
      expect(wal).toBeGreaterThan(plainWal / 2);
    } finally {
      bin.remove();
    }
  });

  test('errors while restoring the objects: the data and what is built on it are still restored (as one pg_restore goes on), all tables stay logged, and the failure lists both steps\' errors', async () => {
    // A b_child of another shape is in the scratch database before pg_restore creates it: its
    // CREATE TABLE fails (objects), then its COPY (data) and its constraints (post-data).
    const bin = fakeBin({
      pg_restore: `case "$*" in *--section=pre-data*)
  for a in "$@"; do case "$a" in --dbname=*) db="\${a#--dbname=}";; esac; done
  "$(dirname "$REAL")/psql" -X -q -d "$db" -c 'CREATE TABLE public.b_child (other int)' || exit 9;;
esac
exec "$REAL" "$@"`,
    });
    try {
      let record: Awaited<ReturnType<typeof verifyOf>> | undefined;
      const wal = await walOf(async () => (record = await verifyOf('shop', 'shop', bin.dir)));
      expect(record!.ok).toBe(false);
      expect(record!.restoreTest).toMatchObject({ unloggedTables: 0, unloggedReason: 'restoring the objects (pre-data) reported errors: all tables stay logged' });
      const errors = record!.restoreTest!.restoreErrors!.join('\n');
      expect(errors).toMatch(/relation "b_child" already exists/);
      // post-data: b_child's foreign key, on a column the b_child put there does not have.
      expect(errors).toMatch(/column "parent" referenced in foreign key constraint does not exist/);
      expect(record!.failures[0]).toMatch(/^restore test failed: pg_restore exited with code 1: .*already exists.*foreign key constraint/);
      // The data step ran (a_parent's rows, logged): WAL as a plain restore's.
      expect(wal).toBeGreaterThan(plainWal / 2);
    } finally {
      bin.remove();
    }
  });
});

test('an archive that adds a table to a publication: all tables stay logged (a publication refuses unlogged ones, and a logged table may not reference an unlogged one), the restore passes and says why', async () => {
  await pg.createDatabase('pub');
  await pg.sql('pub', `CREATE TABLE parent (id int PRIMARY KEY, payload text);
INSERT INTO parent SELECT g, repeat(md5(g::text), 8) FROM generate_series(1, 30000) g;
CREATE TABLE published (id int PRIMARY KEY, parent int REFERENCES parent, v text);
INSERT INTO published SELECT g, g, repeat('p', 100) FROM generate_series(1, 30000) g;
CREATE PUBLICATION changes FOR TABLE published;`);
  await harness(pg, s3, 'pub', 'pub').dump({ compression: 'zstd-stream' });
  const record = await verifyOf('pub', 'pub');
  expect(record.failures).toEqual([]);
  expect(record.restoreTest).toMatchObject({ unloggedTables: 0, unloggedReason: 'the archive adds tables to publications, which refuse unlogged tables', rowCountMismatches: [] });
});

test('small tables: one plain restore, as making each unlogged would cost more than the WAL it saves', async () => {
  await pg.createDatabase('tiny');
  await pg.sql('tiny', `CREATE TABLE a (id int PRIMARY KEY); INSERT INTO a SELECT generate_series(1, 100); CREATE TABLE b (id int REFERENCES a); INSERT INTO b SELECT generate_series(1, 100);`);
  await harness(pg, s3, 'tiny', 'tiny').dump({ compression: 'zstd-stream' });
  const record = await verifyOf('tiny', 'tiny');
  expect(record.failures).toEqual([]);
  expect(record.restoreTest).toMatchObject({ unloggedTables: 0, unloggedReason: expect.stringMatching(/^2 tables in a \d+-byte archive, less than 1048576 bytes a table: making them unlogged would cost more than the WAL it saves$/) });
});
