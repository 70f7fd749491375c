/**
 * The S3 adapter of the ObjectStore port (real S3 in Lambda, s3rver locally).
 *
 * Uploads are our own multipart loop rather than lib-storage's Upload, so that a failure is
 * handled deterministically: the loop stops reading, waits for the parts in flight, sends
 * AbortMultipartUpload and only then rethrows. Part buffers: partSize x (concurrency + 1), allocated
 * once per upload and reused, plus at most about one part of read chunks awaiting collection
 * (measured: bench/results.md, memory section).
 * Every PutObject/UploadPart carries a CRC32 checksum (ChecksumAlgorithm: CRC32; the bucket has
 * Object Lock, which requires one) and, when a KMS key is given, SSE-KMS headers.
 * UploadPart is signed with `x-amz-content-sha256: UNSIGNED-PAYLOAD` (`unsignedPayload`): the
 * SigV4 signature then covers the headers (the part's CRC32 among them) but not a SHA-256 of the
 * 16 MiB body, which the SDK would otherwise compute for every part (0.26 CPU-seconds per 172 MiB
 * uploaded in a CPU profile of `pgdr backup --local`, 2026-11-26), on a Lambda whose CPU sets its speed. The body is
 * still checked end to end: S3 verifies the part's CRC32 and rejects a part that does not match,
 * and the connection is TLS (AWS documents UNSIGNED-PAYLOAD for exactly that case).
 *
 * S3 actions used: s3:GetObject, s3:PutObject (PutObject, CreateMultipartUpload, UploadPart,
 * CompleteMultipartUpload), s3:AbortMultipartUpload, s3:ListBucket (ListObjectsV2).
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import {
  AbortMultipartUploadCommand,
  CompletedPart,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import type { Readable } from 'node:stream';
import { growHeapForStreaming } from './heap-growth';
import { ObjectStore, PreconditionFailedError, PutTextOptions, StoredText, UploadOptions } from './ports';

/**
 * A minor garbage collection (a scavenge of the young objects only, well under a millisecond here)
 * after each part. The chunks read from the producer (64 KiB each, their bytes outside the JS heap)
 * are garbage once copied into a part buffer, but V8 collects them only when 64 MiB more external
 * memory has piled up since its last collection: up to 64 MiB on top of the part buffers in the
 * dump job's peak RSS, a part's worth with this. `gc` is taken from a new context once
 * --expose-gc is set (at the first upload of more than one part; it only adds that function).
 */
let minorGc: ((options: { type: 'minor' }) => void) | undefined;
function collectReadChunks(): void {
  if (!minorGc) {
    setFlagsFromString('--expose-gc');
    minorGc = runInNewContext('gc') as (options: { type: 'minor' }) => void;
  }
  minorGc({ type: 'minor' });
}

export interface S3StoreOptions {
  /** SSE-KMS key (ARN or ID). @default no SSE header (bucket default encryption applies) */
  readonly kmsKeyId?: string;
  /** Multipart part size in bytes (S3 minimum 5 MiB). @default 16 MiB */
  readonly partSize?: number;
  /** Parts uploaded at the same time. @default 2 */
  readonly concurrency?: number;
}

const MIN_PART = 5 * 1024 * 1024;

function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e.name === 'NoSuchKey' || e.name === 'NotFound' || e.$metadata?.httpStatusCode === 404;
}

/**
 * A conditional write that lost: 412 PreconditionFailed, 409 ConditionalRequestConflict (a
 * concurrent write to the key), or 404 NoSuchKey for If-Match on a key deleted meanwhile.
 */
function isPreconditionFailed(err: unknown, conditional: { ifMatch?: string }): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  const status = e.$metadata?.httpStatusCode;
  return (
    e.name === 'PreconditionFailed' ||
    status === 412 ||
    e.name === 'ConditionalRequestConflict' ||
    status === 409 ||
    (conditional.ifMatch !== undefined && (e.name === 'NoSuchKey' || status === 404))
  );
}

/**
 * Signs `command` with `x-amz-content-sha256: UNSIGNED-PAYLOAD` (the SigV4 signer takes a payload
 * hash already in the headers as it is) instead of hashing its body.
 */
export function unsignedPayload<C extends UploadPartCommand>(command: C): C {
  command.middlewareStack.add(
    (next) => async (args) => {
      const request = args.request as { headers?: Record<string, string> };
      if (request.headers) request.headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
      return next(args);
    },
    { step: 'build', name: 'pgdrUnsignedPayload' },
  );
  return command;
}

export class S3ObjectStore implements ObjectStore {
  private readonly partSize: number;
  private readonly concurrency: number;

  constructor(
    private readonly s3: S3Client,
    readonly bucket: string,
    private readonly options: S3StoreOptions = {},
  ) {
    this.partSize = Math.max(MIN_PART, options.partSize ?? 16 * 1024 * 1024);
    this.concurrency = Math.max(1, options.concurrency ?? 2);
  }

  private sse() {
    return this.options.kmsKeyId ? { ServerSideEncryption: 'aws:kms' as const, SSEKMSKeyId: this.options.kmsKeyId, BucketKeyEnabled: true } : {};
  }

  async getText(key: string): Promise<StoredText | undefined> {
    try {
      const out = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      return { text: await out.Body!.transformToString('utf8'), etag: out.ETag };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async putText(key: string, text: string, options: PutTextOptions = {}): Promise<void> {
    try {
      await this.s3.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: Buffer.from(text, 'utf8'),
          ContentType: options.contentType ?? 'application/json',
          ChecksumAlgorithm: 'CRC32',
          IfMatch: options.ifMatch,
          IfNoneMatch: options.ifNoneMatch ? '*' : undefined,
          ...this.sse(),
        }),
      );
    } catch (err) {
      if ((options.ifMatch !== undefined || options.ifNoneMatch) && isPreconditionFailed(err, options)) throw new PreconditionFailedError(key);
      throw err;
    }
  }

  async getStream(key: string): Promise<Readable | undefined> {
    // The stream's bytes pass through this process: see heap-growth.ts.
    growHeapForStreaming();
    try {
      const out = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      return out.Body as Readable;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async listKeys(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.s3.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }));
      for (const o of page.Contents ?? []) if (o.Key) keys.push(o.Key);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return keys;
  }

  async uploadStream(key: string, body: AsyncIterable<Buffer>, contentType: string, options: UploadOptions = {}): Promise<void> {
    // The dump's bytes pass through this process: see heap-growth.ts.
    growHeapForStreaming();
    const { partSize, concurrency } = this;
    let uploadId: string | undefined;
    const parts: CompletedPart[] = [];
    const inFlight = new Set<Promise<void>>();
    let failure: unknown;
    // Part buffers are allocated once and reused when their upload has finished: at most
    // concurrency in flight + the one being filled, and no 16 MiB allocation per part for the
    // allocator and the garbage collector to keep around (the dump job's RSS grew with the size).
    const free: Buffer[] = [];
    let current: Buffer | undefined;
    let filled = 0;
    let partNumber = 0;

    const startPart = async (data: Buffer): Promise<void> => {
      if (!uploadId) {
        const created = await this.s3.send(
          new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: key, ContentType: contentType, ChecksumAlgorithm: 'CRC32', ...this.sse() }),
        );
        uploadId = created.UploadId;
        if (!uploadId) throw new Error(`S3 returned no UploadId for ${key}`);
      }
      while (inFlight.size >= concurrency) await Promise.race(inFlight);
      if (failure) throw failure;
      const number = ++partNumber;
      const id = uploadId;
      const task: Promise<void> = this.s3
        .send(unsignedPayload(new UploadPartCommand({ Bucket: this.bucket, Key: key, UploadId: id, PartNumber: number, Body: data, ChecksumAlgorithm: 'CRC32' })))
        .then(
          (out) => {
            parts.push({ PartNumber: number, ETag: out.ETag, ChecksumCRC32: out.ChecksumCRC32 });
            // S3 has the part (its answer came after the whole body): the buffer is free again.
            if (data.length === partSize) free.push(data);
          },
          (err) => {
            failure ??= err;
          },
        )
        .finally(() => inFlight.delete(task));
      inFlight.add(task);
    };

    try {
      for await (const chunk of body) {
        if (failure) throw failure;
        let offset = 0;
        while (offset < chunk.length) {
          current ??= free.pop() ?? Buffer.allocUnsafe(partSize);
          const copied = chunk.copy(current, filled, offset, Math.min(chunk.length, offset + partSize - filled));
          filled += copied;
          offset += copied;
          if (filled === partSize) {
            const full = current;
            current = undefined;
            filled = 0;
            await startPart(full);
            collectReadChunks();
          }
        }
      }
      if (!uploadId) {
        // Small object: one PutObject.
        await options.beforeComplete?.();
        await this.s3.send(
          new PutObjectCommand({
            Bucket: this.bucket,
            Key: key,
            Body: current ? current.subarray(0, filled) : Buffer.alloc(0),
            ContentType: contentType,
            ChecksumAlgorithm: 'CRC32',
            ...this.sse(),
          }),
        );
        return;
      }
      if (current && filled > 0) await startPart(current.subarray(0, filled));
      current = undefined;
      await Promise.all(inFlight);
      if (failure) throw failure;
      await options.beforeComplete?.();
      parts.sort((a, b) => a.PartNumber! - b.PartNumber!);
      await this.s3.send(
        new CompleteMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId, MultipartUpload: { Parts: parts } }),
      );
    } catch (err) {
      await Promise.allSettled([...inFlight]);
      if (uploadId) {
        try {
          await this.s3.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId }));
        } catch (abortError) {
          const e = err as Error;
          e.message = `${e.message} (and aborting multipart upload ${uploadId} failed: ${(abortError as Error).message}; the bucket's lifecycle rule removes it)`;
        }
      }
      throw err;
    }
  }
}
