/**
 * writeDataOffsets gives a custom-format archive that pg_dump wrote into a pipe the data offsets
 * pg_dump writes into a file: on a real dump (tables, a large object, an empty table, a quoted
 * unicode name) the patched archive equals pg_dump's own `-f` output except the header's dump
 * time, and `pg_restore --jobs 2` restores it. Anything it does not understand leaves the file
 * byte for byte as it was.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PG_BIN, PgCluster } from '../../local/pg-cluster';
import { connectionFromUrl, libpqEnv } from '../../lambda/shared/connection';
import { writeDataOffsets } from '../../lambda/shared/archive-offsets';
import { DataOffsets } from '../../lambda/shared/restore-mode';

let pg: PgCluster;
const dir = mkdtempSync(join(tmpdir(), 'pgdr-offsets-'));

beforeAll(async () => {
  pg = await PgCluster.start();
  await pg.createDatabase('src');
  await pg.sql(
    'src',
    `CREATE TABLE a (id int PRIMARY KEY, body text); INSERT INTO a SELECT g, repeat('x', g % 300) FROM generate_series(1, 20000) g;
     CREATE TABLE "Ünïcode ""t""" (id int); INSERT INTO "Ünïcode ""t""" SELECT generate_series(1, 500);
     CREATE TABLE empty (id int);
     SELECT lo_from_bytea(0, decode(repeat('ab', 5000), 'hex'));`,
  );
});

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await pg?.stop();
});

const env = () => ({ ...process.env, ...libpqEnv(connectionFromUrl(pg.url('src'))), PGSSLMODE: 'disable' });
/** pg_dump -Fc -Z0 into a pipe (what pgdr's dump stores) and into a file (offsets written by pg_dump). */
function dumps(): { piped: string; file: string } {
  const piped = join(dir, 'piped.dump');
  const file = join(dir, 'file.dump');
  writeFileSync(piped, execFileSync(join(PG_BIN, 'pg_dump'), ['-Fc', '-Z0'], { env: env(), maxBuffer: 1 << 30 }));
  execFileSync(join(PG_BIN, 'pg_dump'), ['-Fc', '-Z0', '-f', file], { env: env() });
  return { piped, file };
}

/** Bytes that differ, leaving out the header's dump time (7 integers after the compression field). */
function differingBytes(a: Buffer, b: Buffer): number[] {
  expect(a.length).toBe(b.length);
  const out: number[] = [];
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) out.push(i);
  return out;
}

test('a piped dump gets the offsets pg_dump writes into a file, and pg_restore --jobs 2 restores it', async () => {
  const { piped, file } = dumps();
  const before = readFileSync(piped);
  expect(differingBytes(before, readFileSync(file)).filter((i) => i > 64).length).toBeGreaterThan(0);
  expect(await writeDataOffsets(piped)).toEqual({ patched: 4, blocks: 4 });
  // Only the dump time in the header (within the first 64 bytes) differs now.
  expect(differingBytes(readFileSync(piped), readFileSync(file)).filter((i) => i > 64)).toEqual([]);
  await pg.createDatabase('dst');
  execFileSync(join(PG_BIN, 'pg_restore'), ['--jobs=2', '--exit-on-error', '-d', 'dst', piped], { env: { ...env(), PGDATABASE: 'dst' } });
  const [row] = await pg.sql<{ a: string; u: string; lo: string }>('dst', `SELECT (SELECT count(*) FROM a) AS a, (SELECT count(*) FROM "Ünïcode ""t""") AS u, (SELECT count(*) FROM pg_largeobject_metadata) AS lo`);
  expect(row).toEqual({ a: '20000', u: '500', lo: '1' });
  // A second pass finds every offset already set.
  expect(await writeDataOffsets(piped)).toEqual({ patched: 0, blocks: 4 });
});

test('an archive many times the 4 MiB read buffer, with a definition larger than it: the same offsets as pg_dump -f', async () => {
  await pg.createDatabase('big');
  // ~14 MiB of rows (chunk headers fall across every buffer boundary), rows of 100 KiB and 17 MiB
  // (a chunk length in every byte of pg_dump's 4-byte integer; longer than the buffer) and a 5 MiB
  // comment in the table of contents (one string longer than the buffer).
  await pg.sql(
    'big',
    `CREATE TABLE rows (id int, body text); INSERT INTO rows SELECT g, repeat(md5(g::text), 1 + g % 9) FROM generate_series(1, 100000) g;
     INSERT INTO rows VALUES (-1, repeat('w', 100 * 1024)), (-2, repeat('v', 17 * 1024 * 1024));
     CREATE TABLE later (id int); INSERT INTO later SELECT generate_series(1, 10);
     DO $$ BEGIN EXECUTE format('COMMENT ON TABLE rows IS %L', repeat('c', 5 * 1024 * 1024)); END $$;`,
  );
  const bigEnv = { ...env(), PGDATABASE: 'big' };
  const piped = join(dir, 'big-piped.dump');
  const file = join(dir, 'big-file.dump');
  writeFileSync(piped, execFileSync(join(PG_BIN, 'pg_dump'), ['-Fc', '-Z0'], { env: bigEnv, maxBuffer: 1 << 30 }));
  execFileSync(join(PG_BIN, 'pg_dump'), ['-Fc', '-Z0', '-f', file], { env: bigEnv });
  expect(readFileSync(piped).length).toBeGreaterThan(3 * 4 * 1024 * 1024);
  expect(await writeDataOffsets(piped)).toEqual({ patched: 2, blocks: 2 });
  expect(differingBytes(readFileSync(piped), readFileSync(file)).filter((i) => i > 64)).toEqual([]);
});

test('a truncated archive, a plain SQL file or bytes after the last block: skipped with the reason, the file unchanged', async () => {
  const { piped } = dumps();
  const whole = readFileSync(piped);
  const cases: Array<[string, Buffer, RegExp]> = [
    ['truncated.dump', whole.subarray(0, whole.length - 1000), /ends at byte|runs past the end/],
    ['plain.sql', Buffer.from('-- PostgreSQL database dump\nSELECT 1;\n'), /no PGDMP magic/],
    ['garbage-block.dump', Buffer.concat([whole, Buffer.from([7, 0, 1, 0, 0, 0])]), /not a data block/],
  ];
  for (const [name, bytes, reason] of cases) {
    const path = join(dir, name);
    writeFileSync(path, bytes);
    const result = await writeDataOffsets(path);
    expect(result).toEqual({ skipped: expect.stringMatching(reason) });
    expect(Buffer.compare(readFileSync(path), bytes)).toBe(0);
  }
});

describe('DataOffsets (restore-mode.ts): the scan starts at once, the offsets are written when asked', () => {
  test('write() writes what the scan found, once; pg_restore --jobs then finds every offset set', async () => {
    const { piped, file } = dumps();
    const warnings: string[] = [];
    const offsets = new DataOffsets(piped, (reason) => warnings.push(reason));
    await offsets.scanned();
    // The scan alone changes nothing.
    expect(differingBytes(readFileSync(piped), readFileSync(file)).filter((i) => i > 64).length).toBeGreaterThan(0);
    const first = offsets.write();
    expect(offsets.write()).toBe(first);
    expect(await first).toEqual({ patched: 4, blocks: 4 });
    expect(differingBytes(readFileSync(piped), readFileSync(file)).filter((i) => i > 64)).toEqual([]);
    expect(warnings).toEqual([]);
  });

  test('an archive it does not understand, or one gone before the scan, is left as it is: write() says why, warns once, never rejects', async () => {
    const plain = join(dir, 'offsets-plain.sql');
    const bytes = Buffer.from('-- PostgreSQL database dump\nSELECT 1;\n');
    writeFileSync(plain, bytes);
    const warnings: string[] = [];
    const offsets = new DataOffsets(plain, (reason) => warnings.push(reason));
    expect(await offsets.write()).toEqual({ skipped: expect.stringMatching(/no PGDMP magic/) });
    await offsets.write();
    expect(warnings).toEqual([expect.stringMatching(/no PGDMP magic/)]);
    expect(Buffer.compare(readFileSync(plain), bytes)).toBe(0);

    const gone = new DataOffsets(join(dir, 'no-such.dump'), (reason) => warnings.push(reason));
    await gone.scanned();
    expect(await gone.write()).toEqual({ skipped: expect.stringMatching(/^reading the archive failed: .*ENOENT/) });
  });
});
