/**
 * The restore test's first steps, which need nothing from the dump and so run while it downloads:
 * the restore server (an ephemeral one is started), the owner session of the scratch database, the
 * leftovers of dead runs dropped, and the scratch database created with the source's encoding and
 * locale (scratch.ts). verifyBackup starts them beside the integrity check; the restore test awaits
 * them. On the bench database they took 0.34 s between "integrity checked" and "restore test:
 * restoring" when they ran after the download.
 *
 * The roles the dump needs are NOT made here: they are cluster-wide and stay on the restore server,
 * so they wait until the integrity check has passed. A scratch database made for a restore test that
 * then does not run (integrity failure, Ctrl-C) is dropped by `release`, and an ephemeral server
 * stopped, as after a restore test.
 */
import type { ConnectionInfo } from '../shared/connection';
import { describe } from '../shared/connection';
import type { EphemeralServer } from '../shared/ephemeral-server';
import { Clock, LogPort, seconds } from '../shared/ports';
import type { BackupManifest, DatabaseLocale, VerificationRecord } from '../shared/records';
import { onThisMachine } from '../shared/restore-mode';
import { LeftoverReport, scratchDatabaseName, ScratchOwner } from './scratch';

/**
 * Where restore tests restore: an existing server (`source`, `verify`: the login needs CREATEDB,
 * and CREATEROLE for the roles the dump needs), or `ephemeral`: `start()` brings up a throw-away
 * superuser server (shared/ephemeral-server.ts) for each restore test, which stops it afterwards.
 */
export type RestoreServer =
  | { readonly kind: 'source' | 'verify'; readonly connection: ConnectionInfo }
  | { readonly kind: 'ephemeral'; start(): Promise<EphemeralServer> };

/**
 * Whether the restore test's index builds go without parallel workers (scratch.ts `create`): on the
 * source server, where each worker would come from the pool its applications' queries share
 * (max_parallel_workers), and on a server on this machine (an ephemeral one, or a loopback
 * connection), whose cores pg_restore's jobs already fill (restore-mode.ts `localRestoreJobs`: one
 * job more than the cores), so a worker adds a process and its memory but no core. A verification
 * server elsewhere keeps its own setting: its cores may be idle beside pg_restore's jobs.
 * Measured (raw `pg_restore -j 3` of the bench's 1.2 GB archive into a database on this 2-core
 * machine, 4 interleaved pairs, with and without the setting): 10.70 / 11.10 / 14.65 / 12.06 s
 * against 11.49 / 11.57 / 15.06 / 15.23 s, 20.3-28.1 against 21.8-29.4 CPU-s of the machine.
 */
export function serialIndexBuilds(server: RestoreServer): boolean {
  return server.kind === 'source' || onThisMachine(server);
}

type EphemeralInfo = NonNullable<NonNullable<VerificationRecord['restoreTest']>['ephemeralServer']>;

/** The steps as they went: each field is set once its step is done, so a failure leaves what to clean up. */
export class ScratchSetup {
  admin?: ConnectionInfo;
  ephemeral?: EphemeralServer;
  ephemeralServer?: EphemeralInfo;
  owner?: ScratchOwner;
  leftovers?: LeftoverReport;
  /** The scratch database's encoding and locale as created. */
  actual?: DatabaseLocale;
  /** Settles when every step is done; rejects with the first step's error. */
  readonly done: Promise<void>;

  private constructor(
    readonly name: string,
    server: RestoreServer,
    manifest: BackupManifest,
    clock: Clock,
    log: LogPort,
  ) {
    this.done = this.run(server, manifest, clock, log);
    this.done.catch(() => undefined);
  }

  /** Starts the steps for a restore test of `manifest`'s dump. */
  static start(server: RestoreServer, manifest: BackupManifest, clock: Clock, log: LogPort): ScratchSetup {
    return new ScratchSetup(scratchDatabaseName(manifest.database, clock.now()), server, manifest, clock, log);
  }

  private async run(server: RestoreServer, manifest: BackupManifest, clock: Clock, log: LogPort): Promise<void> {
    if (server.kind === 'ephemeral') {
      const before = clock.now();
      const ephemeral = await server.start();
      this.ephemeral = ephemeral;
      this.ephemeralServer = { version: ephemeral.version, startSeconds: seconds(before, clock.now()) };
      log.info('restore test: ephemeral server started', { database: manifest.database, server: describe(ephemeral.connection), version: ephemeral.version, startSeconds: this.ephemeralServer.startSeconds });
      // pg_restore into an older server fails on newer syntax.
      const sourceMajor = Math.floor(manifest.server.versionNum / 10000);
      if (Math.floor(ephemeral.versionNum / 10000) < sourceMajor) {
        throw new Error(`the ephemeral server is PostgreSQL ${ephemeral.version}, older than the source's ${manifest.server.version}: set PGDR_PG_SERVER_BIN to a server of major ${sourceMajor} or newer`);
      }
      this.admin = ephemeral.connection;
    } else {
      this.admin = server.connection;
    }
    // The owner session holds the scratch database's lock until the end of the test (scratch.ts).
    this.owner = await ScratchOwner.open(this.admin, this.name);
    this.leftovers = await this.owner.dropDeadLeftovers(log);
    this.actual = await this.owner.create(manifest.locale, { serialIndexBuilds: serialIndexBuilds(server) });
  }

  /**
   * Drops the scratch database (when created) and stops the ephemeral server (when started), once
   * the steps have settled. Returns whether the database was dropped and what failed, as lines.
   */
  async release(): Promise<{ readonly dropped: boolean; readonly failures: string[] }> {
    await this.done.catch(() => undefined);
    const failures: string[] = [];
    let dropped = false;
    try {
      dropped = (await this.owner?.dropAndClose()) ?? false;
    } catch (err) {
      failures.push(`dropping the scratch database ${this.name} failed: ${(err as Error).message} (the next run drops it)`);
    }
    try {
      await this.ephemeral?.stop();
    } catch (err) {
      failures.push(`stopping the ephemeral server failed: ${(err as Error).message}`);
    }
    return { dropped, failures };
  }
}
