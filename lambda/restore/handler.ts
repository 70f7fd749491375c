/**
 * Restore Lambda of the failover workflow (`dump` source): one function per stack, called by the
 * state machine once the new instance is `available`.
 *
 * Contract with the failover workflow (the construct comes with issue 6's workflow piece):
 *   event:  { "database": "<pgdr name>", "backupKey"?: manifest or dump key (default: the
 *             database's latest verified), "targetDatabase"?: name on the new server (default: the
 *             source's), "target": { "host", "port", "masterSecretArn" } (the new instance's
 *             endpoint and its RDS-managed master secret, which holds only username and password),
 *             "cutoverSecretArn"?: the application's secret (its `username` is the application
 *             login, its `password` the one it gets on the new server) }.
 *   env:    PGDR_BUCKET, PGDR_PG_BIN (pg_restore, zstd), PGDR_PG_SSLMODE / PGDR_PG_SSLROOTCERT
 *           (optional), PGDR_WORK_DIR (optional, @default /tmp: the ephemeral storage for the
 *           `--jobs` file mode), PGDR_RESTORE_JOBS (optional, @default 2), POWERTOOLS_SERVICE_NAME.
 *   result: the restore result (no secret in it); throws BackupKeyError (nothing created) or
 *           RestoreError (the new database may be partial: the workflow's cleanup deletes the
 *           instance), and when the counts differ from the manifest (RestoreMismatchError).
 *   calls:  secretsmanager:GetSecretValue (the two secrets); s3:GetObject on <database>/*;
 *           kms:Decrypt (dumps, and the secrets when customer-managed keys encrypt them).
 */
import { S3Client } from '@aws-sdk/client-s3';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { RestoreResult, runRestore } from './core';
import { EnvError, optionalEnv, requireEnv, tlsFromEnv } from '../shared/env';
import { ConnectionError, connectionFromSecret } from '../shared/connection';
import { S3ObjectStore } from '../shared/s3-store';
import { powertoolsLog } from '../shared/logging';
import { systemClock } from '../shared/ports';

export interface RestoreEvent {
  readonly database: string;
  readonly backupKey?: string;
  readonly targetDatabase?: string;
  readonly target: { readonly host: string; readonly port: number; readonly masterSecretArn: string };
  readonly cutoverSecretArn?: string;
}

/** The restore ran but the restored counts differ from the manifest: no cutover. */
export class RestoreMismatchError extends Error {
  constructor(readonly result: RestoreResult) {
    super(`restored ${result.targetDatabase} differs from the manifest ${result.manifestKey}: ${result.mismatches.map((m) => `${m.what} ${m.expected ?? 'none'} != ${m.actual ?? 'none'}`).join('; ')}`);
    this.name = 'RestoreMismatchError';
  }
}

let s3: S3Client | undefined;
let secrets: SecretsManagerClient | undefined;
const log = powertoolsLog();

async function secretJson(client: SecretsManagerClient, secretId: string): Promise<Record<string, unknown>> {
  let text: string | undefined;
  try {
    text = (await client.send(new GetSecretValueCommand({ SecretId: secretId }))).SecretString;
  } catch (err) {
    throw new ConnectionError(`cannot read secret ${secretId}: ${(err as Error).name}: ${(err as Error).message}`);
  }
  try {
    const doc: unknown = JSON.parse(text ?? '');
    if (doc && typeof doc === 'object') return doc as Record<string, unknown>;
  } catch {
    // the same message below, without the text
  }
  throw new ConnectionError(`secret ${secretId} is not a JSON object`);
}

export async function handler(event: RestoreEvent): Promise<RestoreResult> {
  if (!event || typeof event.database !== 'string' || !event.target || typeof event.target.host !== 'string' || typeof event.target.masterSecretArn !== 'string') {
    throw new EnvError('expected {"database", "target": {"host", "port", "masterSecretArn"}, "backupKey"?, "targetDatabase"?, "cutoverSecretArn"?}');
  }
  s3 ??= new S3Client({});
  secrets ??= new SecretsManagerClient({});
  const master = await secretJson(secrets, event.target.masterSecretArn);
  const target = connectionFromSecret(JSON.stringify({ ...master, host: event.target.host, port: event.target.port, dbname: 'postgres' }), event.target.masterSecretArn, tlsFromEnv());
  let appLogin: { role: string; password: string } | undefined;
  if (event.cutoverSecretArn) {
    const app = await secretJson(secrets, event.cutoverSecretArn);
    if (typeof app.username !== 'string' || typeof app.password !== 'string' || !app.username || !app.password) throw new ConnectionError(`secret ${event.cutoverSecretArn} lacks username or password`);
    appLogin = { role: app.username, password: app.password };
  }
  const jobs = Number(optionalEnv('PGDR_RESTORE_JOBS') ?? '2');
  if (!Number.isInteger(jobs) || jobs < 1 || jobs > 16) throw new EnvError(`PGDR_RESTORE_JOBS must be 1-16 (received ${JSON.stringify(optionalEnv('PGDR_RESTORE_JOBS'))})`);
  const result = await runRestore(
    {
      store: new S3ObjectStore(s3, requireEnv('PGDR_BUCKET')),
      target,
      pgBin: requireEnv('PGDR_PG_BIN'),
      log,
      clock: systemClock,
      workDir: optionalEnv('PGDR_WORK_DIR') ?? '/tmp',
      jobs,
    },
    { database: event.database, backupKey: event.backupKey, targetDatabase: event.targetDatabase, appLogin },
  );
  if (!result.ok) throw new RestoreMismatchError(result);
  return result;
}
