/**
 * Directory section (issue 11, part 2): the single-stream custom format against pg_dump's
 * directory format with parallel jobs, through the real cores (in this process), on one database
 * of four tables of `sizeMiB / 4` MiB each with an index (--jobs works table by table):
 *
 *   custom     dump: pg_dump -Fc -Z0 | zstd -> one object (compression `auto`);
 *              restore: the failover restore job, `pg_restore --jobs N` from the downloaded file
 *              (the custom format's fastest path);
 *   directory  dump: pg_dump -Fd --jobs N -Z0, then each file through zstd into its object;
 *              restore: download every file, `pg_restore --jobs N` from the directory.
 *
 * Each dump is verified at level 1 (every stored byte hashed, `pg_restore --list`) before it is
 * restored (the restore job takes verified backups only). Reps run interleaved (custom, directory,
 * custom, ...); the table shows the median and the range. Source and targets are databases of the
 * bench cluster, s3rver holds the objects: the figures compare the formats on this machine; on
 * AWS the network to S3, the task's vCPUs and the server decide.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { PG_BIN } from '../local/pg-cluster';
import { runDump } from '../lambda/dump/core';
import { runVerify } from '../lambda/verify/core';
import { runRestore } from '../lambda/restore/core';
import { connectionFromUrl } from '../lambda/shared/connection';
import { emfMetrics } from '../lambda/shared/metrics';
import { S3ObjectStore } from '../lambda/shared/s3-store';
import { silentLog, systemClock } from '../lambda/shared/ports';
import { manifestKeyOf } from '../lambda/shared/layout';
import type { BackupManifest } from '../lambda/shared/records';
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { Bench, fillTables, MIB } from './context';

const TABLES = 4;
const FORMATS = ['custom', 'directory'] as const;
type Format = (typeof FORMATS)[number];

interface Rep {
  readonly format: Format;
  readonly dumpSeconds: number;
  readonly storedBytes: number;
  readonly archiveBytes?: number;
  readonly files: number;
  readonly verifySeconds: number;
  readonly restoreSeconds: number;
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
const wall = async <T>(fn: () => Promise<T>): Promise<[T, number]> => {
  const started = process.hrtime.bigint();
  const value = await fn();
  return [value, Number(process.hrtime.bigint() - started) / 1e9];
};
const cell = (values: number[], digits = 2) =>
  values.length > 1 ? `${median(values).toFixed(digits)} (${Math.min(...values).toFixed(digits)}–${Math.max(...values).toFixed(digits)})` : values[0].toFixed(digits);

export async function directorySection(bench: Bench, options: { sizeMiB: number; jobs: number; reps: number }): Promise<string> {
  const { sizeMiB, jobs, reps } = options;
  const db = 'dirbench';
  await bench.pg.createDatabase(db);
  await fillTables(bench, db, sizeMiB, TABLES);
  const store = new S3ObjectStore(bench.s3.client, bench.s3.bucket, { partSize: 8 * MIB });
  const connection = connectionFromUrl(bench.pg.url(db));
  const target = connectionFromUrl(bench.pg.url('postgres'));
  const nullOut = new Writable({ write: (_c, _e, cb) => cb() });
  const workDir = mkdtempSync(join(tmpdir(), 'pgdr-bench-directory-'));
  bench.cleanups.add('directory section work directory', () => rmSync(workDir, { recursive: true, force: true }));

  const one = async (format: Format, rep: number): Promise<Rep> => {
    const [manifest, dumpSeconds] = await wall(() =>
      runDump(
        { store, connection, pgBin: PG_BIN, compression: 'auto', format, jobs, workDir, metrics: emfMetrics(db, 'bench', nullOut), log: silentLog, clock: systemClock },
        { database: db, backupClass: 'bench' },
      ),
    );
    const manifestKey = manifestKeyOf(manifest.dump.key)!;
    const [verified, verifySeconds] = await wall(() =>
      runVerify(
        { store, restoreServer: { connection, kind: 'source' }, pgBin: PG_BIN, workDir, policy: { restoreTestEveryNth: 0, smokeQueries: [] }, metrics: (d, c) => emfMetrics(d, c, nullOut), log: silentLog, clock: systemClock },
        { database: db, manifestKey, restoreTest: false },
      ),
    );
    if (!verified.ok) throw new Error(`the ${format} bench dump failed verification: ${verified.failures.join('; ')}`);
    const targetDatabase = `r_${format}_${rep}`;
    const result = await runRestore({ store, target, pgBin: PG_BIN, log: silentLog, clock: systemClock, workDir, jobs }, { database: db, backupKey: manifestKey, targetDatabase });
    if (!result.ok) throw new Error(`restore of the ${format} dump differs from the manifest: ${JSON.stringify(result.mismatches)}`);
    await bench.pg.sql('postgres', `DROP DATABASE ${targetDatabase}`);
    await removeBackup(bench, manifest);
    return {
      format,
      dumpSeconds,
      storedBytes: manifest.dump.bytes,
      archiveBytes: manifest.dump.uncompressedBytes,
      files: manifest.dump.format === 'directory' ? manifest.dump.files.length : 1,
      verifySeconds,
      restoreSeconds: result.seconds.download + result.seconds.restore,
    };
  };

  const results: Rep[] = [];
  for (let rep = 1; rep <= reps; rep++) for (const format of FORMATS) results.push(await one(format, rep));
  await bench.pg.sql('postgres', `DROP DATABASE ${db}`);

  const of = (format: Format, pick: (r: Rep) => number) => results.filter((r) => r.format === format).map(pick);
  const speedUp = (pick: (r: Rep) => number) => (median(of('custom', pick)) / median(of('directory', pick))).toFixed(2);
  const archive = results.find((r) => r.format === 'custom')!.archiveBytes;
  const lines = [
    '## Directory',
    '',
    `Measured ${new Date().toISOString()} on ${cpus().length} cores, PostgreSQL tools in ${PG_BIN}, ${reps} interleaved rep(s), median (range):`,
    `the dump, verify (level 1) and failover restore cores on ${TABLES} tables with an index each, ${sizeMiB} MiB of table data`,
    `(${archive !== undefined ? `${(archive / MIB).toFixed(0)} MiB custom-format archive` : 'archive size not reported'}), --jobs ${jobs} for the directory dump and for both restores.`,
    '',
    '| format | files | stored MiB | dump s | verify s | restore s (download + pg_restore) |',
    '|---|---|---|---|---|---|',
    ...FORMATS.map((f) => `| ${f} | ${of(f, (r) => r.files)[0]} | ${(median(of(f, (r) => r.storedBytes)) / MIB).toFixed(1)} | ${cell(of(f, (r) => r.dumpSeconds))} | ${cell(of(f, (r) => r.verifySeconds))} | ${cell(of(f, (r) => r.restoreSeconds))} |`),
    '',
    `Speed-up of the directory format (custom / directory, medians): dump ${speedUp((r) => r.dumpSeconds)}×, restore ${speedUp((r) => r.restoreSeconds)}×.`,
    '',
    'Re-run: `npm run bench -- --only directory --directory-mb N --directory-jobs J --reps R`.',
    '',
  ];
  return `${lines.join('\n')}\n`;
}

/** Removes what a bench dump stored (the bench's own bucket; the job itself never deletes). */
async function removeBackup(bench: Bench, manifest: BackupManifest): Promise<void> {
  const stem = manifestKeyOf(manifest.dump.key)!.slice(0, -'.manifest.json'.length);
  for (const key of await bench.s3.keys(`${manifest.database}/`)) {
    if (key.startsWith(stem)) await bench.s3.client.send(new DeleteObjectCommand({ Bucket: bench.s3.bucket, Key: key }));
  }
}
