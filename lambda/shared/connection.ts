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
    PGCONNECT_TIMEOUT: '15',
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
    connectionTimeoutMillis: 15_000,
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
