/**
 * The restore test's two ways of reading the dump (shared/restore-mode.ts), against real
 * PostgreSQL and the local S3 server: `file` (one download into the work directory serves the
 * integrity check and `pg_restore --jobs 2`) when the directory has room, `stream` (one
 * pg_restore on stdin) otherwise, and the record says which ran and why. pg_restore is the real
 * one behind a wrapper that logs its arguments.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { PgCluster } from '../../local/pg-cluster';
import { startTestS3, TestS3 } from '../support/s3-server';
import { bulkSchema } from '../support/fixtures';
import { harness, scratchDatabases } from '../support/harness';
import { fakeBin, FakeBin } from '../support/fake-bin';
import type { ObjectStore } from '../../lambda/shared/ports';
import type { BackupManifest } from '../../lambda/shared/records';
import { writeDataOffsets } from '../../lambda/shared/archive-offsets';
import { connectionFromUrl } from '../../lambda/shared/connection';
import { serialIndexBuilds } from '../../lambda/verify/setup';
import { chooseRestoreMode, isThisMachine, localRestoreJobs, MEMORY_SHARE, memoryBackedDir, neededFileBytes, removeOrphans, restoreJobsFor } from '../../lambda/shared/restore-mode';

let pg: PgCluster;
let s3: TestS3;
let bin: FakeBin;
let work: string;
let argsLog: string;
let manifest: BackupManifest;
const h = () => harness(pg, s3, 'modes', 'shop');
const atData = () => join(work, 'at-data.dump');

beforeAll(async () => {
  [pg, s3] = await Promise.all([PgCluster.start(), startTestS3()]);
  await pg.createDatabase('shop');
  await pg.sql('shop', `${bulkSchema(6)}; CREATE TABLE small (id int PRIMARY KEY, note text); INSERT INTO small SELECT g, 'n' || g FROM generate_series(1, 500) g;`);
  work = mkdtempSync(join(tmpdir(), 'pgdr-verify-work-'));
  argsLog = join(work, 'pg_restore.args');
  // The data step's copy of the archive: what pg_restore --jobs read (its data offsets included).
  bin = fakeBin({ pg_restore: `echo "$*" >> ${JSON.stringify(argsLog)}\ncase "$*" in *--section=data*) for a; do last="$a"; done; cp "$last" ${JSON.stringify(atData())};; esac\nexec "$REAL" "$@"` });
  manifest = await h().dump({ compression: 'zstd-stream' });
});

afterAll(async () => {
  bin?.remove();
  if (work) rmSync(work, { recursive: true, force: true });
  await Promise.allSettled([s3?.stop(), pg?.stop()]);
});

/** A fresh work directory (inside `work`) and the pg_restore invocations of one run. */
function run() {
  const dir = mkdtempSync(join(work, 'dir-'));
  rmSync(argsLog, { force: true });
  return { dir, restores: () => readFileSync(argsLog, 'utf8').trim().split('\n').filter((l) => !l.startsWith('--list')) };
}

test('room in the work directory: one download, pg_restore --jobs 2 from the file, the record says so, the file is gone', async () => {
  const { dir, restores } = run();
  const record = await h().verify({ manifestKey: manifest.dump.key.replace(/\.dump$/, '.manifest.json'), restoreTest: true }, { pgBin: bin.dir, workDir: dir, jobs: 2 });
  expect(record.ok).toBe(true);
  expect(record.failures).toEqual([]);
  expect(record.integrity).toMatchObject({ actualBytes: manifest.dump.bytes, actualSha256: manifest.dump.sha256, archiveEntries: expect.any(Number) });
  expect(record.restoreTest).toMatchObject({ mode: 'file', jobs: 2, modeReason: expect.stringMatching(/^\d+ bytes free in the work directory, \d+ needed: pg_restore --jobs 2 from a file$/), rowCountMismatches: [] });
  expect(record.restoreTest!.downloadSeconds).toBeGreaterThanOrEqual(0);
  expect(record.restoreTest!.totalSeconds).toBeGreaterThanOrEqual(record.restoreTest!.downloadSeconds! + record.restoreTest!.restoreSeconds - 0.002);
  // The objects, then (the tables made unlogged: verify/unlogged.ts) the data and what is built on it.
  const file = `${dir}/pgdr-restore-p${process.pid}-[0-9a-f]{12}\\.dump$`;
  expect(restores()).toEqual([expect.stringMatching(new RegExp(`--section=pre-data --jobs=1 --dbname=pgdr_verify_modes_\\S+ ${file}`)), expect.stringMatching(new RegExp(`--section=data --section=post-data --verbose --jobs=2 --dbname=pgdr_verify_modes_\\S+ ${file}`))]);
  expect(record.restoreTest).toMatchObject({ unloggedTables: 2 });
  expect(readdirSync(dir)).toEqual([]);
  // Their scan ran beside the objects' restore; the data offsets were in the file when the data step read it.
  expect(await writeDataOffsets(atData())).toEqual({ patched: 0, blocks: expect.any(Number) });
  expect(((await writeDataOffsets(atData())) as { blocks: number }).blocks).toBeGreaterThan(1);
});

test('no room (free space below the archive + 10 %): one pg_restore on stdin, and the record says why', async () => {
  const { dir, restores } = run();
  const record = await h().verify({ restoreTest: true }, { pgBin: bin.dir, workDir: dir, jobs: 2, freeBytes: async () => 1000 });
  expect(record.ok).toBe(true);
  expect(record.restoreTest).toMatchObject({ mode: 'stream', jobs: 1, modeReason: `1000 bytes free in the work directory, ${neededFileBytes(manifest)} needed: streamed`, rowCountMismatches: [] });
  expect(record.restoreTest!.downloadSeconds).toBeUndefined();
  expect(restores()).toEqual([expect.stringMatching(/^--dbname=pgdr_verify_modes_\S+$/)]);
  expect(record.restoreTest).toMatchObject({ unloggedTables: 0, unloggedReason: expect.stringMatching(/^streamed/) });
  expect(readdirSync(dir)).toEqual([]);
});

test('the space needed is the archive zstd counted, plus 10 %', () => {
  expect(manifest.dump.uncompressedBytes).toBeGreaterThan(manifest.dump.bytes);
  expect(neededFileBytes(manifest)).toBe(Math.ceil(manifest.dump.uncompressedBytes! * 1.1));
});

test('no work directory, one job, or a work directory that cannot be read: streamed, each with its reason', async () => {
  await expect(chooseRestoreMode(manifest, {})).resolves.toEqual({ mode: 'stream', jobs: 1, modeReason: 'no work directory: streamed' });
  await expect(chooseRestoreMode(manifest, { workDir: work, jobs: 1 })).resolves.toEqual({ mode: 'stream', jobs: 1, modeReason: 'jobs 1: streamed (a file would not shorten the restore)' });
  await expect(chooseRestoreMode(manifest, { workDir: join(work, 'absent') })).resolves.toMatchObject({ mode: 'stream', modeReason: expect.stringMatching(/^the work directory .*absent cannot be used \(ENOENT.*\): streamed$/) });
  const { dir } = run();
  const record = await h().verify({ restoreTest: true }, { pgBin: bin.dir });
  expect(record.restoreTest).toMatchObject({ mode: 'stream', modeReason: 'no work directory: streamed' });
  expect(readdirSync(dir)).toEqual([]);
});

test('a download into the work directory that breaks halfway: the file is removed, the check and the restore stream instead, and say so', async () => {
  const { dir, restores } = run();
  const real = h().store();
  let calls = 0;
  // The first read of the dump (the file download) breaks after one chunk; later reads are whole.
  const breaking: ObjectStore = Object.assign(Object.create(real) as ObjectStore, {
    getStream: async (key: string) => {
      const body = await real.getStream(key);
      if (!body || !key.endsWith('.dump') || calls++ > 0) return body;
      return Readable.from(
        (async function* () {
          for await (const chunk of body) {
            yield chunk as Buffer;
            throw new Error('connection reset by peer');
          }
        })(),
      );
    },
  });
  const record = await h().verify({ restoreTest: true }, { store: breaking, pgBin: bin.dir, workDir: dir, jobs: 2 });
  expect(record.ok).toBe(true);
  expect(record.restoreTest).toMatchObject({ mode: 'stream', jobs: 1, modeReason: expect.stringMatching(/^downloading to the work directory failed \(.*connection reset by peer\): streamed$/) });
  expect(restores()).toEqual([expect.stringMatching(/^--dbname=/)]);
  expect(readdirSync(dir)).toEqual([]);
});

/** The store, with one byte of the dump's stored object flipped on every read. */
function flippingDump(real: ObjectStore): ObjectStore {
  return Object.assign(Object.create(real) as ObjectStore, {
    getStream: async (key: string) => {
      const body = await real.getStream(key);
      if (!body || !key.endsWith('.dump')) return body;
      const bytes = Buffer.concat(await body.toArray());
      bytes[bytes.length >> 1] ^= 0xff;
      return Readable.from([bytes]);
    },
  });
}

test('a damaged object in file mode: integrity fails, no restore runs, no file is left', async () => {
  const { dir, restores } = run();
  const record = await h().verify({ restoreTest: true }, { store: flippingDump(h().store()), pgBin: bin.dir, workDir: dir, jobs: 2 });
  expect(record.ok).toBe(false);
  expect(record.failures).toContain('restore test skipped: the integrity check failed');
  expect(record.failures.some((f) => /^SHA-256 is [0-9a-f]{64}, the manifest says/.test(f))).toBe(true);
  expect(record.restoreTest).toBeUndefined();
  expect(restores()).toEqual([]);
  expect(readdirSync(dir)).toEqual([]);
});

/** The store, with the dump's bytes held back until `ready` resolves (what the test checks meanwhile). */
function holdingDump(real: ObjectStore, ready: () => Promise<void>): ObjectStore {
  return Object.assign(Object.create(real) as ObjectStore, {
    getStream: async (key: string) => {
      const body = await real.getStream(key);
      if (!body || !key.endsWith('.dump')) return body;
      return Readable.from(
        (async function* () {
          await ready();
          yield* body;
        })(),
      );
    },
  });
}

test('the scratch database is made while the dump downloads (before its first byte arrives here); the restore test then uses it and drops it', async () => {
  const { dir } = run();
  let seen: string[] = [];
  // Hold the download until the scratch database exists on the server: without the early setup this never ends (jest's timeout fails the test).
  const store = holdingDump(h().store(), async () => {
    while ((seen = await scratchDatabases(pg)).length === 0);
  });
  const record = await h().verify({ restoreTest: true }, { store, pgBin: bin.dir, workDir: dir, jobs: 2 });
  expect(record.ok).toBe(true);
  expect(seen).toEqual([record.restoreTest!.scratchDatabase]);
  expect(record.restoreTest).toMatchObject({ mode: 'file', scratchDropped: true, rowCountMismatches: [] });
  expect(await scratchDatabases(pg)).toEqual([]);
});

test('the scratch database made during the download of a damaged dump is dropped with the restore test that does not run', async () => {
  const { dir } = run();
  let seen: string[] = [];
  const damaged = holdingDump(flippingDump(h().store()), async () => {
    while ((seen = await scratchDatabases(pg)).length === 0);
  });
  const record = await h().verify({ restoreTest: true }, { store: damaged, pgBin: bin.dir, workDir: dir, jobs: 2 });
  expect(record.ok).toBe(false);
  expect(record.failures).toContain('restore test skipped: the integrity check failed');
  expect(seen).toHaveLength(1);
  expect(await scratchDatabases(pg)).toEqual([]);
});

test('integrity only (no restore test): no file, no mode', async () => {
  const { dir } = run();
  const record = await h().verify({ restoreTest: false }, { pgBin: bin.dir, workDir: dir, jobs: 2 });
  expect(record).toMatchObject({ ok: true, level: 1 });
  expect(record.restoreTest).toBeUndefined();
  expect(readdirSync(dir)).toEqual([]);
});

test('pg_restore --jobs: one more than the cores for a server on this machine (ephemeral, loopback, Unix socket), the setting for a server elsewhere', () => {
  expect([1, 2, 4, 15, 64].map((cores) => localRestoreJobs(cores))).toEqual([2, 3, 5, 16, 16]);
  for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', 'LOCALHOST', 'db.localhost', '::1', '[::1]', '/var/run/postgresql', '/tmp']) expect([host, isThisMachine(host)]).toEqual([host, true]);
  for (const host of ['db.example.com', '10.0.0.5', '128.0.0.1', '127.0.0.1.example.com', 'localhost.example.com', '::2', 'mydb.abc.eu-west-1.rds.amazonaws.com', '']) expect([host, isThisMachine(host)]).toEqual([host, false]);
  const here = localRestoreJobs();
  expect(restoreJobsFor({ kind: 'ephemeral' })).toBe(here);
  expect(restoreJobsFor({ connection: { host: '127.0.0.1' } })).toBe(here);
  expect(restoreJobsFor({ connection: { host: 'db.example.com' } })).toBe(2);
  expect(restoreJobsFor({ connection: { host: 'db.example.com' } }, 4)).toBe(4);
});

test('index builds without parallel workers on the source server and on this machine; a verification server elsewhere keeps its setting', () => {
  const at = (host: string) => ({ ...connectionFromUrl('postgres://u@h/db'), host });
  expect(serialIndexBuilds({ kind: 'source', connection: at('db.example.com') })).toBe(true);
  expect(serialIndexBuilds({ kind: 'source', connection: at('127.0.0.1') })).toBe(true);
  expect(serialIndexBuilds({ kind: 'ephemeral', start: () => Promise.reject(new Error('not started')) })).toBe(true);
  expect(serialIndexBuilds({ kind: 'verify', connection: at('localhost') })).toBe(true);
  expect(serialIndexBuilds({ kind: 'verify', connection: at('/var/run/postgresql') })).toBe(true);
  expect(serialIndexBuilds({ kind: 'verify', connection: at('verify.abc.eu-west-1.rds.amazonaws.com') })).toBe(false);
});

describe('the archive in a memory-backed directory (memoryDir: pgdr verify --local, the local drill)', () => {
  const GiB = 1024 ** 3;

  test('preferred when the archive fits in it and in a quarter of the available memory: the download goes there, the work directory stays untouched, the record says so, nothing is left', async () => {
    const { dir, restores } = run();
    const memoryDir = mkdtempSync(join(work, 'memory-'));
    const record = await h().verify({ restoreTest: true }, { pgBin: bin.dir, workDir: dir, memoryDir, jobs: 2, availableMemory: () => 64 * GiB });
    expect(record.ok).toBe(true);
    expect(record.restoreTest).toMatchObject({ mode: 'file', jobs: 2, modeReason: expect.stringMatching(new RegExp(`^in memory: ${neededFileBytes(manifest)} bytes needed, \\d+ free in ${memoryDir} \\(tmpfs\\) and ${64 * GiB} bytes of memory available \\(at most a quarter is used\\): pg_restore --jobs 2 from a file there$`)), rowCountMismatches: [] });
    expect(restores()).toEqual([expect.stringMatching(/--section=pre-data --jobs=1 /), expect.stringMatching(new RegExp(`--section=data --section=post-data --verbose --jobs=2 --dbname=pgdr_verify_modes_\\S+ ${memoryDir}/pgdr-restore-p${process.pid}-[0-9a-f]{12}\\.dump$`))]);
    expect(readdirSync(memoryDir)).toEqual([]);
    expect(readdirSync(dir)).toEqual([]);
  });

  test('the work directory when the archive is more than a quarter of the available memory, or more than the memory directory holds; stream when neither has room', async () => {
    const needed = neededFileBytes(manifest);
    const memoryDir = mkdtempSync(join(work, 'memory-'));
    const short = Math.ceil(needed / MEMORY_SHARE) - 1;
    await expect(chooseRestoreMode(manifest, { workDir: work, memoryDir, availableMemory: () => short })).resolves.toMatchObject({ mode: 'file', dir: work, modeReason: expect.stringMatching(/bytes free in the work directory/) });
    await expect(chooseRestoreMode(manifest, { workDir: work, memoryDir, availableMemory: () => short + 1 })).resolves.toMatchObject({ mode: 'file', dir: memoryDir });
    const freeBytes = async (d: string) => (d === memoryDir ? needed - 1 : 10 * needed);
    await expect(chooseRestoreMode(manifest, { workDir: work, memoryDir, freeBytes, availableMemory: () => 64 * GiB })).resolves.toMatchObject({ mode: 'file', dir: work });
    await expect(chooseRestoreMode(manifest, { workDir: work, memoryDir, freeBytes: async () => 1000, availableMemory: () => 64 * GiB })).resolves.toMatchObject({ mode: 'stream', modeReason: `1000 bytes free in the work directory, ${needed} needed: streamed` });
    await expect(chooseRestoreMode(manifest, { workDir: work, memoryDir: join(work, 'absent'), availableMemory: () => 64 * GiB })).resolves.toMatchObject({ mode: 'file', dir: work });
  });

  test('what a run that died left there is removed by the next run (its pid is gone); a live run\'s file is never touched', async () => {
    const memoryDir = mkdtempSync(join(work, 'memory-'));
    const dead = spawnSync('true').pid!;
    const names = [`pgdr-restore-p${dead}-0123456789ab.dump`, `pgdr-restore-p${dead}-0123456789ac.dir`, `pgdr-restore-p${process.pid}-0123456789ad.dump`, 'pgdr-restore-0123456789ae.dump', 'someone-elses.dump'];
    for (const n of names) {
      if (n.endsWith('.dir')) mkdirSync(join(memoryDir, n));
      else writeFileSync(join(memoryDir, n), 'x');
    }
    expect((await removeOrphans(memoryDir)).sort()).toEqual(names.slice(0, 2).sort());
    expect(readdirSync(memoryDir).sort()).toEqual(names.slice(2).sort());
    await expect(removeOrphans(join(work, 'absent'))).resolves.toEqual([]);
    // A dead run's file that cannot be removed (another user's in a sticky /dev/shm; here made
    // immutable where the file system allows it): left in place, no error.
    const stuck = join(memoryDir, `pgdr-restore-p${dead}-0123456789af.dump`);
    writeFileSync(stuck, 'x');
    const immutable = spawnSync('chattr', ['+i', stuck]).status === 0;
    try {
      await expect(removeOrphans(memoryDir)).resolves.toEqual(immutable ? [] : [`pgdr-restore-p${dead}-0123456789af.dump`]);
    } finally {
      if (immutable) spawnSync('chattr', ['-i', stuck]);
    }
  });

  test('memoryBackedDir: a writable tmpfs only', async () => {
    await expect(memoryBackedDir([work, join(work, 'absent')])).resolves.toBeUndefined();
    const shm = spawnSync('stat', ['-f', '-c', '%T', '/dev/shm'], { encoding: 'utf8' });
    await expect(memoryBackedDir()).resolves.toBe(shm.status === 0 && shm.stdout.trim() === 'tmpfs' ? '/dev/shm' : undefined);
  });
});
