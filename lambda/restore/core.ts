/**
 * The failover's restore job core (`dump` recovery source): fills a NEW, empty server (the
 * instance the workflow just created) from one verified dump.
 *
 *   1. choose the backup (`resolveVerifiedBackup`, also the workflow's input validation): a key
 *      inside the database's prefix, with a manifest and a verification record that says ok;
 *      default: `<database>/latest-verified.json` (a revoked pointer is refused);
 *   2. recreate the roles the dump needs with their real attributes, memberships and settings
 *      (shared/globals.ts `applyGlobalRoles`), create the target database with the source's
 *      encoding and locale (shared/locale.ts);
 *   3. restore with owners and privileges: `pg_restore --jobs N` from a file in `workDir` when
 *      there is room for it (the object is downloaded, decompressed and checked against the
 *      manifest's size and SHA-256 first), else streamed as the verify job does; a directory-format
 *      dump is always downloaded (every file checked, a mismatch names the file), and refused
 *      before anything is created when the work directory has no room for it;
 *   4. give the application login its new password (never logged, never in the result);
 *   5. compare row, object and privilege counts with the manifest.
 * On failure: one error; the target database is left for the workflow's cleanup, the temporary
 * file is always removed. No AWS SDK here: the bucket and logs are ports; the clock is injected.
 */
import { scramVerifier } from '../shared/scram';
import { restoreArchive, restoreArchiveFile } from '../shared/archive';
import { chooseRestoreMode, downloadDirectoryToWorkDir, downloadToWorkDir, NoRoomError, RestoreFileSettings, RestoreMode, RestoreModeChoice, startRemoving } from '../shared/restore-mode';
import { directoryIntegrityFailures, fetchedTotals } from '../shared/directory-archive';
import { compareWithManifest } from '../shared/catalog';
import { earlyCountFields, LoadedTableCounts } from '../shared/loaded-counts';
import { ConnectionInfo, describe, withDatabase } from '../shared/connection';
import { applyGlobalRoles, prepareRestoreRoles } from '../shared/globals';
import { databasePrefix, keysFromManifestKey, manifestKeyOf, latestVerifiedKey, parseManifestKey, assertName } from '../shared/layout';
import { createDatabaseWithLocale, expectDatabaseLocale, LocaleMismatchError, serverVersionNum } from '../shared/locale';
import { quoteIdent, quoteLiteral, withClient } from '../shared/pg-client';
import { seconds } from '../shared/ports';
import type { Clock, LogPort, ObjectStore } from '../shared/ports';
import { BackupManifest, Mismatch, parseLatestVerified, parseManifest, parseVerification, VerificationRecord } from '../shared/records';
import { namedError } from '../shared/named-error';

export interface RestoreRequest {
  /** pgdr database name. */
  readonly database: string;
  /** A manifest key or dump key of the database; default: its `latest-verified.json`. */
  readonly backupKey?: string;
  /** Name of the database to create on the target; default: the manifest's sourceDatabase. */
  readonly targetDatabase?: string;
  /** The application login and the password the cutover secret carries (in memory only). */
  readonly appLogin?: { readonly role: string; readonly password: string };
}

export interface RestoreDeps extends RestoreFileSettings {
  readonly store: ObjectStore;
  /** The new server's admin login (the RDS master user), connected to a maintenance database. */
  readonly target: ConnectionInfo;
  readonly pgBin: string;
  readonly log: LogPort;
  readonly clock: Clock;
}

/** The input cannot be used: names the field and the rule. Nothing was created. */
export class BackupKeyError extends namedError('BackupKeyError') {}

/** The restore ran and failed (after the checks): the target may hold a partial database. */
export class RestoreError extends namedError('RestoreError') {}

/** A backup proven restorable: its keys, manifest and verification record. */
export interface VerifiedBackup {
  readonly manifestKey: string;
  readonly manifest: BackupManifest;
  readonly verification: VerificationRecord;
}

/**
 * The backup a restore of `database` uses (the workflow's validation of `backupKey`): `backupKey`
 * (a manifest or dump key) must lie inside `<database>/`, have a manifest, and a verification
 * record with ok=true; without it, the backup `<database>/latest-verified.json` names (refused when
 * revoked). Reads only; throws BackupKeyError naming the rule.
 */
export async function resolveVerifiedBackup(store: ObjectStore, database: string, backupKey?: string): Promise<VerifiedBackup> {
  try {
    assertName(database, 'database');
  } catch (err) {
    throw new BackupKeyError((err as Error).message);
  }
  let manifestKey: string;
  if (backupKey === undefined) {
    const pointerKey = latestVerifiedKey(database);
    const stored = await store.getText(pointerKey);
    if (!stored) throw new BackupKeyError(`backupKey: database ${database} has no verified backup (${pointerKey} is missing); name one with backupKey`);
    const pointer = parseLatestVerified(stored.text, pointerKey);
    if (pointer.revoked) throw new BackupKeyError(`backupKey: ${pointerKey} is revoked (${pointer.revoked.reason}); no verified backup to restore, name one with backupKey`);
    manifestKey = pointer.manifestKey;
  } else {
    if (typeof backupKey !== 'string' || backupKey.includes('..') || !backupKey.startsWith(databasePrefix(database))) {
      throw new BackupKeyError(`backupKey: ${JSON.stringify(backupKey)} is outside the prefix ${databasePrefix(database)} of database ${database}`);
    }
    manifestKey = manifestKeyOf(backupKey) ?? backupKey;
  }
  const parsed = parseManifestKey(manifestKey);
  if (!parsed || parsed.database !== database) throw new BackupKeyError(`backupKey: ${JSON.stringify(manifestKey)} is not a manifest or dump key of database ${database}`);
  const stored = await store.getText(manifestKey);
  if (!stored) throw new BackupKeyError(`backupKey: ${manifestKey} has no manifest in bucket ${store.bucket}`);
  let manifest: BackupManifest;
  try {
    manifest = parseManifest(stored.text, manifestKey);
  } catch (err) {
    throw new BackupKeyError(`backupKey: ${(err as Error).message}`);
  }
  const verificationKey = keysFromManifestKey(manifestKey).verification;
  const storedVerification = await store.getText(verificationKey);
  if (!storedVerification) throw new BackupKeyError(`backupKey: ${manifestKey} was never verified (no ${verificationKey}); only a verified backup is restored`);
  const verification = parseVerification(storedVerification.text, verificationKey);
  if (!verification.ok) throw new BackupKeyError(`backupKey: ${manifestKey} failed verification (${verification.failures.join('; ')}); only a verified backup is restored`);
  return { manifestKey, manifest, verification };
}

/** What a restore did; never a password. */
export interface RestoreResult {
  readonly database: string;
  readonly manifestKey: string;
  readonly dumpKey: string;
  readonly backupStartedAt: string;
  readonly targetDatabase: string;
  readonly server: string;
  readonly mode: RestoreMode;
  /** Why this mode ran (free space, no work directory, ...). */
  readonly modeReason: string;
  readonly jobs: number;
  /** Stored bytes read from the bucket. */
  readonly bytes: number;
  readonly seconds: { readonly roles: number; readonly download: number; readonly restore: number; readonly checks: number; readonly total: number };
  /** Stored MB (10^6 bytes) per second of download + restore. */
  readonly throughputMBps: number;
  readonly rolesCreated: string[];
  readonly rolesExisting: string[];
  readonly notChecked: string[];
  readonly appLoginPasswordSet: string | null;
  readonly mismatches: Mismatch[];
  readonly ok: boolean;
}

export { neededFileBytes } from '../shared/restore-mode';

/** Restores one verified backup into a new database on the target server. */
export async function runRestore(deps: RestoreDeps, request: RestoreRequest): Promise<RestoreResult> {
  const { store, log, clock, target } = deps;
  if (request.appLogin && request.appLogin.role === target.username) {
    throw new BackupKeyError(`appLogin: ${JSON.stringify(request.appLogin.role)} is the target's admin login; its password belongs to the instance's managed secret and is not changed`);
  }
  const backup = await resolveVerifiedBackup(store, request.database, request.backupKey);
  const { manifest, manifestKey } = backup;
  const targetDatabase = request.targetDatabase ?? manifest.sourceDatabase;
  const started = clock.now();
  const context = { database: request.database, manifestKey, targetDatabase, server: describe(target) };

  // Mode: file + --jobs when it can shorten the restore and the work directory has room (a
  // directory-format dump: always from a local directory, refused without room, before anything is created).
  let choice: RestoreModeChoice;
  try {
    choice = await chooseRestoreMode(manifest, deps);
  } catch (err) {
    if (err instanceof NoRoomError) throw new RestoreError(`restore of ${manifestKey} refused: ${err.message}`);
    throw err;
  }
  const { mode, modeReason, jobs } = choice;
  log.info('restore: starting', { ...context, mode, modeReason });

  let file: string | undefined;
  let removing: Promise<void> | undefined;
  // Tables counted while pg_restore --jobs still runs (shared/loaded-counts.ts).
  let loadedCounts: LoadedTableCounts | undefined;
  try {
    // The database first: the role settings of the source database name it.
    const versionNum = await withClient(target, async (client) => {
      const version = await serverVersionNum(client);
      try {
        await createDatabaseWithLocale(client, version, targetDatabase, manifest.locale, 'the target server');
      } catch (err) {
        const detail = err instanceof LocaleMismatchError ? undefined : (err as { detail?: string }).detail;
        throw new RestoreError(`creating the target database ${targetDatabase} on ${describe(target)} failed: ${(err as Error).message}${detail ? ` (${detail})` : ''}`);
      }
      await expectDatabaseLocale(client, version, targetDatabase, manifest.locale, 'the target server');
      return version;
    });
    const rolesStarted = clock.now();
    const { applied, plan } = await withClient(target, async (client) => {
      const applied = manifest.globals ? await applyGlobalRoles(client, manifest.globals.roles, targetDatabase) : undefined;
      return { applied, plan: await prepareRestoreRoles(client, manifest.globals, manifest.privileges) };
    });
    if (plan.missing.length > 0) throw new RestoreError(`the target login cannot create the roles ${plan.missing.map((n) => JSON.stringify(n)).join(', ')} the dump needs`);
    const notChecked = [...plan.notChecked, ...(applied?.attributesDropped ?? [])];
    const rolesSeconds = seconds(rolesStarted, clock.now());
    log.info('restore: roles ready', { ...context, versionNum, rolesCreated: applied?.created ?? plan.created, notChecked });

    const downloadStarted = clock.now();
    let bytes = manifest.dump.bytes;
    const { dump } = manifest;
    if (dump.format === 'directory') {
      const got = await downloadDirectoryToWorkDir(store, dump, deps.pgBin, choice.dir!);
      file = got.dir;
      const bad = directoryIntegrityFailures(dump, got.fetched);
      if (bad.length > 0) throw new RestoreError(`the directory-format dump ${dump.key} does not match its manifest: ${bad.join('; ')}: not restored`);
      bytes = fetchedTotals(got.fetched).bytes;
    } else if (mode === 'file') {
      const got = await downloadToWorkDir(store, manifest, deps.pgBin, choice.dir!, log);
      if (!got) throw new RestoreError(`dump object ${manifest.dump.key} is missing from bucket ${store.bucket}`);
      file = got.file;
      // Written before anything else reads the file: here nothing could run beside their scan.
      await got.dataOffsets.write();
      bytes = got.bytes;
      if (got.bytes !== manifest.dump.bytes) throw new RestoreError(`dump object ${manifest.dump.key} is ${got.bytes} bytes, the manifest says ${manifest.dump.bytes}: not restored`);
      if (got.sha256 !== manifest.dump.sha256) throw new RestoreError(`dump object ${manifest.dump.key} has SHA-256 ${got.sha256}, the manifest says ${manifest.dump.sha256}: not restored`);
    }
    const downloadSeconds = seconds(downloadStarted, clock.now());

    const restoreStarted = clock.now();
    if (file) {
      loadedCounts = jobs > 1 ? new LoadedTableCounts(withDatabase(target, targetDatabase), 'server') : undefined;
      await restoreArchiveFile(file, jobs, deps.pgBin, target, targetDatabase, plan, loadedCounts?.loaded);
      // Removed while the application login is set and the restore compared (awaited in finally).
      removing = startRemoving(file);
      file = undefined;
    } else {
      const body = await store.getStream(manifest.dump.key);
      if (!body) throw new RestoreError(`dump object ${manifest.dump.key} is missing from bucket ${store.bucket}`);
      await restoreArchive(body, manifest.dump.compression, deps.pgBin, target, targetDatabase, plan);
    }
    const early = await loadedCounts?.finish();
    const restoreSeconds = seconds(restoreStarted, clock.now());
    if (early) log.info('restore: restored', { ...context, ...earlyCountFields(early) });

    let appLoginPasswordSet: string | null = null;
    if (request.appLogin) {
      const { role, password } = request.appLogin;
      await withClient(target, async (client) => {
        const found = await client.query<{ login: boolean }>('SELECT rolcanlogin AS login FROM pg_roles WHERE rolname = $1', [role]);
        if (found.rows.length === 0) throw new RestoreError(`the application login ${JSON.stringify(role)} does not exist on the target (not among the roles the dump needs)`);
        if (!found.rows[0].login) throw new RestoreError(`the application role ${JSON.stringify(role)} cannot log in (NOLOGIN on the source)`);
        try {
          // The SCRAM verifier, not the password: a server that logs DDL must not log the secret.
          await client.query(`ALTER ROLE ${quoteIdent(role)} PASSWORD ${quoteLiteral(scramVerifier(password))}`);
        } catch (err) {
          // Only the server's message, never the statement.
          throw new RestoreError(`setting the password of the application login ${JSON.stringify(role)} failed: ${(err as Error).message}`);
        }
      });
      appLoginPasswordSet = role;
    }

    const checksStarted = clock.now();
    const mismatches: Mismatch[] = [];
    await withClient(withDatabase(target, targetDatabase), async (client) => {
      const found = await compareWithManifest(client, manifest, plan, 'server', early?.counted);
      mismatches.push(...found.rows.map((m) => ({ ...m, what: `rows of ${m.what}` })), ...found.objects, ...found.privileges);
    });
    const done = clock.now();
    const transferSeconds = downloadSeconds + restoreSeconds;
    const result: RestoreResult = {
      database: request.database,
      manifestKey,
      dumpKey: manifest.dump.key,
      backupStartedAt: manifest.startedAt,
      targetDatabase,
      server: describe(target),
      mode,
      modeReason,
      jobs,
      bytes,
      seconds: { roles: rolesSeconds, download: downloadSeconds, restore: restoreSeconds, checks: seconds(checksStarted, done), total: seconds(started, done) },
      throughputMBps: transferSeconds > 0 ? Math.round((bytes / 1e6 / transferSeconds) * 100) / 100 : 0,
      rolesCreated: applied?.created ?? plan.created,
      rolesExisting: applied?.existing ?? [],
      notChecked,
      appLoginPasswordSet,
      mismatches,
      ok: mismatches.length === 0,
    };
    (result.ok ? log.info : log.error)('restore: finished', { ...context, ok: result.ok, mode, jobs: result.jobs, seconds: result.seconds, throughputMBps: result.throughputMBps, mismatches: mismatches.length });
    return result;
  } catch (err) {
    const message = (err as Error).message;
    log.error('restore failed', { ...context, mode, error: message });
    throw err instanceof RestoreError ? err : new RestoreError(`restore of ${manifestKey} into ${targetDatabase} failed: ${message}`);
  } finally {
    // After a failed restore: the count running is cancelled and the session closed.
    await loadedCounts?.close();
    await (removing ?? startRemoving(file));
  }
}
