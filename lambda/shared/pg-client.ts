/**
 * node-postgres connections with one clear, secret-free error per failure mode
 * (unreachable, wrong password, unknown database, TLS). Every session pgdr opens is made here, and
 * none is subject to the server's statement, lock, idle or transaction timeouts
 * (session-settings.ts).
 */
import { Client } from 'pg';
import { ConnectionError, ConnectionInfo, describe, explainTlsError, pgClientConfig } from './connection';
import { NEUTRALISE_TIMEOUTS_SQL } from './session-settings';

/** Turns a pg/network error into one line that names the server but never the password. */
export function explainPgError(err: unknown, conn: ConnectionInfo): string {
  const e = err as NodeJS.ErrnoException & { code?: string; message?: string };
  const where = describe(conn);
  const tls = explainTlsError(err, conn);
  if (tls) return tls;
  // Without a password node-postgres answers the server's SCRAM request with "SASL:
  // SCRAM-SERVER-FIRST-MESSAGE: client password must be a string" (libpq: "fe_sendauth: no password
  // supplied"); to an md5 or password request it sends an empty one, which fails as 28P01.
  if (conn.password === '' && (e.code === '28P01' || /client password must be a/.test(e.message ?? ''))) {
    return `PostgreSQL asks ${where} for a password and none was given (from PGPASSWORD, the password file PGPASSFILE or ~/.pgpass, or the service file; a deployed job: the database's secret)`;
  }
  switch (e.code) {
    case 'ECONNREFUSED':
      return `cannot connect to PostgreSQL at ${conn.host}:${conn.port}: connection refused (is the server running?)`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `cannot resolve the PostgreSQL host ${conn.host}`;
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `cannot reach PostgreSQL at ${conn.host}:${conn.port} (${e.code})`;
    case '28P01':
      return `password authentication failed for ${where}`;
    case '28000':
      return `the server rejected ${where}: ${e.message}`;
    case '3D000':
      return `database "${conn.dbname}" does not exist on ${conn.host}:${conn.port}`;
    case '57014':
      return `PostgreSQL ${where} cancelled pgdr's statement: ${e.message} (is statement_timeout set to a few milliseconds for this database or role?)`;
    default:
      if (/timeout/i.test(e.message ?? '')) return `timed out connecting to PostgreSQL at ${conn.host}:${conn.port}`;
      return `PostgreSQL ${where}: ${(e.message ?? String(err)).split('\n')[0]}`;
  }
}

/**
 * Connects, with the server's timeouts turned off for the session before the caller gets the
 * client (session-settings.ts).
 *
 * Until its first statement has run, a session is under the server's statement_timeout, and a
 * timeout of a millisecond or two (a managed provider's database or role setting) can cancel pgdr's
 * setup statements in two ways: the statement itself fails (57014), or the timer armed for the
 * statement fires as it ends and the server sends the cancel *after* the statement's answer,
 * between statements, which node-postgres emits as an 'error' event and takes for a broken session
 * (measured: ~3 % of sessions on a database with statement_timeout = 1ms). Either way the session
 * is closed and a new one opened, up to SETUP_ATTEMPTS times; once the timeouts are off nothing is
 * armed any more.
 */
export async function connectClient(conn: ConnectionInfo): Promise<Client> {
  for (let attempt = 1; ; attempt++) {
    const client = await openClient(conn);
    // An error the server sent between statements: the cause when the next statement fails.
    let between: unknown;
    const onError = (err: unknown) => void (between ??= err);
    client.on('error', onError);
    try {
      await client.query('SET statement_timeout = 0');
      await client.query(NEUTRALISE_TIMEOUTS_SQL);
      client.off('error', onError);
      return client;
    } catch (err) {
      await client.end().catch(() => undefined);
      const cause = isCancel(between) ? between : err;
      if (attempt < SETUP_ATTEMPTS && isCancel(cause)) continue;
      throw new ConnectionError(explainPgError(cause, conn));
    }
  }
}

/** Sessions opened before giving up when the server cancels the setup statements each time. */
export const SETUP_ATTEMPTS = 5;

/** A statement cancelled by the server (statement_timeout, a cancel request): SQLSTATE 57014. */
const isCancel = (err: unknown): boolean => (err as { code?: string } | undefined)?.code === '57014';

/** Opens a session; `sslmode=prefer` tries TLS first and falls back to plain when the server has no TLS. */
async function openClient(conn: ConnectionInfo): Promise<Client> {
  const mode = conn.sslmode ?? 'prefer';
  const attempts = mode === 'disable' ? [false] : mode === 'prefer' ? [true, false] : [true];
  let lastError: unknown;
  for (const tls of attempts) {
    const client = new Client(pgClientConfig(conn, tls));
    // A server that goes away later must not crash the process with an unhandled 'error' event.
    client.on('error', () => undefined);
    try {
      await client.connect();
      return client;
    } catch (err) {
      lastError = err;
      await client.end().catch(() => undefined);
      const noTls = /does not support SSL/i.test((err as Error).message ?? '');
      if (!(tls && noTls && mode === 'prefer')) break;
    }
  }
  throw new ConnectionError(explainPgError(lastError, conn));
}

/** Runs `fn` with a connected client and always closes it. */
export async function withClient<T>(conn: ConnectionInfo, fn: (client: Client) => Promise<T>): Promise<T> {
  const client = await connectClient(conn);
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** `"name"` quoted as an SQL identifier. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** `'text'` as an SQL literal (as quote_literal does: E'' when it holds a backslash). */
export function quoteLiteral(value: string): string {
  if (value.includes('\0')) throw new Error(`${JSON.stringify(value)} cannot be an SQL literal (NUL byte)`);
  const quoted = value.replace(/'/g, "''");
  return value.includes('\\') ? `E'${quoted.replace(/\\/g, '\\\\')}'` : `'${quoted}'`;
}
