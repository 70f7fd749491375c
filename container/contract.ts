/**
 * The contract between the ECS Fargate runner (lib/fargate-jobs.ts, container/Dockerfile), the
 * container entry point (container/entry.ts) and the job cores. One image runs every job: the
 * task's command names the job, the task's environment (plus per-run container overrides) carries
 * the rest. The entry point calls the SAME handler code as the Lambdas (lambda/<job>/handler.ts);
 * nothing here is Fargate-specific data-path code.
 *
 * Local runs (tests): the SDK's own AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL_SECRETS_MANAGER point the
 * clients at s3rver and test/support/secrets-server.ts, as test/data-path/handlers.test.ts does.
 *
 * Command:   node /app/entry.js <job>        (job: one of JOBS)
 * Exit code: EXIT_OK on success, EXIT_FAILED when the job ran and failed (after the core reported
 *            it: metrics, log, record), EXIT_USAGE for a bad command or environment.
 * Output:    structured log lines on stdout (the Lambda logger: CloudWatch EMF metrics work from
 *            the awslogs driver too); the result document as the LAST stdout line, prefixed with
 *            RESULT_PREFIX. When ENV.resultKey is set, the result JSON is also written to the
 *            vault at that key (SSE-KMS), which is how the failover workflow reads a restore run
 *            by `ecs:runTask.sync` (its output is the ECS task, not the job's result).
 */

export const JOBS = ['dump', 'verify', 'restore'] as const;
export type Job = (typeof JOBS)[number];

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

export const RESULT_PREFIX = 'PGDR_RESULT ';

/** The environment the runner sets (fixed in the task definition unless marked per run). */
export const ENV = {
  // --- same meaning as for the Lambdas (see lambda/*/handler.ts) ---
  bucket: 'PGDR_BUCKET',
  kmsKeyArn: 'PGDR_KMS_KEY_ARN',
  database: 'PGDR_DATABASE',
  secretArn: 'PGDR_SECRET_ARN',
  pgBin: 'PGDR_PG_BIN',
  workDir: 'PGDR_WORK_DIR',
  restoreJobs: 'PGDR_RESTORE_JOBS',
  verification: 'PGDR_VERIFICATION',
  verifySecretArn: 'PGDR_VERIFY_SECRET_ARN',
  // --- new with issue 11 (read by the handlers, so Lambda may use them too) ---
  /** `custom` (default: pg_dump -Fc, one object) or `directory` (pg_dump -Fd --jobs N, one object per file + manifest). */
  dumpFormat: 'PGDR_DUMP_FORMAT',
  /** pg_dump --jobs for the directory format. @default os.availableParallelism() */
  dumpJobs: 'PGDR_DUMP_JOBS',
  /** Where the verify job restores: `source` (scratch db on the source server), `server` (PGDR_VERIFY_SECRET_ARN), `ephemeral` (its own PostgreSQL in PGDR_WORK_DIR). @default server when PGDR_VERIFY_SECRET_ARN is set, else source */
  verifyMode: 'PGDR_VERIFY_MODE',
  /** Directory of initdb/postgres/pg_ctl for the ephemeral mode. @default PGDR_PG_BIN */
  pgServerBin: 'PGDR_PG_SERVER_BIN',
  // --- per run (container overrides) ---
  /** The job's event as JSON (the same event the Lambda receives). */
  event: 'PGDR_EVENT',
  /** dump: the backup class (instead of PGDR_EVENT; what EventBridge Scheduler sets). */
  backupClass: 'PGDR_BACKUP_CLASS',
  /** verify: the manifest key to verify (instead of PGDR_EVENT; what the S3 -> EventBridge rule sets). */
  manifestKey: 'PGDR_MANIFEST_KEY',
  /** verify: "true" forces a restore test of the newest backup (the restore-test schedule). */
  restoreTest: 'PGDR_RESTORE_TEST',
  /** Also write the result JSON to the vault at this key. */
  resultKey: 'PGDR_RESULT_KEY',
} as const;

/** The container's name in every task definition (container overrides name it). */
export const CONTAINER_NAME = 'job';

/** Where the image keeps the bundled entry point and the PostgreSQL tools. */
export const IMAGE_PATHS = {
  entry: '/app/entry.js',
  pgBin: '/usr/bin',
  workDir: '/work',
} as const;
