/**
 * Encoding and locale travel with the dump: the manifest records the source database's encoding,
 * LC_COLLATE, LC_CTYPE and locale provider, and the restore test recreates them in its scratch
 * database, so a LATIN1 or SQL_ASCII database is restored byte for byte, not converted (or
 * mangled) into UTF8. A restore server that cannot reproduce them fails the verification, naming
 * what did not match. Manifests of older pgdr (no `locale`) keep the server default, and the
 * record says the locale was not checked.
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { PgCluster } from '../../local/pg-cluster';
import { startTestS3, TestS3 } from '../support/s3-server';
import { harness, scratchDatabases } from '../support/harness';
import { keysFromDumpKey } from '../../lambda/shared/layout';
import { BackupManifest, DatabaseLocale } from '../../lambda/shared/records';
import { localeOptions } from '../../lambda/shared/locale';
import { quoteLiteral } from '../../lambda/shared/pg-client';

let pg: PgCluster;
let s3: TestS3;

/** Smoke queries that hold only in a scratch database of `encoding` with the source's bytes. */
const sameBytes = (encoding: string) => ({
  restoreTestEveryNth: 1,
  smokeQueries: [
    { name: 'encoding', sql: `SELECT 1 FROM pg_database WHERE datname = current_database() AND pg_encoding_to_char(encoding) = '${encoding}' AND datcollate = 'C'`, minRows: 1 },
    // "café" with é as the single byte 0xE9: 4 bytes in LATIN1 and SQL_ASCII, 5 if converted to UTF8.
    { name: 'bytes', sql: `SELECT 1 FROM notes WHERE octet_length(body) = 4 AND convert_to(body, '${encoding}') = '\\x636166e9'::bytea`, minRows: 1 },
  ],
});

beforeAll(async () => {
  [pg, s3] = await Promise.all([PgCluster.start(), startTestS3()]);
  for (const encoding of ['LATIN1', 'SQL_ASCII']) {
    const db = encoding.toLowerCase();
    await pg.sql('postgres', `CREATE DATABASE ${db} ENCODING '${encoding}' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0`);
    // E'\xe9' is the byte 0xE9 in the server's encoding (é in LATIN1; any byte is valid in SQL_ASCII).
    await pg.sql(db, `CREATE TABLE notes (id int PRIMARY KEY, body text); INSERT INTO notes VALUES (1, E'caf\\xe9')`);
  }
});

afterAll(async () => {
  await Promise.allSettled([s3?.stop(), pg?.stop()]);
});

const manifestKeyOf = (m: BackupManifest) => keysFromDumpKey(m.dump.key).manifest;
const rewriteManifest = (m: BackupManifest, edited: object) => s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: manifestKeyOf(m), Body: JSON.stringify(edited) }));

test.each(['LATIN1', 'SQL_ASCII'])('a %s database is recorded and restored into a scratch database of the same encoding, byte for byte', async (encoding) => {
  const h = harness(pg, s3, `enc-${encoding.toLowerCase().replace('_', '-')}`, encoding.toLowerCase(), sameBytes(encoding));
  const manifest = await h.dump();
  const expected: DatabaseLocale = { encoding, collate: 'C', ctype: 'C', localeProvider: 'libc' };
  expect(manifest.locale).toEqual(expected);
  const record = await h.verify({ restoreTest: true });
  expect(record.failures).toEqual([]);
  expect(record.ok).toBe(true);
  expect(record.restoreTest!.locale).toEqual({ checked: true, expected, actual: expected });
  expect(record.restoreTest!.smokeQueries.map((q) => q.ok)).toEqual([true, true]);
  expect(await scratchDatabases(pg)).toEqual([]);
});

test('an ICU database is recorded with its ICU locale and restored into one with the same', async () => {
  await pg.sql('postgres', `CREATE DATABASE icu ENCODING 'UTF8' LOCALE_PROVIDER icu ICU_LOCALE 'de-DE' LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8' TEMPLATE template0`);
  await pg.sql('icu', `CREATE TABLE words (w text); INSERT INTO words VALUES ('b'), ('ä'), ('a'), ('z')`);
  // German ICU order puts ä next to a; the C locale would put it after z.
  const h = harness(pg, s3, 'icu', 'icu', {
    restoreTestEveryNth: 1,
    smokeQueries: [{ name: 'icu order', sql: `SELECT 1 FROM (SELECT string_agg(w, '' ORDER BY w) AS s FROM words) x WHERE s = 'aäbz'`, minRows: 1 }],
  });
  const manifest = await h.dump();
  const expected: DatabaseLocale = { encoding: 'UTF8', collate: 'C.UTF-8', ctype: 'C.UTF-8', localeProvider: 'icu', locale: 'de-DE' };
  expect(manifest.locale).toEqual(expected);
  const record = await h.verify({ restoreTest: true });
  expect(record.failures).toEqual([]);
  expect(record.restoreTest!.locale).toEqual({ checked: true, expected, actual: expected });
});

test('a locale the restore server does not have fails the verification and names it', async () => {
  const h = harness(pg, s3, 'no-such-locale', 'latin1', { restoreTestEveryNth: 1, smokeQueries: [] });
  const manifest = await h.dump();
  await rewriteManifest(manifest, { ...manifest, locale: { encoding: 'LATIN1', collate: 'xx_XX.ISO-8859-1', ctype: 'C', localeProvider: 'libc' } });
  const record = await h.verify({ manifestKey: manifestKeyOf(manifest) });
  expect(record.ok).toBe(false);
  expect(record.failures).toEqual([
    expect.stringMatching(/^restore test failed: the restore server cannot create a database with the source's encoding LATIN1, LC_COLLATE "xx_XX.ISO-8859-1", LC_CTYPE "C", provider libc: invalid (LC_COLLATE )?locale name: "xx_XX.ISO-8859-1"/),
  ]);
  expect(record.restoreTest!.locale).toMatchObject({ checked: true, reason: expect.stringContaining('xx_XX.ISO-8859-1') });
  expect(record.restoreTest!.scratchDropped).toBe(false);
  expect(await scratchDatabases(pg)).toEqual([]);
});

test('a locale provider the restore server does not support fails the verification and names it', async () => {
  const h = harness(pg, s3, 'builtin-provider', 'latin1', { restoreTestEveryNth: 1, smokeQueries: [] });
  const manifest = await h.dump();
  await rewriteManifest(manifest, { ...manifest, locale: { encoding: 'UTF8', collate: 'C.UTF-8', ctype: 'C.UTF-8', localeProvider: 'builtin', locale: 'C.UTF-8' } });
  const record = await h.verify({ manifestKey: manifestKeyOf(manifest) });
  expect(record.ok).toBe(false);
  expect(record.failures).toEqual([expect.stringMatching(/^restore test failed: the restore server \(PostgreSQL 1[56]\) has no locale provider builtin \(PostgreSQL 17 or newer\), which the source database uses$/)]);
  expect(await scratchDatabases(pg)).toEqual([]);
});

test('a manifest of an older pgdr (no locale) restores into the server default and says the locale was not checked', async () => {
  const h = harness(pg, s3, 'old-manifest', 'latin1', { restoreTestEveryNth: 1, smokeQueries: [] });
  const manifest = await h.dump();
  await rewriteManifest(manifest, { ...manifest, locale: undefined }); // JSON.stringify leaves it out
  const record = await h.verify({ manifestKey: manifestKeyOf(manifest) });
  expect(record.ok).toBe(true);
  expect(record.restoreTest!.locale).toEqual({
    checked: false,
    reason: 'the manifest records no encoding and locale (written before pgdr 0.2): not checked, the scratch database gets the restore server default',
    actual: { encoding: 'UTF8', collate: 'C.UTF-8', ctype: 'C.UTF-8', localeProvider: 'libc' },
  });
});

test('CREATE DATABASE options per provider and server version; literals cannot break out', () => {
  const icu: DatabaseLocale = { encoding: 'UTF8', collate: 'en_US.UTF-8', ctype: 'en_US.UTF-8', localeProvider: 'icu', locale: 'und-u-ks-level2' };
  expect(localeOptions(icu, 150004)).toBe(`ENCODING 'UTF8' LC_COLLATE 'en_US.UTF-8' LC_CTYPE 'en_US.UTF-8' LOCALE_PROVIDER icu ICU_LOCALE 'und-u-ks-level2'`);
  expect(() => localeOptions(icu, 140010)).toThrow('the restore server (PostgreSQL 14) has no locale provider icu (PostgreSQL 15 or newer), which the source database uses');
  expect(localeOptions({ encoding: 'LATIN1', collate: 'C', ctype: 'C', localeProvider: 'libc' }, 140010)).toBe(`ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C'`);
  expect(localeOptions({ encoding: 'UTF8', collate: 'C.UTF-8', ctype: 'C.UTF-8', localeProvider: 'builtin', locale: 'C.UTF-8' }, 170002)).toMatch(/LOCALE_PROVIDER builtin BUILTIN_LOCALE 'C.UTF-8'$/);
  expect(() => localeOptions({ encoding: "UTF8' TEMPLATE x --", collate: 'C', ctype: 'C', localeProvider: 'libc' }, 150004)).toThrow(/is not an encoding name/);
  expect(quoteLiteral(`C'; DROP DATABASE x; --`)).toBe(`'C''; DROP DATABASE x; --'`);
  expect(quoteLiteral('a\\b')).toBe(`E'a\\\\b'`);
});
