/**
 * The container entry point (ECS Fargate): `node /app/entry.js <dump|verify|restore>`. A thin
 * wiring module (contract: container/contract.ts): it builds the job's event from the
 * environment, calls the SAME handler the Lambda runs (lambda/<job>/handler.ts, which reads its
 * configuration from the environment), prints the result document as the last stdout line
 * (RESULT_PREFIX + JSON), writes it to the vault at PGDR_RESULT_KEY when that is set, and returns
 * the contract's exit code.
 *
 * Events: PGDR_EVENT (the Lambda's event as JSON) for any job; or dump: PGDR_BACKUP_CLASS; verify:
 * PGDR_MANIFEST_KEY (as the S3 Object Created event of that manifest in PGDR_BUCKET) or
 * PGDR_RESTORE_TEST=true (the scheduled restore test of the newest backup). restore needs
 * PGDR_EVENT.
 *
 * Result document: `{ "job", "ok": true, "result": <the handler's result> }`, or on failure
 * `{ "job", "ok": false, "error": { "name", "message" }, "result"?: <the verification record or
 * the restore result, when the job ran and found the backup or the restore wrong> }`.
 *
 * Signals: ECS sends SIGTERM 30 s before SIGKILL when a task is stopped. A dump then abandons at
 * once (upload aborted, no manifest) and exits EXIT_FAILED with its result line; verify and
 * restore keep Node's default (the process ends; the task's storage, an ephemeral server with it,
 * goes away with the task).
 */
import { S3Client } from '@aws-sdk/client-s3';
import { ENV, EXIT_FAILED, EXIT_OK, EXIT_USAGE, Job, JOBS, RESULT_PREFIX } from './contract';
import { handler as dumpHandler } from '../lambda/dump/handler';
import { handler as verifyHandler, VerificationFailedError } from '../lambda/verify/handler';
import { handler as restoreHandler, RestoreMismatchError } from '../lambda/restore/handler';
import { S3ObjectStore } from '../lambda/shared/s3-store';
import { redactSecrets } from '../lambda/shared/redact';
import { namedError } from '../lambda/shared/named-error';

/** A bad command line or environment: one line on stderr, EXIT_USAGE. */
export class UsageError extends namedError('UsageError') {}

/** Where the entry point writes, and what tells a dump to stop (tests pass their own). */
export interface EntryIo {
  readonly stdout: (line: string) => void;
  readonly stderr: (line: string) => void;
  /** Emits 'SIGTERM'. @default process */
  readonly signals: NodeJS.EventEmitter;
}

const processIo: EntryIo = {
  stdout: (line) => process.stdout.write(`${line}\n`),
  stderr: (line) => process.stderr.write(`${line}\n`),
  signals: process,
};

/** The result document of a run. */
export interface JobResult {
  readonly job: Job;
  readonly ok: boolean;
  readonly result?: unknown;
  readonly error?: { readonly name: string; readonly message: string };
}

function value(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v === '' ? undefined : v;
}

/** The job's event from the environment (see the module comment). */
export function eventFromEnv(job: Job, env: NodeJS.ProcessEnv): unknown {
  const perJob: Record<Job, string[]> = { dump: [ENV.backupClass], verify: [ENV.manifestKey, ENV.restoreTest], restore: [] };
  const given = perJob[job].filter((name) => value(env, name) !== undefined);
  const json = value(env, ENV.event);
  if (json !== undefined) {
    if (given.length > 0) throw new UsageError(`${job}: set ${ENV.event} or ${given.join(', ')}, not both`);
    let event: unknown;
    try {
      event = JSON.parse(json);
    } catch {
      throw new UsageError(`${job}: ${ENV.event} is not JSON (received ${JSON.stringify(json.slice(0, 100))})`);
    }
    if (event === null || typeof event !== 'object' || Array.isArray(event)) throw new UsageError(`${job}: ${ENV.event} must be a JSON object (received ${JSON.stringify(json.slice(0, 100))})`);
    return event;
  }
  if (given.length > 1) throw new UsageError(`${job}: set one of ${given.join(', ')}, not both`);
  if (job === 'dump' && given.length === 1) return { backupClass: env[ENV.backupClass] };
  if (job === 'verify' && given[0] === ENV.manifestKey) {
    const bucket = value(env, ENV.bucket);
    if (!bucket) throw new UsageError(`verify: ${ENV.manifestKey} needs ${ENV.bucket}`);
    return { 'detail-type': 'Object Created', detail: { bucket: { name: bucket }, object: { key: env[ENV.manifestKey] } } };
  }
  if (job === 'verify' && given[0] === ENV.restoreTest) {
    if (env[ENV.restoreTest] !== 'true') throw new UsageError(`verify: ${ENV.restoreTest} must be "true" (received ${JSON.stringify(env[ENV.restoreTest])})`);
    return { restoreTest: true };
  }
  throw new UsageError(`${job}: no event: set ${[ENV.event, ...perJob[job]].join(' or ')}`);
}

/** Where the result goes in the vault, checked before the job runs. */
function resultTarget(env: NodeJS.ProcessEnv): { key: string; bucket: string; kmsKeyId: string } | undefined {
  const key = value(env, ENV.resultKey);
  if (!key) return undefined;
  const missing = [ENV.bucket, ENV.kmsKeyArn].filter((name) => !value(env, name));
  if (missing.length > 0) throw new UsageError(`${ENV.resultKey} needs ${missing.join(' and ')} (the result is written SSE-KMS to the vault)`);
  return { key, bucket: env[ENV.bucket]!, kmsKeyId: env[ENV.kmsKeyArn]! };
}

async function runJob(job: Job, event: unknown, signal: AbortSignal): Promise<unknown> {
  switch (job) {
    case 'dump':
      return dumpHandler(event as Parameters<typeof dumpHandler>[0], { signal });
    case 'verify':
      return verifyHandler(event as Parameters<typeof verifyHandler>[0], { signal });
    case 'restore':
      return restoreHandler(event as Parameters<typeof restoreHandler>[0]);
  }
}

/** What a failed job leaves in its result document: the record or result that says what was wrong. */
function failedResult(err: unknown): unknown {
  if (err instanceof VerificationFailedError) return err.record;
  if (err instanceof RestoreMismatchError) return err.result;
  return undefined;
}

/**
 * Runs one job and turns its outcome into the result document and the exit code (EXIT_OK,
 * EXIT_FAILED, or EXIT_USAGE for a handler's EnvError). Shared with the local stand-in of the
 * container (local/failover-runner.ts), so both write the same document. `onError` sees the error.
 */
export async function runToDocument(job: Job, run: () => Promise<unknown>, onError?: (err: unknown) => void): Promise<{ doc: JobResult; code: number }> {
  try {
    return { doc: { job, ok: true, result: await run() }, code: EXIT_OK };
  } catch (err) {
    onError?.(err);
    const e = err as Error;
    const result = failedResult(err);
    const doc: JobResult = { job, ok: false, error: { name: e.name ?? 'Error', message: redactSecrets(e.message ?? String(err)) }, ...(result ? { result } : {}) };
    return { doc, code: e.name === 'EnvError' ? EXIT_USAGE : EXIT_FAILED };
  }
}

/**
 * Runs `node entry.js <job>`: `argv` is what follows the script (the job name). The handlers read
 * their configuration from process.env: `env` is process.env except in tests of the usage checks.
 * Returns the exit code.
 */
export async function main(argv: readonly string[], env: NodeJS.ProcessEnv = process.env, io: EntryIo = processIo): Promise<number> {
  let job: Job;
  let event: unknown;
  let target: ReturnType<typeof resultTarget>;
  try {
    if (argv.length !== 1 || !(JOBS as readonly string[]).includes(argv[0])) {
      throw new UsageError(`usage: entry.js <${JOBS.join('|')}> (received ${JSON.stringify(argv.join(' '))})`);
    }
    job = argv[0] as Job;
    event = eventFromEnv(job, env);
    target = resultTarget(env);
  } catch (err) {
    io.stderr(`pgdr ${(err as Error).message}`);
    return EXIT_USAGE;
  }

  const stop = new AbortController();
  const onSigterm = () => stop.abort(new Error('SIGTERM: the task is stopping'));
  // The dump abandons its upload; the verification kills pg_restore and drops its scratch database.
  if (job === 'dump' || job === 'verify') io.signals.once('SIGTERM', onSigterm);
  let ran: { doc: JobResult; code: number };
  try {
    ran = await runToDocument(job, () => runJob(job, event, stop.signal));
  } finally {
    io.signals.removeListener('SIGTERM', onSigterm);
  }
  const { doc } = ran;
  let { code } = ran;
  const text = JSON.stringify(doc);
  if (target) {
    try {
      await new S3ObjectStore(new S3Client({}), target.bucket, { kmsKeyId: target.kmsKeyId }).putText(target.key, `${text}\n`);
    } catch (err) {
      io.stderr(`pgdr ${job}: writing the result to s3://${target.bucket}/${target.key} failed: ${(err as Error).message}`);
      code = EXIT_FAILED;
    }
  }
  io.stdout(`${RESULT_PREFIX}${text}`);
  return code;
}

if (require.main === module) {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ||= 'true';
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
