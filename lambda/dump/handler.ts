/**
 * Dump Lambda: one function per database, invoked by EventBridge Scheduler per backup class.
 *
 * Contract with lib/dump-job.ts:
 *   event: { "backupClass": "<class>" }
 *   env:   PGDR_BUCKET            backup bucket name
 *          PGDR_KMS_KEY_ARN       SSE-KMS key for PutObject / multipart uploads
 *          PGDR_DATABASE          pgdr database name (S3 prefix, metric dimension)
 *          PGDR_SECRET_ARN        secret JSON {host, port, dbname, username, password[, sslmode]}
 *          PGDR_PG_BIN            directory of pg_dump (and zstd); in Lambda /opt/bin (libs in /opt/lib)
 *          PGDR_COMPRESSION       optional: auto (default) | zstd-stream | pg_dump-zstd | pg_dump-gzip | none
 *          PGDR_DUMP_FORMAT       optional: custom (default: pg_dump -Fc, one object) | directory (pg_dump -Fd --jobs N, one object per file)
 *          PGDR_DUMP_JOBS         optional: pg_dump --jobs of the directory format (default: the CPUs available)
 *          PGDR_WORK_DIR          optional (default /tmp): where the directory format's pg_dump writes (room for the whole dump)
 *          PGDR_PG_SSLMODE        optional: sslmode when the secret has none (default prefer)
 *          PGDR_PG_SSLROOTCERT    optional: PEM file of the CAs verify-ca/verify-full trust, or "public" (default)
 *          POWERTOOLS_METRICS_NAMESPACE=PgDr, POWERTOOLS_SERVICE_NAME
 *   result: the manifest; throws on any failure (after aborting the upload and emitting BackupFailed).
 *   calls:  secretsmanager:GetSecretValue; s3:PutObject (incl. CreateMultipartUpload, UploadPart,
 *           CompleteMultipartUpload), s3:AbortMultipartUpload on <database>/*;
 *           kms:GenerateDataKey + kms:Decrypt on the bucket key (multipart SSE-KMS needs both).
 */
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DumpError, runDump } from './core';
import { JobContext, jobSignal } from '../shared/job-signal';
import { reportFailure } from '../shared/failure';
import { compressionFromEnv, dumpFormatFromEnv, EnvError, requireEnv, restoreFileSettingsFromEnv, tlsFromEnv } from '../shared/env';
import { removeLeftoverFiles } from '../shared/restore-mode';
import { readConnectionSecret } from '../shared/secrets';
import { S3ObjectStore } from '../shared/s3-store';
import { emfMetrics } from '../shared/metrics';
import { powertoolsLog } from '../shared/logging';
import { systemClock } from '../shared/ports';
import type { BackupManifest } from '../shared/records';

export interface DumpEvent {
  readonly backupClass: string;
}

let s3: S3Client | undefined;
let secrets: SecretsManagerClient | undefined;
const log = powertoolsLog();

/** `context`: Lambda's (30 s before the timeout) or the container entry's (SIGTERM: the task is stopping): the dump is abandoned (upload aborted, no manifest). */
export async function handler(event: DumpEvent, context?: JobContext): Promise<BackupManifest> {
  const database = requireEnv('PGDR_DATABASE');
  try {
    if (!event || typeof event.backupClass !== 'string') throw new EnvError(`event must be {"backupClass": "<class>"} (received ${JSON.stringify(event)})`);
    s3 ??= new S3Client({});
    secrets ??= new SecretsManagerClient({});
    const connection = await readConnectionSecret(secrets, requireEnv('PGDR_SECRET_ARN'), tlsFromEnv());
    // Leave 30 s to abort the upload and report before Lambda stops us.
    const signal = jobSignal(context);
    const { format, jobs } = dumpFormatFromEnv();
    const { workDir } = restoreFileSettingsFromEnv();
    // A run stopped at the Lambda timeout cannot remove its directory; the next one in the same environment does.
    if (format === 'directory') await removeLeftoverFiles(workDir);
    return await runDump(
      {
        store: new S3ObjectStore(s3, requireEnv('PGDR_BUCKET'), { kmsKeyId: requireEnv('PGDR_KMS_KEY_ARN') }),
        connection,
        pgBin: requireEnv('PGDR_PG_BIN'),
        compression: compressionFromEnv(),
        format,
        jobs,
        workDir,
        metrics: emfMetrics(database, event.backupClass),
        log,
        clock: systemClock,
      },
      { database, backupClass: event.backupClass, signal },
    );
  } catch (err) {
    // Failures before the core ran (secret, environment) still count as failed backups.
    if (!(err instanceof DumpError)) {
      const metrics = emfMetrics(database, event?.backupClass ?? 'unknown');
      reportFailure(metrics, log, 'BackupFailed', 'dump failed', { database, backupClass: event?.backupClass }, err);
      metrics.flush();
    }
    throw err;
  }
}
