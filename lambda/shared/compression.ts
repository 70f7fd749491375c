/**
 * How dumps are compressed (docs/data-path.md "Compression" has the measurements behind this).
 *
 * `auto` picks, in order:
 *   1. `zstd-stream` when a `zstd` binary is next to the PostgreSQL tools (PGDR_PG_BIN) or on
 *      PATH: pg_dump -Fc -Z0 piped (process to process) through `zstd -1 -T0`. Fastest measured
 *      here, and the only option that learns the uncompressed size (zstd's count; CompressionRatio).
 *   2. `pg_dump-zstd` when pg_dump is 16 or newer (`--compress=zstd:1`, inside the custom format).
 *   3. `pg_dump-gzip` otherwise (`-Z1`, zlib level 1 inside the custom format).
 */
import { existsSync } from 'node:fs';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import type { CompressionInfo } from './records';
import { findOnPath, RunningTool, startTool } from './pg-process';

export type CompressionSetting = 'auto' | CompressionInfo['method'];
export const COMPRESSION_SETTINGS: readonly CompressionSetting[] = ['auto', 'zstd-stream', 'pg_dump-zstd', 'pg_dump-gzip', 'none'];

export interface CompressionPlan {
  readonly info: CompressionInfo;
  /** pg_dump arguments selecting its own compression. */
  readonly pgDumpArgs: string[];
  /** The zstd binary, for `zstd-stream`. */
  readonly zstd?: string;
}

/** Where a `zstd` binary is: `<pgBin>/zstd`, else PATH. */
export function findZstd(pgBin: string): string | undefined {
  const local = join(pgBin, 'zstd');
  return existsSync(local) ? local : findOnPath('zstd');
}

/** Chooses the compression for a pg_dump of major `pgDumpMajor`. */
export function planCompression(setting: CompressionSetting, pgDumpMajor: number, pgBin: string): CompressionPlan {
  const zstd = findZstd(pgBin);
  const pick = setting === 'auto' ? (zstd ? 'zstd-stream' : pgDumpMajor >= 16 ? 'pg_dump-zstd' : 'pg_dump-gzip') : setting;
  switch (pick) {
    case 'zstd-stream':
      if (!zstd) throw new Error(`compression zstd-stream needs a zstd binary in ${pgBin} or on PATH`);
      return { info: { method: 'zstd-stream', level: 1 }, pgDumpArgs: ['--compress=0'], zstd };
    case 'pg_dump-zstd':
      if (pgDumpMajor < 16) throw new Error(`compression pg_dump-zstd needs pg_dump 16 or newer (this is ${pgDumpMajor})`);
      return { info: { method: 'pg_dump-zstd', level: 1 }, pgDumpArgs: ['--compress=zstd:1'] };
    case 'pg_dump-gzip':
      return { info: { method: 'pg_dump-gzip', level: 1 }, pgDumpArgs: ['--compress=1'] };
    case 'none':
      return { info: { method: 'none', level: 0 }, pgDumpArgs: ['--compress=0'] };
    default:
      throw new Error(`unknown compression ${JSON.stringify(setting)}; use one of ${COMPRESSION_SETTINGS.join(', ')}`);
  }
}

/**
 * `zstd -1 -T0`: stdin in (or `inputFile`, which zstd then reads itself), one zstd frame out (into
 * `stdout` when given: an open file descriptor, or a StagedOutput's socket; else a pipe). `-vv`
 * makes it end with a summary line on stderr giving the exact byte counts in and out
 * (`zstdSummary`); nothing else it prints is an error line.
 */
export function startCompressor(zstd: string, level: number, stdout?: number | Socket, inputFile?: string): RunningTool {
  const into = stdout === undefined ? {} : typeof stdout === 'number' ? { stdoutFd: stdout } : { stdoutSocket: stdout };
  const input = inputFile === undefined ? [] : ['--', inputFile];
  return startTool('', zstd, [`-${level}`, '-T0', '-vv', '-c', ...input], { stdin: inputFile === undefined, ...into });
}

/**
 * The byte counts of zstd's closing summary on stderr (`/*stdin*\ : 12.34% (25577700 B => 3156789 B, /*stdout*\)`,
 * `(25577700 => 3156789 bytes, ...)` in older versions): the last one found, or undefined.
 */
export function zstdSummary(stderr: string): { readonly inBytes: number; readonly outBytes: number } | undefined {
  const all = [...stderr.matchAll(/\(\s*(\d+)\s*(?:B\s*)?=>\s*(\d+)\s*(?:B|bytes)\s*,/g)];
  const last = all[all.length - 1];
  return last ? { inBytes: Number(last[1]), outBytes: Number(last[2]) } : undefined;
}

/**
 * What turns a stored object back into a custom-format archive for pg_restore: undefined when
 * the object already is one, else a running `zstd -dc` (writing into `stdoutFd` when given).
 */
export function startDecompressor(info: CompressionInfo, pgBin: string, stdoutFd?: number): RunningTool | undefined {
  if (info.method !== 'zstd-stream') return undefined;
  const zstd = findZstd(pgBin);
  if (!zstd) throw new Error(`this dump is zstd-compressed; verifying it needs a zstd binary in ${pgBin} or on PATH`);
  return startTool('', zstd, ['-d', '-q', '-c'], { stdin: true, ...(stdoutFd !== undefined ? { stdoutFd } : {}) });
}

/**
 * Bytes a stored object takes once its stream compression is undone: `uncompressedBytes` when
 * recorded, else an estimate of 4x the stored bytes for a zstd-stream object; other methods are
 * stored as pg_dump wrote them.
 */
export function decompressedBytes(compression: CompressionInfo, bytes: number, uncompressedBytes?: number): number {
  return compression.method === 'zstd-stream' ? (uncompressedBytes ?? bytes * 4) : bytes;
}
