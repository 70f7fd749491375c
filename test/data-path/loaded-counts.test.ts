/**
 * Rows counted while pg_restore --jobs runs (shared/loaded-counts.ts), on a real cluster: each
 * table is counted once pg_restore reports its data loaded, except the tables whose count could
 * still change or whose name pg_restore gives ambiguously, which the count after the restore takes
 * (catalog.ts `rowCounts(..., counted)`); a failure or a stop leaves every table to that count.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PgCluster } from '../../local/pg-cluster';
import { restoreArchiveFile } from '../../lambda/shared/archive';
import { rowCounts } from '../../lambda/shared/catalog';
import { ConnectionInfo, connectionFromUrl, withDatabase } from '../../lambda/shared/connection';
import { LoadedTableCounts } from '../../lambda/shared/loaded-counts';
import { withClient } from '../../lambda/shared/pg-client';
import { runTool, ToolError } from '../../lambda/shared/pg-process';

let pg: PgCluster;
let work: string;
let archive: string;
const options = { owners: false, privileges: false };

beforeAll(async () => {
  pg = await PgCluster.start();
  work = mkdtempSync(join(tmpdir(), 'pgdr-loaded-counts-'));
  await pg.createDatabase('src');
  await pg.sql(
    'src',
    `CREATE SCHEMA other;
     CREATE TABLE plain (id int); INSERT INTO plain SELECT generate_series(1, 3000);
     CREATE TABLE "we""ird ü name " (id int); INSERT INTO "we""ird ü name " SELECT generate_series(1, 7);
     CREATE TABLE empty (id int);
     -- The same name in two schemas: pg_restore names both "shared".
     CREATE TABLE shared (id int); INSERT INTO shared SELECT generate_series(1, 11);
     CREATE TABLE other.shared (id int); INSERT INTO other.shared SELECT generate_series(1, 13);
     -- count(*) of an inheritance parent counts its child's rows.
     CREATE TABLE parent (id int); INSERT INTO parent SELECT generate_series(1, 5);
     CREATE TABLE child () INHERITS (parent); INSERT INTO child SELECT generate_series(1, 17);
     CREATE TABLE part (id int) PARTITION BY RANGE (id);
     CREATE TABLE part_low PARTITION OF part FOR VALUES FROM (0) TO (100);
     CREATE TABLE part_high PARTITION OF part FOR VALUES FROM (100) TO (1000);
     INSERT INTO part SELECT generate_series(1, 300);
     -- A name with a line break, and one that is its first line.
     CREATE TABLE "line
break" (id int); INSERT INTO "line
break" SELECT generate_series(1, 19);
     CREATE TABLE line (id int); INSERT INTO line SELECT generate_series(1, 23);`,
  );
  archive = join(work, 'src.dump');
  await runTool(pg.pgBin, 'pg_dump', ['-Fc', `--file=${archive}`, 'src'], { connection: connectionFromUrl(pg.url('src')) });
});

afterAll(async () => {
  await pg?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

const connection = () => connectionFromUrl(pg.url());

/** Restores the archive into a new database with `jobs`, counting loaded tables; what was counted then, and every table's rows counted after. */
async function restoreCounting(database: string, jobs: number, counter = (c: ReturnType<typeof connection>) => new LoadedTableCounts(c, 'plain')) {
  await pg.createDatabase(database);
  const target = withDatabase(connection(), database);
  const counts = counter(target);
  await restoreArchiveFile(archive, jobs, pg.pgBin, connection(), database, options, counts.loaded);
  // Every table reported loaded is counted (finish alone would leave those still queued to the count after).
  await counts.idle();
  const early = await counts.finish();
  const all = await withClient(target, (client) => rowCounts(client, 'plain'));
  const merged = await withClient(target, (client) => rowCounts(client, 'plain', early.counted));
  return { early, all, merged };
}

test('each standalone table with a name of its own is counted once loaded; the others after the restore', async () => {
  const { early, all, merged } = await restoreCounting('restored', 2);
  expect(early.failure).toBeUndefined();
  expect(early.counted).toEqual({ 'public.plain': 3000, 'public."we""ird ü name "': 7, 'public.empty': 0 });
  expect(all).toEqual({
    'public.plain': 3000,
    'public."we""ird ü name "': 7,
    'public.empty': 0,
    'public.shared': 11,
    'other.shared': 13,
    'public.parent': 22,
    'public.child': 17,
    'public.part_low': 99,
    'public.part_high': 201,
    'public."line\nbreak"': 19,
    'public.line': 23,
  });
  expect(merged).toEqual(all);
});

test('the count after the restore takes the tables counted during it as they were counted', async () => {
  await pg.createDatabase('taken');
  await pg.sql('taken', 'CREATE TABLE t (id int); CREATE TABLE u (id int); INSERT INTO u VALUES (1)');
  // A value no count would give: proof that t was not counted again.
  const counts = await withClient(withDatabase(connection(), 'taken'), (client) => rowCounts(client, 'plain', { 'public.t': 42, 'public.gone': 5 }));
  expect(counts).toEqual({ 'public.t': 42, 'public.u': 1 });
});

test('one job: pg_restore runs without --verbose and nothing is counted during it', async () => {
  const { early, all, merged } = await restoreCounting('serial', 1);
  expect(early).toEqual({ counted: {}, locked: 0 });
  expect(merged).toEqual(all);
});

test('a counting session that cannot connect stops the early counts; the restore and the count after it are whole', async () => {
  const { early, all, merged } = await restoreCounting('unreachable', 2, (c) => new LoadedTableCounts(withDatabase(c, 'no_such_database'), 'plain'));
  expect(early.counted).toEqual({});
  expect(early.failure).toMatch(/no_such_database/);
  expect(merged).toEqual(all);
  expect(all['public.plain']).toBe(3000);
});

test('finish after pg_restore exited: the counts still queued are left to the count after the restore', async () => {
  await pg.createDatabase('queued');
  await pg.sql('queued', 'CREATE TABLE first (id int); INSERT INTO first VALUES (1); CREATE TABLE second (id int); INSERT INTO second VALUES (1), (2)');
  const counts = new LoadedTableCounts(withDatabase(connection(), 'queued'), 'plain');
  counts.loaded('first');
  await counts.idle();
  // Queued, not started when finish is called: left to the count after the restore.
  counts.loaded('second');
  const early = await counts.finish();
  expect(early.counted).toEqual({ 'public.first': 1 });
  expect(early.failure).toBeUndefined();
  const all = await withClient(withDatabase(connection(), 'queued'), (client) => rowCounts(client, 'plain', early.counted));
  expect(all).toEqual({ 'public.first': 1, 'public.second': 2 });
});

/**
 * Runs `fn` against the new database `database` (made by `setup`) while a second session holds
 * what `hold` takes, in a transaction rolled back at the end (or by `fn`, through `release`).
 */
async function whileHeld(database: string, setup: string, hold: string, fn: (target: ConnectionInfo, release: () => Promise<unknown>) => Promise<void>) {
  await pg.createDatabase(database);
  await pg.sql(database, setup);
  const holder = await pg.client(database);
  try {
    await holder.query(`BEGIN; ${hold}`);
    await fn(withDatabase(connection(), database), () => holder.query('ROLLBACK'));
  } finally {
    await holder.query('ROLLBACK').catch(() => undefined);
    await holder.end();
  }
}

test('a table whose lock pg_restore holds is left to the count after the restore, and the queue goes on at once', async () => {
  const setup = 'CREATE TABLE t (id int); INSERT INTO t VALUES (1), (2); CREATE TABLE u (id int); INSERT INTO u VALUES (1), (2), (3)';
  // What pg_restore's ALTER TABLE ... ADD PRIMARY KEY holds while it builds the index.
  await whileHeld('held', setup, 'LOCK TABLE t IN ACCESS EXCLUSIVE MODE', async (target, release) => {
    const counts = new LoadedTableCounts(target, 'plain');
    counts.loaded('t');
    counts.loaded('u');
    // Settles while the holder still holds t: the count of t did not wait for it.
    await counts.idle();
    const early = await counts.finish();
    expect(early).toEqual({ counted: { 'public.u': 3 }, locked: 1 });
    await release();
    const all = await withClient(target, (client) => rowCounts(client, 'plain', early.counted));
    expect(all).toEqual({ 'public.t': 2, 'public.u': 3 });
  });
});

test('stop cancels the count that runs and closes the session', async () => {
  // REINDEX holds ShareLock on t (the count's NOWAIT lock is granted) and AccessExclusiveLock on
  // t's index, which planning the count opens: the count runs and waits.
  await whileHeld('locked', 'CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1), (2)', 'REINDEX INDEX t_pkey', async (target) => {
    const counts = new LoadedTableCounts(target, 'server');
    counts.loaded('t');
    // Waits for the count's session to queue behind the lock (an event on the server, no sleep).
    await pg.sql(
      'locked',
      `DO $$ BEGIN
        WHILE NOT EXISTS (SELECT 1 FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 't_pkey' AND NOT l.granted) LOOP
          PERFORM pg_stat_clear_snapshot(); PERFORM pg_sleep(0.01);
        END LOOP; END $$`,
    );
    await counts.stop();
    const early = await counts.finish();
    expect(early.counted).toEqual({});
    expect(early.failure).toMatch(/cancel/i);
  });
});

test("a failed parallel restore's error names pg_restore's errors, not its progress lines", async () => {
  const { all } = await restoreCounting('twice', 2);
  const counts = new LoadedTableCounts(withDatabase(connection(), 'twice'), 'plain');
  const failed = await restoreArchiveFile(archive, 2, pg.pgBin, connection(), 'twice', options, counts.loaded).then(
    () => undefined,
    (err: unknown) => err,
  );
  await counts.close();
  expect(failed).toBeInstanceOf(ToolError);
  const message = (failed as ToolError).message;
  expect(message).toMatch(/already exists/);
  expect(message).not.toMatch(/launching item|finished item|processing item|entering main parallel loop/);
  expect(all['public.plain']).toBe(3000);
});
