/**
 * The Lambda handlers as deployed: configured only through the environment contract, with the
 * AWS SDK clients they create themselves pointed (AWS_ENDPOINT_URL_*) at s3rver and at a small
 * local Secrets Manager endpoint on 127.0.0.1. Events are the ones EventBridge sends.
 */
import { captureStdout } from '../support/stdout';
import { createServer, Server } from 'node:http';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PgCluster, PG_BIN } from '../../local/pg-cluster';
import { startTestS3, TestS3 } from '../support/s3-server';
import { RICH_SCHEMA } from '../support/fixtures';
import { handler as dumpHandler } from '../../lambda/dump/handler';
import { handler as verifyHandler, VerificationFailedError } from '../../lambda/verify/handler';
import { keysFromDumpKey, latestVerifiedKey } from '../../lambda/shared/layout';
import type { BackupManifest, VerificationRecord } from '../../lambda/shared/records';

const SECRET_ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:pgdr/shop-AbCdEf';
const BAD_SECRET_ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:pgdr/missing-AbCdEf';

let pg: PgCluster;
let s3: TestS3;
let secrets: Server;
const secretRequests: string[] = [];
const stdout = captureStdout();
const savedEnv = { ...process.env };
/** The verify Lambda's /tmp (PGDR_WORK_DIR). */
const workDir = mkdtempSync(join(tmpdir(), 'pgdr-handler-work-'));

/** Answers GetSecretValue (AWS JSON 1.1) for SECRET_ARN; ResourceNotFoundException otherwise. */
function startSecretsManager(secretString: () => string): Promise<Server> {
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const { SecretId } = JSON.parse(body) as { SecretId: string };
      secretRequests.push(`${req.headers['x-amz-target']} ${SecretId}`);
      res.setHeader('content-type', 'application/x-amz-json-1.1');
      if (SecretId !== SECRET_ARN) {
        res.statusCode = 400;
        res.end(JSON.stringify({ __type: 'ResourceNotFoundException', message: "Secrets Manager can't find the specified secret." }));
        return;
      }
      res.end(JSON.stringify({ ARN: SECRET_ARN, Name: 'pgdr/shop', SecretString: secretString(), VersionId: 'v1' }));
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

function emf(): Array<Record<string, unknown>> {
  return stdout
    .text()
    .split('\n')
    .filter((l) => l.includes('"_aws"'))
    .map((l) => JSON.parse(l));
}

beforeAll(async () => {
  [pg, s3] = await Promise.all([PgCluster.start(), startTestS3()]);
  await pg.createDatabase('shop');
  await pg.sql('shop', RICH_SCHEMA);
  secrets = await startSecretsManager(() => JSON.stringify({ engine: 'postgres', host: '127.0.0.1', port: pg.port, dbname: 'shop', username: 'postgres', password: pg.password }));
  const address = secrets.address() as { port: number };
  Object.assign(process.env, {
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
    AWS_ENDPOINT_URL_S3: s3.endpoint,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: `http://127.0.0.1:${address.port}`,
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    PGDR_BUCKET: s3.bucket,
    PGDR_KMS_KEY_ARN: 'arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab',
    PGDR_DATABASE: 'shop',
    PGDR_SECRET_ARN: SECRET_ARN,
    PGDR_PG_BIN: PG_BIN,
    PGDR_WORK_DIR: workDir,
    PGDR_VERIFICATION: JSON.stringify({ restoreTestEveryNth: 1, smokeQueries: [{ name: 'tickets', sql: 'SELECT 1 FROM app."Ticket"', minRows: 2000 }] }),
    POWERTOOLS_METRICS_NAMESPACE: 'PgDr',
    POWERTOOLS_SERVICE_NAME: 'pgdr-test',
  });
});

afterAll(async () => {
  process.env = savedEnv;
  rmSync(workDir, { recursive: true, force: true });
  await new Promise((r) => secrets?.close(r));
  await Promise.allSettled([s3?.stop(), pg?.stop()]);
});

test('dump handler, then the verify handler on the S3 event of its manifest', async () => {
  const manifest = (await dumpHandler({ backupClass: 'daily' }, { getRemainingTimeInMillis: () => 900_000 })) as BackupManifest;
  expect(manifest).toMatchObject({ database: 'shop', backupClass: 'daily', dump: { bucket: s3.bucket } });
  expect(secretRequests).toContain(`secretsmanager.GetSecretValue ${SECRET_ARN}`);
  expect(emf()).toEqual([expect.objectContaining({ database: 'shop', class: 'daily', BackupSucceeded: 1 })]);
  expect(stdout.text()).not.toContain(pg.password);

  stdout.clear();
  const manifestKey = keysFromDumpKey(manifest.dump.key).manifest;
  // What a run stopped at the Lambda timeout left in /tmp: removed by the next invocation; other files are not touched.
  const leftover = join(workDir, 'pgdr-restore-0123456789ab.dump');
  const other = join(workDir, 'not-ours.dump');
  writeFileSync(leftover, 'partial');
  writeFileSync(other, 'keep');
  const record = (await verifyHandler({
    'detail-type': 'Object Created',
    detail: { bucket: { name: s3.bucket }, object: { key: manifestKey } },
  })) as VerificationRecord;
  expect(record).toMatchObject({ ok: true, level: 2, manifestKey });
  expect(existsSync(leftover)).toBe(false);
  expect(existsSync(other)).toBe(true);
  // As deployed: PGDR_WORK_DIR has room, so the restore test runs pg_restore --jobs 2 (PGDR_RESTORE_JOBS default) from a file.
  expect(record.restoreTest).toMatchObject({ mode: 'file', jobs: 2 });
  expect(record.restoreTest!.smokeQueries).toEqual([{ name: 'tickets', rows: 2000, minRows: 2000, ok: true }]);
  expect(emf()).toEqual([expect.objectContaining({ database: 'shop', class: 'daily', VerifySucceeded: 1, RowCountMismatches: 0 })]);
  expect(await s3.keys(latestVerifiedKey('shop'))).toEqual([latestVerifiedKey('shop')]);

  // Other objects' events are ignored; the scheduled restore test takes the newest backup.
  expect(await verifyHandler({ detail: { bucket: { name: s3.bucket }, object: { key: manifest.dump.key } } })).toEqual({ skipped: `${manifest.dump.key} is not a manifest` });
  const scheduled = (await verifyHandler({ restoreTest: true })) as VerificationRecord;
  expect(scheduled).toMatchObject({ ok: true, level: 2, manifestKey });
});

test('a failed verification fails the invocation', async () => {
  process.env.PGDR_VERIFICATION = JSON.stringify({ restoreTestEveryNth: 1, smokeQueries: [{ name: 'impossible', sql: 'SELECT 1 WHERE false', minRows: 1 }] });
  try {
    await expect(verifyHandler({ restoreTest: true })).rejects.toBeInstanceOf(VerificationFailedError);
    expect(emf()).toEqual([expect.objectContaining({ VerifyFailed: 1 })]);
  } finally {
    process.env.PGDR_VERIFICATION = JSON.stringify({ restoreTestEveryNth: 1, smokeQueries: [] });
  }
});

test('an unreadable secret fails the dump with BackupFailed and a clear error', async () => {
  process.env.PGDR_SECRET_ARN = BAD_SECRET_ARN;
  try {
    await expect(dumpHandler({ backupClass: 'daily' })).rejects.toThrow(`cannot read secret ${BAD_SECRET_ARN}: ResourceNotFoundException`);
    expect(emf()).toEqual([expect.objectContaining({ database: 'shop', class: 'daily', BackupFailed: 1 })]);
  } finally {
    process.env.PGDR_SECRET_ARN = SECRET_ARN;
  }
});
