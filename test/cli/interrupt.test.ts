/**
 * SIGTERM during `pgdr verify --local` (sent to the CLI alone, as a scheduler or `timeout` sends
 * it: its children do not get it): pg_restore is stopped, the scratch database dropped, the work
 * directory removed, nothing recorded, exit 143. pg_restore's restore is a wrapper that records
 * its PID (an atomic rename the test watches for) and blocks until killed.
 *
 * Ctrl-C during `pgdr backup --local`: the real CLI (bin/pgdr.js) in its own process group gets
 * SIGINT as a terminal sends it (to the whole group, pg_dump included) once the first part of
 * the upload is stored, observed from the CLI's own --verbose "part uploaded" line. pg_dump is
 * the real one behind a wrapper that stops after 9 MiB and then blocks until killed, so the
 * backup cannot finish before the signal whatever the machine's speed. It must end with one
 * line and exit 130, leaving no object, no open multipart upload and no manifest.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, watch } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PgCluster } from '../../local/pg-cluster';
import { runPgdr, startPgdr } from '../support/cli';
import { fakeBin, FakeBin } from '../support/fake-bin';
import { startTestS3 } from '../support/s3-server';
import { LOCAL_BUCKET } from '../../cli/local';
import { interruptOnSignals } from '../../cli/interrupt';
import { memoryBackedDir } from '../../lambda/shared/restore-mode';

let pg: PgCluster;
let bin: FakeBin;
let localDir: string;

/** pg_dump that passes on its first 9 MiB (more than one 8 MiB part), then blocks until killed. */
const STALLING_PG_DUMP = `if [ "$1" = "--version" ]; then exec "$REAL" --version; fi
"$REAL" "$@" | head -c 9437184
exec tail -f /dev/null`;

beforeAll(async () => {
  localDir = mkdtempSync(join(tmpdir(), 'pgdr-int-'));
  bin = fakeBin({ pg_dump: STALLING_PG_DUMP });
  pg = await PgCluster.start();
  await pg.createDatabase('big');
  await pg.sql('big', `CREATE TABLE t AS SELECT i, repeat(md5(i::text), 4) AS s FROM generate_series(1, 150000) i`);
});

afterAll(async () => {
  await pg?.stop();
  bin?.remove();
  rmSync(localDir, { recursive: true, force: true });
});

test('Ctrl-C after the first part: one line, exit 130, the upload aborted, nothing stored', async () => {
  const { child, exited } = startPgdr(
    localDir,
    ['backup', 'big', '--local', '--source-url', pg.url('big'), '--compression', 'none', '--pg-bin', bin.dir, '--verbose'],
    {},
    { detached: true },
  );
  try {
    await new Promise<void>((resolve, reject) => {
      let seen = '';
      const onData = (chunk: Buffer) => {
        seen += chunk.toString();
        if (/"message":"part uploaded"/.test(seen)) {
          child.stderr!.off('data', onData);
          resolve();
        }
      };
      child.stderr!.on('data', onData);
      child.once('exit', () => reject(new Error(`pgdr exited before uploading a part: ${seen}`)));
    });
    process.kill(-child.pid!, 'SIGINT'); // the whole process group, as a terminal's Ctrl-C
    const run = await exited;
    expect(run.code).toBe(130);
    expect(run.stdout).toBe('');
    const lines = run.stderr.trim().split('\n').filter((l) => !l.startsWith('{'));
    expect(lines).toEqual([expect.stringMatching(/^pgdr: interrupted by SIGINT after [\d.]+ s; dump abandoned; its upload was aborted and no manifest was written$/)]);
    expect(run.stderr).not.toContain(pg.password);
  } finally {
    if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, 'SIGKILL');
    await exited;
  }
  const s3 = await startTestS3(LOCAL_BUCKET, join(localDir, 's3'));
  try {
    expect(await s3.keys()).toEqual([]);
    expect(await s3.openUploads()).toEqual([]);
  } finally {
    await s3.stop();
  }
});

test('a second signal exits at once, saying what may be left', () => {
  const exit = jest.fn() as unknown as (code: number) => never;
  const stderr = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
  const interrupt = interruptOnSignals('an incomplete upload may remain in /x', exit);
  try {
    process.emit('SIGINT', 'SIGINT');
    expect(interrupt.signal.aborted).toBe(true);
    expect((interrupt.signal.reason as Error).message).toBe('interrupted by SIGINT');
    expect(exit).not.toHaveBeenCalled();
    process.emit('SIGTERM', 'SIGTERM');
    expect(exit).toHaveBeenCalledWith(143);
    expect(stderr).toHaveBeenCalledWith('pgdr: SIGTERM again: exiting without cleaning up; an incomplete upload may remain in /x\n');
  } finally {
    interrupt.dispose();
    stderr.mockRestore();
  }
});

/** Resolves with the contents of `dir/name` once it appears (renamed into place whole), or rejects when `exited` settles first. */
function fileAppears(dir: string, name: string, exited: Promise<unknown>): Promise<string> {
  return new Promise((resolve, reject) => {
    const watcher = watch(dir, (_event, file) => {
      if (file !== name) return;
      watcher.close();
      resolve(readFileSync(join(dir, name), 'utf8'));
    });
    void exited.then(() => {
      watcher.close();
      reject(new Error(`pgdr exited before ${name} appeared`));
    });
  });
}

test('SIGTERM to pgdr verify --local during the restore: pg_restore stopped, scratch database dropped, work directory removed, nothing recorded, exit 143', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgdr-int-verify-'));
  const [local, work, pids] = ['local', 'tmp', 'pids'].map((d) => join(dir, d));
  for (const d of [local, work, pids]) mkdirSync(d);
  const blocking = fakeBin({
    pg_restore: `case "$*" in *--dbname=*) echo $$ > ${JSON.stringify(join(pids, 'tmp'))}; mv ${JSON.stringify(join(pids, 'tmp'))} ${JSON.stringify(join(pids, 'pg_restore'))}; exec tail -f /dev/null;; esac
exec "$REAL" "$@"`,
  });
  try {
    const backup = await runPgdr(local, ['backup', 'big', '--local', '--source-url', pg.url('big')]);
    expect(backup.code).toBe(0);
    const { child, exited } = startPgdr(local, ['verify', 'big', '--local', '--source-url', pg.url('big'), '--pg-bin', blocking.dir, '--verbose'], { TMPDIR: work });
    const archiveDirs = [await memoryBackedDir(), work].filter((d): d is string => d !== undefined);
    const archives = () => archiveDirs.flatMap((d) => readdirSync(d).filter((n) => n.startsWith(`pgdr-restore-p${child.pid}-`)));
    let pid: number;
    try {
      pid = Number((await fileAppears(pids, 'pg_restore', exited)).trim());
      expect((await pg.databases()).filter((d) => d.startsWith('pgdr_verify_big_'))).toHaveLength(1);
      // The downloaded archive: in memory (/dev/shm) when that tmpfs has room, else in TMPDIR.
      expect(archives()).toHaveLength(1);
      child.kill('SIGTERM');
      const run = await exited;
      expect(run.code).toBe(143);
      expect(run.stdout).toBe('');
      const lines = run.stderr.trim().split('\n').filter((l) => !l.startsWith('{'));
      expect(lines).toEqual([expect.stringMatching(/^pgdr: interrupted by SIGTERM: verification stopped, nothing recorded; the scratch database pgdr_verify_big_\S+ was dropped$/)]);
      expect(run.stderr).not.toContain(pg.password);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    }
    expect(() => process.kill(pid, 0)).toThrow(expect.objectContaining({ code: 'ESRCH' }));
    expect((await pg.databases()).filter((d) => d.startsWith('pgdr_verify_'))).toEqual([]);
    expect(readdirSync(work)).toEqual([]);
    expect(archives()).toEqual([]);
    const s3 = await startTestS3(LOCAL_BUCKET, join(local, 's3'));
    try {
      // The backup's dump, globals and manifest only: no verification record, no latest-verified.json.
      expect(await s3.keys()).toEqual(['dump', 'globals.sql', 'manifest.json'].map((end) => expect.stringMatching(new RegExp(`^big/manual/[0-9/]+big_manual_[0-9TZ-]+\\.${end.replace('.', '\\.')}$`))));
    } finally {
      await s3.stop();
    }
  } finally {
    blocking.remove();
    rmSync(dir, { recursive: true, force: true });
  }
});
