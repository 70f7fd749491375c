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
    default:
      if (/timeout/i.test(e.message ?? '')) return `timed out connecting to PostgreSQL at ${conn.host}:${conn.port}`;
      return `PostgreSQL ${where}: ${(e.message ?? String(err)).split('\n')[0]}`;
  }
}

/**
 * Connects, with the server's timeouts turned off for the session before the caller gets the
 * client (session-settings.ts).
 */
export async function connectClient(conn: ConnectionInfo): Promise<Client> {
  const client = await openClient(conn);
  try {
    await clearStatementTimeout(client);
    await client.query(NEUTRALISE_TIMEOUTS_SQL);
    return client;
  } catch (err) {
    await client.end().catch(() => undefined);
    throw new ConnectionError(explainPgError(err, conn));
  }
}

/**
 * `SET statement_timeout = 0` on its own first: the cheapest statement there is, so that a server
 * timeout of a millisecond or two (a managed provider's database setting) cannot cancel the
 * catalog query of NEUTRALISE_TIMEOUTS_SQL; cancelled itself (57014), it is sent again.
 */
async function clearStatementTimeout(client: Client): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await client.query('SET statement_timeout = 0');
      return;
    } catch (err) {
      if ((err as { code?: string }).code !== '57014' || attempt >= 10) throw err;
    }
  }
}

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
