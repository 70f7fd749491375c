/**
 * Configured queries run against a restored database: the verify job's smoke queries, and the
 * failover validation's smoke and freshness queries. Each runs in its own READ ONLY transaction
 * (rolled back) with its own statement_timeout, so a query can neither change the database nor
 * run for ever, and one failing query leaves the session usable for the next.
 */
import type { ClientBase, QueryResult } from 'pg';
import type { SmokeQueryResult } from './records';

export interface SmokeQuery {
  readonly name: string;
  readonly sql: string;
  readonly minRows: number;
}

/**
 * Runs `sql` in a READ ONLY transaction with `statement_timeout` = `timeoutSeconds` (at least 1 s)
 * and rolls it back; returns the result of the last statement. Errors are rethrown.
 */
export async function runReadOnlyQuery(client: ClientBase, sql: string, timeoutSeconds: number): Promise<QueryResult> {
  try {
    await client.query('BEGIN READ ONLY');
    await client.query(`SET LOCAL statement_timeout = '${Math.max(1, Math.round(timeoutSeconds))}s'`);
    const result = (await client.query(sql)) as QueryResult | QueryResult[];
    return Array.isArray(result) ? result[result.length - 1] : result;
  } finally {
    await client.query('ROLLBACK').catch(() => undefined);
  }
}

/** One smoke query: ok when it returns at least `minRows` rows; an error is a result (first line of the message), not a throw. */
export async function runSmokeQuery(client: ClientBase, query: SmokeQuery, timeoutSeconds: number): Promise<SmokeQueryResult> {
  try {
    const result = await runReadOnlyQuery(client, query.sql, timeoutSeconds);
    const rows = result.rowCount ?? 0;
    return { name: query.name, rows, minRows: query.minRows, ok: rows >= query.minRows };
  } catch (err) {
    return { name: query.name, rows: null, minRows: query.minRows, ok: false, error: firstLine(err) };
  }
}

/** The first line of an error's message. */
export function firstLine(err: unknown): string {
  return ((err as Error)?.message ?? String(err)).split('\n')[0];
}

/** One line per failed smoke query. */
export function smokeFailure(q: SmokeQueryResult): string {
  return `smoke query "${q.name}" ${q.error ? `failed: ${q.error}` : `returned ${q.rows} rows, needs at least ${q.minRows}`}`;
}
