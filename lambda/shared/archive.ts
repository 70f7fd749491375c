/**
 * Reading a stored dump back: stream it from the bucket, undo the stream compression (if any)
 * and feed it to pg_restore (streaming), or write it to a file for `pg_restore --jobs`. Used by
 * the verify job and the failover's restore job (lambda/restore).
 */
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { open, rm, stat } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import type { Readable, TransformCallback, Writable } from 'node:stream';
import { ConnectionInfo } from './connection';
import { startDecompressor } from './compression';
import { describeExit, expectSuccess, finishedTableData, killTool, RunningTool, startTool, ToolError, toolError, ToolExit } from './pg-process';
import type { CompressionInfo } from './records';

/** Writes a chunk unless the reader went away; waits for drain, close or the reader's exit. */
async function writeIfOpen(stream: Writable, chunk: Buffer, readerExited: Promise<unknown>): Promise<boolean> {
  if (stream.destroyed || stream.writableEnded) return false;
  if (stream.write(chunk)) return true;
  await Promise.race([once(stream, 'drain'), once(stream, 'close'), readerExited]).catch(() => undefined);
  return !stream.destroyed;
}

export interface IntegrityResult {
  readonly bytes: number;
  readonly sha256: string;
  /** `pg_restore --list` entries, or undefined when it failed (see listError). */
  readonly archiveEntries?: number;
  readonly listError?: string;
  /** The archive adds tables to publications (`PUBLICATION TABLE` entries; known when the list parsed). */
  readonly addsPublicationTables?: boolean;
}

/**
 * Level 1 in one pass: SHA-256 and size of every stored byte, and `pg_restore --list` of the
 * (decompressed) archive. pg_restore reads only the table of contents; once it exits, the rest
 * is only hashed.
 */
export async function checkArchive(body: Readable, compression: CompressionInfo, pgBin: string): Promise<IntegrityResult> {
  const hash = createHash('sha256');
  let bytes = 0;
  const decompressor = startDecompressor(compression, pgBin);
  const list = startTool(pgBin, 'pg_restore', ['--list'], { stdin: true });
  let listing = '';
  list.stdout.setEncoding('utf8');
  list.stdout.on('data', (chunk: string) => {
    if (listing.length < 64 * 1024 * 1024) listing += chunk;
  });
  let feedOpen = true;
  const listExited = list.exited.then((exit) => {
    feedOpen = false;
    killTool(decompressor);
    return exit;
  });
  if (decompressor) pipeline(decompressor.stdout, list.stdin!).catch(() => undefined);
  const feed = decompressor ? decompressor.stdin! : list.stdin!;
  const feedExited = decompressor ? decompressor.exited : listExited;
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      hash.update(chunk);
      bytes += chunk.length;
      if (feedOpen) feedOpen = await writeIfOpen(feed, chunk, feedExited);
    }
  } finally {
    feed.end();
  }
  const exit: ToolExit = await listExited;
  return { bytes, sha256: hash.digest('hex'), ...listResult(exit, listing) };
}

/** What `pg_restore --list` said. */
type ListResult = Pick<IntegrityResult, 'archiveEntries' | 'listError' | 'addsPublicationTables'>;

/** A `pg_restore --list` line of a table added to a publication: `id; tableoid oid PUBLICATION TABLE schema publication table owner`. */
const PUBLICATION_TABLE_ENTRY = /^\d+; \d+ \d+ PUBLICATION TABLE /m;

/** `pg_restore --list`'s outcome: its entry count and whether it adds tables to publications, or why it failed. */
function listResult(exit: ToolExit, listing: string): ListResult {
  if (exit.code !== 0) return { listError: describeExit('pg_restore --list', exit) };
  return { archiveEntries: listing.split('\n').filter((l) => l.trim() !== '' && !l.startsWith(';')).length, addsPublicationTables: PUBLICATION_TABLE_ENTRY.test(listing) };
}

/** `pg_restore --list` of an archive file (downloadArchive's) or of a directory-format dump's directory (only its toc.dat is read): its entry count, or why it does not parse. */
export async function listArchiveFile(file: string, pgBin: string): Promise<ListResult> {
  const list = startTool(pgBin, 'pg_restore', ['--list', file]);
  const chunks: Buffer[] = [];
  list.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
  const exit = await list.exited;
  return listResult(exit, Buffer.concat(chunks).toString('utf8'));
}

/** What pg_restore restores besides the objects and data. */
export interface RestoreOptions {
  /** Set each object's owner (ALTER ... OWNER TO); false: `--no-owner`, the restoring login owns all. */
  readonly owners: boolean;
  /** Restore GRANT/REVOKE and default privileges; false: `--no-privileges`. */
  readonly privileges: boolean;
}

/** pg_restore's arguments for `options` (the roles named by owners/grants must exist on the server). */
export function restoreArgs(options: RestoreOptions): string[] {
  return [...(options.owners ? [] : ['--no-owner']), ...(options.privileges ? [] : ['--no-privileges'])];
}

/**
 * Restores a stored dump into `database` on the server of `connection`, with owners and
 * privileges as `options` say. Any error pg_restore reports (an OWNER TO or GRANT naming a role
 * that does not exist included) rejects with a ToolError carrying pg_restore's message.
 */
export async function restoreArchive(body: Readable, compression: CompressionInfo, pgBin: string, connection: ConnectionInfo, database: string, options: RestoreOptions): Promise<void> {
  const decompressor = startDecompressor(compression, pgBin);
  const restore = startTool(pgBin, 'pg_restore', [...restoreArgs(options), `--dbname=${database}`], { connection, stdin: true });
  const piping = decompressor
    ? Promise.all([pipeline(body, decompressor.stdin!), pipeline(decompressor.stdout, restore.stdin!)])
    : pipeline(body, restore.stdin!);
  const pipingResult = piping.then(
    () => undefined,
    (err: Error) => err,
  );
  const [restoreExit, decompressExit, pipeError] = await Promise.all([restore.exited, decompressor?.exited, pipingResult]);
  if (restoreExit.code !== 0) throw toolError('pg_restore', restoreExit);
  if (decompressExit && decompressExit.code !== 0) throw new ToolError('zstd', decompressExit, describeExit('zstd -d', decompressExit));
  if (pipeError) throw new Error(`reading the dump failed: ${pipeError.message}`);
}

/** What `downloadArchive` read from the bucket. */
export interface DownloadResult {
  /** Stored bytes read (before decompression) and their SHA-256 (hex). */
  readonly bytes: number;
  readonly sha256: string;
  /** Bytes written to the file (the custom-format archive). */
  readonly fileBytes: number;
}

/**
 * Counts bytes and SHA-256 of what passes. (A producer whose end must wait for its processes'
 * exits reads through a StagedOutput instead: staged-output.ts `holdEndUntil`.)
 */
export class Digest extends Transform {
  readonly hash = createHash('sha256');
  bytes = 0;
  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    callback(null, chunk);
  }
}

/**
 * Writes a stored object into `file` (mode 0600) through `digest` (which sees the stored bytes),
 * undoing the stream compression, if any. zstd writes the file itself (its stdout is the file):
 * only the stored bytes pass through Node, not the 4-5x larger archive. A zstd that fails is a
 * ToolError (our broken pipe into it is only the consequence); the caller removes the file.
 */
export async function writeDecompressed(body: Readable, digest: Digest, compression: CompressionInfo, pgBin: string, file: string): Promise<void> {
  if (compression.method !== 'zstd-stream') {
    await pipeline(body, digest, createWriteStream(file, { mode: 0o600 }));
    return;
  }
  const out = await open(file, 'w', 0o600);
  let decompressor: RunningTool | undefined;
  try {
    decompressor = startDecompressor(compression, pgBin, out.fd);
  } finally {
    // zstd holds its own copy of the descriptor.
    await out.close();
  }
  try {
    const [piped, exit] = await Promise.all([pipeline(body, digest, decompressor!.stdin!).then(() => undefined, (e: NodeJS.ErrnoException) => e), decompressor!.exited]);
    if (piped && piped.code !== 'EPIPE') throw piped;
    if (exit.code !== 0) throw new ToolError('zstd', exit, describeExit('zstd -d', exit));
    if (piped) throw piped;
  } finally {
    killTool(decompressor);
  }
}

/**
 * Writes a stored dump to `file` as a plain custom-format archive (`writeDecompressed`), so
 * `pg_restore --jobs` (which needs a seekable file) can restore it. The caller compares size and
 * SHA-256 with the manifest and removes the file; on any error the file is removed here.
 */
export async function downloadArchive(body: Readable, compression: CompressionInfo, pgBin: string, file: string): Promise<DownloadResult> {
  const digest = new Digest();
  try {
    await writeDecompressed(body, digest, compression, pgBin, file);
    return { bytes: digest.bytes, sha256: digest.hash.digest('hex'), fileBytes: (await stat(file)).size };
  } catch (err) {
    await rm(file, { force: true });
    throw err instanceof ToolError ? err : new Error(`downloading the dump to ${file} failed: ${(err as Error).message}`);
  }
}

/**
 * Called with each table whose rows a parallel pg_restore has loaded (committed), by its name
 * (unquoted, without its schema, as pg_restore reports it); see startRestoreFile.
 */
export type TableLoaded = (tag: string) => void;

/**
 * `pg_restore --jobs N` of the archive `file` (or a directory-format dump's directory) into
 * `database` (owners and privileges as `options` say); `onTableLoaded` as in startRestoreFile.
 */
export async function restoreArchiveFile(file: string, jobs: number, pgBin: string, connection: ConnectionInfo, database: string, options: RestoreOptions, onTableLoaded?: TableLoaded): Promise<void> {
  await expectSuccess(startRestoreFile(file, jobs, pgBin, connection, database, options, [], onTableLoaded));
}

/** An archive's sections as pg_restore's `--section` names them: the objects before the data, the data, and what is built on it (indexes, constraints, triggers). */
export type ArchiveSection = 'pre-data' | 'data' | 'post-data';

/** pg_restore's --verbose progress lines (not its warnings, errors and their details). */
const PROGRESS_LINE = /^pg_restore: (?!(?:warning|error|detail|hint): )/;

/**
 * Starts restoreArchiveFile's pg_restore; of `sections` only, when given. With `onTableLoaded` and
 * more than one job, pg_restore runs with `--verbose` and each of its "finished item N TABLE DATA
 * <table>" lines calls `onTableLoaded` (the parallel loop reports an item once its worker has
 * committed it); its other progress lines are left out of the stderr kept for messages.
 */
export function startRestoreFile(
  file: string,
  jobs: number,
  pgBin: string,
  connection: ConnectionInfo,
  database: string,
  options: RestoreOptions,
  sections: readonly ArchiveSection[] = [],
  onTableLoaded?: TableLoaded,
): RunningTool {
  const only = sections.map((s) => `--section=${s}`);
  const progress = onTableLoaded && jobs > 1;
  const onStderrLine = progress
    ? (line: string) => {
        const item = finishedTableData(line);
        if (item) onTableLoaded(item.tag);
        return PROGRESS_LINE.test(line);
      }
    : undefined;
  return startTool(pgBin, 'pg_restore', [...restoreArgs(options), ...only, ...(progress ? ['--verbose'] : []), `--jobs=${jobs}`, `--dbname=${database}`, file], { connection, onStderrLine });
}
