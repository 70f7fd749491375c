/** What both benchmark sections share: the throw-away cluster, s3rver, the bundled dump child. */
import { spawnSync } from 'node:child_process';
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { PgCluster, PG_BIN } from '../local/pg-cluster';
import type { TestS3 } from '../test/support/s3-server';
import { LOCAL_S3_CREDENTIALS } from '../cli/local-s3';
import { connectionFromUrl, libpqEnv } from '../lambda/shared/connection';
import type { CompressionSetting } from '../lambda/shared/compression';
import { runDumpInChild } from './child-runner';
import type { Cleanups } from './processes';
import type { ChildReport } from './dump-child';

export const MIB = 1024 * 1024;

export interface Bench {
  readonly pg: PgCluster;
  readonly s3: TestS3;
  readonly bundle: string;
  readonly cleanups: Cleanups;
  readonly verbose: boolean;
}

export type DumpReport = Extract<ChildReport, { ok: true }>;

/** libpq environment for the bench cluster's database `db` (for pg_dump run by the benchmark itself). */
export function pgEnv(bench: Bench, db: string): NodeJS.ProcessEnv {
  return { ...process.env, ...libpqEnv(connectionFromUrl(bench.pg.url(db))), PGSSLMODE: 'disable' };
}

/** Runs the real dump job of database `db` in a child process; removes what it stored afterwards. */
export async function dumpInChild(bench: Bench, db: string, compression: CompressionSetting, kind: 'pgdr' | 'pdl' = 'pgdr'): Promise<DumpReport> {
  const report = await runDumpInChild(
    bench.bundle,
    {
      kind,
      url: bench.pg.url(db),
      pgBin: PG_BIN,
      compression,
      endpoint: bench.s3.endpoint,
      bucket: bench.s3.bucket,
      credentials: LOCAL_S3_CREDENTIALS,
      database: db,
      backupClass: 'bench',
      sampleMs: 50,
      deadline: new Date(Date.now() + 15 * 60_000).toISOString(),
    },
    bench.cleanups,
    { timeoutMs: 16 * 60_000, verbose: bench.verbose },
  );
  for (const key of await bench.s3.keys(`${db}/`)) await bench.s3.client.send(new DeleteObjectCommand({ Bucket: bench.s3.bucket, Key: key }));
  return report;
}

/** Size of `pg_dump -Fc -Z0` of `db`, in bytes. */
export function rawDumpBytes(bench: Bench, db: string): number {
  const run = spawnSync('bash', ['-c', `set -o pipefail; '${PG_BIN}/pg_dump' --format=custom --compress=0 --no-password | wc -c`], { env: pgEnv(bench, db), encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`pg_dump -Z0 of ${db} failed: ${run.stderr}`);
  return Number(run.stdout.trim());
}

/**
 * Creates `tables` tables t1..tN of `sizeMiB / tables` MiB each (~1 KiB md5 text rows) with an
 * index on the text, in database `db`: parallel restores (and dumps) work table by table, so one
 * big table would gain nothing from --jobs.
 */
export async function fillTables(bench: Bench, db: string, sizeMiB: number, tables: number): Promise<void> {
  const rowsPerTable = Math.max(1, Math.round((sizeMiB * MIB) / tables / 1000));
  for (let t = 1; t <= tables; t++) {
    await bench.pg.sql(db, `CREATE TABLE t${t} (id bigint PRIMARY KEY, body text)`);
    await bench.pg.sql(db, `INSERT INTO t${t} SELECT i, (SELECT string_agg(md5(random()::text || i || j), ' ') FROM generate_series(1, 30) j) FROM generate_series(1, ${rowsPerTable}) i`);
    await bench.pg.sql(db, `CREATE INDEX ON t${t} (body)`);
  }
  await bench.pg.sql(db, 'VACUUM ANALYZE');
}

/** Appends rows `from`..`to` of ~1 KiB random md5 hex text (compresses about 2:1), in two parallel INSERTs. */
export async function fillEvents(bench: Bench, db: string, from: number, to: number): Promise<void> {
  if (to < from) return;
  const mid = Math.floor((from + to) / 2);
  const insert = (a: number, b: number) =>
    bench.pg.sql(db, `INSERT INTO events SELECT i, (SELECT string_agg(md5(random()::text || i || j), ' ') FROM generate_series(1, 30) j) FROM generate_series(${a}, ${b}) i`);
  await Promise.all([insert(from, mid), insert(mid + 1, to)]);
  await bench.pg.sql(db, 'VACUUM ANALYZE events');
  // Flush the freshly written table now, so the measurement does not compete with the checkpointer.
  await bench.pg.sql(db, 'CHECKPOINT');
  spawnSync('sync');
}
