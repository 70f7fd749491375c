/**
 * What a database holds, read from its catalogs with the same queries at dump time (inside the
 * dump's snapshot) and after a restore, plus the pure comparison of the two.
 * User objects only: system schemas and objects that belong to extensions are left out (pg_dump
 * recreates those through CREATE EXTENSION).
 */
import type { ClientBase, QueryResult } from 'pg';
import { BackupManifest, Mismatch, OBJECT_COUNT_NAMES, ObjectCounts, PrivilegeSummary } from './records';
import { setKnownSettingsSql } from './session-settings';

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

/** `c` (pg_class) is a user table that holds rows: a plain table or partition, not temporary, in a user schema, not an extension's. */
const DATA_TABLE = `c.relkind = 'r' AND c.relpersistence <> 't' AND ${USER_SCHEMA} AND ${NOT_EXTENSION_MEMBER('pg_class', 'c.oid')}`;

/**
 * Tables that hold rows (plain tables and partitions; partitioned parents hold none themselves),
 * with the locks that counting one takes: the table and each of its indexes (the planner opens
 * them all with AccessShareLock).
 */
export const DATA_TABLES_SQL = `SELECT format('%I.%I', n.nspname, c.relname) AS name,
    1 + (SELECT count(*) FROM pg_index i WHERE i.indrelid = c.oid) AS locks
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE ${DATA_TABLE}
  ORDER BY 1`;

/**
 * Every relation a dump can hold table data for (tables, partitioned tables, foreign tables), with
 * its name unquoted as pg_restore's messages give it, and whether it is a table that holds rows and
 * no other table's (no inheritance parent, child or partition: `count(*)` of an inheritance parent
 * counts its children's rows too, and a partition's rows may be loaded through its root).
 */
export const STANDALONE_TABLES_SQL = `SELECT format('%I.%I', n.nspname, c.relname) AS name, c.relname AS relname,
    ${DATA_TABLE} AND NOT EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhparent = c.oid OR i.inhrelid = c.oid) AS standalone
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p', 'f') AND ${USER_SCHEMA}`;

/**
 * The permanent (logged) tables that hold rows, each with whether this login has its owner's
 * privileges (a superuser, or a member that inherits them), which ALTER TABLE needs.
 */
export const LOGGED_TABLES_SQL = `SELECT format('%I.%I', n.nspname, c.relname) AS name, pg_has_role(c.relowner, 'USAGE') AS alterable
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE ${DATA_TABLE} AND c.relpersistence = 'p'
  ORDER BY 1`;

/** A permanent table (LOGGED_TABLES_SQL): `schema.table` (quoted where PostgreSQL needs quotes) and whether this login may alter it. */
export interface LoggedTable {
  readonly name: string;
  readonly alterable: boolean;
}

export async function loggedTables(client: ClientBase): Promise<LoggedTable[]> {
  return (await client.query<LoggedTable>(LOGGED_TABLES_SQL)).rows;
}

/** A table that holds rows: `schema.table` (quoted where PostgreSQL needs quotes) and the locks counting it takes. */
export interface DataTable {
  readonly name: string;
  readonly locks: number;
}

export async function objectCounts(client: ClientBase): Promise<ObjectCounts> {
  const { rows } = await client.query(OBJECT_COUNTS_SQL);
  const row = rows[0] as Record<string, string>;
  const counts = {} as Record<keyof ObjectCounts, number>;
  for (const name of OBJECT_COUNT_NAMES) counts[name] = Number(row[name]);
  return counts;
}

export async function dataTables(client: ClientBase): Promise<DataTable[]> {
  const { rows } = await client.query<{ name: string; locks: string }>(DATA_TABLES_SQL);
  return rows.map((r) => ({ name: r.name, locks: Number(r.locks) }));
}

/**
 * Splits `tables` into consecutive batches that take at most `budget` locks each (a table that
 * alone needs more is a batch of its own). Pure.
 */
export function lockBatches(tables: readonly DataTable[], budget: number): DataTable[][] {
  const batches: DataTable[][] = [];
  let batch: DataTable[] = [];
  let locks = 0;
  for (const table of tables) {
    if (batch.length > 0 && locks + table.locks > budget) {
      batches.push(batch);
      batch = [];
      locks = 0;
    }
    batch.push(table);
    locks += table.locks;
  }
  if (batch.length > 0) batches.push(batch);
  return batches;
}

/**
 * The lock budget of one counting transaction: `max_locks_per_transaction`, what the server sizes
 * its shared lock table by, per session.
 */
async function lockBudget(client: ClientBase): Promise<number> {
  const { rows } = await client.query<{ n: string }>(`SELECT current_setting('max_locks_per_transaction') AS n`);
  return Math.max(1, Number(rows[0].n));
}

/** Exact rows of each table of `batch`, in one statement. */
async function countBatch(client: ClientBase, batch: readonly DataTable[]): Promise<Record<string, number>> {
  // Names come from format('%I.%I'): already safely quoted identifiers.
  const sql = batch.map((t, i) => `SELECT ${i} AS i, count(*) AS n FROM ${t.name}`).join('\nUNION ALL ');
  const { rows } = await client.query<{ i: number; n: string }>(sql);
  const counts: Record<string, number> = {};
  for (const row of rows) counts[batch[Number(row.i)].name] = Number(row.n);
  return counts;
}

/** How counts run: with the server's settings, or `plain` (PLAIN_COUNTING: one process per count, no JIT). */
export type Counting = 'server' | 'plain';

/** The start of a counting transaction: BEGIN, and PLAIN_COUNTING (SET LOCAL) when `plain`. */
function beginCounting(counting: Counting): string[] {
  return counting === 'plain' ? ['BEGIN', PLAIN_COUNTING] : ['BEGIN'];
}

/** Exact rows of each of `tables` (at most one lock budget's worth), in one statement: a transaction of its own when `plain`. */
async function countTables(client: ClientBase, tables: readonly DataTable[], counting: Counting): Promise<Record<string, number>> {
  return counting === 'plain' ? inTransaction(client, beginCounting(counting), () => countBatch(client, tables)) : countBatch(client, tables);
}

/**
 * Exact rows of the standalone table `name` (quoted, `schema.table`) if its lock is free at once,
 * else `undefined`: one transaction (with PLAIN_COUNTING when `plain`) that takes the table's
 * AccessShareLock with NOWAIT before counting. A restore's ALTER TABLE holds AccessExclusive
 * while it builds a primary key (seconds on a large table); a count that waited for it would hold
 * up every count queued behind it (LoadedTableCounts), and the table is better counted after the
 * restore.
 */
export async function countIfUnlocked(client: ClientBase, name: string, counting: Counting): Promise<number | undefined> {
  // One round trip per table (the queue of early counts is one table at a time): the statements of
  // one simple query run in order and stop at the first error, whose transaction is rolled back.
  const sql = [...beginCounting(counting), `LOCK TABLE ONLY ${name} IN ACCESS SHARE MODE NOWAIT`, `SELECT count(*) AS n FROM ${name}`, 'COMMIT'];
  try {
    const results = (await client.query(sql.join('; '))) as unknown as QueryResult<{ n: string }>[];
    return Number(results[sql.length - 2].rows[0].n);
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    if ((err as { code?: string }).code === LOCK_NOT_AVAILABLE) return undefined;
    throw err;
  }
}

/** SQLSTATE of a lock request with NOWAIT that the lock's holder refused. */
const LOCK_NOT_AVAILABLE = '55P03';

/**
 * Exact rows per table of the database `client` is connected to, in batches of at most
 * `max_locks_per_transaction` locks. Call it outside a transaction: each batch is then a statement
 * (`plain`: a transaction) of its own that releases its locks when it ends. Tables in `counted`
 * (counted already, by LoadedTableCounts while the restore ran) are not counted again.
 */
export async function rowCounts(client: ClientBase, counting: Counting = 'server', counted: Readonly<Record<string, number>> = {}): Promise<Record<string, number>> {
  const budget = await lockBudget(client);
  const counts: Record<string, number> = {};
  const left: DataTable[] = [];
  for (const table of await dataTables(client)) {
    if (Object.prototype.hasOwnProperty.call(counted, table.name)) counts[table.name] = counted[table.name];
    else left.push(table);
  }
  for (const batch of lockBatches(left, budget)) Object.assign(counts, await countTables(client, batch, counting));
  return counts;
}

/** Runs `begin` (BEGIN and what follows it, sent in one round trip), then `fn`, then COMMIT; ROLLBACK after a failure. */
async function inTransaction<T>(client: ClientBase, begin: readonly string[], fn: () => Promise<T>): Promise<T> {
  try {
    await client.query(begin.join('; '));
    const result = await fn();
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

/**
 * How a dump's counts run on the source (SET LOCAL: this counting transaction only): one process
 * per count, no JIT. The counts run while pg_dump's COPY runs on the same server; parallel
 * workers made them take two more of the source's processes (and 0.4-0.7 CPU-s more on the
 * bench's 1.2 GB database: 1.1-1.4 CPU-s against 0.7-0.9, same rows) from the COPY, and a batch
 * of up to max_locks_per_transaction counts in one UNION ALL is one statement whose cost passes
 * jit_above_cost, paying LLVM compilation for a scan that takes milliseconds. `jit` exists from
 * PostgreSQL 11: set where the server has it.
 * The verify job's restore test counts its scratch database the same way (`rowCounts(client,
 * 'plain')`): it is background work on the source server (or a verification server), and on the
 * bench's 1.2 GB database freshly restored, `rowCounts` took 0.70-0.74 s and 1.07-1.16 machine
 * CPU-s with the server's workers, 0.66-0.68 s and 0.67-0.69 CPU-s plainly: it spares the server
 * CPU more than it saves time. The failover restore and its validation count with
 * the new instance's own settings: nothing else runs there, and workers may shorten the RTO on
 * its vCPUs.
 */
const PLAIN_COUNTING = setKnownSettingsSql({ max_parallel_workers_per_gather: '0', jit: 'off' }, true);

const SNAPSHOT_ID = /^[0-9A-Fa-f]+(-[0-9A-Fa-f]+)+$/;

/**
 * Runs `fn` on `client` in a short REPEATABLE READ READ ONLY transaction that imports the exported
 * snapshot `snapshot` and counts plainly (PLAIN_COUNTING, in the same round trip), then commits (or
 * rolls back after a failure), releasing its locks.
 */
function inSnapshot<T>(client: ClientBase, snapshot: string, fn: () => Promise<T>): Promise<T> {
  if (!SNAPSHOT_ID.test(snapshot)) return Promise.reject(new Error(`${JSON.stringify(snapshot)} is not a snapshot identifier`));
  return inTransaction(client, ['BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY', `SET TRANSACTION SNAPSHOT '${snapshot}'`, PLAIN_COUNTING], fn);
}

/**
 * Object counts and exact rows per table in the exported snapshot `snapshot`, the one pg_dump
 * reads, so they are exactly what the dump holds. `client` is a session of its own; the exporting
 * transaction must stay open until this returns (every transaction here imports the snapshot).
 *
 * Locks: pg_dump already holds AccessShareLock on every table it dumps. Counting in the exporting
 * transaction would lock every table (and index) a second time and keep all of it until the end,
 * doubling the shared lock table a backup needs (`out of shared memory` near the limit). Here
 * each batch of at most `max_locks_per_transaction` locks is counted in a transaction of its own
 * that commits before the next starts: on top of pg_dump's locks, at most one batch is held.
 * `signal` stops it between batches.
 */
export async function snapshotCounts(client: ClientBase, snapshot: string, signal?: AbortSignal): Promise<{ rows: Record<string, number>; objects: ObjectCounts }> {
  signal?.throwIfAborted();
  const { tables, objects, budget } = await inSnapshot(client, snapshot, async () => ({
    tables: await dataTables(client),
    objects: await objectCounts(client),
    budget: await lockBudget(client),
  }));
  const rows: Record<string, number> = {};
  for (const batch of lockBatches(tables, budget)) {
    signal?.throwIfAborted();
    Object.assign(rows, await inSnapshot(client, snapshot, () => countBatch(client, batch)));
  }
  return { rows, objects };
}

/**
 * The objects whose owner and privileges a dump carries, each with its owner, its ACL and the
 * ACL it has when none is set (acldefault): relations (tables, partitioned tables, views,
 * materialized views, sequences, foreign tables), schemas, functions/procedures/aggregates,
 * types that stand on their own (not arrays nor the row types of relations), large objects.
 * Database-level owner and ACL are not part of a database dump (pg_restore without --create).
 */
const OWNED_OBJECTS_SQL = `
  SELECT c.relowner AS owner, c.relacl AS acl, acldefault(CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END::"char", c.relowner) AS dflt
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND c.relpersistence <> 't' AND ${USER_SCHEMA} AND ${NOT_EXTENSION_MEMBER('pg_class', 'c.oid')}
  UNION ALL
  SELECT n.nspowner, n.nspacl, acldefault('n', n.nspowner)
    FROM pg_namespace n WHERE ${USER_SCHEMA} AND ${NOT_EXTENSION_MEMBER('pg_namespace', 'n.oid')}
  UNION ALL
  SELECT p.proowner, p.proacl, acldefault('f', p.proowner)
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE ${USER_SCHEMA} AND ${NOT_EXTENSION_MEMBER('pg_proc', 'p.oid')}
  UNION ALL
  SELECT t.typowner, t.typacl, acldefault('T', t.typowner)
    FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
    WHERE ${USER_SCHEMA} AND ${NOT_EXTENSION_MEMBER('pg_type', 't.oid')} AND t.typcategory <> 'A'
      AND (t.typrelid = 0 OR (SELECT c.relkind FROM pg_class c WHERE c.oid = t.typrelid) = 'c')
  UNION ALL
  SELECT l.lomowner, l.lomacl, acldefault('L', l.lomowner) FROM pg_largeobject_metadata l`;

/**
 * Owners per role, and privileges per grantee ("PUBLIC" for grants to everyone): every
 * (object, privilege) of the effective ACL (the default one when none is set), column
 * privileges and default privileges (ALTER DEFAULT PRIVILEGES) included. What an object's owner
 * holds on its own object is ownership, not a grant, so it is left out: the grants then compare
 * equal whoever owns the objects after a restore.
 */
export const PRIVILEGE_SUMMARY_SQL = `WITH objects AS (${OWNED_OBJECTS_SQL}
), acls AS (
  SELECT owner, coalesce(acl, dflt) AS acl FROM objects
  UNION ALL
  SELECT c.relowner, a.attacl FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE a.attacl IS NOT NULL AND a.attnum > 0 AND NOT a.attisdropped AND c.relpersistence <> 't'
      AND ${USER_SCHEMA} AND ${NOT_EXTENSION_MEMBER('pg_class', 'c.oid')}
  UNION ALL
  SELECT d.defaclrole, d.defaclacl FROM pg_default_acl d
)
SELECT 'owner' AS kind, pg_get_userbyid(owner) AS role, count(*) AS n FROM objects GROUP BY 2
UNION ALL
SELECT 'grant', CASE WHEN e.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(e.grantee) END, count(*)
  FROM acls, LATERAL aclexplode(acls.acl) e WHERE e.grantee <> acls.owner GROUP BY 2`;

/** Who owns what and who was granted what (see PRIVILEGE_SUMMARY_SQL), keys sorted. */
export async function privilegeSummary(client: ClientBase): Promise<PrivilegeSummary> {
  const { rows } = await client.query<{ kind: 'owner' | 'grant'; role: string; n: string }>(PRIVILEGE_SUMMARY_SQL);
  const owners: Record<string, number> = {};
  const grants: Record<string, number> = {};
  for (const { kind, role, n } of [...rows].sort((a, b) => (a.role < b.role ? -1 : a.role > b.role ? 1 : 0))) {
    (kind === 'owner' ? owners : grants)[role] = Number(n);
  }
  return { owners, grants };
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

/**
 * Differences between the manifest's privilege summary and the restored one: grants per grantee,
 * and owners per role when `owners` (a restore with --no-owner makes the login own everything).
 */
export function comparePrivileges(expected: PrivilegeSummary, actual: PrivilegeSummary, owners: boolean): Mismatch[] {
  const prefixed = (counts: Record<string, number>, prefix: string) => Object.fromEntries(Object.entries(counts).map(([role, n]) => [`${prefix} ${JSON.stringify(role)}`, n]));
  return [
    ...(owners ? compareCounts(prefixed(expected.owners, 'objects owned by'), prefixed(actual.owners, 'objects owned by')) : []),
    ...compareCounts(prefixed(expected.grants, 'privileges granted to'), prefixed(actual.grants, 'privileges granted to')),
  ];
}

/** How a restored database differs from the manifest of its dump. */
export interface ManifestComparison {
  readonly rows: Mismatch[];
  readonly objects: Mismatch[];
  /** Empty when privileges were not compared. */
  readonly privileges: Mismatch[];
}

/**
 * Compares the database `client` is connected to (just restored) with `manifest`: rows per table,
 * object counts, and, when `privileges` says they were restored, grants (and owners when
 * `privileges.owners`). Rows of the tables in `counted` (counted during the restore) are taken from there. Used by the verify job's restore test and the failover restore.
 */
export async function compareWithManifest(
  client: ClientBase,
  manifest: BackupManifest,
  privileges?: { readonly privileges: boolean; readonly owners: boolean },
  counting: Counting = 'server',
  counted: Readonly<Record<string, number>> = {},
): Promise<ManifestComparison> {
  const rows = compareCounts(manifest.rowCounts, await rowCounts(client, counting, counted));
  const objects = compareCounts(manifest.objectCounts as unknown as Record<string, number>, (await objectCounts(client)) as unknown as Record<string, number>);
  const compared = privileges?.privileges && manifest.privileges ? comparePrivileges(manifest.privileges, await privilegeSummary(client), privileges.owners) : [];
  return { rows, objects, privileges: compared };
}
