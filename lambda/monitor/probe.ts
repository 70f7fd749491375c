/**
 * The DatabaseProbe adapter: one connection to the protected database through its secret (the
 * SecretReader port: Secrets Manager in Lambda), with a short connect timeout, and one query.
 * Errors name the server and the secret, never the password (pg-client.ts explains them; any
 * remaining text is redacted with the password as a known secret).
 */
import { connectionFromSecret, TlsDefaults } from '../shared/connection';
import { withClient } from '../shared/pg-client';
import type { SecretReader } from '../shared/ports';
import { redactSecrets } from '../shared/redact';
import type { DatabaseProbe, ProbeResult } from './core';
import { namedError } from '../shared/named-error';

/** Seconds the probe waits for the server to answer a connection: a monitor must not hang on a dead server. */
export const PROBE_CONNECT_TIMEOUT_SECONDS = 5;

/**
 * Client connections in use and max_connections. pg_stat_activity shows one row per backend to
 * ANY login (only the details of other roles' sessions — query, client address, and for aux
 * processes their type — are hidden without pg_read_all_stats), so the count is right for an
 * unprivileged login too. Background processes (checkpointer, walwriter, autovacuum launcher,
 * walsenders...) do not take max_connections slots; they have no database, so rows with a
 * database are counted: client backends (the probe's own included). Autovacuum and parallel
 * workers also have one but take other slots (autovacuum_max_workers, max_worker_processes):
 * excluded by backend_type where the login can see it.
 */
export const CONNECTIONS_SQL = `
SELECT count(*) FILTER (WHERE datid IS NOT NULL AND backend_type IS DISTINCT FROM 'autovacuum worker' AND backend_type IS DISTINCT FROM 'parallel worker')::int AS used,
       current_setting('max_connections')::int AS max
  FROM pg_stat_activity`;

export interface PgProbeOptions {
  readonly secrets: SecretReader;
  /** The source database's connection secret (ARN or name). */
  readonly secretId: string;
  /** TLS defaults where the secret names no sslmode (env PGDR_PG_SSLMODE / PGDR_PG_SSLROOTCERT). */
  readonly tls?: TlsDefaults;
  /** @default PROBE_CONNECT_TIMEOUT_SECONDS */
  readonly connectTimeoutSeconds?: number;
}

export class ProbeError extends namedError('ProbeError') {}

export function pgDatabaseProbe(options: PgProbeOptions): DatabaseProbe {
  return {
    async probe(): Promise<ProbeResult> {
      const doc = await options.secrets.json(options.secretId);
      const conn = { ...connectionFromSecret(JSON.stringify(doc), options.secretId, options.tls), connectTimeoutSeconds: options.connectTimeoutSeconds ?? PROBE_CONNECT_TIMEOUT_SECONDS };
      try {
        return await withClient(conn, async (client) => {
          const { rows } = await client.query<{ used: number; max: number }>(CONNECTIONS_SQL);
          return { connectionsUsed: rows[0].used, maxConnections: rows[0].max };
        });
      } catch (err) {
        const e = err as Error;
        throw new ProbeError(redactSecrets(`${e.name === 'ConnectionError' ? '' : `${e.name}: `}${e.message}`, [conn.password]));
      }
    },
  };
}
