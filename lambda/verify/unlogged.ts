/**
 * The restore test's parallel restore without WAL for its rows.
 *
 * The scratch database is thrown away after the test, yet a plain restore logs every row it loads
 * and every index it builds in the restore server's write-ahead log: on the default restore server,
 * the source, about the size of the database each time (1,040 MB for the bench's 1.2 GB
 * database), which its standbys replay, its WAL archive keeps for point-in-time recovery, and
 * whose volume forces checkpoints on the production server. Here the archive's objects are
 * restored first (`--section=pre-data`: tables without their data, indexes or constraints), every
 * user table is made UNLOGGED while still empty (cheap: nothing to rewrite), then the data and what
 * is built on it are restored (`--section=data --section=post-data`, `--jobs N`): the same rows,
 * indexes, constraints, triggers, owners and grants, checked the same way, and 148 kB of WAL instead
 * of 1,040 MB. It is all or nothing, because a logged table cannot have a foreign key to an
 * unlogged one (which the post-data section would add), and nothing is made unlogged when:
 *   - the archive puts tables into publications (`ALTER PUBLICATION ... ADD TABLE` refuses an
 *     unlogged table);
 *   - the login lacks the privileges of a table's owner (ALTER TABLE needs them);
 *   - the tables are too small for it to pay (below UNLOGGED_MIN_BYTES_PER_TABLE of archive per
 *     table on average): one restore of all sections runs, as before.
 * Only the restore test does this: the failover restore builds the database traffic moves to.
 */
import type { ClientBase } from 'pg';
import { ArchiveSection, RestoreOptions, startRestoreFile, TableLoaded } from '../shared/archive';
import { loggedTables } from '../shared/catalog';
import { ConnectionInfo, withDatabase } from '../shared/connection';
import { withClient } from '../shared/pg-client';
import { joinExits, toolError, ToolError, ToolExit } from '../shared/pg-process';
import type { LogPort } from '../shared/ports';
import type { BackupManifest } from '../shared/records';

/**
 * Archive bytes per table (on average) from which making the tables unlogged pays for its ALTER
 * TABLEs: each costs ~1.5 ms here (an empty table and its TOAST table rewritten), while the WAL
 * saved cost ~1 ms of wall time per MiB loaded on a server without fsync or full-page writes (more
 * on a durable one).
 */
export const UNLOGGED_MIN_BYTES_PER_TABLE = 1024 * 1024;

/** How the restore test's tables were loaded: how many were made unlogged first, and why none were when none. */
export interface UnloggedOutcome {
  readonly unloggedTables: number;
  readonly unloggedReason?: string;
}

/** The restore test's archive and where it goes. */
export interface ScratchRestore {
  /** The archive file (or a directory-format dump's directory) and pg_restore's --jobs. */
  readonly file: string;
  readonly jobs: number;
  readonly pgBin: string;
  readonly admin: ConnectionInfo;
  readonly scratch: string;
  readonly options: RestoreOptions;
  /** What the integrity check's `pg_restore --list` said (shared/archive.ts); undefined when it did not list the archive. */
  readonly addsPublicationTables: boolean | undefined;
  /** Told of each table whose rows are loaded (shared/archive.ts startRestoreFile). */
  readonly onTableLoaded?: TableLoaded;
  /** Awaited before pg_restore reads any table's data: the data offsets' write (shared/restore-mode.ts DataOffsets), which the objects' restore does not need. */
  readonly beforeData?: () => Promise<unknown>;
}

/**
 * `pg_restore --jobs N` of the archive into the scratch database, its tables made unlogged before
 * their rows are loaded when it can (see above). pg_restore's failure comes back as `error` (after
 * both steps ran, as one pg_restore goes on past errors, with both steps' error lines) beside the
 * outcome; anything else rejects.
 */
export async function restoreUnlogged(restore: ScratchRestore, manifest: BackupManifest, log: LogPort): Promise<{ readonly outcome: UnloggedOutcome; readonly error?: ToolError }> {
  const { jobs, admin, scratch } = restore;
  const whole = async (reason: string) => {
    await restore.beforeData?.();
    return restored({ unloggedTables: 0, unloggedReason: reason }, await restoreStep(restore, jobs));
  };
  const tables = Object.keys(manifest.rowCounts).length;
  const bytes = manifest.dump.uncompressedBytes ?? manifest.dump.bytes;
  if (tables === 0) return whole('no tables');
  if (bytes < tables * UNLOGGED_MIN_BYTES_PER_TABLE) {
    return whole(`${tables} tables in a ${bytes}-byte archive, less than ${UNLOGGED_MIN_BYTES_PER_TABLE} bytes a table: making them unlogged would cost more than the WAL it saves`);
  }
  if (restore.addsPublicationTables !== false) {
    return whole(restore.addsPublicationTables ? 'the archive adds tables to publications, which refuse unlogged tables' : "the archive's table of contents was not listed: restored as it is");
  }

  // A pg_restore that reports errors goes on with the rest and exits 1 at the end: so does this
  // one of two steps, its tables left logged, and the error names both steps' error lines.
  const objects = await restoreStep(restore, 1, ['pre-data']);
  const outcome = objects
    ? { unloggedTables: 0, unloggedReason: 'restoring the objects (pre-data) reported errors: all tables stay logged' }
    : await withClient(withDatabase(admin, scratch), (client) => makeUnlogged(client, log, scratch));
  await restore.beforeData?.();
  const rest = await restoreStep(restore, jobs, ['data', 'post-data']);
  return restored(outcome, objects && rest ? joinExits(objects, rest) : (objects ?? rest));
}

/** restoreUnlogged's answer: the outcome, and pg_restore's failure when it `failed`. */
function restored(outcome: UnloggedOutcome, failed: ToolExit | undefined): { readonly outcome: UnloggedOutcome; readonly error?: ToolError } {
  return failed ? { outcome, error: toolError('pg_restore', failed) } : { outcome };
}

/** One pg_restore of `sections` (all when none): nothing when it succeeded, its exit when it reported errors and went on past them (code 1); any other end rejects. */
async function restoreStep(r: ScratchRestore, jobs: number, sections?: readonly ArchiveSection[]): Promise<ToolExit | undefined> {
  const exit = await startRestoreFile(r.file, jobs, r.pgBin, r.admin, r.scratch, r.options, sections, r.onTableLoaded).exited;
  if (exit.code === 0) return undefined;
  if (exit.code === 1) return exit;
  throw toolError('pg_restore', exit);
}

/** ALTER TABLE ... SET UNLOGGED on every permanent user table of the scratch database, or on none (set back to logged after a failure). */
async function makeUnlogged(client: ClientBase, log: LogPort, scratch: string): Promise<UnloggedOutcome> {
  const tables = await loggedTables(client);
  if (tables.length === 0) return { unloggedTables: 0, unloggedReason: 'no permanent tables' };
  const foreign = tables.find((t) => !t.alterable);
  if (foreign) return { unloggedTables: 0, unloggedReason: `the login does not have the privileges of the owner of ${foreign.name}, which ALTER TABLE needs: all tables stay logged` };
  const altered: string[] = [];
  for (const { name } of tables) {
    try {
      // Names come from format('%I.%I'): already safely quoted identifiers.
      await client.query(`ALTER TABLE ${name} SET UNLOGGED`);
      altered.push(name);
    } catch (err) {
      const reason = `ALTER TABLE ${name} SET UNLOGGED failed (${(err as Error).message}): all tables stay logged`;
      log.warn('restore test: tables stay logged', { scratchDatabase: scratch, reason });
      // Still empty: setting them back costs as little as setting them unlogged did.
      for (const back of altered) await client.query(`ALTER TABLE ${back} SET LOGGED`);
      return { unloggedTables: 0, unloggedReason: reason };
    }
  }
  return { unloggedTables: altered.length };
}
