/**
 * Compression benchmark for the dump job (`npm run bench`; BENCH_MB=256 by default).
 *
 * Creates a throw-away cluster, fills one table with BENCH_MB MiB of random text, then measures
 * each candidate pipeline end to end (pg_dump -> compression -> sha256sum, as the dump job
 * hashes every stored byte) on all cores and pinned to one core (`taskset -c 0`, about what a
 * 1769 MB Lambda has; a 1024 MB Lambda has less). Finally it runs the real dump core with its
 * chosen compression into s3rver. Results go to bench/results.md.
 */
import { spawnSync } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import { writeFileSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { PgCluster, PG_BIN } from '../test/support/pg-cluster';
import { startTestS3 } from '../test/support/s3-server';
import { runDump } from '../lambda/dump/core';
import { S3ObjectStore } from '../lambda/shared/s3-store';
import { connectionFromUrl, libpqEnv } from '../lambda/shared/connection';
import { silentLog, systemClock } from '../lambda/shared/ports';
import type { MetricsPort } from '../lambda/shared/ports';
import type { CompressionSetting } from '../lambda/shared/compression';

const MIB = 1024 * 1024;
const SIZE_MB = Number(process.env.BENCH_MB ?? 256);
const hasTaskset = spawnSync('taskset', ['-c', '0', 'true']).status === 0;

interface Candidate {
  readonly name: string;
  readonly pipeline: string;
}

const PG_DUMP = `${PG_BIN}/pg_dump --format=custom`;
const CANDIDATES: Candidate[] = [
  { name: 'pg_dump -Fc -Z0 (no compression)', pipeline: `${PG_DUMP} --compress=0` },
  { name: 'pg_dump -Fc -Z1 (zlib 1 inside pg_dump)', pipeline: `${PG_DUMP} --compress=1` },
  { name: 'pg_dump -Fc (zlib 6, the default)', pipeline: `${PG_DUMP}` },
  { name: 'pg_dump -Fc -Z0 | zstd -1 -T0', pipeline: `${PG_DUMP} --compress=0 | zstd -1 -T0 -q -c` },
  { name: 'pg_dump -Fc -Z0 | zstd -3 -T0', pipeline: `${PG_DUMP} --compress=0 | zstd -3 -T0 -q -c` },
  { name: 'pg_dump -Fc -Z0 | gzip -1', pipeline: `${PG_DUMP} --compress=0 | gzip -1 -c` },
];

interface Result {
  readonly name: string;
  readonly cores: string;
  readonly seconds: number;
  readonly bytes: number;
}

function measure(candidate: Candidate, env: NodeJS.ProcessEnv, pinned: boolean): Result {
  const script = `set -o pipefail; ${candidate.pipeline} | tee >(wc -c > /tmp/pgdr-bench-bytes) | sha256sum > /dev/null`;
  const command = pinned ? ['taskset', '-c', '0', 'bash', '-c', script] : ['bash', '-c', script];
  const started = process.hrtime.bigint();
  const run = spawnSync(command[0], command.slice(1), { env, encoding: 'utf8' });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (run.status !== 0) throw new Error(`${candidate.name} failed: ${run.stderr}`);
  spawnSync('sleep', ['0.2']); // let tee's wc finish writing
  const bytes = Number(readFileSync('/tmp/pgdr-bench-bytes', 'utf8').trim());
  return { name: candidate.name, cores: pinned ? '1' : String(cpus().length), seconds, bytes };
}

const nullMetrics: MetricsPort = { add: () => undefined, flush: () => undefined };

async function main(): Promise<void> {
  const pg = await PgCluster.start();
  const s3 = await startTestS3();
  try {
    await pg.createDatabase('bench');
    console.error(`filling a table with ${SIZE_MB} MiB of random text...`);
    // ~1 KiB rows of hex text from md5: random, compresses about 2:1 like real text columns.
    await pg.sql('bench', `CREATE TABLE events (id bigint, body text);
      INSERT INTO events SELECT i, (SELECT string_agg(md5(random()::text || i || j), ' ') FROM generate_series(1, 30) j)
      FROM generate_series(1, ${Math.round((SIZE_MB * MIB) / 1000)}) i;`);
    await pg.sql('bench', 'VACUUM ANALYZE events');
    // Flush the freshly written table now, so the first measurement does not compete with the checkpointer.
    await pg.sql('bench', 'CHECKPOINT');
    spawnSync('sync');
    const [{ size }] = await pg.sql<{ size: string }>('bench', `SELECT pg_total_relation_size('events') AS size`);
    const tableBytes = Number(size);
    const env = { ...process.env, ...libpqEnv(connectionFromUrl(pg.url('bench'))) };
    for (const k of Object.keys(env)) if (k === 'PGSSLMODE') env[k] = 'disable';

    const results: Result[] = [];
    for (const candidate of CANDIDATES) {
      for (const pinned of hasTaskset ? [false, true] : [false]) {
        measure(candidate, env, pinned); // warm the cache once
        const best = [measure(candidate, env, pinned), measure(candidate, env, pinned), measure(candidate, env, pinned)].sort((a, b) => a.seconds - b.seconds)[0];
        results.push(best);
        console.error(`${best.name} [${best.cores} core(s)]: ${best.seconds.toFixed(2)} s, ${(best.bytes / MIB).toFixed(1)} MiB`);
      }
    }

    // The real dump core with its automatic choice, into s3rver (SHA-256, multipart, manifest).
    const endToEnd: Array<{ setting: CompressionSetting; seconds: number; bytes: number; method: string; rssBefore: number; rssPeak: number }> = [];
    for (const setting of ['auto', 'pg_dump-gzip'] as CompressionSetting[]) {
      global.gc?.();
      const rssBefore = process.memoryUsage().rss;
      let rssPeak = rssBefore;
      const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 20);
      const store = new S3ObjectStore(s3.client, s3.bucket, { partSize: 16 * MIB });
      const manifest = await runDump(
        { store, connection: { ...connectionFromUrl(pg.url('bench')), sslmode: 'disable' }, pgBin: PG_BIN, compression: setting, metrics: nullMetrics, log: silentLog, clock: systemClock },
        { database: 'bench', backupClass: 'bench' },
      );
      clearInterval(sampler);
      endToEnd.push({ setting, seconds: manifest.durations.totalSeconds, bytes: manifest.dump.bytes, method: manifest.dump.compression.method, rssBefore, rssPeak });
      console.error(`runDump ${setting} (${manifest.dump.compression.method}): ${manifest.durations.totalSeconds} s, ${(manifest.dump.bytes / MIB).toFixed(1)} MiB`);
    }

    const rawBytes = results.find((r) => r.name.startsWith('pg_dump -Fc -Z0 (no'))!.bytes;
    const cpu = readCpuModel();
    const lines = [
      '# Dump compression benchmark',
      '',
      `Measured ${new Date().toISOString().slice(0, 10)} by \`npm run bench\` (bench/run.ts) on ${cpu}, ${cpus().length} cores, ${Math.round(totalmem() / 1024 ** 3)} GiB RAM;`,
      `PostgreSQL ${PG_BIN.match(/\d+/)?.[0]} (server and pg_dump on the same machine), zstd ${zstdVersion()}.`,
      `Data: one table of ${(tableBytes / MIB).toFixed(0)} MiB on disk (random md5 hex text, ~1 KiB rows); pg_dump -Z0 output ${(rawBytes / MIB).toFixed(0)} MiB.`,
      'Each figure is the best of three runs after a warm-up; the pipeline ends in sha256sum, as the dump job hashes every stored byte.',
      'Throughput = uncompressed dump bytes / wall time.',
      '',
      '| pipeline | cores | seconds | MB/s | stored MiB | ratio |',
      '|---|---:|---:|---:|---:|---:|',
      ...results.map((r) => `| ${r.name.replace(/\|/g, '\\|')} | ${r.cores} | ${r.seconds.toFixed(2)} | ${(rawBytes / 1e6 / r.seconds).toFixed(0)} | ${(r.bytes / MIB).toFixed(1)} | ${(rawBytes / r.bytes).toFixed(2)} |`),
      '',
      'The dump job itself (lambda/dump/core.ts: snapshot, row counts, SHA-256, multipart upload to s3rver on the same machine):',
      '',
      '| PGDR_COMPRESSION | method | seconds | MB/s | stored MiB | process RSS before → peak (MiB) |',
      '|---|---|---:|---:|---:|---:|',
      ...endToEnd.map((e) => `| ${e.setting} | ${e.method} | ${e.seconds} | ${(rawBytes / 1e6 / e.seconds).toFixed(0)} | ${(e.bytes / MIB).toFixed(1)} | ${(e.rssBefore / MIB).toFixed(0)} → ${(e.rssPeak / MIB).toFixed(0)} |`),
      '',
      'The RSS column is the whole benchmark process, which also runs s3rver receiving the upload; the dump job\'s own buffers are bounded by the part size (16 MiB parts, 2 in flight, plus the part being filled). Memory at larger dump sizes was not measured. On a shared machine, figures vary from run to run: compare candidates within one run.',
      '',
    ];
    const out = join(__dirname, 'results.md');
    writeFileSync(out, `${lines.join('\n')}\n`);
    console.error(`wrote ${out}`);
  } finally {
    await s3.stop();
    await pg.stop();
  }
}

function readCpuModel(): string {
  return cpus()[0]?.model?.trim() || (existsSync('/proc/cpuinfo') ? 'unknown CPU' : 'unknown CPU');
}

function zstdVersion(): string {
  const out = spawnSync('zstd', ['--version'], { encoding: 'utf8' }).stdout ?? '';
  return out.match(/v(\d+\.\d+\.\d+)/)?.[1] ?? 'unknown';
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
