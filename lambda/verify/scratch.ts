/**
 * The restore test's scratch database: its name, its creation with a marker, the source's encoding
 * and locale and a live owner, its drop, and the cleanup of scratch databases whose run died.
 *
 * Only what pgdr provably created is ever dropped. A scratch database is pgdr's when BOTH
 *   - its name is exactly `pgdr_verify_<db>_<epoch seconds>_<6 hex>`, and
 *   - its comment is exactly the marker pgdr sets right after creating it (`scratchMarker(name)`,
 *     which names the database itself, so a copy or a rename does not carry a valid marker).
 * Anything else (`pgdr_verify_shop_manual_copy`, a forged name without the marker) is never touched.
 *
 * Owner liveness, not age: the creating run opens an owner session, takes a session-level advisory
 * lock keyed from the scratch name BEFORE `CREATE DATABASE`, and keeps that session open for the
 * whole restore test. The lock goes away exactly when that session ends (the run finished, was
 * killed, or lost its connection). A later run drops a marked scratch database only when no session
 * on the server holds its lock (it takes the lock itself, and pg_locks shows no holder in another
 * database: advisory locks are per database), so a leftover is dropped by the very next run and a
 * run in progress is never disturbed. The owner session asks the server for TCP keepalives, so a
 * run whose host vanished without closing its socket is detected within about a minute.
 *
 * The window between CREATE DATABASE and COMMENT (one round trip on the owner session; PostgreSQL
 * cannot do both in one transaction): when the run dies exactly there, the database carries no
 * marker, so it is NOT dropped automatically; every run reports it (log + record, `unmarked`) for a
 * person to drop. A run that is alive and fails to set the marker drops the database itself.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Client } from 'pg';
import { ConnectionInfo } from '../shared/connection';
import { createDatabaseWithLocale, expectDatabaseLocale, serverVersionNum } from '../shared/locale';
import { connectClient, quoteIdent, quoteLiteral } from '../shared/pg-client';
import type { LogPort } from '../shared/ports';
import type { DatabaseLocale } from '../shared/records';

export const SCRATCH_PREFIX = 'pgdr_verify_';
/** Exactly the names scratchDatabaseName() makes. */
export const SCRATCH_NAME = /^pgdr_verify_[a-z][a-z0-9_]{1,31}_\d{10}_[0-9a-f]{6}$/;

/** `pgdr_verify_<db>_<epoch seconds>_<6 hex>` (at most 62 characters for a 32-character name). */
export function scratchDatabaseName(database: string, at: Date): string {
  return `${SCRATCH_PREFIX}${database.replace(/-/g, '_')}_${Math.floor(at.getTime() / 1000)}_${randomBytes(3).toString('hex')}`;
}

/** The comment pgdr sets on a scratch database it created (the proof it is pgdr's). */
export function scratchMarker(name: string): string {
  return `pgdr scratch database ${name}: created by a pgdr restore test, dropped by it or, once its run is gone, by the next one`;
}

/** The two int4 keys of the owner's advisory lock (pg_locks: classid, objid, objsubid 2). */
export function ownerLockKeys(name: string): [number, number] {
  const digest = createHash('sha256').update(`pgdr scratch ${name}`).digest();
  return [digest.readUInt32BE(0) & 0x7fffffff, digest.readUInt32BE(4) & 0x7fffffff];
}

/** What a cleanup found among the databases named like scratch databases. */
export interface LeftoverReport {
  /** Marked scratch databases whose run is gone: dropped. */
  readonly dropped: string[];
  /** Marked scratch databases of runs still in progress (owner lock held): left alone. */
  readonly inUse: string[];
  /** Exact scratch names without pgdr's marker (a person's, or a run killed between CREATE and COMMENT): left alone. */
  readonly unmarked: string[];
}

/**
 * The owner session of one restore test's scratch database on the restore server. Open it, clean
 * up leftovers, create the scratch database, keep the session open while restoring and checking,
 * then drop and close.
 */
export class ScratchOwner {
  /** Set when the owner session ended early: the lock is gone, another run may drop the database. */
  lostReason?: string;
  private created = false;
  private closing = false;

  private constructor(
    private readonly admin: ConnectionInfo,
    private readonly client: Client,
    readonly versionNum: number,
    readonly name: string,
  ) {
    const lost = (reason: string) => {
      if (!this.closing) this.lostReason ??= reason;
    };
    client.on('error', (err) => lost(err.message));
    client.on('end', () => lost('the session ended'));
  }

  /** Connects the owner session of the scratch database `name` (see scratchDatabaseName). */
  static async open(admin: ConnectionInfo, name: string): Promise<ScratchOwner> {
    const client = await connectClient(admin);
    try {
      const versionNum = await serverVersionNum(client);
      // The session must outlive the restore: no server-side timeout may end it, and the server
      // notices a vanished client (no FIN) by keepalives instead of hours later.
      await client.query(
        `SELECT set_config('statement_timeout', '0', false), set_config('lock_timeout', '0', false),
                set_config('idle_in_transaction_session_timeout', '0', false),
                set_config('tcp_keepalives_idle', '30', false), set_config('tcp_keepalives_interval', '10', false),
                set_config('tcp_keepalives_count', '3', false)` +
          (versionNum >= 140000 ? `, set_config('idle_session_timeout', '0', false)` : '') +
          (versionNum >= 160000 ? `, set_config('icu_validation_level', 'error', false)` : ''),
      );
      return new ScratchOwner(admin, client, versionNum, name);
    } catch (err) {
      await client.end().catch(() => undefined);
      throw err;
    }
  }

  /**
   * Drops marked scratch databases whose owner session is gone; leaves runs in progress and
   * anything unmarked alone. Logs each database it drops or keeps.
   */
  async dropDeadLeftovers(log: LogPort): Promise<LeftoverReport> {
    const report: LeftoverReport = { dropped: [], inUse: [], unmarked: [] };
    const { rows } = await this.client.query<{ datname: string; marker: string | null }>(
      `SELECT datname, shobj_description(oid, 'pg_database') AS marker FROM pg_database WHERE datname LIKE 'pgdr\\_verify\\_%' ORDER BY datname`,
    );
    for (const { datname, marker } of rows) {
      if (!SCRATCH_NAME.test(datname) || datname === this.name) continue;
      if (marker !== scratchMarker(datname)) {
        report.unmarked.push(datname);
        log.warn('a database named like a scratch database has no pgdr marker: not dropped (drop it by hand if it is a leftover)', { database: datname });
        continue;
      }
      if (await this.ownerAlive(datname)) {
        report.inUse.push(datname);
        log.info('scratch database of a run in progress left alone', { scratchDatabase: datname });
        continue;
      }
      try {
        await this.client.query(`DROP DATABASE IF EXISTS ${quoteIdent(datname)} WITH (FORCE)`);
        report.dropped.push(datname);
        log.warn('dropped a scratch database whose run is gone', { scratchDatabase: datname });
      } catch (err) {
        log.warn('could not drop a scratch database whose run is gone', { scratchDatabase: datname, error: (err as Error).message });
      } finally {
        await this.client.query('SELECT pg_advisory_unlock($1, $2)', ownerLockKeys(datname));
      }
    }
    return report;
  }

  /** True when another session holds `name`'s owner lock; when false, this session holds it. */
  private async ownerAlive(name: string): Promise<boolean> {
    const keys = ownerLockKeys(name);
    const { rows } = await this.client.query<{ got: boolean }>('SELECT pg_try_advisory_lock($1, $2) AS got', keys);
    if (!rows[0].got) return true;
    const elsewhere = await this.client.query<{ held: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND classid = $1::int::oid AND objid = $2::int::oid
                        AND objsubid = 2 AND granted AND pid <> pg_backend_pid()) AS held`,
      keys,
    );
    if (!elsewhere.rows[0].held) return false;
    await this.client.query('SELECT pg_advisory_unlock($1, $2)', keys);
    return true;
  }

  /**
   * Takes the owner lock, creates the scratch database (with the source's encoding and locale
   * when known) and marks it. Returns the scratch database's locale as created. A locale the
   * server cannot reproduce is a LocaleMismatchError naming what did not match.
   *
   * With `serialIndexBuilds`, every later session in the scratch database (pg_restore's) builds
   * its indexes without parallel workers (`ALTER DATABASE ... SET max_parallel_maintenance_workers
   * = 0`; a setting of the database, not of the startup packet, which connection poolers refuse):
   * see `serialIndexBuilds` in setup.ts for when.
   */
  async create(locale: DatabaseLocale | undefined, options: { readonly serialIndexBuilds?: boolean } = {}): Promise<DatabaseLocale> {
    const keys = ownerLockKeys(this.name);
    const { rows } = await this.client.query<{ got: boolean }>('SELECT pg_try_advisory_lock($1, $2) AS got', keys);
    if (!rows[0].got) throw new Error(`cannot take the owner lock of scratch database ${this.name}: another session holds it`);
    await createDatabaseWithLocale(this.client, this.versionNum, this.name, locale, 'the restore server');
    this.created = true;
    await this.client.query(`COMMENT ON DATABASE ${quoteIdent(this.name)} IS ${quoteLiteral(scratchMarker(this.name))}`);
    if (options.serialIndexBuilds) await this.client.query(`ALTER DATABASE ${quoteIdent(this.name)} SET max_parallel_maintenance_workers = 0`);
    const actual = await expectDatabaseLocale(this.client, this.versionNum, this.name, locale, 'the restore server');
    return actual;
  }

  /** Drops the scratch database (if this owner created it) and closes the owner session. True when dropped. */
  async dropAndClose(): Promise<boolean> {
    try {
      if (!this.created) return false;
      const drop = `DROP DATABASE IF EXISTS ${quoteIdent(this.name)} WITH (FORCE)`;
      if (this.lostReason) {
        const client = await connectClient(this.admin);
        await client.query(drop).finally(() => client.end().catch(() => undefined));
      } else {
        await this.client.query(drop);
      }
      return true;
    } finally {
      this.closing = true;
      await this.client.end().catch(() => undefined);
    }
  }
}
