/**
 * The container entry point (container/entry.ts) as ECS runs it: a separate Node process
 * (`node --require tsx/cjs container/entry.ts <job>`, the same single process as the bundled
 * `node /app/entry.js <job>`), configured only by the environment of container/contract.ts, its AWS
 * SDK clients pointed at s3rver and a local Secrets Manager by AWS_ENDPOINT_URL_*. A real source
 * cluster whose dump login has no CREATEDB: the verify job restores on its own ephemeral server.
 */
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { PgCluster, PG_BIN } from '../../local/pg-cluster';
import { startTestS3, TestS3 } from '../support/s3-server';
import { LocalSecretsManager, startLocalSecretsManager } from '../support/secrets-server';
import { fakeBin, FakeBin } from '../support/fake-bin';
import { fifoLines } from '../support/fifo';
import { ROOT } from '../support/cli';
import { keysFromDumpKey } from '../../lambda/shared/layout';
import { ENV, EXIT_FAILED, EXIT_OK, EXIT_USAGE, RESULT_PREFIX } from '../../container/contract';
import { eventFromEnv, JobResult, main } from '../../container/entry';
import { ephemeralServerFromEnv, verifyModeFromEnv } from '../../lambda/shared/env';
import type { BackupManifest, VerificationRecord } from '../../lambda/shared/records';

const SECRET_ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:pgdr/shop-AbCdEf';
const KMS_KEY_ARN = 'arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const DUMPER_PASSWORD = 'dumper-Pw-9b1f2a';
const ENTRY_TS = join(ROOT, 'container/entry.ts');

let pg: PgCluster;
let s3: TestS3;
let secrets: LocalSecretsManager;
let stalling: FakeBin;
const workDir = mkdtempSync(join(tmpdir(), 'pgdr-entry-work-'));
chmodSync(workDir, 0o755);
/** pg_dump passes its whole output, says so through this FIFO, then blocks until killed. */
const fifo = join(workDir, 'pg_dump-started');

beforeAll(async () => {
  [pg, s3] = await Promise.all([PgCluster.start(), startTestS3()]);
  await pg.sql('postgres', `CREATE ROLE dumper LOGIN PASSWORD '${DUMPER_PASSWORD}' NOCREATEDB IN ROLE pg_read_all_data`);
  await pg.createDatabase('shop');
  await pg.sql('shop', `CREATE TABLE item (id int PRIMARY KEY, name text); INSERT INTO item SELECT g, 'item ' || g FROM generate_series(1, 500) g`);
  secrets = await startLocalSecretsManager({ [SECRET_ARN]: JSON.stringify({ host: pg.host, port: pg.port, dbname: 'shop', username: 'dumper', password: DUMPER_PASSWORD }) });
  execFileSync('mkfifo', [fifo]);
  stalling = fakeBin({ pg_dump: `if [ "$1" = "--version" ]; then exec "$REAL" --version; fi\n"$REAL" "$@"\necho started > ${JSON.stringify(fifo)}\nexec tail -f /dev/null` });
});

afterAll(async () => {
  stalling?.remove();
  rmSync(workDir, { recursive: true, force: true });
  await Promise.allSettled([s3?.stop(), pg?.stop(), secrets?.stop()]);
});

/** The task definition's environment plus the run's overrides (none of the caller's PG* variables). */
function taskEnv(overrides: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PG') && !k.startsWith('AWS_')));
  const env: NodeJS.ProcessEnv = {
    ...base,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
    AWS_ENDPOINT_URL_S3: s3.endpoint,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.endpoint,
    [ENV.bucket]: s3.bucket,
    [ENV.kmsKeyArn]: KMS_KEY_ARN,
    [ENV.database]: 'shop',
    [ENV.secretArn]: SECRET_ARN,
    [ENV.pgBin]: PG_BIN,
    [ENV.workDir]: workDir,
    [ENV.verification]: JSON.stringify({ restoreTestEveryNth: 1, smokeQueries: [{ name: 'items', sql: 'SELECT 1 FROM item', minRows: 500 }] }),
    POWERTOOLS_METRICS_NAMESPACE: 'PgDr',
    POWERTOOLS_SERVICE_NAME: 'pgdr-test',
  };
  for (const [name, v] of Object.entries(overrides)) {
    if (v === undefined) delete env[name];
    else env[name] = v;
  }
  return env;
}

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function startEntry(job: string, overrides: Record<string, string | undefined>) {
  const child = spawn(process.execPath, ['--require', 'tsx/cjs', ENTRY_TS, job], { cwd: ROOT, env: taskEnv(overrides), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const exited = new Promise<Run>((done) => child.on('close', (code) => done({ code, stdout, stderr })));
  return { child, exited };
}

/** The result document: the last stdout line, after RESULT_PREFIX. */
function resultOf(run: Run): JobResult {
  const lines = run.stdout.trim().split('\n');
  const last = lines[lines.length - 1];
  expect(last.startsWith(RESULT_PREFIX)).toBe(true);
  return JSON.parse(last.slice(RESULT_PREFIX.length)) as JobResult;
}

async function objectText(key: string): Promise<string> {
  const out = await s3.client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: key }));
  return out.Body!.transformToString();
}

/**
 * A dump task (PGDR_BACKUP_CLASS, plus `dumpEnv`), then a verify task of its manifest
 * (PGDR_MANIFEST_KEY) on an ephemeral server with no source secret configured: both results as
 * the entry point printed and stored them; the source's databases are the same before and after.
 */
async function dumpThenVerifyEphemeral(run: string, dumpEnv: Record<string, string>): Promise<{ manifest: BackupManifest; record: VerificationRecord }> {
  const dump = await startEntry('dump', { [ENV.backupClass]: 'daily', [ENV.resultKey]: `shop/results/dump-${run}.json`, ...dumpEnv }).exited;
  expect(dump.stderr).toBe('');
  expect(dump.code).toBe(EXIT_OK);
  const dumped = resultOf(dump);
  expect(dumped).toMatchObject({ job: 'dump', ok: true, result: { database: 'shop', backupClass: 'daily' } });
  const manifest = dumped.result as BackupManifest;
  expect(await objectText(`shop/results/dump-${run}.json`)).toBe(`${dump.stdout.trim().split('\n').pop()!.slice(RESULT_PREFIX.length)}\n`);
  expect(dump.stdout).not.toContain(DUMPER_PASSWORD);

  const before = await pg.databases();
  const manifestKey = keysFromDumpKey(manifest.dump.key).manifest;
  // Ephemeral mode reads no secret: the source's is not even configured.
  const verify = await startEntry('verify', { [ENV.manifestKey]: manifestKey, [ENV.verifyMode]: 'ephemeral', [ENV.secretArn]: undefined, [ENV.resultKey]: `shop/results/verify-${run}.json` }).exited;
  expect(verify.stderr).toBe('');
  expect(verify.code).toBe(EXIT_OK);
  const verified = resultOf(verify);
  expect(verified).toMatchObject({ job: 'verify', ok: true, result: { ok: true, level: 2, manifestKey } });
  const record = verified.result as VerificationRecord;
  expect(record.restoreTest).toMatchObject({ server: 'ephemeral', rowCountMismatches: [], smokeQueries: [{ name: 'items', ok: true }] });
  expect(record.restoreTest!.ephemeralServer!.version).toMatch(/^\d+\.\d+/);
  expect(JSON.parse(await objectText(`shop/results/verify-${run}.json`))).toEqual(verified);
  expect(await pg.databases()).toEqual(before);
  expect(readdirSync(workDir).filter((f) => f.startsWith('pgdr-ephemeral-'))).toEqual([]);
  return { manifest, record };
}

test('dump (PGDR_BACKUP_CLASS), then verify (PGDR_MANIFEST_KEY) on an ephemeral server: result lines, results in the vault, no scratch database on the source', async () => {
  const { manifest } = await dumpThenVerifyEphemeral('1', {});
  expect(manifest.dump.format).toBe('custom');
});

test('a Fargate task as deployed: directory format with 2 pg_dump jobs, restored with pg_restore --jobs 2 on an ephemeral server, nothing left in the work directory', async () => {
  const { manifest, record } = await dumpThenVerifyEphemeral('dir', { [ENV.dumpFormat]: 'directory', [ENV.dumpJobs]: '2', [ENV.restoreJobs]: '2' });
  expect(manifest).toMatchObject({ schemaVersion: 2, dump: { format: 'directory', jobs: 2 } });
  const files = manifest.dump.format === 'directory' ? manifest.dump.files : [];
  expect(files.map((f) => f.name)).toContain('toc.dat');
  expect(files.length).toBeGreaterThan(1);
  expect(record.restoreTest).toMatchObject({ mode: 'file', jobs: 2 });
  expect(readdirSync(workDir).filter((f) => f.startsWith('pgdr-'))).toEqual([]);
});

test('SIGTERM during a dump: the dump is abandoned, no manifest, no open upload, a failed result and a non-zero exit', async () => {
  const started = fifoLines(fifo);
  const { child, exited } = startEntry('dump', { [ENV.backupClass]: 'hourly', [ENV.pgBin]: stalling.dir, PGDR_COMPRESSION: 'none' });
  try {
    await started.next(exited.then((run) => `the entry point exited before pg_dump ran: ${run.stdout}${run.stderr}`));
    child.kill('SIGTERM');
    const run = await exited;
    expect(run.code).toBe(EXIT_FAILED);
    const result = resultOf(run);
    expect(result).toMatchObject({ job: 'dump', ok: false, error: { message: expect.stringMatching(/^SIGTERM: the task is stopping after [\d.]+ s; dump abandoned/) } });
  } finally {
    started.close();
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  }
  expect((await s3.keys('shop/hourly/')).filter((k) => k.endsWith('.manifest.json'))).toEqual([]);
  expect(await s3.openUploads('shop/hourly/')).toEqual([]);
});

test('a bad job name or environment: one clear line on stderr and EXIT_USAGE', async () => {
  const bad = await startEntry('backup', {}).exited;
  expect(bad.code).toBe(EXIT_USAGE);
  expect(bad.stdout).toBe('');
  expect(bad.stderr).toBe('pgdr usage: entry.js <dump|verify|restore> (received "backup")\n');

  const lines: string[] = [];
  const io = { stdout: (l: string) => lines.push(`out ${l}`), stderr: (l: string) => lines.push(`err ${l}`), signals: process };
  expect(await main([], {}, io)).toBe(EXIT_USAGE);
  expect(await main(['dump'], {}, io)).toBe(EXIT_USAGE);
  expect(await main(['verify'], { [ENV.manifestKey]: 'k', [ENV.restoreTest]: 'true' }, io)).toBe(EXIT_USAGE);
  expect(await main(['restore'], { [ENV.event]: '[1]' }, io)).toBe(EXIT_USAGE);
  expect(await main(['dump'], { [ENV.backupClass]: 'daily', [ENV.resultKey]: 'shop/r.json', [ENV.bucket]: 'b' }, io)).toBe(EXIT_USAGE);
  expect(lines).toEqual([
    'err pgdr usage: entry.js <dump|verify|restore> (received "")',
    'err pgdr dump: no event: set PGDR_EVENT or PGDR_BACKUP_CLASS',
    'err pgdr verify: set one of PGDR_MANIFEST_KEY, PGDR_RESTORE_TEST, not both',
    'err pgdr restore: PGDR_EVENT must be a JSON object (received "[1]")',
    'err pgdr PGDR_RESULT_KEY needs PGDR_KMS_KEY_ARN (the result is written SSE-KMS to the vault)',
  ]);
});

test('a handler that finds its environment wrong: a failed result line and EXIT_USAGE', async () => {
  const lines: string[] = [];
  const io = { stdout: (l: string) => lines.push(l), stderr: (l: string) => lines.push(`err ${l}`), signals: process };
  // The handlers read process.env, which (in this test process) has no PGDR_DATABASE.
  expect(process.env[ENV.database]).toBeUndefined();
  expect(await main(['verify'], { [ENV.restoreTest]: 'true' }, io)).toBe(EXIT_USAGE);
  expect(lines).toEqual([`${RESULT_PREFIX}${JSON.stringify({ job: 'verify', ok: false, error: { name: 'EnvError', message: 'environment variable PGDR_DATABASE is not set' } })}`]);
});

test('PGDR_VERIFY_MODE and PGDR_PG_SERVER_BIN', () => {
  expect(verifyModeFromEnv({})).toBe('source');
  expect(verifyModeFromEnv({ [ENV.verifySecretArn]: 'arn:x' })).toBe('server');
  expect(verifyModeFromEnv({ [ENV.verifyMode]: 'ephemeral', [ENV.verifySecretArn]: 'arn:x' })).toBe('ephemeral');
  expect(() => verifyModeFromEnv({ [ENV.verifyMode]: 'server' })).toThrow('PGDR_VERIFY_MODE=server needs PGDR_VERIFY_SECRET_ARN (the verification server)');
  expect(() => verifyModeFromEnv({ [ENV.verifyMode]: 'scratch' })).toThrow('PGDR_VERIFY_MODE must be one of source, server, ephemeral (received "scratch")');
  expect(ephemeralServerFromEnv({ [ENV.pgBin]: '/opt/bin', AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '2048' })).toEqual({ bin: '/opt/bin', memoryMb: 1024 });
  expect(ephemeralServerFromEnv({ [ENV.pgBin]: '/opt/bin', [ENV.pgServerBin]: '/opt/server/bin', AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '128' })).toEqual({ bin: '/opt/server/bin', memoryMb: 64 });
  expect(() => ephemeralServerFromEnv({})).toThrow('environment variable PGDR_PG_BIN is not set');
});

test('events from the environment are the Lambda events', () => {
  expect(eventFromEnv('dump', { [ENV.backupClass]: 'daily' })).toEqual({ backupClass: 'daily' });
  expect(eventFromEnv('verify', { [ENV.manifestKey]: 'shop/m.manifest.json', [ENV.bucket]: 'vault' })).toEqual({
    'detail-type': 'Object Created',
    detail: { bucket: { name: 'vault' }, object: { key: 'shop/m.manifest.json' } },
  });
  expect(eventFromEnv('verify', { [ENV.restoreTest]: 'true' })).toEqual({ restoreTest: true });
  expect(eventFromEnv('restore', { [ENV.event]: '{"database":"shop"}' })).toEqual({ database: 'shop' });
});
