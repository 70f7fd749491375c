/**
 * The scratch database lifecycle: only what pgdr provably created (exact name AND pgdr's marker)
 * is ever dropped, and a scratch database whose run is gone (its owner session, which holds an
 * advisory lock for the whole restore test, ended) is dropped by the very next run, which says so
 * in its log and record. A run in progress is never disturbed.
 */
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { constants } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PgCluster } from '../../local/pg-cluster';
import { startTestS3, TestS3 } from '../support/s3-server';
import { RICH_SCHEMA } from '../support/fixtures';
import { harness, scratchDatabases } from '../support/harness';
import { fakeBin, FakeBin } from '../support/fake-bin';
import { fifoLines, FifoLines } from '../support/fifo';
import { connectionFromUrl } from '../../lambda/shared/connection';
import { ownerLockKeys, scratchDatabaseName, scratchMarker, ScratchOwner } from '../../lambda/verify/scratch';
import type { VerificationRecord } from '../../lambda/shared/records';

let pg: PgCluster;
let s3: TestS3;

beforeAll(async () => {
  [pg, s3] = await Promise.all([PgCluster.start(), startTestS3()]);
  await pg.createDatabase('shop');
  await pg.sql('shop', RICH_SCHEMA);
});

afterAll(async () => {
  await Promise.allSettled([s3?.stop(), pg?.stop()]);
});

const dropLogged = (h: ReturnType<typeof harness>) =>
  h.log.entries.filter((e) => e.message.startsWith('dropped a scratch database')).map((e) => e.attributes!.scratchDatabase);

test("a person's pgdr_verify_* databases and forged scratch names without pgdr's marker are never dropped", async () => {
  const h = harness(pg, s3, 'people', 'shop');
  const manual = 'pgdr_verify_shop_manual_copy';
  const forged = 'pgdr_verify_shop_1600000000_abcdef'; // exact pattern, old, no marker
  const wrongMarker = 'pgdr_verify_shop_1600000001_abcdef'; // exact pattern, the marker of another name
  const people = [manual, forged, wrongMarker];
  for (const name of people) await pg.createDatabase(name);
  await pg.sql('postgres', `COMMENT ON DATABASE ${wrongMarker} IS '${scratchMarker(forged)}'`);
  try {
    await h.dump();
    const record = await h.verify({ restoreTest: true });
    expect(record.ok).toBe(true);
    expect(await scratchDatabases(pg)).toEqual(people.sort());
    expect(record.restoreTest!.leftovers).toEqual({ dropped: [], inUse: [], unmarked: [forged, wrongMarker] });
    expect(dropLogged(h)).toEqual([]);
    expect(h.log.entries.filter((e) => e.message.includes('has no pgdr marker')).map((e) => e.attributes!.database)).toEqual([forged, wrongMarker]);
  } finally {
    for (const name of people) await pg.sql('postgres', `DROP DATABASE IF EXISTS "${name}"`);
  }
});

test('a run in progress whose owner session is in another database is left alone (advisory locks are per database)', async () => {
  // Two pgdr databases on one server: each verify connects to its own source database.
  await pg.createDatabase('crm');
  const owner = await ScratchOwner.open(connectionFromUrl(pg.url('shop')), scratchDatabaseName('shop', new Date()));
  try {
    await owner.create(undefined);
    const h = harness(pg, s3, 'crm', 'crm');
    await h.dump();
    const record = await h.verify({ restoreTest: true });
    expect(record.ok).toBe(true);
    expect(record.restoreTest!.leftovers).toEqual({ dropped: [], inUse: [owner.name], unmarked: [] });
    expect(await scratchDatabases(pg)).toEqual([owner.name]);
    expect(h.log.entries.some((e) => e.message.startsWith('the scratch database owner session ended'))).toBe(false);
  } finally {
    expect(await owner.dropAndClose()).toBe(true);
  }
  expect(await scratchDatabases(pg)).toEqual([]);
});

describe('a run whose owner session ends mid-restore', () => {
  let dir: string;
  let bin: FakeBin;
  let startedLines: FifoLines;
  const started = () => join(dir, 'started');
  const go = () => join(dir, 'go');
  const wrapperPid = () => join(dir, 'pg_restore.pid');

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'pgdr-scratch-'));
    execFileSync('mkfifo', [started(), go()]);
    startedLines = fifoLines(started());
    // pg_restore that says it started and waits to be let go (through FIFOs: events, no timing).
    // It holds `go` open (read-write: never blocks) before it says so, so `letGo` never waits.
    bin = fakeBin({
      pg_restore: `if [ "$1" = "--list" ]; then exec "$REAL" "$@"; fi\necho $$ > ${JSON.stringify(wrapperPid())}\nexec 3<> ${JSON.stringify(go())}\necho started > ${JSON.stringify(started())}\nread line <&3\nexec 3<&-\nexec "$REAL" "$@"`,
    });
  });

  /** Lets the waiting pg_restore go: it holds `go` open, so the line waits there for it (opened read-write: never blocks). */
  const letGo = async () => {
    const handle = await open(go(), constants.O_RDWR | constants.O_NONBLOCK);
    try {
      await handle.write('go\n');
    } finally {
      await handle.close();
    }
  };
  const failuresOf = (run: Promise<VerificationRecord>) => run.then((record) => `the verify run ended before its pg_restore started: ${JSON.stringify(record.failures)}`);

  afterAll(async () => {
    // A wrapper still waiting to be let go (a test failed midway) goes on and fails.
    await letGo().catch(() => undefined);
    startedLines?.close();
    bin?.remove();
    rmSync(dir, { recursive: true, force: true });
  });

  test('is left alone while it runs, then dropped by the very next run, which says so', async () => {
    const first = harness(pg, s3, 'killed', 'shop');
    await first.dump();
    const running = first.verify({ restoreTest: true }, { pgBin: bin.dir });
    running.catch(() => undefined);
    await startedLines.next(failuresOf(running)); // the first run is restoring now: its scratch database exists
    const [scratch] = (await scratchDatabases(pg)).filter((d) => d.startsWith('pgdr_verify_killed_'));
    expect(scratch).toMatch(/^pgdr_verify_killed_\d{10}_[0-9a-f]{6}$/);
    const [k1, k2] = ownerLockKeys(scratch);
    const owners = await pg.sql<{ pid: number }>('postgres', `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid = $1 AND objid = $2 AND objsubid = 2 AND granted`, [k1, k2]);
    expect(owners).toHaveLength(1);

    // A concurrent run on the same server does not touch a scratch database whose owner is alive.
    const concurrent = harness(pg, s3, 'killed', 'shop');
    const whileRunning = await concurrent.verify({ restoreTest: true });
    expect(whileRunning.ok).toBe(true);
    expect(whileRunning.restoreTest!.leftovers).toEqual({ dropped: [], inUse: [scratch], unmarked: [] });
    expect(await scratchDatabases(pg)).toContain(scratch);

    // The owner session goes away (as when the run's process is killed): waits until it has ended.
    expect((await pg.sql<{ done: boolean }>('postgres', 'SELECT pg_terminate_backend($1, 60000) AS done', [owners[0].pid]))[0].done).toBe(true);

    const next = harness(pg, s3, 'killed', 'shop');
    const record = await next.verify({ restoreTest: true });
    expect(record.ok).toBe(true);
    expect(record.restoreTest!.leftovers).toEqual({ dropped: [scratch], inUse: [], unmarked: [] });
    expect(dropLogged(next)).toEqual([scratch]);
    expect(next.log.entries.find((e) => e.message.startsWith('dropped a scratch database'))!.level).toBe('WARN');
    expect(await scratchDatabases(pg)).toEqual([]);

    // Let the first run go on: its database is gone, so it fails, and it says its session was lost.
    await letGo();
    const firstRecord = await running;
    expect(firstRecord.ok).toBe(false);
    expect(firstRecord.failures.join('\n')).toMatch(/restore test failed: pg_restore exited with code 1: .*database "pgdr_verify_killed_\d+_[0-9a-f]+" does not exist/);
    expect(first.log.entries.some((e) => e.message.startsWith('the scratch database owner session ended'))).toBe(true);
    expect(await scratchDatabases(pg)).toEqual([]);
  });
  test('a verify process killed mid-restore (SIGKILL): the next run drops its scratch database at once and says so', async () => {
    const h = harness(pg, s3, 'sigkill', 'shop');
    await h.dump();
    const settings = { endpoint: s3.endpoint, bucket: s3.bucket, url: pg.url('shop'), pgBin: bin.dir, database: 'sigkill' };
    const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, '..', 'support', 'verify-child.ts')], {
      env: { ...process.env, PGDR_VERIFY_CHILD: JSON.stringify(settings) },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let childStderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (childStderr += chunk.toString()));
    const exited = once(child, 'exit');
    let restorePid: number | undefined;
    try {
      // The child is restoring once its pg_restore says so (or it failed before: say why).
      await startedLines.next(exited.then(() => `the verify child exited before restoring: ${childStderr}`));
      restorePid = Number(readFileSync(wrapperPid(), 'utf8'));
      const [scratch] = (await scratchDatabases(pg)).filter((d) => d.startsWith('pgdr_verify_sigkill_'));
      expect(scratch).toBeDefined();
      child.kill('SIGKILL');
      await exited;
      process.kill(restorePid, 'SIGKILL'); // its pg_restore, still waiting on the FIFO
      restorePid = undefined;
      // Wait for the event, not for a while: the lock is free once the server has ended the dead session.
      const waiter = await pg.client('shop');
      try {
        await waiter.query('SELECT pg_advisory_lock($1, $2)', ownerLockKeys(scratch));
        await waiter.query('SELECT pg_advisory_unlock($1, $2)', ownerLockKeys(scratch));
      } finally {
        await waiter.end();
      }
      expect(await scratchDatabases(pg)).toContain(scratch);

      const record = await h.verify({ restoreTest: true });
      expect(record.ok).toBe(true);
      expect(record.restoreTest!.leftovers).toEqual({ dropped: [scratch], inUse: [], unmarked: [] });
      expect(dropLogged(h)).toEqual([scratch]);
      expect(await scratchDatabases(pg)).toEqual([]);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      if (restorePid) process.kill(restorePid, 'SIGKILL');
    }
  });
});

test('scratch names are exact: pgdr_verify_<db>_<epoch>_<6 hex>', () => {
  expect(scratchDatabaseName('my-shop', new Date('2026-01-02T03:04:05Z'))).toMatch(/^pgdr_verify_my_shop_1767323045_[0-9a-f]{6}$/);
});
