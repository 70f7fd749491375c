/**
 * Benchmarks of the dump job (`npm run bench`), written to bench/results.md:
 *
 *   compression  candidate pipelines on one table of --compression-mb MiB (BENCH_MB; 256), and
 *                the real dump job with `auto` and `pg_dump-gzip` (bench/compression.ts);
 *   memory       the real dump job in a Node process of its own at several database sizes
 *                (--sizes, MiB of pg_dump -Z0 output), its RSS and heap (bench/memory.ts);
 *   restore      the failover restore job, streamed vs `pg_restore --jobs 2` from a file, on
 *                one dump of --restore-mb MiB over 4 tables (bench/restore.ts);
 *   directory    the custom format (one stream) against the directory format (pg_dump -Fd
 *                --jobs N, one object per file): dump, verify and failover restore on one
 *                database of --directory-mb MiB over 4 tables (bench/directory.ts);
 *   speed        pgdr against the raw tools and the usual ways, interleaved reps on one mixed
 *                database of --size-mb MiB (bench/speed.ts); writes BENCHMARKS.md and
 *                bench/results.json (its peak RSS is the memory section's, at every size, when
 *                both run, as they do by default: 128 MiB, 1 GiB and 4 GiB of dump).
 *
 * `npm run bench -- --only memory` (or `--only compression`) runs one section and leaves the
 * other section of the results file as it was recorded. Everything the benchmark starts (the
 * PostgreSQL cluster, s3rver, the dump children with their pg_dump and zstd) is stopped by PID
 * when it ends, fails or is interrupted (SIGINT, SIGTERM).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { PgCluster } from '../local/pg-cluster';
import { startTestS3 } from '../test/support/s3-server';
import { COMPRESSION_SETTINGS, CompressionSetting } from '../lambda/shared/compression';
import { Cleanups } from './processes';
import { bundleChild } from './child-runner';
import type { Bench } from './context';
import { compressionSection } from './compression';
import { memorySection } from './memory';
import { restoreSection } from './restore';
import { speedSection } from './speed';
import { directorySection } from './directory';

const SECTIONS = ['compression', 'memory', 'restore', 'directory', 'speed'] as const;
type Section = (typeof SECTIONS)[number];

const USAGE = `Usage: npm run bench -- [options]

  --only SECTION        run only this section: ${SECTIONS.join(', ')} (repeatable, or comma-separated)
  --compression-mb N    compression section: MiB of table data (default: BENCH_MB or 256)
  --sizes A,B,C         memory section: target MiB of pg_dump -Z0 output (default: 128,1024,4096)
  --restore-mb N        restore section: MiB of table data over 4 tables (default: 128)
  --directory-mb N      directory section: MiB of table data over 4 tables (default: 256)
  --directory-jobs N    directory section: pg_dump/pg_restore --jobs (default: 2)
  --size-mb N           speed section: size of the mixed database, MiB (default: 1200)
  --reps N              speed and directory sections: interleaved reps (default: 3)
  --benchmarks FILE     speed section: its report (default: BENCHMARKS.md)
  --results-json FILE   speed section: its figures (default: bench/results.json)
  --settings X,Y        memory section: PGDR_COMPRESSION values (default: auto,pg_dump-gzip)
  --repeat N            memory section: dumps per size and setting (default: 2)
  --out FILE            results file (default: bench/results.md); other sections in it are kept
  --verbose             copy the dump children's JSON logs and EMF lines to stderr
  -h, --help            this text`;

class UsageError extends Error {}

function positiveNumbers(value: string, option: string): number[] {
  const numbers = value.split(',').map((v) => Number(v.trim()));
  if (numbers.length === 0 || numbers.some((n) => !Number.isFinite(n) || n <= 0)) throw new UsageError(`${option} takes positive numbers separated by commas (received ${JSON.stringify(value)})`);
  return numbers;
}

interface Options {
  readonly sections: Section[];
  readonly compressionMiB: number;
  readonly sizesMiB: number[];
  readonly restoreMiB: number;
  readonly directoryMiB: number;
  readonly directoryJobs: number;
  readonly sizeMiB: number;
  readonly reps: number;
  readonly benchmarksFile: string;
  readonly resultsFile: string;
  readonly settings: CompressionSetting[];
  readonly repeat: number;
  readonly out: string;
  readonly verbose: boolean;
  /** The command line as given (`npm run bench -- ...`), for the reports. */
  readonly command: string;
}

function options(argv: string[]): Options | undefined {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      only: { type: 'string', multiple: true },
      'compression-mb': { type: 'string' },
      sizes: { type: 'string' },
      'restore-mb': { type: 'string' },
      'directory-mb': { type: 'string' },
      'directory-jobs': { type: 'string' },
      'size-mb': { type: 'string' },
      reps: { type: 'string' },
      benchmarks: { type: 'string' },
      'results-json': { type: 'string' },
      settings: { type: 'string' },
      repeat: { type: 'string' },
      out: { type: 'string' },
      verbose: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return undefined;
  const only = (values.only ?? []).flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean);
  for (const s of only) if (!(SECTIONS as readonly string[]).includes(s)) throw new UsageError(`unknown section ${JSON.stringify(s)} for --only; use ${SECTIONS.join(' or ')}`);
  const settings = (values.settings ?? 'auto,pg_dump-gzip').split(',').map((v) => v.trim());
  for (const s of settings) if (!(COMPRESSION_SETTINGS as readonly string[]).includes(s)) throw new UsageError(`unknown --settings value ${JSON.stringify(s)}; use ${COMPRESSION_SETTINGS.join(', ')}`);
  const repeat = positiveNumbers(values.repeat ?? '2', '--repeat')[0];
  if (!Number.isInteger(repeat)) throw new UsageError('--repeat takes a whole number');
  const directoryJobs = positiveNumbers(values['directory-jobs'] ?? '2', '--directory-jobs')[0];
  if (!Number.isInteger(directoryJobs)) throw new UsageError('--directory-jobs takes a whole number');
  const reps = positiveNumbers(values.reps ?? '3', '--reps')[0];
  if (!Number.isInteger(reps)) throw new UsageError('--reps takes a whole number');
  return {
    sections: only.length > 0 ? SECTIONS.filter((s) => only.includes(s)) : [...SECTIONS],
    compressionMiB: positiveNumbers(values['compression-mb'] ?? process.env.BENCH_MB ?? '256', '--compression-mb')[0],
    sizesMiB: positiveNumbers(values.sizes ?? '128,1024,4096', '--sizes'),
    restoreMiB: positiveNumbers(values['restore-mb'] ?? '128', '--restore-mb')[0],
    directoryMiB: positiveNumbers(values['directory-mb'] ?? '256', '--directory-mb')[0],
    directoryJobs,
    sizeMiB: positiveNumbers(values['size-mb'] ?? '1200', '--size-mb')[0],
    reps,
    benchmarksFile: resolve(values.benchmarks ?? join(__dirname, '..', 'BENCHMARKS.md')),
    resultsFile: resolve(values['results-json'] ?? join(__dirname, 'results.json')),
    settings: settings as CompressionSetting[],
    repeat,
    out: resolve(values.out ?? join(__dirname, 'results.md')),
    verbose: values.verbose ?? false,
    command: `npm run bench${argv.length > 0 ? ` -- ${argv.join(' ')}` : ''}`,
  };
}

/** The results file: a fixed header, then one `<!-- bench:NAME -->` ... `<!-- /bench:NAME -->` block per section. */
function writeResults(path: string, fresh: Partial<Record<Section, string>>): void {
  const previous = existsSync(path) ? readFileSync(path, 'utf8') : '';
  const block = (name: Section) => {
    const body =
      fresh[name] ??
      new RegExp(`<!-- bench:${name} -->\\n([\\s\\S]*?)<!-- /bench:${name} -->`).exec(previous)?.[1] ??
      `## ${name[0].toUpperCase()}${name.slice(1)}\n\nNot measured yet: \`npm run bench -- --only ${name}\`.\n\n`;
    return `<!-- bench:${name} -->\n${body}<!-- /bench:${name} -->`;
  };
  const header = [
    '# Dump job benchmarks',
    '',
    'Written by `npm run bench` (bench/run.ts). Each section says when and where it was measured;',
    '`npm run bench -- --only compression` (or `memory`, `restore`, `directory`) re-runs one section and keeps the others.',
  ].join('\n');
  writeFileSync(path, `${header}\n\n${SECTIONS.map(block).join('\n\n')}\n`);
}

async function main(): Promise<number> {
  let opts: Options | undefined;
  try {
    opts = options(process.argv.slice(2));
  } catch (err) {
    console.error(`${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (!opts) {
    console.log(USAGE);
    return 0;
  }
  const cleanups = new Cleanups();
  cleanups.exitOnSignals();
  try {
    const bundle = bundleChild(cleanups);
    const pg = await PgCluster.start();
    cleanups.add(`PostgreSQL cluster (postmaster ${pg.pid})`, () => pg.stop());
    const s3Dir = mkdtempSync(join(tmpdir(), 'pgdr-bench-s3-'));
    cleanups.add('s3rver directory', () => rmSync(s3Dir, { recursive: true, force: true }));
    const s3 = await startTestS3('pgdr-bench', s3Dir);
    cleanups.add('s3rver', () => s3.stop());
    const bench: Bench = { pg, s3, bundle, cleanups, verbose: opts.verbose };

    const fresh: Partial<Record<Section, string>> = {};
    const started = Date.now();
    if (opts.sections.includes('compression')) fresh.compression = await compressionSection(bench, opts.compressionMiB);
    const memoryPeaks: { rawMiB: number; peakBytes: number }[] = [];
    if (opts.sections.includes('memory')) fresh.memory = await memorySection(bench, { sizesMiB: opts.sizesMiB, settings: opts.settings, repeat: opts.repeat, onPeak: (rawBytes, peakBytes) => memoryPeaks.push({ rawMiB: rawBytes / (1024 * 1024), peakBytes }) });
    if (opts.sections.includes('restore')) fresh.restore = await restoreSection(bench, opts.restoreMiB);
    if (opts.sections.includes('directory')) fresh.directory = await directorySection(bench, { sizeMiB: opts.directoryMiB, jobs: opts.directoryJobs, reps: opts.reps });
    if (opts.sections.includes('speed')) {
      await speedSection(bench, { command: opts.command, sizeMiB: opts.sizeMiB, reps: opts.reps, benchmarksFile: opts.benchmarksFile, resultsFile: opts.resultsFile, memoryPeaks });
      fresh.speed = `## Speed\n\nSee [BENCHMARKS.md](../BENCHMARKS.md) and [results.json](results.json) (written ${new Date().toISOString()}, \`--size-mb ${opts.sizeMiB} --reps ${opts.reps}\`).\n\n`;
    }
    writeResults(opts.out, fresh);
    console.error(`wrote ${opts.out} (${opts.sections.join(', ')}; ${((Date.now() - started) / 1000).toFixed(0)} s)`);
    return 0;
  } finally {
    await cleanups.runAll();
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
