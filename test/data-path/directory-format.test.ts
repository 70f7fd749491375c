/**
 * pg_dump's directory format (issue 11, part 2), through the real dump, verify and restore cores,
 * real pg tools, real PostgreSQL and s3rver: the same schemas as the custom format round-trip
 * (dump -> verify with a restore test by `pg_restore --jobs 2` -> failover restore into another
 * cluster, counts equal); a file missing or damaged in the bucket fails verification naming the file,
 * leaves the latest-verified pointer where it was and the failover restore refuses it; a pg_dump
 * worker killed during the dump fails it with no manifest and no work directory left; no room in
 * the work directory fails the restore test with the reason.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, watch, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { PgCluster, PG_BIN } from '../../local/pg-cluster';
import { startTestS3, TestS3 } from '../support/s3-server';
import { bulkSchema, RICH_SCHEMA } from '../support/fixtures';
import { harness, Harness, LogCapture } from '../support/harness';
import { fakeBin, pidRecordingPgDump } from '../support/fake-bin';
import { connectionFromUrl } from '../../lambda/shared/connection';
import { keysFromDumpKey, keysFromManifestKey, latestVerifiedKey, manifestKeyOf } from '../../lambda/shared/layout';
import { S3ObjectStore } from '../../lambda/shared/s3-store';
import { systemClock, UploadOptions } from '../../lambda/shared/ports';
import { objectCounts, rowCounts } from '../../lambda/shared/catalog';
import { BackupManifest, DirectoryDump, directoryListingSha256, parseLatestVerified, parseManifest, RecordError } from '../../lambda/shared/records';
import { BackupKeyError, resolveVerifiedBackup, RestoreError, runRestore } from '../../lambda/restore/core';
import { DumpDeps, DumpError } from '../../lambda/dump/core';
import { dumpFormatFromEnv, EnvError } from '../../lambda/shared/env';
import { handler as dumpHandler } from '../../lambda/dump/handler';
import { handler as verifyHandler } from '../../lambda/verify/handler';
import type { VerificationRecord } from '../../lambda/shared/records';
import { captureStdout } from '../support/stdout';
import { ENV } from '../../container/contract';
import { LocalSecretsManager, startLocalSecretsManager, localAwsEnv } from '../support/secrets-server';

let pg: PgCluster;
let target: PgCluster;
let s3: TestS3;
let workRoot: string;

beforeAll(async () => {
  [pg, target, s3] = await Promise.all([PgCluster.start(), PgCluster.start(), startTestS3()]);
  workRoot = mkdtempSync(join(tmpdir(), 'pgdr-dirfmt-'));
  await pg.createDatabase('shop');
  await pg.sql('shop', RICH_SCHEMA);
  await pg.sql('shop', bulkSchema(3));
});

afterAll(async () => {
  await Promise.allSettled([s3?.stop(), pg?.stop(), target?.stop()]);
  if (workRoot) rmSync(workRoot, { recursive: true, force: true });
});

const store = () => new S3ObjectStore(s3.client, s3.bucket, { kmsKeyId: 'arn:aws:kms:eu-west-1:123456789012:key/test', partSize: 5 * 1024 * 1024 });
const workDir = () => mkdtempSync(join(workRoot, 'work-'));
const directory = (m: BackupManifest): DirectoryDump => {
  if (m.dump.format !== 'directory') throw new Error(`expected a directory dump, got ${m.dump.format}`);
  return m.dump;
};

/** A directory-format dump through the harness (jobs 2, its own work directory, which must be empty afterwards). */
async function dumpDirectory(h: Harness, dir = workDir(), overrides: Partial<DumpDeps> = {}): Promise<BackupManifest> {
  const manifest = await h.dump({ format: 'directory', jobs: 2, workDir: dir, ...overrides });
  expect(readdirSync(dir)).toEqual([]);
  return manifest;
}

async function getBytes(key: string): Promise<Buffer> {
  const out = await s3.client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: key }));
  return Buffer.from(await out.Body!.transformToByteArray());
}

async function pointerDumpKey(database: string): Promise<string | undefined> {
  const stored = await store().getText(latestVerifiedKey(database));
  return stored ? parseLatestVerified(stored.text, 'latest').dumpKey : undefined;
}

describe('manifest versions', () => {
  const v1 = { schemaVersion: 1, database: 'shop', backupClass: 'daily', startedAt: 'x', rowCounts: {}, objectCounts: {}, dump: { key: 'shop/a.dump', bytes: 1, sha256: 'ab', format: 'custom', compression: { method: 'none', level: 0 } } };
  const file = { name: 'toc.dat', key: 'shop/a.dir/toc.dat.zst', bytes: 1, sha256: 'ab' };
  const v2 = { ...v1, schemaVersion: 2, dump: { ...v1.dump, key: 'shop/a.dir/', format: 'directory', files: [file], jobs: 2 } };

  test('version 1 (custom) and 2 (custom or directory) are read; 3 is refused with a clear message', () => {
    expect(parseManifest(JSON.stringify(v1), 'k').dump.format).toBe('custom');
    expect(parseManifest(JSON.stringify({ ...v1, schemaVersion: 2 }), 'k').dump.format).toBe('custom');
    expect(parseManifest(JSON.stringify(v2), 'k').dump).toMatchObject({ format: 'directory', files: [file] });
    expect(() => parseManifest(JSON.stringify({ ...v2, schemaVersion: 3 }), 'k')).toThrow(new RecordError('manifest k has schemaVersion 3; this pgdr reads versions 1 and 2 (a newer pgdr wrote it: upgrade pgdr to read it)'));
  });

  test('a directory dump in a version 1 manifest, an unsafe file name or a file outside the prefix is refused', () => {
    expect(() => parseManifest(JSON.stringify({ ...v2, schemaVersion: 1 }), 'k')).toThrow(/dump.format "directory" in schemaVersion 1/);
    expect(() => parseManifest(JSON.stringify({ ...v2, dump: { ...v2.dump, files: [file, { ...file, name: '../x', key: 'shop/a.dir/x' }] } }), 'k')).toThrow(/dump.files\[1\].name must be a file name/);
    expect(() => parseManifest(JSON.stringify({ ...v2, dump: { ...v2.dump, files: [{ ...file, key: 'other/toc.dat' }] } }), 'k')).toThrow(/dump.files\[0\].key must be an object directly under shop\/a.dir\//);
    expect(() => parseManifest(JSON.stringify({ ...v2, dump: { ...v2.dump, files: [{ ...file, name: '1.dat' }] } }), 'k')).toThrow(/must include toc.dat/);
  });

  test('the listing SHA-256 is that of `sha256sum` lines sorted by name', () => {
    const files = [{ name: 'b.dat', sha256: '22' }, { name: 'a.dat', sha256: '11' }];
    // printf '11  a.dat\n22  b.dat\n' | sha256sum
    expect(directoryListingSha256(files)).toBe(createHash('sha256').update('11  a.dat\n22  b.dat\n').digest('hex'));
  });

  test('dump keys of both formats map to the manifest', () => {
    const keys = keysFromManifestKey('shop/daily/2026/11/26/shop_daily_2026-11-26T05-00-00-000Z.manifest.json');
    expect(keys.directory).toBe('shop/daily/2026/11/26/shop_daily_2026-11-26T05-00-00-000Z.dir/');
    expect(manifestKeyOf(keys.directory)).toBe(keys.manifest);
    expect(manifestKeyOf(keys.directory.slice(0, -1))).toBe(keys.manifest);
    expect(manifestKeyOf(keys.dump)).toBe(keys.manifest);
    expect(keysFromDumpKey(keys.directory)).toEqual(keys);
    expect(manifestKeyOf('shop/daily/x.sql')).toBeUndefined();
  });

  test('PGDR_DUMP_FORMAT and PGDR_DUMP_JOBS', () => {
    expect(dumpFormatFromEnv({})).toEqual({ format: 'custom' });
    // The names of the container contract (container/contract.ts ENV).
    expect(dumpFormatFromEnv({ [ENV.dumpFormat]: 'directory', [ENV.dumpJobs]: '4' })).toEqual({ format: 'directory', jobs: 4 });
    expect(() => dumpFormatFromEnv({ PGDR_DUMP_FORMAT: 'tar' })).toThrow(new EnvError('PGDR_DUMP_FORMAT must be one of custom, directory (received "tar")'));
    expect(() => dumpFormatFromEnv({ PGDR_DUMP_JOBS: '0' })).toThrow(/PGDR_DUMP_JOBS must be an integer from 1 to 64 \(received "0"\)/);
  });
});

test('round trip: directory dump (--jobs 2, zstd per file) -> verify with pg_restore --jobs 2 -> failover restore into another cluster; counts equal to the custom format', async () => {
  const h = harness(pg, s3, 'shop', 'shop', { restoreTestEveryNth: 1, smokeQueries: [{ name: 'non-ASCII survived', sql: `SELECT 1 FROM app."User" WHERE "displayName" LIKE 'Zoë Ångström%'`, minRows: 100 }] });
  const client = await pg.client('shop');
  const expectedRows = await rowCounts(client);
  const expectedObjects = await objectCounts(client);
  await client.end();

  const custom = await h.dump();
  const manifest = await dumpDirectory(h);
  expect(manifest.rowCounts).toEqual(expectedRows);
  expect(manifest.objectCounts).toEqual(expectedObjects);
  expect(manifest.rowCounts).toEqual(custom.rowCounts);
  expect(manifest.objectCounts).toEqual(custom.objectCounts);
  const dump = directory(manifest);
  expect(manifest.schemaVersion).toBe(2);
  expect(custom.schemaVersion).toBe(1);
  expect(dump).toMatchObject({ format: 'directory', jobs: 2, compression: { method: 'zstd-stream', level: 1 } });
  expect(dump.key).toMatch(/^shop\/daily\/\d{4}\/\d{2}\/\d{2}\/shop_daily_[0-9TZ-]+\.dir\/$/);
  expect(manifestKeyOf(dump.key)).toBe(keysFromDumpKey(dump.key).manifest);
  // toc.dat plus one data file per table with rows (and the large object's blob files).
  expect(dump.files.map((f) => f.name)).toContain('toc.dat');
  expect(dump.files.filter((f) => /^\d+\.dat$/.test(f.name)).length).toBeGreaterThanOrEqual(Object.values(manifest.rowCounts).filter((n) => n > 0).length);
  for (const f of dump.files) expect(f).toEqual({ name: f.name, key: `${dump.key}${f.name}.zst`, bytes: expect.any(Number), sha256: expect.stringMatching(/^[0-9a-f]{64}$/), uncompressedBytes: expect.any(Number) });
  expect(dump.bytes).toBe(dump.files.reduce((n, f) => n + f.bytes, 0));
  expect(dump.uncompressedBytes).toBe(dump.files.reduce((n, f) => n + f.uncompressedBytes!, 0));
  expect(dump.sha256).toBe(directoryListingSha256(dump.files));
  // Stored exactly as listed: one object per file, plus the manifest and the globals next to it.
  const stem = dump.key.slice(0, -'.dir/'.length);
  const stored = (await s3.keys('shop/')).filter((k) => k.startsWith(stem));
  expect(stored.sort()).toEqual([...dump.files.map((f) => f.key), `${stem}.globals.sql`, `${stem}.manifest.json`].sort());
  const toc = dump.files.find((f) => f.name === 'toc.dat')!;
  expect(createHash('sha256').update(await getBytes(toc.key)).digest('hex')).toBe(toc.sha256);
  expect(await s3.openUploads('shop/')).toEqual([]);
  expect(h.emf.values('BackupSucceeded')).toEqual([1, 1]);
  expect(h.emf.values('BackupBytes')[1]).toBe(dump.bytes);
  expect(h.log.text()).not.toContain(pg.password);

  const verifyDir = workDir();
  const record = await h.verify({ manifestKey: manifestKeyOf(dump.key) }, { workDir: verifyDir, jobs: 2 });
  expect(record.failures).toEqual([]);
  expect(record).toMatchObject({ ok: true, level: 2, dumpKey: dump.key, integrity: { expectedBytes: dump.bytes, actualBytes: dump.bytes, expectedSha256: dump.sha256, actualSha256: dump.sha256 } });
  expect(record.integrity.archiveEntries).toBeGreaterThan(20);
  expect(record.restoreTest).toMatchObject({ mode: 'file', jobs: 2, rowCountMismatches: [], objectCountMismatches: [], scratchDropped: true, smokeQueries: [{ ok: true }] });
  expect(record.restoreTest!.modeReason).toMatch(/^directory format: \d+ bytes free in the work directory, \d+ needed: downloaded, pg_restore --jobs 2 from the directory$/);
  expect(readdirSync(verifyDir)).toEqual([]);
  expect(await pointerDumpKey('shop')).toBe(dump.key);

  // The failover restore, given the directory dump's key (the prefix), into a fresh server.
  const restoreDir = workDir();
  const log = new LogCapture();
  const result = await runRestore(
    { store: store(), target: connectionFromUrl(target.url('postgres')), pgBin: PG_BIN, log, clock: systemClock, workDir: restoreDir, jobs: 2 },
    { database: 'shop', backupKey: dump.key },
  );
  expect(result).toMatchObject({ ok: true, mismatches: [], mode: 'file', jobs: 2, bytes: dump.bytes, dumpKey: dump.key, targetDatabase: 'shop' });
  expect(readdirSync(restoreDir)).toEqual([]);
  const restored = await target.client('shop');
  try {
    expect(await rowCounts(restored)).toEqual(expectedRows);
    expect(await objectCounts(restored)).toEqual(expectedObjects);
  } finally {
    await restored.end();
  }
});

test('compressed by pg_dump itself (pg_dump-gzip): files stored as pg_dump wrote them, verified with a restore test', async () => {
  const h = harness(pg, s3, 'shop-gzip', 'shop');
  const dir = workDir();
  const dump = directory(await h.dump({ format: 'directory', jobs: 2, workDir: dir, compression: 'pg_dump-gzip' }));
  expect(readdirSync(dir)).toEqual([]);
  expect(dump.compression).toEqual({ method: 'pg_dump-gzip', level: 1 });
  expect(dump.files.some((f) => /^\d+\.dat\.gz$/.test(f.name))).toBe(true);
  for (const f of dump.files) expect(f.key).toBe(`${dump.key}${f.name}`);
  expect(dump.uncompressedBytes).toBeUndefined();
  const record = await h.verify({ restoreTest: true }, { workDir: workDir(), jobs: 2 });
  expect(record.failures).toEqual([]);
  expect(record.restoreTest).toMatchObject({ mode: 'file', rowCountMismatches: [], objectCountMismatches: [] });
});

test('an upload failing after some files were stored: no manifest, the error says what is left, the work directory removed', async () => {
  const h = harness(pg, s3, 'dir-upload', 'shop');
  const real = store();
  let uploads = 0;
  const failing = Object.assign(Object.create(real) as S3ObjectStore, {
    uploadStream: async (key: string, body: AsyncIterable<Buffer>, type: string, options?: UploadOptions) => {
      if (++uploads === 3) throw new Error('S3 said no');
      return real.uploadStream(key, body, type, options);
    },
  });
  const dir = workDir();
  const dumping = h.dump({ format: 'directory', jobs: 1, workDir: dir, store: failing });
  await expect(dumping).rejects.toThrow(DumpError);
  await expect(dumping).rejects.toThrow(/^uploading \S+ to dir-upload\/\S+ failed: S3 said no \(2 files already stored under dir-upload\/\S+\.dir\/ are left without a manifest; nothing verifies or restores them/);
  const left = await s3.keys('dir-upload/');
  expect(left).toHaveLength(2);
  expect(left.every((k) => /\.dir\/[^/]+\.zst$/.test(k))).toBe(true);
  expect(await s3.openUploads('dir-upload/')).toEqual([]);
  expect(readdirSync(dir)).toEqual([]);
});

/**
 * Resolves when pg_dump (its PID in `pidFile`) has created its first data file in its output
 * directory under `workDir` (a worker has just started copying a table), with pg_dump's PID and
 * its worker processes' PIDs. Events only: a watch on the work directory, then on pg_dump's.
 */
function whenFirstDataFile(workDir: string, pidFile: string): Promise<{ leader: number; workers: number[] }> {
  return new Promise((resolve) => {
    const outer = watch(workDir, (_event, name) => {
      if (!name?.startsWith('pgdr-dump-')) return;
      outer.close();
      const inner = join(workDir, name);
      let done = false;
      const check = () => {
        if (done || !existsSync(inner) || !readdirSync(inner).some((n) => /^\d+\.dat$/.test(n))) return done;
        done = true;
        const leader = Number(readFileSync(pidFile, 'utf8').trim());
        const workers = readFileSync(`/proc/${leader}/task/${leader}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
        resolve({ leader, workers });
        return true;
      };
      const watcher = watch(inner, () => {
        if (check()) watcher.close();
      });
      // A file created between the two watches.
      if (check()) watcher.close();
    });
  });
}

/** True while `pid` runs (not gone, not a zombie). */
function running(pid: number): boolean {
  const stat = existsSync(`/proc/${pid}/stat`) ? readFileSync(`/proc/${pid}/stat`, 'utf8') : '';
  return stat !== '' && stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
}

describe('faults', () => {
  beforeAll(async () => {
    await pg.createDatabase('faults');
    await pg.sql('faults', RICH_SCHEMA);
    // For the kill tests: two tables of ~24 MiB, so each worker is still copying when the first data file appears.
    await pg.createDatabase('big');
    await pg.sql('big', `${bulkSchema(24)}; CREATE TABLE bulk2 AS SELECT * FROM bulk;`);
  });

  /** A verified directory dump of `database` (the pointer names it), then `damage` applied to one of its data files. */
  async function verifiedThenDamaged(database: string, damage: (key: string) => Promise<void>) {
    const h = harness(pg, s3, database, 'faults');
    const manifest = await dumpDirectory(h);
    const dump = directory(manifest);
    expect((await h.verify({ restoreTest: true }, { workDir: workDir(), jobs: 2 })).ok).toBe(true);
    expect(await pointerDumpKey(database)).toBe(dump.key);
    const victim = [...dump.files].filter((f) => f.name !== 'toc.dat').sort((a, b) => b.bytes - a.bytes)[0];
    // The failover restore of the still-verified backup reads the damage itself and refuses it.
    await damage(victim.key);
    const targetDb = `${database.replace(/-/g, '_')}_restored`;
    await expect(
      runRestore({ store: store(), target: connectionFromUrl(target.url('postgres')), pgBin: PG_BIN, log: new LogCapture(), clock: systemClock, workDir: workDir(), jobs: 2 }, { database, targetDatabase: targetDb }),
    ).rejects.toThrow(new RegExp(`the directory-format dump ${dump.key} does not match its manifest: file ${victim.name.replace('.', '\\.')}`));
    h.emf.clear();
    const record = await h.verify({ restoreTest: true }, { workDir: workDir(), jobs: 2 });
    expect(record.ok).toBe(false);
    expect(h.emf.values('VerifyFailed')).toEqual([1]);
    expect(record.failures).toContain('restore test skipped: the integrity check failed');
    // The pointer no longer names the damaged backup (it was the only one: revoked), and the failover refuses it.
    const pointer = parseLatestVerified((await store().getText(latestVerifiedKey(database)))!.text, 'latest');
    expect(pointer.revoked).toBeDefined();
    await expect(resolveVerifiedBackup(store(), database)).rejects.toThrow(BackupKeyError);
    await expect(resolveVerifiedBackup(store(), database, dump.key)).rejects.toThrow(new RegExp(`failed verification \\(.*file ${victim.name.replace('.', '\\.')}`));
    expect((await pg.databases()).filter((d) => d.startsWith('pgdr_verify_'))).toEqual([]);
    return { record, victim, dump };
  }

  test('a file missing in the bucket: verification fails naming it; pointer revoked; the failover restore refuses', async () => {
    const { record, victim } = await verifiedThenDamaged('dir-missing', (key) => s3.client.send(new DeleteObjectCommand({ Bucket: s3.bucket, Key: key })).then(() => undefined));
    expect(record.failures[0]).toBe(`file ${victim.name} of the dump is missing (${victim.key})`);
  });

  test('a file damaged (one byte changed): verification fails naming it; pointer revoked; the failover restore refuses', async () => {
    const { record, victim } = await verifiedThenDamaged('dir-damaged', async (key) => {
      const bytes = await getBytes(key);
      bytes[Math.floor(bytes.length / 2)] ^= 0x01;
      await s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: key, Body: bytes }));
    });
    expect(record.failures[0]).toMatch(new RegExp(`^file ${victim.name.replace('.', '\\.')}: SHA-256 is [0-9a-f]{64}, the manifest says ${victim.sha256} \\(${victim.key.replace(/\./g, '\\.')}\\)$`));
    expect(record.integrity.actualBytes).toBe(record.integrity.expectedBytes);
    expect(record.integrity.actualSha256).not.toBe(record.integrity.expectedSha256);
  });

  test('a never-verified damaged dump: the pointer is not advanced', async () => {
    const h = harness(pg, s3, 'dir-fresh', 'faults');
    const dump = directory(await dumpDirectory(h));
    await s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: dump.files.find((f) => f.name === 'toc.dat')!.key, Body: 'not zstd' }));
    const record = await h.verify({ restoreTest: false });
    expect(record).toMatchObject({ ok: false, level: 1 });
    expect(record.failures.join('\n')).toMatch(/^file toc\.dat: size is 8 bytes, the manifest says \d+/);
    expect(record.failures.join('\n')).toMatch(/file toc\.dat cannot be decompressed: zstd/);
    expect(record.failures.join('\n')).toMatch(/the archive does not parse: toc\.dat could not be read/);
    expect(await store().getText(latestVerifiedKey('dir-fresh'))).toBeUndefined();
  });

  test('no room in the work directory: integrity checked, the restore test fails with the reason; the failover restore refuses before creating anything', async () => {
    const h = harness(pg, s3, 'dir-noroom', 'faults');
    const dump = directory(await dumpDirectory(h));
    const dir = workDir();
    const record = await h.verify({ restoreTest: true }, { workDir: dir, jobs: 2, freeBytes: async () => 1000 });
    expect(record).toMatchObject({ ok: false, level: 2, integrity: { actualSha256: dump.sha256 } });
    expect(record.restoreTest).toBeUndefined();
    expect(record.failures).toEqual([expect.stringMatching(new RegExp(`^restore test not run: 1000 bytes free in the work directory ${dir}, \\d+ bytes needed to download the directory-format dump \\(${dump.files.length} files\\): there is no streaming restore of this format$`))]);
    expect(readdirSync(dir)).toEqual([]);
    // Level 1 alone (no restore test) passes with no room: only toc.dat is written, elsewhere.
    expect(await h.verify({ restoreTest: false }, { workDir: dir, freeBytes: async () => 1000 })).toMatchObject({ ok: true, level: 1 });
    const restoring = runRestore(
      { store: store(), target: connectionFromUrl(target.url('postgres')), pgBin: PG_BIN, log: new LogCapture(), clock: systemClock, workDir: dir, jobs: 2, freeBytes: async () => 1000 },
      { database: 'dir-noroom', backupKey: dump.key, targetDatabase: 'noroom' },
    );
    await expect(restoring).rejects.toBeInstanceOf(RestoreError);
    await expect(restoring).rejects.toThrow(/refused: 1000 bytes free .* there is no streaming restore of this format$/);
    expect(await target.databases()).not.toContain('noroom');
  });

  test('a pg_dump worker killed during the dump: the dump fails, no manifest and no object, the work directory removed', async () => {
    const pidFile = join(workRoot, 'pg_dump.pid');
    const bin = fakeBin({ pg_dump: pidRecordingPgDump(pidFile) });
    const dir = workDir();
    const h = harness(pg, s3, 'dir-killed', 'big');
    // Event: the first data file pg_dump creates (a worker has just started copying a table).
    let killed: number | undefined;
    const firstDataFile = whenFirstDataFile(dir, pidFile).then(({ workers }) => {
      killed = workers[0];
      process.kill(workers[0], 'SIGKILL');
    });
    try {
      const dumping = h.dump({ format: 'directory', jobs: 2, workDir: dir, pgBin: bin.dir });
      dumping.catch(() => undefined);
      await firstDataFile;
      expect(killed).toBeGreaterThan(0);
      await expect(dumping).rejects.toThrow(DumpError);
      await expect(dumping).rejects.toThrow(/^pg_dump exited with code 1: pg_dump: error: a worker process died unexpectedly/);
      expect(await s3.keys('dir-killed/')).toEqual([]);
      expect(await s3.openUploads('dir-killed/')).toEqual([]);
      expect(readdirSync(dir)).toEqual([]);
      expect(h.emf.values('BackupFailed')).toEqual([1]);
    } finally {
      bin.remove();
    }
  });

  test('abandoned (deadline) while pg_dump runs: pg_dump and its workers end, nothing stored, the work directory removed', async () => {
    const pidFile = join(workRoot, 'pg_dump-abandoned.pid');
    const bin = fakeBin({ pg_dump: pidRecordingPgDump(pidFile) });
    const dir = workDir();
    const h = harness(pg, s3, 'dir-abandoned', 'big');
    const deadline = new AbortController();
    const started = whenFirstDataFile(dir, pidFile);
    try {
      const dumping = h.dump({ format: 'directory', jobs: 2, workDir: dir, pgBin: bin.dir }, 'daily', deadline.signal);
      dumping.catch(() => undefined);
      const { leader, workers } = await started;
      expect(workers).toHaveLength(2);
      deadline.abort(new DumpError('deadline reached'));
      await expect(dumping).rejects.toThrow(/^deadline reached after [\d.]+ s; dump abandoned$/);
      // pg_dump passed the SIGTERM on to its workers: none of them is left running (gone, or exited
      // and waiting for this machine's init to reap it).
      expect([leader, ...workers].filter(running)).toEqual([]);
      expect(await s3.keys('dir-abandoned/')).toEqual([]);
      expect(readdirSync(dir)).toEqual([]);
    } finally {
      bin.remove();
    }
  });
});

test('a finished data file is uploaded while pg_dump still runs (its "finished item" line), the rest after it exits', async () => {
  await pg.createDatabase('uneven');
  // pg_dump gives the big table to one worker first; the tiny one finishes on the other meanwhile.
  await pg.sql('uneven', `${bulkSchema(32)}; CREATE TABLE tiny (id int); INSERT INTO tiny VALUES (1), (2);`);
  const pidFile = join(workRoot, 'pg_dump-uneven.pid');
  const bin = fakeBin({ pg_dump: pidRecordingPgDump(pidFile) });
  const real = store();
  const uploads: Array<{ key: string; pgDumpRunning: boolean }> = [];
  const watching = Object.assign(Object.create(real) as S3ObjectStore, {
    uploadStream: (key: string, body: AsyncIterable<Buffer>, type: string, options?: UploadOptions) => {
      const leader = Number(readFileSync(pidFile, 'utf8').trim());
      uploads.push({ key, pgDumpRunning: running(leader) });
      return real.uploadStream(key, body, type, options);
    },
  });
  const h = harness(pg, s3, 'uneven', 'uneven');
  try {
    const dump = directory(await dumpDirectory(h, workDir(), { store: watching, pgBin: bin.dir }));
    const dataFiles = uploads.filter((u) => /\/\d+\.dat\.zst$/.test(u.key));
    expect(dataFiles).toHaveLength(2);
    // The tiny table's file went up while pg_dump was still copying the big one; toc.dat after pg_dump exited.
    expect(dataFiles[0].pgDumpRunning).toBe(true);
    expect(uploads.find((u) => u.key.endsWith('/toc.dat.zst'))!.pgDumpRunning).toBe(false);
    expect(dump.files.map((f) => f.key).sort()).toEqual(uploads.filter((u) => u.key.startsWith(dump.key)).map((u) => u.key).sort());
    expect(await h.verify({ restoreTest: false })).toMatchObject({ ok: true, level: 1 });
  } finally {
    bin.remove();
  }
});

describe('handlers as deployed (environment contract)', () => {
  const stdout = captureStdout();
  const savedEnv = { ...process.env };
  const secretArn = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:pgdr/shop-dir-AbCdEf';
  let secrets: LocalSecretsManager;
  let dir: string;

  beforeAll(async () => {
    secrets = await startLocalSecretsManager({ [secretArn]: JSON.stringify({ host: '127.0.0.1', port: pg.port, dbname: 'shop', username: 'postgres', password: pg.password }) });
    dir = workDir();
    Object.assign(process.env, {
      ...localAwsEnv(s3.endpoint, secrets.endpoint),
      PGDR_BUCKET: s3.bucket,
      PGDR_KMS_KEY_ARN: 'arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab',
      PGDR_DATABASE: 'shop-handler',
      PGDR_SECRET_ARN: secretArn,
      PGDR_PG_BIN: PG_BIN,
      PGDR_WORK_DIR: dir,
      PGDR_DUMP_FORMAT: 'directory',
      PGDR_DUMP_JOBS: '2',
      PGDR_VERIFICATION: JSON.stringify({ restoreTestEveryNth: 1, smokeQueries: [] }),
      POWERTOOLS_METRICS_NAMESPACE: 'PgDr',
      POWERTOOLS_SERVICE_NAME: 'pgdr-test',
    });
  });

  afterAll(async () => {
    process.env = savedEnv;
    await secrets?.stop();
  });

  test('PGDR_DUMP_FORMAT=directory: the dump handler stores a directory dump, the verify handler restore-tests it on its manifest event', async () => {
    // What a dump stopped at the Lambda timeout left in the work directory: removed by the next run.
    const leftover = join(dir, 'pgdr-dump-0123456789ab.dir');
    mkdirSync(leftover);
    writeFileSync(join(leftover, 'toc.dat'), 'partial');
    const manifest = (await dumpHandler({ backupClass: 'daily' })) as BackupManifest;
    expect(existsSync(leftover)).toBe(false);
    expect(manifest).toMatchObject({ schemaVersion: 2, database: 'shop-handler', dump: { format: 'directory', jobs: 2 } });
    expect(readdirSync(dir)).toEqual([]);
    const record = (await verifyHandler({ 'detail-type': 'Object Created', detail: { bucket: { name: s3.bucket }, object: { key: manifestKeyOf(manifest.dump.key)! } } })) as VerificationRecord;
    expect(record).toMatchObject({ ok: true, level: 2, dumpKey: manifest.dump.key, restoreTest: { mode: 'file', jobs: 2, rowCountMismatches: [] } });
    expect(stdout.text()).not.toContain(pg.password);
  });
});
