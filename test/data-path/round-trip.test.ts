/**
 * Backup then verify (with restore test) of a schema with quoted mixed-case names, several
 * schemas, sequences, views, functions, triggers, a partitioned table, a large object, jsonb
 * and non-ASCII text, through the real dump and verify cores, real pg tools, real PostgreSQL
 * and s3rver. Also: counts stay exact while another connection keeps writing.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PgCluster, PG_BIN } from '../../local/pg-cluster';
import { startTestS3, TestS3 } from '../support/s3-server';
import { bulkSchema, RICH_SCHEMA } from '../support/fixtures';
import { harness } from '../support/harness';
import { storeWithHook } from '../support/store-hooks';
import { keysFromDumpKey, keysFromManifestKey, latestVerifiedKey } from '../../lambda/shared/layout';
import { parseLatestVerified, parseVerification } from '../../lambda/shared/records';
import { objectCounts, rowCounts } from '../../lambda/shared/catalog';

let pg: PgCluster;
let s3: TestS3;

beforeAll(async () => {
  [pg, s3] = await Promise.all([PgCluster.start(), startTestS3()]);
  await pg.createDatabase('shop');
  await pg.sql('shop', RICH_SCHEMA);
  await pg.sql('shop', bulkSchema(11));
});

afterAll(async () => {
  await Promise.allSettled([s3?.stop(), pg?.stop()]);
});

test('round trip: dump, verify with restore test, counts equal, pointer advanced, scratch dropped', async () => {
  const h = harness(pg, s3, 'shop', 'shop', {
    restoreTestEveryNth: 1,
    smokeQueries: [
      { name: 'users', sql: 'SELECT 1 FROM app."User"', minRows: 300 },
      { name: 'non-ASCII survived', sql: `SELECT 1 FROM app."User" WHERE "displayName" LIKE 'Zoë Ångström%'`, minRows: 100 },
      { name: 'large object', sql: `SELECT 1 FROM public.documents WHERE convert_from(lo_get(blob), 'UTF8') LIKE 'große Datei%'`, minRows: 1 },
      { name: 'jsonb', sql: `SELECT 1 FROM app."User" WHERE profile->'nested'->>'ok' = 'true'`, minRows: 150 },
    ],
  });
  const client = await pg.client('shop');
  const expectedRows = await rowCounts(client);
  const expectedObjects = await objectCounts(client);
  await client.end();

  const manifest = await h.dump();
  expect(manifest.rowCounts).toEqual(expectedRows);
  expect(manifest.rowCounts['app."User"']).toBe(300);
  expect(manifest.rowCounts['"Billing"."Invoice"']).toBe(150);
  expect(manifest.rowCounts['app.measurements_2024'] + manifest.rowCounts['app.measurements_2025']).toBe(3000);
  expect(manifest.objectCounts).toEqual(expectedObjects);
  expect(manifest.objectCounts).toMatchObject({ schemas: 2, views: 2, materializedViews: 1, functions: 3, triggers: 1, largeObjects: 1 });
  expect(manifest.dump.bytes).toBeGreaterThan(10 * 1024 * 1024); // several 5 MiB parts
  expect(manifest.dump.sha256).toMatch(/^[0-9a-f]{64}$/);
  expect(manifest.pgDump.major).toBe(15);
  expect(await s3.openUploads()).toEqual([]);
  expect(h.emf.values('BackupSucceeded')).toEqual([1]);
  expect(h.emf.values('BackupBytes')).toEqual([manifest.dump.bytes]);
  const emf = h.emf.lines[0] as { _aws: { CloudWatchMetrics: Array<{ Namespace: string; Dimensions: string[][] }> }; database: string; class: string };
  expect(emf._aws.CloudWatchMetrics[0]).toMatchObject({ Namespace: 'PgDr', Dimensions: [['database', 'class']] });
  expect(emf).toMatchObject({ database: 'shop', class: 'daily' });
  // The password never reaches a log line.
  expect(h.log.text()).not.toContain(pg.password);

  const record = await h.verify();
  expect(record.failures).toEqual([]);
  expect(record.ok).toBe(true);
  expect(record.level).toBe(2);
  expect(record.integrity.actualSha256).toBe(manifest.dump.sha256);
  expect(record.integrity.archiveEntries).toBeGreaterThan(20);
  expect(record.restoreTest!.rowCountMismatches).toEqual([]);
  expect(record.restoreTest!.objectCountMismatches).toEqual([]);
  expect(record.restoreTest!.smokeQueries.map((q) => q.ok)).toEqual([true, true, true, true]);
  expect(record.restoreTest!.scratchDropped).toBe(true);
  expect((await pg.databases()).filter((d) => d.startsWith('pgdr_verify_'))).toEqual([]);
  expect(h.emf.values('VerifySucceeded')).toEqual([1]);
  expect(h.emf.values('RowCountMismatches')).toEqual([0]);
  expect(h.emf.values('RestoreTestSeconds')[0]).toBeGreaterThan(0);

  const keys = keysFromManifestKey(record.manifestKey);
  const stored = parseVerification((await h.store().getText(keys.verification))!.text, keys.verification);
  expect(stored).toEqual(record);
  const pointer = parseLatestVerified((await h.store().getText(latestVerifiedKey('shop')))!.text, 'latest');
  expect(pointer).toMatchObject({ dumpKey: manifest.dump.key, backupStartedAt: manifest.startedAt, level: 2 });
});

test('the pointer only moves forward: verifying an older backup after a newer one leaves it', async () => {
  const h = harness(pg, s3, 'shop', 'shop', { restoreTestEveryNth: 0, smokeQueries: [] });
  const older = await h.dump();
  const newer = await h.dump();
  expect((await h.verify({ manifestKey: keysFromDumpKey(newer.dump.key).manifest })).ok).toBe(true);
  const recordOld = await h.verify({ manifestKey: keysFromDumpKey(older.dump.key).manifest });
  expect(recordOld).toMatchObject({ ok: true, level: 1 });
  const pointer = parseLatestVerified((await h.store().getText(latestVerifiedKey('shop')))!.text, 'latest');
  expect(pointer.dumpKey).toBe(newer.dump.key);
});

test('row counts are those of the dump snapshot while another connection keeps inserting', async () => {
  await pg.createDatabase('busy');
  await pg.sql('busy', `CREATE TABLE "Event" (id bigserial PRIMARY KEY, payload text); INSERT INTO "Event"(payload) SELECT repeat('x', 200) FROM generate_series(1, 20000);
    CREATE TABLE audit (id bigserial PRIMARY KEY, at timestamptz DEFAULT clock_timestamp());`);
  const writer = await pg.client('busy');
  let writing = true;
  let inserted = 0;
  let committed: (() => void) | undefined;
  /** Resolves at the writer's next commit. */
  const nextCommit = () => new Promise<void>((resolve) => (committed = resolve));
  const writes = (async () => {
    while (writing) {
      // One transaction touching both tables: in any snapshot, audit rows = Event rows - 20000.
      await writer.query(`BEGIN; INSERT INTO "Event"(payload) SELECT repeat('y', 200) FROM generate_series(1, 50); INSERT INTO audit(at) SELECT clock_timestamp() FROM generate_series(1, 50); COMMIT;`);
      inserted += 50;
      committed?.();
    }
  })();
  try {
    await nextCommit();
    const h = harness(pg, s3, 'busy', 'busy');
    // The writer commits during the dump: after the snapshot and the counts, before the object completes.
    let duringDump = 0;
    const manifest = await h.dump({ store: storeWithHook(h.store(), async () => { await nextCommit(); duringDump = inserted; }) });
    expect(duringDump).toBeGreaterThan(0);
    expect(manifest.rowCounts['public.audit']).toBe(manifest.rowCounts['public."Event"'] - 20000);
    expect(manifest.rowCounts['public.audit']).toBeGreaterThan(0);
    writing = false;
    await writes;
    const record = await h.verify();
    expect(record.failures).toEqual([]);
    expect(record.restoreTest!.rowCountMismatches).toEqual([]);
    // The live table has moved on; the manifest holds the snapshot's count, which the restore proved.
    const [{ n }] = await pg.sql<{ n: string }>('busy', 'SELECT count(*) AS n FROM "Event"');
    expect(Number(n)).toBeGreaterThan(manifest.rowCounts['public."Event"']);
  } finally {
    writing = false;
    await writes.catch(() => undefined);
    await writer.end();
  }
});

test.each(['pg_dump-gzip', 'none'] as const)('round trip with compression %s (archive read by pg_restore straight from the stream)', async (compression) => {
  const h = harness(pg, s3, `shop-${compression.replace('_', '-')}`, 'shop');
  const manifest = await h.dump({ compression });
  expect(manifest.dump.compression.method).toBe(compression);
  expect(manifest.dump.uncompressedBytes).toBeUndefined();
  const record = await h.verify();
  expect(record.failures).toEqual([]);
  expect(record).toMatchObject({ ok: true, level: 2 });
  expect(h.emf.values('CompressionRatio')).toEqual([]);
});

test('the tools packed as a Lambda layer tree (scripts/pack-pg-tools.sh: bin/ + lib/) dump and verify', async () => {
  const script = join(__dirname, '../../scripts/pack-pg-tools.sh');
  if (!existsSync(script)) throw new Error('scripts/pack-pg-tools.sh is missing');
  const out = join(mkdtempSync(join(tmpdir(), 'pgdr-layer-')), 'opt');
  try {
    execFileSync('bash', [script, '--rpath', 'never', PG_BIN, out], { stdio: 'pipe' });
    const h = harness(pg, s3, 'shop-layer', 'shop');
    const manifest = await h.dump({ pgBin: join(out, 'bin') });
    expect(manifest.dump.compression.method).toBe(existsSync(join(out, 'bin', 'zstd')) ? 'zstd-stream' : 'pg_dump-gzip');
    const record = await h.verify({}, { pgBin: join(out, 'bin') });
    expect(record.failures).toEqual([]);
  } finally {
    rmSync(join(out, '..'), { recursive: true, force: true });
  }
});
