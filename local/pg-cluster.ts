/**
 * A throw-away PostgreSQL cluster (tests, and the local drill's source and simulated RDS
 * instances): `initdb` in a new directory under the system temp dir or `baseDir` (as the
 * `postgres` OS user when running as root), password authentication on a free 127.0.0.1 port,
 * started with `pg_ctl`, stopped by PID (never by name) and removed by `stop()`. Call `stop()` in
 * `afterAll`/`finally` so the server goes away even when something fails.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { newestDebianBin } from '../cli/local';

/**
 * Where the PostgreSQL server binaries live: PGDR_TEST_PG_BIN, else the newest Debian
 * /usr/lib/postgresql/N/bin with initdb; '' when there is none (starting a cluster then fails
 * with a clear message; importing this module never does).
 */
export const PG_BIN = process.env.PGDR_TEST_PG_BIN ?? newestDebianBin('initdb') ?? '';

/** The server binaries to use: `explicit` (a --pg-bin holding initdb), else PG_BIN. */
export function serverBin(explicit?: string): string {
  if (explicit && existsSync(join(explicit, 'initdb'))) return explicit;
  if (!PG_BIN) throw new Error('no PostgreSQL server (initdb) under /usr/lib/postgresql: apt-get install -y postgresql (or set PGDR_TEST_PG_BIN)');
  return PG_BIN;
}

/**
 * A new directory for a cluster: under `baseDir` (created), else the temp dir. When we are root the
 * server runs as postgres, which must reach the directory: a `baseDir` it cannot reach (a home
 * directory of mode 0700) falls back to the temp dir.
 */
function clusterDir(baseDir: string | undefined, ids: { uid: number; gid: number } | undefined): string {
  if (baseDir !== undefined) {
    mkdirSync(baseDir, { recursive: true });
    if (!ids || spawnSync('runuser', ['-u', 'postgres', '--', 'test', '-x', baseDir]).status === 0) return mkdtempSync(join(baseDir, 'pg-'));
  }
  return mkdtempSync(join(tmpdir(), 'pgdr-pg-'));
}

/** A free TCP port on 127.0.0.1 (asked from the kernel, then released). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function postgresIds(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
  return { uid, gid };
}

/** Runs a command as the postgres OS user when we are root, as ourselves otherwise (`env` added to ours). */
function runAsPostgres(cmd: string, args: string[], env: Record<string, string> = {}): void {
  const asRoot = process.getuid?.() === 0;
  const options = { encoding: 'utf8' as const, env: { ...process.env, ...env } };
  const result = asRoot
    ? spawnSync('runuser', ['-u', 'postgres', '--', cmd, ...args], options)
    : spawnSync(cmd, args, options);
  if (result.status !== 0) {
    throw new Error(`${cmd} failed (${result.status}): ${result.stderr || result.stdout}`);
  }
}

export interface PgClusterOptions {
  /** Password of the `postgres` superuser. @default random */
  readonly password?: string;
  /**
   * Server settings for the command line (`-c name=value`), after and over the defaults, e.g.
   * `{ max_connections: 10 }` or `{ ssl: 'on', ssl_cert_file: 'server.crt' }`. @default none
   */
  readonly settings?: Readonly<Record<string, string | number>>;
  /** Files written into the data directory before the start (mode 0600, owned by the server), e.g. a TLS key or pg_hba.conf. @default none */
  readonly files?: Record<string, string>;
  /** Directory that holds the cluster's directory. @default the system temp dir */
  readonly baseDir?: string;
  /** Directory of initdb/pg_ctl/pg_basebackup. @default PG_BIN */
  readonly pgBin?: string;
}

export class PgCluster {
  /** Creates and starts a cluster. */
  static async start(options: PgClusterOptions = {}): Promise<PgCluster> {
    const bin = serverBin(options.pgBin);
    const ids = postgresIds();
    const dir = clusterDir(options.baseDir, ids);
    if (ids) chownSync(dir, ids.uid, ids.gid);
    const password = options.password ?? `pw-${randomBytes(8).toString('hex')}`;
    const pwfile = join(dir, 'pwfile');
    writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
    if (ids) chownSync(pwfile, ids.uid, ids.gid);
    const data = join(dir, 'data');
    const cluster = new PgCluster(dir, data, 0, password, bin);
    const settings = Object.entries(options.settings ?? {})
      .map(([name, value]) => {
        if (!/^[a-z_.]+$/.test(name) || !/^[\w.-]+$/.test(String(value))) throw new Error(`PgCluster setting ${name}=${value}: only plain names and values`);
        return ` -c ${name}=${value}`;
      })
      .join('');
    try {
      runAsPostgres(join(bin, 'initdb'), [
        '-D', data, '-U', 'postgres', '--auth=scram-sha-256', `--pwfile=${pwfile}`, '-E', 'UTF8', '--locale=C.UTF-8', '--no-sync',
      ]);
      for (const [name, content] of Object.entries(options.files ?? {})) {
        writeFileSync(join(data, name), content, { mode: 0o600 });
        if (ids) chownSync(join(data, name), ids.uid, ids.gid);
      }
      await cluster.launch(settings);
      return cluster;
    } catch (err) {
      await cluster.stop();
      throw err;
    }
  }

  /**
   * A copy of `source`, taken with `pg_basebackup` (over a replication connection as the source's
   * superuser) into a new temp dir and started on a free port as a primary: same roles, passwords
   * and data as the source at the time of the copy. The source's command-line settings are not
   * carried over. `baseDir` holds the copy's directory (default: the system temp dir).
   */
  static async fromBaseBackup(source: PgCluster, baseDir?: string): Promise<PgCluster> {
    const ids = postgresIds();
    const dir = clusterDir(baseDir, ids);
    if (ids) chownSync(dir, ids.uid, ids.gid);
    const data = join(dir, 'data');
    const cluster = new PgCluster(dir, data, 0, source.password, source.pgBin);
    try {
      runAsPostgres(
        join(source.pgBin, 'pg_basebackup'),
        ['-h', source.host, '-p', String(source.port), '-U', source.user, '-D', data, '-X', 'stream', '-c', 'fast', '--no-sync', '-w'],
        { PGPASSWORD: source.password },
      );
      await cluster.launch('');
      return cluster;
    } catch (err) {
      await cluster.stop();
      throw err;
    }
  }

  /** Starts the server of `dataDir` on a free port (a port can be taken between asking and binding: retried a few times). */
  private async launch(settings: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      this.port = port;
      try {
        runAsPostgres(join(this.pgBin, 'pg_ctl'), [
          '-D', this.dataDir, '-l', join(this.dir, 'server.log'), '-w', '-t', '60', 'start',
          '-o', `-p ${port} -k ${this.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=50${settings}`,
        ]);
        return;
      } catch (err) {
        if (attempt >= 3) throw err;
      }
    }
  }

  private constructor(
    readonly dir: string,
    readonly dataDir: string,
    public port: number,
    readonly password: string,
    /** Directory of the server binaries this cluster runs. */
    readonly pgBin: string,
  ) {}

  readonly host = '127.0.0.1';
  readonly user = 'postgres';

  /** The postmaster PID, from postmaster.pid. */
  get pid(): number | undefined {
    const pidFile = join(this.dataDir, 'postmaster.pid');
    if (!existsSync(pidFile)) return undefined;
    const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  }

  /** A connection URL (with the password) for `database`. */
  url(database = 'postgres', password = this.password): string {
    return `postgres://${this.user}:${encodeURIComponent(password)}@${this.host}:${this.port}/${encodeURIComponent(database)}`;
  }

  /** Connection fields in the Secrets Manager secret shape. */
  secret(database = 'postgres', password = this.password): { host: string; port: number; dbname: string; username: string; password: string } {
    return { host: this.host, port: this.port, dbname: database, username: this.user, password };
  }

  /** A connected pg client; the caller ends it. */
  async client(database = 'postgres'): Promise<Client> {
    const client = new Client({ host: this.host, port: this.port, user: this.user, password: this.password, database });
    await client.connect();
    return client;
  }

  /** Runs SQL (several statements allowed) and returns the rows of the last one. */
  async sql<T extends Record<string, unknown> = Record<string, unknown>>(database: string, text: string, values?: unknown[]): Promise<T[]> {
    const client = await this.client(database);
    try {
      const result = await client.query(text, values);
      const last = Array.isArray(result) ? result[result.length - 1] : result;
      return last.rows as T[];
    } finally {
      await client.end();
    }
  }

  /** Creates a database and returns its name. */
  async createDatabase(name: string): Promise<string> {
    await this.sql('postgres', `CREATE DATABASE "${name}"`);
    return name;
  }

  /** Names of the databases on the server. */
  async databases(): Promise<string[]> {
    const rows = await this.sql<{ datname: string }>('postgres', 'SELECT datname FROM pg_database ORDER BY datname');
    return rows.map((r) => r.datname);
  }

  /** Stops the server by PID (fast shutdown, SIGKILL after 30 s) and removes the directory. */
  async stop(): Promise<void> {
    const pid = this.pid;
    if (pid !== undefined) {
      try {
        process.kill(pid, 'SIGINT');
        const deadline = Date.now() + 30_000;
        while (isAlive(pid) && Date.now() < deadline) await sleep(50);
        if (isAlive(pid)) process.kill(pid, 'SIGKILL');
        while (isAlive(pid)) await sleep(50);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Whether a process with this PID exists (signal 0). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
