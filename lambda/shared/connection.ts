/**
 * How pgdr reaches a PostgreSQL server: the fields of an RDS/Secrets Manager style secret
 * (`host`, `port`, `dbname`, `username`, `password`), read from a secret or from a
 * `postgres://` URL (local runner). The password never leaves this object except into a child
 * process environment (PGPASSWORD) or the pg client's configuration: `describe()` is what logs
 * and errors show.
 */
import type { ClientConfig } from 'pg';
import { SESSION_OPTIONS } from './session-settings';

export type SslMode = 'disable' | 'prefer' | 'require' | 'verify-full';
const SSL_MODES: readonly SslMode[] = ['disable', 'prefer', 'require', 'verify-full'];

export interface ConnectionInfo {
  readonly host: string;
  readonly port: number;
  readonly dbname: string;
  readonly username: string;
  readonly password: string;
  /** @default "prefer" */
  readonly sslmode?: SslMode;
}

/** A connection problem stated without secrets. */
export class ConnectionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConnectionError';
  }
}

/** `user@host:port/dbname`: what may appear in logs and errors. */
export function describe(conn: ConnectionInfo): string {
  return `${conn.username}@${conn.host}:${conn.port}/${conn.dbname}`;
}

function sslModeOf(value: unknown, where: string): SslMode | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value === 'string' && (SSL_MODES as readonly string[]).includes(value)) return value as SslMode;
  throw new ConnectionError(`${where}: sslmode must be one of ${SSL_MODES.join(', ')} (received ${JSON.stringify(value)})`);
}

/**
 * Reads the secret JSON (RDS convention). `dbname` defaults to "postgres" (RDS master secrets
 * have none); `sslmode` may come from the secret or `defaultSslMode`.
 */
export function connectionFromSecret(secretString: string, secretName: string, defaultSslMode?: SslMode): ConnectionInfo {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(secretString) as Record<string, unknown>;
  } catch {
    throw new ConnectionError(`secret ${secretName} is not JSON with host, port, dbname, username and password`);
  }
  if (doc === null || typeof doc !== 'object') throw new ConnectionError(`secret ${secretName} is not a JSON object`);
  const missing = ['host', 'username', 'password'].filter((k) => typeof doc[k] !== 'string' || doc[k] === '');
  if (missing.length > 0) throw new ConnectionError(`secret ${secretName} lacks ${missing.join(', ')}`);
  const port = doc.port === undefined ? 5432 : Number(doc.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new ConnectionError(`secret ${secretName}: port must be 1-65535 (received ${JSON.stringify(doc.port)})`);
  return {
    host: doc.host as string,
    port,
    dbname: typeof doc.dbname === 'string' && doc.dbname !== '' ? doc.dbname : 'postgres',
    username: doc.username as string,
    password: doc.password as string,
    sslmode: sslModeOf(doc.sslmode, `secret ${secretName}`) ?? defaultSslMode,
  };
}

/** Hides the password of a URL for messages. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z]+:\/\/[^:/@]*):[^@]*@/i, '$1:***@');
}

/** Parses `postgres://user:password@host:port/dbname?sslmode=...`. */
export function connectionFromUrl(url: string, what = 'URL'): ConnectionInfo {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConnectionError(`${what} ${redactUrl(url)} is not a URL; expected postgres://user:password@host:port/database`);
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new ConnectionError(`${what} ${redactUrl(url)} must start with postgres:// or postgresql://`);
  }
  if (!parsed.hostname) throw new ConnectionError(`${what} ${redactUrl(url)} names no host`);
  const dbname = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
  if (!dbname || dbname.includes('/')) throw new ConnectionError(`${what} ${redactUrl(url)} names no database (postgres://user:password@host:port/database)`);
  const username = decodeURIComponent(parsed.username);
  if (!username) throw new ConnectionError(`${what} ${redactUrl(url)} names no user`);
  const port = parsed.port ? Number(parsed.port) : 5432;
  return {
    host: parsed.hostname.replace(/^\[(.*)\]$/, '$1'),
    port,
    dbname,
    username,
    password: decodeURIComponent(parsed.password),
    sslmode: sslModeOf(parsed.searchParams.get('sslmode') ?? undefined, `${what} ${redactUrl(url)}`) ?? 'prefer',
  };
}

/** The same server, another database. */
export function withDatabase(conn: ConnectionInfo, dbname: string): ConnectionInfo {
  return { ...conn, dbname };
}

/** libpq environment for a child process: the password goes here, never into argv. */
export function libpqEnv(conn: ConnectionInfo): Record<string, string> {
  return {
    PGHOST: conn.host,
    PGPORT: String(conn.port),
    PGUSER: conn.username,
    PGDATABASE: conn.dbname,
    PGPASSWORD: conn.password,
    PGSSLMODE: conn.sslmode ?? 'prefer',
    PGCONNECT_TIMEOUT: '15',
    PGAPPNAME: 'pgdr',
    PGOPTIONS: SESSION_OPTIONS,
  };
}

/** node-postgres client configuration; `prefer` is tried as TLS first by `connectClient`. */
export function pgClientConfig(conn: ConnectionInfo, tls: boolean): ClientConfig {
  const mode = conn.sslmode ?? 'prefer';
  return {
    host: conn.host,
    port: conn.port,
    database: conn.dbname,
    user: conn.username,
    password: conn.password,
    application_name: 'pgdr',
    // Server-side timeouts off for this session from its start: session-settings.ts.
    options: SESSION_OPTIONS,
    connectionTimeoutMillis: 15_000,
    ssl: !tls ? false : mode === 'verify-full' ? { rejectUnauthorized: true, servername: conn.host } : { rejectUnauthorized: false },
  };
}
