/**
 * The benchmark's child process: runs ONE real dump (lambda/dump/core.ts `runDump`, wired like
 * lambda/dump/handler.ts: S3ObjectStore with its default part size and concurrency, pg tools,
 * Powertools logger, EMF metrics) and measures its own memory while doing so.
 *
 * bench/run.ts bundles this file with esbuild (as the Lambda is bundled) and forks it once per
 * dump, so the figures are this process alone: s3rver and PostgreSQL run elsewhere. Protocol
 * (IPC): the child sends {type: "ready"} once loaded; the parent sends one ChildJob; the child
 * answers with one ChildReport and exits.
 */
import { readFileSync } from 'node:fs';
import { S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { expectSuccess, startTool } from '../lambda/shared/pg-process';
import { runDump } from '../lambda/dump/core';
import { deadlineSignal } from '../lambda/shared/job-signal';
import { S3ObjectStore } from '../lambda/shared/s3-store';
import { connectionFromUrl } from '../lambda/shared/connection';
import { emfMetrics } from '../lambda/shared/metrics';
import { powertoolsLog } from '../lambda/shared/logging';
import { systemClock } from '../lambda/shared/ports';
import type { CompressionSetting } from '../lambda/shared/compression';

export interface ChildJob {
  /**
   * `pgdr` (default): the real dump job. `pdl`: the popular pg_dump-to-S3 Lambda's way, for
   * comparison: `pg_dump -Fc -Z1` streamed into one S3 upload (lib-storage, one part in flight).
   */
  readonly kind?: 'pgdr' | 'pdl';
  readonly url: string;
  readonly pgBin: string;
  readonly compression: CompressionSetting;
  readonly endpoint: string;
  readonly bucket: string;
  readonly credentials: { accessKeyId: string; secretAccessKey: string };
  readonly database: string;
  readonly backupClass: string;
  /** Multipart part size and parts in flight; undefined = S3ObjectStore's defaults (what Lambda uses). */
  readonly partSize?: number;
  readonly concurrency?: number;
  readonly sampleMs: number;
  /** Passed to runDump as its deadline. */
  readonly deadline: string;
}

export interface MemoryFigures {
  /** process.memoryUsage() after loading and a full GC, just before runDump. */
  readonly rssBefore: number;
  readonly heapUsedBefore: number;
  readonly arrayBuffersBefore: number;
  /** Peaks of the samples taken every sampleMs during runDump (and one right after). */
  readonly rssPeak: number;
  readonly heapUsedPeak: number;
  readonly arrayBuffersPeak: number;
  /** /proc/self/status VmHWM (peak RSS of the process's whole life) before and after runDump; undefined off Linux. */
  readonly vmHwmBefore?: number;
  readonly vmHwmAfter?: number;
  readonly samples: number;
  /** Longest gap between two samples (the event loop was busy). */
  readonly maxGapMs: number;
}

export type ChildReport =
  | {
      readonly ok: true;
      readonly method: string;
      readonly bytes: number;
      readonly uncompressedBytes?: number;
      readonly totalSeconds: number;
      readonly dumpSeconds: number;
      readonly partSize: number;
      readonly concurrency: number;
      readonly memory: MemoryFigures;
      /** Wall seconds of the dump as this process saw it. */
      readonly wallSeconds: number;
      /**
       * CPU seconds of this process and of the children it waited for (pg_dump, zstd): utime +
       * stime + cutime + cstime of /proc/self/stat, during the dump; undefined off Linux.
       */
      readonly cpuSeconds?: number;
    }
  | { readonly ok: false; readonly error: string };

/** VmHWM from /proc/self/status, in bytes. */
function vmHwm(): number | undefined {
  try {
    const kb = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
    return kb === undefined ? undefined : Number(kb) * 1024;
  } catch {
    return undefined;
  }
}

/** CPU seconds of this process and its waited-for children (/proc/self/stat fields 14-17, at 100 ticks a second). */
function treeCpuSeconds(): number | undefined {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state): utime is field 14 -> index 11.
    return fields.slice(11, 15).reduce((sum, f) => sum + Number(f), 0) / 100;
  } catch {
    return undefined;
  }
}

/** The pg_dump-to-S3 Lambda's way: `pg_dump -Fc -Z1` into one streamed upload, one part in flight. */
async function pdlDump(job: ChildJob, s3: S3Client): Promise<{ bytes: number; seconds: number }> {
  const started = Date.now();
  const dump = startTool(job.pgBin, 'pg_dump', ['--format=custom', '--compress=1', '--no-password'], { connection: { ...connectionFromUrl(job.url), sslmode: 'disable' } });
  let bytes = 0;
  dump.stdout.on('data', (chunk: Buffer) => (bytes += chunk.length));
  const key = `${job.database}/pdl/${new Date().toISOString()}.dump`;
  const upload = new Upload({ client: s3, params: { Bucket: job.bucket, Key: key, Body: dump.stdout }, queueSize: 1, partSize: 5 * 1024 * 1024 });
  await Promise.all([upload.done(), expectSuccess(dump)]);
  return { bytes, seconds: (Date.now() - started) / 1000 };
}

async function run(job: ChildJob): Promise<ChildReport> {
  const s3 = new S3Client({ endpoint: job.endpoint, forcePathStyle: true, region: 'us-east-1', credentials: job.credentials, maxAttempts: 1 });
  // s3rver ignores SSE-KMS headers; they are sent anyway so the requests are the Lambda's.
  const storeOptions = { kmsKeyId: 'arn:aws:kms:eu-west-1:123456789012:key/bench', partSize: job.partSize, concurrency: job.concurrency };
  const store = new S3ObjectStore(s3, job.bucket, storeOptions);
  const { partSize, concurrency } = store as unknown as { partSize: number; concurrency: number };
  const deps = {
    store,
    connection: { ...connectionFromUrl(job.url), sslmode: 'disable' as const },
    pgBin: job.pgBin,
    compression: job.compression,
    metrics: emfMetrics(job.database, job.backupClass),
    log: powertoolsLog('pgdr-dump-bench'),
    clock: systemClock,
  };

  global.gc?.();
  global.gc?.();
  const before = process.memoryUsage();
  const vmHwmBefore = vmHwm();
  let rssPeak = before.rss;
  let heapUsedPeak = before.heapUsed;
  let arrayBuffersPeak = before.arrayBuffers;
  let samples = 0;
  let maxGapMs = 0;
  let last = Date.now();
  const sample = () => {
    const now = Date.now();
    maxGapMs = Math.max(maxGapMs, now - last);
    last = now;
    const m = process.memoryUsage();
    samples++;
    rssPeak = Math.max(rssPeak, m.rss);
    heapUsedPeak = Math.max(heapUsedPeak, m.heapUsed);
    arrayBuffersPeak = Math.max(arrayBuffersPeak, m.arrayBuffers);
  };
  const sampler = setInterval(sample, job.sampleMs);
  const cpuBefore = treeCpuSeconds();
  const wallStarted = Date.now();
  const cpuUsed = () => {
    const after = treeCpuSeconds();
    return cpuBefore === undefined || after === undefined ? undefined : Math.round((after - cpuBefore) * 100) / 100;
  };
  const memory = () => ({
    rssBefore: before.rss,
    heapUsedBefore: before.heapUsed,
    arrayBuffersBefore: before.arrayBuffers,
    rssPeak,
    heapUsedPeak,
    arrayBuffersPeak,
    vmHwmBefore,
    vmHwmAfter: vmHwm(),
    samples,
    maxGapMs,
  });
  try {
    if (job.kind === 'pdl') {
      const done = await pdlDump(job, s3);
      sample();
      const cpuSeconds = cpuUsed();
      return { ok: true, method: 'pg_dump -Z1 -> one upload', bytes: done.bytes, totalSeconds: done.seconds, dumpSeconds: done.seconds, partSize: 5 * 1024 * 1024, concurrency: 1, memory: memory(), wallSeconds: done.seconds, cpuSeconds };
    }
    const manifest = await runDump(deps, { database: job.database, backupClass: job.backupClass, signal: deadlineSignal(new Date(job.deadline).getTime() - Date.now()) });
    sample();
    const cpuSeconds = cpuUsed();
    return {
      ok: true,
      wallSeconds: (Date.now() - wallStarted) / 1000,
      cpuSeconds,
      method: manifest.dump.compression.method,
      bytes: manifest.dump.bytes,
      uncompressedBytes: manifest.dump.uncompressedBytes,
      totalSeconds: manifest.durations.totalSeconds,
      dumpSeconds: manifest.durations.dumpSeconds,
      partSize,
      concurrency,
      memory: memory(),
    };
  } finally {
    clearInterval(sampler);
    s3.destroy();
  }
}

if (process.send) {
  process.once('message', (job: ChildJob) => {
    run(job)
      .catch((err: unknown): ChildReport => ({ ok: false, error: (err as Error).message ?? String(err) }))
      .then((report) => process.send!(report, () => process.exit(0)));
  });
  process.send({ type: 'ready' });
}
