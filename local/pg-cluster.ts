/**
 * A throw-away PostgreSQL cluster (tests, and the local drill's source and simulated RDS
 * instances): `initdb` in a new directory under the system temp dir or `baseDir` (as the
 * `postgres` OS user when running as root), password authentication on a free 127.0.0.1 port,
 * started with `pg_ctl`, stopped by PID (never by name) and removed by `stop()`. Call `stop()` in
 * `afterAll`/`finally` so the server goes away even when something fails.
 */
import { chownSync, existsSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { newestDebianBin } from '../cli/local';
import {
  initDataDir,
  newServerDir,
  postmasterPid,
  runAsServerUser,
  ServerUser,
  serverUser,
  serverUserCanEnter,
  startPostmaster,
  stopPostmaster,
} from '../lambda/shared/ephemeral-server';

export { freePort, isAlive } from '../lambda/shared/ephemeral-server';

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
async function clusterDir(baseDir: string | undefined, user: ServerUser | undefined): Promise<string> {
  if (baseDir !== undefined) {
    const dir = await newServerDir(baseDir, 'pg-', user);
    if (await serverUserCanEnter(user, dir)) return dir;
    await rm(dir, { recursive: true, force: true });
  }
  return newServerDir(tmpdir(), 'pgdr-pg-', user);
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
    const user = await serverUser();
    const dir = await clusterDir(options.baseDir, user);
    const password = options.password ?? `pw-${randomBytes(8).toString('hex')}`;
    const data = join(dir, 'data');
    const cluster = new PgCluster(dir, data, 0, password, bin, user);
    try {
      await initDataDir({ bin, dir, dataDir: data, password, locale: 'C.UTF-8', user });
      for (const [name, content] of Object.entries(options.files ?? {})) {
        writeFileSync(join(data, name), content, { mode: 0o600 });
        if (user) chownSync(join(data, name), user.uid, user.gid);
      }
      await cluster.launch(options.settings ?? {});
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
    const user = await serverUser();
    const dir = await clusterDir(baseDir, user);
    const data = join(dir, 'data');
    const cluster = new PgCluster(dir, data, 0, source.password, source.pgBin, user);
    try {
      await runAsServerUser(
        user,
        join(source.pgBin, 'pg_basebackup'),
        ['-h', source.host, '-p', String(source.port), '-U', source.user, '-D', data, '-X', 'stream', '-c', 'fast', '--no-sync', '-w'],
        { PGPASSWORD: source.password },
      );
      await cluster.launch({});
      return cluster;
    } catch (err) {
      await cluster.stop();
      throw err;
    }
  }

  /** Starts the server of `dataDir` on a free port, fast and not durable (a test cluster). */
  private async launch(settings: Readonly<Record<string, string | number>>): Promise<void> {
    this.port = await startPostmaster({
      bin: this.pgBin,
      dir: this.dir,
      dataDir: this.dataDir,
      user: this.serverUser,
      settings: { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off', max_connections: 50, ...settings },
    });
  }

  private constructor(
    readonly dir: string,
    readonly dataDir: string,
    public port: number,
    readonly password: string,
    /** Directory of the server binaries this cluster runs. */
    readonly pgBin: string,
    private readonly serverUser: ServerUser | undefined,
  ) {}

  readonly host = '127.0.0.1';
  readonly user = 'postgres';

  /** The postmaster PID, from postmaster.pid. */
  get pid(): number | undefined {
    return postmasterPid(this.dataDir);
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
    // An error the server sends between statements (a statement_timeout of a millisecond fires as a
    // statement ends) must not crash the process: the client is then unusable, its next query fails.
    client.on('error', () => undefined);
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
    await stopPostmaster(this.pid);
    await rm(this.dir, { recursive: true, force: true });
  }
}
