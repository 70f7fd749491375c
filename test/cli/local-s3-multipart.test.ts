/**
 * The local S3 server completes a multipart upload as S3 does, without copying or hashing the
 * bytes again: parts that arrive in sequence go into one growing file that becomes the object;
 * parts out of sequence or uploaded again are their own files, and the object is still the last
 * upload of each listed part, in order. Part ETags are opaque (as under SSE-KMS); the object's is
 * S3's multipart one (MD5 of the parts' ETags, "-N"). A part that was not uploaded or whose ETag
 * differs is InvalidPart, parts out of order InvalidPartOrder, and a refused completion stores
 * nothing. The uploader signs its parts with UNSIGNED-PAYLOAD (the CRC32 checksum header still
 * sent), which the server accepts.
 */
import { mkdtempSync, promises as fs, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { CompleteMultipartUploadCommand, CreateMultipartUploadCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand, UploadPartCommand } from '@aws-sdk/client-s3';
import { S3ObjectStore } from '../../lambda/shared/s3-store';
import { multipartEtag, PartStore } from '../../cli/local-s3';
import { startTestS3, TestS3 } from '../support/s3-server';

let s3: TestS3;

beforeAll(async () => {
  s3 = await startTestS3();
});

afterAll(async () => {
  await s3?.stop();
});

const MIB = 1024 * 1024;

async function get(key: string): Promise<Buffer> {
  const out = await s3.client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: key }));
  return Buffer.from(await out.Body!.transformToByteArray());
}
const bare = (etag: string) => etag.replace(/"/g, '');

/** The files the server keeps for an open upload (its directory under the bucket's upload area). */
async function uploadFiles(uploadId: string): Promise<string[]> {
  return (await fs.readdir(join(s3.directory, s3.bucket, '._S3rver_uploads', uploadId))).sort();
}

/** Bytes that differ from part to part (so a reordering would show). */
function partBytes(n: number, size: number): Buffer {
  const b = Buffer.alloc(size);
  for (let i = 0; i + 4 <= size; i += 4) b.writeUInt32LE((i * 2654435761 + n) >>> 0, i);
  return b;
}

async function uploadPart(key: string, uploadId: string, partNumber: number, body: Buffer): Promise<string> {
  return (await s3.client.send(new UploadPartCommand({ Bucket: s3.bucket, Key: key, UploadId: uploadId, PartNumber: partNumber, Body: body }))).ETag!;
}

async function upload(key: string, parts: Buffer[]): Promise<{ uploadId: string; etags: string[] }> {
  const { UploadId } = await s3.client.send(new CreateMultipartUploadCommand({ Bucket: s3.bucket, Key: key }));
  const etags: string[] = [];
  for (const [i, body] of parts.entries()) etags.push(await uploadPart(key, UploadId!, i + 1, body));
  return { uploadId: UploadId!, etags };
}

function complete(key: string, uploadId: string, list: Array<{ ETag: string; PartNumber: number }>) {
  return s3.client.send(new CompleteMultipartUploadCommand({ Bucket: s3.bucket, Key: key, UploadId: uploadId, MultipartUpload: { Parts: list } }));
}

test('a completed upload is the parts joined in order, with S3 multipart ETag; the upload directory is gone', async () => {
  const parts = [partBytes(1, 5 * MIB), partBytes(2, 5 * MIB), partBytes(3, 123)];
  const { uploadId, etags } = await upload('mp/joined.bin', parts);
  // Opaque, distinct part ETags; the parts, sent in sequence, are one file already (no part file).
  expect(new Set(etags).size).toBe(3);
  for (const etag of etags) expect(etag).toMatch(/^"[0-9a-f]{32}"$/);
  expect(await uploadFiles(uploadId)).toEqual(['1.etag', '1.span', '2.etag', '2.span', '3.etag', '3.span', 'joined', 'key', 'metadata']);
  const done = await complete('mp/joined.bin', uploadId, etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })));
  const expectedEtag = `"${multipartEtag(etags.map(bare))}"`;
  expect(done.ETag).toBe(expectedEtag);
  expect(expectedEtag).toMatch(/^"[0-9a-f]{32}-3"$/);
  expect(Buffer.compare(await get('mp/joined.bin'), Buffer.concat(parts))).toBe(0);
  expect((await s3.client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: 'mp/joined.bin' }))).ETag).toBe(expectedEtag);
  expect(await s3.openUploads('mp/')).toEqual([]);
});

test('one part: the object is that part', async () => {
  const part = partBytes(7, 1000);
  const { uploadId, etags } = await upload('mp/one.bin', [part]);
  await complete('mp/one.bin', uploadId, [{ ETag: etags[0], PartNumber: 1 }]);
  expect(Buffer.compare(await get('mp/one.bin'), part)).toBe(0);
});

test('parts out of sequence, or uploaded again: the object is the last upload of each listed part, in part order', async () => {
  const key = 'mp/mixed.bin';
  const { UploadId } = await s3.client.send(new CreateMultipartUploadCommand({ Bucket: s3.bucket, Key: key }));
  const id = UploadId!;
  const [p1, p2, p3, p4, p2b, p1b] = [1, 2, 3, 4, 22, 11].map((n) => partBytes(n, 5 * MIB + n));
  const e1 = await uploadPart(key, id, 1, p1);
  const e3 = await uploadPart(key, id, 3, p3); // out of sequence: its own file
  const e2 = await uploadPart(key, id, 2, p2);
  const e4 = await uploadPart(key, id, 4, p4);
  const e2b = await uploadPart(key, id, 2, p2b); // again: the new bytes win over the first upload
  expect(e2b).not.toBe(e2);
  // The first upload's ETag of part 2 is no longer valid.
  expect(await complete(key, id, [{ ETag: e1, PartNumber: 1 }, { ETag: e2, PartNumber: 2 }]).catch((e: unknown) => e)).toMatchObject({ name: 'InvalidPart' });
  await complete(key, id, [
    { ETag: e1, PartNumber: 1 },
    { ETag: e2b, PartNumber: 2 },
    { ETag: e3, PartNumber: 3 },
    { ETag: e4, PartNumber: 4 },
  ]);
  expect(Buffer.compare(await get(key), Buffer.concat([p1, p2b, p3, p4]))).toBe(0);

  // In sequence, then part 1 again and a completion that leaves part 2 out.
  const again = await upload('mp/again.bin', [p1, p2, p3]);
  const e1b = await uploadPart('mp/again.bin', again.uploadId, 1, p1b);
  await complete('mp/again.bin', again.uploadId, [{ ETag: e1b, PartNumber: 1 }, { ETag: again.etags[2], PartNumber: 3 }]);
  expect(Buffer.compare(await get('mp/again.bin'), Buffer.concat([p1b, p3]))).toBe(0);
  expect(await s3.openUploads('mp/')).toEqual([]);
});

test('a part for an upload that does not exist is NoSuchUpload; a part number out of 1-10000 is refused', async () => {
  const body = partBytes(6, 100);
  const missing = await s3.client.send(new UploadPartCommand({ Bucket: s3.bucket, Key: 'mp/none.bin', UploadId: 'f'.repeat(32), PartNumber: 1, Body: body })).catch((e: unknown) => e);
  expect(missing).toMatchObject({ name: 'NoSuchUpload', $metadata: { httpStatusCode: 404 } });
  const { uploadId } = await upload('mp/bad-number.bin', []);
  const zero = await s3.client.send(new UploadPartCommand({ Bucket: s3.bucket, Key: 'mp/bad-number.bin', UploadId: uploadId, PartNumber: 10001, Body: body })).catch((e: unknown) => e);
  expect(zero).toMatchObject({ name: 'InvalidArgument', $metadata: { httpStatusCode: 400 } });
  expect(await uploadFiles(uploadId)).toEqual(['key', 'metadata']);
});

test('a part never uploaded, a wrong ETag, or parts out of order: refused as S3 does, nothing stored, the upload still open', async () => {
  const parts = [partBytes(4, 5 * MIB), partBytes(5, 10)];
  const { uploadId, etags } = await upload('mp/refused.bin', parts);
  const refused = (list: Array<{ ETag: string; PartNumber: number }>) => complete('mp/refused.bin', uploadId, list).catch((e: unknown) => e);
  expect(await refused([{ ETag: etags[0], PartNumber: 1 }, { ETag: etags[1], PartNumber: 3 }])).toMatchObject({ name: 'InvalidPart', $metadata: { httpStatusCode: 400 } });
  expect(await refused([{ ETag: etags[0], PartNumber: 1 }, { ETag: `"${'0'.repeat(32)}"`, PartNumber: 2 }])).toMatchObject({ name: 'InvalidPart' });
  expect(await refused([{ ETag: etags[1], PartNumber: 2 }, { ETag: etags[0], PartNumber: 1 }])).toMatchObject({ name: 'InvalidPartOrder', $metadata: { httpStatusCode: 400 } });
  expect(await s3.keys('mp/refused')).toEqual([]);
  expect(await s3.openUploads('mp/refused')).toHaveLength(1);
});

test('the store signs its parts UNSIGNED-PAYLOAD with a CRC32 checksum; the object arrives whole', async () => {
  const seen: Array<Record<string, string>> = [];
  const client = s3.client;
  client.middlewareStack.add(
    (next) => async (args) => {
      const request = args.request as { headers: Record<string, string>; query?: Record<string, string> };
      if (request.query?.partNumber) seen.push({ ...request.headers });
      return next(args);
    },
    { step: 'finalizeRequest', name: 'testSeePartHeaders', priority: 'low' },
  );
  try {
    const body = partBytes(9, 12 * MIB + 17);
    await new S3ObjectStore(client, s3.bucket, { partSize: 5 * MIB }).uploadStream('mp/store.bin', Readable.from([body]), 'application/octet-stream');
    expect(seen).toHaveLength(3);
    for (const headers of seen) {
      expect(headers['x-amz-content-sha256']).toBe('UNSIGNED-PAYLOAD');
      expect(headers['x-amz-checksum-crc32']).toMatch(/^[A-Za-z0-9+/]{6}==$/);
      expect(headers.authorization).toMatch(/SignedHeaders=.*x-amz-checksum-crc32.*x-amz-content-sha256/);
    }
    expect(Buffer.compare(await get('mp/store.bin'), body)).toBe(0);
  } finally {
    client.middlewareStack.remove('testSeePartHeaders');
  }
});

test('a part that arrives while the one before is still being written waits for it, then joins the same file', async () => {
  // s3rver's own filesystem store under the part store, as in the server.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const FilesystemStore = require('s3rver/lib/stores/filesystem') as new (root: string) => {
    putBucket(b: string): Promise<void>;
    initiateUpload(b: string, k: string, id: string, m: Record<string, string>): Promise<void>;
    getResourcePath(b: string, k: string | undefined, r: string): string;
  };
  const root = mkdtempSync(join(tmpdir(), 'pgdr-parts-'));
  try {
    const store = new FilesystemStore(root);
    await store.putBucket('b');
    await store.initiateUpload('b', 'k.bin', 'u1', {});
    const parts = new PartStore(store as unknown as ConstructorParameters<typeof PartStore>[0]);
    const events: string[] = [];
    // Part 1's bytes come when the test says so; its first read means its append has begun.
    let pulled!: () => void;
    const firstPull = new Promise<void>((resolve) => (pulled = resolve));
    const body1 = new Readable({ read: () => pulled() });
    const body2 = new Readable({
      read() {
        events.push('part 2 read');
        this.push(partBytes(2, 3000));
        this.push(null);
      },
    });
    const put1 = parts.put('b', 'u1', 1, body1);
    await firstPull;
    const put2 = parts.put('b', 'u1', '2', body2);
    body1.push(partBytes(1, 5000));
    events.push('part 1 ended');
    body1.push(null);
    const [one, two] = await Promise.all([put1, put2]);
    expect(events).toEqual(['part 1 ended', 'part 2 read']);
    const dir = join(store.getResourcePath('b', undefined, 'uploads'), 'u1');
    expect((await fs.readdir(dir)).sort()).toEqual(['1.etag', '1.span', '2.etag', '2.span', 'joined', 'key', 'metadata']);
    expect(await fs.readFile(join(dir, '2.span'), 'utf8')).toBe('5000 3000');
    await parts.complete('b', 'u1', [
      { number: 1, etag: one.md5 },
      { number: 2, etag: two.md5 },
    ]);
    expect(Buffer.compare(await fs.readFile(store.getResourcePath('b', 'k.bin', 'object')), Buffer.concat([partBytes(1, 5000), partBytes(2, 3000)]))).toBe(0);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('objects are read back whole, by range (across the 1 MiB reads) and empty, as stored', async () => {
  const body = partBytes(7, 3 * MIB + 123);
  await s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: 'read/big.bin', Body: body }));
  await s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: 'read/empty.bin', Body: Buffer.alloc(0) }));
  expect(Buffer.compare(await get('read/big.bin'), body)).toBe(0);
  const ranged = async (range: string) => {
    const out = await s3.client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: 'read/big.bin', Range: range }));
    return { bytes: Buffer.from(await out.Body!.transformToByteArray()), contentRange: out.ContentRange };
  };
  const middle = await ranged(`bytes=${MIB - 5}-${2 * MIB + 9}`);
  expect(Buffer.compare(middle.bytes, body.subarray(MIB - 5, 2 * MIB + 10))).toBe(0);
  expect(middle.contentRange).toBe(`bytes ${MIB - 5}-${2 * MIB + 9}/${body.length}`);
  const tail = await ranged(`bytes=${3 * MIB}-`);
  expect(Buffer.compare(tail.bytes, body.subarray(3 * MIB))).toBe(0);
  expect((await get('read/empty.bin')).length).toBe(0);
});
