/**
 * No password on a command line: with the password in PGPASSWORD, in the password file or in a
 * service file (PGSERVICE / `service=NAME`), the password appears in no process's argv while
 * `pgdr backup` runs: pg_dump is wrapped by a script that, while pgdr and pg_dump are both alive,
 * writes every process's command line (/proc/<pid>/cmdline, as `ps` shows it) to a file.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PgCluster } from '../../local/pg-cluster';
import { runPgdr } from '../support/cli';
import { fakeBin, FakeBin } from '../support/fake-bin';
import { connectionFromService, serviceSection } from '../../lambda/shared/pg-service';

let pg: PgCluster;
let bin: FakeBin;
let dir: string;
const snapshot = () => join(dir, 'cmdlines.txt');

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pgdr-argv-'));
  // Every process's command line, NUL-separated arguments shown as spaces, one process per line.
  bin = fakeBin({
    pg_dump: `if [ "$1" = "--version" ]; then exec "$REAL" --version; fi
for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < "$f" 2>/dev/null; echo; done > ${JSON.stringify(join(dir, 'cmdlines.txt'))}
exec "$REAL" "$@"`,
  });
  pg = await PgCluster.start();
  await pg.createDatabase('shop');
  await pg.sql('shop', `CREATE TABLE items (id int PRIMARY KEY); INSERT INTO items SELECT generate_series(1, 10);`);
});

afterAll(async () => {
  await pg?.stop();
  bin?.remove();
  rmSync(dir, { recursive: true, force: true });
});

async function backupShowsNoPassword(args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  rmSync(snapshot(), { force: true });
  const run = await runPgdr(join(dir, 'local'), ['backup', 'argv', '--local', '--pg-bin', bin.dir, '--json', ...args], env);
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  const lines = readFileSync(snapshot(), 'utf8');
  // The snapshot saw the CLI itself and pg_dump's wrapper (so it is a real view of the process tree).
  expect(lines).toMatch(/bin\/pgdr\.js backup argv --local/);
  expect(lines).not.toContain(pg.password);
  expect(run.stdout).not.toContain(pg.password);
}

test('PGPASSWORD with a URL without password: in no argv while the backup runs', async () => {
  await backupShowsNoPassword(['--source-url', `postgres://postgres@127.0.0.1:${pg.port}/shop`], { PGPASSWORD: pg.password });
});

test('the password file: in no argv', async () => {
  const passfile = join(dir, 'pgpass');
  writeFileSync(passfile, `127.0.0.1:${pg.port}:*:postgres:${pg.password}\n`);
  chmodSync(passfile, 0o600);
  await backupShowsNoPassword(['--source-url', `postgres://postgres@127.0.0.1:${pg.port}/shop`], { PGPASSFILE: passfile });
});

test('PGSERVICE with no URL, and --source-url service=NAME: the service file gives host, port, database, user and password', async () => {
  const serviceFile = join(dir, 'pg_service.conf');
  writeFileSync(serviceFile, `# pgdr test\n[shop-prod]\nhost=127.0.0.1\nport=${pg.port}\ndbname=shop\nuser=postgres\npassword=${pg.password}\n\n[other]\nhost=nowhere\n`);
  chmodSync(serviceFile, 0o600);
  await backupShowsNoPassword([], { PGSERVICEFILE: serviceFile, PGSERVICE: 'shop-prod' });
  await backupShowsNoPassword(['--source-url', 'service=shop-prod'], { PGSERVICEFILE: serviceFile });
  const missing = await runPgdr(join(dir, 'local'), ['backup', 'argv', '--local', '--source-url', 'service=nope'], { PGSERVICEFILE: serviceFile, PGSYSCONFDIR: dir });
  expect(missing.code).toBe(2);
  expect(missing.stderr).toBe(`pgdr: service "nope" is not defined in ${serviceFile} or ${join(dir, 'pg_service.conf')} (PGSERVICEFILE / PGSYSCONFDIR)\n`);
});

test('service file parsing: sections, comments, defaults from the environment (TLS and connect timeout too)', () => {
  const text = '[a]\nhost=h1\n# c\n[b]\n host = h2 \nport=6543\n';
  expect(serviceSection(text, 'b')).toEqual({ host: 'h2', port: '6543' });
  expect(serviceSection(text, 'c')).toBeUndefined();
  const conn = connectionFromService('b', { env: { PGSERVICEFILE: '/s', PGUSER: 'ops', PGDATABASE: 'app' }, readFile: (p) => (p === '/s' ? text : undefined) });
  expect(conn).toEqual({ host: 'h2', port: 6543, dbname: 'app', username: 'ops', password: '' });
  expect(() => connectionFromService('a', { env: { PGSERVICEFILE: '/s' }, readFile: () => '[a]\nport=99999\n' })).toThrow('service "a" (/s): port must be 1-65535 (received 99999)');
  // TLS and the connect timeout: the entry's own, else PGSSLMODE / PGSSLROOTCERT / PGCONNECT_TIMEOUT; a bad value names its source.
  const tlsEnv = { PGSERVICEFILE: '/s', PGSSLMODE: 'verify-full', PGSSLROOTCERT: '/etc/ca.pem', PGCONNECT_TIMEOUT: '9' };
  expect(connectionFromService('b', { env: tlsEnv, readFile: () => text })).toMatchObject({ sslmode: 'verify-full', sslrootcert: '/etc/ca.pem', connectTimeoutSeconds: 9 });
  expect(connectionFromService('a', { env: tlsEnv, readFile: () => '[a]\nsslmode=require\nsslrootcert=/own.pem\nconnect_timeout=0\n' })).toMatchObject({ sslmode: 'require', sslrootcert: '/own.pem', connectTimeoutSeconds: 0 });
  expect(() => connectionFromService('a', { env: { PGSERVICEFILE: '/s', PGSSLMODE: 'yes' }, readFile: () => '[a]\n' })).toThrow('PGSSLMODE: sslmode must be one of disable, prefer, require, verify-ca, verify-full (received "yes")');
  expect(() => connectionFromService('a', { env: { PGSERVICEFILE: '/s' }, readFile: () => '[a]\nconnect_timeout=soon\n' })).toThrow('service "a" (/s): connect_timeout must be a whole number of seconds (received "soon")');
});
