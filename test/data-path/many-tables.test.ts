/**
 * Many tables on a server with a small shared lock table (default max_locks_per_transaction = 64,
 * max_connections = 5): plain pg_dump fits, and so must pgdr, whose row counting must not hold a
 * second lock per table next to pg_dump's. Also: counts taken in many short transactions are
 * still exactly the exported snapshot's.
 */
import { spawnSync } from 'node:child_process';
import { PgCluster, PG_BIN } from '../../local/pg-cluster';
import { startTestS3, TestS3 } from '../support/s3-server';
import { harness } from '../support/harness';
import { connectClient } from '../../lambda/shared/pg-client';
import { connectionFromUrl, libpqEnv } from '../../lambda/shared/connection';
import { dataTables, lockBatches, rowCounts, snapshotCounts } from '../../lambda/shared/catalog';

/** Tables t0000..t1999, each with a primary key (a count takes 2 locks: table and index); t<i> holds i % 7 rows. */
const TABLES = 2000;
const rowsOf = (i: number) => i % 7;
const tableName = (i: number) => `t${String(i).padStart(4, '0')}`;

let pg: PgCluster;
let s3: TestS3;

beforeAll(async () => {
  [pg, s3] = await Promise.all([PgCluster.start({ settings: { max_connections: 5 } }), startTestS3()]);
  await pg.createDatabase('many');
  // Created 400 per transaction: creating them all in one would itself exhaust the lock table.
  for (let from = 0; from < TABLES; from += 400) {
    await pg.sql('many', `DO $$ BEGIN FOR i IN ${from}..${Math.min(TABLES, from + 400) - 1} LOOP
      EXECUTE format('CREATE TABLE %I (id int PRIMARY KEY)', 't' || lpad(i::text, 4, '0'));
      EXECUTE format('INSERT INTO %I SELECT generate_series(1, %s)', 't' || lpad(i::text, 4, '0'), i % 7);
    END LOOP; END $$`);
  }
});

afterAll(async () => {
  await Promise.allSettled([s3?.stop(), pg?.stop()]);
});

test('the server is near its lock limit: plain pg_dump succeeds; counting every table in one transaction runs out of shared memory', async () => {
  const [{ n }] = await pg.sql<{ n: string }>('many', `SELECT current_setting('max_locks_per_transaction') AS n`);
  expect(n).toBe('64');
  const plain = spawnSync(`${PG_BIN}/pg_dump`, ['--format=custom'], { env: { ...process.env, ...libpqEnv(connectionFromUrl(pg.url('many'))) }, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  expect(plain.stderr).toBe('');
  expect(plain.status).toBe(0);
  // What counting inside the snapshot's transaction did: one lock per table and per index, all held to the end.
  const client = await pg.client('many');
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const all = Array.from({ length: TABLES }, (_, i) => `SELECT count(*) FROM ${tableName(i)}`).join(' UNION ALL ');
    await expect(client.query(all)).rejects.toThrow(/^out of shared memory$/);
  } finally {
    await client.query('ROLLBACK').catch(() => undefined);
    await client.end();
  }
});

test(`pgdr dumps ${TABLES} tables on that server, with exact counts`, async () => {
  const h = harness(pg, s3, 'many', 'many');
  const manifest = await h.dump();
  expect(Object.keys(manifest.rowCounts)).toHaveLength(TABLES);
  for (let i = 0; i < TABLES; i++) expect([i, manifest.rowCounts[`public.${tableName(i)}`]]).toEqual([i, rowsOf(i)]);
  expect(manifest.objectCounts).toMatchObject({ tables: TABLES, indexes: TABLES });
  // The verify job's counting (each batch a statement of its own) fits too and agrees.
  const client = await pg.client('many');
  try {
    expect(await rowCounts(client)).toEqual(manifest.rowCounts);
  } finally {
    await client.end();
  }
});

test('counts in short transactions that import the snapshot are the snapshot\'s, whatever commits between them', async () => {
  const connection = connectionFromUrl(pg.url('many'));
  const exporter = await connectClient(connection);
  const counter = await connectClient(connection);
  try {
    await exporter.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const snapshot = (await exporter.query<{ id: string }>('SELECT pg_export_snapshot() AS id')).rows[0].id;
    // Committed after the export, in tables of the first and of the last batches.
    await pg.sql('many', `INSERT INTO ${tableName(0)} VALUES (1000); INSERT INTO ${tableName(TABLES - 1)} VALUES (1000); DELETE FROM ${tableName(TABLES - 2)}`);
    const batches = lockBatches(await dataTables(counter), 64);
    expect(batches.length).toBeGreaterThan(10); // the counting really spans many transactions
    const { rows, objects } = await snapshotCounts(counter, snapshot);
    for (const i of [0, TABLES - 2, TABLES - 1]) expect([i, rows[`public.${tableName(i)}`]]).toEqual([i, rowsOf(i)]);
    expect(objects.tables).toBe(TABLES);
    const [live] = await pg.sql<{ first: string; last: string; emptied: string }>('many',
      `SELECT (SELECT count(*) FROM ${tableName(0)}) AS first, (SELECT count(*) FROM ${tableName(TABLES - 1)}) AS last, (SELECT count(*) FROM ${tableName(TABLES - 2)}) AS emptied`);
    expect(live).toEqual({ first: String(rowsOf(0) + 1), last: String(rowsOf(TABLES - 1) + 1), emptied: '0' });
  } finally {
    await exporter.query('ROLLBACK').catch(() => undefined);
    await Promise.allSettled([exporter.end(), counter.end()]);
    // Leave the tables as the other tests expect them.
    await pg.sql('many', `DELETE FROM ${tableName(0)} WHERE id = 1000; DELETE FROM ${tableName(TABLES - 1)} WHERE id = 1000;
      INSERT INTO ${tableName(TABLES - 2)} SELECT generate_series(1, ${rowsOf(TABLES - 2)}) ON CONFLICT DO NOTHING`);
  }
});

test('a snapshot that is gone makes the counting fail with the server\'s reason', async () => {
  const connection = connectionFromUrl(pg.url('many'));
  const exporter = await connectClient(connection);
  const counter = await connectClient(connection);
  try {
    await exporter.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const snapshot = (await exporter.query<{ id: string }>('SELECT pg_export_snapshot() AS id')).rows[0].id;
    await exporter.query('COMMIT');
    await expect(snapshotCounts(counter, snapshot)).rejects.toThrow(`invalid snapshot identifier: "${snapshot}"`);
    await expect(snapshotCounts(counter, "1'; DROP TABLE t0000; --")).rejects.toThrow(/is not a snapshot identifier/);
  } finally {
    await Promise.allSettled([exporter.end(), counter.end()]);
  }
});

test('lockBatches: consecutive batches within the lock budget; a table that alone exceeds it is a batch of its own', () => {
  const t = (name: string, locks: number) => ({ name, locks });
  expect(lockBatches([t('a', 2), t('b', 2), t('c', 3), t('d', 9), t('e', 1)], 5).map((b) => b.map((x) => x.name))).toEqual([['a', 'b'], ['c'], ['d'], ['e']]);
  expect(lockBatches([], 64)).toEqual([]);
});
