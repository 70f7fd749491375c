/**
 * S3ObjectStore.uploadStream's part buffers (lambda/shared/s3-store.ts) against s3rver: chunks
 * that do not line up with the parts arrive byte for byte, in the right order, whether the object
 * takes one PutObject or many parts; the parts reuse concurrency + 1 buffers of partSize however
 * many parts there are (the dump job's memory does not grow with the dump).
 */
import { createHash, randomBytes } from 'node:crypto';
import { S3ObjectStore } from '../../lambda/shared/s3-store';
import { recordingClient, startTestS3, TestS3 } from '../support/s3-server';

const MIB = 1024 * 1024;
const PART = 5 * MIB;

let s3: TestS3;
beforeAll(async () => {
  s3 = await startTestS3();
});
afterAll(async () => {
  await s3?.stop();
});

/** `data` in chunks of the given sizes, in turn. */
async function* chunked(data: Buffer, sizes: number[]): AsyncIterable<Buffer> {
  for (let offset = 0, i = 0; offset < data.length; i++) {
    const size = sizes[i % sizes.length];
    yield data.subarray(offset, offset + size);
    offset += size;
  }
}

async function stored(store: S3ObjectStore, key: string): Promise<Buffer> {
  const stream = await store.getStream(key);
  if (!stream) throw new Error(`${key} is not stored`);
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

test('a stream of 9 parts arrives intact and uses concurrency + 1 part buffers', async () => {
  const rec = recordingClient(s3);
  const store = new S3ObjectStore(rec.client, s3.bucket, { partSize: PART, concurrency: 2 });
  const data = randomBytes(8 * PART + 1234567);
  const allocations: number[] = [];
  const allocUnsafe = Buffer.allocUnsafe;
  const spy = jest.spyOn(Buffer, 'allocUnsafe').mockImplementation((size: number) => {
    if (size >= PART) allocations.push(size);
    return allocUnsafe(size);
  });
  try {
    await store.uploadStream('buffers/nine-parts.bin', chunked(data, [65536, 100003, 7, 3 * MIB + 11]), 'application/octet-stream');
  } finally {
    spy.mockRestore();
  }
  expect(rec.commands.filter((c) => c === 'UploadPartCommand')).toHaveLength(9);
  expect(allocations.length).toBeLessThanOrEqual(3);
  expect(sha(await stored(store, 'buffers/nine-parts.bin'))).toBe(sha(data));
  expect(await s3.openUploads('buffers/')).toEqual([]);
});

test('a stream smaller than a part is one PutObject; an exact multiple of the part size has no empty last part', async () => {
  const rec = recordingClient(s3);
  const store = new S3ObjectStore(rec.client, s3.bucket, { partSize: PART });
  const small = randomBytes(300001);
  await store.uploadStream('buffers/small.bin', chunked(small, [4096, 77777]), 'application/octet-stream');
  expect(rec.commands).toEqual(['PutObjectCommand']);
  expect(sha(await stored(store, 'buffers/small.bin'))).toBe(sha(small));

  const exact = randomBytes(2 * PART);
  await store.uploadStream('buffers/exact.bin', chunked(exact, [MIB + 1]), 'application/octet-stream');
  expect(rec.commands.filter((c) => c === 'UploadPartCommand')).toHaveLength(2);
  expect(sha(await stored(store, 'buffers/exact.bin'))).toBe(sha(exact));
});
