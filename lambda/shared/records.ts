/**
 * The JSON documents pgdr writes next to every dump, versioned in ONE place:
 *   - the manifest (`....manifest.json`), written by the dump job after the upload completed;
 *   - the verification record (`....verification.json`), written by the verify job;
 *   - the pointer `<database>/latest-verified.json`, advanced by the verify job on success.
 * Readers accept exactly the schema versions listed here and fail with a clear error otherwise.
 * Bump a version when a field changes meaning or disappears (adding optional fields does not
 * need a bump), and teach the reader the old version or say why it is refused.
 */
import { createHash } from 'node:crypto';
import { namedError } from './named-error';

/**
 * Manifest versions. 1: a custom-format dump (one object). 2: adds `dump.format: 'directory'` (one
 * object per file of pg_dump's directory format, `dump.files`, `dump.jobs`). A custom-format dump
 * is still written as version 1, so a pgdr that knows only version 1 keeps reading it; a
 * directory-format dump is version 2, which such a pgdr refuses with its "this pgdr reads version 1"
 * error instead of misreading a prefix as one object. Readers accept MANIFEST_SCHEMA_VERSIONS.
 */
export const MANIFEST_SCHEMA_VERSION = 1;
export const DIRECTORY_MANIFEST_SCHEMA_VERSION = 2;
export const MANIFEST_SCHEMA_VERSIONS: readonly number[] = [MANIFEST_SCHEMA_VERSION, DIRECTORY_MANIFEST_SCHEMA_VERSION];
export const VERIFICATION_SCHEMA_VERSION = 1;
export const LATEST_VERIFIED_SCHEMA_VERSION = 1;

/** Counts of database objects, taken from the catalogs (user objects only, no extension members). */
export interface ObjectCounts {
  /** Schemas other than pg_catalog, information_schema, pg_toast*, pg_temp* and public. */
  readonly schemas: number;
  /** Ordinary and partitioned tables (partitions included). */
  readonly tables: number;
  /** Indexes, including partitioned indexes. */
  readonly indexes: number;
  readonly sequences: number;
  /** Views (not materialized). */
  readonly views: number;
  readonly materializedViews: number;
  /** Functions, procedures and aggregates. */
  readonly functions: number;
  /** Triggers that are not internal (constraint triggers of foreign keys are internal). */
  readonly triggers: number;
  readonly largeObjects: number;
}

export const OBJECT_COUNT_NAMES: ReadonlyArray<keyof ObjectCounts> = [
  'schemas', 'tables', 'indexes', 'sequences', 'views', 'materializedViews', 'functions', 'triggers', 'largeObjects',
];

/** How the stored object is compressed. */
export interface CompressionInfo {
  /**
   * `zstd-stream`: pg_dump -Fc -Z0 piped through `zstd` (the object is one zstd frame; restore
   * with `zstd -dc | pg_restore`); `pg_dump-zstd` / `pg_dump-gzip`: compressed inside the custom
   * format by pg_dump; `none`.
   */
  readonly method: 'zstd-stream' | 'pg_dump-zstd' | 'pg_dump-gzip' | 'none';
  readonly level: number;
}

/**
 * The source database's encoding and locale, read from pg_database in the dump's session. The
 * restore test creates its scratch database with the same; a server that cannot is a failure.
 */
export interface DatabaseLocale {
  /** e.g. "UTF8", "LATIN1", "SQL_ASCII" (pg_encoding_to_char(encoding)). */
  readonly encoding: string;
  /** datcollate / datctype, e.g. "C.UTF-8", "en_US.UTF-8", "C". */
  readonly collate: string;
  readonly ctype: string;
  /** datlocprovider: libc, icu (and builtin from PostgreSQL 17). */
  readonly localeProvider: 'libc' | 'icu' | 'builtin';
  /** The ICU / builtin locale when the provider is not libc (daticulocale, datlocale from 17). */
  readonly locale?: string;
}

/** One role the database needs (owner, grantee, policy role, member): no password, ever. */
export interface GlobalRole {
  readonly name: string;
  /**
   * CREATE ROLE options, e.g. ["LOGIN", "INHERIT", "NOCREATEDB", "NOCREATEROLE", "CONNECTION LIMIT 10"].
   * SUPERUSER, REPLICATION and BYPASSRLS appear only when the role has them (naming them at all,
   * even NOSUPERUSER, needs a superuser; a new role has none of them).
   */
  readonly options: string[];
  /** Roles this role is a member of, among the roles listed (and predefined `pg_*` roles). */
  readonly memberOf: ReadonlyArray<{ readonly role: string; readonly admin: boolean }>;
  /** `ALTER ROLE ... SET` settings (e.g. "search_path=app, public"): everywhere, or in this database only. */
  readonly settings: ReadonlyArray<{ readonly scope: 'all-databases' | 'this-database'; readonly setting: string }>;
}

/**
 * The globals a restore of this dump needs (roles, memberships, role settings; no passwords),
 * taken in the dump's session. Also stored as SQL next to the dump (`....globals.sql`) for a
 * restore by hand: `psql -f globals.sql` before `pg_restore`.
 */
export interface BackupGlobals {
  /** Key of `....globals.sql`. */
  readonly key: string;
  readonly bytes: number;
  readonly sha256: string;
  readonly roles: GlobalRole[];
}

/**
 * Who owns what and who was granted what, in the dump's snapshot, so a restore with owners and
 * privileges can be compared: objects owned per role, privileges granted per grantee (PUBLIC
 * included as "PUBLIC").
 */
export interface PrivilegeSummary {
  readonly owners: Record<string, number>;
  readonly grants: Record<string, number>;
}

/** The fields every stored dump has, whatever its format. */
interface StoredDumpBase {
  readonly bucket: string;
  readonly compression: CompressionInfo;
}

/** A custom-format dump (pg_dump -Fc): one object. */
export interface CustomDump extends StoredDumpBase {
  readonly key: string;
  /** Stored bytes (after compression). */
  readonly bytes: number;
  /**
   * Bytes pg_dump wrote (the custom-format archive), for zstd-stream dumps: zstd's own count of
   * its input, kept when its output count equals `bytes`. Undefined for the other methods (they
   * compress inside pg_dump) and when zstd reported no matching count.
   */
  readonly uncompressedBytes?: number;
  /** SHA-256 (hex) of the stored bytes. */
  readonly sha256: string;
  /** pg_dump -Fc (manifests of schema version 1). */
  readonly format: 'custom';
}

/** One file of a directory-format dump, stored as one object. */
export interface DirectoryFile {
  /** pg_dump's file name in its directory, e.g. "toc.dat", "3421.dat" (or "3421.dat.gz" when pg_dump compressed it). */
  readonly name: string;
  /** Its object: `<dump.key><name>`, plus ".zst" when compression.method is zstd-stream. */
  readonly key: string;
  /** Stored bytes and their SHA-256 (hex). */
  readonly bytes: number;
  readonly sha256: string;
  /** Bytes of the file pg_dump wrote, when pgdr compressed it (zstd-stream). */
  readonly uncompressedBytes?: number;
}

/**
 * A directory-format dump (pg_dump -Fd --jobs N): one object per file of pg_dump's directory under
 * the prefix `key` (`<stem>.dir/`). Restore: download every file (undoing zstd) into one
 * directory, then `pg_restore --jobs N <directory>`.
 */
export interface DirectoryDump extends StoredDumpBase {
  /** The prefix of the files, ending in "/". */
  readonly key: string;
  /** Sum of the files' stored bytes. */
  readonly bytes: number;
  /** Sum of the files' uncompressedBytes, when every file has one. */
  readonly uncompressedBytes?: number;
  /**
   * SHA-256 (hex) of the canonical listing of the files (`directoryListingSha256`): one line
   * `<sha256>  <name>\n` per file (the file's stored SHA-256, two spaces, its pg_dump name), sorted
   * by name in byte order, as `sha256sum` prints them. One value for the whole dump.
   */
  readonly sha256: string;
  readonly format: 'directory';
  /**
   * `zstd-stream`: each file was written by pg_dump uncompressed (-Z0) and piped through `zstd`
   * into its object; `pg_dump-gzip` / `pg_dump-zstd`: pg_dump compressed the files itself.
   */
  readonly files: DirectoryFile[];
  /** pg_dump's --jobs. */
  readonly jobs: number;
}

export type StoredDump = CustomDump | DirectoryDump;

/** What the dump job proves about one dump. */
export interface BackupManifest {
  /** 1 for a custom-format dump, 2 for a directory-format dump. */
  readonly schemaVersion: typeof MANIFEST_SCHEMA_VERSION | typeof DIRECTORY_MANIFEST_SCHEMA_VERSION;
  /** pgdr database name. */
  readonly database: string;
  readonly backupClass: string;
  /** The database name on the server. */
  readonly sourceDatabase: string;
  readonly dump: StoredDump;
  /** ISO 8601 UTC. */
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly durations: { readonly totalSeconds: number; readonly dumpSeconds: number; readonly countSeconds: number };
  readonly server: { readonly version: string; readonly versionNum: number };
  readonly pgDump: { readonly version: string; readonly major: number };
  /** Rows per table (`schema.table`, identifiers quoted as PostgreSQL would), in the dump's snapshot. */
  readonly rowCounts: Record<string, number>;
  readonly objectCounts: ObjectCounts;
  /** Encoding and locale of the source database. Absent in manifests written before pgdr 0.2. */
  readonly locale?: DatabaseLocale;
  /** The roles the dump needs. Absent in manifests written before pgdr 0.2. */
  readonly globals?: BackupGlobals;
  /** Owners and grants. Absent in manifests written before pgdr 0.2. */
  readonly privileges?: PrivilegeSummary;
}

export interface Mismatch {
  readonly what: string;
  readonly expected: number | null;
  readonly actual: number | null;
}

export interface SmokeQueryResult {
  readonly name: string;
  readonly rows: number | null;
  readonly minRows: number;
  readonly ok: boolean;
  readonly error?: string;
}

/** What the verify job found about one dump. */
export interface VerificationRecord {
  readonly schemaVersion: typeof VERIFICATION_SCHEMA_VERSION;
  readonly database: string;
  readonly backupClass: string;
  readonly dumpKey: string;
  readonly manifestKey: string;
  /** Backup start time from the manifest. */
  readonly backupStartedAt: string;
  readonly verifiedAt: string;
  /** True only when every check that ran passed. */
  readonly ok: boolean;
  /** 1: integrity only; 2: integrity and restore test. */
  readonly level: 1 | 2;
  /** Human-readable reasons when not ok. */
  readonly failures: string[];
  readonly integrity: {
    readonly expectedBytes: number;
    readonly actualBytes: number;
    readonly expectedSha256: string;
    readonly actualSha256: string;
    /** Entries `pg_restore --list` printed; null when it failed. */
    readonly archiveEntries: number | null;
    readonly seconds: number;
  };
  readonly restoreTest?: {
    /** Where the scratch database lived: the source server, the verification server, or a throw-away server the job started (`ephemeral`, since pgdr 0.4). */
    readonly server: 'source' | 'verify' | 'ephemeral';
    /** `ephemeral` only: the throw-away server's server_version and the seconds its initdb and start took (counted in totalSeconds). */
    readonly ephemeralServer?: { readonly version: string; readonly startSeconds: number };
    readonly scratchDatabase: string;
    /**
     * How the dump was read (shared/restore-mode.ts): `file`, downloaded and decompressed into the
     * job's work directory (the same download served the integrity check) and restored with
     * `pg_restore --jobs`; `stream`, piped into one pg_restore. Absent in records before pgdr 0.3.
     */
    readonly mode?: 'file' | 'stream';
    /** Why this mode ran (free space against the space needed, no work directory, a failed download, ...). */
    readonly modeReason?: string;
    /** pg_restore's --jobs (1 when streamed). */
    readonly jobs?: number;
    /** File mode: seconds spent downloading the dump into the file (also `integrity.seconds`; counted in totalSeconds). */
    readonly downloadSeconds?: number;
    readonly restoreSeconds: number;
    /**
     * Tables made UNLOGGED after their creation and before their rows were loaded (verify/unlogged.ts:
     * the scratch database's rows and indexes write no WAL on the restore server); 0 with
     * `unloggedReason` saying why none were. Absent in older records and when the restore
     * did not start.
     */
    readonly unloggedTables?: number;
    readonly unloggedReason?: string;
    /** Seconds from the download of the dump (file mode) or the scratch database's creation to the last check. */
    readonly totalSeconds: number;
    readonly rowCountMismatches: Mismatch[];
    readonly objectCountMismatches: Mismatch[];
    readonly smokeQueries: SmokeQueryResult[];
    readonly scratchDropped: boolean;
    /**
     * The scratch database's encoding and locale. `checked`: it was created with the manifest's
     * `locale` and `actual` matched it; false when the manifest has none (written before pgdr 0.2:
     * the server's default was used, `reason` says so) or the server could not reproduce it.
     */
    readonly locale?: { readonly checked: boolean; readonly expected?: DatabaseLocale; readonly actual?: DatabaseLocale; readonly reason?: string };
    /** Scratch databases of earlier runs found on the restore server: dropped (their run is gone), in use, or unmarked (never touched). */
    readonly leftovers?: { readonly dropped: string[]; readonly inUse: string[]; readonly unmarked: string[] };
    /** pg_restore's error lines when it failed (bounded: the first 10, each cut at 400 characters). */
    readonly restoreErrors?: string[];
    /**
     * Roles the manifest lists that the restore server lacked and this run created there
     * (NOLOGIN, no password, no attributes). Roles are cluster-wide: they stay after the scratch
     * database is dropped, and later runs find them. Absent in records of pgdr before 0.2.
     */
    readonly rolesCreated?: string[];
    /** Roles the manifest lists that the restore server lacks and the login could not create: each is a failure. */
    readonly rolesMissing?: string[];
    /** Owners were restored (pg_restore without --no-owner) and compared with the manifest. */
    readonly ownersChecked?: boolean;
    /** Privileges were restored (pg_restore without --no-privileges) and compared with the manifest. */
    readonly privilegesChecked?: boolean;
    /** What was not checked and why, one line each (never silently skipped). */
    readonly notChecked?: string[];
    /** Owners per role / grants per grantee that differ from the manifest's `privileges`. */
    readonly privilegeMismatches?: Mismatch[];
  };
}

/** `<database>/latest-verified.json`: the newest backup proven good. */
export interface LatestVerified {
  readonly schemaVersion: typeof LATEST_VERIFIED_SCHEMA_VERSION;
  readonly database: string;
  readonly backupClass: string;
  readonly dumpKey: string;
  readonly manifestKey: string;
  readonly verificationKey: string;
  readonly backupStartedAt: string;
  readonly verifiedAt: string;
  readonly level: 1 | 2;
  /**
   * Set when the backup named here later failed verification and no other verified backup of the
   * database exists: the pointer then names no usable backup (readers must treat it as absent).
   */
  readonly revoked?: { readonly at: string; readonly reason: string };
}

/** A stored document that cannot be used (wrong JSON, unknown schema version, missing fields). */
export class RecordError extends namedError('RecordError') {}

function parseObject(text: string, what: string, key: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new RecordError(`${what} ${key} is not valid JSON: ${(err as Error).message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new RecordError(`${what} ${key} is not a JSON object`);
  return value as Record<string, unknown>;
}

function requireVersion(doc: Record<string, unknown>, expected: number, what: string, key: string): void {
  if (doc.schemaVersion !== expected) {
    throw new RecordError(`${what} ${key} has schemaVersion ${JSON.stringify(doc.schemaVersion)}; this pgdr reads version ${expected}`);
  }
}

function requireFields(doc: Record<string, unknown>, paths: string[], what: string, key: string): void {
  for (const path of paths) {
    let v: unknown = doc;
    for (const part of path.split('.')) v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[part] : undefined;
    if (v === undefined || v === null) throw new RecordError(`${what} ${key} lacks the field ${path}`);
  }
}

/** A pg_dump directory file name pgdr accepts (no path separators, no "..": it becomes a local file name). */
export const DIRECTORY_FILE_NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;

/**
 * The SHA-256 of the canonical listing of a directory dump's files: `<sha256>  <name>\n` per file,
 * sorted by name (byte order), hashed as UTF-8 (`DirectoryDump.sha256`).
 */
export function directoryListingSha256(files: ReadonlyArray<{ readonly name: string; readonly sha256: string }>): string {
  const lines = [...files].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)).map((f) => `${f.sha256}  ${f.name}\n`);
  return createHash('sha256').update(lines.join(''), 'utf8').digest('hex');
}

/** Parses and checks a manifest (schema version 1: custom format; 2: custom or directory format). */
export function parseManifest(text: string, key: string): BackupManifest {
  const doc = parseObject(text, 'manifest', key);
  if (!MANIFEST_SCHEMA_VERSIONS.includes(doc.schemaVersion as number)) {
    throw new RecordError(`manifest ${key} has schemaVersion ${JSON.stringify(doc.schemaVersion)}; this pgdr reads versions ${MANIFEST_SCHEMA_VERSIONS.join(' and ')} (a newer pgdr wrote it: upgrade pgdr to read it)`);
  }
  requireFields(doc, ['database', 'backupClass', 'dump.key', 'dump.bytes', 'dump.sha256', 'dump.compression.method', 'startedAt', 'rowCounts', 'objectCounts'], 'manifest', key);
  const dump = doc.dump as Record<string, unknown>;
  const format = dump.format ?? 'custom';
  if (format === 'custom') return doc as unknown as BackupManifest;
  if (format !== 'directory' || doc.schemaVersion !== DIRECTORY_MANIFEST_SCHEMA_VERSION) {
    throw new RecordError(`manifest ${key} has dump.format ${JSON.stringify(format)} in schemaVersion ${JSON.stringify(doc.schemaVersion)}; this pgdr reads "custom" (versions 1 and 2) and "directory" (version 2)`);
  }
  const prefix = dump.key as string;
  if (!prefix.endsWith('/')) throw new RecordError(`manifest ${key}: dump.key of a directory dump must end with "/" (received ${JSON.stringify(prefix)})`);
  if (!Array.isArray(dump.files) || dump.files.length === 0) throw new RecordError(`manifest ${key}: dump.files of a directory dump must be a non-empty array`);
  const names = new Set<string>();
  for (const [i, file] of (dump.files as unknown[]).entries()) {
    const f = (file ?? {}) as Record<string, unknown>;
    if (typeof f.name !== 'string' || !DIRECTORY_FILE_NAME.test(f.name)) throw new RecordError(`manifest ${key}: dump.files[${i}].name must be a file name matching ${DIRECTORY_FILE_NAME} (received ${JSON.stringify(f.name)})`);
    if (names.has(f.name)) throw new RecordError(`manifest ${key}: dump.files lists ${f.name} twice`);
    names.add(f.name);
    if (typeof f.key !== 'string' || !f.key.startsWith(prefix) || f.key.slice(prefix.length).includes('/')) throw new RecordError(`manifest ${key}: dump.files[${i}].key must be an object directly under ${prefix} (received ${JSON.stringify(f.key)})`);
    if (typeof f.bytes !== 'number' || typeof f.sha256 !== 'string') throw new RecordError(`manifest ${key}: dump.files[${i}] (${f.name}) lacks bytes or sha256`);
  }
  if (!names.has('toc.dat')) throw new RecordError(`manifest ${key}: dump.files of a directory dump must include toc.dat`);
  return doc as unknown as BackupManifest;
}

/** Parses and checks a verification record. */
export function parseVerification(text: string, key: string): VerificationRecord {
  const doc = parseObject(text, 'verification record', key);
  requireVersion(doc, VERIFICATION_SCHEMA_VERSION, 'verification record', key);
  requireFields(doc, ['database', 'dumpKey', 'ok', 'level', 'verifiedAt'], 'verification record', key);
  return doc as unknown as VerificationRecord;
}

/** Parses and checks the latest-verified pointer. */
export function parseLatestVerified(text: string, key: string): LatestVerified {
  const doc = parseObject(text, 'latest-verified pointer', key);
  requireVersion(doc, LATEST_VERIFIED_SCHEMA_VERSION, 'latest-verified pointer', key);
  requireFields(doc, ['database', 'dumpKey', 'backupStartedAt', 'verifiedAt'], 'latest-verified pointer', key);
  return doc as unknown as LatestVerified;
}
