/**
 * Dump faults. Each must end with a clear error, a BackupFailed metric, no manifest (no object
 * at all under the backup's prefix) and no open multipart upload.
 */
import { existsSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { join } from 'node:path';
import { freePort, PgCluster } from '../../local/pg-cluster';
import { recordingClient, startTestS3, TestS3 } from '../support/s3-server';
import { bulkSchema } from '../support/fixtures';
import { harness } from '../support/harness';
import { fakeBin, OLD_PG_DUMP, pidRecordingPgDump } from '../support/fake-bin';
import { S3ObjectStore } from '../../lambda/shared/s3-store';
import { connectionFromUrl } from '../../lambda/shared/connection';
import { keysFromDumpKey } from '../../lambda/shared/layout';
import type { ObjectStore } from '../../lambda/shared/ports';
import { DumpError } from '../../lambda/dump/core';
import { deadlineSignal, jobSignal } from '../../lambda/shared/job-signal';
import { findOnPath } from '../../lambda/shared/pg-process';
import { zstdSummary } from '../../lambda/shared/compression';

const ZSTD = findOnPath('zstd')!;

let pg: PgCluster;
let s3: TestS3;

beforeAll(async () => {
  [pg, s3] = await Promise.all([PgCluster.start(), startTestS3()]);
  await pg.createDatabase('shop');
  await pg.sql('shop', bulkSchema(14));
});

afterAll(async () => {
  await Promise.allSettled([s3?.stop(), pg?.stop()]);
});

/** Nothing of `database` in the bucket and no multipart upload left open. */
async function expectNothingStored(database: string) {
  expect(await s3.keys(`${database}/`)).toEqual([]);
  expect(await s3.openUploads(`${database}/`)).toEqual([]);
}

test('pg_dump killed (SIGKILL) mid-stream: upload aborted, no manifest', async () => {
  const pidFile = join(s3.directory, 'pg_dump.pid');
  const bin = fakeBin({ pg_dump: pidRecordingPgDump(pidFile) });
  const rec = recordingClient(s3);
  // A store that kills pg_dump once 6 MiB have gone by (one part uploaded, more to come).
  const real = new S3ObjectStore(rec.client, s3.bucket, { partSize: 5 * 1024 * 1024 });
  let killed = false;
  const killing: ObjectStore = Object.assign(Object.create(real) as ObjectStore, {
    uploadStream: (key: string, body: AsyncIterable<Buffer>, type: string) =>
      real.uploadStream(
        key,
        (async function* () {
          let seen = 0;
          for await (const chunk of body) {
            seen += chunk.length;
            if (!killed && seen > 6 * 1024 * 1024 && existsSync(pidFile)) {
              process.kill(Number(readFileSync(pidFile, 'utf8').trim()), 'SIGKILL');
              killed = true;
            }
            yield chunk;
          }
        })(),
        type,
      ),
  });
  const h = harness(pg, s3, 'killed', 'shop');
  try {
    await expect(h.dump({ store: killing, pgBin: bin.dir, compression: 'none' })).rejects.toThrow(/pg_dump was killed by SIGKILL/);
  } finally {
    bin.remove();
  }
  expect(killed).toBe(true);
  expect(rec.commands).toContain('UploadPartCommand');
  expect(rec.commands).toContain('AbortMultipartUploadCommand');
  expect(rec.commands).not.toContain('CompleteMultipartUploadCommand');
  expect(h.emf.values('BackupFailed')).toEqual([1]);
  expect(h.emf.values('BackupSucceeded')).toEqual([]);
  expect(h.log.entries.find((e) => e.level === 'ERROR')?.attributes).toMatchObject({ database: 'killed', error: expect.stringMatching(/SIGKILL/) });
  await expectNothingStored('killed');
});

test('S3 failing mid-upload (UploadPart 2): pg_dump stopped, upload aborted, no manifest', async () => {
  const rec = recordingClient(s3, (command, input) =>
    command === 'UploadPartCommand' && input.PartNumber === 2 ? Object.assign(new Error('We encountered an internal error. Please try again.'), { name: 'InternalError' }) : undefined,
  );
  const h = harness(pg, s3, 's3-fails', 'shop');
  await expect(h.dump({ store: new S3ObjectStore(rec.client, s3.bucket, { partSize: 5 * 1024 * 1024 }) })).rejects.toThrow(/internal error/);
  expect(rec.commands).toContain('AbortMultipartUploadCommand');
  expect(rec.commands).not.toContain('CompleteMultipartUploadCommand');
  expect(h.emf.values('BackupFailed')).toEqual([1]);
  await expectNothingStored('s3-fails');
});

test('zstd dying mid-stream (pg_dump writes into it directly): the error names zstd, pg_dump is stopped, upload aborted, no manifest', async () => {
  const pidFile = join(s3.directory, 'pg_dump-zstd.pid');
  // A zstd that compresses the first 2 MiB, then is killed: pg_dump, writing into its stdin, only
  // sees a broken pipe.
  const bin = fakeBin({ pg_dump: pidRecordingPgDump(pidFile), zstd: `head -c 2097152 | ${JSON.stringify(ZSTD)} "$@"\nkill -9 $$` });
  const rec = recordingClient(s3);
  const h = harness(pg, s3, 'zstd-dies', 'shop');
  try {
    await expect(h.dump({ store: new S3ObjectStore(rec.client, s3.bucket, { partSize: 5 * 1024 * 1024 }), pgBin: bin.dir, compression: 'zstd-stream' })).rejects.toThrow(/^zstd was killed by SIGKILL/);
  } finally {
    bin.remove();
  }
  expect(() => process.kill(Number(readFileSync(pidFile, 'utf8').trim()), 0)).toThrow(/ESRCH/);
  expect(rec.commands).not.toContain('CompleteMultipartUploadCommand');
  expect(h.emf.values('BackupFailed')).toEqual([1]);
  await expectNothingStored('zstd-dies');
});

test('zstd-stream: the manifest\'s uncompressedBytes is the exact size of the archive (zstd\'s own count), the stored bytes its exact output', async () => {
  const h = harness(pg, s3, 'zstd-size', 'shop');
  const manifest = await h.dump({ compression: 'zstd-stream' });
  const stored = Buffer.from(await (await s3.client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: manifest.dump.key }))).Body!.transformToByteArray());
  const archive = execFileSync(ZSTD, ['-dc'], { input: stored, maxBuffer: 1024 * 1024 * 1024 });
  expect(stored.length).toBe(manifest.dump.bytes);
  expect(manifest.dump.uncompressedBytes).toBe(archive.length);
  expect(archive.subarray(0, 5).toString()).toBe('PGDMP');
  expect(h.emf.values('CompressionRatio')).toEqual([Math.round((archive.length / stored.length) * 1000) / 1000]);
});

test('zstd\'s summary: exact counts from -vv (1.5) and older (1.4) lines; none when absent', () => {
  expect(zstdSummary('x\n/*stdin*\\            : 75.37%   (4052632 B => 3054455 B, /*stdout*\\) \n/*stdin*\\ : Completed in 0.04 sec')).toEqual({ inBytes: 4052632, outBytes: 3054455 });
  expect(zstdSummary('/*stdin*\\ : 12.50%   (  800 =>    100 bytes, /*stdout*\\)')).toEqual({ inBytes: 800, outBytes: 100 });
  expect(zstdSummary('/*stdin*\\ : 75.37%   (  3.86 MiB =>   2.91 MiB, /*stdout*\\)')).toBeUndefined();
});

test('the manifest write failing after the upload: the error names the step and the object left without a manifest', async () => {
  const rec = recordingClient(s3, (command, input) =>
    command === 'PutObjectCommand' && String(input.Key).endsWith('.manifest.json') ? Object.assign(new Error('We encountered an internal error. Please try again.'), { name: 'InternalError' }) : undefined,
  );
  const h = harness(pg, s3, 'manifest-fails', 'shop');
  const error = await h.dump({ store: new S3ObjectStore(rec.client, s3.bucket, { partSize: 5 * 1024 * 1024 }) }).catch((e: Error) => e);
  const stored = await s3.keys('manifest-fails/');
  // The dump and its globals (written before the manifest); no manifest.
  const dumpKey = stored.find((k) => k.endsWith('.dump'))!;
  expect(stored).toEqual([dumpKey, keysFromDumpKey(dumpKey).globals].sort());
  expect((error as Error).message).toBe(
    `writing the manifest ${keysFromDumpKey(dumpKey).manifest} failed after the dump was uploaded (${dumpKey} is left without a manifest; ` +
      'nothing verifies or restores it): We encountered an internal error. Please try again.',
  );
  expect(h.emf.values('BackupFailed')).toEqual([1]);
  expect(h.log.entries.find((e) => e.level === 'ERROR')?.attributes?.error).toBe((error as Error).message);
});

test('deadline reached mid-dump (the Lambda timeout is near): dump abandoned, upload aborted', async () => {
  // The deadline is a signal; here it fires when the first part goes to S3: the multipart upload
  // exists and the object is not complete (it completes only after every part is stored).
  const deadline = new AbortController();
  const rec = recordingClient(s3, (command, input) => {
    if (command === 'UploadPartCommand' && input.PartNumber === 1) deadline.abort(new DumpError('deadline reached'));
    return undefined;
  });
  const h = harness(pg, s3, 'deadline', 'shop');
  await expect(h.dump({ store: new S3ObjectStore(rec.client, s3.bucket, { partSize: 5 * 1024 * 1024 }) }, 'daily', deadline.signal)).rejects.toThrow(
    /^deadline reached after [\d.]+ s; dump abandoned$/,
  );
  expect(rec.commands).toContain('UploadPartCommand');
  expect(rec.commands).toContain('AbortMultipartUploadCommand');
  expect(rec.commands).not.toContain('CompleteMultipartUploadCommand');
  expect(h.emf.values('BackupFailed')).toEqual([1]);
  await expectNothingStored('deadline');
});

test('deadline reached while pg_dump and the counting wait for a lock: abandoned at once, not after the wait', async () => {
  await pg.createDatabase('locked');
  await pg.sql('locked', 'CREATE TABLE waiting (id int PRIMARY KEY); INSERT INTO waiting VALUES (1)');
  // A transaction that holds the table: pg_dump's LOCK TABLE and the count(*) queue behind it.
  const holder = await pg.client('locked');
  await holder.query('BEGIN; LOCK TABLE waiting IN ACCESS EXCLUSIVE MODE');
  try {
    const deadline = new AbortController();
    const h = harness(pg, s3, 'locked', 'locked');
    const dumping = h.dump({}, 'daily', deadline.signal);
    dumping.catch(() => undefined);
    // When both pgdr sessions (pg_dump's and the counting one) wait for the lock, the deadline passes.
    await holder.query(`DO $$ BEGIN
      WHILE (SELECT count(*) FROM pg_stat_activity WHERE datname = 'locked' AND application_name = 'pgdr' AND wait_event_type = 'Lock') < 2 LOOP
        PERFORM pg_stat_clear_snapshot(); PERFORM pg_sleep(0.02);
      END LOOP; END $$`);
    deadline.abort(new DumpError('deadline reached'));
    await expect(dumping).rejects.toThrow(/^deadline reached after [\d.]+ s; dump abandoned$/);
    expect(h.emf.values('BackupFailed')).toEqual([1]);
    await expectNothingStored('locked');
  } finally {
    await holder.query('ROLLBACK').catch(() => undefined);
    await holder.end();
  }
});

test('deadline already passed when the dump starts: abandoned before anything is stored', async () => {
  const deadline = new AbortController();
  deadline.abort(new DumpError('deadline reached'));
  const rec = recordingClient(s3);
  const h = harness(pg, s3, 'late', 'shop');
  await expect(h.dump({ store: new S3ObjectStore(rec.client, s3.bucket, { partSize: 5 * 1024 * 1024 }) }, 'daily', deadline.signal)).rejects.toThrow(
    /^deadline reached after [\d.]+ s; dump abandoned$/,
  );
  expect(rec.commands).toEqual([]); // pg_dump killed and the body ended before any byte reached the store
  expect(h.emf.values('BackupFailed')).toEqual([1]);
  await expectNothingStored('late');
});

test('deadlineSignal aborts when the time is up, with "deadline reached" as its reason', () => {
  jest.useFakeTimers();
  try {
    const signal = deadlineSignal(30_000);
    jest.advanceTimersByTime(29_999);
    expect(signal.aborted).toBe(false);
    jest.advanceTimersByTime(1);
    expect(signal.aborted).toBe(true);
    expect((signal.reason as Error).message).toBe('deadline reached');
  } finally {
    jest.useRealTimers();
  }
});

test('jobSignal: the container\'s signal, a deadline 30 s before the Lambda timeout, either one stopping the job, or none', () => {
  jest.useFakeTimers();
  try {
    expect(jobSignal(undefined)).toBeUndefined();
    expect(jobSignal({})).toBeUndefined();
    const container = new AbortController();
    expect(jobSignal({ signal: container.signal })).toBe(container.signal);
    const lambda = jobSignal({ getRemainingTimeInMillis: () => 90_000 })!;
    const both = jobSignal({ getRemainingTimeInMillis: () => 90_000, signal: container.signal })!;
    jest.advanceTimersByTime(59_999);
    expect([lambda.aborted, both.aborted]).toEqual([false, false]);
    container.abort(new Error('SIGTERM: the task is stopping'));
    expect(both.aborted).toBe(true);
    expect((both.reason as Error).message).toBe('SIGTERM: the task is stopping');
    jest.advanceTimersByTime(1);
    expect(lambda.aborted).toBe(true);
    expect((lambda.reason as Error).message).toBe('deadline reached');
  } finally {
    jest.useRealTimers();
  }
});

test('database unreachable: one clear error, no upload started', async () => {
  const port = await freePort();
  const h = harness(pg, s3, 'unreachable', 'shop');
  await expect(h.dump({ connection: connectionFromUrl(`postgres://postgres:secret@127.0.0.1:${port}/shop`) })).rejects.toThrow(
    `cannot connect to PostgreSQL at 127.0.0.1:${port}: connection refused (is the server running?)`,
  );
  expect(h.emf.values('BackupFailed')).toEqual([1]);
  await expectNothingStored('unreachable');
});

test('wrong password: clear error that does not contain the password', async () => {
  const h = harness(pg, s3, 'wrong-pw', 'shop');
  const error = await h.dump({ connection: connectionFromUrl(pg.url('shop', 'not-the-password-123')) }).catch((e: Error) => e);
  expect(error).toBeInstanceOf(Error);
  expect((error as Error).message).toBe(`password authentication failed for postgres@127.0.0.1:${pg.port}/shop`);
  expect(h.log.text()).not.toContain('not-the-password-123');
  expect(h.emf.values('BackupFailed')).toEqual([1]);
  await expectNothingStored('wrong-pw');
});

test('pg_dump of an older major than the server: refused before dumping', async () => {
  const bin = fakeBin({ pg_dump: OLD_PG_DUMP });
  const h = harness(pg, s3, 'old-pgdump', 'shop');
  try {
    await expect(h.dump({ pgBin: bin.dir })).rejects.toThrow(/pg_dump 14\.11 \(major 14\) cannot dump PostgreSQL 15\.\d+.*\(major 15\).*deploy the PostgreSQL 15 client tools layer/);
  } finally {
    bin.remove();
  }
  expect(h.emf.values('BackupFailed')).toEqual([1]);
  await expectNothingStored('old-pgdump');
});

test('the database name is checked before anything runs', async () => {
  const h = harness(pg, s3, 'Bad_Name', 'shop');
  await expect(h.dump()).rejects.toThrow(/database name "Bad_Name" is not valid/);
  expect(h.emf.values('BackupFailed')).toEqual([1]);
});
