/**
 * Server-side timeouts, set the ways a DBA or a managed provider sets them (on the database, on
 * the role, server-wide through ALTER SYSTEM as a parameter group would), do not reach pgdr's
 * sessions: the snapshot session outlives idle_in_transaction_session_timeout, the counting
 * outlasts statement_timeout and lock_timeout, and the sessions of pgdr's own connections and of
 * the tools it runs have them off. No test waits for a time to pass on the client: each waits for
 * the server to report the state it needs.
 */
import type { Client } from 'pg';
import { PgCluster } from '../../local/pg-cluster';
import { startTestS3, TestS3 } from '../support/s3-server';
import { harness } from '../support/harness';
import { connectClient } from '../../lambda/shared/pg-client';
import { connectionFromUrl, libpqEnv, pgClientConfig } from '../../lambda/shared/connection';
import { keysFromDumpKey } from '../../lambda/shared/layout';
import { storeWithHook } from '../support/store-hooks';
import { TIMEOUTS } from '../../lambda/shared/session-settings';

let pg: PgCluster;
let s3: TestS3;

beforeAll(async () => {
  [pg, s3] = await Promise.all([PgCluster.start(), startTestS3()]);
});

afterAll(async () => {
  await Promise.allSettled([s3?.stop(), pg?.stop()]);
});

type Way = 'database' | 'role' | 'server';
const WAYS: Way[] = ['database', 'role', 'server'];

/** A test session of its own, with every timeout off (the settings under test must not cut the test itself). */
async function adminClient(database: string): Promise<Client> {
  const client = await pg.client(database);
  await client.query(`SET statement_timeout = 0; SET lock_timeout = 0; SET idle_in_transaction_session_timeout = 0; SET idle_session_timeout = 0`);
  return client;
}

/** What a new plain (non-pgdr) session on `database` sees for `name`. */
async function seenByNewSession(database: string, name: string): Promise<string> {
  const client = await pg.client(database);
  try {
    return (await client.query<Record<string, string>>(`SHOW ${name}`)).rows[0][name];
  } finally {
    await client.end();
  }
}

/** Sets `settings` for new sessions on `database` the given way; returns how to undo it. */
async function setTimeouts(way: Way, database: string, settings: Record<string, string>): Promise<() => Promise<void>> {
  const admin = await adminClient('postgres');
  const target = way === 'database' ? `DATABASE "${database}"` : 'ROLE postgres';
  try {
    for (const [name, value] of Object.entries(settings)) {
      await admin.query(way === 'server' ? `ALTER SYSTEM SET ${name} = '${value}'` : `ALTER ${target} SET ${name} = '${value}'`);
    }
    if (way === 'server') await admin.query('SELECT pg_reload_conf()');
  } finally {
    await admin.end();
  }
  // The reload reaches the postmaster asynchronously: wait until a new session has every setting.
  const [name, value] = Object.entries(settings)[0];
  const expected = await normalised(database, name, value);
  while ((await seenByNewSession(database, name)) !== expected);
  return async () => {
    const undo = await adminClient('postgres');
    try {
      await undo.query(way === 'server' ? 'ALTER SYSTEM RESET ALL' : `ALTER ${target} RESET ALL`);
      if (way === 'server') await undo.query('SELECT pg_reload_conf()');
    } finally {
      await undo.end();
    }
    while ((await seenByNewSession(database, name)) !== '0');
  };
}

/** How SHOW prints `value` for `name` (e.g. '1000ms' as '1s'). */
async function normalised(database: string, name: string, value: string): Promise<string> {
  const client = await adminClient(database);
  try {
    await client.query(`SET ${name} = '${value}'`);
    return (await client.query<Record<string, string>>(`SHOW ${name}`)).rows[0][name];
  } finally {
    await client.end();
  }
}

const SNAPSHOT_SESSION = (database: string) =>
  `SELECT pid FROM pg_stat_activity WHERE datname = '${database}' AND application_name = 'pgdr' AND state = 'idle in transaction'`;

test.each(WAYS)('every session pgdr opens has the server timeouts off when they are set on the %s, with nothing in the startup packet a pooler refuses', async (way) => {
  const database = await pg.createDatabase(`shown_${way}`);
  const names = TIMEOUTS.filter((n) => n !== 'transaction_timeout'); // transaction_timeout: PostgreSQL 17+
  const settings = Object.fromEntries(names.map((name) => [name, '7min']));
  const undo = await setTimeouts(way, database, settings);
  try {
    // The setting is in force for other sessions...
    expect(await seenByNewSession(database, 'statement_timeout')).toBe('7min');
    const connection = connectionFromUrl(pg.url(database));
    // ...but not in pgdr's node-postgres sessions (dump, counting, verify's admin and scratch sessions)...
    const client = await connectClient(connection);
    try {
      for (const name of names) expect([name, (await client.query<Record<string, string>>(`SHOW ${name}`)).rows[0][name]]).toEqual([name, '0']);
    } finally {
      await client.end();
    }
    // Nothing of it travels in the startup packet (PgBouncer and the managed poolers refuse
    // `options` naming these settings): neither the node client's nor the tools' (pg_dump and
    // pg_restore turn the timeouts off in their own sessions).
    expect(pgClientConfig(connection, false).options).toBeUndefined();
    expect(Object.keys(libpqEnv(connection))).not.toContain('PGOPTIONS');
  } finally {
    await undo();
  }
});

test('statement_timeout = 1ms on the database: every one of 200 sessions pgdr opens has its timeouts off and answers (a cancel of the setup that arrives between statements costs a new session)', async () => {
  const database = await pg.createDatabase('one_ms');
  // Not through setTimeouts: its check of the setting would itself run under the 1 ms timeout.
  // ALTER DATABASE reaches every new session without a reload.
  await pg.sql('postgres', `ALTER DATABASE ${database} SET statement_timeout = '1ms'`);
  try {
    const connection = connectionFromUrl(pg.url(database));
    const session = async (): Promise<string> => {
      const client = await connectClient(connection);
      try {
        // Two statements: a session that received a stray cancel would fail the second one.
        const seen = (await client.query<{ statement_timeout: string }>('SHOW statement_timeout')).rows[0].statement_timeout;
        return `${seen} ${(await client.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_class WHERE relkind = $1', ['r'])).rows[0].n > 0}`;
      } finally {
        await client.end();
      }
    };
    const outcomes: string[] = [];
    for (let i = 0; i < 50; i++) {
      // Four at a time, as the dump job's sessions run side by side; every outcome is kept, failures as text.
      outcomes.push(...(await Promise.all(Array.from({ length: 4 }, () => session().catch((err: Error) => err.message)))));
    }
    expect(outcomes.filter((o) => o !== '0 true')).toEqual([]);
    expect(outcomes).toHaveLength(200);
  } finally {
    await pg.sql('postgres', `ALTER DATABASE ${database} RESET statement_timeout`);
  }
});

test.each(WAYS)('idle_in_transaction_session_timeout (1 s) set on the %s: the snapshot session outlives it; the backup succeeds and restores', async (way) => {
  const database = await pg.createDatabase(`idle_${way}`);
  await pg.sql(database, 'CREATE TABLE items (id int PRIMARY KEY, name text); INSERT INTO items SELECT i, md5(i::text) FROM generate_series(1, 1000) i');
  const undo = await setTimeouts(way, database, { idle_in_transaction_session_timeout: '1s' });
  const watcher = await adminClient(database);
  let idleFor: string | undefined;
  try {
    const h = harness(pg, s3, `idle-${way}`, database);
    // Before the object completes, wait until the snapshot session has been idle in its
    // transaction for twice the timeout, by the server's clock, or is gone.
    const hook = async () => {
      await watcher.query(`DO $$ BEGIN
        WHILE EXISTS (${SNAPSHOT_SESSION(database)} AND clock_timestamp() - state_change < interval '2 s') LOOP
          PERFORM pg_stat_clear_snapshot(); PERFORM pg_sleep(0.05);
        END LOOP; END $$`);
      idleFor = (await watcher.query<{ idle: string }>(`SELECT (clock_timestamp() - state_change)::text AS idle FROM pg_stat_activity WHERE pid IN (${SNAPSHOT_SESSION(database)})`)).rows[0]?.idle;
    };
    const manifest = await h.dump({ store: storeWithHook(h.store(), hook) });
    expect(idleFor).toBeDefined(); // the session was still there, idle in transaction for more than 2 s
    expect(manifest.rowCounts).toEqual({ 'public.items': 1000 });
    expect(await s3.keys(`idle-${way}/`)).toEqual(expect.arrayContaining([manifest.dump.key, keysFromDumpKey(manifest.dump.key).manifest]));
    const record = await h.verify();
    expect(record.failures).toEqual([]);
  } finally {
    await watcher.end();
    await undo();
  }
});

test.each(WAYS)('statement_timeout and lock_timeout (1 s) set on the %s: counting waits behind a lock for longer; the backup succeeds', async (way) => {
  const database = await pg.createDatabase(`slow_${way}`);
  await pg.sql(database, 'CREATE TABLE waiting (id int PRIMARY KEY); INSERT INTO waiting SELECT generate_series(1, 500)');
  const undo = await setTimeouts(way, database, { statement_timeout: '1s', lock_timeout: '1s' });
  const holder = await adminClient(database);
  await holder.query('BEGIN; LOCK TABLE waiting IN ACCESS EXCLUSIVE MODE');
  let held = true;
  try {
    const h = harness(pg, s3, `slow-${way}`, database);
    const dumping = h.dump();
    dumping.catch(() => undefined);
    // Wait until the count has been waiting for the lock for twice the timeouts, by the server's
    // clock, or stopped waiting (cancelled by a timeout: the defect).
    await holder.query(`DO $$ DECLARE counting int; BEGIN
        LOOP
          PERFORM pg_stat_clear_snapshot();
          SELECT pid INTO counting FROM pg_stat_activity WHERE datname = '${database}' AND application_name = 'pgdr' AND wait_event_type = 'Lock' AND query LIKE '%count(*)%';
          EXIT WHEN counting IS NOT NULL;
          PERFORM pg_sleep(0.02);
        END LOOP;
        WHILE EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = counting AND wait_event_type = 'Lock' AND clock_timestamp() - query_start < interval '2 s') LOOP
          PERFORM pg_stat_clear_snapshot(); PERFORM pg_sleep(0.05);
        END LOOP;
      END $$`);
    const waiting = await holder.query(`SELECT pid FROM pg_stat_activity WHERE datname = '${database}' AND application_name = 'pgdr'
      AND wait_event_type = 'Lock' AND query LIKE '%count(*)%' AND clock_timestamp() - query_start >= interval '2 s'`);
    expect(waiting.rowCount).toBe(1); // still waiting, twice as long as the timeouts allow
    await holder.query('ROLLBACK');
    held = false;
    const manifest = await dumping;
    expect(manifest.rowCounts).toEqual({ 'public.waiting': 500 });
  } finally {
    if (held) await holder.query('ROLLBACK').catch(() => undefined);
    await holder.end();
    await undo();
  }
});

test('the snapshot session cut after pg_dump and the counts are done: the backup stands, with its manifest', async () => {
  const database = await pg.createDatabase('cut');
  await pg.sql(database, 'CREATE TABLE items (id int PRIMARY KEY); INSERT INTO items SELECT generate_series(1, 300)');
  const killer = await adminClient(database);
  let terminated = 0;
  try {
    const h = harness(pg, s3, 'cut', database);
    const hook = async () => {
      // pg_dump's own backend (application_name pgdr too, idle in its transaction) may still be
      // ending just after pg_dump exited (zstd, fed by pg_dump directly, finishes at once): wait
      // until only the snapshot session is left.
      await killer.query(`DO $$ BEGIN
        WHILE (SELECT count(*) FROM (${SNAPSHOT_SESSION(database)}) s) > 1 AND clock_timestamp() - now() < interval '10 s' LOOP
          PERFORM pg_stat_clear_snapshot(); PERFORM pg_sleep(0.02);
        END LOOP; END $$`);
      // What a watchdog for idle transactions, or the server's own timeout, does.
      terminated = (await killer.query(`SELECT pg_terminate_backend(pid, 10000) FROM (${SNAPSHOT_SESSION(database)}) s`)).rowCount ?? 0;
    };
    const manifest = await h.dump({ store: storeWithHook(h.store(), hook) });
    expect(terminated).toBe(1);
    expect(manifest.rowCounts).toEqual({ 'public.items': 300 });
    const keys = keysFromDumpKey(manifest.dump.key);
    expect(await s3.keys('cut/')).toEqual([keys.dump, keys.globals, keys.manifest].sort());
    expect(h.emf.values('BackupSucceeded')).toEqual([1]);
  } finally {
    await killer.end();
  }
});

test('the verify job\'s smoke queries keep their own statement timeout', async () => {
  const database = await pg.createDatabase('smoke');
  await pg.sql(database, 'CREATE TABLE items (id int PRIMARY KEY); INSERT INTO items VALUES (1)');
  const h = harness(pg, s3, 'smoke', database, { restoreTestEveryNth: 1, smokeQueries: [{ name: 'slow', sql: 'SELECT pg_sleep(60)', minRows: 1 }] });
  await h.dump();
  const record = await h.verify({}, { smokeQueryTimeoutSeconds: 1 });
  expect(record.failures).toEqual(['smoke query "slow" failed: canceling statement due to statement timeout']);
});
