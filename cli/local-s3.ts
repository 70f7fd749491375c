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
 * CompleteMultipartUpload checks the parts' ETags and order as S3 does and joins the part files
 * without hashing them again; the object's ETag is S3's multipart one (`assembleParts`).
 *
 * Versioning, Object Lock, SSE-KMS and checksums are not emulated: s3rver accepts and ignores
 * those headers.
 */
// s3rver ships no types; cli/s3rver.d.ts declares the part used here (tsconfig does not include cli/).
// eslint-disable-next-line @typescript-eslint/triple-slash-reference
/// <reference path="./s3rver.d.ts" />
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, promises as fs } from 'node:fs';
import { dirname, join } from 'node:path';
import { Readable, Transform } from 'node:stream';
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
  safeWrites((server as unknown as { store: FilesystemStore }).store);
  // Run before s3rver's router (the last middleware), after its XML encoder.
  const stack = (server as unknown as { middleware: Middleware[] }).middleware;
  stack.splice(stack.length - 1, 0, storeErrors(options.directory), listV2Paging(), multipartAdditions(options.directory), conditionalWrites());
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
}

/** An S3 client error raised by the store, answered by `storeErrors` (e.g. InvalidPart). */
class StoreError extends Error {
  constructor(
    readonly s3Code: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The ETag S3 gives an object assembled from parts: the MD5 of the parts' binary MD5s, then "-" and
 * the number of parts (so no byte is hashed a second time).
 */
export function multipartEtag(partMd5s: readonly string[]): string {
  const md5 = createHash('md5');
  for (const hex of partMd5s) md5.update(Buffer.from(hex, 'hex'));
  return `${md5.digest('hex')}-${partMd5s.length}`;
}

/**
 * CompleteMultipartUpload as S3 does it: every listed part must have been uploaded with the ETag
 * given, in ascending order (InvalidPart, InvalidPartOrder); the object is the parts' bytes joined
 * into a temporary file renamed at the end (one part: renamed as it is), with S3's multipart ETag.
 * s3rver's own version read every byte back through an MD5 and wrote it again, after the last
 * part: on a dump, most of the time between pg_dump's end and the stored object.
 */
async function assembleParts(store: FilesystemStore, bucket: string, uploadId: string, parts: Array<{ number: number; etag: string }>): Promise<{ size: number; md5: string }> {
  const dir = join(store.getResourcePath(bucket, undefined, 'uploads'), uploadId);
  const [key, metadata] = await Promise.all([fs.readFile(join(dir, 'key'), 'utf8'), fs.readFile(join(dir, 'metadata'), 'utf8').then((m) => JSON.parse(m) as unknown)]);
  const md5s: string[] = [];
  for (const [i, part] of parts.entries()) {
    if (i > 0 && part.number <= parts[i - 1].number) throw new StoreError('InvalidPartOrder', 'The list of parts was not in ascending order. The parts list must be specified in order by part number.');
    const stored = await fs.readFile(join(dir, `${part.number}.md5`), 'utf8').catch(() => undefined);
    if (stored === undefined || stored !== part.etag) {
      throw new StoreError('InvalidPart', `One or more of the specified parts could not be found or its ETag did not match (part ${part.number}).`);
    }
    md5s.push(stored);
  }
  const path = store.getResourcePath(bucket, key, 'object');
  await fs.mkdir(dirname(path), { recursive: true });
  const temporary = `${path}.pgdr-partial-${randomBytes(6).toString('hex')}`;
  try {
    if (parts.length === 1) {
      await fs.rename(join(dir, String(parts[0].number)), temporary);
    } else {
      const joined = async function* () {
        for (const part of parts) yield* createReadStream(join(dir, String(part.number)), { highWaterMark: 1024 * 1024 }) as AsyncIterable<Buffer>;
      };
      await pipeline(Readable.from(joined(), { objectMode: false }), createWriteStream(temporary));
    }
    const { size } = await fs.stat(temporary);
    await fs.rename(temporary, path);
    const md5 = multipartEtag(md5s);
    await store.putMetadata(bucket, key, metadata, md5);
    await fs.rm(dir, { recursive: true, force: true });
    return { size, md5 };
  } catch (err) {
    await fs.rm(temporary, { force: true });
    throw err;
  }
}

/** Writes `content` to `path` through a temporary file renamed at the end; nothing is left on failure. */
async function writeWhole(path: string, content: Buffer | Readable): Promise<{ size: number; md5: string }> {
  await fs.mkdir(dirname(path), { recursive: true });
  const temporary = `${path}.pgdr-partial-${randomBytes(6).toString('hex')}`;
  const md5 = createHash('md5');
  let size = 0;
  const count = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      md5.update(chunk);
      size += chunk.length;
      callback(null, chunk);
    },
  });
  try {
    await pipeline(Buffer.isBuffer(content) ? Readable.from([content]) : content, count, createWriteStream(temporary));
    await fs.rename(temporary, path);
  } catch (err) {
    await fs.rm(temporary, { force: true });
    throw err;
  }
  return { size, md5: md5.digest('hex') };
}

/** Replaces s3rver's object and part writes by ones that fail cleanly (see the module comment). */
function safeWrites(store: FilesystemStore): void {
  store.putObject = async (object) => {
    const path = store.getResourcePath(object.bucket, object.key, 'object');
    const written = await writeWhole(path, object.content);
    try {
      await store.putMetadata(object.bucket, object.key, object.metadata, written.md5);
    } catch (err) {
      await fs.rm(path, { force: true });
      throw err;
    }
    return written;
  };
  store.putPart = async (bucket, uploadId, partNumber, content) => {
    const path = join(store.getResourcePath(bucket, undefined, 'uploads'), uploadId, String(partNumber));
    const written = await writeWhole(path, content);
    try {
      await fs.writeFile(`${path}.md5`, written.md5);
    } catch (err) {
      await fs.rm(path, { force: true });
      await fs.rm(`${path}.md5`, { force: true });
      throw err;
    }
    return written;
  };
  store.putObjectMultipart = (bucket, uploadId, parts) => assembleParts(store, bucket, uploadId, parts);
}

/** A full disk (or quota) under the server's directory becomes one S3 error that names it; a StoreError, the S3 error it names (400). */
function storeErrors(root: string): Middleware {
  return async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      if (err instanceof StoreError) return s3Error(ctx, 400, err.s3Code, err.message);
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

function multipartAdditions(root: string): Middleware {
  return async (ctx, next) => {
    const { bucket, key } = target(ctx);
    if (ctx.method === 'DELETE' && bucket && key && typeof ctx.query.uploadId === 'string') {
      const dir = join(uploadsDir(root, bucket), ctx.query.uploadId.replace(/[^0-9a-zA-Z]/g, ''));
      const storedKey = await fs.readFile(join(dir, 'key'), 'utf8').catch(() => undefined);
      if (storedKey !== key) {
        ctx.status = 404;
        ctx.body = { Error: { Code: 'NoSuchUpload', Message: 'The specified upload does not exist.', UploadId: ctx.query.uploadId } };
        return;
      }
      await fs.rm(dir, { recursive: true, force: true });
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
