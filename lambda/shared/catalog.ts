/**
 * What a database holds, read from its catalogs with the same queries at dump time (inside the
 * dump's snapshot) and after a restore, plus the pure comparison of the two.
 * User objects only: system schemas and objects that belong to extensions are left out (pg_dump
 * recreates those through CREATE EXTENSION).
 */
import type { ClientBase } from 'pg';
import { Mismatch, OBJECT_COUNT_NAMES, ObjectCounts } from './records';

const USER_SCHEMA = `n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'`;

const NOT_EXTENSION_MEMBER = (catalog: string, oid: string) =>
  `NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = '${catalog}'::regclass AND d.objid = ${oid} AND d.deptype = 'e')`;

const relCount = (kinds: string) => `(SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN (${kinds}) AND c.relpersistence <> 't' AND ${USER_SCHEMA} AND ${NOT_EXTENSION_MEMBER('pg_class', 'c.oid')})`;

/** One query for all object counts. */
export const OBJECT_COUNTS_SQL = `SELECT
  (SELECT count(*) FROM pg_namespace n WHERE ${USER_SCHEMA} AND n.nspname <> 'public'
     AND ${NOT_EXTENSION_MEMBER('pg_namespace', 'n.oid')}) AS schemas,
  ${relCount("'r', 'p'")} AS tables,
  ${relCount("'i', 'I'")} AS indexes,
  ${relCount("'S'")} AS sequences,
  ${relCount("'v'")} AS views,
  ${relCount("'m'")} AS "materializedViews",
  (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
     WHERE ${USER_SCHEMA} AND ${NOT_EXTENSION_MEMBER('pg_proc', 'p.oid')}) AS functions,
  (SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE NOT t.tgisinternal AND ${USER_SCHEMA} AND ${NOT_EXTENSION_MEMBER('pg_class', 'c.oid')}) AS triggers,
  (SELECT count(*) FROM pg_largeobject_metadata) AS "largeObjects"`;

/** Tables that hold rows (plain tables and partitions; partitioned parents hold none themselves). */
export const DATA_TABLES_SQL = `SELECT format('%I.%I', n.nspname, c.relname) AS name
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind = 'r' AND c.relpersistence <> 't' AND ${USER_SCHEMA} AND ${NOT_EXTENSION_MEMBER('pg_class', 'c.oid')}
  ORDER BY 1`;

export async function objectCounts(client: ClientBase): Promise<ObjectCounts> {
  const { rows } = await client.query(OBJECT_COUNTS_SQL);
  const row = rows[0] as Record<string, string>;
  const counts = {} as Record<keyof ObjectCounts, number>;
  for (const name of OBJECT_COUNT_NAMES) counts[name] = Number(row[name]);
  return counts;
}

/** Exact rows per table (`schema.table`, quoted where PostgreSQL needs quotes). */
export async function rowCounts(client: ClientBase): Promise<Record<string, number>> {
  const { rows } = await client.query<{ name: string }>(DATA_TABLES_SQL);
  const counts: Record<string, number> = {};
  for (const { name } of rows) {
    // `name` comes from format('%I.%I'): already a safely quoted identifier.
    const result = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${name}`);
    counts[name] = Number(result.rows[0].n);
  }
  return counts;
}

/** Differences between expected (manifest) and actual counts; tables missing on one side count too. */
export function compareCounts(expected: Record<string, number>, actual: Record<string, number>): Mismatch[] {
  const names = [...new Set([...Object.keys(expected), ...Object.keys(actual)])].sort();
  const mismatches: Mismatch[] = [];
  for (const what of names) {
    const e = Object.prototype.hasOwnProperty.call(expected, what) ? expected[what] : null;
    const a = Object.prototype.hasOwnProperty.call(actual, what) ? actual[what] : null;
    if (e !== a) mismatches.push({ what, expected: e, actual: a });
  }
  return mismatches;
}
