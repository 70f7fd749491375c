/**
 * Verify Lambda: one function per database.
 *
 * Contract with lib/verify-job.ts:
 *   events: (a) EventBridge S3 "Object Created" ({ detail: { bucket: { name }, object: { key } } })
 *               for a key ending `.manifest.json` -> verify that backup (restore test per policy);
 *               other keys are ignored;
 *           (b) scheduled { "restoreTest": true } -> verify the newest backup with a restore test.
 *   env:    PGDR_BUCKET, PGDR_KMS_KEY_ARN (SSE-KMS for the records it writes), PGDR_DATABASE,
 *           PGDR_VERIFY_MODE (optional: `source` | `server` | `ephemeral`, see shared/env.ts
 *           verifyModeFromEnv; @default server when PGDR_VERIFY_SECRET_ARN is set, else source),
 *           PGDR_SECRET_ARN (source server; scratch databases go there in `source` mode; not read
 *           in `ephemeral` mode), PGDR_VERIFY_SECRET_ARN (`server` mode: the verification server),
 *           PGDR_PG_SERVER_BIN (`ephemeral` mode: initdb/pg_ctl/postgres, @default PGDR_PG_BIN),
 *           PGDR_VERIFICATION (JSON {"restoreTestEveryNth":1,"smokeQueries":[{"name","sql","minRows"}]}),
 *           PGDR_PG_BIN (pg_restore, and zstd for zstd-stream dumps), PGDR_PG_SSLMODE and PGDR_PG_SSLROOTCERT (optional),
 *           PGDR_WORK_DIR (optional, @default /tmp: the ephemeral storage a restore test downloads
 *           the dump into for `pg_restore --jobs` when it has room), PGDR_RESTORE_JOBS (optional, @default 2),
 *           POWERTOOLS_METRICS_NAMESPACE=PgDr, POWERTOOLS_SERVICE_NAME.
 *   result: the verification record; throws when verification failed (after writing the record
 *           and emitting VerifyFailed) or could not run.
 *   calls:  secretsmanager:GetSecretValue (the restore server's secret; none in `ephemeral` mode); s3:GetObject on <database>/*,
 *           s3:ListBucket (prefix <database>/), s3:PutObject on <database>/*; kms:Decrypt (reading
 *           dumps) and kms:GenerateDataKey (writing records).
 *   needs:  `source`/`server`: the database user may CREATE DATABASE on the restore server (scratch
 *           databases). `ephemeral`: nothing on any database server; the server runs in
 *           PGDR_WORK_DIR as this process's user (as the postgres OS user when root).
 */
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { RestoreServer, runVerify } from './core';
import { parsePolicy } from './policy';
import { JobContext, jobSignal } from '../shared/job-signal';
import { ephemeralServerFromEnv, EnvError, optionalEnv, requireEnv, restoreFileSettingsFromEnv, tlsFromEnv, verifyModeFromEnv } from '../shared/env';
import { startEphemeralServer, stopLeftoverServers } from '../shared/ephemeral-server';
import { readConnectionSecret } from '../shared/secrets';
import { S3ObjectStore } from '../shared/s3-store';
import { removeLeftoverFiles } from '../shared/restore-mode';
import { emfMetricsFactory } from '../shared/metrics';
import { powertoolsLog } from '../shared/logging';
import { systemClock } from '../shared/ports';
import type { VerificationRecord } from '../shared/records';
import { parseManifestKey } from '../shared/layout';
import { reportFailure } from '../shared/failure';

export interface S3ObjectCreatedEvent {
  readonly 'detail-type'?: string;
  readonly detail: { readonly bucket: { readonly name: string }; readonly object: { readonly key: string } };
}
export interface RestoreTestEvent {
  readonly restoreTest: true;
}
export type VerifyEvent = S3ObjectCreatedEvent | RestoreTestEvent;

/** Verification ran and the backup failed it. */
export class VerificationFailedError extends Error {
  constructor(readonly record: VerificationRecord) {
    super(`backup ${record.dumpKey} failed verification: ${record.failures.join('; ')}`);
    this.name = 'VerificationFailedError';
  }
}

let s3: S3Client | undefined;
let secrets: SecretsManagerClient | undefined;
const log = powertoolsLog();

/**
 * `context`: Lambda's (30 s before the timeout) or the container entry's (SIGTERM: the task is
 * stopping): the verification stops, pg_restore is killed, the scratch database dropped, an
 * ephemeral server stopped, nothing recorded (VerifyError, VerifyFailed).
 */
export async function handler(event: VerifyEvent, context?: JobContext): Promise<VerificationRecord | { skipped: string }> {
  const database = requireEnv('PGDR_DATABASE');
  const bucket = requireEnv('PGDR_BUCKET');
  let manifestKey: string | undefined;
  let restoreTest: boolean | undefined;
  if (event && 'restoreTest' in event && event.restoreTest === true) {
    restoreTest = true;
  } else if (event && 'detail' in event && event.detail?.object?.key) {
    manifestKey = decodeURIComponent(event.detail.object.key.replace(/\+/g, ' '));
    if (event.detail.bucket?.name !== bucket) throw new EnvError(`event for bucket ${event.detail.bucket?.name}, this function verifies ${bucket}`);
    if (!manifestKey.endsWith('.manifest.json')) return { skipped: `${manifestKey} is not a manifest` };
  } else {
    throw new EnvError(`unexpected event ${JSON.stringify(event).slice(0, 200)}: expected an S3 Object Created event or {"restoreTest": true}`);
  }
  s3 ??= new S3Client({});
  // A run stopped at the Lambda timeout cannot remove its file (nor stop its ephemeral server); this environment's next invocation does.
  const files = restoreFileSettingsFromEnv();
  let restoreServer: RestoreServer;
  try {
    restoreServer = await restoreServerFromEnv(files.workDir);
  } catch (err) {
    // Could not even start: still a failed verification for the alarms.
    const metrics = emfMetricsFactory(database, (manifestKey && parseManifestKey(manifestKey)?.backupClass) || 'unknown');
    reportFailure(metrics, log, 'VerifyFailed', 'verification failed', { database, manifestKey }, err);
    metrics.flush();
    throw err;
  }
  await removeLeftoverFiles(files.workDir);
  if (restoreServer.kind === 'ephemeral') await stopLeftoverServers(files.workDir);
  const record = await runVerify(
    {
      store: new S3ObjectStore(s3, bucket, { kmsKeyId: requireEnv('PGDR_KMS_KEY_ARN') }),
      restoreServer,
      pgBin: requireEnv('PGDR_PG_BIN'),
      policy: parsePolicy(optionalEnv('PGDR_VERIFICATION')),
      ...files,
      metrics: emfMetricsFactory,
      log,
      clock: systemClock,
    },
    { database, manifestKey, restoreTest, signal: jobSignal(context) },
  );
  if (!record.ok) throw new VerificationFailedError(record);
  return record;
}

/** The restore server of PGDR_VERIFY_MODE: a secret's server, or a throw-away one in `workDir` (no secret read). */
async function restoreServerFromEnv(workDir: string): Promise<RestoreServer> {
  const mode = verifyModeFromEnv();
  if (mode === 'ephemeral') {
    const server = ephemeralServerFromEnv();
    return { kind: 'ephemeral', start: () => startEphemeralServer({ ...server, workDir }) };
  }
  secrets ??= new SecretsManagerClient({});
  const secretArn = mode === 'server' ? requireEnv('PGDR_VERIFY_SECRET_ARN') : requireEnv('PGDR_SECRET_ARN');
  return { kind: mode === 'server' ? 'verify' : 'source', connection: await readConnectionSecret(secrets, secretArn, tlsFromEnv()) };
}
