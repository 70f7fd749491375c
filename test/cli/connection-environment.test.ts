/**
 * A URL takes sslmode, sslrootcert and connect_timeout from its query string, else from PGSSLMODE,
 * PGSSLROOTCERT and PGCONNECT_TIMEOUT, as libpq does: a user's PGSSLMODE=require is not dropped for
 * a "prefer" that falls back to plain text. Real cluster (no TLS), real `pgdr backup`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PgCluster } from '../../local/pg-cluster';
import { runPgdr } from '../support/cli';
import { parseConnection } from '../../cli/shared';
import { libpqEnv } from '../../lambda/shared/connection';

let pg: PgCluster;
let localDir: string;

beforeAll(async () => {
  localDir = mkdtempSync(join(tmpdir(), 'pgdr-connenv-'));
  pg = await PgCluster.start();
  await pg.createDatabase('shop');
  await pg.sql('shop', `CREATE TABLE items (id int PRIMARY KEY); INSERT INTO items SELECT generate_series(1, 40);`);
});

afterAll(async () => {
  await pg?.stop();
  rmSync(localDir, { recursive: true, force: true });
});

test('the environment fills what the URL leaves out; the URL wins; pg_dump gets the same', () => {
  const url = 'postgres://app@db.example:5432/shop';
  expect(parseConnection(url, '--source-url', {})).toMatchObject({ sslmode: 'prefer' });
  expect(parseConnection(url, '--source-url', {})).not.toHaveProperty('sslrootcert');
  const fromEnv = parseConnection(url, '--source-url', { PGSSLMODE: 'verify-full', PGSSLROOTCERT: '/etc/ca.pem', PGCONNECT_TIMEOUT: '7' })!;
  expect(fromEnv).toMatchObject({ sslmode: 'verify-full', sslrootcert: '/etc/ca.pem', connectTimeoutSeconds: 7 });
  expect(libpqEnv(fromEnv)).toMatchObject({ PGSSLMODE: 'verify-full', PGSSLROOTCERT: '/etc/ca.pem', PGCONNECT_TIMEOUT: '7' });
  const fromUrl = parseConnection(`${url}?sslmode=require&sslrootcert=/srv/other.pem&connect_timeout=0`, '--source-url', { PGSSLMODE: 'disable', PGSSLROOTCERT: '/etc/ca.pem', PGCONNECT_TIMEOUT: '7' })!;
  expect(fromUrl).toMatchObject({ sslmode: 'require', sslrootcert: '/srv/other.pem', connectTimeoutSeconds: 0 });
});

test('a bad value names where it came from, and no password', () => {
  const url = 'postgres://app:hunter2@db.example/shop';
  expect(() => parseConnection(url, '--source-url', { PGSSLMODE: 'on' })).toThrow('PGSSLMODE: sslmode must be one of disable, prefer, require, verify-ca, verify-full (received "on")');
  expect(() => parseConnection(url, '--source-url', { PGCONNECT_TIMEOUT: '10s' })).toThrow('PGCONNECT_TIMEOUT: connect_timeout must be a whole number of seconds (received "10s")');
  expect(() => parseConnection(`${url}?connect_timeout=-1`, '--source-url', {})).toThrow(/^--source-url postgres:\/\/app:\*\*\*@db\.example\/shop: connect_timeout must be a whole number of seconds \(received "-1"\)$/);
});

test('PGSSLMODE=require against a server without TLS: the backup fails saying so (before: it went ahead in plain text); disable: it runs', async () => {
  const url = pg.url('shop').replace(/:[^:@/]*@/, '@');
  const required = await runPgdr(localDir, ['backup', 'shop', '--local', '--source-url', url, '--json'], { PGPASSWORD: pg.password, PGSSLMODE: 'require' });
  expect(required.code).toBe(1);
  expect(required.stdout).toBe('');
  expect(required.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^pgdr: .*(TLS|SSL).*/)]);
  const plain = await runPgdr(localDir, ['backup', 'shop', '--local', '--source-url', url, '--json'], { PGPASSWORD: pg.password, PGSSLMODE: 'disable' });
  expect(plain.stderr).toBe('');
  expect(plain.code).toBe(0);
  expect(JSON.parse(plain.stdout)).toMatchObject({ rowCounts: { 'public.items': 40 } });
});
