/**
 * Runs bench/dump-child.ts in a Node process of its own, one per dump: bundled once with
 * esbuild (like the Lambda: one minified CommonJS file, pg-native external) and forked with
 * plain `node --expose-gc`, so neither tsx nor s3rver (which stays in the parent) is counted in
 * the child's memory. The child is started detached (its own process group) so that killing
 * it by PID also kills the pg_dump and zstd it started.
 */
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSync } from 'esbuild';
import { Cleanups, killGroup } from './processes';
import type { ChildJob, ChildReport } from './dump-child';

/** Bundles the child into a temp directory (removed by `cleanups`); returns the bundle's path. */
export function bundleChild(cleanups: Cleanups): string {
  const dir = mkdtempSync(join(tmpdir(), 'pgdr-bench-child-'));
  cleanups.add('child bundle directory', () => rmSync(dir, { recursive: true, force: true }));
  const outfile = join(dir, 'dump-child.js');
  buildSync({
    entryPoints: [join(__dirname, 'dump-child.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: `node${process.versions.node.split('.')[0]}`,
    minify: true,
    external: ['pg-native'],
    logLevel: 'error',
  });
  return outfile;
}

export interface ChildOptions {
  /** Kill the child (and its pg_dump/zstd) after this long. */
  readonly timeoutMs: number;
  /** Copy the child's output (JSON logs, EMF lines) to stderr. */
  readonly verbose: boolean;
}

/** Forks the bundled child, hands it `job` and returns its report; the child is always gone afterwards. */
export async function runDumpInChild(bundle: string, job: ChildJob, cleanups: Cleanups, options: ChildOptions): Promise<Extract<ChildReport, { ok: true }>> {
  const env = { ...process.env };
  delete env.NODE_OPTIONS; // nothing of the parent's loader (tsx) in the child
  const child = fork(bundle, [], { execPath: process.execPath, execArgv: ['--expose-gc'], env, detached: true, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  const unregister = cleanups.add(`dump child ${child.pid}`, () => killGroup(child));
  const tail: string[] = [];
  const keep = (chunk: Buffer) => {
    if (options.verbose) process.stderr.write(chunk);
    tail.push(...chunk.toString().split('\n').filter(Boolean));
    tail.splice(0, Math.max(0, tail.length - 20));
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  let timer: NodeJS.Timeout | undefined;
  try {
    const report = await new Promise<ChildReport>((resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`dump child ${child.pid} still running after ${options.timeoutMs / 1000} s`)), options.timeoutMs);
      child.on('error', reject);
      // 'close' (after exit and the end of its output) rather than 'exit', which can overtake the last message.
      child.on('close', (code, signal) => reject(new Error(`dump child ${child.pid} exited (${signal ?? code}) without a report; its last output:\n${tail.join('\n')}`)));
      child.on('message', (message: ChildReport | { type: 'ready' }) => {
        if ('type' in message) child.send(job);
        else resolve(message);
      });
    });
    if (!report.ok) throw new Error(`dump in the child failed: ${report.error}\n${tail.join('\n')}`);
    return report;
  } finally {
    clearTimeout(timer);
    await killGroup(child); // no-op when it exited by itself; also takes any orphaned pg_dump/zstd
    unregister();
  }
}
