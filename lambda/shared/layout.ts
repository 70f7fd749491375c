/**
 * Where pgdr keeps things in the backup bucket (DESIGN.md "Data layout"). The one place that
 * knows the key format; constructs use it for lifecycle prefixes and IAM scopes, handlers for
 * reading and writing.
 *
 *   <database>/<class>/<YYYY>/<MM>/<DD>/<database>_<class>_<timestamp>.dump   (custom format: one object)
 *   ...same stem....dir/<file>                       (directory format: one object per pg_dump file)
 *   ...same stem....manifest.json / ....verification.json / ....globals.sql
 *   <database>/latest-verified.json
 *   <database>/recoveries/<YYYY>/<MM>/<execution>.json (one per failover or drill run)
 *   <database>/recoveries/<YYYY>/<MM>/<execution>.<job>.result (a job the run ran as an ECS task)
 */
import { createHash } from 'node:crypto';

/** Prefix of everything stored for one database: `<database>/`. */
export function databasePrefix(database: string): string {
  return `${database}/`;
}

/** Prefix of the dumps of one backup class: `<database>/<class>/`. */
export function classPrefix(database: string, backupClass: string): string {
  return `${databasePrefix(database)}${backupClass}/`;
}

/** Key of the pointer to the newest verified backup of a database. */
export function latestVerifiedKey(database: string): string {
  return `${databasePrefix(database)}latest-verified.json`;
}

/**
 * Key of the recovery record of a failover or drill run: `<database>/recoveries/<YYYY>/<MM>/<execution>.json`,
 * the month of the execution start (UTC). The execution name is made key-safe: characters other
 * than A-Z a-z 0-9 . _ - become "_" (then, so two names never share a key, "-" and 8 hex digits of
 * the name's SHA-256 are appended), at most 80 characters (Step Functions' limit) before that.
 */
export function recoveryRecordKey(database: string, startedAt: Date | string, execution: string): string {
  return `${recoveryStem(database, startedAt, execution)}.json`;
}

/**
 * Key where a job the failover workflow runs as an ECS task (`ecs:runTask.sync` returns the task,
 * not the job's result) leaves its result for the workflow to read:
 * `<database>/recoveries/<YYYY>/<MM>/<execution>.<job>.result`, next to the run's record. Not
 * `.json`: readers of `recoveries/` take every `.json` there for a recovery record.
 */
export function recoveryJobResultKey(database: string, startedAt: Date | string, execution: string, job: string): string {
  return `${recoveryStem(database, startedAt, execution)}.${job}.result`;
}

function recoveryStem(database: string, startedAt: Date | string, execution: string): string {
  const at = typeof startedAt === 'string' ? new Date(startedAt) : startedAt;
  if (Number.isNaN(at.getTime())) throw new Error(`recovery start time ${JSON.stringify(String(startedAt))} is not a valid date`);
  let name = execution.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 80);
  if (name === '' || /^\.+$/.test(name)) name = name.replace(/\./g, '_') || '_';
  if (name !== execution) name = `${name}-${createHash('sha256').update(execution, 'utf8').digest('hex').slice(0, 8)}`;
  const iso = at.toISOString();
  return `${databasePrefix(database)}recoveries/${iso.slice(0, 4)}/${iso.slice(5, 7)}/${name}`;
}

/** A sortable, key-safe UTC timestamp: 2026-11-25T14-36-24-123Z. */
export function keyTimestamp(at: Date): string {
  return at.toISOString().replace(/:/g, '-').replace('.', '-');
}

/** The keys of one backup: the dump, its manifest and its verification record. */
export interface BackupKeys {
  /** The custom-format dump object (`....dump`). */
  readonly dump: string;
  /** The prefix of a directory-format dump's files (`....dir/`). */
  readonly directory: string;
  readonly manifest: string;
  readonly verification: string;
  /** The roles the dump needs, as SQL (no passwords): `....globals.sql`. */
  readonly globals: string;
}

/** Keys of the backup of `database`/`backupClass` started at `at`. */
export function backupKeys(database: string, backupClass: string, at: Date): BackupKeys {
  const iso = at.toISOString();
  const day = `${iso.slice(0, 4)}/${iso.slice(5, 7)}/${iso.slice(8, 10)}`;
  const stem = `${classPrefix(database, backupClass)}${day}/${database}_${backupClass}_${keyTimestamp(at)}`;
  return keysFromStem(stem);
}

const DIRECTORY_SUFFIX = /\.dir\/?$/;

/** True for a dump key: a custom-format dump (`....dump`) or a directory dump's prefix (`....dir/`, also without the "/"). */
export function isDumpKey(key: string): boolean {
  return key.endsWith('.dump') || DIRECTORY_SUFFIX.test(key);
}

/** Keys sharing the stem of a dump key (`....dump` or `....dir/`). */
export function keysFromDumpKey(dumpKey: string): BackupKeys {
  if (dumpKey.endsWith('.dump')) return keysFromStem(dumpKey.slice(0, -'.dump'.length));
  if (DIRECTORY_SUFFIX.test(dumpKey)) return keysFromStem(dumpKey.replace(DIRECTORY_SUFFIX, ''));
  throw new Error(`not a dump key (....dump or ....dir/): ${dumpKey}`);
}

/** The manifest key of a manifest key (itself) or of a dump key (either format); undefined for anything else. */
export function manifestKeyOf(key: string): string | undefined {
  if (key.endsWith('.manifest.json')) return key;
  return isDumpKey(key) ? keysFromDumpKey(key).manifest : undefined;
}

/** Keys sharing the stem of a manifest key (`....manifest.json`). */
export function keysFromManifestKey(manifestKey: string): BackupKeys {
  if (!manifestKey.endsWith('.manifest.json')) throw new Error(`not a manifest key: ${manifestKey}`);
  return keysFromStem(manifestKey.slice(0, -'.manifest.json'.length));
}

function keysFromStem(stem: string): BackupKeys {
  return { dump: `${stem}.dump`, directory: `${stem}.dir/`, manifest: `${stem}.manifest.json`, verification: `${stem}.verification.json`, globals: `${stem}.globals.sql` };
}

/** Names usable as pgdr database and backup class names (the configuration's rule). */
export const NAME_PATTERN = /^[a-z][a-z0-9-]{0,30}[a-z0-9]$/;

/** Throws unless `name` is a valid pgdr database or backup class name. */
export function assertName(name: string, what: string): void {
  if (!NAME_PATTERN.test(name)) {
    throw new Error(`${what} ${JSON.stringify(name)} is not valid: use 2-32 characters of a-z, 0-9 and "-", starting with a letter`);
  }
}

/** What a manifest key says: database, class and the key timestamp (sortable), or undefined. */
export function parseManifestKey(key: string): { database: string; backupClass: string; timestamp: string } | undefined {
  const m = /^([a-z][a-z0-9-]*)\/([a-z][a-z0-9-]*)\/\d{4}\/\d{2}\/\d{2}\/\1_\2_([0-9TZ-]+)\.manifest\.json$/.exec(key);
  return m ? { database: m[1], backupClass: m[2], timestamp: m[3] } : undefined;
}

/** Manifest keys of a database (any class), oldest first by backup time. */
export function sortManifestKeys(keys: string[]): string[] {
  return keys
    .map((key) => ({ key, parsed: parseManifestKey(key) }))
    .filter((k): k is { key: string; parsed: NonNullable<ReturnType<typeof parseManifestKey>> } => k.parsed !== undefined)
    .sort((a, b) => (a.parsed.timestamp < b.parsed.timestamp ? -1 : a.parsed.timestamp > b.parsed.timestamp ? 1 : a.key < b.key ? -1 : 1))
    .map((k) => k.key);
}
