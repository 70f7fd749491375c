/**
 * pg_dump's directory format (`-Fd --jobs N`) in the vault: one object per file of the directory
 * under `<stem>.dir/` (records.ts `DirectoryDump`).
 *
 * Writing (the dump job): every file goes, a few at a time, through (zstd, which reads the file
 * itself) -> SHA-256 + byte counter -> one upload, and is deleted locally once stored. A table's
 * data file is uploaded while pg_dump still runs once pg_dump says it is finished (`--verbose` in
 * parallel mode prints "finished item <dumpId> TABLE DATA ..." after the worker closed
 * `<dumpId>.dat`): an event, not a poll; a file is never read half-written. Everything else
 * (toc.dat, large objects' files) is uploaded once pg_dump has exited 0.
 *
 * Reading (verify and restore jobs): `fetchDirectoryDump` reads every listed object, hashes its
 * stored bytes and, for the files asked for, writes them decompressed into a local directory that
 * `pg_restore` reads (`pg_restore --list` needs only toc.dat; a restore needs them all: there is no
 * streaming restore of this format). `directoryIntegrityFailures` compares with the manifest,
 * naming each file that differs.
 */
import type { Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Digest, writeDecompressed } from './archive';
import { CompressionPlan, decompressedBytes, startCompressor } from './compression';
import { expectSuccess, killTool, ToolError } from './pg-process';
import type { ObjectStore } from './ports';
import { StagedOutput } from './staged-output';
import { DirectoryDump, DirectoryFile, directoryListingSha256 } from './records';

/**
 * Runs `fn` on every item, at most `limit` at a time. The first rejection stops starting new items;
 * it is rethrown once the running ones have settled.
 */
export async function forEachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  const run = limiter(Math.max(1, limit));
  let failure: { err: unknown } | undefined;
  await Promise.all(
    items.map((item) =>
      run(async () => {
        if (failure) return;
        try {
          await fn(item);
        } catch (err) {
          failure ??= { err };
        }
      }),
    ),
  );
  if (failure) throw failure.err;
}

/** The object key of a directory file: `<prefix><name>`, plus ".zst" when pgdr compresses it. */
export function directoryFileKey(prefix: string, name: string, plan: Pick<CompressionPlan, 'zstd'>): string {
  return `${prefix}${name}${plan.zstd ? '.zst' : ''}`;
}

export interface UploadDirectoryOptions {
  readonly store: ObjectStore;
  /** pg_dump's output directory. */
  readonly dir: string;
  /** The dump's prefix, `<stem>.dir/`. */
  readonly prefix: string;
  readonly plan: CompressionPlan;
  /** Uploads at a time. */
  readonly concurrency: number;
  /** Aborting stops the uploads in progress (their multipart uploads are aborted) and starts no more. */
  readonly signal: AbortSignal;
  /** Each file once it is stored (for the caller's account of what is left on failure). */
  readonly onStored?: (file: DirectoryFile) => void;
  /** The first failed upload (the caller stops the run); no upload starts after it. */
  readonly onError?: (err: Error) => void;
}

/** At most `n` calls of the returned function's argument run at a time; the others wait their turn. */
function limiter(n: number): <T>(fn: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: Array<() => void> = [];
  return async (fn) => {
    if (active >= n) await new Promise<void>((resolve) => waiting.push(resolve));
    active++;
    try {
      return await fn();
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
}

/** The suffix pg_dump gives a data file when it compresses it (`N.dat.gz`, `N.dat.zst`), for a plan. */
export function dataFileSuffix(plan: CompressionPlan): string {
  return plan.info.method === 'pg_dump-gzip' ? '.gz' : plan.info.method === 'pg_dump-zstd' ? '.zst' : '';
}

/**
 * Uploads the files of pg_dump's directory, each through zstd when `plan.zstd` (hashed and counted
 * on the way), a few at a time, deleting each local file once stored: `add` a file pg_dump has
 * finished while it runs, then `finish` (pg_dump exited 0) uploads the rest. The first failure
 * stops the others; the files already stored stay (the caller says so).
 */
export class DirectoryUploader {
  private readonly started = new Set<string>();
  private readonly stored: DirectoryFile[] = [];
  private readonly pending: Promise<void>[] = [];
  private failure: { err: Error } | undefined;
  private readonly limit: <T>(fn: () => Promise<T>) => Promise<T>;

  constructor(private readonly options: UploadDirectoryOptions) {
    this.limit = limiter(Math.max(1, options.concurrency));
  }

  /** Starts (or queues) the upload of a finished file, unless it was started already or the uploads stopped. */
  add(name: string): void {
    if (this.started.has(name) || this.failure || this.options.signal.aborted) return;
    this.started.add(name);
    this.pending.push(
      this.limit(() => this.upload(name)).catch((err: Error) => {
        if (this.failure) return;
        this.failure = { err };
        this.options.onError?.(err);
      }),
    );
  }

  /** Uploads what is left in the directory and waits for every upload; the stored files sorted by name. */
  async finish(): Promise<DirectoryFile[]> {
    for (const name of (await readdir(this.options.dir)).sort()) this.add(name);
    await this.settle();
    if (this.failure) throw this.failure.err;
    if (this.options.signal.aborted) throw this.options.signal.reason;
    return [...this.stored].sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  /** Waits until no upload is in progress or queued (before the directory is removed). */
  async settle(): Promise<void> {
    let seen = -1;
    while (seen !== this.pending.length) {
      seen = this.pending.length;
      await Promise.all(this.pending);
    }
  }

  private async upload(name: string): Promise<void> {
    const { store, dir, prefix, plan, signal } = this.options;
    if (signal.aborted) throw signal.reason;
    const path = join(dir, name);
    const fileBytes = (await stat(path)).size;
    const key = directoryFileKey(prefix, name, plan);
    const source = plan.zstd ? await compressedFile(path, plan.zstd, plan.info.level) : plainFile(path);
    const stop = () => source.stop(signal.reason instanceof Error ? signal.reason : new Error('upload stopped'));
    signal.addEventListener('abort', stop, { once: true });
    try {
      await store.uploadStream(key, source.body, 'application/octet-stream', {
        beforeComplete: async () => {
          await source.read;
          if (signal.aborted) throw signal.reason;
        },
      });
    } catch (err) {
      stop();
      throw new Error(`uploading ${name} to ${key} failed: ${(err as Error).message}`, { cause: err });
    } finally {
      signal.removeEventListener('abort', stop);
      source.close();
    }
    const { digest } = source;
    const file: DirectoryFile = { name, key, bytes: digest.bytes, sha256: digest.hash.digest('hex'), ...(plan.zstd ? { uncompressedBytes: fileBytes } : {}) };
    this.stored.push(file);
    this.options.onStored?.(file);
    await rm(path, { force: true });
  }
}

/** One file's stored bytes on their way to its upload, hashed and counted. */
interface FileSource {
  readonly body: AsyncIterable<Buffer>;
  readonly digest: { readonly bytes: number; readonly hash: Hash };
  /** Settles once the file is read to its end (and compressed): rejects when that failed. */
  readonly read: Promise<unknown>;
  /** Stops reading; the body then fails with `reason`. */
  stop(reason: Error): void;
  /** Releases what is left open (after the upload, whatever became of it). */
  close(): void;
}

/**
 * zstd reads the file itself and writes into a staged output (staged-output.ts): no uncompressed
 * byte passes through Node, and the compressed ones are read into reused buffers.
 */
async function compressedFile(path: string, zstdBin: string, level: number): Promise<FileSource> {
  const staged = await StagedOutput.open();
  const zstd = startCompressor(zstdBin, level, staged.childEnd, path);
  const read = expectSuccess(zstd).then(() => undefined);
  // Observed by the body's end (or not at all, when the upload stops first).
  read.catch(() => undefined);
  staged.holdEndUntil(read);
  return {
    body: staged,
    digest: staged,
    read,
    stop: (reason) => {
      killTool(zstd);
      staged.fail(reason);
    },
    close: () => staged.close(),
  };
}

/** The file as it is, read through a SHA-256 and byte counter. */
function plainFile(path: string): FileSource {
  const file = createReadStream(path);
  const digest = new Digest();
  const read = pipeline(file, digest);
  read.catch((err: Error) => digest.destroy(err));
  return {
    body: digest,
    digest,
    read,
    stop: (reason) => {
      file.destroy();
      digest.destroy(reason);
    },
    close: () => file.destroy(),
  };
}

/** The `dump` part of a directory-format manifest, from its stored files. */
export function directoryDump(bucket: string, prefix: string, plan: CompressionPlan, jobs: number, files: DirectoryFile[]): DirectoryDump {
  const uncompressed = files.every((f) => f.uncompressedBytes !== undefined) ? files.reduce((n, f) => n + f.uncompressedBytes!, 0) : undefined;
  return {
    bucket,
    key: prefix,
    bytes: files.reduce((n, f) => n + f.bytes, 0),
    ...(uncompressed !== undefined ? { uncompressedBytes: uncompressed } : {}),
    sha256: directoryListingSha256(files),
    format: 'directory',
    compression: plan.info,
    files,
    jobs,
  };
}

/**
 * What reading one listed file found: missing, or its stored size and SHA-256 (and, when it was to be
 * written locally and could not be decompressed, why: then it was read a second time for the hash).
 */
export type FetchedFile =
  | { readonly name: string; readonly key: string; readonly missing: true }
  | { readonly name: string; readonly key: string; readonly missing: false; readonly bytes: number; readonly sha256: string; readonly error?: string };

/** Local space a download of these files needs: the decompressed files (unknown size: 4x the stored bytes). */
export function directoryLocalBytes(dump: DirectoryDump, names?: ReadonlySet<string>): number {
  return dump.files.filter((f) => !names || names.has(f.name)).reduce((n, f) => n + decompressedBytes(dump.compression, f.bytes, f.uncompressedBytes), 0);
}

/**
 * Reads every file of a directory dump from the bucket (`concurrency` at a time), hashing its
 * stored bytes; the files `keep` names are written into `dir` (which must exist) decompressed, as
 * pg_dump wrote them; the others are only hashed. Never throws for a missing object (reported in
 * the result); throws on a read, write or zstd failure, naming the file.
 */
export async function fetchDirectoryDump(store: ObjectStore, dump: DirectoryDump, pgBin: string, dir: string, keep: (name: string) => boolean, concurrency = 4): Promise<FetchedFile[]> {
  const results: FetchedFile[] = [];
  await forEachLimited(dump.files, concurrency, async ({ name, key }) => {
    const body = await store.getStream(key);
    if (!body) {
      results.push({ name, key, missing: true });
      return;
    }
    const digest = new Digest();
    const path = join(dir, name);
    try {
      if (!keep(name)) {
        digest.resume();
        await pipeline(body, digest);
      } else {
        await writeDecompressed(body, digest, dump.compression, pgBin, path);
      }
    } catch (err) {
      body.destroy();
      await rm(path, { force: true });
      if (!(err instanceof ToolError)) throw new Error(`reading ${name} (${key}) failed: ${(err as Error).message}`, { cause: err });
      // A file zstd cannot read (damaged): read it again, only hashing, so the failure can say how it differs.
      const again = await store.getStream(key);
      if (!again) {
        results.push({ name, key, missing: true });
        return;
      }
      const hashOnly = new Digest();
      hashOnly.resume();
      await pipeline(again, hashOnly);
      results.push({ name, key, missing: false, bytes: hashOnly.bytes, sha256: hashOnly.hash.digest('hex'), error: (err as Error).message });
      return;
    }
    results.push({ name, key, missing: false, bytes: digest.bytes, sha256: digest.hash.digest('hex') });
  });
  return results.sort((a, b) => (a.name < b.name ? -1 : 1));
}

/** The stored totals of what was fetched: bytes of the files present, and the listing SHA-256 of what was read. */
export function fetchedTotals(fetched: readonly FetchedFile[]): { bytes: number; sha256: string } {
  const present = fetched.filter((f): f is Extract<FetchedFile, { missing: false }> => !f.missing);
  return { bytes: present.reduce((n, f) => n + f.bytes, 0), sha256: directoryListingSha256(present) };
}

/** One line per file that is missing or differs from the manifest (each names the file), plus a manifest that contradicts itself. */
export function directoryIntegrityFailures(dump: DirectoryDump, fetched: readonly FetchedFile[]): string[] {
  const failures: string[] = [];
  const byName = new Map(fetched.map((f) => [f.name, f]));
  for (const file of dump.files) {
    const got = byName.get(file.name);
    if (!got || got.missing) failures.push(`file ${file.name} of the dump is missing (${file.key})`);
    else {
      if (got.bytes !== file.bytes) failures.push(`file ${file.name}: size is ${got.bytes} bytes, the manifest says ${file.bytes} (${file.key})`);
      if (got.sha256 !== file.sha256) failures.push(`file ${file.name}: SHA-256 is ${got.sha256}, the manifest says ${file.sha256} (${file.key})`);
      if (got.error) failures.push(`file ${file.name} cannot be decompressed: ${got.error}`);
    }
  }
  if (directoryListingSha256(dump.files) !== dump.sha256) failures.push(`the manifest's dump.sha256 ${dump.sha256} is not the SHA-256 of its file listing (the manifest was altered)`);
  if (dump.files.reduce((n, f) => n + f.bytes, 0) !== dump.bytes) failures.push(`the manifest's dump.bytes ${dump.bytes} is not the sum of its files' bytes (the manifest was altered)`);
  return failures;
}
