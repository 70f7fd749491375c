/**
 * A local S3-compatible server for the local runner and the tests: s3rver on 127.0.0.1 (a free
 * port unless one is given), data kept in `directory` so later runs see earlier objects.
 *
 * s3rver 3.7.1 does not implement AbortMultipartUpload (DELETE ?uploadId) nor
 * ListMultipartUploads (GET ?uploads). pgdr relies on both (a failed dump aborts its upload; tests
 * check that none is left open), so this module adds them as one small middleware working on
 * s3rver's own upload directory (`<bucket>/._S3rver_uploads/<uploadId>/{key,metadata,1,2,...}`).
 *
 * s3rver encrypts ListObjectsV2 continuation tokens with DES, which Node's OpenSSL 3 only offers
 * behind --openssl-legacy-provider (so `pgdr` used to re-run itself with that flag, in a second
 * process that Ctrl-C reached badly). `listV2Paging` serves ListObjectsV2 through s3rver's
 * ListObjects (V1, marker-based) instead, with the last key as an opaque token: no DES, one process.
 *
 * s3rver also ignores conditional writes, on which pgdr's records rely (the manifest is written
 * once with If-None-Match: *, `latest-verified.json` only moves forward with If-Match: <etag>).
 * A second middleware enforces them on PutObject and CompleteMultipartUpload as S3 does: 412
 * PreconditionFailed when the condition does not hold (If-Match on a missing key: 404
 * NoSuchKey). Writes to one key are serialized (check and write under one lock), so of two
 * concurrent conditional writers exactly one wins and the other gets 412.
 *
 * s3rver's file writes (PutObject, UploadPart, the object assembled by CompleteMultipartUpload)
 * leave an unhandled stream error when the disk is full, which kills the whole process, and can
 * leave a partial object file that reads as a stored object. `safeWrites` replaces them: each
 * file is written to a temporary name and renamed only when complete, a failure removes what it
 * wrote, and the error reaches the client as one S3 error (507 InsufficientStorage for ENOSPC,
 * naming the directory), so the uploader aborts its multipart upload and reports one line.
 * UploadPart appends a part that comes in sequence to the upload's one growing file, so that
 * CompleteMultipartUpload (which checks the parts' ETags and order as S3 does) is one rename; part
 * ETags are opaque, as S3's are under SSE-KMS, so no byte is hashed on its way in (`PartStore`).
 *
 * Versioning, Object Lock, SSE-KMS and checksums are not emulated: s3rver accepts and ignores
 * those headers.
 */
// s3rver ships no types; cli/s3rver.d.ts declares the part used here (tsconfig does not include cli/).
// eslint-disable-next-line @typescript-eslint/triple-slash-reference
/// <reference path="./s3rver.d.ts" />
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, promises as fs, ReadStream } from 'node:fs';
import { dirname, join } from 'node:path';
import { Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import S3rver from 's3rver';
import { Agent } from 'node:http';
import { S3Client } from '@aws-sdk/client-s3';

/** s3rver's fixed credentials. */
export const LOCAL_S3_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

export interface LocalS3Options {
  /** Where objects are stored. */
  readonly directory: string;
  /** Buckets created at start. */
  readonly buckets: string[];
  /** @default 0 (a free port) */
  readonly port?: number;
}

export interface LocalS3 {
  readonly endpoint: string;
  /** Where objects are stored. */
  readonly directory: string;
  readonly port: number;
  /** A client for this server (path-style, s3rver credentials). */
  client(): S3Client;
  stop(): Promise<void>;
}

interface KoaContext {
  method: string;
  path: string;
  query: Record<string, string | string[] | undefined>;
  headers: Record<string, string | string[] | undefined>;
  status: number;
  body: unknown;
  /** s3rver's filesystem store. */
  store: { getMetadata(bucket: string, key: string): Promise<{ etag: string }> };
}

type Middleware = (ctx: KoaContext, next: () => Promise<void>) => Promise<void>;

/**
 * A client for a local S3 server: path-style, s3rver's credentials, one attempt (a test sees the
 * first failure), and no keep-alive: the server closes a connection idle for 5 s (Node's
 * keepAliveTimeout), and a client reusing it at that moment gets ECONNRESET — a race a test on a
 * loaded machine would lose now and then.
 */
export function localS3Client(endpoint: string, credentials = LOCAL_S3_CREDENTIALS): S3Client {
  return new S3Client({
    endpoint,
    forcePathStyle: true,
    region: 'us-east-1',
    credentials,
    maxAttempts: 1,
    requestHandler: { httpAgent: new Agent({ keepAlive: false }) },
  });
}

/** Starts s3rver with the multipart additions; stop it with `stop()`. */
export async function startLocalS3(options: LocalS3Options): Promise<LocalS3> {
  await fs.mkdir(options.directory, { recursive: true });
  const server = new S3rver({
    address: '127.0.0.1',
    port: options.port ?? 0,
    silent: true,
    directory: options.directory,
    configureBuckets: options.buckets.map((name) => ({ name, configs: [] })),
  });
  const parts = safeWrites((server as unknown as { store: FilesystemStore }).store);
  // Run before s3rver's router (the last middleware), after its XML encoder.
  const stack = (server as unknown as { middleware: Middleware[] }).middleware;
  stack.splice(stack.length - 1, 0, storeErrors(options.directory), listV2Paging(), multipartAdditions(options.directory, parts), conditionalWrites());
  const address = (await server.run()) as unknown as { port: number };
  const endpoint = `http://127.0.0.1:${address.port}`;
  let stopped = false;
  return {
    endpoint,
    directory: options.directory,
    port: address.port,
    client: () => localS3Client(endpoint),
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await server.close();
    },
  };
}

/** The part of s3rver's FilesystemStore that `safeWrites` replaces or calls. */
interface FilesystemStore {
  getResourcePath(bucket: string, key: string | undefined, resource: string): string;
  putMetadata(bucket: string, key: string, metadata: unknown, md5: string): Promise<void>;
  putObject(object: { bucket: string; key: string; content: Buffer | Readable; metadata: unknown }): Promise<{ size: number; md5: string }>;
  putPart(bucket: string, uploadId: string, partNumber: number, content: Readable): Promise<{ size: number; md5: string }>;
  putObjectMultipart(bucket: string, uploadId: string, parts: Array<{ number: number; etag: string }>): Promise<{ size: number; md5: string }>;
  getObject(bucket: string, key: string, options?: { start?: number; end?: number }): Promise<StoredObject | null>;
}

/** What s3rver's getObject returns: an S3Object whose content is a file stream opened on the object (range applied). */
interface StoredObject {
  content: Readable | null;
  metadata: Record<string, string | number>;
  range?: { start: number; end: number };
}

/**
 * Bytes per file read and write of the store's objects. Node's file streams default to 64 KiB
 * (reads) and 16 KiB (writes) per call, each call a round trip to the libuv thread pool (a futex
 * wake of a worker, an eventfd wake of the loop back). With a part body arriving in 64 KiB socket
 * reads, a 16 KiB write buffer also paused the request after every chunk until the write was done.
 * One MiB per call: in-process with `pgdr backup --local` of the bench's 1.2 GB database (172 MiB
 * stored), the whole machine's CPU per backup went from 9.18 to 8.98 CPU-s (medians of 6
 * interleaved runs; perf: the process's futex waits and wakes halved).
 */
const FILE_IO_BYTES = 1024 * 1024;

/** An S3 client error raised by the store, answered by `storeErrors` (e.g. InvalidPart). */
class StoreError extends Error {
  constructor(
    readonly s3Code: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

/**
 * The ETag S3 gives an object assembled from parts: the MD5 of the parts' binary ETags, then "-"
 * and the number of parts (so no byte is hashed a second time).
 */
export function multipartEtag(partEtags: readonly string[]): string {
  const md5 = createHash('md5');
  for (const hex of partEtags) md5.update(Buffer.from(hex, 'hex'));
  return `${md5.digest('hex')}-${partEtags.length}`;
}

/**
 * Where the parts of one multipart upload live. A part that arrives in sequence (part 1, then 2,
 * ..., which is how pgdr's uploader sends them, two at a time) is appended to `joined`, after the
 * part before it (a part that arrives while the one before is still being written waits for it),
 * and its place there is recorded in `<n>.span` ("offset length"); any other part (out of order,
 * or uploaded again) is its own file `<n>`, which wins over a span. `<n>.etag` holds the ETag
 * returned for the part. So completing an upload whose parts all came in sequence is one rename of
 * `joined`, and no byte is copied twice.
 */
interface JoinedParts {
  /** The part number `joined` takes next (after the appends under way). */
  next: number;
  /** Bytes in `joined`. */
  length: number;
  /** Settles when the appends under way are done (never rejects). */
  tail: Promise<void>;
}

/** Where a part's bytes are: its own file, or a span of `joined`. */
type PartSource = { file: string } | { offset: number; length: number };

/** `<n>.span` read back: where part n's bytes are in `joined`. */
async function readSpan(dir: string, n: number): Promise<Extract<PartSource, { offset: number }> | undefined> {
  const text = await fs.readFile(join(dir, `${n}.span`), 'utf8').catch(() => undefined);
  const m = text === undefined ? null : /^(\d+) (\d+)$/.exec(text);
  return m ? { offset: Number(m[1]), length: Number(m[2]) } : undefined;
}

const exists = (path: string) => fs.stat(path).then(() => true, () => false);

/** Pipes `content` into `destination`, counting (and, given `hash`, hashing) the bytes. */
async function pipeCounted(content: Buffer | Readable, destination: Writable, hash?: 'md5'): Promise<{ size: number; md5: string }> {
  const md5 = hash ? createHash(hash) : undefined;
  let size = 0;
  const count = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      md5?.update(chunk);
      size += chunk.length;
      callback(null, chunk);
    },
  });
  await pipeline(Buffer.isBuffer(content) ? Readable.from([content]) : content, count, destination);
  return { size, md5: md5?.digest('hex') ?? '' };
}

/**
 * The multipart half of the store (see `JoinedParts`): part ETags are opaque (as S3's are for an
 * object encrypted with SSE-KMS, which is how pgdr's vault stores them), so no part is hashed on
 * its way in; CompleteMultipartUpload checks the parts' ETags and order as S3 does. Exported for
 * its tests (the server uses it through `safeWrites`).
 */
export class PartStore {
  private readonly joined = new Map<string, JoinedParts>();

  constructor(private readonly store: FilesystemStore) {}

  private uploadDir(bucket: string, uploadId: string): string {
    if (!/^[0-9a-zA-Z]+$/.test(uploadId)) throw new StoreError('NoSuchUpload', 'The specified upload does not exist.', 404);
    return join(this.store.getResourcePath(bucket, undefined, 'uploads'), uploadId);
  }

  /** AbortMultipartUpload: removes the upload of `key` and its parts; false when there is no such upload. */
  async abort(bucket: string, uploadId: string, key: string): Promise<boolean> {
    if (!/^[0-9a-zA-Z]+$/.test(uploadId)) return false;
    const dir = this.uploadDir(bucket, uploadId);
    if ((await fs.readFile(join(dir, 'key'), 'utf8').catch(() => undefined)) !== key) return false;
    this.joined.delete(dir);
    await fs.rm(dir, { recursive: true, force: true });
    return true;
  }

  async put(bucket: string, uploadId: string, partNumberText: number | string, content: Readable): Promise<{ size: number; md5: string }> {
    const n = Number(partNumberText);
    if (!Number.isInteger(n) || n < 1 || n > 10000) throw new StoreError('InvalidArgument', 'Part number must be an integer between 1 and 10000, inclusive');
    const dir = this.uploadDir(bucket, uploadId);
    const etag = randomBytes(16).toString('hex');
    // An upload with appends in memory exists (an abort forgets it): the part in sequence takes its
    // place at once, before any await, so parts sent one after the other keep their order.
    let state = this.joined.get(dir);
    if (!state) {
      if (!(await exists(join(dir, 'key')))) throw new StoreError('NoSuchUpload', 'The specified upload does not exist.', 404);
      state = this.joined.get(dir);
      if (!state && n === 1 && !(await exists(join(dir, 'joined')))) this.joined.set(dir, (state = { next: 1, length: 0, tail: Promise.resolve() }));
    }
    let size: number;
    if (state && state.next === n) {
      state.next += 1;
      const joinedParts = state;
      const appended = state.tail.then(() => this.append(dir, joinedParts, n, content));
      state.tail = appended.then(
        () => undefined,
        () => undefined,
      );
      size = await appended;
    } else {
      size = (await writeWhole(join(dir, String(n)), content)).size;
    }
    await fs.writeFile(join(dir, `${n}.etag`), etag);
    return { size, md5: etag };
  }

  /** Appends part `n` to `joined` at its current end; a failure cuts `joined` back and stores nothing of the part. */
  private async append(dir: string, state: JoinedParts, n: number, content: Readable): Promise<number> {
    const offset = state.length;
    try {
      const { size } = await pipeCounted(content, createWriteStream(join(dir, 'joined'), { flags: 'a', highWaterMark: FILE_IO_BYTES }));
      await fs.writeFile(join(dir, `${n}.span`), `${offset} ${size}`);
      // A file of this part from an earlier upload of it would win over the span.
      await fs.rm(join(dir, String(n)), { force: true });
      state.length += size;
      return size;
    } catch (err) {
      await fs.truncate(join(dir, 'joined'), offset).catch(() => undefined);
      await fs.rm(join(dir, `${n}.span`), { force: true });
      throw err;
    }
  }

  /**
   * CompleteMultipartUpload as S3 does it: every listed part must have been uploaded with the ETag
   * given, in ascending order (InvalidPart, InvalidPartOrder). When the listed parts are exactly
   * `joined`, in order, the object is `joined` renamed; otherwise their bytes are copied into a
   * temporary file renamed at the end. The ETag is S3's multipart one.
   */
  async complete(bucket: string, uploadId: string, parts: Array<{ number: number; etag: string }>): Promise<{ size: number; md5: string }> {
    const { store } = this;
    const dir = this.uploadDir(bucket, uploadId);
    const [key, metadata] = await Promise.all([fs.readFile(join(dir, 'key'), 'utf8'), fs.readFile(join(dir, 'metadata'), 'utf8').then((m) => JSON.parse(m) as unknown)]);
    for (const [i, part] of parts.entries()) {
      if (i > 0 && part.number <= parts[i - 1].number) throw new StoreError('InvalidPartOrder', 'The list of parts was not in ascending order. The parts list must be specified in order by part number.');
    }
    // Each part's ETag and where its bytes are, read for all parts at once.
    const found = await Promise.all(
      parts.map(async (part) => {
        const file = join(dir, String(part.number));
        const [stored, source] = await Promise.all([
          fs.readFile(join(dir, `${part.number}.etag`), 'utf8').catch(() => undefined),
          exists(file).then((isFile): PartSource | Promise<PartSource | undefined> => (isFile ? { file } : readSpan(dir, part.number))),
        ]);
        if (stored === undefined || stored !== part.etag || !source) {
          throw new StoreError('InvalidPart', `One or more of the specified parts could not be found or its ETag did not match (part ${part.number}).`);
        }
        return { etag: stored, source };
      }),
    );
    const etags = found.map((f) => f.etag);
    const sources = found.map((f) => f.source);
    const joinedPath = join(dir, 'joined');
    let end = 0;
    for (const s of sources) end = 'offset' in s && s.offset === end ? end + s.length : -1;
    const wholeJoined = end >= 0 && end === (await fs.stat(joinedPath).then((st) => st.size, () => -1));
    const path = store.getResourcePath(bucket, key, 'object');
    await fs.mkdir(dirname(path), { recursive: true });
    const temporary = `${path}.pgdr-partial-${randomBytes(6).toString('hex')}`;
    // The file renamed into place, if the object is one: put back when the completion fails.
    const moved = wholeJoined ? joinedPath : sources.length === 1 && 'file' in sources[0] ? sources[0].file : undefined;
    try {
      if (moved) {
        await fs.rename(moved, temporary);
      } else {
        const bytes = async function* () {
          for (const s of sources) {
            if ('offset' in s && s.length === 0) continue;
            const options = { highWaterMark: FILE_IO_BYTES, ...('offset' in s ? { start: s.offset, end: s.offset + s.length - 1 } : {}) };
            yield* createReadStream('file' in s ? s.file : joinedPath, options) as AsyncIterable<Buffer>;
          }
        };
        await pipeline(Readable.from(bytes(), { objectMode: false }), createWriteStream(temporary, { highWaterMark: FILE_IO_BYTES }));
      }
      const { size } = await fs.stat(temporary);
      await fs.rename(temporary, path);
      const md5 = multipartEtag(etags);
      await store.putMetadata(bucket, key, metadata, md5);
      this.joined.delete(dir);
      await fs.rm(dir, { recursive: true, force: true });
      return { size, md5 };
    } catch (err) {
      await (moved ? fs.rename(temporary, moved) : fs.rm(temporary, { force: true })).catch(() => undefined);
      throw err;
    }
  }
}

/** Writes `content` to `path` through a temporary file renamed at the end; nothing is left on failure. */
async function writeWhole(path: string, content: Buffer | Readable, hash?: 'md5'): Promise<{ size: number; md5: string }> {
  await fs.mkdir(dirname(path), { recursive: true });
  const temporary = `${path}.pgdr-partial-${randomBytes(6).toString('hex')}`;
  try {
    const written = await pipeCounted(content, createWriteStream(temporary, { highWaterMark: FILE_IO_BYTES }), hash);
    await fs.rename(temporary, path);
    return written;
  } catch (err) {
    await fs.rm(temporary, { force: true });
    throw err;
  }
}

/** Replaces s3rver's object and part writes by ones that fail cleanly (see the module comment). */
function safeWrites(store: FilesystemStore): PartStore {
  store.putObject = async (object) => {
    const path = store.getResourcePath(object.bucket, object.key, 'object');
    const written = await writeWhole(path, object.content, 'md5');
    try {
      await store.putMetadata(object.bucket, object.key, object.metadata, written.md5);
    } catch (err) {
      await fs.rm(path, { force: true });
      throw err;
    }
    return written;
  };
  // Objects are read in FILE_IO_BYTES reads: the stream s3rver opened on the object (its range
  // applied) is handed over, with its file descriptor, to one that reads 1 MiB at a time.
  const getObject = store.getObject.bind(store);
  store.getObject = async (bucket, key, options) => {
    const object = await getObject(bucket, key, options);
    const fd = object?.content instanceof ReadStream ? (object.content as unknown as { fd: number | null }).fd : null;
    if (!object || typeof fd !== 'number') return object;
    const length = Number(object.metadata['content-length']);
    const { start, end } = object.range ?? { start: 0, end: Math.max(0, length - 1) };
    object.content = createReadStream('', { fd, start, end, highWaterMark: FILE_IO_BYTES });
    return object;
  };
  const parts = new PartStore(store);
  store.putPart = (bucket, uploadId, partNumber, content) => parts.put(bucket, uploadId, partNumber, content);
  store.putObjectMultipart = (bucket, uploadId, list) => parts.complete(bucket, uploadId, list);
  return parts;
}

/** A full disk (or quota) under the server's directory becomes one S3 error that names it; a StoreError, the S3 error it names (400). */
function storeErrors(root: string): Middleware {
  return async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      if (err instanceof StoreError) return s3Error(ctx, err.status, err.s3Code, err.message);
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOSPC' && code !== 'EDQUOT') throw err;
      s3Error(ctx, 507, 'InsufficientStorage', `no space left on device in the local S3 directory ${root} (free space, or set PGDR_LOCAL_DIR to a larger disk)`);
    }
  };
}

const TOKEN_PREFIX = 'pgdr1.';

/** ListObjectsV2 served by s3rver's V1 listing (see the module comment). */
function listV2Paging(): Middleware {
  return async (ctx, next) => {
    const { bucket, key } = target(ctx);
    if (ctx.method !== 'GET' || !bucket || key || ctx.query['list-type'] !== '2') return next();
    const { 'continuation-token': token, 'start-after': startAfter, 'fetch-owner': fetchOwner, ...rest } = ctx.query;
    delete rest['list-type'];
    let marker = typeof startAfter === 'string' ? startAfter : undefined;
    if (typeof token === 'string') {
      if (!token.startsWith(TOKEN_PREFIX)) return s3Error(ctx, 400, 'InvalidArgument', 'The continuation token provided is incorrect');
      marker = Buffer.from(token.slice(TOKEN_PREFIX.length), 'base64url').toString('utf8');
    }
    ctx.query = { ...rest, ...(marker !== undefined ? { marker } : {}) };
    await next();
    const result = (ctx.body as { ListBucketResult?: Record<string, unknown> } | undefined)?.ListBucketResult;
    if (!result) return;
    const { NextMarker: nextMarker, Contents: contents, ...kept } = result;
    delete kept.Marker;
    const objects = (contents ?? []) as Array<Record<string, unknown>>;
    const last = typeof nextMarker === 'string' ? nextMarker : (objects[objects.length - 1]?.Key as string | undefined);
    ctx.body = {
      ListBucketResult: {
        ...kept,
        ...(typeof token === 'string' ? { ContinuationToken: token } : { StartAfter: startAfter }),
        ...(result.IsTruncated && last !== undefined ? { NextContinuationToken: `${TOKEN_PREFIX}${Buffer.from(last, 'utf8').toString('base64url')}` } : {}),
        KeyCount: objects.length,
        Contents: fetchOwner === 'true' ? objects : objects.map(({ Owner: _owner, ...object }) => object),
      },
    };
  };
}

/** Bucket and (decoded) key of a path-style request. */
function target(ctx: KoaContext): { bucket?: string; key: string } {
  const [, bucket, ...keyParts] = ctx.path.split('/');
  return { bucket, key: keyParts.map(decodeURIComponent).join('/') };
}

function s3Error(ctx: KoaContext, status: number, code: string, message: string): void {
  ctx.status = status;
  ctx.body = { Error: { Code: code, Message: message } };
}

/** An ETag without quotes and weak marker, for comparison. */
const bareEtag = (etag: string) => etag.trim().replace(/^W\//, '').replace(/^"(.*)"$/, '$1');

/** If-None-Match / If-Match on PutObject and CompleteMultipartUpload, with writes to a key serialized. */
function conditionalWrites(): Middleware {
  const locks = new Map<string, Promise<void>>();
  return async (ctx, next) => {
    const { bucket, key } = target(ctx);
    const isPut = ctx.method === 'PUT' && ctx.query.uploadId === undefined && ctx.headers['x-amz-copy-source'] === undefined;
    const isComplete = ctx.method === 'POST' && typeof ctx.query.uploadId === 'string';
    if (!bucket || !key || !(isPut || isComplete)) return next();
    const lockKey = `${bucket}/${key}`;
    const previous = locks.get(lockKey) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    const chained = previous.then(() => mine);
    locks.set(lockKey, chained);
    await previous;
    try {
      const ifNoneMatch = ctx.headers['if-none-match'];
      const ifMatch = ctx.headers['if-match'];
      if (typeof ifNoneMatch === 'string' || typeof ifMatch === 'string') {
        const current = await ctx.store.getMetadata(bucket, key).catch(() => undefined);
        if (typeof ifNoneMatch === 'string') {
          if (ifNoneMatch.trim() !== '*') return s3Error(ctx, 501, 'NotImplemented', 'If-None-Match only accepts *');
          if (current) return s3Error(ctx, 412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold');
        }
        if (typeof ifMatch === 'string') {
          if (!current) return s3Error(ctx, 404, 'NoSuchKey', 'The specified key does not exist.');
          const wanted = ifMatch.split(',').map(bareEtag);
          if (!wanted.includes('*') && !wanted.includes(bareEtag(current.etag))) {
            return s3Error(ctx, 412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold');
          }
        }
      }
      await next();
    } finally {
      release();
      if (locks.get(lockKey) === chained) locks.delete(lockKey);
    }
  };
}

function uploadsDir(root: string, bucket: string): string {
  return join(root, bucket, '._S3rver_uploads');
}

function multipartAdditions(root: string, parts: PartStore): Middleware {
  return async (ctx, next) => {
    const { bucket, key } = target(ctx);
    if (ctx.method === 'DELETE' && bucket && key && typeof ctx.query.uploadId === 'string') {
      if (!(await parts.abort(bucket, ctx.query.uploadId, key))) {
        ctx.status = 404;
        ctx.body = { Error: { Code: 'NoSuchUpload', Message: 'The specified upload does not exist.', UploadId: ctx.query.uploadId } };
        return;
      }
      ctx.status = 204;
      ctx.body = '';
      return;
    }
    if (ctx.method === 'GET' && bucket && !key && ctx.query.uploads !== undefined) {
      const dir = uploadsDir(root, bucket);
      const ids = await fs.readdir(dir).catch(() => [] as string[]);
      const prefix = typeof ctx.query.prefix === 'string' ? ctx.query.prefix : '';
      const uploads: Array<{ Key: string; UploadId: string; Initiated: string }> = [];
      for (const id of ids.sort()) {
        const uploadKey = await fs.readFile(join(dir, id, 'key'), 'utf8').catch(() => undefined);
        if (uploadKey === undefined || !uploadKey.startsWith(prefix)) continue;
        const stat = await fs.stat(join(dir, id));
        uploads.push({ Key: uploadKey, UploadId: id, Initiated: stat.mtime.toISOString() });
      }
      ctx.status = 200;
      ctx.body = {
        ListMultipartUploadsResult: {
          '@': { xmlns: 'http://s3.amazonaws.com/doc/2006-03-01/' },
          Bucket: bucket,
          Prefix: prefix,
          MaxUploads: 1000,
          IsTruncated: false,
          ...(uploads.length > 0 ? { Upload: uploads } : {}),
        },
      };
      return;
    }
    await next();
  };
}
