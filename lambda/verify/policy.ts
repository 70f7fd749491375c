/** Reads PGDR_VERIFICATION: {"restoreTestEveryNth": 1, "smokeQueries": [{"name", "sql", "minRows"}]}. */
import { EnvError } from '../shared/env';
import type { VerificationPolicy } from './core';

export function parsePolicy(text: string | undefined): VerificationPolicy {
  if (text === undefined || text === '') return { restoreTestEveryNth: 1, smokeQueries: [] };
  let doc: { restoreTestEveryNth?: unknown; smokeQueries?: unknown };
  try {
    doc = JSON.parse(text);
  } catch {
    throw new EnvError('PGDR_VERIFICATION is not JSON');
  }
  const n = doc.restoreTestEveryNth ?? 1;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) throw new EnvError(`PGDR_VERIFICATION.restoreTestEveryNth must be an integer >= 0 (received ${JSON.stringify(n)})`);
  const queries = doc.smokeQueries ?? [];
  if (!Array.isArray(queries)) throw new EnvError('PGDR_VERIFICATION.smokeQueries must be an array');
  const smokeQueries = queries.map((q: { name?: unknown; sql?: unknown; minRows?: unknown }, i) => {
    if (typeof q?.name !== 'string' || typeof q?.sql !== 'string') throw new EnvError(`PGDR_VERIFICATION.smokeQueries[${i}] needs a name and an sql string`);
    const minRows = q.minRows ?? 1;
    if (typeof minRows !== 'number' || minRows < 0) throw new EnvError(`PGDR_VERIFICATION.smokeQueries[${i}].minRows must be a number >= 0`);
    return { name: q.name, sql: q.sql, minRows };
  });
  return { restoreTestEveryNth: n, smokeQueries };
}
