/**
 * The dump job's core: one consistent, verified-on-write dump of one database into the bucket.
 *
 *   1. check pg_dump's major version against the server's (pg_dump refuses newer servers);
 *   2. open a REPEATABLE READ READ ONLY transaction and export its snapshot;
 *   3. run `pg_dump -Fc --snapshot=<it>` and, at the same time, count rows per table and
 *      objects in that same snapshot, so the counts are exactly what the dump holds (on a second
 *      session, in short transactions that import the snapshot: catalog.ts `snapshotCounts`);
 *   4. stream pg_dump's stdout -> (zstd) -> SHA-256 + byte counter -> S3 multipart upload
 *      (no temp file; memory bounded by the upload's part buffers). With zstd, pg_dump writes
 *      into zstd's stdin directly (no byte of the uncompressed archive passes through Node: it
 *      would cost Node more CPU than pg_dump itself); the archive's size comes from zstd's
 *      closing summary (`uncompressedBytes`);
 *   5. only when pg_dump (and zstd) exited 0 and the upload completed, write the manifest.
 * Any failure kills the children, aborts the upload, writes no manifest, logs one structured
 * error, emits BackupFailed and throws a DumpError. The server's statement, lock, idle and
 * transaction timeouts do not apply to any of these sessions (shared/session-settings.ts).
 *
 * No AWS SDK here: the bucket, metrics and logs are ports; the clock is injected.
 */
import { createHash } from 'node:crypto';
import { Transform, TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Client } from 'pg';
import { backupKeys, assertName } from '../shared/layout';
import { ConnectionInfo, describe } from '../shared/connection';
import { connectClient } from '../shared/pg-client';
import { expectSuccess, RunningTool, startTool, toolVersion } from '../shared/pg-process';
import { CompressionSetting, planCompression, startCompressor, zstdSummary } from '../shared/compression';
import { snapshotCounts } from '../shared/catalog';
import { readRolesAndPrivileges, storeGlobals } from '../shared/globals';
import { BackupManifest, MANIFEST_SCHEMA_VERSION, ObjectCounts } from '../shared/records';
import { seconds } from '../shared/ports';
import type { Clock, LogPort, MetricsPort, ObjectStore } from '../shared/ports';
import { reportFailure } from '../shared/failure';
import { readDatabaseLocale } from '../shared/locale';

export interface DumpRequest {
  /** pgdr database name (S3 prefix, metric dimension). */
  readonly database: string;
  readonly backupClass: string;
  /**
   * Give up (and clean up) when this aborts: e.g. `deadlineSignal` shortly before the Lambda
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
}

/** The dump failed; the message says why (without secrets). */
export class DumpError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DumpError';
  }
}

/** Counts bytes and SHA-256 of what passes; holds back end-of-stream until `gate` resolves. */
class Digest extends Transform {
  readonly hash = createHash('sha256');
  bytes = 0;
  constructor(private readonly gate: Promise<void>) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    callback(null, chunk);
  }
  override _flush(callback: TransformCallback): void {
    this.gate.then(() => callback(), (err) => callback(err));
  }
}

/** Aborts `ms` milliseconds from now with the reason "deadline reached" (the timer does not keep the process alive). */
export function deadlineSignal(ms: number): AbortSignal {
  const controller = new AbortController();
  setTimeout(() => controller.abort(new DumpError('deadline reached')), Math.max(0, ms)).unref();
  return controller.signal;
}

/** SIGKILLs a running tool; true when it was still running (so its exit is our doing). */
function kill(tool: RunningTool | undefined): boolean {
  if (!tool || tool.child.exitCode !== null || tool.child.signalCode !== null) return false;
  tool.child.kill('SIGKILL');
  return true;
}

/** Runs one dump; returns the manifest written next to it. */
export async function runDump(deps: DumpDeps, request: DumpRequest): Promise<BackupManifest> {
  const { store, connection, pgBin, metrics, log, clock } = deps;
  const { database, backupClass } = request;
  const startedAt = clock.now();
  const context = { database, backupClass, server: describe(connection) };
  // The session whose transaction exports the snapshot, and the one that counts in it.
  let session: Client | undefined;
  let counter: Client | undefined;
  let dump: RunningTool | undefined;
  let zstd: RunningTool | undefined;
  let onAbort: (() => void) | undefined;
  try {
    assertName(database, 'database name');
    assertName(backupClass, 'backup class name');
    const keys = backupKeys(database, backupClass, startedAt);
    log.info('dump starting', { ...context, key: keys.dump });

    const pgDump = await toolVersion(pgBin, 'pg_dump');
    session = await connectClient(connection);
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

    await session.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const snapshot = (await session.query<{ id: string }>('SELECT pg_export_snapshot() AS id')).rows[0].id;
    // The roles the database needs and who owns/was granted what, in the dump's snapshot; read
    // before pg_dump starts (a few catalog queries), so a failure here leaves nothing behind.
    const needs = await readRolesAndPrivileges(session).catch((err: Error) => {
      throw new DumpError(`reading the roles and privileges in the dump's snapshot failed: ${err.message.split('\n')[0]}`);
    });

    // Any failure stops everything else. Which error is reported is decided by cause, not by
    // arrival: a pg_dump/zstd that we killed, or a stream we broke, only reports the consequence.
    const errors: Partial<Record<'abandoned' | 'pg_dump' | 'zstd' | 'count' | 'upload' | 'stream', Error>> = {};
    let stopping = false;
    const killedByUs = { pg_dump: false, zstd: false };
    const sink: { digest?: Digest } = {};
    // Stops the counting between batches; closing its session fails the count in progress at once.
    const halt = new AbortController();
    const stop = () => {
      if (stopping) return;
      stopping = true;
      killedByUs.pg_dump = kill(dump);
      killedByUs.zstd = kill(zstd);
      sink.digest?.destroy(new Error('dump stopped'));
      halt.abort(new DumpError('dump stopped'));
      counter?.end().catch(() => undefined);
    };
    const failed = (source: keyof typeof errors) => (err: unknown) => {
      const consequence = source === 'pg_dump' || source === 'zstd' ? killedByUs[source] : (source === 'stream' || source === 'count') && stopping;
      if (!consequence) errors[source] ??= err instanceof Error ? err : new Error(String(err));
      stop();
    };
    const dumpStarted = clock.now();
    const dumpArgs = ['--format=custom', ...plan.pgDumpArgs, `--snapshot=${snapshot}`, '--no-password'];
    // zstd-stream: pg_dump writes straight into zstd's stdin (one pipe between the two processes);
    // Node reads only the compressed bytes. zstd starts first so pg_dump can be given its stdin.
    if (plan.zstd) zstd = startCompressor(plan.zstd, plan.info.level);
    dump = startTool(pgBin, 'pg_dump', dumpArgs, { connection, ...(zstd ? { stdoutTo: zstd } : {}) });
    const compressor = zstd;
    const producers: Promise<unknown>[] = [
      expectSuccess(dump).catch(async (err) => {
        // pg_dump failing with zstd behind it: zstd either ends on the end of its input, or it
        // failed first (pg_dump then only reports the broken pipe; zstd's failure is the cause).
        if (compressor && (await compressor.exited).code !== 0) throw err;
        failed('pg_dump')(err);
        throw err;
      }),
    ];
    let summary: ReturnType<typeof zstdSummary>;
    if (compressor) {
      producers.push(
        expectSuccess(compressor).then(
          (exit) => (summary = zstdSummary(exit.stderr)),
          (err) => { failed('zstd')(err); throw err; },
        ),
      );
    }
    const stored = compressor ? compressor.stdout : dump.stdout;
    const gate = Promise.all(producers).then(() => undefined);
    gate.catch(() => undefined);
    const digest = new Digest(gate);
    sink.digest = digest;
    const piping = pipeline(stored, digest).catch(failed('stream'));

    const countStarted = clock.now();
    let counts: { rows: Record<string, number>; objects: ObjectCounts; seconds: number } | undefined;
    const counting = (async () => {
      counter = await connectClient(connection);
      const { rows, objects } = await snapshotCounts(counter, snapshot, halt.signal);
      counts = { rows, objects, seconds: seconds(countStarted, clock.now()) };
    })().catch((err) => failed('count')(new DumpError(`counting rows in the dump's snapshot failed: ${(err as Error).message}`)));

    // The object becomes visible only if nothing failed: pg_dump and zstd exited 0 (the digest
    // ends only then), the counts are done, and the run was not abandoned.
    const beforeComplete = async () => {
      await counting;
      if (stopping) throw new DumpError('dump stopped before completion');
    };
    const uploading = store.uploadStream(keys.dump, digest, 'application/octet-stream', { beforeComplete }).catch(failed('upload'));

    // Abandoning stops everything started above; a signal that aborted earlier does so at once.
    const { signal } = request;
    if (signal) {
      onAbort = () => {
        const why = signal.reason instanceof Error ? signal.reason.message : String(signal.reason ?? 'aborted');
        failed('abandoned')(new DumpError(`${why} after ${seconds(startedAt, clock.now())} s; dump abandoned`));
      };
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    }

    await Promise.allSettled([uploading, counting, gate, piping]);
    const cause = errors.abandoned ?? errors.pg_dump ?? errors.zstd ?? errors.count ?? errors.upload ?? errors.stream;
    if (cause || stopping || !counts) throw cause ?? new DumpError('dump stopped for an unknown reason');
    const dumpFinished = clock.now();
    // The archive's size, from zstd's own count, trusted only when its output count is exactly
    // what we stored.
    let uncompressedBytes: number | undefined;
    if (compressor) {
      if (summary && summary.outBytes === digest.bytes) uncompressedBytes = summary.inBytes;
      else log.warn('dump: zstd reported no byte counts matching the stored object; uncompressedBytes left out of the manifest', { ...context, zstdSummary: summary, bytes: digest.bytes });
    }
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
      schemaVersion: MANIFEST_SCHEMA_VERSION,
      database,
      backupClass,
      sourceDatabase: connection.dbname,
      dump: {
        bucket: store.bucket,
        key: keys.dump,
        bytes: digest.bytes,
        ...(uncompressedBytes !== undefined ? { uncompressedBytes } : {}),
        sha256: digest.hash.digest('hex'),
        format: 'custom',
        compression: plan.info,
      },
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
      throw new DumpError(
        `writing the manifest ${keys.manifest} failed after the dump was uploaded (${keys.dump} is left without a manifest; ` +
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
      key: keys.dump,
      manifestKey: keys.manifest,
      bytes: manifest.dump.bytes,
      uncompressedBytes: manifest.dump.uncompressedBytes,
      seconds: manifest.durations.totalSeconds,
      compression: plan.info.method,
      tables: Object.keys(counts.rows).length,
    });
    return manifest;
  } catch (err) {
    kill(dump);
    kill(zstd);
    const error = err instanceof DumpError ? err : new DumpError((err as Error).message ?? String(err), { cause: err });
    reportFailure(metrics, log, 'BackupFailed', 'dump failed', { ...context, seconds: seconds(startedAt, clock.now()) }, err);
    throw error;
  } finally {
    if (onAbort) request.signal?.removeEventListener('abort', onAbort);
    metrics.flush();
    await counter?.end().catch(() => undefined);
    if (session) {
      await session.query('ROLLBACK').catch(() => undefined);
      await session.end().catch(() => undefined);
    }
  }
}
