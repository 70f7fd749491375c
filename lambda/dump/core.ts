/**
 * The dump job's core: one consistent, verified-on-write dump of one database into the bucket.
 *
 *   1. check pg_dump's major version against the server's (pg_dump refuses newer servers);
 *   2. open a REPEATABLE READ READ ONLY transaction and export its snapshot;
 *   3. run `pg_dump -Fc --snapshot=<it>` and, at the same time, count rows per table and
 *      objects in that same snapshot, so the counts are exactly what the dump holds (on a second
 *      session, in short transactions that import the snapshot: catalog.ts `snapshotCounts`),
 *      and read the roles and privileges the database needs (on the exporting session); pg_dump's
 *      `--version` runs while that session connects;
 *   4. stream pg_dump's stdout -> (zstd) -> SHA-256 + byte counter -> S3 multipart upload
 *      (no temp file; memory bounded by the upload's part buffers). With zstd, pg_dump writes
 *      into zstd's stdin directly (no byte of the uncompressed archive passes through Node: it
 *      would cost Node more CPU than pg_dump itself), and Node reads the stored bytes from a
 *      socket pair into a few reused buffers (shared/staged-output.ts); the archive's size comes
 *      from zstd's closing summary (`uncompressedBytes`);
 *   5. only when pg_dump (and zstd) exited 0 and the upload completed, write the manifest.
 * The directory format (`format: 'directory'`, manifest schema version 2) replaces 3-4 with
 * `pg_dump -Fd --jobs N --snapshot=<it> -f <workDir>/pgdr-dump-<random>.dir` (-Z0 and zstd per file
 * when a zstd binary is there, as `auto` picks for the custom format), the counts running
 * meanwhile; each table's data file, once pg_dump reports it finished, goes through zstd, SHA-256
 * and a byte counter into its own object under `....dir/`, a few at a time, while pg_dump goes on
 * (shared/directory-archive.ts), and is deleted; the rest (toc.dat, ...) once pg_dump exited 0;
 * the manifest only when the counts are done too. The work directory is always removed. A failure
 * after some files were stored leaves them (the job may not delete in the vault) and says so.
 * Any failure kills the children, aborts the upload, writes no manifest, logs one structured
 * error, emits BackupFailed and throws a DumpError. The server's statement, lock, idle and
 * transaction timeouts do not apply to any of these sessions (shared/session-settings.ts).
 *
 * No AWS SDK here: the bucket, metrics and logs are ports; the clock is injected.
 */
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { Client } from 'pg';
import { backupKeys, assertName, BackupKeys } from '../shared/layout';
import { ConnectionInfo, describe } from '../shared/connection';
import { connectClient } from '../shared/pg-client';
import { expectSuccess, finishedTableData, startTool, toolVersion, killTool } from '../shared/pg-process';
import { CompressionPlan, CompressionSetting, planCompression, startCompressor, zstdSummary } from '../shared/compression';
import { StagedOutput } from '../shared/staged-output';
import { dataFileSuffix, DirectoryUploader, directoryDump } from '../shared/directory-archive';
import { snapshotCounts } from '../shared/catalog';
import { readRolesAndPrivileges, storeGlobals } from '../shared/globals';
import { BackupManifest, CustomDump, DIRECTORY_MANIFEST_SCHEMA_VERSION, DirectoryDump, MANIFEST_SCHEMA_VERSION, ObjectCounts } from '../shared/records';
import { seconds } from '../shared/ports';
import type { Clock, LogPort, MetricsPort, ObjectStore } from '../shared/ports';
import { reportFailure } from '../shared/failure';
import { readDatabaseLocale } from '../shared/locale';
import type { DumpFormat } from '../shared/env';
import { abortReason } from '../shared/job-signal';
import { dumpDirName } from '../shared/restore-mode';

export interface DumpRequest {
  /** pgdr database name (S3 prefix, metric dimension). */
  readonly database: string;
  readonly backupClass: string;
  /**
   * Give up (and clean up) when this aborts: e.g. shared/job-signal.ts `jobSignal` shortly before the Lambda
   * timeout, or Ctrl-C. The message of its reason (an Error) says why.
   */
  readonly signal?: AbortSignal;
}

export interface DumpDeps {
  readonly store: ObjectStore;
  readonly connection: ConnectionInfo;
  /** Directory of pg_dump (and optionally zstd). */
  readonly pgBin: string;
  /** @default "auto" */
  readonly compression?: CompressionSetting;
  readonly metrics: MetricsPort;
  readonly log: LogPort;
  readonly clock: Clock;
  /**
   * `custom`: pg_dump -Fc, one object (`....dump`); `directory`: pg_dump -Fd --jobs N, one object
   * per file under `....dir/` (manifest schema version 2). @default "custom"
   */
  readonly format?: DumpFormat;
  /** pg_dump --jobs for the directory format (1-64). @default os.availableParallelism() */
  readonly jobs?: number;
  /** Where pg_dump writes the directory format (removed afterwards; needs room for the whole uncompressed dump). Required for `directory`. */
  readonly workDir?: string;
}

export type { DumpFormat };

/** The dump failed; the message says why (without secrets). */
export class DumpError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DumpError';
  }
}

type FailureSource = 'abandoned' | 'pg_dump' | 'zstd' | 'count' | 'catalog' | 'upload' | 'stream';

/**
 * Any failure stops everything else. Which error is reported is decided by cause, not by
 * arrival: a pg_dump/zstd that we killed, or a stream we broke, only reports the consequence.
 */
class RunControl {
  readonly errors: Partial<Record<FailureSource, Error>> = {};
  stopping = false;
  readonly killedByUs = { pg_dump: false, zstd: false };
  /** Stops the counting between batches and the uploads in progress. */
  readonly halt = new AbortController();
  private readonly stoppers: Array<() => void> = [];

  /** Registers what stopping does (kill a tool, break a stream, close a session). */
  onStop(fn: () => void): void {
    this.stoppers.push(fn);
  }

  readonly stop = (): void => {
    if (this.stopping) return;
    this.stopping = true;
    for (const fn of this.stoppers) fn();
    this.halt.abort(new DumpError('dump stopped'));
  };

  readonly failed = (source: FailureSource) => (err: unknown): void => {
    const consequence = source === 'pg_dump' || source === 'zstd' ? this.killedByUs[source] : (source === 'stream' || source === 'count' || source === 'catalog') && this.stopping;
    if (!consequence) this.errors[source] ??= err instanceof Error ? err : new Error(String(err));
    this.stop();
  };

  /** The error to report, or undefined when nothing failed and nothing stopped the run. */
  cause(): Error | undefined {
    const { errors } = this;
    const cause = errors.abandoned ?? errors.pg_dump ?? errors.zstd ?? errors.count ?? errors.catalog ?? errors.upload ?? errors.stream;
    return cause ?? (this.stopping ? new DumpError('dump stopped for an unknown reason') : undefined);
  }
}

/** What a format's producer needs: the run, the exported snapshot and what it needs to store. */
interface ProducerInput {
  readonly deps: DumpDeps;
  readonly run: RunControl;
  readonly snapshot: string;
  readonly plan: CompressionPlan;
  readonly keys: BackupKeys;
  /** Resolves when the counts are done (or failed: the run then says so). */
  readonly counted: Promise<void>;
  /** Keys stored so far that a failure leaves behind without a manifest. */
  readonly leftBehind: string[];
}

/** pg_dump's stdout buffer for the custom format (see `StartOptions.stdoutBufferBytes`). */
export const PG_DUMP_STDOUT_BUFFER = 1024 * 1024;

/**
 * Custom format: pg_dump -Fc -> (zstd) -> SHA-256 + byte counter -> one multipart upload. The
 * object becomes visible only if nothing failed: pg_dump and zstd exited 0 (the stored bytes end
 * only then), the counts are done, and the run was not abandoned. pg_dump starts before the first
 * await. The last tool writes into `staged` (shared/staged-output.ts: read into reused buffers,
 * hashed and counted there) instead of a pipe Node reads into a new buffer per read.
 */
async function dumpCustom(input: ProducerInput, staged: StagedOutput): Promise<{ dump: CustomDump; uncompressedBytes?: number }> {
  const { deps, run, snapshot, plan, keys } = input;
  const { store, connection, pgBin, log } = deps;
  const dumpArgs = ['--format=custom', ...plan.pgDumpArgs, `--snapshot=${snapshot}`, '--no-password'];
  // zstd-stream: pg_dump writes straight into zstd's stdin (one pipe between the two processes);
  // Node reads only the compressed bytes. zstd starts first so pg_dump can be given its stdin.
  const compressor = plan.zstd ? startCompressor(plan.zstd, plan.info.level, staged.childEnd) : undefined;
  // pg_dump's archive leaves through a 1 MiB stdout buffer instead of 4 KiB writes (1/256 of the
  // write calls, and of zstd's reads): ~0.7 CPU-s less for the two on the bench's 784 MiB archive.
  const dump = startTool(pgBin, 'pg_dump', dumpArgs, {
    connection,
    stdoutBufferBytes: PG_DUMP_STDOUT_BUFFER,
    ...(compressor ? { stdoutTo: compressor } : { stdoutSocket: staged.childEnd }),
  });
  run.onStop(() => {
    run.killedByUs.pg_dump = killTool(dump);
    run.killedByUs.zstd = killTool(compressor);
    staged.fail(new Error('dump stopped'));
  });
  staged.onReadError(run.failed('stream'));
  const producers: Promise<unknown>[] = [
    expectSuccess(dump).catch(async (err) => {
      // pg_dump failing with zstd behind it: zstd either ends on the end of its input, or it
      // failed first (pg_dump then only reports the broken pipe; zstd's failure is the cause).
      if (compressor && (await compressor.exited).code !== 0) throw err;
      run.failed('pg_dump')(err);
      throw err;
    }),
  ];
  let summary: ReturnType<typeof zstdSummary>;
  if (compressor) {
    producers.push(
      expectSuccess(compressor).then(
        (exit) => (summary = zstdSummary(exit.stderr)),
        (err) => { run.failed('zstd')(err); throw err; },
      ),
    );
  }
  const gate = Promise.all(producers).then(() => undefined);
  gate.catch(() => undefined);
  staged.holdEndUntil(gate);
  const beforeComplete = async () => {
    await input.counted;
    if (run.stopping) throw new DumpError('dump stopped before completion');
  };
  const uploading = store.uploadStream(keys.dump, staged, 'application/octet-stream', { beforeComplete }).catch(run.failed('upload'));
  await Promise.allSettled([uploading, input.counted, gate]);
  const cause = run.cause();
  if (cause) throw cause;
  // The archive's size, from zstd's own count, trusted only when its output count is exactly
  // what we stored.
  let uncompressedBytes: number | undefined;
  if (compressor) {
    if (summary && summary.outBytes === staged.bytes) uncompressedBytes = summary.inBytes;
    else log.warn('dump: zstd reported no byte counts matching the stored object; uncompressedBytes left out of the manifest', { key: keys.dump, zstdSummary: summary, bytes: staged.bytes });
  }
  const dumped: CustomDump = {
    bucket: store.bucket,
    key: keys.dump,
    bytes: staged.bytes,
    ...(uncompressedBytes !== undefined ? { uncompressedBytes } : {}),
    sha256: staged.hash.digest('hex'),
    format: 'custom',
    compression: plan.info,
  };
  return { dump: dumped, uncompressedBytes };
}

/**
 * Directory format: `pg_dump -Fd --jobs N -f <workDir>/pgdr-dump-<random>.dir` while the counts
 * run; once pg_dump exited 0 and the counts are done, every file is uploaded (shared/directory-archive.ts)
 * and deleted. The directory is always removed. pg_dump starts before the first await.
 */
async function dumpDirectory(input: ProducerInput, workDir: string, jobs: number): Promise<{ dump: DirectoryDump; uncompressedBytes?: number }> {
  const { deps, run, snapshot, plan, keys } = input;
  const { store, connection, pgBin } = deps;
  const dir = join(workDir, dumpDirName());
  const uploader = new DirectoryUploader({
    store,
    dir,
    prefix: keys.directory,
    plan,
    concurrency: jobs,
    signal: run.halt.signal,
    onStored: (file) => input.leftBehind.push(file.key),
    onError: run.failed('upload'),
  });
  const suffix = dataFileSuffix(plan);
  // --verbose: in parallel mode pg_dump reports each finished item, so finished data files are uploaded while it runs.
  const onStderrLine = (line: string) => {
    const finished = finishedTableData(line);
    const name = finished ? `${finished.dumpId}.dat${suffix}` : undefined;
    if (name && existsSync(join(dir, name))) uploader.add(name);
  };
  const dump = startTool(pgBin, 'pg_dump', ['--format=directory', `--jobs=${jobs}`, '--verbose', ...plan.pgDumpArgs, `--snapshot=${snapshot}`, '--no-password', `--file=${dir}`], { connection, onStderrLine });
  // SIGTERM, not SIGKILL: pg_dump's leader passes it on to its worker processes before it exits
  // (a SIGKILLed leader would leave them running).
  run.onStop(() => {
    const running = dump.child.exitCode === null && dump.child.signalCode === null;
    if (running) dump.child.kill('SIGTERM');
    run.killedByUs.pg_dump = running;
  });
  try {
    await Promise.allSettled([expectSuccess(dump).catch(run.failed('pg_dump')), input.counted]);
    let cause = run.cause();
    if (cause) throw cause;
    const files = await uploader.finish().catch((err: Error) => {
      run.failed('upload')(err);
      return undefined;
    });
    cause = run.cause();
    if (cause || !files) throw cause ?? new DumpError('upload stopped');
    const dumped = directoryDump(store.bucket, keys.directory, plan, jobs, files);
    return { dump: dumped, uncompressedBytes: dumped.uncompressedBytes };
  } finally {
    await uploader.settle();
    await rm(dir, { recursive: true, force: true }).catch((err: Error) => deps.log.warn('dump: removing the work directory failed', { dir, error: err.message }));
  }
}

/** Runs one dump; returns the manifest written next to it. */
export async function runDump(deps: DumpDeps, request: DumpRequest): Promise<BackupManifest> {
  const { store, connection, pgBin, metrics, log, clock } = deps;
  const { database, backupClass } = request;
  const format = deps.format ?? 'custom';
  const startedAt = clock.now();
  const context = { database, backupClass, server: describe(connection), format };
  // The session whose transaction exports the snapshot, and the one that counts in it.
  let session: Client | undefined;
  let counter: Client | undefined;
  let counterClosed: Promise<void> | undefined;
  let onAbort: (() => void) | undefined;
  const run = new RunControl();
  const leftBehind: string[] = [];
  let storedAt = '';
  let stagedOpening: Promise<StagedOutput> | undefined;
  try {
    assertName(database, 'database name');
    assertName(backupClass, 'backup class name');
    if (format !== 'custom' && format !== 'directory') throw new DumpError(`format must be "custom" or "directory" (received ${JSON.stringify(format)})`);
    const jobs = deps.jobs ?? availableParallelism();
    if (!Number.isInteger(jobs) || jobs < 1 || jobs > 64) throw new DumpError(`jobs must be an integer from 1 to 64 (received ${JSON.stringify(deps.jobs)})`);
    if (format === 'directory' && !deps.workDir) throw new DumpError('the directory format needs a work directory (workDir, PGDR_WORK_DIR) for pg_dump to write into');
    const keys = backupKeys(database, backupClass, startedAt);
    storedAt = format === 'directory' ? keys.directory : keys.dump;
    log.info('dump starting', { ...context, key: storedAt, ...(format === 'directory' ? { jobs } : {}) });

    // pg_dump's version (a process of its own) while the session connects; so is the socket
    // pair the custom format's stored bytes come through.
    const versionRead = toolVersion(pgBin, 'pg_dump');
    versionRead.catch(() => undefined);
    stagedOpening = format === 'custom' ? StagedOutput.open() : undefined;
    stagedOpening?.catch(() => undefined);
    session = await connectClient(connection);
    const pgDump = await versionRead;
    const serverRow = (await session.query<{ v: string; n: string }>(`SELECT current_setting('server_version') AS v, current_setting('server_version_num') AS n`)).rows[0];
    const server = { version: serverRow.v, versionNum: Number(serverRow.n) };
    const serverMajor = Math.floor(server.versionNum / 10000);
    if (pgDump.major < serverMajor) {
      throw new DumpError(
        `pg_dump ${pgDump.version} (major ${pgDump.major}) cannot dump PostgreSQL ${server.version} (major ${serverMajor}): ` +
          `pg_dump must be of the server's major version or newer; deploy the PostgreSQL ${serverMajor} client tools layer`,
      );
    }
    const locale = await readDatabaseLocale(session, server.versionNum);
    const plan = planCompression(deps.compression ?? 'auto', pgDump.major, pgBin);
    const staged = await stagedOpening;

    await session.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const snapshot = (await session.query<{ id: string }>('SELECT pg_export_snapshot() AS id')).rows[0].id;
    // The roles the database needs and who owns/was granted what, in the dump's snapshot (this
    // session's transaction exported it): a few catalog queries, run while pg_dump starts. Like
    // the counts, the upload completes only once they are read; a failure stops pg_dump and
    // aborts the upload, so it leaves nothing behind.
    let needs: Awaited<ReturnType<typeof readRolesAndPrivileges>> | undefined;
    const needsRead = readRolesAndPrivileges(session).then(
      (read) => void (needs = read),
      (err: Error) => run.failed('catalog')(new DumpError(`reading the roles and privileges in the dump's snapshot failed: ${err.message.split('\n')[0]}`)),
    );

    const dumpStarted = clock.now();
    // Settles with the counting, which starts just below, after pg_dump.
    let countingStarted: (counting: Promise<void>) => void = () => undefined;
    const counted = new Promise<void>((resolve) => (countingStarted = resolve));
    const input: ProducerInput = { deps, run, snapshot, plan, keys, counted, leftBehind };
    // pg_dump starts synchronously in the producer (before its first await), then the counting.
    // (`staged` is opened exactly when the format is custom.)
    const producing = format === 'directory' ? dumpDirectory(input, deps.workDir!, jobs) : dumpCustom(input, staged!);
    producing.catch(() => undefined);

    const countStarted = clock.now();
    let counts: { rows: Record<string, number>; objects: ObjectCounts; seconds: number } | undefined;
    run.onStop(() => void counter?.end().catch(() => undefined));
    const counting = (async () => {
      counter = await connectClient(connection);
      const { rows, objects } = await snapshotCounts(counter, snapshot, run.halt.signal);
      counts = { rows, objects, seconds: seconds(countStarted, clock.now()) };
      // Its session is done: it closes while the dump goes on.
      counterClosed = counter.end().catch(() => undefined);
    })().catch((err) => run.failed('count')(new DumpError(`counting rows in the dump's snapshot failed: ${(err as Error).message}`)));
    // The upload completes once the counts and the roles are read.
    countingStarted(Promise.all([counting, needsRead]).then(() => undefined));

    // Abandoning stops everything started above; a signal that aborted earlier does so at once.
    const { signal } = request;
    if (signal) {
      onAbort = () => {
        run.failed('abandoned')(new DumpError(`${abortReason(signal)} after ${seconds(startedAt, clock.now())} s; dump abandoned`));
      };
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    }

    const produced = await producing;
    await Promise.all([counting, needsRead]);
    if (!counts || !needs) throw run.cause() ?? new DumpError('dump stopped for an unknown reason');
    const dumpFinished = clock.now();
    const { uncompressedBytes } = produced;
    // The snapshot's transaction is NOT committed here: it is READ ONLY and only kept the
    // snapshot importable. pg_dump exited 0 and every counting transaction committed, so both
    // imported it while it was valid (an import after the exporter is gone fails, and so would
    // they): dump and counts are consistent whatever becomes of that session now. A COMMIT that
    // fails at this point (the session cut by the server or the network) would change no data but
    // turn a good, uploaded dump into a failure with no manifest. `finally` rolls it back and
    // closes it, ignoring errors.

    const globals = await storeGlobals(store, keys.globals, needs.roles);
    const finishedAt = clock.now();
    const manifest: BackupManifest = {
      schemaVersion: format === 'directory' ? DIRECTORY_MANIFEST_SCHEMA_VERSION : MANIFEST_SCHEMA_VERSION,
      database,
      backupClass,
      sourceDatabase: connection.dbname,
      dump: produced.dump,
      startedAt: startedAt.toISOString(),
      finishedAt: finishedAt.toISOString(),
      durations: { totalSeconds: seconds(startedAt, finishedAt), dumpSeconds: seconds(dumpStarted, dumpFinished), countSeconds: counts.seconds },
      server,
      pgDump,
      rowCounts: counts.rows,
      objectCounts: counts.objects,
      locale,
      globals,
      privileges: needs.privileges,
    };
    try {
      await store.putText(keys.manifest, `${JSON.stringify(manifest, null, 2)}\n`, { ifNoneMatch: true });
    } catch (err) {
      // The one step after the upload. The job may not delete (the vault is write-once), so say
      // what is left behind.
      const left = format === 'directory' ? `the ${produced.dump.format === 'directory' ? produced.dump.files.length : 0} files under ${storedAt} are` : `${keys.dump} is`;
      throw new DumpError(
        `writing the manifest ${keys.manifest} failed after the dump was uploaded (${left} left without a manifest; ` +
          `nothing verifies or restores it): ${(err as Error).message ?? String(err)}`,
        { cause: err },
      );
    }

    metrics.add('BackupSucceeded', 1, 'Count');
    metrics.add('BackupBytes', manifest.dump.bytes, 'Bytes');
    metrics.add('BackupSeconds', manifest.durations.totalSeconds, 'Seconds');
    if (uncompressedBytes !== undefined && manifest.dump.bytes > 0) metrics.add('CompressionRatio', Math.round((uncompressedBytes / manifest.dump.bytes) * 1000) / 1000, 'None');
    log.info('dump succeeded', {
      ...context,
      key: storedAt,
      manifestKey: keys.manifest,
      bytes: manifest.dump.bytes,
      uncompressedBytes: manifest.dump.uncompressedBytes,
      seconds: manifest.durations.totalSeconds,
      compression: plan.info.method,
      tables: Object.keys(counts.rows).length,
      ...(manifest.dump.format === 'directory' ? { files: manifest.dump.files.length, jobs: manifest.dump.jobs } : {}),
    });
    return manifest;
  } catch (err) {
    run.stop();
    let error = err instanceof DumpError ? err : new DumpError((err as Error).message ?? String(err), { cause: err });
    if (leftBehind.length > 0 && !/left without a manifest/.test(error.message)) {
      // Directory format: the files stored before the failure stay (the job may not delete in the vault).
      error = new DumpError(
        `${error.message} (${leftBehind.length} files already stored under ${storedAt} are left without a manifest; nothing verifies or restores them, ` +
          'and the vault\'s lifecycle rules expire them)',
        { cause: err },
      );
    }
    reportFailure(metrics, log, 'BackupFailed', 'dump failed', { ...context, seconds: seconds(startedAt, clock.now()) }, error);
    throw error;
  } finally {
    if (onAbort) request.signal?.removeEventListener('abort', onAbort);
    // Whatever became of the run, the pair is closed (reading it to its end closed it already).
    void stagedOpening?.then((staged) => staged.close(), () => undefined);
    metrics.flush();
    const exporter = session;
    await Promise.all([
      counterClosed ?? counter?.end().catch(() => undefined),
      exporter &&
        (async () => {
          await exporter.query('ROLLBACK').catch(() => undefined);
          await exporter.end().catch(() => undefined);
        })(),
    ]);
  }
}
