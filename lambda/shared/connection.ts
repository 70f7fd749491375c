/**
 * How pgdr reaches a PostgreSQL server: the fields of an RDS/Secrets Manager style secret
 * (`host`, `port`, `dbname`, `username`, `password`), read from a secret or from a
 * `postgres://` URL (local runner). The password never leaves this object except into a child
 * process environment (PGPASSWORD) or the pg client's configuration: `describe()` is what logs
 * and errors show.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { rootCertificates } from 'node:tls';
import type { ClientConfig } from 'pg';
import { REDACTED } from './redact';
import { namedError } from './named-error';

/**
 * libpq's sslmode, with the same meaning for the node client and the libpq tools:
 * `disable` plain; `prefer` TLS if the server offers it, unauthenticated; `require` TLS,
 * unauthenticated (any certificate); `verify-ca` TLS, the certificate chain must lead to a trusted
 * CA (host name not checked); `verify-full` as verify-ca and the certificate must name the host.
 */
export type SslMode = 'disable' | 'prefer' | 'require' | 'verify-ca' | 'verify-full';
export const SSL_MODES: readonly SslMode[] = ['disable', 'prefer', 'require', 'verify-ca', 'verify-full'];

/** `sslrootcert` value meaning the public CAs: Mozilla's list as shipped in Node.js (`tls.rootCertificates`). */
export const PUBLIC_ROOTS = 'public';

/** The TLS settings a job is configured with, used where the secret names none. */
export interface TlsDefaults {
  /** @default "prefer" */
  readonly sslmode?: SslMode;
  /** CAs trusted by verify-ca/verify-full: an absolute path to a PEM file, or {@link PUBLIC_ROOTS}. @default PUBLIC_ROOTS */
  readonly sslrootcert?: string;
}

export interface ConnectionInfo {
  readonly host: string;
  readonly port: number;
  readonly dbname: string;
  readonly username: string;
  readonly password: string;
  /** @default "prefer" */
  readonly sslmode?: SslMode;
  /** CAs trusted by verify-ca/verify-full: an absolute path to a PEM file, or {@link PUBLIC_ROOTS}. @default PUBLIC_ROOTS */
  readonly sslrootcert?: string;
  /** Seconds to wait for the server to answer a connection attempt. @default 15 */
  readonly connectTimeoutSeconds?: number;
}

/** A connection problem stated without secrets. */
export class ConnectionError extends namedError('ConnectionError') {}

/** `user@host:port/dbname`: what may appear in logs and errors. */
export function describe(conn: ConnectionInfo): string {
  return `${conn.username}@${conn.host}:${conn.port}/${conn.dbname}`;
}

/** An sslmode setting from `where`, or undefined when not given; anything else is a ConnectionError naming `where`. */
function sslModeOf(value: unknown, where: string): SslMode | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value === 'string' && (SSL_MODES as readonly string[]).includes(value)) return value as SslMode;
  throw new ConnectionError(`${where}: sslmode must be one of ${SSL_MODES.join(', ')} (received ${JSON.stringify(value)})`);
}

/**
 * Reads the secret JSON (RDS convention). `dbname` defaults to "postgres" (RDS master secrets
 * have none); `sslmode` comes from the secret, else from `tls`; the trusted CAs from `tls`.
 */
export function connectionFromSecret(secretString: string, secretName: string, tls: TlsDefaults = {}): ConnectionInfo {
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
    sslmode: sslModeOf(doc.sslmode, `secret ${secretName}`) ?? tls.sslmode,
    ...(tls.sslrootcert ? { sslrootcert: tls.sslrootcert } : {}),
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
 * `sslmode`, `sslrootcert` and `connect_timeout` come from the query string, else, as libpq takes
 * them, from `env` (PGSSLMODE, PGSSLROOTCERT, PGCONNECT_TIMEOUT: the CLI passes its environment;
 * a PGSSLMODE=require must not be dropped for a plaintext "prefer"); sslmode defaults to prefer.
 */
export function connectionFromUrl(url: string, what = 'URL', env: NodeJS.ProcessEnv = {}): ConnectionInfo {
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
  const given = (name: string) => query.get(name) ?? undefined;
  return {
    host,
    port,
    dbname,
    username,
    password: query.get('password') ?? decode(parsed.password, 'password'),
    sslmode: 'prefer',
    ...tlsAndTimeout({ sslmode: given('sslmode'), sslrootcert: given('sslrootcert'), connect_timeout: given('connect_timeout') }, shown, env),
  };
}

/**
 * sslmode, sslrootcert and connect_timeout as a URL or a service file gives them (`where` names
 * them in errors), else from PGSSLMODE, PGSSLROOTCERT and PGCONNECT_TIMEOUT, as libpq takes them;
 * only those set.
 */
export function tlsAndTimeout(
  given: { readonly sslmode?: string; readonly sslrootcert?: string; readonly connect_timeout?: string },
  where: string,
  env: NodeJS.ProcessEnv,
): Pick<ConnectionInfo, 'sslmode' | 'sslrootcert' | 'connectTimeoutSeconds'> {
  const sslmode = sslModeOf(given.sslmode, where) ?? sslModeOf(env.PGSSLMODE, 'PGSSLMODE');
  const sslrootcert = given.sslrootcert || env.PGSSLROOTCERT;
  const timeout = timeoutOf(given.connect_timeout, where) ?? timeoutOf(env.PGCONNECT_TIMEOUT, 'PGCONNECT_TIMEOUT');
  return { ...(sslmode ? { sslmode } : {}), ...(sslrootcert ? { sslrootcert } : {}), ...(timeout !== undefined ? { connectTimeoutSeconds: timeout } : {}) };
}

/** A connect_timeout (whole seconds, 0: wait without limit, as libpq), or undefined when not given. */
function timeoutOf(value: string | undefined, where: string): number | undefined {
  if (value === undefined || value === '') return undefined;
  if (!/^\d{1,6}$/.test(value.trim())) throw new ConnectionError(`${where}: connect_timeout must be a whole number of seconds (received ${JSON.stringify(value)})`);
  return Number(value.trim());
}

/** The same server, another database. */
export function withDatabase(conn: ConnectionInfo, dbname: string): ConnectionInfo {
  return { ...conn, dbname };
}

/** libpq environment for a child process: the password goes here, never into argv. */
export function libpqEnv(conn: ConnectionInfo): Record<string, string> {
  const rootCert = rootCertFile(conn);
  return {
    PGHOST: conn.host,
    PGPORT: String(conn.port),
    PGUSER: conn.username,
    PGDATABASE: conn.dbname,
    PGPASSWORD: conn.password,
    PGSSLMODE: conn.sslmode ?? 'prefer',
    // Only for the verifying modes: with a root certificate file present, libpq's `require` would verify too.
    ...(rootCert ? { PGSSLROOTCERT: rootCert } : {}),
    PGCONNECT_TIMEOUT: String(conn.connectTimeoutSeconds ?? 15),
    PGAPPNAME: 'pgdr',
  };
}

/** node-postgres client configuration; `prefer` is tried as TLS first by `connectClient`. */
export function pgClientConfig(conn: ConnectionInfo, tls: boolean): ClientConfig {
  return {
    host: conn.host,
    port: conn.port,
    database: conn.dbname,
    user: conn.username,
    password: conn.password,
    application_name: 'pgdr',
    connectionTimeoutMillis: (conn.connectTimeoutSeconds ?? 15) * 1000,
    ssl: tls ? nodeTlsOptions(conn) : false,
  };
}

/**
 * The node client's TLS options, equivalent to what {@link libpqEnv} asks of libpq: the same CA
 * file for verify-ca and verify-full; the host name checked by verify-full only (SNI for names,
 * never for IP addresses); no verification for prefer and require.
 */
function nodeTlsOptions(conn: ConnectionInfo): NonNullable<Exclude<ClientConfig['ssl'], boolean>> {
  const mode = conn.sslmode ?? 'prefer';
  const rootCert = rootCertFile(conn);
  if (!rootCert) return { rejectUnauthorized: false };
  const ca = readCaFile(rootCert);
  if (mode === 'verify-ca') return { ca, rejectUnauthorized: true, checkServerIdentity: () => undefined };
  return { ca, rejectUnauthorized: true, ...(isIP(conn.host) === 0 ? { servername: conn.host } : {}) };
}

/** The PEM file of trusted CAs for a verifying sslmode, or undefined when the mode verifies nothing. */
export function rootCertFile(conn: ConnectionInfo): string | undefined {
  if (conn.sslmode !== 'verify-ca' && conn.sslmode !== 'verify-full') return undefined;
  const setting = conn.sslrootcert ?? PUBLIC_ROOTS;
  if (setting === PUBLIC_ROOTS) return publicRootsFile();
  if (!isAbsolute(setting)) throw new ConnectionError(`TLS: sslrootcert must be an absolute path or "${PUBLIC_ROOTS}" (received ${JSON.stringify(setting)})`);
  return setting;
}

let publicRootsPath: string | undefined;
/**
 * Node's public roots written to a file, so that libpq trusts exactly what the node client trusts.
 * Named by content (processes share it; a new Node.js list is a new file), written atomically.
 */
function publicRootsFile(): string {
  if (!publicRootsPath) {
    const pem = `${rootCertificates.join('\n')}\n`;
    const file = join(tmpdir(), `pgdr-public-cas-${createHash('sha256').update(pem).digest('hex').slice(0, 16)}.pem`);
    if (!existsSync(file)) {
      const partial = `${file}.${process.pid}.tmp`;
      writeFileSync(partial, pem, { mode: 0o644 });
      renameSync(partial, file);
    }
    publicRootsPath = file;
  }
  return publicRootsPath;
}

const caCache = new Map<string, string>();
function readCaFile(file: string): string {
  let pem = caCache.get(file);
  if (pem === undefined) {
    try {
      pem = readFileSync(file, 'utf8');
    } catch (err) {
      throw new ConnectionError(`TLS: cannot read the CA bundle ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
    if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new ConnectionError(`TLS: the CA bundle ${file} holds no PEM certificate`);
    caCache.set(file, pem);
  }
  return pem;
}

/** Node's errors for a certificate it does not trust (the chain), by code. */
const UNTRUSTED_CERT_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_REVOKED',
  'INVALID_CA',
]);

/**
 * One line for a TLS failure of the node client, naming TLS, the server, the sslmode and the CAs
 * trusted; undefined when `err` is not about TLS.
 */
export function explainTlsError(err: unknown, conn: ConnectionInfo): string | undefined {
  const e = err as { code?: string; message?: string };
  const mode = conn.sslmode ?? 'prefer';
  const server = `${conn.host}:${conn.port}`;
  const trusted = conn.sslrootcert && conn.sslrootcert !== PUBLIC_ROOTS ? `the CA bundle ${conn.sslrootcert}` : 'the public CAs';
  if (e.code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return `TLS: the certificate of ${server} is not valid for the host name "${conn.host}" (sslmode ${mode}: ${e.message}); connect by a name the certificate holds, or use sslmode verify-ca`;
  }
  if (e.code && UNTRUSTED_CERT_CODES.has(e.code)) {
    return `TLS: the certificate of ${server} is not trusted (sslmode ${mode}, trusting ${trusted}: ${e.code}, ${e.message})`;
  }
  if (/does not support SSL/i.test(e.message ?? '')) return `TLS: the server ${server} does not accept TLS connections (sslmode ${mode})`;
  return undefined;
}
