/**
 * The verify job's core: proves (or disproves) that one stored dump is restorable.
 *
 *   Level 1 (every backup): stream the object, recompute size and SHA-256 and compare them with
 *     the manifest; `pg_restore --list` must parse the archive. A directory-format dump: every
 *     listed file, each compared with its manifest entry (a failure names the file), then
 *     `pg_restore --list` of the directory (only toc.dat is written unless a restore test follows).
 *   Level 2 (restore test, per policy): drop the scratch databases of runs that are gone
 *     (scratch.ts: pgdr's marker and no live owner, never anything else), create
 *     `pgdr_verify_<db>_<epoch>_<rand>` on the restore server with the source's encoding and
 *     locale, make the roles the manifest lists present (shared/globals.ts), pg_restore into it
 *     with owners and privileges, compare per-table row counts, object counts, owners and grants
 *     with the manifest, run the smoke queries, time it, and always drop the scratch database.
 * Then write `....verification.json` next to the dump, emit VerifySucceeded/VerifyFailed (and
 * RestoreTestSeconds, RowCountMismatches), and on success advance
 * `<database>/latest-verified.json`, only forward in time (conditional writes).
 *
 * No AWS SDK here: the bucket, metrics and logs are ports; the clock is injected.
 */
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { checkArchive, IntegrityResult, listArchiveFile, restoreArchive } from '../shared/archive';
import { chooseRestoreMode, DataOffsets, downloadDirectoryToWorkDir, downloadToWorkDir, NoRoomError, RestoreFileSettings, RestoreModeChoice, startRemoving } from '../shared/restore-mode';
import { directoryIntegrityFailures, FetchedFile, fetchedTotals } from '../shared/directory-archive';
import { compareWithManifest } from '../shared/catalog';
import { earlyCountFields, LoadedTableCounts } from '../shared/loaded-counts';
import { prepareRestoreRoles, RestoreRolePlan } from '../shared/globals';
import { ConnectionInfo, describe, withDatabase } from '../shared/connection';
import { databasePrefix, keysFromManifestKey, latestVerifiedKey, parseManifestKey, sortManifestKeys, assertName } from '../shared/layout';
import { LocaleMismatchError } from '../shared/locale';
import { withClient } from '../shared/pg-client';
import { ToolError, withToolAbort } from '../shared/pg-process';
import { abortReason } from '../shared/job-signal';
import { reportFailure } from '../shared/failure';
import { Clock, LogPort, MetricsFactory, MetricsPort, ObjectStore, PreconditionFailedError, seconds } from '../shared/ports';
import {
  BackupManifest,
  DirectoryDump,
  LATEST_VERIFIED_SCHEMA_VERSION,
  LatestVerified,
  Mismatch,
  parseLatestVerified,
  parseManifest,
  parseVerification,
  SmokeQueryResult,
  VERIFICATION_SCHEMA_VERSION,
  VerificationRecord,
} from '../shared/records';
import { RestoreServer, ScratchSetup } from './setup';
import { restoreUnlogged, UnloggedOutcome } from './unlogged';
import { runSmokeQuery, SmokeQuery, smokeFailure } from '../shared/smoke';
import { namedError } from '../shared/named-error';

export type { SmokeQuery };

/** The verification policy of a database (PGDR_VERIFICATION). */
export interface VerificationPolicy {
  /** Restore-test every Nth backup of the database (0: only when asked, e.g. on the schedule). */
  readonly restoreTestEveryNth: number;
  readonly smokeQueries: readonly SmokeQuery[];
}

export interface VerifyRequest {
  readonly database: string;
  /** The manifest to verify; default: the newest backup of the database. */
  readonly manifestKey?: string;
  /** Force (true) or skip (false) the restore test; default: the policy decides. */
  readonly restoreTest?: boolean;
  /**
   * Stop when this aborts (Ctrl-C in `pgdr verify --local`): pg_restore and zstd are killed, the
   * scratch database dropped, an ephemeral server stopped, the downloaded file removed, and
   * nothing is recorded (no verification record, latest-verified untouched): VerifyError.
   */
  readonly signal?: AbortSignal;
}

/**
 * `workDir`/`jobs`/`freeBytes` (shared/restore-mode.ts): a restore test downloads the dump into
 * `workDir` and runs `pg_restore --jobs` on the file when there is room (the same download serves
 * the integrity check), else streams into one pg_restore; the record says which and why.
 */
export interface VerifyDeps extends RestoreFileSettings {
  readonly store: ObjectStore;
  /** Server for the scratch database: the source's (default), the verification server, or a throw-away one started for each restore test. */
  readonly restoreServer: RestoreServer;
  readonly pgBin: string;
  readonly policy: VerificationPolicy;
  readonly metrics: MetricsFactory;
  readonly log: LogPort;
  readonly clock: Clock;
  /** statement_timeout of each smoke query. @default 60 */
  readonly smokeQueryTimeoutSeconds?: number;
}

export type { RestoreServer } from './setup';

/** Verification could not even start (no backup, manifest missing or unreadable). */
export class VerifyError extends namedError('VerifyError') {}

export { SCRATCH_PREFIX, scratchDatabaseName } from './scratch';

/** Verifies one backup and returns its verification record (also when it failed). */
export function runVerify(deps: VerifyDeps, request: VerifyRequest): Promise<VerificationRecord> {
  return withToolAbort(request.signal, () => verifyOne(deps, request));
}

/** What an aborted verification says: its signal's reason, and that nothing was recorded. */
function stoppedMessage(signal: AbortSignal, record?: VerificationRecord): string {
  const test = record?.restoreTest;
  const scratch = test ? (test.scratchDropped ? `; the scratch database ${test.scratchDatabase} was dropped` : `; the scratch database ${test.scratchDatabase} was not dropped (the next restore test drops it)`) : '';
  return `${abortReason(signal)}: verification stopped, nothing recorded${scratch}`;
}

async function verifyOne(deps: VerifyDeps, request: VerifyRequest): Promise<VerificationRecord> {
  const { store, log } = deps;
  const { database, signal } = request;
  let metrics: MetricsPort | undefined;
  try {
    assertName(database, 'database name');
    const manifestKey = request.manifestKey ?? (await newestManifestKey(store, database));
    const parsedKey = parseManifestKey(manifestKey);
    if (!parsedKey || parsedKey.database !== database) throw new VerifyError(`${manifestKey} is not a manifest key of database ${database}`);
    metrics = deps.metrics(database, parsedKey.backupClass);
    const stored = await store.getText(manifestKey);
    if (!stored) throw new VerifyError(`manifest ${manifestKey} is missing from bucket ${store.bucket}`);
    let manifest: BackupManifest;
    try {
      manifest = parseManifest(stored.text, manifestKey);
    } catch (err) {
      throw new VerifyError((err as Error).message);
    }
    const restoreTest = request.restoreTest ?? (await policyWantsRestoreTest(deps, manifestKey));
    const record = await verifyBackup(deps, manifest, manifestKey, restoreTest, signal);
    // Stopped: what the record says is the interruption, not the backup.
    if (signal?.aborted) throw new VerifyError(stoppedMessage(signal, record));
    await store.putText(keysFromManifestKey(manifestKey).verification, `${JSON.stringify(record, null, 2)}\n`);

    metrics.add(record.ok ? 'VerifySucceeded' : 'VerifyFailed', 1, 'Count');
    if (record.restoreTest) {
      metrics.add('RestoreTestSeconds', record.restoreTest.totalSeconds, 'Seconds');
      metrics.add('RowCountMismatches', record.restoreTest.rowCountMismatches.length, 'Count');
    }
    if (record.ok) {
      const advanced = await advanceLatestVerified(store, record, keysFromManifestKey(manifestKey).verification);
      log.info('verification succeeded', { database, manifestKey, verificationLevel: record.level, latestVerifiedAdvanced: advanced, restoreSeconds: record.restoreTest?.totalSeconds });
    } else {
      const pointer = await retreatLatestVerified(store, record, deps.clock);
      log.error('verification failed', { database, manifestKey, verificationLevel: record.level, failures: record.failures, latestVerified: pointer });
    }
    return record;
  } catch (err) {
    metrics ??= deps.metrics(database, parseManifestKey(request.manifestKey ?? '')?.backupClass ?? 'unknown');
    const failure = signal?.aborted && !(err instanceof VerifyError) ? new VerifyError(stoppedMessage(signal)) : err;
    reportFailure(metrics, log, 'VerifyFailed', 'verification failed', { database, manifestKey: request.manifestKey }, failure);
    throw failure instanceof VerifyError ? failure : new VerifyError((failure as Error).message);
  } finally {
    metrics?.flush();
  }
}

async function manifestKeys(store: ObjectStore, database: string): Promise<string[]> {
  return sortManifestKeys((await store.listKeys(databasePrefix(database))).filter((k) => k.endsWith('.manifest.json')));
}

async function newestManifestKey(store: ObjectStore, database: string): Promise<string> {
  const keys = await manifestKeys(store, database);
  if (keys.length === 0) throw new VerifyError(`no backup of database ${database} in bucket ${store.bucket} (no ${databasePrefix(database)}...manifest.json)`);
  return keys[keys.length - 1];
}

/** Every Nth backup of the database (counting its manifests, oldest first) gets a restore test. */
async function policyWantsRestoreTest(deps: VerifyDeps, manifestKey: string): Promise<boolean> {
  const n = deps.policy.restoreTestEveryNth;
  if (n <= 0) return false;
  if (n === 1) return true;
  const parsed = parseManifestKey(manifestKey)!;
  const position = (await manifestKeys(deps.store, parsed.database)).indexOf(manifestKey) + 1;
  return position > 0 && position % n === 0;
}

/**
 * What the integrity check read: the stored size and SHA-256 (a directory dump: of its listing) and
 * what `pg_restore --list` said; in file mode, the local copy the restore test uses (removed by the
 * caller); `refused`: why the restore test cannot run at all (a directory dump without room).
 */
interface DumpRead {
  readonly checked?: IntegrityResult;
  readonly local?: string;
  /** The local copy's data offsets, their scan running (custom format, file mode). */
  readonly offsets?: DataOffsets;
  readonly choice?: RestoreModeChoice;
  readonly refused?: string;
}

async function verifyBackup(deps: VerifyDeps, manifest: BackupManifest, manifestKey: string, restoreTest: boolean, signal?: AbortSignal): Promise<VerificationRecord> {
  const { clock, log } = deps;
  const failures: string[] = [];
  const integrityStarted = clock.now();
  const { dump } = manifest;
  // The restore test's first steps (an ephemeral server's start, the scratch database) run while
  // the dump is read (setup.ts); undone when the restore test does not run.
  const setup = restoreTest ? ScratchSetup.start(deps.restoreServer, manifest, clock, log) : undefined;
  let used = false;
  const read = await (dump.format === 'directory' ? readDirectoryDump(deps, manifest, dump, restoreTest, failures) : readCustomDump(deps, manifest, manifestKey, restoreTest, failures, signal)).catch(async (err: unknown) => {
    await releaseUnused(setup, log, manifest);
    throw err;
  });
  const { checked, choice, local, offsets } = read;
  try {
    const integrity = {
      expectedBytes: manifest.dump.bytes,
      actualBytes: checked?.bytes ?? 0,
      expectedSha256: manifest.dump.sha256,
      actualSha256: checked?.sha256 ?? '',
      archiveEntries: checked?.archiveEntries ?? null,
      seconds: seconds(integrityStarted, clock.now()),
    };
    log.info('integrity checked', { database: manifest.database, manifestKey, ok: failures.length === 0, bytes: integrity.actualBytes, mode: choice?.mode, format: dump.format });

    let restore: VerificationRecord['restoreTest'];
    if (signal?.aborted) {
      // Stopped during the integrity check: no restore test (runVerify records nothing).
    } else if (restoreTest && failures.length === 0 && read.refused) {
      failures.push(`restore test not run: ${read.refused}`);
    } else if (restoreTest && failures.length === 0) {
      used = true;
      restore = await runRestoreTest(deps, manifest, failures, local ? { ...choice!, file: local, offsets, downloadSeconds: integrity.seconds, addsPublicationTables: checked?.addsPublicationTables } : choice!, setup!);
    } else if (restoreTest) {
      failures.push('restore test skipped: the integrity check failed');
    }

    return {
      schemaVersion: VERIFICATION_SCHEMA_VERSION,
      database: manifest.database,
      backupClass: manifest.backupClass,
      dumpKey: manifest.dump.key,
      manifestKey,
      backupStartedAt: manifest.startedAt,
      verifiedAt: clock.now().toISOString(),
      ok: failures.length === 0,
      level: restoreTest ? 2 : 1,
      failures,
      integrity,
      ...(restore ? { restoreTest: restore } : {}),
    };
  } finally {
    // A restore test that ran removed the local copy itself (runRestoreTest).
    if (local && !used) await startRemoving(local, offsets);
    if (!used) await releaseUnused(setup, log, manifest);
  }
}

/** Undoes the first steps of a restore test that did not run: the scratch database dropped, an ephemeral server stopped (setup.ts). */
async function releaseUnused(setup: ScratchSetup | undefined, log: LogPort, manifest: BackupManifest): Promise<void> {
  const released = await setup?.release();
  for (const failure of released?.failures ?? []) log.warn('undoing an unused restore test setup failed', { database: manifest.database, error: failure });
}

/** Level 1 of a custom-format dump (one object): in file mode from the download the restore test then uses, else streamed. */
async function readCustomDump(deps: VerifyDeps, manifest: BackupManifest, manifestKey: string, restoreTest: boolean, failures: string[], signal?: AbortSignal): Promise<DumpRead> {
  const { store, log } = deps;
  let checked: IntegrityResult | undefined;
  let missing = false;
  let choice = restoreTest ? await chooseRestoreMode(manifest, deps) : undefined;
  // File mode: one download serves the integrity check and the parallel restore.
  let file: string | undefined;
  let offsets: DataOffsets | undefined;
  try {
    if (choice?.mode === 'file') {
      try {
        const got = await downloadToWorkDir(store, manifest, deps.pgBin, choice.dir!, log);
        if (got) {
          file = got.file;
          offsets = got.dataOffsets;
          checked = { bytes: got.bytes, sha256: got.sha256, ...(await listArchiveFile(got.file, deps.pgBin)) };
        } else missing = true;
      } catch (err) {
        if (signal?.aborted) throw err;
        // Disk full, a broken download or a dump zstd cannot read: the streaming check below
        // reads it again and reports what is wrong with the object itself, if anything.
        choice = { mode: 'stream', jobs: 1, modeReason: `downloading to the work directory failed (${(err as Error).message}): streamed` };
        log.warn('restore test: file mode abandoned', { database: manifest.database, manifestKey, reason: choice.modeReason });
      }
    }
    if (!checked && !missing) {
      const body = await store.getStream(manifest.dump.key);
      if (!body) missing = true;
      else {
        try {
          checked = await checkArchive(body, manifest.dump.compression, deps.pgBin);
        } catch (err) {
          failures.push(`reading the dump failed: ${(err as Error).message}`);
        }
      }
    }
  } catch (err) {
    await startRemoving(file, offsets);
    throw err;
  }
  if (missing) failures.push(`dump object ${manifest.dump.key} is missing`);
  if (checked) {
    if (checked.bytes !== manifest.dump.bytes) failures.push(`size is ${checked.bytes} bytes, the manifest says ${manifest.dump.bytes}`);
    if (checked.sha256 !== manifest.dump.sha256) failures.push(`SHA-256 is ${checked.sha256}, the manifest says ${manifest.dump.sha256}`);
    if (checked.listError) failures.push(`the archive does not parse: ${checked.listError}`);
  }
  return { checked, choice, local: file, offsets };
}

/**
 * Level 1 of a directory-format dump: every listed file is read and compared (size, SHA-256, each
 * failure naming the file), then `pg_restore --list` of the directory. With a restore test and room
 * in the work directory, all files are downloaded (decompressed) there and serve the restore;
 * otherwise only toc.dat is written (into the work directory, or the system's temporary directory),
 * the rest only hashed, and `refused` says why no restore test can run.
 */
async function readDirectoryDump(deps: VerifyDeps, manifest: BackupManifest, dump: DirectoryDump, restoreTest: boolean, failures: string[]): Promise<DumpRead> {
  const { store, log, pgBin } = deps;
  let choice: RestoreModeChoice | undefined;
  let refused: string | undefined;
  if (restoreTest) {
    try {
      choice = await chooseRestoreMode(manifest, deps);
    } catch (err) {
      if (!(err instanceof NoRoomError)) throw err;
      refused = err.message;
    }
  }
  let got: { dir: string; fetched: FetchedFile[] } | undefined;
  if (choice) {
    try {
      got = await downloadDirectoryToWorkDir(store, dump, pgBin, choice.dir!);
    } catch (err) {
      refused = `downloading the directory-format dump into the work directory failed (${(err as Error).message})`;
      choice = undefined;
      log.warn('restore test: download abandoned', { database: manifest.database, dumpKey: dump.key, reason: refused });
    }
  }
  try {
    got ??= await downloadDirectoryToWorkDir(store, dump, pgBin, deps.workDir ?? tmpdir(), (name) => name === 'toc.dat');
  } catch (err) {
    failures.push(`reading the dump failed: ${(err as Error).message}`);
    return { refused };
  }
  try {
    failures.push(...directoryIntegrityFailures(dump, got.fetched));
    const toc = got.fetched.find((f) => f.name === 'toc.dat');
    const list = toc && !toc.missing && !toc.error ? await listArchiveFile(got.dir, pgBin) : { listError: 'toc.dat could not be read' };
    if (list.listError) failures.push(`the archive does not parse: ${list.listError}`);
    const checked = { ...fetchedTotals(got.fetched), ...list };
    if (choice) return { checked, choice, local: got.dir, refused };
    await rm(got.dir, { recursive: true, force: true });
    return { checked, refused };
  } catch (err) {
    await rm(got.dir, { recursive: true, force: true });
    throw err;
  }
}

/** How the restore test reads the dump; in file mode, the file downloaded for the integrity check. */
type RestoreTestSource = RestoreModeChoice & { readonly file?: string; readonly offsets?: DataOffsets; readonly downloadSeconds?: number; readonly addsPublicationTables?: boolean };

async function runRestoreTest(
  deps: VerifyDeps,
  manifest: BackupManifest,
  failures: string[],
  source: RestoreTestSource,
  setup: ScratchSetup,
): Promise<NonNullable<VerificationRecord['restoreTest']>> {
  const { clock, log, store } = deps;
  const started = clock.now();
  let admin: ConnectionInfo | undefined;
  const scratch = setup.name;
  let restoreSeconds = 0;
  let rowCountMismatches: Mismatch[] = [];
  let objectCountMismatches: Mismatch[] = [];
  const smokeQueries: SmokeQueryResult[] = [];
  let scratchDropped = false;
  let checksDone = started;
  let restoreErrors: string[] | undefined;
  let locale: NonNullable<VerificationRecord['restoreTest']>['locale'] = manifest.locale
    ? { checked: false, expected: manifest.locale, reason: 'the scratch database was not created' }
    : { checked: false, reason: 'the manifest records no encoding and locale (written before pgdr 0.2): not checked, the scratch database gets the restore server default' };
  let roles: RestoreRolePlan | undefined;
  let privilegeMismatches: Mismatch[] = [];
  let unlogged: UnloggedOutcome | undefined;
  // The local copy is not read after pg_restore: removed while the comparison and the drop run
  // (here on every path; verifyBackup removes it only when the restore test never ran).
  let removing: Promise<void> | undefined;
  // Tables counted while pg_restore --jobs still runs (shared/loaded-counts.ts).
  let loadedCounts: LoadedTableCounts | undefined;
  try {
    // The server, the owner session and the scratch database, made while the dump was read.
    await setup.done;
    admin = setup.admin!;
    const actual = setup.actual!;
    locale = manifest.locale ? { checked: true, expected: manifest.locale, actual } : { ...locale, actual };
    roles = await withClient(admin, (client) => prepareRestoreRoles(client, manifest.globals, manifest.privileges));
    for (const name of roles.missing) failures.push(`role ${JSON.stringify(name)} that the dump needs does not exist on the restore server, and ${describe(admin)} cannot create roles`);
    for (const line of roles.notChecked) log.warn('restore test: not checked', { database: manifest.database, notChecked: line });
    if (roles.created.length > 0) log.warn('restore test: created roles on the restore server (cluster-wide, NOLOGIN)', { database: manifest.database, rolesCreated: roles.created });
    log.info('restore test: restoring', { database: manifest.database, scratchDatabase: scratch, server: describe(admin), encoding: actual.encoding, localeChecked: locale.checked, mode: source.mode, jobs: source.jobs, modeReason: source.modeReason });
    const restoreStarted = clock.now();
    if (source.file) {
      loadedCounts = source.jobs > 1 ? new LoadedTableCounts(withDatabase(admin, scratch), 'plain') : undefined;
      const restored = await restoreUnlogged(
        {
          file: source.file,
          jobs: source.jobs,
          pgBin: deps.pgBin,
          admin,
          scratch,
          options: roles,
          addsPublicationTables: source.addsPublicationTables,
          onTableLoaded: loadedCounts?.loaded,
          beforeData: source.offsets ? () => source.offsets!.write() : undefined,
        },
        manifest,
        log,
      );
      unlogged = restored.outcome;
      removing = startRemoving(source.file);
      if (restored.error) throw restored.error;
    } else {
      if (manifest.dump.format === 'directory') throw new Error(`a directory-format dump restores only from its downloaded directory`);
      const body = await store.getStream(manifest.dump.key);
      if (!body) throw new Error(`dump object ${manifest.dump.key} disappeared`);
      await restoreArchive(body, manifest.dump.compression, deps.pgBin, admin, scratch, roles);
      unlogged = { unloggedTables: 0, unloggedReason: 'streamed: one pg_restore reads the dump once, objects and rows together' };
    }
    const early = await loadedCounts?.finish();
    restoreSeconds = seconds(restoreStarted, clock.now());
    if (early) log.info('restore test: restored', { database: manifest.database, scratchDatabase: scratch, ...earlyCountFields(early) });

    await withClient(withDatabase(admin, scratch), async (client) => {
      ({ rows: rowCountMismatches, objects: objectCountMismatches, privileges: privilegeMismatches } = await compareWithManifest(client, manifest, roles, 'plain', early?.counted));
      for (const query of deps.policy.smokeQueries) smokeQueries.push(await runSmokeQuery(client, query, deps.smokeQueryTimeoutSeconds ?? 60));
    });
    checksDone = clock.now();
    for (const m of rowCountMismatches) failures.push(`rows of ${m.what}: manifest ${m.expected ?? 'no such table'}, restored ${m.actual ?? 'no such table'}`);
    for (const m of objectCountMismatches) failures.push(`${m.what}: manifest ${m.expected}, restored ${m.actual}`);
    for (const m of privilegeMismatches) failures.push(`${m.what}: manifest ${m.expected ?? 'none'}, restored ${m.actual ?? 'none'}`);
    for (const q of smokeQueries.filter((s) => !s.ok)) failures.push(smokeFailure(q));
  } catch (err) {
    checksDone = clock.now();
    if (err instanceof LocaleMismatchError) locale = { ...locale, checked: true, reason: err.message };
    if (err instanceof ToolError && err.exit?.errorLines?.length) restoreErrors = [...err.exit.errorLines];
    failures.push(`restore test failed: ${(err as Error).message}`);
  } finally {
    removing ??= startRemoving(source.file, source.offsets);
    // After a failed restore: the count running is cancelled and the session closed before the drop.
    await loadedCounts?.close();
    const released = await setup.release();
    scratchDropped = released.dropped;
    failures.push(...released.failures);
    await removing;
  }
  const { leftovers, ephemeralServer } = setup;
  if (setup.owner?.lostReason) log.warn('the scratch database owner session ended during the restore test', { scratchDatabase: scratch, reason: setup.owner.lostReason });
  return {
    server: deps.restoreServer.kind,
    ...(ephemeralServer ? { ephemeralServer } : {}),
    scratchDatabase: scratch,
    mode: source.mode,
    modeReason: source.modeReason,
    jobs: source.jobs,
    ...(source.downloadSeconds !== undefined ? { downloadSeconds: source.downloadSeconds } : {}),
    restoreSeconds,
    ...unlogged,
    totalSeconds: Math.round(((source.downloadSeconds ?? 0) + seconds(started, checksDone)) * 1000) / 1000,
    rowCountMismatches,
    objectCountMismatches,
    smokeQueries,
    scratchDropped,
    locale,
    ...(leftovers ? { leftovers } : {}),
    ...(restoreErrors ? { restoreErrors } : {}),
    ...(roles
      ? {
          rolesCreated: roles.created,
          rolesMissing: roles.missing,
          ownersChecked: roles.owners,
          privilegesChecked: roles.privileges,
          notChecked: roles.notChecked,
          privilegeMismatches,
        }
      : {}),
  };
}

/**
 * After a failed verification: when `<database>/latest-verified.json` names this very backup
 * (it passed before and fails now: altered or lost object), move the pointer back to the newest
 * other backup whose verification record says ok, or mark it revoked when there is none. Returns
 * what became of the pointer.
 */
async function retreatLatestVerified(store: ObjectStore, failed: VerificationRecord, clock: Clock): Promise<'untouched' | 'retreated' | 'revoked'> {
  const key = latestVerifiedKey(failed.database);
  for (let attempt = 1; attempt <= 5; attempt++) {
    const current = await store.getText(key);
    if (!current) return 'untouched';
    const pointer = parseLatestVerified(current.text, key);
    if (pointer.dumpKey !== failed.dumpKey || pointer.revoked) return 'untouched';
    const previous = await newestOtherVerified(store, failed);
    const next: LatestVerified = previous
      ? pointerTo(previous, keysFromManifestKey(previous.manifestKey).verification)
      : { ...pointer, revoked: { at: clock.now().toISOString(), reason: failed.failures.join('; ') } };
    try {
      await store.putText(key, `${JSON.stringify(next, null, 2)}\n`, current.etag ? { ifMatch: current.etag } : undefined);
      return previous ? 'retreated' : 'revoked';
    } catch (err) {
      if (!(err instanceof PreconditionFailedError)) throw err;
    }
  }
  throw new VerifyError(`could not update ${key}: it kept changing`);
}

/** The newest backup of the database, other than `failed`, whose stored verification record says ok. */
async function newestOtherVerified(store: ObjectStore, failed: VerificationRecord): Promise<VerificationRecord | undefined> {
  const keys = (await manifestKeys(store, failed.database)).filter((k) => k !== failed.manifestKey).reverse();
  for (const manifestKey of keys) {
    const verificationKey = keysFromManifestKey(manifestKey).verification;
    const stored = await store.getText(verificationKey);
    if (!stored) continue;
    const record = parseVerification(stored.text, verificationKey);
    if (record.ok) return record;
  }
  return undefined;
}

function pointerTo(record: VerificationRecord, verificationKey: string): LatestVerified {
  return {
    schemaVersion: LATEST_VERIFIED_SCHEMA_VERSION,
    database: record.database,
    backupClass: record.backupClass,
    dumpKey: record.dumpKey,
    manifestKey: record.manifestKey,
    verificationKey,
    backupStartedAt: record.backupStartedAt,
    verifiedAt: record.verifiedAt,
    level: record.level,
  };
}

/** Moves `<database>/latest-verified.json` to this backup if it is newer; true when it moved. */
async function advanceLatestVerified(store: ObjectStore, record: VerificationRecord, verificationKey: string): Promise<boolean> {
  const key = latestVerifiedKey(record.database);
  const next = pointerTo(record, verificationKey);
  for (let attempt = 1; attempt <= 5; attempt++) {
    const current = await store.getText(key);
    if (current) {
      const pointer = parseLatestVerified(current.text, key);
      if (!pointer.revoked && Date.parse(pointer.backupStartedAt) >= Date.parse(record.backupStartedAt)) return false;
    }
    try {
      await store.putText(key, `${JSON.stringify(next, null, 2)}\n`, current?.etag ? { ifMatch: current.etag } : { ifNoneMatch: true });
      return true;
    } catch (err) {
      if (!(err instanceof PreconditionFailedError)) throw err;
    }
  }
  throw new VerifyError(`could not update ${key}: it kept changing`);
}
