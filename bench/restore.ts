/**
 * Restore section (issue 6): the failover's restore job (lambda/restore/core.ts) on the same
 * verified dump, streamed (one pg_restore reading stdin) and from a file with `pg_restore
 * --jobs 2` (download + decompress + SHA-256 check first, then the parallel restore). The source
 * has four tables of `sizeMiB / 4` MiB each with an index, because --jobs restores (and indexes)
 * different tables in parallel: one big table would gain nothing. Source and targets are
 * databases of the bench cluster, so the figures compare the two modes on this machine; on RDS
 * the network and the instance's disks decide.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { cpus } from 'node:os';
import { PG_BIN } from '../local/pg-cluster';
import { runDump } from '../lambda/dump/core';
import { runVerify } from '../lambda/verify/core';
import { runRestore, RestoreResult } from '../lambda/restore/core';
import { connectionFromUrl } from '../lambda/shared/connection';
import { emfMetrics } from '../lambda/shared/metrics';
import { S3ObjectStore } from '../lambda/shared/s3-store';
import { silentLog, systemClock } from '../lambda/shared/ports';
import { keysFromDumpKey } from '../lambda/shared/layout';
import { Bench, fillTables, MIB } from './context';

const TABLES = 4;

export async function restoreSection(bench: Bench, sizeMiB: number): Promise<string> {
  const db = 'restorebench';
  await bench.pg.createDatabase(db);
  await fillTables(bench, db, sizeMiB, TABLES);
  const store = new S3ObjectStore(bench.s3.client, bench.s3.bucket, { partSize: 8 * MIB });
  const connection = connectionFromUrl(bench.pg.url(db));
  const nullOut = new Writable({ write: (_c, _e, cb) => cb() });
  const manifest = await runDump(
    { store, connection, pgBin: PG_BIN, compression: 'auto', metrics: emfMetrics(db, 'bench', nullOut), log: silentLog, clock: systemClock },
    { database: db, backupClass: 'bench' },
  );
  const verified = await runVerify(
    { store, restoreServer: { connection, kind: 'source' }, pgBin: PG_BIN, policy: { restoreTestEveryNth: 0, smokeQueries: [] }, metrics: (d, c) => emfMetrics(d, c, nullOut), log: silentLog, clock: systemClock },
    { database: db, manifestKey: keysFromDumpKey(manifest.dump.key).manifest, restoreTest: false },
  );
  if (!verified.ok) throw new Error(`the bench dump failed verification: ${verified.failures.join('; ')}`);

  const workDir = mkdtempSync(join(tmpdir(), 'pgdr-bench-restore-'));
  bench.cleanups.add('restore work directory', () => rmSync(workDir, { recursive: true, force: true }));
  const target = connectionFromUrl(bench.pg.url('postgres'));
  const results: RestoreResult[] = [];
  for (const [name, mode] of [
    ['r_stream', { jobs: 1 }],
    ['r_file', { jobs: 2, workDir }],
  ] as const) {
    const result = await runRestore({ store, target, pgBin: PG_BIN, log: silentLog, clock: systemClock, ...mode }, { database: db, targetDatabase: name });
    if (!result.ok) throw new Error(`restore ${name} differs from the manifest: ${JSON.stringify(result.mismatches)}`);
    results.push(result);
    await bench.pg.sql('postgres', `DROP DATABASE ${name}`);
  }
  await bench.pg.sql('postgres', `DROP DATABASE ${db}`);

  const lines = [
    '## Restore',
    '',
    `Measured ${new Date().toISOString()} on ${cpus().length} cores, PostgreSQL tools in ${PG_BIN}: the failover restore job`,
    `(lambda/restore/core.ts) on one verified dump of ${TABLES} tables with an index each, ${(manifest.dump.uncompressedBytes ?? manifest.dump.bytes) / MIB | 0} MiB archive,`,
    `${(manifest.dump.bytes / MIB).toFixed(1)} MiB stored (${manifest.dump.compression.method}), from s3rver into a database of the same cluster.`,
    '',
    '| mode | jobs | download s | restore s | download + restore s | stored MB/s |',
    '|---|---|---|---|---|---|',
    ...results.map((r) => `| ${r.mode} | ${r.jobs} | ${r.seconds.download} | ${r.seconds.restore} | ${(r.seconds.download + r.seconds.restore).toFixed(2)} | ${r.throughputMBps} |`),
    '',
    'Re-run: `npm run bench -- --only restore --restore-mb N`.',
    '',
  ];
  return `${lines.join('\n')}\n`;
}
