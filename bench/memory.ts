/**
 * Memory section: does the dump job's memory grow with the database? The real dump core runs in
 * a child process of its own (bench/dump-child.ts) against one table grown step by step to each
 * requested size of pg_dump -Z0 output, for each compression setting; the child reports its RSS
 * before the dump, the peak of 50 ms samples, /proc/self/status VmHWM, and heap and Buffer peaks.
 */
import { cpus, totalmem } from 'node:os';
import type { CompressionSetting } from '../lambda/shared/compression';
import { Bench, dumpInChild, DumpReport, fillEvents, MIB, rawDumpBytes } from './context';

export interface MemoryOptions {
  /** Target sizes of pg_dump -Z0 output, MiB (ascending order is used). */
  readonly sizesMiB: number[];
  readonly settings: CompressionSetting[];
  /** Dumps per size and setting. */
  readonly repeat: number;
  /** Told each run's peak RSS (the higher of the samples and VmHWM) and its size of pg_dump -Z0 output. */
  readonly onPeak?: (rawBytes: number, peakBytes: number) => void;
}

interface Row {
  readonly setting: CompressionSetting;
  readonly rawBytes: number;
  readonly run: number;
  readonly report: DumpReport;
}

const mib = (bytes: number | undefined, digits = 0) => (bytes === undefined ? 'n/a' : (bytes / MIB).toFixed(digits));

/** A run's peak RSS: the highest of the sampled peak and the kernel's VmHWM. */
const peakOf = (r: Row) => Math.max(r.report.memory.rssPeak, r.report.memory.vmHwmAfter ?? 0);
const range = (values: number[]) => (mib(Math.min(...values)) === mib(Math.max(...values)) ? mib(values[0]) : `${mib(Math.min(...values))}-${mib(Math.max(...values))}`);

/**
 * The conclusion paragraph, computed from the rows so that a re-run cannot leave a stale claim.
 * Per setting: the mean peak per size, and a verdict against the noise (the largest spread between
 * runs of one size, at least one part size): "flat" when the means of all sizes are within it,
 * "levels off" when the last size step adds no more than it, "still rising" otherwise.
 */
function conclude(rows: Row[], settings: CompressionSetting[], partSize: number, concurrency: number): string {
  const sizes = [...new Set(rows.map((r) => r.rawBytes))].sort((a, b) => a - b);
  const first = sizes[0];
  const last = sizes[sizes.length - 1];
  const mean = (values: number[]) => values.reduce((x, y) => x + y, 0) / values.length;
  const verdicts = settings.map((setting) => {
    const mine = rows.filter((r) => r.setting === setting);
    const at = (size: number) => mine.filter((r) => r.rawBytes === size).map(peakOf);
    const means = sizes.map((size) => mean(at(size)));
    const noise = Math.max(0, ...sizes.map((size) => Math.max(...at(size)) - Math.min(...at(size))));
    const tolerance = Math.max(partSize, noise);
    const kind: 'flat' | 'levels off' | 'still rising' =
      Math.max(...means) - Math.min(...means) <= tolerance ? 'flat' : sizes.length > 1 && means[means.length - 1] - Math.max(...means.slice(0, -1)) <= tolerance ? 'levels off' : 'still rising';
    const text =
      `${setting} (${mine[0].report.method}): ${means.map((m) => mib(m)).join(' → ')} MiB` +
      ` (${kind}; runs of one size differ by up to ${mib(noise)} MiB; peak − RSS before the dump at most ${mib(Math.max(...mine.map((r) => r.report.memory.rssPeak - r.report.memory.rssBefore)))} MiB)`;
    return { kind, text };
  });
  const kinds = new Set(verdicts.map((v) => v.kind));
  const times = `${mib(first)} → ${mib(last)} MiB of dump (${(last / first).toFixed(0)}×)`;
  const verdict = kinds.has('still rising')
    ? `**Peak RSS is still rising at the largest size in this run** for ${verdicts.filter((v) => v.kind === 'still rising').length} of ${verdicts.length} settings, over ${times}`
    : kinds.has('levels off')
      ? `**Peak RSS rises at the small end, then levels off** over ${times}: the last size step adds no more than the run-to-run spread (or one ${mib(partSize)} MiB part)`
      : `**Peak RSS is flat across sizes** over ${times}: within the run-to-run spread (or one ${mib(partSize)} MiB part)`;
  const buffers = (which: (r: Row) => boolean) => range(rows.filter(which).map((r) => r.report.memory.arrayBuffersPeak));
  const buffersMax = Math.max(...rows.map((r) => r.report.memory.arrayBuffersPeak));
  const heaps = rows.map((r) => r.report.memory.heapUsedPeak);
  const design = partSize * (concurrency + 1);
  return [
    `**Conclusion.** ${verdict}. Mean peak RSS per size: ${verdicts.map((v) => v.text).join('; ')}.`,
    `The JS heap peaked at ${range(heaps)} MiB at every size, and Buffers (\`arrayBuffers\`, where the part data lives) at ${buffers((r) => r.rawBytes === first)} MiB at the smallest size and ${sizes.length > 1 ? buffers((r) => r.rawBytes !== first) : 'n/a'} MiB at the others:`,
    `about ${(buffersMax / partSize).toFixed(0)} parts of ${mib(partSize)} MiB` +
      (buffersMax > design + partSize / 2
        ? `, more than S3ObjectStore's documented ${mib(partSize)} × (${concurrency} + 1) = ${mib(design)} MiB, because the buffer joined from the incoming chunks lives until its last part is uploaded, and finished parts are freed only at the next garbage collection.`
        : ` (S3ObjectStore's design bound: ${mib(partSize)} × (${concurrency} + 1) = ${mib(design)} MiB).`),
    kinds.has('flat') && kinds.size === 1
      ? ''
      : 'The rest of the rise is outside the JS heap and Buffers: most likely memory the allocator keeps after parts are freed, plus short dumps rarely meeting the moment when all part buffers are held at once.',
    `The highest peak of the dump job's process was ${mib(Math.max(...rows.map(peakOf)))} MiB (the dump function gets 1769 MiB by default, one vCPU); pg_dump and zstd run in processes of their own and are not counted here.`,
  ]
    .filter(Boolean)
    .join(' ');
}

export async function memorySection(bench: Bench, options: MemoryOptions): Promise<string> {
  const db = 'memory';
  await bench.pg.createDatabase(db);
  await bench.pg.sql(db, 'CREATE TABLE events (id bigint, body text)');
  const [{ version }] = await bench.pg.sql<{ version: string }>(db, `SELECT current_setting('server_version') AS version`);
  const started = Date.now();
  const rows: Row[] = [];
  let tableRows = 0;
  let bytesPerRow = 1000; // first guess (30 md5 hex strings and their spaces); measured after the first fill
  for (const target of [...options.sizesMiB].sort((a, b) => a - b)) {
    const wanted = Math.max(tableRows, Math.round((target * MIB) / bytesPerRow));
    console.error(`memory: growing the table to ~${target} MiB of dump (${wanted} rows)...`);
    await fillEvents(bench, db, tableRows + 1, wanted);
    tableRows = wanted;
    const rawBytes = rawDumpBytes(bench, db);
    bytesPerRow = rawBytes / tableRows;
    for (let run = 1; run <= options.repeat; run++) {
      for (const setting of options.settings) {
        const report = await dumpInChild(bench, db, setting);
        rows.push({ setting, rawBytes, run, report });
        options.onPeak?.(rawBytes, peakOf(rows[rows.length - 1]));
        const m = report.memory;
        console.error(
          `memory: ${mib(rawBytes)} MiB ${setting} (${report.method}) run ${run}: ${report.totalSeconds} s, RSS ${mib(m.rssBefore)} -> peak ${mib(m.rssPeak)} MiB, VmHWM ${mib(m.vmHwmAfter)} MiB, Buffers peak ${mib(m.arrayBuffersPeak)} MiB`,
        );
      }
    }
  }
  const wallSeconds = (Date.now() - started) / 1000;
  const { partSize, concurrency } = rows[0].report;
  // Its table (GiBs) would stay on disk and in the page cache for the sections after it: with the
  // cache full, every file they write pays the kernel's reclaim (measured: the verify's download of
  // a 784 MiB archive 2.5-2.7 s and 4.0-4.2 machine CPU-s with a full cache, 1.6-2.1 s and 2.3-2.7 without).
  await bench.pg.sql('postgres', `DROP DATABASE ${db} WITH (FORCE)`);

  const table = [
    '| PGDR_COMPRESSION (method) | run | pg_dump -Z0 MiB | stored MiB | seconds | MB/s | RSS before dump | peak RSS (50 ms samples) | VmHWM at end | peak − before | heap used before → peak | Buffers peak (arrayBuffers) | samples (longest gap) |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map(({ setting, rawBytes, run, report: r }) => {
      const m = r.memory;
      return `| ${setting} (${r.method}) | ${run} | ${mib(rawBytes)} | ${mib(r.bytes)} | ${r.totalSeconds.toFixed(2)} | ${(rawBytes / 1e6 / r.totalSeconds).toFixed(0)} | ${mib(m.rssBefore)} | ${mib(m.rssPeak)} | ${mib(m.vmHwmAfter)} | ${mib(m.rssPeak - m.rssBefore)} | ${mib(m.heapUsedBefore)} → ${mib(m.heapUsedPeak)} | ${mib(m.arrayBuffersPeak)} | ${m.samples} (${m.maxGapMs} ms) |`;
    }),
  ];

  const conclusion = conclude(rows, options.settings, partSize, concurrency);
  return [
    '## Memory of the dump job against database size',
    '',
    `Measured ${new Date().toISOString().slice(0, 10)} by \`npm run bench\` (bench/memory.ts; \`--sizes ${options.sizesMiB.join(',')} --settings ${options.settings.join(',')} --repeat ${options.repeat}\`) on ${cpus()[0]?.model?.trim() ?? 'unknown CPU'}, ${cpus().length} cores, ${Math.round(totalmem() / 1024 ** 3)} GiB RAM;`,
    `Node ${process.version}, PostgreSQL ${version} (throw-away cluster on 127.0.0.1), s3rver on 127.0.0.1; ${wallSeconds.toFixed(0)} s for this section.`,
    '',
    `The real dump job (\`runDump\` of lambda/dump/core.ts with the S3ObjectStore, pg tools, Powertools logger and EMF metrics, wired like lambda/dump/handler.ts, bundled with esbuild like the Lambda) runs in a **Node process of its own for every dump**: s3rver runs in the benchmark's process and PostgreSQL, pg_dump and zstd in theirs, so the figures below are the dump job's process alone. ` +
      `Multipart upload as in Lambda: **${mib(partSize)} MiB parts, ${concurrency} in flight** (S3ObjectStore defaults), by design ${mib(partSize)} × (${concurrency} + 1) = ${mib(partSize * (concurrency + 1))} MiB of part buffers. ` +
      `Data: one table of random md5 hex text (~1 KiB rows, compresses about 2:1) grown between the sizes; "pg_dump -Z0 MiB" is the measured size of \`pg_dump -Fc -Z0\` of it. ` +
      'Memory in MiB: "RSS before dump" is `process.memoryUsage().rss` after loading and a full GC; "peak RSS" the highest of the samples taken every 50 ms during the dump; "VmHWM" the kernel\'s peak RSS of the child\'s whole life, read from /proc/self/status at the end (it cannot miss a peak between samples); "Buffers" is `arrayBuffers`, where the part buffers live. MB/s = pg_dump -Z0 bytes / seconds of the whole job (connect, snapshot, counts, dump, upload, manifest).',
    '',
    ...table,
    '',
    conclusion,
    '',
  ].join('\n');
}
