/**
 * How the dump's row counts run on the source (catalog.ts `snapshotCounts`), and the restore
 * test's counts of its scratch database (`rowCounts(client, 'plain')`): one process per count
 * and no JIT, even on a server whose settings would give every count parallel workers and JIT;
 * `rowCounts(client)` (the failover restore, on its own instance) keeps the server's choice.
 * The plans are read from the server's log (auto_explain with ANALYZE: workers launched, JIT).
 */
import { PgCluster } from '../../local/pg-cluster';
import { serverLogSince, serverLogSize } from '../support/server-log';
import { connectClient } from '../../lambda/shared/pg-client';
import { connectionFromUrl } from '../../lambda/shared/connection';
import { rowCounts, snapshotCounts } from '../../lambda/shared/catalog';

let pg: PgCluster;

beforeAll(async () => {
  pg = await PgCluster.start({
    settings: {
      shared_preload_libraries: 'auto_explain',
      'auto_explain.log_min_duration': 0,
      'auto_explain.log_analyze': 'on',
      // Parallel workers and JIT for any query, however small.
      parallel_setup_cost: 0,
      parallel_tuple_cost: 0,
      min_parallel_table_scan_size: 0,
      min_parallel_index_scan_size: 0,
      jit: 'on',
      jit_above_cost: 0,
      jit_inline_above_cost: 1e12,
      jit_optimize_above_cost: 1e12,
    },
  });
  await pg.createDatabase('plans');
  await pg.sql('plans', `CREATE TABLE "Tübingen ""rows""" (id int); INSERT INTO "Tübingen ""rows""" SELECT generate_series(1, 5000);
    CREATE TABLE accounts (id int PRIMARY KEY, v text); INSERT INTO accounts SELECT i, md5(i::text) FROM generate_series(1, 20000) i; ANALYZE`);
});

afterAll(async () => {
  await pg?.stop();
});

/** The plans auto_explain logged after `from` (a byte offset into server.log), each with its query text. */
function loggedPlans(from: number): string[] {
  const log = serverLogSince(pg, from);
  return log.split(/^.*LOG:\s+duration: .* plan:$/m).slice(1);
}

const logSize = () => serverLogSize(pg);

test('the counts run without parallel workers and without JIT where the server would use both', async () => {
  const connection = connectionFromUrl(pg.url('plans'));
  const [{ jit }] = await pg.sql<{ jit: boolean }>('plans', 'SELECT pg_jit_available() AS jit');

  // The server's own choice for the same count: parallel workers (and JIT when the server has it).
  let from = logSize();
  await pg.sql('plans', 'SELECT count(*) FROM accounts');
  const control = loggedPlans(from).find((p) => p.includes('count(*) FROM accounts'));
  expect(control).toMatch(/Workers Launched: [1-9]/);
  if (jit) expect(control).toMatch(/JIT:/);

  const exporter = await connectClient(connection);
  const counter = await connectClient(connection);
  try {
    await exporter.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const snapshot = (await exporter.query<{ id: string }>('SELECT pg_export_snapshot() AS id')).rows[0].id;
    from = logSize();
    const { rows } = await snapshotCounts(counter, snapshot);
    expect(rows).toEqual({ 'public."Tübingen ""rows"""': 5000, 'public.accounts': 20000 });
    const counting = loggedPlans(from).filter((p) => p.includes('count(*) AS n FROM'));
    expect(counting).toHaveLength(1);
    expect(counting[0]).toMatch(/Aggregate/);
    expect(counting[0]).not.toMatch(/Gather|Workers|Parallel/);
    expect(counting[0]).not.toMatch(/JIT:/);
    // SET LOCAL: the counting session itself keeps the server's settings.
    const settings = await counter.query<{ w: string; jit: string }>(`SELECT current_setting('max_parallel_workers_per_gather') AS w, current_setting('jit') AS jit`);
    expect(settings.rows[0]).toEqual({ w: '2', jit: 'on' });
  } finally {
    await exporter.query('ROLLBACK').catch(() => undefined);
    await Promise.allSettled([exporter.end(), counter.end()]);
  }
});

test("the restore test's counts run plainly too; the failover restore's keep the server's choice", async () => {
  const client = await connectClient(connectionFromUrl(pg.url('plans')));
  const expected = { 'public."Tübingen ""rows"""': 5000, 'public.accounts': 20000 };
  try {
    let from = logSize();
    expect(await rowCounts(client, 'plain')).toEqual(expected);
    const plain = loggedPlans(from).filter((p) => p.includes('count(*) AS n FROM'));
    expect(plain).toHaveLength(1);
    expect(plain[0]).toMatch(/Aggregate/);
    expect(plain[0]).not.toMatch(/Gather|Workers|Parallel/);
    expect(plain[0]).not.toMatch(/JIT:/);
    // SET LOCAL in a committed transaction: nothing is left on the session (it runs the smoke queries next).
    const after = await client.query<{ w: string; jit: string; idle: boolean }>(
      `SELECT current_setting('max_parallel_workers_per_gather') AS w, current_setting('jit') AS jit, now() = statement_timestamp() AS idle`,
    );
    expect(after.rows[0]).toEqual({ w: '2', jit: 'on', idle: true });

    from = logSize();
    expect(await rowCounts(client)).toEqual(expected);
    const server = loggedPlans(from).filter((p) => p.includes('count(*) AS n FROM'));
    expect(server).toHaveLength(1);
    expect(server[0]).toMatch(/Workers Launched: [1-9]/);
  } finally {
    await client.end();
  }
});
