/**
 * How a restore reads a stored dump, for the verify job's restore test and the failover's
 * restore job: `file` downloads it (decompressed, hashed on the way) into a work directory and
 * runs `pg_restore --jobs N` on the file (pg_restore needs a seekable file to run in parallel;
 * measured 0.65× the time of one job here); `stream` pipes it into one pg_restore. The file mode
 * runs only when the work directory has room for the archive plus a margin; otherwise the
 * restore streams, and `modeReason` says why (it goes into the verification / restore record).
 * A directory-format dump has no stream mode: it is always downloaded into a directory of the work
 * directory (mode `file`), and without room for it `chooseRestoreMode` throws NoRoomError.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { availableParallelism, freemem } from 'node:os';
import { decompressedBytes } from './compression';
import { access, mkdir, readdir, rm, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { downloadArchive, DownloadResult } from './archive';
import { findDataOffsets, FoundOffsets, OffsetsResult, patchDataOffsets } from './archive-offsets';
import type { LogPort, ObjectStore } from './ports';
import type { BackupManifest, DirectoryDump } from './records';
import { directoryLocalBytes, fetchDirectoryDump, FetchedFile } from './directory-archive';
import { namedError } from './named-error';

export type RestoreMode = 'file' | 'stream';

/** Where and how a restore may use a local file. */
export interface RestoreFileSettings {
  /** Ephemeral directory for the file mode; absent: always stream. */
  readonly workDir?: string;
  /**
   * A memory-backed directory (tmpfs, `memoryBackedDir()`) that the file mode prefers to `workDir`
   * when the archive fits in it and in a quarter of the available memory. The archive is read by
   * pg_restore once and removed: on a disk-backed work directory the kernel writes its GiBs back to
   * disk while the restore writes the database, and the restore waits (measured on the 1.2 GB bench
   * database, 2 cores, ext4: pgdr verify 18.3-19.5 s with the archive in /tmp, 15.7-18.0 s in
   * /dev/shm, its restore 14.6-15.9 s against 13.0-13.8 s). Only for a restore on this machine's
   * memory budget (the local CLI and drill): Lambda has no /dev/shm, Fargate's holds 64 MiB.
   * @default none
   */
  readonly memoryDir?: string;
  /** Available memory in bytes (a port for tests). @default os.freemem() (the kernel's MemAvailable) */
  readonly availableMemory?: () => number;
  /** pg_restore --jobs in file mode. @default 2 */
  readonly jobs?: number;
  /** Free bytes in `dir` (a port for tests). @default fs.statfs */
  readonly freeBytes?: (dir: string) => Promise<number>;
}

/**
 * `pg_restore --jobs` for a restore server that runs on this machine (an ephemeral server, or a
 * server at a loopback address or Unix socket): one job more than the machine's cores, at most 16.
 * pg_restore starts the largest tables first and builds a table's indexes only after its data, so
 * with one job per core a core idles whenever what is left waits on the one table still loading;
 * the extra job keeps every core busy. Measured on the 1.2 GB bench database (2 cores, interleaved
 * runs): `-j 3` 11.30-12.26 s (median 11.93) against `-j 2` 11.93-12.87 s (median 12.42). A server
 * elsewhere has cores this machine does not know: its jobs come from the settings (PGDR_RESTORE_JOBS).
 */
export function localRestoreJobs(cores: number = availableParallelism()): number {
  return Math.min(16, Math.max(1, Math.floor(cores)) + 1);
}

/** True when `host` (a connection's host) is this machine: a loopback name or address, or a Unix socket directory. */
export function isThisMachine(host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[(.*)\]$/, '$1');
  return h.startsWith('/') || h === 'localhost' || h.endsWith('.localhost') || h === '::1' || /^127(?:\.\d{1,3}){3}$/.test(h);
}

/** True when the restore server `server` runs on this machine: an ephemeral server, or a connection to this machine. */
export function onThisMachine(server: { readonly kind: 'ephemeral' } | { readonly connection: { readonly host: string } }): boolean {
  return !('connection' in server) || isThisMachine(server.connection.host);
}

/** `pg_restore --jobs` of a restore into `server`: `localRestoreJobs()` when it runs on this machine (`onThisMachine`), else `elsewhere`. */
export function restoreJobsFor(server: Parameters<typeof onThisMachine>[0], elsewhere = 2): number {
  return onThisMachine(server) ? localRestoreJobs() : elsewhere;
}

/** The mode chosen, why, and pg_restore's jobs (1 when streaming). */
export interface RestoreModeChoice {
  readonly mode: RestoreMode;
  readonly modeReason: string;
  readonly jobs: number;
  /** File mode: the directory the dump is downloaded into (the work directory or the memory directory). */
  readonly dir?: string;
}

/** The share of the available memory an archive may take in the memory directory. */
export const MEMORY_SHARE = 0.25;

/** TMPFS_MAGIC of statfs(2): a file system whose pages live in memory (and swap), never written back to a disk. */
const TMPFS_MAGIC = 0x01021994;

/**
 * The first of `candidates` that is a writable tmpfs directory, else undefined (no /dev/shm, as on
 * macOS, or not a tmpfs). For `RestoreFileSettings.memoryDir`.
 */
export async function memoryBackedDir(candidates: readonly string[] = ['/dev/shm']): Promise<string | undefined> {
  for (const dir of candidates) {
    try {
      if ((await statfs(dir)).type !== TMPFS_MAGIC) continue;
      await access(dir, constants.W_OK);
      return dir;
    } catch {
      // absent or not writable: the next candidate
    }
  }
  return undefined;
}

/**
 * The memory directory when the download fits in it and in MEMORY_SHARE of the available memory,
 * after removing what runs that died there left (`removeOrphans`); undefined otherwise.
 */
async function memoryRoom(settings: RestoreFileSettings, needed: number): Promise<{ readonly dir: string; readonly reason: string } | undefined> {
  const dir = settings.memoryDir;
  if (!dir) return undefined;
  await removeOrphans(dir);
  const free = await freeBytesIn(settings, dir);
  const memory = (settings.availableMemory ?? freemem)();
  if (typeof free === 'string' || free < needed || needed > memory * MEMORY_SHARE) return undefined;
  return { dir, reason: `in memory: ${needed} bytes needed, ${free} free in ${dir} (tmpfs) and ${memory} bytes of memory available (at most a quarter is used)` };
}

/** Extra room asked for beyond the archive itself (10 %). */
export const FILE_MARGIN = 0.1;

/**
 * Space the file mode needs: the decompressed archive (unknown size: 4x the stored bytes), or a
 * directory dump's decompressed files, plus the margin.
 */
export function neededFileBytes(manifest: BackupManifest): number {
  const { dump } = manifest;
  const archive = dump.format === 'directory' ? directoryLocalBytes(dump) : decompressedBytes(dump.compression, dump.bytes, dump.uncompressedBytes);
  return Math.ceil(archive * (1 + FILE_MARGIN));
}

/** A directory-format dump cannot be restored here: it restores only from a local directory, and there is none with room (no streaming for this format). */
export class NoRoomError extends namedError('NoRoomError') {}

async function statfsFree(dir: string): Promise<number> {
  const s = await statfs(dir);
  return s.bavail * s.bsize;
}

/** Free bytes in the work directory, or why it cannot be used. */
async function freeBytesIn(settings: RestoreFileSettings, workDir: string): Promise<number | string> {
  try {
    return await (settings.freeBytes ?? statfsFree)(workDir);
  } catch (err) {
    return `the work directory ${workDir} cannot be used (${(err as Error).message})`;
  }
}

/**
 * File + --jobs when it can shorten the restore and the work directory has room; else stream. A
 * directory-format dump is always restored from a local directory (`pg_restore --jobs N <dir>`):
 * without room for it, NoRoomError says why.
 */
export async function chooseRestoreMode(manifest: BackupManifest, settings: RestoreFileSettings): Promise<RestoreModeChoice> {
  const jobs = Math.max(1, Math.floor(settings.jobs ?? 2));
  if (manifest.dump.format === 'directory') {
    const needed = neededFileBytes(manifest);
    const count = manifest.dump.files.length;
    const refuse = (why: string) => new NoRoomError(`${why}, ${needed} bytes needed to download the directory-format dump (${count} files): there is no streaming restore of this format`);
    if (!settings.workDir) throw refuse('no work directory');
    const inMemory = await memoryRoom(settings, needed);
    if (inMemory) return { mode: 'file', modeReason: `directory format, ${inMemory.reason}: downloaded there, pg_restore --jobs ${jobs} from the directory`, jobs, dir: inMemory.dir };
    const free = await freeBytesIn(settings, settings.workDir);
    if (typeof free === 'string') throw refuse(free);
    if (free < needed) throw refuse(`${free} bytes free in the work directory ${settings.workDir}`);
    return { mode: 'file', modeReason: `directory format: ${free} bytes free in the work directory, ${needed} needed: downloaded, pg_restore --jobs ${jobs} from the directory`, jobs, dir: settings.workDir };
  }
  const stream = (modeReason: string): RestoreModeChoice => ({ mode: 'stream', modeReason, jobs: 1 });
  if (!settings.workDir) return stream('no work directory: streamed');
  if (jobs < 2) return stream('jobs 1: streamed (a file would not shorten the restore)');
  const needed = neededFileBytes(manifest);
  const inMemory = await memoryRoom(settings, needed);
  if (inMemory) return { mode: 'file', modeReason: `${inMemory.reason}: pg_restore --jobs ${jobs} from a file there`, jobs, dir: inMemory.dir };
  const free = await freeBytesIn(settings, settings.workDir);
  if (typeof free === 'string') return stream(`${free}: streamed`);
  if (free >= needed) return { mode: 'file', modeReason: `${free} bytes free in the work directory, ${needed} needed: pg_restore --jobs ${jobs} from a file`, jobs, dir: settings.workDir };
  return stream(`${free} bytes free in the work directory, ${needed} needed: streamed`);
}

/** `downloadName`'s names (group 1: the pid); without a pid, a name from before pgdr kept one. */
const DOWNLOAD = /^pgdr-restore-(?:p(\d+)-)?[0-9a-f]{12}\.(?:dump|dir)$/;

/** `dumpDirName`'s names. */
const DUMP_DIR = /^pgdr-dump-[0-9a-f]{12}\.dir$/;

/** A fresh name for the dump job's pg_dump output directory (directory format, lambda/dump/core.ts). */
export function dumpDirName(): string {
  return `pgdr-dump-${randomBytes(6).toString('hex')}.dir`;
}

/**
 * Names of what the jobs create in a work directory: `downloadToWorkDir`'s file (custom format) or
 * directory (directory format), the dump job's pg_dump output directory.
 */
const isWorkFile = (name: string): boolean => DOWNLOAD.test(name) || DUMP_DIR.test(name);

/** The names in `dir` that `pick` selects; none when `dir` cannot be read. */
async function namesIn(dir: string, pick: (name: string) => boolean): Promise<string[]> {
  try {
    return (await readdir(dir)).filter(pick);
  } catch {
    return [];
  }
}

/** A download's name: `pgdr-restore-p<pid>-<random>.<ext>`; the pid lets a later run find the files of a run that died (`removeOrphans`). */
function downloadName(ext: 'dump' | 'dir'): string {
  return `pgdr-restore-p${process.pid}-${randomBytes(6).toString('hex')}.${ext}`;
}

/** Whether process `pid` is alive (EPERM: it is, under another user). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes the downloads in `dir` whose run is gone (its pid no longer exists): in a memory directory
 * shared by every run on the machine, what a run killed with SIGKILL left would otherwise hold its
 * memory until a reboot. Files of live runs are never touched, and one that cannot be removed (another
 * user's, in a sticky directory) is left. Returns the names removed.
 */
export async function removeOrphans(dir: string): Promise<string[]> {
  const names = await namesIn(dir, (n) => {
    const pid = DOWNLOAD.exec(n)?.[1];
    return pid !== undefined && !alive(Number(pid));
  });
  // Another user's file in a shared /dev/shm (sticky) cannot be removed: left, never an error.
  const removed = await Promise.all(names.map((n) => rm(join(dir, n), { force: true, recursive: true }).then(() => n, () => undefined)));
  return removed.filter((n): n is string => n !== undefined);
}

/**
 * Removes the files and directories an earlier run left in `workDir` (a Lambda stopped at its
 * timeout cannot remove them, and the next invocation in the same environment inherits /tmp). Only
 * for a work directory no other run uses at the same time (a Lambda environment runs one invocation
 * at a time). Only pgdr's own names are touched; returns them.
 */
export async function removeLeftoverFiles(workDir: string): Promise<string[]> {
  const names = await namesIn(workDir, isWorkFile);
  await Promise.all(names.map((n) => rm(join(workDir, n), { force: true, recursive: true })));
  return names;
}

/**
 * The data offsets of a downloaded custom-format archive that pg_dump wrote into a pipe
 * (shared/archive-offsets.ts). Their scan reads the whole file (0.23-0.29 s for the bench's 0.8 GB
 * archive in memory; a disk's read speed for one that is not) and starts as soon as the download
 * is done, while the caller does what needs only the table of contents (`pg_restore --list`, the
 * roles, the restore test's `--section=pre-data` and its unlogged tables); `write()` waits for it
 * and writes the offsets into the file: call it before `pg_restore --jobs` restores the data, when
 * nothing else reads the file. An archive it does not understand, or a read or write that fails,
 * leaves the file as it was (`log` warns; pg_restore then searches the file instead).
 */
export class DataOffsets {
  private readonly found: Promise<FoundOffsets | { readonly skipped: string }>;
  private written?: Promise<OffsetsResult>;

  constructor(
    private readonly file: string,
    private readonly warn: (reason: string) => void,
  ) {
    this.found = findDataOffsets(file).catch((err: Error) => ({ skipped: `reading the archive failed: ${err.message}` }));
  }

  /** Writes the offsets found into the file (once; later calls answer the same). Never rejects. */
  write(): Promise<OffsetsResult> {
    this.written ??= this.found
      .then((found) => patchDataOffsets(this.file, found))
      .catch((err: Error) => ({ skipped: `writing the offsets failed: ${err.message}` }))
      .then((result) => {
        if ('skipped' in result) this.warn(result.skipped);
        return result;
      });
    return this.written;
  }

  /** Settles once the scan has ended (the file may then be removed). */
  async scanned(): Promise<void> {
    await this.found;
  }
}

/**
 * Downloads the manifest's dump into a new file in `workDir` (shared/archive.ts `downloadArchive`:
 * decompressed, stored bytes hashed) and starts the scan for its data offsets (`DataOffsets`: write
 * them before the parallel restore). Undefined when the object is missing. The caller compares size
 * and SHA-256 with the manifest and removes `file` (after `dataOffsets.scanned()`); on error nothing
 * is left behind.
 */
export async function downloadToWorkDir(
  store: ObjectStore,
  manifest: BackupManifest,
  pgBin: string,
  workDir: string,
  log: LogPort,
): Promise<(DownloadResult & { readonly file: string; readonly dataOffsets: DataOffsets }) | undefined> {
  if (manifest.dump.format !== 'custom') throw new Error(`downloadToWorkDir reads a custom-format dump; ${manifest.dump.key} is ${manifest.dump.format}`);
  const body = await store.getStream(manifest.dump.key);
  if (!body) return undefined;
  const file = join(workDir, downloadName('dump'));
  const got = await downloadArchive(body, manifest.dump.compression, pgBin, file);
  // The dump was written into a pipe: give pg_restore --jobs the data offsets it would have had.
  const dataOffsets = new DataOffsets(file, (reason) => log.warn('data offsets not written (pg_restore searches the file instead)', { database: manifest.database, key: manifest.dump.key, reason }));
  return { ...got, file, dataOffsets };
}

/**
 * Starts removing a downloaded archive (file or directory; nothing when `path` is undefined) that
 * nothing reads any more, and returns the removal for the caller to await before it returns. Freeing
 * the pages of a file of GiBs is kernel work (0.16-0.30 s for the 0.8 GB bench archive here): started
 * when pg_restore exits, it runs while the caller compares with the manifest and drops a scratch
 * database, instead of after them. With `offsets`, after their scan has ended. A failure surfaces
 * where the caller awaits.
 */
export function startRemoving(path: string | undefined, offsets?: DataOffsets): Promise<void> {
  // A scan of the file still running (DataOffsets) ends first.
  const removing = path ? (offsets?.scanned() ?? Promise.resolve()).then(() => rm(path, { force: true, recursive: true })) : Promise.resolve();
  removing.catch(() => undefined);
  return removing;
}

/**
 * Reads every file of a directory-format dump (shared/directory-archive.ts `fetchDirectoryDump`)
 * into a new directory in `workDir`, writing those `keep` names (default: all) decompressed, and
 * hashing all. The caller compares with the manifest (`directoryIntegrityFailures`) and removes
 * `dir`; on error nothing is left behind.
 */
export async function downloadDirectoryToWorkDir(
  store: ObjectStore,
  dump: DirectoryDump,
  pgBin: string,
  workDir: string,
  keep: (name: string) => boolean = () => true,
): Promise<{ readonly dir: string; readonly fetched: FetchedFile[] }> {
  const dir = join(workDir, downloadName('dir'));
  await mkdir(dir, { mode: 0o700 });
  try {
    return { dir, fetched: await fetchDirectoryDump(store, dump, pgBin, dir, keep) };
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}
