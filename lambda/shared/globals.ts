/**
 * The roles a database needs, which a dump of the database does not hold (roles are cluster-wide):
 * read in the dump's snapshot session, stored next to the dump as idempotent SQL
 * (`....globals.sql`, for a restore by hand and the failover) and in the manifest, and made
 * present on the restore server before the restore test restores owners and privileges.
 *
 * Never a password: roles are read from `pg_roles` (whose password column is always masked), not
 * `pg_authid`, so this works for a non-superuser and on RDS.
 */
import { createHash } from 'node:crypto';
import type { ClientBase } from 'pg';
import { privilegeSummary } from './catalog';
import { quoteIdent, quoteLiteral } from './pg-client';
import type { ObjectStore } from './ports';
import type { BackupGlobals, GlobalRole, PrivilegeSummary } from './records';

/** Predefined roles (`pg_*`, reserved names) exist on every server: never created, only granted. */
export function isPredefinedRole(name: string): boolean {
  return name.startsWith('pg_');
}

/**
 * The roles this database needs, by oid: owners, ACL grantees and policy roles of its objects
 * and grantees on the database itself (pg_shdepend), the database owner, roles with settings in this database, the roles named by the
 * privilege summary (the bootstrap superuser is pinned, so pg_shdepend never names it), then every
 * role these are members of (transitively), then the direct members of all of those that can log
 * in (the application logins).
 */
const NEEDED_ROLES_CTE = `WITH RECURSIVE
db AS (SELECT oid, datdba FROM pg_database WHERE datname = current_database()),
base(oid) AS (
  SELECT s.refobjid FROM pg_shdepend s, db WHERE s.refclassid = 'pg_authid'::regclass
    AND (s.dbid = db.oid OR (s.dbid = 0 AND s.classid = 'pg_database'::regclass AND s.objid = db.oid))
  UNION SELECT datdba FROM db
  UNION SELECT s.setrole FROM pg_db_role_setting s, db WHERE s.setdatabase = db.oid AND s.setrole <> 0
  UNION SELECT r.oid FROM pg_roles r WHERE r.rolname = ANY($1::text[])
),
up(oid) AS (
  SELECT oid FROM base
  UNION SELECT m.roleid FROM pg_auth_members m JOIN up ON m.member = up.oid
),
needed(oid) AS (
  SELECT oid FROM up
  UNION SELECT m.member FROM pg_auth_members m JOIN up ON m.roleid = up.oid JOIN pg_roles r ON r.oid = m.member WHERE r.rolcanlogin
)`;

const ROLES_SQL = `${NEEDED_ROLES_CTE}
SELECT r.rolname, r.rolsuper, r.rolinherit, r.rolcreaterole, r.rolcreatedb, r.rolcanlogin, r.rolreplication, r.rolbypassrls,
  r.rolconnlimit,
  CASE WHEN r.rolvaliduntil IS NULL THEN NULL WHEN isfinite(r.rolvaliduntil)
    THEN to_char(r.rolvaliduntil AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') ELSE r.rolvaliduntil::text END AS validuntil,
  ARRAY(SELECT g.rolname || '=' || m.admin_option::text FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
        WHERE m.member = r.oid AND m.roleid IN (SELECT oid FROM needed) ORDER BY g.rolname) AS member_of,
  ARRAY(SELECT CASE WHEN s.setdatabase = 0 THEN 'all-databases' ELSE 'this-database' END || '|' || c.setting
        FROM pg_db_role_setting s CROSS JOIN LATERAL unnest(s.setconfig) WITH ORDINALITY AS c(setting, i)
        WHERE s.setrole = r.oid AND (s.setdatabase = 0 OR s.setdatabase = (SELECT oid FROM db))
        ORDER BY s.setdatabase, c.i) AS settings
FROM pg_roles r WHERE r.oid IN (SELECT oid FROM needed) AND r.rolname NOT LIKE 'pg\\_%'
ORDER BY r.rolname`;

interface RoleRow {
  rolname: string;
  rolsuper: boolean;
  rolinherit: boolean;
  rolcreaterole: boolean;
  rolcreatedb: boolean;
  rolcanlogin: boolean;
  rolreplication: boolean;
  rolbypassrls: boolean;
  rolconnlimit: number;
  validuntil: string | null;
  member_of: string[];
  settings: string[];
}

/**
 * CREATE ROLE options of a role. SUPERUSER, REPLICATION and BYPASSRLS appear only when set:
 * naming them at all (even NOSUPERUSER) needs a superuser, which RDS has not, and a new role has
 * none of them anyway.
 */
function roleOptions(r: RoleRow): string[] {
  const options = [
    r.rolcanlogin ? 'LOGIN' : 'NOLOGIN',
    r.rolinherit ? 'INHERIT' : 'NOINHERIT',
    r.rolcreatedb ? 'CREATEDB' : 'NOCREATEDB',
    r.rolcreaterole ? 'CREATEROLE' : 'NOCREATEROLE',
  ];
  if (r.rolsuper) options.push('SUPERUSER');
  if (r.rolreplication) options.push('REPLICATION');
  if (r.rolbypassrls) options.push('BYPASSRLS');
  if (r.rolconnlimit >= 0) options.push(`CONNECTION LIMIT ${r.rolconnlimit}`);
  if (r.validuntil !== null) options.push(`VALID UNTIL ${quoteLiteral(r.validuntil)}`);
  return options;
}

/** The roles the database needs (see NEEDED_ROLES_CTE), with attributes, memberships and settings. */
export async function readGlobalRoles(client: ClientBase, alsoNeeded: readonly string[]): Promise<GlobalRole[]> {
  const { rows } = await client.query<RoleRow>(ROLES_SQL, [alsoNeeded]);
  return rows.map((r) => ({
    name: r.rolname,
    options: roleOptions(r),
    memberOf: r.member_of.map((m) => {
      const at = m.lastIndexOf('=');
      return { role: m.slice(0, at), admin: m.slice(at + 1) === 'true' };
    }),
    settings: r.settings.map((s) => {
      const at = s.indexOf('|');
      return { scope: s.slice(0, at) as 'all-databases' | 'this-database', setting: s.slice(at + 1) };
    }),
  }));
}

/** Roles and privilege summary of the database the client is connected to (in its snapshot). */
export async function readRolesAndPrivileges(client: ClientBase): Promise<{ roles: GlobalRole[]; privileges: PrivilegeSummary }> {
  const privileges = await privilegeSummary(client);
  const named = [...Object.keys(privileges.owners), ...Object.keys(privileges.grants)].filter((r) => r !== 'PUBLIC');
  return { roles: await readGlobalRoles(client, named), privileges };
}

/** `body` in dollar quotes whose tag does not occur in it. */
function dollarQuote(body: string): string {
  let tag = '$pgdr$';
  for (let i = 1; body.includes(tag); i++) tag = `$pgdr${i}$`;
  return `${tag}${body}${tag}`;
}

/** Variables whose value is a list of names (PostgreSQL's GUC_LIST_QUOTE): quoted per element. */
const LIST_VARIABLES = new Set(['search_path', 'temp_tablespaces', 'session_preload_libraries', 'shared_preload_libraries', 'local_preload_libraries', 'unix_socket_directories']);

/** Splits a stored list value (`app, "$user", public`) into its elements; undefined if malformed. */
function splitList(value: string): string[] | undefined {
  const items: string[] = [];
  let i = 0;
  while (i < value.length) {
    while (value[i] === ' ') i++;
    let item = '';
    if (value[i] === '"') {
      for (i++; ; i++) {
        if (i >= value.length) return undefined;
        if (value[i] === '"') {
          if (value[i + 1] !== '"') break;
          i++;
        }
        item += value[i];
      }
      i++;
    } else {
      while (i < value.length && value[i] !== ',' && value[i] !== ' ') item += value[i++];
    }
    items.push(item);
    while (value[i] === ' ') i++;
    if (i < value.length && value[i++] !== ',') return undefined;
  }
  return items;
}

/** `SET name TO value` for a stored `name=value` setting, with the value quoted as PostgreSQL needs. */
function setClause(setting: string): string {
  const at = setting.indexOf('=');
  const name = setting.slice(0, at);
  const value = setting.slice(at + 1);
  const list = LIST_VARIABLES.has(name.toLowerCase()) ? splitList(value) : undefined;
  return `SET ${quoteIdent(name)} TO ${list ? list.map(quoteLiteral).join(', ') : quoteLiteral(value)}`;
}

/** `CREATE ROLE name` when no role of that name exists (one statement, no error when it does). */
export function createRoleIfMissing(name: string, options: readonly string[] = []): string {
  const create = `CREATE ROLE ${quoteIdent(name)}${options.length ? ` WITH ${options.join(' ')}` : ''}`;
  const body = `BEGIN IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = ${quoteLiteral(name)}) THEN ${create}; END IF; END`;
  return `DO ${dollarQuote(body)};`;
}

/**
 * The globals as SQL for `psql -d TARGET -f globals.sql`, run before pg_restore into TARGET:
 * creates each missing role with the source's attributes, grants the memberships and applies
 * the role settings (those of the source database go to the database psql is connected to,
 * `:"DBNAME"`). Idempotent: a role that exists is left as it is (not an error, attributes not
 * touched: on RDS the master user and the rds_* roles are the server's own), and running it twice
 * changes nothing. No password: give logins theirs with `ALTER ROLE ... PASSWORD` afterwards.
 */
export function renderGlobalsSql(roles: readonly GlobalRole[]): string {
  const lines = [
    '-- pgdr: the roles this dump needs (no passwords). Run with psql, connected to the database',
    '-- you restore into, before pg_restore: psql -d TARGET -f globals.sql',
    "SET client_encoding = 'UTF8';",
    'SET standard_conforming_strings = on;',
    '',
  ];
  const { creates, grantsAndSettings } = globalsStatements(roles, ':"DBNAME"');
  lines.push(...creates, '', ...grantsAndSettings);
  return `${lines.join('\n')}\n`;
}

/**
 * The statements of the globals, in order: the CREATE ROLEs (each only when missing), then the
 * memberships and role settings; `databaseRef` is how the settings of the source database name
 * the database restored into (`:"DBNAME"` for psql, a quoted identifier for a client).
 */
function globalsStatements(roles: readonly GlobalRole[], databaseRef: string): { creates: string[]; grantsAndSettings: string[] } {
  const creates = roles.map((role) => createRoleIfMissing(role.name, role.options));
  const grantsAndSettings: string[] = [];
  for (const role of roles) {
    for (const m of role.memberOf) grantsAndSettings.push(`GRANT ${quoteIdent(m.role)} TO ${quoteIdent(role.name)}${m.admin ? ' WITH ADMIN OPTION' : ''};`);
  }
  for (const role of roles) {
    for (const s of role.settings) {
      grantsAndSettings.push(`ALTER ROLE ${quoteIdent(role.name)}${s.scope === 'this-database' ? ` IN DATABASE ${databaseRef}` : ''} ${setClause(s.setting)};`);
    }
  }
  return { creates, grantsAndSettings };
}

/** Options only a superuser may name (RDS's master user is not one). */
const SUPERUSER_OPTIONS = new Set(['SUPERUSER', 'REPLICATION', 'BYPASSRLS']);

/** What `applyGlobalRoles` did on the new server. */
export interface AppliedGlobals {
  /** Roles that did not exist and were created with the source's attributes. */
  readonly created: string[];
  /** Roles that existed already (left as they are: e.g. the server's own master user). */
  readonly existing: string[];
  /** Attributes not given because the login is not a superuser, one line per role. */
  readonly attributesDropped: string[];
}

/**
 * Recreates the globals on a NEW server (the failover's dump restore), through `client`: each
 * missing role with the source's attributes (LOGIN, INHERIT, CONNECTION LIMIT, VALID UNTIL...;
 * SUPERUSER, REPLICATION and BYPASSRLS only when the login is a superuser, else reported), the
 * memberships, and the role settings (those of the source database go to `database`, which must
 * exist). Same statements as `renderGlobalsSql`; idempotent; never a password.
 */
export async function applyGlobalRoles(client: ClientBase, roles: readonly GlobalRole[], database: string): Promise<AppliedGlobals> {
  const superuser = (await client.query<{ s: boolean }>('SELECT rolsuper AS s FROM pg_roles WHERE rolname = current_user')).rows[0]?.s === true;
  const names = roles.map((r) => r.name);
  const before = new Set((await client.query<{ rolname: string }>('SELECT rolname FROM pg_roles WHERE rolname = ANY($1::text[])', [names])).rows.map((r) => r.rolname));
  const attributesDropped: string[] = [];
  const usable = roles.map((role) => {
    const dropped = superuser ? [] : role.options.filter((o) => SUPERUSER_OPTIONS.has(o));
    if (dropped.length > 0 && !before.has(role.name)) attributesDropped.push(`role ${JSON.stringify(role.name)} created without ${dropped.join(', ')}: only a superuser may give them`);
    return dropped.length > 0 ? { ...role, options: role.options.filter((o) => !SUPERUSER_OPTIONS.has(o)) } : role;
  });
  const { creates, grantsAndSettings } = globalsStatements(usable, quoteIdent(database));
  for (const [i, statement] of [...creates, ...grantsAndSettings].entries()) {
    try {
      await client.query(statement);
    } catch (err) {
      const what = i < creates.length ? `creating the role ${JSON.stringify(usable[i].name)}` : 'granting the memberships and settings of the roles';
      throw new Error(`${what} failed: ${(err as Error).message}`);
    }
  }
  return { created: names.filter((n) => !before.has(n)), existing: names.filter((n) => before.has(n)), attributesDropped };
}

/** Writes `....globals.sql` (write-once) and returns what the manifest records of it. */
export async function storeGlobals(store: ObjectStore, key: string, roles: GlobalRole[]): Promise<BackupGlobals> {
  const sql = renderGlobalsSql(roles);
  await store.putText(key, sql, { contentType: 'application/sql; charset=utf-8', ifNoneMatch: true });
  return { key, bytes: Buffer.byteLength(sql, 'utf8'), sha256: createHash('sha256').update(sql, 'utf8').digest('hex'), roles };
}

/** How the restore test restores owners and privileges, and what it could not check. */
export interface RestoreRolePlan {
  /** Restore (and compare) owners: pg_restore without --no-owner. */
  readonly owners: boolean;
  /** Restore (and compare) privileges: pg_restore without --no-privileges. */
  readonly privileges: boolean;
  /** Roles the restore server lacked and this run created (NOLOGIN, no attributes, cluster-wide). */
  readonly created: string[];
  /** Roles the restore server lacks and the login could not create. */
  readonly missing: string[];
  /** What is not checked and why, one line each. */
  readonly notChecked: string[];
}

const OLD_MANIFEST = 'the manifest lists no roles nor privileges (written before pgdr 0.2): restored with --no-owner --no-privileges, owners and privileges not checked';

/**
 * Makes the roles the manifest lists present on the restore server (the login connected by
 * `client`), as far as the login may, and decides what the restore test can restore and check:
 *   - missing roles are created NOLOGIN when the login is a superuser or has CREATEROLE; else they
 *     stay missing (the caller fails the verification naming each) and neither owners nor
 *     privileges are restored;
 *   - owners are restored and compared only when the login can SET ROLE to every owner role
 *     (superuser, or member); else the restore runs with --no-owner and says so.
 */
export async function prepareRestoreRoles(client: ClientBase, globals: BackupGlobals | undefined, privileges: PrivilegeSummary | undefined): Promise<RestoreRolePlan> {
  if (!globals || !privileges) return { owners: false, privileges: false, created: [], missing: [], notChecked: [OLD_MANIFEST] };
  const login = (await client.query<{ name: string; super: boolean; createrole: boolean }>(
    'SELECT rolname AS name, rolsuper AS super, rolcreaterole AS createrole FROM pg_roles WHERE rolname = current_user',
  )).rows[0];
  const needed = globals.roles.map((r) => r.name);
  const existing = new Set((await client.query<{ rolname: string }>('SELECT rolname FROM pg_roles WHERE rolname = ANY($1::text[])', [needed])).rows.map((r) => r.rolname));
  const created: string[] = [];
  const missing: string[] = [];
  for (const name of needed.filter((n) => !existing.has(n))) {
    if (!login.super && !login.createrole) {
      missing.push(name);
      continue;
    }
    try {
      await client.query(createRoleIfMissing(name, ['NOLOGIN']));
      created.push(name);
    } catch (err) {
      // duplicate_object: a concurrent run created it first.
      if ((err as { code?: string }).code !== '42710') throw new Error(`creating the role ${JSON.stringify(name)} failed: ${(err as Error).message}`);
    }
  }
  if (missing.length > 0) {
    return { owners: false, privileges: false, created, missing, notChecked: [`owners and privileges not restored nor checked: ${missing.length} role(s) missing on the restore server`] };
  }
  if (login.super) return { owners: true, privileges: true, created, missing, notChecked: [] };
  // The login owns the scratch database, so it is pg_database_owner there.
  const owners = Object.keys(privileges.owners).filter((r) => r !== 'pg_database_owner');
  const cannotBecome = (await client.query<{ role: string }>(
    `SELECT role FROM unnest($1::text[]) AS role WHERE NOT pg_has_role(current_user, role, 'MEMBER') ORDER BY 1`,
    [owners],
  )).rows.map((r) => r.role);
  if (cannotBecome.length === 0) return { owners: true, privileges: true, created, missing, notChecked: [] };
  return {
    owners: false,
    privileges: true,
    created,
    missing,
    notChecked: [`owners not restored nor checked (restored with --no-owner): the restore login ${JSON.stringify(login.name)} is not a superuser and cannot SET ROLE to ${cannotBecome.map((r) => JSON.stringify(r)).join(', ')}`],
  };
}
