/**
 * Does the verify job's `ephemeral` restore test fit a Lambda (issue 11)? One run on this machine:
 * a source database of about `sizeMiB` (four tables with an index, as bench/restore.ts), dumped by
 * the real dump core into s3rver, then the real verify core with a restore test on an ephemeral
 * server (lambda/shared/ephemeral-server.ts) whose memory budget is that of a Lambda of
 * `lambdaMiB` (half of it, as the handler does). Reports initdb and start seconds, the peak memory
 * of the server's processes (PSS summed over the postmaster and its children, sampled every
 * 100 ms; RSS summed too, which counts shared buffers once per process), the peak of this process
 * and its pg_restore, the data directory's size at the end of the restore against the dump's, and
 * the size of what a layer would need (server binaries, libraries, share/).
 *
 *   npx tsx bench/ephemeral-fit.ts [sizeMiB=150] [lambdaMiB=2048]
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import { PgCluster, PG_BIN } from '../local/pg-cluster';
import { startTestS3 } from '../test/support/s3-server';
import { runDump } from '../lambda/dump/core';
import { runVerify } from '../lambda/verify/core';
import { connectionFromUrl } from '../lambda/shared/connection';
import { emfMetrics } from '../lambda/shared/metrics';
import { S3ObjectStore } from '../lambda/shared/s3-store';
import { silentLog, systemClock } from '../lambda/shared/ports';
import { keysFromDumpKey } from '../lambda/shared/layout';
import { EphemeralServer, startEphemeralServer } from '../lambda/shared/ephemeral-server';

const MIB = 1024 * 1024;
const mib = (bytes: number) => (bytes / MIB).toFixed(1);

/** PIDs of `root` and all its descendants (from /proc/<pid>/stat's ppid). */
function tree(root: number): number[] {
  const parent = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      parent.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone meanwhile
    }
  }
  const out = [root];
  for (let i = 0; i < out.length; i++) for (const [pid, ppid] of parent) if (ppid === out[i]) out.push(pid);
  return out;
}

/** Summed PSS and RSS (bytes) of the processes, from smaps_rollup. */
function memory(pids: number[]): { pss: number; rss: number } {
  let pss = 0;
  let rss = 0;
  for (const pid of pids) {
    try {
      const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
      pss += Number(/^Pss:\s+(\d+) kB/m.exec(text)?.[1] ?? 0) * 1024;
      rss += Number(/^Rss:\s+(\d+) kB/m.exec(text)?.[1] ?? 0) * 1024;
    } catch {
      // gone meanwhile
    }
  }
  return { pss, rss };
}

const du = (path: string) => Number(execFileSync('du', ['-sb', path]).toString().split('\t')[0]);

async function main(): Promise<void> {
  const sizeMiB = Number(process.argv[2] ?? 150);
  const lambdaMiB = Number(process.argv[3] ?? 2048);
  const [pg, s3] = await Promise.all([PgCluster.start(), startTestS3()]);
  const workDir = mkdtempSync(join(tmpdir(), 'pgdr-bench-ephemeral-'));
  chmodSync(workDir, 0o755);
  try {
    const db = 'fit';
    await pg.createDatabase(db);
    const rowsPerTable = Math.max(1, Math.round((sizeMiB * MIB) / 4 / 1000));
    for (let t = 1; t <= 4; t++) {
      await pg.sql(db, `CREATE TABLE t${t} (id bigint PRIMARY KEY, body text)`);
      await pg.sql(db, `INSERT INTO t${t} SELECT i, (SELECT string_agg(md5(random()::text || i || j), ' ') FROM generate_series(1, 30) j) FROM generate_series(1, ${rowsPerTable}) i`);
      await pg.sql(db, `CREATE INDEX ON t${t} (body)`);
    }
    const [{ size }] = await pg.sql<{ size: string }>(db, 'SELECT pg_database_size(current_database()) AS size');
    const store = new S3ObjectStore(s3.client, s3.bucket, { partSize: 8 * MIB });
    const nullOut = new Writable({ write: (_c, _e, cb) => cb() });
    const connection = connectionFromUrl(pg.url(db));
    const manifest = await runDump({ store, connection, pgBin: PG_BIN, compression: 'auto', metrics: emfMetrics(db, 'bench', nullOut), log: silentLog, clock: systemClock }, { database: db, backupClass: 'bench' });

    let server: EphemeralServer | undefined;
    let started: EphemeralServer | undefined;
    let peakServer = { pss: 0, rss: 0 };
    let peakJob = { pss: 0, rss: 0 };
    let dataDirBytes = 0;
    let samples = 0;
    const sampler = setInterval(() => {
      if (!server) return;
      // The data directory peaks at the end of the restore (the scratch database is dropped before the stop).
      try {
        dataDirBytes = Math.max(dataDirBytes, du(join(server.dir, 'data')));
        samples++;
      } catch {
        // stopped meanwhile
      }
      const s = memory(tree(server.pid));
      const j = memory(tree(process.pid));
      peakServer = { pss: Math.max(peakServer.pss, s.pss), rss: Math.max(peakServer.rss, s.rss) };
      peakJob = { pss: Math.max(peakJob.pss, j.pss), rss: Math.max(peakJob.rss, j.rss) };
    }, 100);
    const record = await runVerify(
      {
        store,
        restoreServer: {
          kind: 'ephemeral',
          start: async () => {
            const up = await startEphemeralServer({ bin: PG_BIN, workDir, memoryMb: lambdaMiB / 2 });
            server = started = up;
            return {
              ...up,
              stop: async () => {
                server = undefined;
                await up.stop();
              },
            };
          },
        },
        pgBin: PG_BIN,
        // The restored database's size in MiB, as a row count (read before the scratch database is dropped).
        policy: { restoreTestEveryNth: 1, smokeQueries: [{ name: 'restored MiB', sql: 'SELECT generate_series(1, (pg_database_size(current_database()) / 1048576)::int)', minRows: 0 }] },
        metrics: (d, c) => emfMetrics(d, c, nullOut),
        log: silentLog,
        clock: systemClock,
        workDir,
        jobs: 2,
      },
      { database: db, manifestKey: keysFromDumpKey(manifest.dump.key).manifest, restoreTest: true },
    );
    clearInterval(sampler);
    if (!record.ok || !started) throw new Error(`restore test failed: ${record.failures.join('; ')}`);
    const s = started as EphemeralServer;
    const share = execFileSync(join(PG_BIN, 'pg_config'), ['--sharedir']).toString().trim();
    const pkglib = execFileSync(join(PG_BIN, 'pg_config'), ['--pkglibdir']).toString().trim();
    const layer = { bin: du(PG_BIN), lib: du(pkglib), share: du(share) };
    const serverBins = ['initdb', 'pg_ctl', 'postgres'].reduce((n, t) => n + du(join(PG_BIN, t)), 0);
    const lines = [
      `source database ${mib(Number(size))} MiB (pg_database_size); dump ${mib(manifest.dump.bytes)} MiB stored (${manifest.dump.compression.method}), ${manifest.dump.uncompressedBytes ? mib(manifest.dump.uncompressedBytes) : 'n/a'} MiB uncompressed`,
      `ephemeral server ${s.version}: initdb ${s.timings.initdbSeconds} s, start ${s.timings.startSeconds} s (record: startSeconds ${record.restoreTest!.ephemeralServer!.startSeconds})`,
      `restore test: ${record.restoreTest!.mode} mode, --jobs ${record.restoreTest!.jobs}, restore ${record.restoreTest!.restoreSeconds} s, total ${record.restoreTest!.totalSeconds} s`,
      `memory budget ${lambdaMiB / 2} MiB (Lambda of ${lambdaMiB} MiB): server processes peak PSS ${mib(peakServer.pss)} MiB (RSS sum ${mib(peakServer.rss)} MiB); job (node + pg_restore) peak PSS ${mib(peakJob.pss)} MiB`,
      `restored database ${record.restoreTest!.smokeQueries[0].rows} MiB (pg_database_size); data directory at its peak ${mib(dataDirBytes)} MiB (du every 100 ms, ${samples} samples) = ${(dataDirBytes / manifest.dump.bytes).toFixed(2)} x the stored dump`,
      `layer: ${dirname(PG_BIN)}/bin ${mib(layer.bin)} MiB (initdb+pg_ctl+postgres ${mib(serverBins)} MiB), ${pkglib} ${mib(layer.lib)} MiB, ${share} ${mib(layer.share)} MiB`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    rmSync(workDir, { recursive: true, force: true });
    await Promise.allSettled([s3.stop(), pg.stop()]);
  }
}

void main();
