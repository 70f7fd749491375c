/**
 * A URL without a password takes it from PGPASSWORD or the password file (PGPASSFILE), as libpq
 * does, for the node client and for pg_dump/pg_restore alike; unix-socket URLs work for both.
 * Likewise sslmode, sslrootcert and connect_timeout: from the query string, else from PGSSLMODE,
 * PGSSLROOTCERT and PGCONNECT_TIMEOUT (a user's PGSSLMODE=require is not dropped for a "prefer"
 * that falls back to plain text). Real cluster (no TLS), real `pgdr backup` + `pgdr verify`
 * through bin/pgdr.js.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PgCluster } from '../../local/pg-cluster';
import { runPgdr } from '../support/cli';
import { passwordFromPassfile, withPasswordFromEnvironment } from '../../lambda/shared/pgpass';
import type { BackupManifest, VerificationRecord } from '../../lambda/shared/records';
import { parseConnection } from '../../cli/shared';
import { libpqEnv } from '../../lambda/shared/connection';

let pg: PgCluster;
let localDir: string;

beforeAll(async () => {
  localDir = mkdtempSync(join(tmpdir(), 'pgdr-pwsrc-'));
  pg = await PgCluster.start();
  await pg.createDatabase('shop');
  await pg.sql('shop', `CREATE TABLE items (id int PRIMARY KEY, name text); INSERT INTO items SELECT i, 'item ' || i FROM generate_series(1, 250) i;`);
});

afterAll(async () => {
  await pg?.stop();
  rmSync(localDir, { recursive: true, force: true });
});

/** backup then verify of `name` through `url` with `env`; both must succeed, and no password shows. */
async function roundTrip(name: string, url: string, env: NodeJS.ProcessEnv): Promise<void> {
  const backup = await runPgdr(localDir, ['backup', name, '--local', '--source-url', url, '--json'], env);
  expect(backup.stderr).toBe('');
  expect(backup.code).toBe(0);
  const manifest = JSON.parse(backup.stdout) as BackupManifest;
  expect(manifest.rowCounts).toEqual({ 'public.items': 250 });
  const verify = await runPgdr(localDir, ['verify', name, '--local', '--source-url', url, '--json'], env);
  expect(verify.stderr).toBe('');
  expect(verify.code).toBe(0);
  expect(JSON.parse(verify.stdout) as VerificationRecord).toMatchObject({ ok: true, level: 2, dumpKey: manifest.dump.key });
  expect(`${backup.stdout}${verify.stdout}`).not.toContain(pg.password);
}

const tcpUrl = () => `postgres://postgres@127.0.0.1:${pg.port}/shop`;

test('PGPASSWORD: backup and verify with a URL that has no password', async () => {
  await roundTrip('pw-env', tcpUrl(), { PGPASSWORD: pg.password });
});

test('PGPASSFILE: backup and verify with a URL that has no password', async () => {
  const file = join(localDir, 'pgpass');
  // Escaped ':' in a field, a comment, a non-matching line first, then a wildcard database.
  writeFileSync(file, `# pgdr test\n127.0.0.1:${pg.port}:other:postgres:wrong\n127.0.0.1:${pg.port}:*:postgres:${pg.password.replace(/[:\\]/g, '\\$&')}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  await roundTrip('pw-file', tcpUrl(), { PGPASSFILE: file });
});

test('a password file others can read is refused with one line naming the fix', async () => {
  const file = join(localDir, 'pgpass-open');
  writeFileSync(file, `*:*:*:*:${pg.password}\n`);
  chmodSync(file, 0o644);
  const run = await runPgdr(localDir, ['backup', 'pw-open', '--local', '--source-url', tcpUrl()], { PGPASSFILE: file });
  expect(run.code).toBe(2); // bad input: the file must be fixed
  expect(run.stderr).toBe(`pgdr: password file ${file} can be read by group or others, so libpq ignores it: chmod 0600 ${file}\n`);
});

test('unix socket, percent-encoded directory as the host', async () => {
  await roundTrip('sock-host', `postgres://postgres@${encodeURIComponent(pg.dir)}:${pg.port}/shop`, { PGPASSWORD: pg.password });
});

test('unix socket, ?host=DIR', async () => {
  await roundTrip('sock-query', `postgres://postgres@/shop?host=${encodeURIComponent(pg.dir)}&port=${pg.port}`, { PGPASSWORD: pg.password });
});

test('password file lookup follows libpq (first match, wildcards, escapes, default socket dir is localhost)', () => {
  const conn = { host: '/var/run/postgresql', port: 5432, dbname: 'shop', username: 'app', password: '' };
  const text = ['db.example:5432:shop:app:no', 'localhost:5432:shop:app:a\\:b\\\\c', '*:*:*:*:fallback'].join('\n');
  expect(passwordFromPassfile(text, conn)).toBe('a:b\\c');
  expect(passwordFromPassfile(text, { ...conn, host: '/tmp/sock' })).toBe('fallback');
  expect(withPasswordFromEnvironment({ ...conn, password: 'given' }, { env: { PGPASSWORD: 'env' } }).password).toBe('given');
  expect(withPasswordFromEnvironment(conn, { env: { PGPASSWORD: 'env' } }).password).toBe('env');
  expect(withPasswordFromEnvironment(conn, { env: { PGPASSFILE: '/f' }, readFile: () => text, modeOf: () => 0o100600 }).password).toBe('a:b\\c');
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
  const url = tcpUrl();
  const required = await runPgdr(localDir, ['backup', 'shop', '--local', '--source-url', url, '--json'], { PGPASSWORD: pg.password, PGSSLMODE: 'require' });
  expect(required.code).toBe(1);
  expect(required.stdout).toBe('');
  expect(required.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^pgdr: .*(TLS|SSL).*/)]);
  const plain = await runPgdr(localDir, ['backup', 'shop', '--local', '--source-url', url, '--json'], { PGPASSWORD: pg.password, PGSSLMODE: 'disable' });
  expect(plain.stderr).toBe('');
  expect(plain.code).toBe(0);
  expect(JSON.parse(plain.stdout)).toMatchObject({ rowCounts: { 'public.items': 250 } });
});
