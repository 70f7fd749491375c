/**
 * Compression section: fills one table with `sizeMiB` MiB of random text, measures each
 * candidate pipeline end to end (pg_dump -> compression -> sha256sum, as the dump job hashes
 * every stored byte) on all cores and pinned to one core (`taskset -c 0`, about what a 1769 MB
 * Lambda has; a 1024 MB Lambda has less), then runs the real dump job (in a child process, see
 * bench/dump-child.ts) with `auto` and `pg_dump-gzip` into s3rver.
 */
import { spawnSync } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import { readFileSync, rmSync } from 'node:fs';
import { PG_BIN } from '../local/pg-cluster';
import type { CompressionSetting } from '../lambda/shared/compression';
import { Bench, dumpInChild, DumpReport, fillEvents, MIB, pgEnv } from './context';

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

const BYTES_FILE = '/tmp/pgdr-bench-bytes';

function measure(candidate: Candidate, env: NodeJS.ProcessEnv, pinned: boolean): Result {
  const script = `set -o pipefail; ${candidate.pipeline} | tee >(wc -c > ${BYTES_FILE}) | sha256sum > /dev/null`;
  const command = pinned ? ['taskset', '-c', '0', 'bash', '-c', script] : ['bash', '-c', script];
  const started = process.hrtime.bigint();
  const run = spawnSync(command[0], command.slice(1), { env, encoding: 'utf8' });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (run.status !== 0) throw new Error(`${candidate.name} failed: ${run.stderr}`);
  spawnSync('sleep', ['0.2']); // let tee's wc finish writing
  const bytes = Number(readFileSync(BYTES_FILE, 'utf8').trim());
  return { name: candidate.name, cores: pinned ? '1' : String(cpus().length), seconds, bytes };
}

function zstdVersion(): string {
  const out = spawnSync('zstd', ['--version'], { encoding: 'utf8' }).stdout ?? '';
  return out.match(/v(\d+\.\d+\.\d+)/)?.[1] ?? 'unknown';
}

export async function compressionSection(bench: Bench, sizeMiB: number): Promise<string> {
  const db = 'bench';
  const hasTaskset = spawnSync('taskset', ['-c', '0', 'true']).status === 0;
  await bench.pg.createDatabase(db);
  await bench.pg.sql(db, 'CREATE TABLE events (id bigint, body text)');
  console.error(`compression: filling a table with ${sizeMiB} MiB of random text...`);
  await fillEvents(bench, db, 1, Math.round((sizeMiB * MIB) / 1000));
  const [{ size }] = await bench.pg.sql<{ size: string }>(db, `SELECT pg_total_relation_size('events') AS size`);
  const tableBytes = Number(size);
  const env = pgEnv(bench, db);

  const results: Result[] = [];
  try {
    for (const candidate of CANDIDATES) {
      for (const pinned of hasTaskset ? [false, true] : [false]) {
        measure(candidate, env, pinned); // warm the cache once
        const best = [measure(candidate, env, pinned), measure(candidate, env, pinned), measure(candidate, env, pinned)].sort((a, b) => a.seconds - b.seconds)[0];
        results.push(best);
        console.error(`compression: ${best.name} [${best.cores} core(s)]: ${best.seconds.toFixed(2)} s, ${(best.bytes / MIB).toFixed(1)} MiB`);
      }
    }
  } finally {
    rmSync(BYTES_FILE, { force: true });
  }

  // The real dump job with its automatic choice and with -Z1, into s3rver (SHA-256, multipart, manifest).
  const endToEnd: Array<{ setting: CompressionSetting; report: DumpReport }> = [];
  for (const setting of ['auto', 'pg_dump-gzip'] as CompressionSetting[]) {
    const report = await dumpInChild(bench, db, setting);
    endToEnd.push({ setting, report });
    console.error(`compression: runDump ${setting} (${report.method}): ${report.totalSeconds} s, ${(report.bytes / MIB).toFixed(1)} MiB`);
  }

  const rawBytes = results.find((r) => r.name.startsWith('pg_dump -Fc -Z0 (no'))!.bytes;
  return [
    '## Compression',
    '',
    `Measured ${new Date().toISOString().slice(0, 10)} by \`npm run bench\` (bench/compression.ts) on ${cpus()[0]?.model?.trim() ?? 'unknown CPU'}, ${cpus().length} cores, ${Math.round(totalmem() / 1024 ** 3)} GiB RAM;`,
    `PostgreSQL ${PG_BIN.match(/\d+/)?.[0]} (server and pg_dump on the same machine), zstd ${zstdVersion()}.`,
    `Data: one table of ${(tableBytes / MIB).toFixed(0)} MiB on disk (random md5 hex text, ~1 KiB rows); pg_dump -Z0 output ${(rawBytes / MIB).toFixed(0)} MiB.`,
    'Each figure is the best of three runs after a warm-up; the pipeline ends in sha256sum, as the dump job hashes every stored byte.',
    'Throughput = uncompressed dump bytes / wall time.',
    '',
    '| pipeline | cores | seconds | MB/s | stored MiB | ratio |',
    '|---|---:|---:|---:|---:|---:|',
    ...results.map((r) => `| ${r.name.replace(/\|/g, '\\|')} | ${r.cores} | ${r.seconds.toFixed(2)} | ${(rawBytes / 1e6 / r.seconds).toFixed(0)} | ${(r.bytes / MIB).toFixed(1)} | ${(rawBytes / r.bytes).toFixed(2)} |`),
    '',
    'The dump job itself (lambda/dump/core.ts in a Node process of its own: snapshot, row counts, SHA-256, multipart upload to s3rver on the same machine):',
    '',
    '| PGDR_COMPRESSION | method | seconds | MB/s | stored MiB |',
    '|---|---|---:|---:|---:|',
    ...endToEnd.map((e) => `| ${e.setting} | ${e.report.method} | ${e.report.totalSeconds} | ${(rawBytes / 1e6 / e.report.totalSeconds).toFixed(0)} | ${(e.report.bytes / MIB).toFixed(1)} |`),
    '',
    'Its memory is measured in the next section. On a shared machine, figures vary from run to run: compare candidates within one run.',
    '',
  ].join('\n');
}
