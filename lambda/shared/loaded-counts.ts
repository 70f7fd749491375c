/**
 * Counts a restored table's rows as soon as pg_restore has loaded them, while the restore goes on
 * with the other tables and with the indexes and constraints (the restore test, the failover's
 * restore job). Counting after the restore read every table again with one session while the
 * restore server's other cores idled: on the bench's 1.2 GB database, 0.66-0.8 s of one core after
 * a restore that keeps both cores busy. Counted during it, the same work fills the cores the
 * restore is already using: by hand, restore then counts 12.44-12.52 s against 12.06-12.60 s with
 * each table counted when pg_restore reported it loaded (3 interleaved pairs, `pg_restore -j 3`).
 *
 * Only what cannot change any more is counted early: a table whose data item pg_restore reported
 * finished (it is committed; the post-data section adds indexes, constraints, triggers and grants,
 * never rows), that holds no other table's rows (no inheritance parent, child or partition: a
 * parent's count includes its children's, and a partition's rows may be loaded through its root),
 * and whose name no other table shares (pg_restore names a table without its schema). The rest
 * is counted after the restore, as before (catalog.ts `rowCounts(..., counted)`).
 *
 * One session of its own, opened at the first loaded table: one table per transaction, whose lock
 * is taken with NOWAIT (catalog.ts `countIfUnlocked`): a count never waits for a lock, so it never
 * holds up the counts queued behind it and can take part in no deadlock. A table pg_restore holds
 * at that moment (its ALTER TABLE ... ADD PRIMARY KEY holds AccessExclusive while the index is
 * built: ~4 s for the bench's 4 M-row pgbench_accounts, where the queue used to wait) is left to
 * the count after the restore. pg_restore's own lock requests may still wait for a running count
 * (the ALTER that arrives during the count of its table). A failure stops the early counts and
 * leaves every table not counted to the count after the restore; so does the end of pg_restore
 * for the counts still queued then (`finish`).
 */
import type { Client } from 'pg';
import { Counting, countIfUnlocked, STANDALONE_TABLES_SQL } from './catalog';
import type { ConnectionInfo } from './connection';
import { connectClient } from './pg-client';

/** What `finish` returns: the rows counted (by `schema.table`), how many tables pg_restore held when their turn came, why counting stopped early. */
export interface EarlyCounts {
  readonly counted: Record<string, number>;
  readonly locked: number;
  readonly failure?: string;
}

export class LoadedTableCounts {
  private readonly counts: Record<string, number> = {};
  private client?: Promise<Client>;
  /** pg_restore's table name (relname) → `schema.table`, for the names that belong to one standalone table. */
  private names?: Promise<Map<string, string>>;
  private queue: Promise<void> = Promise.resolve();
  private stopped = false;
  /** A count is running (stop cancels it). */
  private busy = false;
  private failure?: string;
  /** Tables left to the count after the restore because pg_restore held their lock when their turn came. */
  private locked = 0;

  /** `connection`: the database being restored into. `counting` as catalog.ts's rowCounts. */
  constructor(
    private readonly connection: ConnectionInfo,
    private readonly counting: Counting,
  ) {}

  /** For startRestoreFile's onTableLoaded: counts `tag`'s table once the counts queued before it are done. */
  readonly loaded = (tag: string): void => {
    if (this.stopped) return;
    this.queue = this.queue.then(() => this.count(tag));
  };

  private async count(tag: string): Promise<void> {
    if (this.stopped) return;
    try {
      const client = await (this.client ??= connectClient(this.connection));
      const names = await (this.names ??= standaloneNames(client));
      const name = names.get(tag);
      if (name === undefined || this.stopped) return;
      this.busy = true;
      const rows = await countIfUnlocked(client, name, this.counting);
      if (rows === undefined) this.locked += 1;
      else this.counts[name] = rows;
    } catch (err) {
      this.stopped = true;
      this.failure = (err as Error).message;
    } finally {
      this.busy = false;
    }
  }

  /**
   * Stops counting (after the restore failed): nothing more is counted, and the count running, if
   * any, is cancelled. `finish` still closes the session.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    const client = this.busy ? await this.client?.catch(() => undefined) : undefined;
    // node-postgres keeps the backend's pid from the server's BackendKeyData (not in its typings).
    const pid = (client as { processID?: number } | undefined)?.processID;
    if (!pid) return;
    // The server's cancel request for this session's backend (the same login may cancel its own).
    await connectClient(this.connection)
      .then((other) => other.query('SELECT pg_cancel_backend($1)', [pid]).finally(() => other.end().catch(() => undefined)))
      .catch(() => undefined);
  }

  /** On every path out of a restore: `stop`, then `finish` (a second `finish` after one answers the same). */
  async close(): Promise<void> {
    await this.stop();
    await this.finish();
  }

  /** Settles once every count queued so far has ended. */
  async idle(): Promise<void> {
    let queue: Promise<void>;
    do {
      queue = this.queue;
      await queue;
    } while (queue !== this.queue);
  }

  /**
   * After pg_restore exited: waits for the count running, if any, closes the session, and returns
   * the rows counted (by `schema.table`), how many tables were left because pg_restore held them,
   * and why counting stopped early, if it did. Counts still
   * queued are not started: the count after the restore takes those tables, many to a statement
   * (with thousands of small tables the queue of one-table counts can lag behind pg_restore, and
   * draining it one table per transaction would then cost more than that count).
   */
  async finish(): Promise<EarlyCounts> {
    this.stopped = true;
    await this.queue;
    const client = await this.client?.catch(() => undefined);
    await client?.end().catch(() => undefined);
    return { counted: { ...this.counts }, locked: this.locked, ...(this.failure ? { failure: this.failure } : {}) };
  }
}

/** The log fields of `finish`'s result: how many tables were counted while pg_restore ran, left for being locked, and why counting stopped. */
export function earlyCountFields(early: EarlyCounts): Record<string, number | string> {
  return {
    tablesCountedWhileRestoring: Object.keys(early.counted).length,
    tablesLockedByRestore: early.locked,
    ...(early.failure ? { countingStopped: early.failure } : {}),
  };
}

/**
 * STANDALONE_TABLES_SQL's standalone tables by the name pg_restore gives them, leaving out every
 * name that another relation shares, or that a name's first line is (pg_restore's message for a
 * table whose name holds a line break reads, on its first line, as if it named that first line).
 */
async function standaloneNames(client: Client): Promise<Map<string, string>> {
  const { rows } = await client.query<{ name: string; relname: string; standalone: boolean }>(STANDALONE_TABLES_SQL);
  const seen = new Set<string>();
  const shared = new Set<string>();
  for (const { relname } of rows) {
    for (const key of new Set([relname, relname.split('\n')[0]])) (seen.has(key) ? shared : seen).add(key);
  }
  return new Map(rows.filter((r) => r.standalone && !shared.has(r.relname) && !r.relname.includes('\n')).map((r) => [r.relname, r.name]));
}
