/**
 * Roles and privileges travel with the dump (issue 10, defect 3). The source database needs
 * roles that exist only on the source cluster: an owner role inside a role hierarchy, a grantee
 * whose name needs quoting (`app "rw" ü`), an application login with settings, a role granted
 * column and default privileges, a policy role. The dump stores them (no passwords) as
 * `....globals.sql` and in the manifest; the restore test on a separate verify server restores
 * WITH owners and privileges, recreating the roles it may create, failing by name on those it
 * may not; the globals SQL plus pg_restore restore by hand on a fresh cluster.
 * The tests run in file order: the ones where the verify server lacks the roles come before the
 * one that creates them there.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { PgCluster, PG_BIN } from '../../local/pg-cluster';
import { startTestS3, TestS3 } from '../support/s3-server';
import { harness } from '../support/harness';
import { connectionFromUrl } from '../../lambda/shared/connection';
import { keysFromDumpKey } from '../../lambda/shared/layout';
import { renderGlobalsSql } from '../../lambda/shared/globals';
import type { BackupManifest, GlobalRole } from '../../lambda/shared/records';

const RW = 'app "rw" ü';
const Q_RW = '"app ""rw"" ü"';
const PASSWORDS = { appLogin: 'app-login-Pw-7f3a9c', dumper: 'dumper-Pw-51e0b2', stranger: 'stranger-Pw-c4d8e1' };
/** Roles crm needs: everything but `stranger`, `dumper` and the predefined roles (`monitor` may connect to the database). */
const CRM_ROLES = [RW, 'app_login', 'app_owner', 'auditor', 'monitor', 'org', 'postgres', 'reporting', 'team'];

const ROLES_SQL = `
CREATE ROLE org NOLOGIN;
CREATE ROLE team NOLOGIN IN ROLE org;
CREATE ROLE app_owner NOLOGIN IN ROLE team;
CREATE ROLE ${Q_RW} NOLOGIN;
CREATE ROLE app_login LOGIN PASSWORD '${PASSWORDS.appLogin}' CONNECTION LIMIT 20 IN ROLE ${Q_RW};
ALTER ROLE app_login SET search_path = crm, "$user", public;
CREATE ROLE reporting NOLOGIN;
CREATE ROLE auditor NOLOGIN;
CREATE ROLE monitor LOGIN;
CREATE ROLE stranger LOGIN PASSWORD '${PASSWORDS.stranger}';
CREATE ROLE dumper LOGIN PASSWORD '${PASSWORDS.dumper}' IN ROLE pg_read_all_data;
`;

/** Objects owned by app_owner; grants (table, column, function, schema, default), a policy. */
const CRM_SQL = `
CREATE SCHEMA crm AUTHORIZATION app_owner;
SET ROLE app_owner;
CREATE TABLE crm.customer (id int PRIMARY KEY, name text NOT NULL, note text);
INSERT INTO crm.customer SELECT g, 'customer ' || g, 'note' FROM generate_series(1, 50) g;
CREATE FUNCTION crm.greet(who text) RETURNS text LANGUAGE sql AS $$ SELECT 'hello ' || who $$;
REVOKE EXECUTE ON FUNCTION crm.greet(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.greet(text) TO ${Q_RW};
GRANT USAGE ON SCHEMA crm TO ${Q_RW}, reporting;
GRANT SELECT, INSERT, UPDATE ON crm.customer TO ${Q_RW};
GRANT SELECT (id, name) ON crm.customer TO reporting;
ALTER DEFAULT PRIVILEGES IN SCHEMA crm GRANT SELECT ON TABLES TO reporting;
CREATE TABLE crm.invoice (no int PRIMARY KEY, customer int REFERENCES crm.customer(id), total numeric);
CREATE POLICY audit_all ON crm.customer TO auditor USING (true);
RESET ROLE;
`;

/** Like crm without default privileges: what a login that cannot SET ROLE to the owner can restore. */
const LEDGER_SQL = `
CREATE SCHEMA ledger AUTHORIZATION app_owner;
SET ROLE app_owner;
CREATE TABLE ledger.entry (id int PRIMARY KEY, amount numeric);
INSERT INTO ledger.entry SELECT g, g * 1.5 FROM generate_series(1, 20) g;
GRANT USAGE ON SCHEMA ledger TO ${Q_RW};
GRANT SELECT, INSERT ON ledger.entry TO ${Q_RW};
RESET ROLE;
`;

let source: PgCluster;
let verifyServer: PgCluster;
let s3: TestS3;

beforeAll(async () => {
  [source, verifyServer, s3] = await Promise.all([PgCluster.start(), PgCluster.start(), startTestS3()]);
  await source.sql('postgres', ROLES_SQL);
  await source.createDatabase('crm');
  await source.sql('crm', CRM_SQL);
  await source.sql('postgres', `ALTER ROLE app_login IN DATABASE crm SET statement_timeout = '5s'; GRANT CONNECT ON DATABASE crm TO monitor`);
  await source.createDatabase('ledger');
  await source.sql('ledger', LEDGER_SQL);
  // Logins on the verify server that are not superusers.
  await verifyServer.sql('postgres', `CREATE ROLE creator LOGIN PASSWORD 'creator-pw' CREATEDB; CREATE ROLE admin LOGIN PASSWORD 'admin-pw' CREATEDB CREATEROLE`);
});

afterAll(async () => {
  await Promise.allSettled([s3?.stop(), source?.stop(), verifyServer?.stop()]);
});

const manifestKeyOf = (m: BackupManifest) => keysFromDumpKey(m.dump.key).manifest;

async function getText(key: string): Promise<string> {
  const out = await s3.client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: key }));
  return out.Body!.transformToString();
}

async function getBytes(key: string): Promise<Buffer> {
  const out = await s3.client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: key }));
  return Buffer.from(await out.Body!.transformToByteArray());
}

/** A login on a cluster as connection info (for the dump / the restore server). */
function login(cluster: PgCluster, user: string, password: string, database = 'postgres') {
  return { ...connectionFromUrl(cluster.url(database)), username: user, password };
}

async function rolesOn(cluster: PgCluster, names: string[]): Promise<Array<{ rolname: string; rolcanlogin: boolean }>> {
  return cluster.sql('postgres', 'SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname = ANY($1) ORDER BY rolname', [names]);
}

/** Runs a PostgreSQL client tool as the superuser of `cluster`; returns exit status and output. */
function tool(cluster: PgCluster, name: string, args: string[], input?: Buffer | string, user = 'postgres', password = cluster.password) {
  const result = spawnSync(`${PG_BIN}/${name}`, args, {
    input,
    env: { ...process.env, PGHOST: cluster.host, PGPORT: String(cluster.port), PGUSER: user, PGPASSWORD: password },
    encoding: 'utf8',
  });
  return { status: result.status, out: `${result.stdout}\n${result.stderr}` };
}

/** The failure line for a role the verify login `creator` cannot create. */
const missingRoleFailure = (name: string) =>
  `role ${JSON.stringify(name)} that the dump needs does not exist on the restore server, and creator@${verifyServer.host}:${verifyServer.port}/postgres cannot create roles`;

let crm: BackupManifest;

test('roles that cannot be read fail the dump with one clear line, before anything is stored', async () => {
  const h = harness(source, s3, 'unreadable', 'crm');
  await source.sql('crm', 'REVOKE SELECT ON pg_catalog.pg_shdepend FROM PUBLIC');
  try {
    // `stranger`: neither a superuser nor pg_read_all_data, which would bypass the REVOKE.
    await expect(h.dump({ connection: login(source, 'stranger', PASSWORDS.stranger, 'crm') })).rejects.toThrow(
      /^reading the roles and privileges in the dump's snapshot failed: permission denied for table pg_shdepend$/,
    );
  } finally {
    await source.sql('crm', 'GRANT SELECT ON pg_catalog.pg_shdepend TO PUBLIC');
  }
  expect(await s3.keys('unreadable/')).toEqual([]);
  expect(await s3.openUploads('unreadable/')).toEqual([]);
  expect(h.emf.values('BackupFailed')).toEqual([1]);
});


test('the dump stores the roles the database needs (by a non-superuser, no passwords) and the privileges', async () => {
  const h = harness(source, s3, 'crm', 'crm');
  crm = await h.dump({ connection: login(source, 'dumper', PASSWORDS.dumper, 'crm') });
  const globals = crm.globals!;
  expect(globals.key).toBe(keysFromDumpKey(crm.dump.key).globals);
  expect(globals.roles.map((r) => r.name)).toEqual(CRM_ROLES);
  const appLogin = globals.roles.find((r) => r.name === 'app_login')!;
  expect(appLogin.options).toEqual(['LOGIN', 'INHERIT', 'NOCREATEDB', 'NOCREATEROLE', 'CONNECTION LIMIT 20']);
  expect(appLogin.memberOf).toEqual([{ role: RW, admin: false }]);
  expect(appLogin.settings).toEqual([
    { scope: 'all-databases', setting: 'search_path=crm, "$user", public' },
    { scope: 'this-database', setting: 'statement_timeout=5s' },
  ]);
  expect(globals.roles.find((r) => r.name === 'app_owner')!.memberOf).toEqual([{ role: 'team', admin: false }]);
  expect(globals.roles.find((r) => r.name === 'postgres')!.options).toContain('SUPERUSER');

  // The stored SQL is what the manifest says, and holds no password.
  const sql = await getText(globals.key);
  expect(Buffer.byteLength(sql)).toBe(globals.bytes);
  expect(createHash('sha256').update(sql).digest('hex')).toBe(globals.sha256);
  expect(sql).toContain(`CREATE ROLE ${Q_RW}`);
  expect(sql).toContain(`GRANT ${Q_RW} TO "app_login";`);
  const manifestText = await getText(manifestKeyOf(crm));
  for (const text of [sql, manifestText]) {
    for (const password of [...Object.values(PASSWORDS), source.password]) expect(text).not.toContain(password);
    expect(text).not.toMatch(/PASSWORD\s*'|SCRAM-SHA-256\$|md5[0-9a-f]{32}/i);
  }

  // app_owner: schema crm, tables customer and invoice, function greet. public: pg_database_owner.
  expect(crm.privileges!.owners).toEqual({ app_owner: 4, pg_database_owner: 1 });
  expect(crm.privileges!.grants).toEqual({
    [RW]: 5, // customer: SELECT, INSERT, UPDATE; greet: EXECUTE; crm: USAGE
    reporting: 5, // customer: SELECT on 2 columns; crm: USAGE; the default SELECT on tables, and so on invoice
    PUBLIC: 1, // public: USAGE
  });
});

test('the README restore fails on a server without the roles; globals.sql then pg_restore restores with owners and grants, the login gets its memberships', async () => {
  const fresh = await PgCluster.start();
  try {
    const dump = execFileSync('zstd', ['-dc'], { input: await getBytes(crm.dump.key), maxBuffer: 256 * 1024 * 1024 });
    expect(crm.dump.compression.method).toBe('zstd-stream');
    await fresh.createDatabase('before');
    const without = tool(fresh, 'pg_restore', ['-d', 'before'], dump);
    expect(without.status).toBe(1);
    expect(without.out).toMatch(/role "app_owner" does not exist/);

    await fresh.createDatabase('crm_copy');
    // A role that exists on the target is left as it is.
    await fresh.sql('postgres', 'CREATE ROLE reporting LOGIN CREATEDB');
    const globalsSql = await getText(crm.globals!.key);
    for (let run = 1; run <= 2; run++) {
      const applied = tool(fresh, 'psql', ['-X', '-v', 'ON_ERROR_STOP=1', '-q', '-d', 'crm_copy', '-f', '-'], globalsSql);
      expect({ run, ...applied }).toMatchObject({ run, status: 0 });
    }
    const restored = tool(fresh, 'pg_restore', ['--exit-on-error', '-d', 'crm_copy'], dump);
    expect(restored).toMatchObject({ status: 0 });

    expect(await fresh.sql('crm_copy', `SELECT tableowner FROM pg_tables WHERE schemaname = 'crm' ORDER BY tablename`)).toEqual([{ tableowner: 'app_owner' }, { tableowner: 'app_owner' }]);
    expect(await fresh.sql('postgres', `SELECT pg_has_role('app_owner', 'org', 'MEMBER') AS ok`)).toEqual([{ ok: true }]);
    // The application login works once it has a password again: membership, settings, grants.
    await fresh.sql('postgres', `ALTER ROLE app_login PASSWORD 'new-pw'`);
    const asApp = tool(fresh, 'psql', ['-X', '-At', '-d', 'crm_copy', '-c', 'SHOW search_path', '-c', 'SHOW statement_timeout', '-c', 'SELECT count(*) FROM customer', '-c', `SELECT crm.greet('x')`], undefined, 'app_login', 'new-pw');
    expect(asApp).toMatchObject({ status: 0 });
    expect(asApp.out.trim().split('\n').slice(0, 4)).toEqual(['crm, "$user", public', '5s', '50', 'hello x']);
    const denied = tool(fresh, 'psql', ['-X', '-At', '-d', 'crm_copy', '-c', 'DELETE FROM crm.customer'], undefined, 'app_login', 'new-pw');
    expect(denied.out).toMatch(/permission denied for table customer/);
    expect(await fresh.sql('postgres', `SELECT rolcanlogin, rolconnlimit FROM pg_roles WHERE rolname = 'app_login'`)).toEqual([{ rolcanlogin: true, rolconnlimit: 20 }]);
    expect(await fresh.sql('postgres', `SELECT rolcanlogin, rolcreatedb FROM pg_roles WHERE rolname = 'reporting'`)).toEqual([{ rolcanlogin: true, rolcreatedb: true }]);
  } finally {
    await fresh.stop();
  }
});

test('a verify login that cannot create roles fails the verification naming each missing role', async () => {
  const h = harness(source, s3, 'crm', 'crm');
  const record = await h.verify(
    { manifestKey: manifestKeyOf(crm) },
    { restoreServer: { kind: 'verify', connection: login(verifyServer, 'creator', 'creator-pw') } },
  );
  expect(record.ok).toBe(false);
  const missing = CRM_ROLES.filter((r) => r !== 'postgres');
  expect(record.restoreTest).toMatchObject({ rolesMissing: missing, rolesCreated: [], ownersChecked: false, privilegesChecked: false });
  expect(record.failures.slice(0, missing.length)).toEqual(missing.map(missingRoleFailure));
  // The data restore is still tried (--no-owner --no-privileges); a policy names its role, so it fails too.
  expect(record.failures.slice(missing.length)).toEqual([expect.stringMatching(/^restore test failed: pg_restore exited with code 1: .*role "auditor" does not exist/)]);
  expect(await rolesOn(verifyServer, missing)).toEqual([]);
});

let ledger: BackupManifest;

test('grants to roles that exist only on the source: not verified when the verify login cannot create them (pgdr 0.1 passed it)', async () => {
  const h = harness(source, s3, 'ledger', 'ledger');
  ledger = await h.dump();
  const record = await h.verify({ manifestKey: manifestKeyOf(ledger) }, { restoreServer: { kind: 'verify', connection: login(verifyServer, 'creator', 'creator-pw') } });
  const missing = [RW, 'app_login', 'app_owner', 'org', 'team'];
  expect(record.ok).toBe(false);
  expect(ledger.globals!.roles.map((r) => r.name)).toEqual([...missing, 'postgres'].sort());
  // The data restores (--no-owner --no-privileges): only the roles fail it.
  expect(record.failures).toEqual(missing.map(missingRoleFailure));
  expect(record.restoreTest).toMatchObject({ rolesMissing: missing, ownersChecked: false, privilegesChecked: false, rowCountMismatches: [] });
});

test('a superuser verify login recreates the missing roles (NOLOGIN) and checks owners and privileges', async () => {
  const h = harness(source, s3, 'crm', 'crm');
  const record = await h.verify({ manifestKey: manifestKeyOf(crm) }, { restoreServer: { kind: 'verify', connection: connectionFromUrl(verifyServer.url()) } });
  expect(record.failures).toEqual([]);
  expect(record.ok).toBe(true);
  const created = CRM_ROLES.filter((r) => r !== 'postgres');
  expect(record.restoreTest).toMatchObject({ rolesCreated: created, rolesMissing: [], ownersChecked: true, privilegesChecked: true, notChecked: [], privilegeMismatches: [] });
  expect(await rolesOn(verifyServer, created)).toEqual(created.map((rolname) => ({ rolname, rolcanlogin: false })));
  expect(h.log.text()).toContain('created roles on the restore server');

  // The roles now exist: the next run creates none.
  const again = await h.verify({ manifestKey: manifestKeyOf(crm) }, { restoreServer: { kind: 'verify', connection: connectionFromUrl(verifyServer.url()) } });
  expect(again.restoreTest).toMatchObject({ rolesCreated: [], ownersChecked: true, privilegesChecked: true });
  expect(again.ok).toBe(true);
});

test('restored privileges that differ from the manifest fail the verification', async () => {
  const h = harness(source, s3, 'crm', 'crm');
  const edited = { ...crm, privileges: { owners: { ...crm.privileges!.owners, app_owner: 6 }, grants: { ...crm.privileges!.grants, auditor: 1 } } };
  await s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: manifestKeyOf(crm), Body: JSON.stringify(edited) }));
  try {
    const record = await h.verify({ manifestKey: manifestKeyOf(crm) }, { restoreServer: { kind: 'verify', connection: connectionFromUrl(verifyServer.url()) } });
    expect(record.ok).toBe(false);
    expect(record.failures).toEqual(['objects owned by "app_owner": manifest 6, restored 4', 'privileges granted to "auditor": manifest 1, restored none']);
    expect(record.restoreTest!.privilegeMismatches).toEqual([
      { what: 'objects owned by "app_owner"', expected: 6, actual: 4 },
      { what: 'privileges granted to "auditor"', expected: 1, actual: null },
    ]);
  } finally {
    await s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: manifestKeyOf(crm), Body: JSON.stringify(crm) }));
  }
});

describe('a verify login that is not a superuser nor a member of the owner roles', () => {
  test('restores without owners, checks the privileges and says the owners were not checked', async () => {
    const h = harness(source, s3, 'ledger', 'ledger');
    const record = await h.verify({ manifestKey: manifestKeyOf(ledger) }, { restoreServer: { kind: 'verify', connection: login(verifyServer, 'admin', 'admin-pw') } });
    expect(record.failures).toEqual([]);
    expect(record.ok).toBe(true);
    expect(record.restoreTest).toMatchObject({ ownersChecked: false, privilegesChecked: true, privilegeMismatches: [], rolesMissing: [] });
    expect(record.restoreTest!.notChecked).toEqual([
      'owners not restored nor checked (restored with --no-owner): the restore login "admin" is not a superuser and cannot SET ROLE to "app_owner"',
    ]);
    expect(h.log.entries.some((e) => e.level === 'WARN' && e.message === 'restore test: not checked')).toBe(true);
  });

  test("fails with pg_restore's error when the dump holds default privileges of a role it cannot become", async () => {
    const h = harness(source, s3, 'crm', 'crm');
    const record = await h.verify({ manifestKey: manifestKeyOf(crm) }, { restoreServer: { kind: 'verify', connection: login(verifyServer, 'admin', 'admin-pw') } });
    expect(record.ok).toBe(false);
    expect(record.failures.join('\n')).toMatch(/restore test failed: pg_restore exited with code 1: .*must be member of role "app_owner" \| Command was: ALTER DEFAULT PRIVILEGES FOR ROLE app_owner/);
    expect(record.restoreTest).toMatchObject({ ownersChecked: false, privilegesChecked: true });
  });
});

test('a manifest without roles (older pgdr) verifies as before and says owners and privileges were not checked', async () => {
  const h = harness(source, s3, 'crm', 'crm');
  const { globals: _globals, privileges: _privileges, ...old } = crm;
  void _globals;
  void _privileges;
  await s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: manifestKeyOf(crm), Body: JSON.stringify(old) }));
  try {
    const record = await h.verify({ manifestKey: manifestKeyOf(crm) }, { restoreServer: { kind: 'verify', connection: login(verifyServer, 'creator', 'creator-pw') } });
    expect(record.failures).toEqual([]);
    expect(record.ok).toBe(true);
    expect(record.restoreTest).toMatchObject({ ownersChecked: false, privilegesChecked: false, rolesCreated: [], rolesMissing: [], privilegeMismatches: [] });
    expect(record.restoreTest!.notChecked![0]).toMatch(/written before pgdr 0\.2\): restored with --no-owner --no-privileges, owners and privileges not checked/);
  } finally {
    await s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: manifestKeyOf(crm), Body: JSON.stringify(crm) }));
  }
});

test('the globals SQL quotes hostile role names and settings (quotes, dollar tags, newlines, unicode)', async () => {
  const odd = `it's $pgdr$ "odd"\n-- ü`;
  const group = 'grp $pgdr1$';
  const roles: GlobalRole[] = [
    {
      name: odd,
      options: ['NOLOGIN', 'NOINHERIT', 'NOCREATEDB', 'NOCREATEROLE', 'CONNECTION LIMIT 3'],
      memberOf: [{ role: group, admin: true }],
      settings: [
        { scope: 'all-databases', setting: 'search_path=a, "we""ird", public' },
        { scope: 'this-database', setting: "application_name=it's $x$" },
      ],
    },
    { name: group, options: ['NOLOGIN', 'INHERIT', 'NOCREATEDB', 'NOCREATEROLE'], memberOf: [], settings: [] },
  ];
  await verifyServer.createDatabase('odd_target');
  for (let run = 1; run <= 2; run++) {
    expect({ run, ...tool(verifyServer, 'psql', ['-X', '-v', 'ON_ERROR_STOP=1', '-q', '-d', 'odd_target', '-f', '-'], renderGlobalsSql(roles)) }).toMatchObject({ run, status: 0 });
  }
  expect(await verifyServer.sql('postgres', 'SELECT rolname, rolinherit, rolconnlimit FROM pg_roles WHERE rolname = ANY($1) ORDER BY 1', [[odd, group]])).toEqual([
    { rolname: group, rolinherit: true, rolconnlimit: -1 },
    { rolname: odd, rolinherit: false, rolconnlimit: 3 },
  ]);
  expect(await verifyServer.sql('postgres', `SELECT pg_has_role($1, $2, 'MEMBER') AS member, pg_has_role($1, $2, 'USAGE WITH ADMIN OPTION') AS admin`, [odd, group])).toEqual([{ member: true, admin: true }]);
  expect(
    await verifyServer.sql(
      'postgres',
      `SELECT coalesce(d.datname, '*') AS db, s.setconfig FROM pg_db_role_setting s LEFT JOIN pg_database d ON d.oid = s.setdatabase
       WHERE s.setrole = (SELECT oid FROM pg_roles WHERE rolname = $1) ORDER BY 1`,
      [odd],
    ),
  ).toEqual([
    { db: '*', setconfig: ['search_path=a, "we""ird", public'] },
    { db: 'odd_target', setconfig: ["application_name=it's $x$"] },
  ]);
});

test('a verify login that is not a superuser but a member of the owner roles restores and checks the owners', async () => {
  // Runs after the roles exist on the verify server (created by the superuser test above).
  await verifyServer.sql('postgres', `CREATE ROLE member_v LOGIN PASSWORD 'member-pw' CREATEDB IN ROLE app_owner`);
  const h = harness(source, s3, 'ledger', 'ledger');
  const record = await h.verify({ manifestKey: manifestKeyOf(ledger) }, { restoreServer: { kind: 'verify', connection: login(verifyServer, 'member_v', 'member-pw') } });
  expect(record.failures).toEqual([]);
  expect(record.restoreTest).toMatchObject({ ownersChecked: true, privilegesChecked: true, notChecked: [], privilegeMismatches: [], rolesCreated: [] });
});
