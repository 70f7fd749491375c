/**
 * A full disk under the local S3 directory: `pgdr backup --local` ends with one clear line (no
 * stack trace) and leaves nothing half-written (no object, no open multipart upload, no
 * manifest). The disk is a real 4 MiB tmpfs mounted for the test (root only; CI runs as root)
 * and unmounted by it.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PgCluster } from '../support/pg-cluster';
import { runPgdr } from '../support/cli';
import { startTestS3 } from '../support/s3-server';
import { LOCAL_BUCKET } from '../../cli/local';

const isRoot = process.getuid?.() === 0;
let pg: PgCluster | undefined;
let mountPoint: string | undefined;
let mounted = false;

beforeAll(async () => {
  if (!isRoot) return;
  mountPoint = mkdtempSync(join(tmpdir(), 'pgdr-full-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m,mode=0700', 'tmpfs', mountPoint]);
  mounted = true;
  pg = await PgCluster.start();
  await pg.createDatabase('big');
  // About 20 MiB uncompressed: the first 8 MiB part cannot be stored on a 4 MiB disk.
  await pg.sql('big', `CREATE TABLE t AS SELECT i, repeat(md5(i::text), 4) AS s FROM generate_series(1, 150000) i`);
});

afterAll(async () => {
  await pg?.stop();
  if (mounted) execFileSync('umount', [mountPoint!]);
  if (mountPoint) rmSync(mountPoint, { recursive: true, force: true });
});

(isRoot ? test : test.skip)('disk full: one line, exit 1, nothing stored and no open upload (needs root to mount a tmpfs)', async () => {
  const run = await runPgdr(mountPoint!, ['backup', 'big', '--local', '--source-url', pg!.url('big'), '--compression', 'none']);
  expect(run.code).toBe(1);
  expect(run.stdout).toBe('');
  expect(run.stderr).toBe(`pgdr: no space left on device in the local S3 directory ${join(mountPoint!, 's3')} (free space, or set PGDR_LOCAL_DIR to a larger disk)\n`);

  const s3 = await startTestS3(LOCAL_BUCKET, join(mountPoint!, 's3'));
  try {
    expect(await s3.keys()).toEqual([]);
    expect(await s3.openUploads()).toEqual([]);
  } finally {
    await s3.stop();
  }
  // No temporary file left behind either: the whole 4 MiB are free again.
  const free = execFileSync('df', ['--output=used', '-B1', mountPoint!]).toString().trim().split('\n')[1];
  expect(Number(free)).toBeLessThan(64 * 1024);
});
