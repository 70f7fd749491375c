/**
 * Preflight of the failover workflow: turns the incident commander's input into a RecoveryPlan
 * (lambda/failover/contract.ts), or refuses it with ONE error named `InvalidInput`.
 *
 *   1. Static checks, with no RDS and no S3 call: the input's shape, unknown keys, the database,
 *      the source and what the database allows, the fields that belong to the source, the syntax of
 *      restoreTime / snapshotIdentifier / backupKey, mode, approval. Every problem is reported at once.
 *   2. Lookups (reads only): dump → the verified backup (`resolveVerifiedBackup`); pitr/snapshot →
 *      the newest verified manifest (absent or revoked → `backup: null`); pitr → the source instance
 *      (exists, available, the restore time inside its restorable window); snapshot → the named
 *      snapshot (exists, available, of the source instance) or the newest available one.
 *   3. The plan: the new instance's identifier, tags and RDS parameters, deadlines, cleanup and
 *      cutover choices.
 * No AWS SDK here: the bucket and RDS are ports (rds.ts is the RDS adapter); the clock is injected.
 */
import { redactSecrets } from '../../shared/redact';
import { createHash } from 'node:crypto';
import {
  FailoverInput,
  PreflightEvent,
  RECOVERY_MODES,
  RECOVERY_SOURCES,
  RecoveryMode,
  RecoveryPlan,
  RecoverySettings,
  RecoverySource,
} from '../contract';
import { databasePrefix, latestVerifiedKey, manifestKeyOf, parseManifestKey, recoveryJobResultKey } from '../../shared/layout';
import type { Clock, LogPort, ObjectStore } from '../../shared/ports';
import { parseLatestVerified } from '../../shared/records';
import { BackupKeyError, resolveVerifiedBackup } from '../../restore/core';
import { namedError } from '../../shared/named-error';

/** The input cannot be used (the field, the rule and the value received); nothing was created. */
export class InvalidInput extends Error {
  constructor(readonly problems: string[]) {
    super(problems.length === 1 ? problems[0] : `${problems.length} problems in the failover input: ${problems.join('; ')}`);
    this.name = 'InvalidInput';
  }
}

/** The event itself (not the commander's input) is malformed: a deployment bug. */
export class InvalidEvent extends namedError('InvalidEvent') {}

/** An RDS DB instance as Preflight needs it. */
export interface SourceInstance {
  readonly identifier: string;
  readonly status: string;
  readonly engineVersion: string | null;
  readonly latestRestorableTime: Date | null;
  /**
   * Start of the restorable window when the API states it; null otherwise (DescribeDBInstances does
   * not: the core then takes max(InstanceCreateTime, LatestRestorableTime − BackupRetentionPeriod)).
   */
  readonly earliestRestorableTime: Date | null;
  readonly instanceCreateTime: Date | null;
  /** Days of automated backups kept (0: off). */
  readonly backupRetentionDays: number | null;
  readonly dbSubnetGroupName: string | null;
  readonly vpcSecurityGroupIds: string[];
  readonly port: number | null;
  /** Allocated storage in GiB (AllocatedStorage); absent when the reader does not state it. */
  readonly allocatedStorageGiB?: number | null;
}

/** A DB snapshot. */
export interface SnapshotInfo {
  readonly identifier: string;
  readonly instanceIdentifier: string;
  readonly status: string;
  /** automated, manual, shared, public, awsbackup. */
  readonly type: string;
  readonly createdAt: Date | null;
}

/** What Preflight reads from RDS (adapter: rds.ts). */
export interface RdsReader {
  /** The instance, or undefined when there is none. */
  describeInstance(identifier: string): Promise<SourceInstance | undefined>;
  /** The automated and manual snapshots of an instance. */
  listSnapshots(instanceIdentifier: string): Promise<SnapshotInfo[]>;
  /** One snapshot, or undefined when there is none. */
  describeSnapshot(snapshotIdentifier: string): Promise<SnapshotInfo | undefined>;
}

export interface PreflightDeps {
  readonly store: ObjectStore;
  readonly rds: RdsReader;
  readonly clock: Clock;
  readonly log?: LogPort;
}

const INPUT_KEYS = ['database', 'source', 'restoreTime', 'snapshotIdentifier', 'backupKey', 'mode', 'approval'] as const;
const APPROVALS = ['required', 'skip'] as const;
const MASTER_USERNAME = 'pgdr_master';
const MAX_SHOWN = 60;
const MAX_KEY_LENGTH = 1024;

const hasOwn = (o: object, key: string): boolean => Object.prototype.hasOwnProperty.call(o, key);

/**
 * A value as a message shows it: strings quoted as JSON with everything outside printable ASCII
 * escaped (newlines, quotes, bidi controls, emoji) and cut after 60 characters; other types named.
 */
export function shown(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (typeof value === 'string') {
    // A pasted connection URL or key=value string must not carry its password into a message.
    const chars = [...redactSecrets(value)];
    const cut = chars.length > MAX_SHOWN ? `${chars.slice(0, MAX_SHOWN).join('')}…` : chars.join('');
    const quoted = JSON.stringify(cut).replace(/[^\x20-\x7e]/gu, (c) =>
      [...c].map((ch) => {
        const cp = ch.codePointAt(0) ?? 0;
        return cp > 0xffff ? `\\u{${cp.toString(16)}}` : `\\u${cp.toString(16).padStart(4, '0')}`;
      }).join(''),
    );
    return chars.length > MAX_SHOWN ? `${quoted} (${chars.length} characters)` : quoted;
  }
  if (typeof value === 'number' || typeof value === 'boolean') return `${typeof value} ${String(value)}`;
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === 'object') return 'an object';
  return `a ${typeof value}`;
}

const list = (values: readonly string[]): string => values.map((v) => JSON.stringify(v)).join(', ');

/** `<YYYY>-<MM>-<DD>T<hh>:<mm>[:<ss>[.<fraction>]](Z|±hh:mm)`. */
const ISO_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(?:(Z)|([+-])(\d{2}):(\d{2}))$/;

/** The instant of a strict ISO-8601 time with a timezone, or a reason it is not one. */
export function parseIsoTime(text: string): { time: Date } | { error: string } {
  const m = ISO_TIME.exec(text);
  if (!m) return { error: 'must be an ISO-8601 time with a timezone such as "2026-11-25T10:00:00Z"' };
  const [year, month, day, hour, minute] = [1, 2, 3, 4, 5].map((i) => Number(m[i]));
  const second = m[6] === undefined ? 0 : Number(m[6]);
  const ms = m[7] === undefined ? 0 : Math.floor(Number(`0.${m[7]}`) * 1000);
  const daysInMonth = month >= 1 && month <= 12 ? new Date(Date.UTC(year, month, 0)).getUTCDate() : 0;
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth) return { error: 'must be a real calendar date' };
  if (hour > 23 || minute > 59 || second > 59) return { error: 'must be a real time of day (hours 00-23, minutes and seconds 00-59)' };
  let offsetMinutes = 0;
  if (m[8] === undefined) {
    const oh = Number(m[10]);
    const om = Number(m[11]);
    if (oh > 14 || om > 59 || (oh === 14 && om > 0)) return { error: 'must have a timezone offset between -14:00 and +14:00' };
    offsetMinutes = (m[9] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  const utc = Date.UTC(year, month - 1, day, hour, minute, second, ms) - offsetMinutes * 60_000;
  const time = new Date(utc);
  if (year < 1970 || Number.isNaN(time.getTime())) return { error: 'must be a time after 1970' };
  return { time };
}

/** RDS DB snapshot identifiers: manual `[A-Za-z][A-Za-z0-9-]*` (≤ 255, no `--`, no trailing `-`), automated `rds:<same>`. */
export function snapshotIdentifierError(id: string): string | undefined {
  const name = id.startsWith('rds:') ? id.slice(4) : id;
  if (name.length < 1 || name.length > 255 || !/^[A-Za-z][A-Za-z0-9-]*$/.test(name) || name.includes('--') || name.endsWith('-')) {
    return 'must be an RDS DB snapshot identifier: 1-255 letters, digits and hyphens, first a letter, no "--", no trailing hyphen, optionally after "rds:" (automated snapshots)';
  }
  return undefined;
}

function hasControlCharacters(text: string): boolean {
  for (const ch of text) {
    const cp = ch.codePointAt(0) ?? 0;
    if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0)) return true;
  }
  return false;
}

/** Why a backupKey is not a key of a database's backups, or undefined. */
function backupKeySyntaxError(key: string, database: string | undefined): string | undefined {
  if (key.length > MAX_KEY_LENGTH || hasControlCharacters(key)) return `must be an S3 key of at most ${MAX_KEY_LENGTH} printable characters`;
  if (key.includes('..')) return 'must not contain ".."';
  const manifestKey = manifestKeyOf(key);
  if (!manifestKey) return 'must be a manifest key (….manifest.json) or a dump key (….dump, or ….dir/ for a directory-format dump)';
  if (database === undefined) return undefined;
  const prefix = databasePrefix(database);
  if (!key.startsWith(prefix)) return `must be a key inside ${JSON.stringify(prefix)}, the prefix of database ${JSON.stringify(database)}`;
  const parsed = parseManifestKey(manifestKey);
  if (!parsed || parsed.database !== database) {
    return `must be a backup of database ${JSON.stringify(database)}: ${prefix}<class>/<YYYY>/<MM>/<DD>/${database}_<class>_<timestamp>.manifest.json or .dump`;
  }
  return undefined;
}

/** The checked input (static checks passed). */
export interface CheckedInput {
  readonly database: string;
  readonly settings: RecoverySettings;
  readonly source: RecoverySource;
  readonly restoreTime?: Date;
  readonly snapshotIdentifier?: string;
  readonly backupKey?: string;
  readonly mode: RecoveryMode;
  readonly approval: 'required' | 'skip';
}

/** Static validation of the input (no I/O): every problem at once, as InvalidInput. */
export function checkInput(raw: unknown, databases: Readonly<Record<string, RecoverySettings>>, now: Date): CheckedInput {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new InvalidInput([`input: must be a JSON object such as {"database": "<name>", "source": "dump"} (received ${shown(raw)})`]);
  }
  const input = raw as Record<string, unknown>;
  const problems: string[] = [];
  const unknown = Object.keys(input).filter((k) => !(INPUT_KEYS as readonly string[]).includes(k));
  if (unknown.length > 0) {
    const named = unknown.slice(0, 10).map(shown).join(', ');
    const more = unknown.length > 10 ? ` and ${unknown.length - 10} more` : '';
    problems.push(`input: unknown key${unknown.length > 1 ? 's' : ''} ${named}${more} (allowed: ${INPUT_KEYS.join(', ')})`);
  }
  const field = (key: (typeof INPUT_KEYS)[number]): unknown => (hasOwn(input, key) ? input[key] : undefined);
  const present = (key: (typeof INPUT_KEYS)[number]): boolean => hasOwn(input, key);
  const configured = Object.keys(databases);

  // database
  let database: string | undefined;
  let settings: RecoverySettings | undefined;
  const db = field('database');
  if (!present('database')) problems.push(`database: is required, one of the configured databases ${list(configured)}`);
  else if (typeof db !== 'string' || !hasOwn(databases, db)) problems.push(`database: must be one of the configured databases ${list(configured)} (received ${shown(db)})`);
  else {
    database = db;
    settings = databases[db];
  }

  // source, and what the database allows
  let source: RecoverySource | undefined;
  const src = field('source');
  if (!present('source')) problems.push(`source: is required, one of ${list(RECOVERY_SOURCES)}`);
  else if (typeof src !== 'string' || !(RECOVERY_SOURCES as readonly string[]).includes(src)) problems.push(`source: must be one of ${list(RECOVERY_SOURCES)} (received ${shown(src)})`);
  else source = src as RecoverySource;
  if (settings && (source === 'pitr' || source === 'snapshot')) {
    if (settings.sourceType !== 'rds') {
      problems.push(`source: ${JSON.stringify(source)} needs an RDS source, and database ${JSON.stringify(database)} is ${settings.sourceType}: use "dump" (received ${shown(src)})`);
    } else if (!settings.sourceInstanceIdentifier) {
      problems.push(`source: ${JSON.stringify(source)} needs the source instance identifier, and database ${JSON.stringify(database)} configures none: use "dump" (received ${shown(src)})`);
    } else if (source === 'pitr' && !settings.pointInTimeRecovery) {
      problems.push(`source: "pitr" needs point-in-time recovery, which database ${JSON.stringify(database)} does not have: use "snapshot" or "dump" (received ${shown(src)})`);
    }
  }

  // fields that belong to one source
  const owners = { restoreTime: 'pitr', snapshotIdentifier: 'snapshot', backupKey: 'dump' } as const;
  for (const [key, owner] of Object.entries(owners) as [keyof typeof owners, RecoverySource][]) {
    if (present(key) && source !== undefined && source !== owner) {
      problems.push(`${key}: is only for source "${owner}" (received ${shown(field(key))} with source ${JSON.stringify(source)})`);
    }
  }

  // restoreTime
  let restoreTime: Date | undefined;
  if (present('restoreTime')) {
    const value = field('restoreTime');
    const parsed = typeof value === 'string' ? parseIsoTime(value) : { error: 'must be an ISO-8601 time with a timezone such as "2026-11-25T10:00:00Z"' };
    if ('error' in parsed) problems.push(`restoreTime: ${parsed.error} (received ${shown(value)})`);
    else if (parsed.time.getTime() > now.getTime()) problems.push(`restoreTime: must not be in the future (now is ${now.toISOString()}; received ${shown(value)})`);
    else restoreTime = parsed.time;
  }

  // snapshotIdentifier
  let snapshotIdentifier: string | undefined;
  if (present('snapshotIdentifier')) {
    const value = field('snapshotIdentifier');
    const error = typeof value === 'string' ? snapshotIdentifierError(value) : snapshotIdentifierError('');
    if (error) problems.push(`snapshotIdentifier: ${error} (received ${shown(value)})`);
    else snapshotIdentifier = value as string;
  }

  // backupKey
  let backupKey: string | undefined;
  if (present('backupKey')) {
    const value = field('backupKey');
    const error = typeof value === 'string' ? backupKeySyntaxError(value, database) : 'must be a string: a manifest or dump key of the database';
    if (error) problems.push(`backupKey: ${error} (received ${shown(value)})`);
    else backupKey = value as string;
  }

  // mode, approval
  let mode: RecoveryMode = 'failover';
  if (present('mode')) {
    const value = field('mode');
    if (typeof value !== 'string' || !(RECOVERY_MODES as readonly string[]).includes(value)) problems.push(`mode: must be one of ${list(RECOVERY_MODES)} (received ${shown(value)})`);
    else mode = value as RecoveryMode;
  }
  let approval: 'required' | 'skip' | undefined;
  if (present('approval')) {
    const value = field('approval');
    if (typeof value !== 'string' || !(APPROVALS as readonly string[]).includes(value)) problems.push(`approval: must be one of ${list(APPROVALS)} (received ${shown(value)})`);
    else approval = value as 'required' | 'skip';
  }

  if (problems.length > 0 || !database || !settings || !source) throw new InvalidInput(problems);
  return {
    database, settings, source, restoreTime, snapshotIdentifier, backupKey, mode,
    approval: approval ?? (settings.requireApproval ? 'required' : 'skip'),
  };
}

function slug(text: string): string {
  return text
    .normalize('NFKD')
    .replace(/\p{M}/gu, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
}

/**
 * The new instance's identifier: `pgdr-<database>-<execution slug>-<hash>`: RDS identifier rules
 * (letters, digits, hyphens; first a letter; no `--`; no trailing hyphen; ≤ 63 characters). The hash
 * (8 hex of SHA-256 of the full execution name) keeps it unique when the slug is cut or lossy.
 */
export function recoveryInstanceIdentifier(database: string, executionName: string): string {
  const hash = createHash('sha256').update(executionName, 'utf8').digest('hex').slice(0, 8);
  const db = slug(database).slice(0, 32).replace(/-+$/, '') || 'db';
  const head = `pgdr-${db}-`;
  const room = 63 - head.length - hash.length - 1;
  const name = slug(executionName).slice(0, Math.max(0, room)).replace(/-+$/, '');
  return `${head}${name ? `${name}-` : ''}${hash}`;
}

const addSeconds = (iso: Date, s: number): string => new Date(iso.getTime() + s * 1000).toISOString();

function checkEvent(event: PreflightEvent): Date {
  if (!event || typeof event !== 'object') throw new InvalidEvent('preflight event: must be an object {input, execution, databases}');
  const { execution, databases } = event;
  if (!databases || typeof databases !== 'object' || Array.isArray(databases)) throw new InvalidEvent('preflight event: databases must be an object keyed by database name');
  if (!execution || typeof execution.name !== 'string' || execution.name === '') throw new InvalidEvent('preflight event: execution.name must be a non-empty string');
  const start = typeof execution.startTime === 'string' ? new Date(execution.startTime) : new Date(NaN);
  if (Number.isNaN(start.getTime())) throw new InvalidEvent(`preflight event: execution.startTime must be an ISO-8601 time (received ${shown(execution.startTime)})`);
  return start;
}

/** The restorable window of an instance: [earliest, latest], or undefined when it has none. */
export function restorableWindow(instance: SourceInstance): { earliest: Date; latest: Date } | undefined {
  const latest = instance.latestRestorableTime;
  if (!latest) return undefined;
  if (instance.earliestRestorableTime) return { earliest: instance.earliestRestorableTime, latest };
  const days = instance.backupRetentionDays ?? 0;
  if (days <= 0) return undefined;
  const byRetention = latest.getTime() - days * 86_400_000;
  const created = instance.instanceCreateTime?.getTime() ?? byRetention;
  return { earliest: new Date(Math.max(byRetention, created)), latest };
}

/** The newest verified manifest of a database (pitr/snapshot compare with it), or null. */
async function newestVerified(store: ObjectStore, database: string): Promise<RecoveryPlan['backup']> {
  const key = latestVerifiedKey(database);
  const stored = await store.getText(key);
  if (!stored) return null;
  const pointer = parseLatestVerified(stored.text, key);
  if (pointer.revoked) return null;
  return { manifestKey: pointer.manifestKey, startedAt: pointer.backupStartedAt };
}

/** Validates the input and resolves it into the plan the state machine follows. */
export async function buildPlan(deps: PreflightDeps, event: PreflightEvent): Promise<RecoveryPlan> {
  const { store, rds, clock } = deps;
  const start = checkEvent(event);
  const input = checkInput(event.input, event.databases, clock.now());
  const { database, settings, source, mode } = input;

  let backup: RecoveryPlan['backup'] = null;
  let pitr: RecoveryPlan['pitr'] = null;
  let snapshot: RecoveryPlan['snapshot'] = null;
  let sourceInstance: SourceInstance | undefined;
  const sourceId = settings.sourceInstanceIdentifier;

  if (source === 'dump') {
    try {
      const verified = await resolveVerifiedBackup(store, database, input.backupKey);
      backup = { manifestKey: verified.manifestKey, startedAt: verified.manifest.startedAt };
    } catch (err) {
      if (err instanceof BackupKeyError) throw new InvalidInput([err.message.startsWith('backupKey:') ? err.message : `backupKey: ${err.message}`]);
      throw err;
    }
    // Network defaults from the source when it still answers (a dump recovery often means it does not).
    if (settings.sourceType === 'rds' && sourceId && (!settings.instance.dbSubnetGroupName || settings.instance.securityGroupIds.length === 0)) {
      sourceInstance = await rds.describeInstance(sourceId);
    }
  } else {
    backup = await newestVerified(store, database);
    const id = sourceId as string; // checkInput: pitr/snapshot have a source instance
    if (source === 'pitr') {
      sourceInstance = await rds.describeInstance(id);
      if (!sourceInstance) throw new InvalidInput([`source: "pitr" restores from instance ${JSON.stringify(id)} of database ${JSON.stringify(database)}, and RDS has no such instance`]);
      if (sourceInstance.status !== 'available') {
        throw new InvalidInput([`source: "pitr" needs the source instance ${JSON.stringify(id)} to be available (it is ${JSON.stringify(sourceInstance.status)}): try "snapshot" or "dump"`]);
      }
      const window = restorableWindow(sourceInstance);
      if (!window) throw new InvalidInput([`source: instance ${JSON.stringify(id)} has no restorable window (automated backups off?): use "snapshot" or "dump"`]);
      if (input.restoreTime && (input.restoreTime < window.earliest || input.restoreTime > window.latest)) {
        throw new InvalidInput([
          `restoreTime: must lie inside the restorable window ${window.earliest.toISOString()} .. ${window.latest.toISOString()} of instance ${JSON.stringify(id)} (received ${shown((event.input as FailoverInput).restoreTime)})`,
        ]);
      }
      pitr = { sourceInstanceIdentifier: id, useLatestRestorableTime: input.restoreTime === undefined, restoreTime: input.restoreTime?.toISOString() ?? null };
    } else {
      let chosen: SnapshotInfo;
      if (input.snapshotIdentifier !== undefined) {
        const named = await rds.describeSnapshot(input.snapshotIdentifier);
        const received = `(received ${shown(input.snapshotIdentifier)})`;
        if (!named) throw new InvalidInput([`snapshotIdentifier: must name an existing snapshot of instance ${JSON.stringify(id)}; RDS has no such snapshot ${received}`]);
        if (named.instanceIdentifier !== id) {
          throw new InvalidInput([`snapshotIdentifier: must be a snapshot of instance ${JSON.stringify(id)}, the source of database ${JSON.stringify(database)}; it is of instance ${JSON.stringify(named.instanceIdentifier)} ${received}`]);
        }
        if (named.status !== 'available') throw new InvalidInput([`snapshotIdentifier: must be an available snapshot; it is ${JSON.stringify(named.status)} ${received}`]);
        chosen = named;
      } else {
        const candidates = (await rds.listSnapshots(id))
          .filter((s) => s.instanceIdentifier === id && s.status === 'available' && (s.type === 'automated' || s.type === 'manual'))
          .sort((a, b) => (b.createdAt?.getTime() ?? 0) - (a.createdAt?.getTime() ?? 0) || (a.identifier < b.identifier ? -1 : 1));
        if (candidates.length === 0) throw new InvalidInput([`snapshotIdentifier: instance ${JSON.stringify(id)} of database ${JSON.stringify(database)} has no available automated or manual snapshot: use "pitr" or "dump"`]);
        chosen = candidates[0];
      }
      snapshot = { snapshotIdentifier: chosen.identifier, createdAt: chosen.createdAt?.toISOString() ?? null };
      // The source may be gone (that may be why a snapshot is restored): its network settings are optional.
      if (!settings.instance.dbSubnetGroupName || settings.instance.securityGroupIds.length === 0) sourceInstance = await rds.describeInstance(id);
    }
  }

  const executionName = event.execution.name;
  const cutoverAny = mode === 'failover' && Boolean(settings.cutover.secretArn || settings.cutover.ssmParameterName || settings.cutover.route53);
  const plan: RecoveryPlan = {
    schemaVersion: 1,
    database,
    source,
    mode,
    approval: input.approval,
    execution: { name: executionName, startTime: start.toISOString() },
    instanceIdentifier: recoveryInstanceIdentifier(database, executionName),
    rtoDeadline: addSeconds(start, settings.rtoSeconds),
    hardDeadline: addSeconds(start, settings.hardTimeoutSeconds),
    rtoSeconds: settings.rtoSeconds,
    rpoSeconds: settings.rpoSeconds,
    approvalTimeoutSeconds: settings.approvalTimeoutSeconds,
    pitr,
    snapshot,
    backup,
    rds: {
      DBInstanceClass: settings.instance.instanceClass,
      DBSubnetGroupName: settings.instance.dbSubnetGroupName ?? sourceInstance?.dbSubnetGroupName ?? 'default',
      VpcSecurityGroupIds: settings.instance.securityGroupIds.length > 0 ? [...settings.instance.securityGroupIds] : [...(sourceInstance?.vpcSecurityGroupIds ?? [])],
      MultiAZ: settings.instance.multiAz,
      DeletionProtection: mode === 'failover',
      Tags: [
        { Key: 'pgdr:database', Value: database },
        { Key: 'pgdr:execution', Value: executionName },
        { Key: 'pgdr:mode', Value: mode },
      ],
      Engine: 'postgres',
      EngineVersion: String(settings.engineMajorVersion),
      AllocatedStorage: settings.instance.allocatedStorageGiB,
      MasterUsername: MASTER_USERNAME,
      Port: settings.port,
    },
    deleteOnFailure: settings.deleteOnFailure === 'always' ? true : settings.deleteOnFailure === 'never' ? false : mode === 'drill',
    cutover: {
      secretArn: settings.cutover.secretArn ?? null,
      ssmParameterName: settings.cutover.ssmParameterName ?? null,
      route53: settings.cutover.route53 ? { ...settings.cutover.route53 } : null,
      healthCheck: settings.cutover.healthCheck ? { ...settings.cutover.healthCheck } : null,
      any: cutoverAny,
    },
    validation: settings.validation,
    sourceSecretArn: settings.sourceSecretArn,
    port: settings.port,
    functions: settings.functions,
    runner: settings.restoreTask ? 'fargate' : 'lambda',
    restoreTask: settings.restoreTask
      ? {
          ...settings.restoreTask,
          resultKey: recoveryJobResultKey(database, start, executionName, 'restore'),
          timeoutSeconds: settings.hardTimeoutSeconds,
        }
      : null,
  };
  deps.log?.info('preflight: plan', { database, source, mode, instanceIdentifier: plan.instanceIdentifier, backup: backup?.manifestKey ?? null, snapshot: snapshot?.snapshotIdentifier ?? null });
  return plan;
}
