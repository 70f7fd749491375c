/**
 * How a restore reads a stored dump, for the verify job's restore test and the failover's
 * restore job: `file` downloads it (decompressed, hashed on the way) into a work directory and
 * runs `pg_restore --jobs N` on the file (pg_restore needs a seekable file to run in parallel;
 * measured 0.65× the time of one job here); `stream` pipes it into one pg_restore. The file mode
 * runs only when the work directory has room for the archive plus a margin; otherwise the
 * restore streams, and `modeReason` says why (it goes into the verification / restore record).
 */
import { randomBytes } from 'node:crypto';
import { readdir, rm, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { downloadArchive, DownloadResult } from './archive';
import type { ObjectStore } from './ports';
import type { BackupManifest } from './records';

export type RestoreMode = 'file' | 'stream';

/** Where and how a restore may use a local file. */
export interface RestoreFileSettings {
  /** Ephemeral directory for the file mode; absent: always stream. */
  readonly workDir?: string;
  /** pg_restore --jobs in file mode. @default 2 */
  readonly jobs?: number;
  /** Free bytes in `dir` (a port for tests). @default fs.statfs */
  readonly freeBytes?: (dir: string) => Promise<number>;
}

/** The mode chosen, why, and pg_restore's jobs (1 when streaming). */
export interface RestoreModeChoice {
  readonly mode: RestoreMode;
  readonly modeReason: string;
  readonly jobs: number;
}

/** Extra room asked for beyond the archive itself (10 %). */
export const FILE_MARGIN = 0.1;

/** Space the file mode needs: the decompressed archive (unknown size: 4x the stored bytes), plus the margin. */
export function neededFileBytes(manifest: BackupManifest): number {
  const archive = manifest.dump.compression.method === 'zstd-stream' ? (manifest.dump.uncompressedBytes ?? manifest.dump.bytes * 4) : manifest.dump.bytes;
  return Math.ceil(archive * (1 + FILE_MARGIN));
}

async function statfsFree(dir: string): Promise<number> {
  const s = await statfs(dir);
  return s.bavail * s.bsize;
}

/** File + --jobs when it can shorten the restore and the work directory has room; else stream. */
export async function chooseRestoreMode(manifest: BackupManifest, settings: RestoreFileSettings): Promise<RestoreModeChoice> {
  const jobs = Math.max(1, Math.floor(settings.jobs ?? 2));
  const stream = (modeReason: string): RestoreModeChoice => ({ mode: 'stream', modeReason, jobs: 1 });
  if (!settings.workDir) return stream('no work directory: streamed');
  if (jobs < 2) return stream('jobs 1: streamed (a file would not shorten the restore)');
  const needed = neededFileBytes(manifest);
  let free: number;
  try {
    free = await (settings.freeBytes ?? statfsFree)(settings.workDir);
  } catch (err) {
    return stream(`the work directory ${settings.workDir} cannot be used (${(err as Error).message}): streamed`);
  }
  if (free >= needed) return { mode: 'file', modeReason: `${free} bytes free in the work directory, ${needed} needed: pg_restore --jobs ${jobs} from a file`, jobs };
  return stream(`${free} bytes free in the work directory, ${needed} needed: streamed`);
}

/** Names of the files `downloadToWorkDir` creates. */
const WORK_FILE = /^pgdr-restore-[0-9a-f]{12}\.dump$/;

/**
 * Removes the files an earlier run left in `workDir` (a Lambda stopped at its timeout cannot
 * remove its file, and the next invocation in the same environment inherits /tmp). Only for a
 * work directory no other run uses at the same time (a Lambda environment runs one invocation at
 * a time). Only pgdr's own file names are touched; returns them.
 */
export async function removeLeftoverFiles(workDir: string): Promise<string[]> {
  let names: string[];
  try {
    names = (await readdir(workDir)).filter((n) => WORK_FILE.test(n));
  } catch {
    return [];
  }
  await Promise.all(names.map((n) => rm(join(workDir, n), { force: true })));
  return names;
}

/**
 * Downloads the manifest's dump into a new file in `workDir` (shared/archive.ts `downloadArchive`:
 * decompressed, stored bytes hashed). Undefined when the object is missing. The caller compares
 * size and SHA-256 with the manifest and removes `file`; on error nothing is left behind.
 */
export async function downloadToWorkDir(store: ObjectStore, manifest: BackupManifest, pgBin: string, workDir: string): Promise<(DownloadResult & { readonly file: string }) | undefined> {
  const body = await store.getStream(manifest.dump.key);
  if (!body) return undefined;
  const file = join(workDir, `pgdr-restore-${randomBytes(6).toString('hex')}.dump`);
  return { ...(await downloadArchive(body, manifest.dump.compression, pgBin, file)), file };
}
