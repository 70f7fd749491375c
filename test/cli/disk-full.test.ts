/**
 * A full disk under the local S3 directory: `pgdr backup --local` ends with one clear line (no
 * stack trace) and leaves nothing half-written (no object, no open multipart upload, no
 * manifest, no temporary file). The disk is a real tmpfs mounted for each case (root only; CI
 * runs as root) and unmounted by it. Sizes make the failing write deterministic: the first 8 MiB
 * part on a 4 MiB disk; or, on a 14 MiB disk, the second part of a ~20 MiB dump (the first is
 * stored, in the upload's growing file, which the failed part is cut back from and the abort
 * removes).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PgCluster } from '../../local/pg-cluster';
import { runPgdr } from '../support/cli';
import { startTestS3 } from '../support/s3-server';
import { LOCAL_BUCKET } from '../../cli/local';

const isRoot = process.getuid?.() === 0;
let pg: PgCluster | undefined;

beforeAll(async () => {
  if (!isRoot) return;
  pg = await PgCluster.start();
  // ~20 MiB of pg_dump -Z0 output.
  await pg.createDatabase('big');
  await pg.sql('big', `CREATE TABLE t AS SELECT i, repeat(md5(i::text), 4) AS s FROM generate_series(1, 150000) i`);
});

afterAll(async () => {
  await pg?.stop();
});

/** Runs `fn` with a fresh tmpfs of `size` mounted; always unmounts and removes it. */
async function withTinyDisk(size: string, fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'pgdr-full-'));
  let mounted = false;
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', dir]);
    mounted = true;
    await fn(dir);
  } finally {
    if (mounted) execFileSync('umount', [dir]);
    rmSync(dir, { recursive: true, force: true });
  }
}

const cases: Array<[string, string, string]> = [
  ['the first part does not fit', '4m', 'big'],
  ['the first part fits, the second does not', '14m', 'big'],
];

(isRoot ? test.each(cases) : test.skip.each(cases))('disk full (%s): one line, exit 1, nothing stored, no open upload (needs root to mount a tmpfs)', async (_what, size, database) => {
  await withTinyDisk(size, async (dir) => {
    const run = await runPgdr(dir, ['backup', database, '--local', '--source-url', pg!.url(database), '--compression', 'none']);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toBe(`pgdr: no space left on device in the local S3 directory ${join(dir, 's3')} (free space, or set PGDR_LOCAL_DIR to a larger disk)\n`);

    const s3 = await startTestS3(LOCAL_BUCKET, join(dir, 's3'));
    try {
      expect(await s3.keys()).toEqual([]);
      expect(await s3.openUploads()).toEqual([]);
    } finally {
      await s3.stop();
    }
    // No temporary or partial file left behind either: the disk is empty again.
    const used = execFileSync('df', ['--output=used', '-B1', dir]).toString().trim().split('\n')[1];
    expect(Number(used)).toBeLessThan(64 * 1024);
  });
});
