/**
 * The local S3 server completes a multipart upload as S3 does, without hashing the bytes again:
 * the object is the parts joined in order, its ETag S3's multipart one (MD5 of the parts' MD5s,
 * "-N"), a part that was not uploaded or whose ETag differs is InvalidPart, parts out of order
 * InvalidPartOrder, and a refused completion stores nothing. The uploader signs its parts with
 * UNSIGNED-PAYLOAD (the CRC32 checksum header still sent), which the server accepts.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { CompleteMultipartUploadCommand, CreateMultipartUploadCommand, GetObjectCommand, HeadObjectCommand, UploadPartCommand } from '@aws-sdk/client-s3';
import { S3ObjectStore } from '../../lambda/shared/s3-store';
import { multipartEtag } from '../../cli/local-s3';
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
const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');

/** Bytes that differ from part to part (so a reordering would show). */
function partBytes(n: number, size: number): Buffer {
  const b = Buffer.alloc(size);
  for (let i = 0; i + 4 <= size; i += 4) b.writeUInt32LE((i * 2654435761 + n) >>> 0, i);
  return b;
}

async function upload(key: string, parts: Buffer[]): Promise<{ uploadId: string; etags: string[] }> {
  const { UploadId } = await s3.client.send(new CreateMultipartUploadCommand({ Bucket: s3.bucket, Key: key }));
  const etags: string[] = [];
  for (const [i, body] of parts.entries()) {
    const out = await s3.client.send(new UploadPartCommand({ Bucket: s3.bucket, Key: key, UploadId, PartNumber: i + 1, Body: body }));
    etags.push(out.ETag!);
  }
  return { uploadId: UploadId!, etags };
}

test('a completed upload is the parts joined in order, with S3 multipart ETag; the upload directory is gone', async () => {
  const parts = [partBytes(1, 5 * MIB), partBytes(2, 5 * MIB), partBytes(3, 123)];
  const { uploadId, etags } = await upload('mp/joined.bin', parts);
  const done = await s3.client.send(
    new CompleteMultipartUploadCommand({ Bucket: s3.bucket, Key: 'mp/joined.bin', UploadId: uploadId, MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) } }),
  );
  const expectedEtag = `"${multipartEtag(parts.map(md5))}"`;
  expect(done.ETag).toBe(expectedEtag);
  expect(expectedEtag).toMatch(/^"[0-9a-f]{32}-3"$/);
  expect(Buffer.compare(await get('mp/joined.bin'), Buffer.concat(parts))).toBe(0);
  expect((await s3.client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: 'mp/joined.bin' }))).ETag).toBe(expectedEtag);
  expect(await s3.openUploads('mp/')).toEqual([]);
});

test('one part: the object is that part', async () => {
  const part = partBytes(7, 1000);
  const { uploadId, etags } = await upload('mp/one.bin', [part]);
  await s3.client.send(new CompleteMultipartUploadCommand({ Bucket: s3.bucket, Key: 'mp/one.bin', UploadId: uploadId, MultipartUpload: { Parts: [{ ETag: etags[0], PartNumber: 1 }] } }));
  expect(Buffer.compare(await get('mp/one.bin'), part)).toBe(0);
});

test('a part never uploaded, a wrong ETag, or parts out of order: refused as S3 does, nothing stored, the upload still open', async () => {
  const parts = [partBytes(4, 5 * MIB), partBytes(5, 10)];
  const { uploadId, etags } = await upload('mp/refused.bin', parts);
  const complete = (list: Array<{ ETag: string; PartNumber: number }>) =>
    s3.client.send(new CompleteMultipartUploadCommand({ Bucket: s3.bucket, Key: 'mp/refused.bin', UploadId: uploadId, MultipartUpload: { Parts: list } })).catch((e: unknown) => e);
  expect(await complete([{ ETag: etags[0], PartNumber: 1 }, { ETag: etags[1], PartNumber: 3 }])).toMatchObject({ name: 'InvalidPart', $metadata: { httpStatusCode: 400 } });
  expect(await complete([{ ETag: etags[0], PartNumber: 1 }, { ETag: `"${'0'.repeat(32)}"`, PartNumber: 2 }])).toMatchObject({ name: 'InvalidPart' });
  expect(await complete([{ ETag: etags[1], PartNumber: 2 }, { ETag: etags[0], PartNumber: 1 }])).toMatchObject({ name: 'InvalidPartOrder', $metadata: { httpStatusCode: 400 } });
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
