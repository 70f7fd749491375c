/**
 * How pgdr reaches a PostgreSQL server: the fields of an RDS/Secrets Manager style secret
 * (`host`, `port`, `dbname`, `username`, `password`), read from a secret or from a
 * `postgres://` URL (local runner). The password never leaves this object except into a child
 * process environment (PGPASSWORD) or the pg client's configuration: `describe()` is what logs
 * and errors show.
 */
import type { ClientConfig } from 'pg';
import { REDACTED } from './redact';

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

/** The URL's shape, written so that redaction (which hides any `user:secret@host`) leaves it readable. */
const URL_SHAPE = 'postgres://user@host:port/database (a password goes after "user:", percent-encoded, or in PGPASSWORD)';
const ENCODE_HINT = 'percent-encode special characters in the password (@ as %40, / as %2F, # as %23, ? as %3F, : as %3A)';

/**
 * A URL as messages may show it: scheme, user, `:***` when it holds a password, host, port and
 * database, rebuilt from the parsed parts (never the raw text, which may hide a password where
 * the parser did not expect one); the query string is left out.
 */
export function displayUrl(parsed: URL): string {
  const user = parsed.username ? `${parsed.username}${parsed.password ? `:${REDACTED}` : ''}@` : parsed.password ? `:${REDACTED}@` : '';
  return `${parsed.protocol}//${user}${parsed.hostname === NO_HOST ? '' : parsed.host}${parsed.pathname}`;
}

/** An '@' after the host: a password with an unencoded / # ? or @ split the URL. */
function splitByPassword(what: string): string {
  return `${what} is not a valid URL: it has an '@' after the host; ${ENCODE_HINT}`;
}

const EMPTY_HOST_AFTER_USER = /^(\s*[a-z][a-z0-9+.-]*:\/\/[^/?#]*@)([/?#]|$)/i;
const NO_HOST = 'pgdr-no-host.invalid';

/** `scheme://` at the start: without it, `new URL` reads `user:password@...` as a scheme and a path. */
const HAS_AUTHORITY = /^\s*[a-z][a-z0-9+.-]*:\/\//i;

/** Why a text that `new URL` refuses is not a usable URL, without echoing it (it may hold a password). */
function whyNotAUrl(url: string, what: string): string {
  const scheme = HAS_AUTHORITY.exec(url);
  if (!scheme) {
    return `${what} is not a URL (it does not start with postgres:// or postgresql://; value not shown, it may hold a password); expected ${URL_SHAPE}`;
  }
  const rest = url.slice(scheme[0].length);
  const authority = rest.split(/[/?#]/)[0];
  const hostPort = authority.slice(authority.lastIndexOf('@') + 1);
  const port = /:(\d+)$/.exec(hostPort);
  if (port && Number(port[1]) > 65535) return `${what}: port must be 1-65535 (received ${port[1]})`;
  if (/[/?#]/.test(rest) && rest.includes('@') && !authority.includes('@')) {
    return splitByPassword(what);
  }
  return `${what} is not a valid URL (value not shown, it may hold a password); expected ${URL_SHAPE}`;
}

/**
 * Parses `postgres://user:password@host:port/dbname?sslmode=...`. A unix socket directory is
 * given percent-encoded as the host (`postgres://user@%2Fvar%2Frun%2Fpostgresql/db`) or as
 * `?host=/var/run/postgresql`. The password may be left out: `withPasswordFromEnvironment` fills
 * it from PGPASSWORD or the password file, as libpq does. Errors never echo the password.
 */
export function connectionFromUrl(url: string, what = 'URL'): ConnectionInfo {
  let parsed: URL;
  try {
    if (!HAS_AUTHORITY.test(url)) throw new Error('no scheme://');
    // `postgres://user@/db?host=/dir`: no host before the path (libpq allows it), which URL refuses.
    parsed = new URL(url.replace(EMPTY_HOST_AFTER_USER, `$1${NO_HOST}$2`));
  } catch {
    throw new ConnectionError(whyNotAUrl(url, what));
  }
  // An '@' after the host means the parser split a password with an unencoded / # or ?.
  if (`${parsed.pathname}${parsed.search}${parsed.hash}`.includes('@')) {
    throw new ConnectionError(splitByPassword(what));
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new ConnectionError(`${what} ${displayUrl(parsed)} must start with postgres:// or postgresql://`);
  }
  const decode = (text: string, part: string): string => {
    try {
      return decodeURIComponent(text);
    } catch {
      throw new ConnectionError(`${what}: the ${part} has a malformed percent-encoding (value not shown); ${ENCODE_HINT}`);
    }
  };
  const shown = `${what} ${displayUrl(parsed)}`;
  const query = parsed.searchParams;
  const urlHost = parsed.hostname === NO_HOST ? '' : decode(parsed.hostname.replace(/^\[(.*)\]$/, '$1'), 'host');
  const host = query.get('host') ?? urlHost;
  if (!host) throw new ConnectionError(`${shown} names no host (a unix socket directory is written %2Fvar%2Frun%2Fpostgresql or ?host=/var/run/postgresql)`);
  const dbname = query.get('dbname') ?? decode(parsed.pathname.replace(/^\//, ''), 'database');
  if (!dbname || dbname.includes('/')) throw new ConnectionError(`${shown} names no database (${URL_SHAPE})`);
  const username = query.get('user') ?? decode(parsed.username, 'user');
  if (!username) throw new ConnectionError(`${shown} names no user`);
  const portText = query.get('port') ?? parsed.port;
  const port = portText ? Number(portText) : 5432;
  if (!/^\d*$/.test(portText) || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new ConnectionError(`${shown}: port must be 1-65535 (received ${portText})`);
  }
  return {
    host,
    port,
    dbname,
    username,
    password: query.get('password') ?? decode(parsed.password, 'password'),
    sslmode: sslModeOf(query.get('sslmode') ?? undefined, shown) ?? 'prefer',
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
    connectionTimeoutMillis: 15_000,
    ssl: !tls ? false : mode === 'verify-full' ? { rejectUnauthorized: true, servername: conn.host } : { rejectUnauthorized: false },
  };
}
