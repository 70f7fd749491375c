/**
 * Verify faults. Each must end with a clear failure, a VerifyFailed metric, no verification
 * record claiming success, the latest-verified pointer untouched and no scratch database left.
 */
import { GetObjectCommand, PutObjectCommand, DeleteObjectCommand } from '@aws-sdk/client-s3';
import { PgCluster } from '../../local/pg-cluster';
import { startTestS3, TestS3 } from '../support/s3-server';
import { RICH_SCHEMA } from '../support/fixtures';
import { harness, Harness, scratchDatabases } from '../support/harness';
import { keysFromDumpKey, keysFromManifestKey, latestVerifiedKey } from '../../lambda/shared/layout';
import { BackupManifest, parseLatestVerified, parseVerification } from '../../lambda/shared/records';

let pg: PgCluster;
let s3: TestS3;

beforeAll(async () => {
  [pg, s3] = await Promise.all([PgCluster.start(), startTestS3()]);
  await pg.createDatabase('shop');
  await pg.sql('shop', RICH_SCHEMA);
});

afterAll(async () => {
  await Promise.allSettled([s3?.stop(), pg?.stop()]);
});

const manifestKeyOf = (m: BackupManifest) => keysFromDumpKey(m.dump.key).manifest;

async function getBytes(key: string): Promise<Buffer> {
  const out = await s3.client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: key }));
  return Buffer.from(await out.Body!.transformToByteArray());
}

async function putBytes(key: string, body: Buffer | string): Promise<void> {
  await s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: key, Body: body }));
}

/** The failure is recorded honestly and nothing claims success. */
async function expectFailedVerification(h: Harness, database: string, manifest: BackupManifest, failure: RegExp) {
  const record = await h.verify({ manifestKey: manifestKeyOf(manifest) });
  expect(record.ok).toBe(false);
  expect(record.failures.join('\n')).toMatch(failure);
  const keys = keysFromManifestKey(manifestKeyOf(manifest));
  const stored = parseVerification((await h.store().getText(keys.verification))!.text, keys.verification);
  expect(stored.ok).toBe(false);
  expect(await h.store().getText(latestVerifiedKey(database))).toBeUndefined();
  expect(h.emf.values('VerifyFailed')).toEqual([1]);
  expect(h.emf.values('VerifySucceeded')).toEqual([]);
  expect(await scratchDatabases(pg)).toEqual([]);
  return record;
}

test('object truncated after upload: size and SHA-256 mismatch, no restore attempted', async () => {
  const h = harness(pg, s3, 'truncated', 'shop');
  const manifest = await h.dump();
  const bytes = await getBytes(manifest.dump.key);
  await putBytes(manifest.dump.key, bytes.subarray(0, Math.floor(bytes.length / 2)));
  const record = await expectFailedVerification(h, 'truncated', manifest, new RegExp(`size is ${Math.floor(bytes.length / 2)} bytes, the manifest says ${bytes.length}`));
  expect(record.failures).toContain('restore test skipped: the integrity check failed');
  expect(record.restoreTest).toBeUndefined();
});

test('one byte flipped in the stored object: SHA-256 mismatch', async () => {
  const h = harness(pg, s3, 'flipped', 'shop');
  const manifest = await h.dump();
  const bytes = Buffer.from(await getBytes(manifest.dump.key));
  bytes[Math.floor(bytes.length * 0.6)] ^= 0x01;
  await putBytes(manifest.dump.key, bytes);
  const record = await expectFailedVerification(h, 'flipped', manifest, /SHA-256 is [0-9a-f]{64}, the manifest says/);
  expect(record.integrity.actualBytes).toBe(manifest.dump.bytes);
});

test('a damaged archive header fails pg_restore --list (compression none)', async () => {
  const h = harness(pg, s3, 'garbled', 'shop');
  const manifest = await h.dump({ compression: 'none' });
  const bytes = Buffer.from(await getBytes(manifest.dump.key));
  bytes.write('XXXXX', 0); // "PGDMP" magic gone
  await putBytes(manifest.dump.key, bytes);
  await expectFailedVerification(h, 'garbled', manifest, /the archive does not parse: pg_restore --list exited with code 1: .*not a valid archive|input file does not appear to be a valid archive/);
});

test('manifest missing: clear error, VerifyFailed, no verification record', async () => {
  const h = harness(pg, s3, 'no-manifest', 'shop');
  const manifest = await h.dump();
  await s3.client.send(new DeleteObjectCommand({ Bucket: s3.bucket, Key: manifestKeyOf(manifest) }));
  await expect(h.verify({ manifestKey: manifestKeyOf(manifest) })).rejects.toThrow(`manifest ${manifestKeyOf(manifest)} is missing from bucket ${s3.bucket}`);
  expect(await h.store().getText(keysFromManifestKey(manifestKeyOf(manifest)).verification)).toBeUndefined();
  expect(h.emf.values('VerifyFailed')).toEqual([1]);
  // And the scheduled run finds no backup to verify at all.
  await expect(h.verify({ restoreTest: true })).rejects.toThrow(`no backup of database no-manifest in bucket ${s3.bucket}`);
});

test('row counts that do not match the manifest: failure, RowCountMismatches, scratch dropped', async () => {
  const h = harness(pg, s3, 'miscount', 'shop');
  const manifest = await h.dump();
  // A manifest that claims one more user than the dump holds (sha/size untouched).
  const edited = { ...manifest, rowCounts: { ...manifest.rowCounts, 'app."User"': 301 } };
  await putBytes(manifestKeyOf(manifest), JSON.stringify(edited));
  const record = await expectFailedVerification(h, 'miscount', manifest, /rows of app\."User": manifest 301, restored 300/);
  expect(record.restoreTest).toMatchObject({ scratchDropped: true, rowCountMismatches: [{ what: 'app."User"', expected: 301, actual: 300 }] });
  expect(h.emf.values('RowCountMismatches')).toEqual([1]);
});

test('a smoke query that finds too few rows fails the restore test; scratch still dropped', async () => {
  const h = harness(pg, s3, 'smoke', 'shop', {
    restoreTestEveryNth: 1,
    smokeQueries: [
      { name: 'tickets', sql: 'SELECT 1 FROM app."Ticket"', minRows: 1 },
      { name: 'future events', sql: `SELECT 1 FROM app."Event" WHERE starts_at > '2100-01-01'`, minRows: 1 },
      { name: 'broken sql', sql: 'SELECT * FROM no_such_table', minRows: 0 },
    ],
  });
  const manifest = await h.dump();
  const record = await expectFailedVerification(h, 'smoke', manifest, /smoke query "future events" returned 0 rows, needs at least 1/);
  expect(record.failures.join('\n')).toMatch(/smoke query "broken sql" failed: relation "no_such_table" does not exist/);
  expect(record.restoreTest!.smokeQueries[0]).toMatchObject({ name: 'tickets', ok: true, rows: 2000 });
});

test('a restore error keeps the ERROR line naming its cause, not only the CONTEXT after it', async () => {
  // A CHECK constraint calling a function whose body names a table without its schema: pg_dump
  // restores with an empty search_path, so COPY fails inside the function, and pg_restore ends
  // with CONTEXT / COPY / "errors ignored" lines after the ERROR line.
  await pg.createDatabase('checks');
  await pg.sql('checks', `
    CREATE TABLE public.customers (id int PRIMARY KEY);
    INSERT INTO public.customers VALUES (1);
    CREATE FUNCTION public.customer_exists(c int) RETURNS boolean LANGUAGE plpgsql AS $$ BEGIN RETURN EXISTS (SELECT 1 FROM customers WHERE id = c); END $$;
    CREATE TABLE public.orders (id int PRIMARY KEY, customer int CHECK (public.customer_exists(customer)));
    INSERT INTO public.orders VALUES (1, 1);`);
  const h = harness(pg, s3, 'check-fn', 'checks');
  const manifest = await h.dump();
  const record = await expectFailedVerification(h, 'check-fn', manifest, /restore test failed: pg_restore exited with code 1: .*ERROR: +relation "customers" does not exist/);
  expect(record.failures.join('\n')).toMatch(/errors ignored on restore: 1$/m);
  expect(record.restoreTest!.restoreErrors).toEqual([expect.stringMatching(/^pg_restore: error: COPY failed for table "orders": ERROR: +relation "customers" does not exist$/)]);
});

test('restore server unreachable: recorded failure, VerifyFailed', async () => {
  const h = harness(pg, s3, 'no-server', 'shop');
  const manifest = await h.dump();
  const record = await h.verify(
    { manifestKey: manifestKeyOf(manifest) },
    { restoreServer: { kind: 'verify', connection: { host: '127.0.0.1', port: 1, dbname: 'postgres', username: 'postgres', password: 'x', sslmode: 'disable' } } },
  );
  expect(record.ok).toBe(false);
  expect(record.failures).toEqual(['restore test failed: cannot connect to PostgreSQL at 127.0.0.1:1: connection refused (is the server running?)']);
  expect(h.emf.values('VerifyFailed')).toEqual([1]);
  expect(await h.store().getText(latestVerifiedKey('no-server'))).toBeUndefined();
});

test('restoreTestEveryNth: 2 restores every second backup only', async () => {
  const h = harness(pg, s3, 'every-2nd', 'shop', { restoreTestEveryNth: 2, smokeQueries: [] });
  const first = await h.dump();
  const second = await h.dump();
  const r1 = await h.verify({ manifestKey: manifestKeyOf(first) });
  const r2 = await h.verify({ manifestKey: manifestKeyOf(second) });
  expect([r1.level, r2.level]).toEqual([1, 2]);
  expect([r1.failures, r2.failures]).toEqual([[], []]);
  expect(r1.ok && r2.ok).toBe(true);
});

describe('a backup that passed once and fails on re-verification loses the latest-verified pointer', () => {
  const pointerOf = async (h: Harness, database: string) => parseLatestVerified((await h.store().getText(latestVerifiedKey(database)))!.text, 'latest');

  test('the pointer moves back to the newest other verified backup', async () => {
    const h = harness(pg, s3, 'rot', 'shop', { restoreTestEveryNth: 0, smokeQueries: [] });
    const older = await h.dump();
    const newer = await h.dump();
    expect((await h.verify({ manifestKey: manifestKeyOf(older) })).ok).toBe(true);
    expect((await h.verify({ manifestKey: manifestKeyOf(newer) })).ok).toBe(true);
    expect((await pointerOf(h, 'rot')).dumpKey).toBe(newer.dump.key);

    const bytes = Buffer.from(await getBytes(newer.dump.key));
    bytes[Math.floor(bytes.length / 2)] ^= 0xff;
    await putBytes(newer.dump.key, bytes);
    expect((await h.verify({ manifestKey: manifestKeyOf(newer) })).ok).toBe(false);

    const pointer = await pointerOf(h, 'rot');
    expect(pointer).toMatchObject({ dumpKey: older.dump.key, backupStartedAt: older.startedAt });
    expect(pointer.revoked).toBeUndefined();
    expect(h.log.entries.find((e) => e.level === 'ERROR')?.attributes).toMatchObject({ latestVerified: 'retreated' });
  });

  test('with no other verified backup the pointer is revoked, and the next good backup replaces it', async () => {
    const h = harness(pg, s3, 'rot-only', 'shop', { restoreTestEveryNth: 0, smokeQueries: [] });
    const only = await h.dump();
    expect((await h.verify({ manifestKey: manifestKeyOf(only) })).ok).toBe(true);
    const bytes = await getBytes(only.dump.key);
    await putBytes(only.dump.key, bytes.subarray(0, bytes.length - 10));
    expect((await h.verify({ manifestKey: manifestKeyOf(only) })).ok).toBe(false);
    const revoked = await pointerOf(h, 'rot-only');
    expect(revoked.dumpKey).toBe(only.dump.key);
    expect(revoked.revoked?.reason).toMatch(/size is \d+ bytes, the manifest says \d+/);

    const next = await h.dump();
    expect((await h.verify({ manifestKey: manifestKeyOf(next) })).ok).toBe(true);
    const pointer = await pointerOf(h, 'rot-only');
    expect(pointer).toMatchObject({ dumpKey: next.dump.key });
    expect(pointer.revoked).toBeUndefined();
  });
});
