/**
 * The failover workflow's Validate job: proves the NEW instance before anything is cut over.
 *
 *   1. connect to the new instance (`event.instance.host/port`): pitr/snapshot with the source's
 *      secret (its login exists on a copy of the source), dump with the instance's managed master
 *      secret and the database the manifest names;
 *   2. counts against the manifest `plan.backup.manifestKey` (shared/catalog.ts counts):
 *      dump — row counts and object counts EQUAL; pitr/snapshot — every table and object kind the
 *      manifest lists exists, row counts side by side, a table that lost more than
 *      `rowLossTolerancePercent` % of its rows fails (more rows is fine), object counts below the
 *      manifest's fail; no manifest (plan.backup null) — not compared, and the summary says so;
 *   3. the smoke queries (shared/smoke.ts, as the verify job runs them);
 *   4. the freshness queries: the newest timestamp each returns must be at or after the recovery
 *      point minus the RPO.
 * A check that fails is a line in `failures` (`ok: false`, no cutover); one query failing never
 * hides the others. Not being able to connect at all (unreachable, wrong password, unreadable
 * secret, no manifest where one is needed) throws ValidationError. No AWS SDK here: bucket and
 * secrets are ports, the clock is injected; no password in a message, log or result.
 */
import type { Client, ClientBase } from 'pg';
import { compareCounts, objectCounts, rowCounts } from '../../shared/catalog';
import { ConnectionError, ConnectionInfo, connectionFromSecret, describe, TlsDefaults } from '../../shared/connection';
import { connectClient } from '../../shared/pg-client';
import { Clock, LogPort, ObjectStore, SecretReader, seconds } from '../../shared/ports';
import { BackupManifest, Mismatch, OBJECT_COUNT_NAMES, ObjectCounts, parseManifest } from '../../shared/records';
import { firstLine, runReadOnlyQuery, runSmokeQuery, smokeFailure } from '../../shared/smoke';
import type { FreshnessQuerySetting, FreshnessResult, RecoveryPlan, TableComparison, ValidateEvent, ValidationResult } from '../contract';
import { namedError } from '../../shared/named-error';

export interface ValidateDeps {
  readonly store: ObjectStore;
  readonly secrets: SecretReader;
  /** TLS for the connection to the new instance where the secret names no sslmode (AWS: the RDS CA bundle, verify-full). */
  readonly tls: TlsDefaults;
  readonly clock: Clock;
  readonly log: LogPort;
  /** statement_timeout of each smoke and freshness query. @default 60 */
  readonly queryTimeoutSeconds?: number;
}

/** The new instance cannot be validated at all (cannot connect, wrong password, unreadable secret or manifest). */
export class ValidationError extends namedError('ValidationError') {}

/** The time the recovered data should reach, and what it is based on. */
export interface RecoveryPoint {
  readonly at: Date;
  readonly basis: string;
}

/**
 * dump: the backup's start; pitr: the restore time (latest: the execution start); snapshot: the
 * snapshot's creation time (else the execution start).
 */
export function recoveryPoint(plan: RecoveryPlan, manifest: BackupManifest | undefined): RecoveryPoint {
  const start = { at: new Date(plan.execution.startTime), basis: 'the execution start' };
  switch (plan.source) {
    case 'dump': {
      const startedAt = manifest?.startedAt ?? plan.backup?.startedAt;
      return startedAt ? { at: new Date(startedAt), basis: 'the backup start' } : start;
    }
    case 'pitr':
      return plan.pitr?.restoreTime ? { at: new Date(plan.pitr.restoreTime), basis: 'the restore time' } : { ...start, basis: 'the execution start (latest restorable time)' };
    case 'snapshot':
      return plan.snapshot?.createdAt ? { at: new Date(plan.snapshot.createdAt), basis: `the creation of snapshot ${plan.snapshot.snapshotIdentifier}` } : start;
  }
}

const round2 = (n: number): number => Math.round(n * 100) / 100;

/** Share of `expected` rows missing from `actual`, in percent (negative: more rows); 0 when nothing was expected. */
export function lossPercent(expected: number, actual: number): number {
  return expected === 0 ? 0 : round2(((expected - actual) / expected) * 100);
}

/**
 * Row counts side by side (pure). `exact` (dump): every table equal, on both sides. Otherwise
 * (pitr/snapshot): every table of the manifest must exist and lose at most `tolerancePercent` %
 * of its rows; tables the manifest does not list are shown and pass.
 */
export function compareTables(expected: Record<string, number>, actual: Record<string, number>, exact: boolean, tolerancePercent: number): { tables: TableComparison[]; failures: string[] } {
  const has = (o: Record<string, number>, k: string) => Object.prototype.hasOwnProperty.call(o, k);
  const mismatched = new Set(exact ? compareCounts(expected, actual).map((m) => m.what) : []);
  const names = [...new Set([...Object.keys(expected), ...Object.keys(actual)])].sort();
  const tables: TableComparison[] = [];
  const failures: string[] = [];
  for (const table of names) {
    const e = has(expected, table) ? expected[table] : null;
    const a = has(actual, table) ? actual[table] : null;
    const loss = e !== null && a !== null ? lossPercent(e, a) : null;
    let ok: boolean;
    if (exact) {
      ok = !mismatched.has(table);
      if (!ok) failures.push(`rows of ${table}: manifest ${e ?? 'no such table'}, restored ${a ?? 'no such table'}`);
    } else if (e === null) {
      ok = true;
    } else if (a === null) {
      ok = false;
      failures.push(`table ${table} is missing (the manifest lists it with ${e} rows)`);
    } else {
      ok = loss! <= tolerancePercent;
      if (!ok) failures.push(`table ${table} lost ${loss} % of its rows (manifest ${e}, recovered ${a}), more than the tolerance of ${tolerancePercent} %`);
    }
    tables.push({ table, expected: e, actual: a, lossPercent: loss, ok });
  }
  return { tables, failures };
}

/** Object counts (pure): `exact` (dump) equal; otherwise at least the manifest's. */
export function compareObjects(expected: ObjectCounts, actual: ObjectCounts, exact: boolean): { objects: ValidationResult['objects']; failures: string[] } {
  const e = expected as unknown as Record<string, number>;
  const a = actual as unknown as Record<string, number>;
  const mismatched = new Map<string, Mismatch>(compareCounts(e, a).map((m) => [m.what, m]));
  const objects: ValidationResult['objects'][number][] = [];
  const failures: string[] = [];
  for (const what of OBJECT_COUNT_NAMES) {
    const exp = e[what] ?? null;
    const act = a[what] ?? null;
    const ok = exact ? !mismatched.has(what) : exp === null || (act !== null && act >= exp);
    if (!ok) failures.push(exact ? `${what}: manifest ${exp ?? 'none'}, restored ${act ?? 'none'}` : `${what}: manifest ${exp}, recovered ${act ?? 'none'} (fewer than the backup)`);
    objects.push({ what, expected: exp, actual: act, ok });
  }
  return { objects, failures };
}

/**
 * One freshness query: the newest timestamp of its first column must be at or after `notBefore`.
 * No row, only NULLs, a value that is not a timestamp, or an error: a failed result naming why.
 */
export async function runFreshnessQuery(client: ClientBase, query: FreshnessQuerySetting, notBefore: Date, timeoutSeconds: number): Promise<FreshnessResult> {
  const base = { name: query.name, notBefore: notBefore.toISOString() };
  const fail = (error: string, newest: string | null = null): FreshnessResult => ({ ...base, newest, ok: false, error });
  let values: unknown[];
  try {
    const result = await runReadOnlyQuery(client, query.sql, timeoutSeconds);
    if (!result.fields || result.fields.length === 0) return fail('returned no column (expected one timestamp)');
    const column = result.fields[0].name;
    values = result.rows.map((row: Record<string, unknown>) => row[column]);
  } catch (err) {
    return fail(`failed: ${firstLine(err)}`);
  }
  if (values.length === 0) return fail('returned no row (expected one timestamp)');
  const present = values.filter((v) => v !== null && v !== undefined);
  if (present.length === 0) return fail('returned NULL (no data to date the recovery by)');
  const bad = present.find((v) => !(v instanceof Date) || Number.isNaN(v.getTime()));
  if (bad !== undefined) return fail(`returned ${JSON.stringify(bad instanceof Date ? String(bad) : bad)}, not a timestamp`);
  const newest = new Date(Math.max(...(present as Date[]).map((d) => d.getTime())));
  if (newest.getTime() < notBefore.getTime()) return fail(`newest ${newest.toISOString()} is older than ${notBefore.toISOString()}`, newest.toISOString());
  return { ...base, newest: newest.toISOString(), ok: true };
}

function assertEvent(event: ValidateEvent): asserts event is ValidateEvent & { instance: { host: string; port: number } } {
  const plan = event?.plan;
  if (!plan || typeof plan !== 'object' || !plan.execution || !plan.validation || typeof plan.database !== 'string') {
    throw new ValidationError('expected {"plan": <RecoveryPlan>, "instance": {"host", "port", ...}}');
  }
  if (!event.instance || typeof event.instance.host !== 'string' || !event.instance.host || typeof event.instance.port !== 'number') {
    throw new ValidationError(`instance ${JSON.stringify(event.instance?.identifier ?? null)} has no endpoint (host ${JSON.stringify(event.instance?.host ?? null)}, port ${JSON.stringify(event.instance?.port ?? null)})`);
  }
}

async function readManifest(store: ObjectStore, plan: RecoveryPlan): Promise<BackupManifest | undefined> {
  if (!plan.backup) return undefined;
  const key = plan.backup.manifestKey;
  let text: string | undefined;
  try {
    text = (await store.getText(key))?.text;
  } catch (err) {
    throw new ValidationError(`cannot read the manifest ${key} from bucket ${store.bucket}: ${firstLine(err)}`);
  }
  if (text === undefined) throw new ValidationError(`the manifest ${key} is missing from bucket ${store.bucket}`);
  try {
    return parseManifest(text, key);
  } catch (err) {
    throw new ValidationError(firstLine(err));
  }
}

/** The login on the new instance (see the file comment); never logged. */
async function connectionOf(deps: ValidateDeps, event: ValidateEvent & { instance: { host: string; port: number } }, manifest: BackupManifest | undefined): Promise<ConnectionInfo> {
  const { plan, instance } = event;
  const endpoint = { host: instance.host, port: instance.port };
  try {
    if (plan.source === 'dump') {
      if (!instance.masterSecretArn) throw new ValidationError(`instance ${instance.identifier}: dump recovery without instance.masterSecretArn (the managed master secret)`);
      if (!manifest) throw new ValidationError('dump recovery without plan.backup: the manifest names the database to validate');
      const master = await deps.secrets.json(instance.masterSecretArn);
      return connectionFromSecret(JSON.stringify({ ...master, ...endpoint, dbname: manifest.sourceDatabase }), instance.masterSecretArn, deps.tls);
    }
    const source = await deps.secrets.json(plan.sourceSecretArn);
    const dbname = typeof source.dbname === 'string' && source.dbname ? source.dbname : (manifest?.sourceDatabase ?? 'postgres');
    return connectionFromSecret(JSON.stringify({ ...source, ...endpoint, dbname }), plan.sourceSecretArn, deps.tls);
  } catch (err) {
    if (err instanceof ValidationError) throw err;
    throw new ValidationError(err instanceof ConnectionError ? err.message : `reading the secret failed: ${firstLine(err)}`);
  }
}

/** Validates the recovered instance of `event` (see the file comment). */
export async function validateRecovery(deps: ValidateDeps, event: ValidateEvent): Promise<ValidationResult> {
  assertEvent(event);
  const { plan } = event;
  const timeout = deps.queryTimeoutSeconds ?? 60;
  const manifest = await readManifest(deps.store, plan);
  const conn = await connectionOf(deps, event, manifest);
  const exact = plan.source === 'dump';
  const tolerance = plan.validation.rowLossTolerancePercent;
  const point = recoveryPoint(plan, manifest);
  const notBefore = new Date(point.at.getTime() - plan.rpoSeconds * 1000);
  deps.log.info('validate: starting', { database: plan.database, source: plan.source, server: describe(conn), manifestKey: manifest ? plan.backup!.manifestKey : null });

  let client: Client;
  try {
    client = await connectClient(conn);
  } catch (err) {
    throw new ValidationError(`cannot connect to the new instance ${event.instance.identifier}: ${firstLine(err)}`);
  }
  const failures: string[] = [];
  let tables: TableComparison[] = [];
  let objects: ValidationResult['objects'] = [];
  let countsCompared = false;
  const smokeQueries: ValidationResult['smokeQueries'] = [];
  const freshness: FreshnessResult[] = [];
  try {
    if (manifest) {
      try {
        const rows = compareTables(manifest.rowCounts, await rowCounts(client), exact, tolerance);
        const objs = compareObjects(manifest.objectCounts, await objectCounts(client), exact);
        ({ tables } = rows);
        ({ objects } = objs);
        failures.push(...rows.failures, ...objs.failures);
        countsCompared = true;
      } catch (err) {
        failures.push(`counting rows and objects failed: ${firstLine(err)}`);
      }
    }
    for (const query of plan.validation.smokeQueries) smokeQueries.push(await runSmokeQuery(client, query, timeout));
    for (const q of smokeQueries.filter((s) => !s.ok)) failures.push(smokeFailure(q));
    for (const query of plan.validation.freshnessQueries) freshness.push(await runFreshnessQuery(client, query, notBefore, timeout));
    for (const f of freshness.filter((r) => !r.ok)) failures.push(`freshness query "${f.name}" ${f.error}`);
  } finally {
    await client.end().catch(() => undefined);
  }

  const validatedAt = deps.clock.now();
  const ok = failures.length === 0;
  const summary = summarize({ plan, instance: event.instance.identifier, conn, manifest, countsCompared, exact, tolerance, tables, objects, smokeQueries, freshness, point, notBefore, failures });
  const result: ValidationResult = {
    ok,
    validatedAt: validatedAt.toISOString(),
    secondsSinceStart: seconds(new Date(plan.execution.startTime), validatedAt),
    database: plan.database,
    manifestKey: manifest ? plan.backup!.manifestKey : null,
    tables,
    objects,
    smokeQueries,
    freshness,
    failures,
    summary,
  };
  if (ok) deps.log.info('validate: finished', { database: plan.database, ok, failures });
  else deps.log.warn('validate: finished', { database: plan.database, ok, failures });
  return result;
}

function summarize(s: {
  plan: RecoveryPlan;
  instance: string;
  conn: ConnectionInfo;
  manifest: BackupManifest | undefined;
  countsCompared: boolean;
  exact: boolean;
  tolerance: number;
  tables: TableComparison[];
  objects: ValidationResult['objects'];
  smokeQueries: ValidationResult['smokeQueries'];
  freshness: FreshnessResult[];
  point: RecoveryPoint;
  notBefore: Date;
  failures: string[];
}): string {
  const { plan } = s;
  const lines = [`${plan.database}: ${plan.source} recovery, instance ${s.instance} (${s.conn.host}:${s.conn.port}/${s.conn.dbname}).`];
  if (!s.manifest) {
    lines.push(`Row and object counts NOT compared: no verified backup manifest for ${plan.database}.`);
  } else if (!s.countsCompared) {
    lines.push(`Row and object counts NOT compared: counting on the new instance failed (manifest ${plan.backup!.manifestKey}).`);
  } else {
    const listed = s.tables.filter((t) => t.expected !== null).length;
    const badObjects = s.objects.filter((o) => !o.ok).map((o) => o.what);
    const objectsLine = badObjects.length === 0 ? 'object counts ok' : `object counts ${s.exact ? 'differ' : 'short'}: ${badObjects.join(', ')}`;
    if (s.exact) {
      const differ = s.tables.filter((t) => !t.ok).length;
      lines.push(`Counts compared with manifest ${plan.backup!.manifestKey} (backup of ${s.manifest.startedAt}), must be equal: ${listed} tables, ${differ === 0 ? 'all rows equal' : `${differ} differ`}; ${objectsLine}.`);
    } else {
      const worst = s.tables.filter((t) => t.lossPercent !== null).sort((a, b) => b.lossPercent! - a.lossPercent!)[0];
      const missing = s.tables.filter((t) => t.expected !== null && t.actual === null).length;
      const worstLine = worst && worst.lossPercent! > 0 ? `worst loss ${worst.table} ${worst.lossPercent} % (${worst.expected} -> ${worst.actual})` : 'no table lost rows';
      lines.push(`Counts compared with manifest ${plan.backup!.manifestKey} (backup of ${s.manifest.startedAt}), row-loss tolerance ${s.tolerance} %: ${listed} tables, ${missing > 0 ? `${missing} missing, ` : ''}${worstLine}; ${objectsLine}.`);
    }
  }
  const passed = <T extends { ok: boolean; name: string }>(items: T[], what: string) =>
    items.length === 0 ? `${what}: none configured.` : `${what}: ${items.filter((i) => i.ok).length}/${items.length} passed${items.some((i) => !i.ok) ? ` (failed: ${items.filter((i) => !i.ok).map((i) => JSON.stringify(i.name)).join(', ')})` : ''}.`;
  lines.push(passed(s.smokeQueries, 'Smoke queries'));
  const freshnessLine = passed(s.freshness, 'Freshness');
  lines.push(s.freshness.length === 0 ? freshnessLine : `${freshnessLine.slice(0, -1)}; newest data must be at or after ${s.notBefore.toISOString()} (${s.point.basis} ${s.point.at.toISOString()} minus the RPO of ${plan.rpoSeconds} s).`);
  lines.push(s.failures.length === 0 ? 'Result: OK.' : `Result: FAILED (${s.failures.length} ${s.failures.length === 1 ? 'check' : 'checks'}): ${s.failures[0]}${s.failures.length > 1 ? ' ...' : ''}`);
  return lines.join('\n');
}
