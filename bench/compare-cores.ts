/**
 * Before/after of the dump job's core: the dump core of an older commit (`--before-ref`, e.g. the
 * commit before pg_dump was connected to zstd directly) against this tree's, on the same mixed
 * database (bench/speed.ts `buildMixedDatabase`), interleaved reps, each dump in a Node child of
 * its own (bench/dump-child.ts of THIS tree, bundled with each tree's lambda/ code). Reports wall
 * seconds, the child's process-tree CPU seconds (Node + pg_dump + zstd) per GiB of `-Z0` dump and
 * peak RSS, and writes them to bench/before-after.json, which BENCHMARKS.md (speed section) shows.
 *
 *   npx tsx bench/compare-cores.ts --before-ref c86d5f9 [--size-mb 250] [--reps 3] [--out FILE]
 */
import { execSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { PgCluster } from '../local/pg-cluster';
import { startTestS3 } from '../test/support/s3-server';
import { Cleanups } from './processes';
import { bundleChild } from './child-runner';
import { Bench, dumpInChild, DumpReport, MIB, rawDumpBytes } from './context';
import { buildMixedDatabase, stats } from './speed';

const ROOT = join(__dirname, '..');

/** A copy of `ref`'s tree with this tree's bench/ (for its CPU figures) and node_modules linked. */
function checkout(ref: string, cleanups: Cleanups): string {
  const dir = mkdtempSync(join(tmpdir(), 'pgdr-before-'));
  cleanups.add(`checkout of ${ref}`, () => rmSync(dir, { recursive: true, force: true }));
  execSync(`git -C '${ROOT}' archive '${ref}' | tar -x -C '${dir}'`, { stdio: ['ignore', 'ignore', 'inherit'] });
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  for (const file of readdirSync(join(ROOT, 'bench')).filter((f) => f.endsWith('.ts'))) copyFileSync(join(ROOT, 'bench', file), join(dir, 'bench', file));
  return dir;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { 'before-ref': { type: 'string' }, 'size-mb': { type: 'string' }, reps: { type: 'string' }, out: { type: 'string' } } });
  const ref = values['before-ref'];
  if (!ref) throw new Error('--before-ref REF is required (the commit whose dump core is "before")');
  const sizeMiB = Number(values['size-mb'] ?? '250');
  const reps = Number(values.reps ?? '3');
  const out = resolve(values.out ?? join(__dirname, 'before-after.json'));
  const cleanups = new Cleanups();
  cleanups.exitOnSignals();
  try {
    const before = checkout(ref, cleanups);
    // The child of the older tree: esbuild bundles its bench/dump-child.ts with ITS lambda/ code.
    const { bundleChild: bundleBefore } = (await import(join(before, 'bench', 'child-runner'))) as { bundleChild: typeof bundleChild };
    const bundles = { before: bundleBefore(cleanups), after: bundleChild(cleanups) };
    const pg = await PgCluster.start();
    cleanups.add(`PostgreSQL cluster (postmaster ${pg.pid})`, () => pg.stop());
    const s3Dir = mkdtempSync(join(tmpdir(), 'pgdr-compare-s3-'));
    cleanups.add('s3rver directory', () => rmSync(s3Dir, { recursive: true, force: true }));
    const s3 = await startTestS3('pgdr-compare', s3Dir);
    cleanups.add('s3rver', () => s3.stop());
    const bench: Bench = { pg, s3, bundle: bundles.after, cleanups, verbose: false };
    console.error(`compare: building a ~${sizeMiB} MiB mixed database...`);
    await buildMixedDatabase(bench, 'compare', sizeMiB);
    const raw = rawDumpBytes(bench, 'compare');
    const runs: Record<'before' | 'after', DumpReport[]> = { before: [], after: [] };
    for (let rep = 1; rep <= reps; rep++) {
      for (const which of ['before', 'after'] as const) {
        const report = await dumpInChild({ ...bench, bundle: bundles[which] }, 'compare', 'auto');
        runs[which].push(report);
        console.error(`compare: ${which} rep ${rep}: ${report.wallSeconds} s wall, ${report.cpuSeconds} CPU-s, peak ${(Math.max(report.memory.rssPeak, report.memory.vmHwmAfter ?? 0) / MIB).toFixed(0)} MiB`);
      }
    }
    const summary = (list: DumpReport[]) => ({
      wallSeconds: stats(list.map((r) => r.wallSeconds)),
      cpuSecondsPerGiB: stats(list.map((r) => (r.cpuSeconds ?? NaN) / (raw / (1024 * MIB)))),
      peakRssMiB: stats(list.map((r) => Math.max(r.memory.rssPeak, r.memory.vmHwmAfter ?? 0) / MIB)),
      uncompressedBytes: [...new Set(list.map((r) => r.uncompressedBytes))],
      storedBytes: stats(list.map((r) => r.bytes)),
    });
    const result = { measuredAt: new Date().toISOString(), beforeRef: ref, afterRef: execSync(`git -C '${ROOT}' rev-parse --short HEAD`, { encoding: 'utf8' }).trim(), sizeMiB, rawDumpMiB: Math.round(raw / MIB), reps, before: summary(runs.before), after: summary(runs.after) };
    writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
    console.error(`wrote ${out}`);
  } finally {
    await cleanups.runAll();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
