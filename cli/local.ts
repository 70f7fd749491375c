/**
 * The local runner's environment: the same dump and verify cores as the Lambda handlers, wired
 * to an in-process s3rver whose data lives under `.pgdr/s3` in the project (PGDR_LOCAL_DIR
 * overrides `.pgdr`), so later commands see earlier backups. SSE-KMS is left off (s3rver does
 * not emulate KMS); everything else (multipart upload, checksums, records) is the real path.
 * The server starts at the store's first use (cli/lazy-store.ts).
 */
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import { emfMetrics } from '../lambda/shared/metrics';
import { streamLog } from '../lambda/shared/logging';
import { LogPort, MetricsFactory, ObjectStore, silentLog, systemClock } from '../lambda/shared/ports';
import { runDump } from '../lambda/dump/core';
import { RestoreServer, runVerify, VerificationPolicy } from '../lambda/verify/core';
import { startEphemeralServer } from '../lambda/shared/ephemeral-server';
import { DatabaseConfig, DumpFormat, fargateDumpJobs, verificationModeOf, VerifyMode } from '../lib/config';
import { manifestKeyOf } from '../lambda/shared/layout';
import type { ConnectionInfo } from '../lambda/shared/connection';
import type { CompressionSetting } from '../lambda/shared/compression';
import type { BackupManifest, VerificationRecord } from '../lambda/shared/records';
import { findOnPath } from '../lambda/shared/pg-process';
import { memoryBackedDir, restoreJobsFor } from '../lambda/shared/restore-mode';
import type { LocalS3 } from './local-s3';
import { lazyStore } from './lazy-store';
import { CliError } from './errors';

export const LOCAL_BUCKET = 'pgdr-local';

export interface LocalEnv {
  /** Where the local S3 server keeps its objects. */
  readonly directory: string;
  readonly store: ObjectStore;
  readonly pgBin: string;
  readonly log: LogPort;
  readonly metrics: MetricsFactory;
  close(): Promise<void>;
}

/** Where the PostgreSQL client tools are: --pg-bin, PGDR_PG_BIN, the newest /usr/lib/postgresql/N/bin, or PATH. */
export function findPgBin(explicit?: string): string {
  const chosen = explicit ?? process.env.PGDR_PG_BIN;
  if (chosen) {
    if (!existsSync(join(chosen, 'pg_dump'))) throw new CliError(`no pg_dump in ${chosen} (--pg-bin / PGDR_PG_BIN)`);
    return chosen;
  }
  const debian = newestDebianBin('pg_dump');
  if (debian) return debian;
  const onPath = findOnPath('pg_dump');
  if (onPath) return onPath.slice(0, -'/pg_dump'.length);
  throw new CliError('cannot find pg_dump: install the PostgreSQL client tools or pass --pg-bin DIR');
}

/** The newest Debian `/usr/lib/postgresql/<major>/bin` that holds `tool`, if any. */
export function newestDebianBin(tool: string): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const majors = readdirSync(root).filter((d) => /^\d+$/.test(d) && existsSync(join(root, d, 'bin', tool)));
  return majors.length > 0 ? join(root, String(Math.max(...majors.map(Number))), 'bin') : undefined;
}

const discard = () => new Writable({ write: (_c, _e, cb) => cb() });

/** Logs "part uploaded" (key, part number) after each multipart part: progress for --verbose. */
function logUploadedParts(client: S3Client, log: LogPort): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const out = await next(args);
      if (context.commandName === 'UploadPartCommand') {
        const input = args.input as { Key?: string; PartNumber?: number };
        log.info('part uploaded', { key: input.Key, partNumber: input.PartNumber });
      }
      return out;
    },
    { step: 'initialize', name: 'pgdrProgress' },
  );
}

/** A LogPort that passes every message and string attribute through `redact` first. */
export function redactingLog(inner: LogPort, redact: (text: string) => string): LogPort {
  const clean = (value: unknown): unknown =>
    typeof value === 'string'
      ? redact(value)
      : Array.isArray(value)
        ? value.map(clean)
        : value && typeof value === 'object'
          ? Object.fromEntries(Object.entries(value).map(([k, v]) => [k, clean(v)]))
          : value;
  const wrap = (write: LogPort['info']): LogPort['info'] => (message, attributes) =>
    write(redact(message), attributes && (clean(attributes) as Record<string, unknown>));
  return { info: wrap(inner.info), warn: wrap(inner.warn), error: wrap(inner.error) };
}

/** The local working directory: PGDR_LOCAL_DIR, else `.pgdr` in the current directory. */
export function localRoot(): string {
  return process.env.PGDR_LOCAL_DIR ?? join(process.cwd(), '.pgdr');
}

export async function openLocalEnv(options: { pgBin?: string; verbose?: boolean; redact: (text: string) => string }): Promise<LocalEnv> {
  const pgBin = findPgBin(options.pgBin);
  const directory = join(localRoot(), 's3');
  const verbose = options.verbose === true;
  const log = verbose ? redactingLog(streamLog(process.stderr), options.redact) : silentLog;
  let server: Promise<{ s3: LocalS3; client: S3Client; store: ObjectStore }> | undefined;
  const startServer = async () => {
    // Loaded here, at the first use (kept lazy in the bundle, scripts/build-cli.ts).
    /* eslint-disable @typescript-eslint/no-require-imports */
    const { startLocalS3 } = require('./local-s3') as typeof import('./local-s3');
    const { S3ObjectStore } = require('../lambda/shared/s3-store') as typeof import('../lambda/shared/s3-store');
    /* eslint-enable @typescript-eslint/no-require-imports */
    const s3 = await startLocalS3({ directory, buckets: [LOCAL_BUCKET] });
    const client = s3.client();
    if (verbose) logUploadedParts(client, log);
    return { s3, client, store: new S3ObjectStore(client, LOCAL_BUCKET, { partSize: 8 * 1024 * 1024 }) };
  };
  // lazyStore opens once: `server` is set at the first use and only read by `close`.
  const store = lazyStore(LOCAL_BUCKET, async () => (await (server = startServer())).store);
  return {
    directory,
    store,
    pgBin,
    log,
    metrics: (database, backupClass) => emfMetrics(database, backupClass, verbose ? process.stderr : discard()),
    close: async () => {
      // Nothing to stop when no job used the store, or the server failed to start; one still starting is waited for.
      const started = await server?.catch(() => undefined);
      if (!started) return;
      started.client.destroy();
      await started.s3.stop();
    },
  };
}

/**
 * How a database's jobs run, from its configuration (the same settings its deployed jobs get):
 * the dump format and pg_dump --jobs (a Fargate database dumps in its `runner.dumpFormat`,
 * directory by default, with one job per vCPU), and where restore tests run
 * (`verificationModeOf`: `ephemeral` starts a throw-away server on this machine). A name that is
 * not configured: custom format, restore tests on the given server.
 */
export interface LocalJobSettings {
  readonly format: DumpFormat;
  readonly dumpJobs?: number;
  readonly verifyMode: VerifyMode;
}

export function localJobSettings(db: DatabaseConfig | undefined): LocalJobSettings {
  if (!db) return { format: 'custom', verifyMode: 'source' };
  const verifyMode = verificationModeOf(db);
  if (db.runner.type !== 'fargate') return { format: 'custom', verifyMode };
  return { format: db.runner.dumpFormat, ...(db.runner.dumpFormat === 'directory' ? { dumpJobs: fargateDumpJobs(db.runner) } : {}), verifyMode };
}

/**
 * A work directory for one local job (the directory dump's files, the restore test's download and
 * its ephemeral server), in the system temp dir and traversable by the `postgres` OS user (who runs
 * an ephemeral server when pgdr runs as root); removed by `dispose`.
 */
function jobWorkDir(): { dir: string; dispose(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'pgdr-job-'));
  chmodSync(dir, 0o755);
  return { dir, dispose: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The dump core of the Lambda, run on this machine into the local vault, as `settings` say. */
export async function localBackup(
  env: LocalEnv,
  job: { database: string; backupClass: string; connection: ConnectionInfo; compression?: CompressionSetting; signal?: AbortSignal; settings?: LocalJobSettings },
): Promise<BackupManifest> {
  const format = job.settings?.format ?? 'custom';
  const work = format === 'directory' ? jobWorkDir() : undefined;
  try {
    return await runDump(
      {
        store: env.store,
        connection: job.connection,
        pgBin: env.pgBin,
        compression: job.compression ?? 'auto',
        format,
        ...(job.settings?.dumpJobs ? { jobs: job.settings.dumpJobs } : {}),
        ...(work ? { workDir: work.dir } : {}),
        metrics: env.metrics(job.database, job.backupClass),
        log: env.log,
        clock: systemClock,
      },
      { database: job.database, backupClass: job.backupClass, signal: job.signal },
    );
  } finally {
    work?.dispose();
  }
}

/**
 * The verify core of the Lambda (integrity and restore test), run on this machine against the
 * local vault: the scratch database goes to `connection` (kind source/verify), or, when `settings`
 * say `ephemeral`, to a throw-away server started on this machine for the test (no connection
 * needed). The restore test runs `pg_restore --jobs N` from a file in a work directory
 * (shared/restore-mode.ts `restoreJobsFor`: one more than this machine's cores when the server
 * runs here, else 2).
 */
export async function localVerify(
  env: LocalEnv,
  job: { database: string; connection?: ConnectionInfo; kind: 'verify' | 'source'; smokeQueries: VerificationPolicy['smokeQueries']; key?: string; settings?: LocalJobSettings; signal?: AbortSignal },
): Promise<VerificationRecord> {
  const manifestKey = job.key === undefined ? undefined : (manifestKeyOf(job.key) ?? job.key);
  const work = jobWorkDir();
  try {
    let restoreServer: RestoreServer;
    if (job.settings?.verifyMode === 'ephemeral') {
      restoreServer = { kind: 'ephemeral', start: () => startEphemeralServer({ bin: env.pgBin, workDir: work.dir }) };
    } else if (job.connection) {
      restoreServer = { connection: job.connection, kind: job.kind };
    } else {
      throw new CliError('verify --local needs --verify-url or --source-url: the server that hosts the scratch database of the restore test (or verification.mode "ephemeral")', 2);
    }
    return await runVerify(
      {
        store: env.store,
        restoreServer,
        pgBin: env.pgBin,
        workDir: work.dir,
        // The archive in memory when it fits (a /dev/shm tmpfs): it never goes to disk.
        memoryDir: await memoryBackedDir(),
        jobs: restoreJobsFor(restoreServer),
        policy: { restoreTestEveryNth: 1, smokeQueries: job.smokeQueries },
        metrics: env.metrics,
        log: env.log,
        clock: systemClock,
      },
      { database: job.database, ...(manifestKey ? { manifestKey } : {}), restoreTest: true, signal: job.signal },
    );
  } finally {
    work.dispose();
  }
}
