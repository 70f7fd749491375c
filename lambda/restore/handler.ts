/**
 * Restore Lambda of the failover workflow (`dump` source): one function per stack, called by the
 * state machine once the new instance is `available`. `makeHandler(deps)` wires the core to any
 * adapters (tests and the local state-machine harness); `handler` is the Lambda with the real ones,
 * created on first call from the environment.
 *
 * Contract with the failover workflow (the construct comes with issue 6's workflow piece):
 *   event:  { "database": "<pgdr name>", "backupKey"?: manifest or dump key (default: the
 *             database's latest verified), "targetDatabase"?: name on the new server (default: the
 *             source's), "target": { "host", "port", "masterSecretArn" } (the new instance's
 *             endpoint and its RDS-managed master secret, which holds only username and password),
 *             "cutoverSecretArn"?: the application's secret (its `username` is the application
 *             login, its `password` the one it gets on the new server); null counts as absent (the
 *             state machine's JSONPath cannot omit a key) }.
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
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { RestoreResult, runRestore } from './core';
import { EnvError, requireEnv, restoreFileSettingsFromEnv, tlsFromEnv } from '../shared/env';
import { removeLeftoverFiles } from '../shared/restore-mode';
import { ConnectionError, connectionFromSecret, TlsDefaults } from '../shared/connection';
import { S3ObjectStore } from '../shared/s3-store';
import { powertoolsLog } from '../shared/logging';
import { secretsManagerReader } from '../shared/secrets';
import { Clock, LogPort, ObjectStore, SecretReader, systemClock } from '../shared/ports';

export interface RestoreEvent {
  readonly database: string;
  readonly backupKey?: string | null;
  readonly targetDatabase?: string | null;
  readonly target: { readonly host: string; readonly port: number; readonly masterSecretArn: string };
  /** null: absent. */
  readonly cutoverSecretArn?: string | null;
}

/** What the restore handler talks to. */
export interface RestoreHandlerDeps {
  readonly store: ObjectStore;
  readonly secrets: SecretReader;
  /** TLS for the connections to the new instance, where the master secret names none. */
  readonly tls: TlsDefaults;
  /** Directory of pg_restore (and zstd). */
  readonly pgBin: string;
  /** Ephemeral directory for the `--jobs` file mode; absent: always stream. */
  readonly workDir?: string;
  /** pg_restore --jobs in file mode. @default 2 */
  readonly jobs?: number;
  /** A memory-backed directory preferred to workDir when the archive fits (shared/restore-mode.ts; the local drill). @default none */
  readonly memoryDir?: string;
  readonly log: LogPort;
  readonly clock: Clock;
}

/** The restore ran but the restored counts differ from the manifest: no cutover. */
export class RestoreMismatchError extends Error {
  constructor(readonly result: RestoreResult) {
    super(`restored ${result.targetDatabase} differs from the manifest ${result.manifestKey}: ${result.mismatches.map((m) => `${m.what} ${m.expected ?? 'none'} != ${m.actual ?? 'none'}`).join('; ')}`);
    this.name = 'RestoreMismatchError';
  }
}

/** The restore handler over `deps`. */
export function makeHandler(deps: RestoreHandlerDeps): (event: RestoreEvent) => Promise<RestoreResult> {
  return async (event) => {
    if (!event || typeof event.database !== 'string' || !event.target || typeof event.target.host !== 'string' || typeof event.target.masterSecretArn !== 'string') {
      throw new EnvError('expected {"database", "target": {"host", "port", "masterSecretArn"}, "backupKey"?, "targetDatabase"?, "cutoverSecretArn"?}');
    }
    const master = await deps.secrets.json(event.target.masterSecretArn);
    const target = connectionFromSecret(JSON.stringify({ ...master, host: event.target.host, port: event.target.port, dbname: 'postgres' }), event.target.masterSecretArn, deps.tls);
    let appLogin: { role: string; password: string } | undefined;
    if (event.cutoverSecretArn) {
      const app = await deps.secrets.json(event.cutoverSecretArn);
      if (typeof app.username !== 'string' || typeof app.password !== 'string' || !app.username || !app.password) throw new ConnectionError(`secret ${event.cutoverSecretArn} lacks username or password`);
      appLogin = { role: app.username, password: app.password };
    }
    const result = await runRestore(
      { store: deps.store, target, pgBin: deps.pgBin, log: deps.log, clock: deps.clock, workDir: deps.workDir, memoryDir: deps.memoryDir, jobs: deps.jobs ?? 2 },
      { database: event.database, backupKey: event.backupKey ?? undefined, targetDatabase: event.targetDatabase ?? undefined, appLogin },
    );
    if (!result.ok) throw new RestoreMismatchError(result);
    return result;
  };
}

let s3: S3Client | undefined;
let secrets: SecretReader | undefined;
let log: LogPort | undefined;

/** The real adapters, from the environment (read at each call: a bad variable fails the call, not the import). */
function lambdaDeps(): RestoreHandlerDeps {
  const { workDir, jobs } = restoreFileSettingsFromEnv();
  s3 ??= new S3Client({});
  secrets ??= secretsManagerReader(new SecretsManagerClient({}));
  log ??= powertoolsLog();
  return {
    store: new S3ObjectStore(s3, requireEnv('PGDR_BUCKET')),
    secrets,
    tls: tlsFromEnv(),
    pgBin: requireEnv('PGDR_PG_BIN'),
    workDir,
    jobs,
    log,
    clock: systemClock,
  };
}

/** The Lambda entry point; first removes the file a run stopped at its timeout left in /tmp (one invocation at a time per environment). */
export const handler = async (event: RestoreEvent): Promise<RestoreResult> => {
  const deps = lambdaDeps();
  if (deps.workDir) await removeLeftoverFiles(deps.workDir);
  return makeHandler(deps)(event);
};
