/**
 * The local S3 server enforces conditional writes like S3 (If-None-Match: *, If-Match: <etag>),
 * so the write-once manifest and the forward-only latest-verified pointer are exercised locally:
 * the store-level semantics, a race of manifest writers, and two real verify runs racing to move
 * latest-verified (interleaved deterministically by gates, not by timing).
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { S3ObjectStore } from '../../lambda/shared/s3-store';
import { ObjectStore, PreconditionFailedError, PutTextOptions, StoredText } from '../../lambda/shared/ports';
import { latestVerifiedKey } from '../../lambda/shared/layout';
import type { BackupManifest } from '../../lambda/shared/records';
import { startTestS3, TestS3 } from '../support/s3-server';
import { PgCluster } from '../../local/pg-cluster';
import { harness } from '../support/harness';

let s3: TestS3;
let pg: PgCluster | undefined;

beforeAll(async () => {
  s3 = await startTestS3();
});

afterAll(async () => {
  await pg?.stop();
  await s3?.stop();
});

const store = () => new S3ObjectStore(s3.client, s3.bucket);

test('If-None-Match: * writes once; If-Match needs the current ETag (412 otherwise, as S3)', async () => {
  const st = store();
  await st.putText('cond/once.json', '{"v":1}', { ifNoneMatch: true });
  await expect(st.putText('cond/once.json', '{"v":2}', { ifNoneMatch: true })).rejects.toBeInstanceOf(PreconditionFailedError);
  const first = (await st.getText('cond/once.json'))!;
  expect(first.text).toBe('{"v":1}');

  await st.putText('cond/once.json', '{"v":3}', { ifMatch: first.etag });
  await expect(st.putText('cond/once.json', '{"v":4}', { ifMatch: first.etag })).rejects.toBeInstanceOf(PreconditionFailedError);
  await expect(st.putText('cond/missing.json', '{}', { ifMatch: first.etag })).rejects.toBeInstanceOf(PreconditionFailedError);
  expect((await st.getText('cond/once.json'))!.text).toBe('{"v":3}');

  // The wire answer is S3's: 412 PreconditionFailed.
  const raw = await s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: 'cond/once.json', Body: 'x', IfNoneMatch: '*' })).catch((e: unknown) => e);
  expect(raw).toMatchObject({ name: 'PreconditionFailed', $metadata: { httpStatusCode: 412 } });
});

test('eight writers of the same manifest at once: exactly one wins, its content stays', async () => {
  const writers = Array.from({ length: 8 }, (_, i) => store().putText('race/x.manifest.json', `{"writer":${i}}`, { ifNoneMatch: true }));
  const results = await Promise.allSettled(writers);
  const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
  expect(won).toHaveLength(1);
  for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(PreconditionFailedError);
  expect((await store().getText('race/x.manifest.json'))!.text).toBe(`{"writer":${won[0]}}`);
});

/** A promise and its resolver. */
function signal(): { promise: Promise<void>; fire: () => void } {
  let fire!: () => void;
  const promise = new Promise<void>((resolve) => (fire = resolve));
  return { promise, fire };
}

/**
 * The store one verify run sees: its first read of `watched` waits until both runs have read it
 * (so both start from the same ETag), and its write of `watched` waits for `before` when given.
 */
class GatedStore implements ObjectStore {
  private readDone = false;
  readonly wrote = signal();
  constructor(
    private readonly inner: S3ObjectStore,
    private readonly watched: string,
    private readonly bothRead: { count: number; all: ReturnType<typeof signal> },
    private readonly before?: Promise<void>,
  ) {}
  get bucket(): string {
    return this.inner.bucket;
  }
  async getText(key: string): Promise<StoredText | undefined> {
    const out = await this.inner.getText(key);
    if (key === this.watched && !this.readDone) {
      this.readDone = true;
      if (++this.bothRead.count === 2) this.bothRead.all.fire();
      await this.bothRead.all.promise;
    }
    return out;
  }
  async putText(key: string, text: string, options?: PutTextOptions): Promise<void> {
    if (key !== this.watched) return this.inner.putText(key, text, options);
    if (this.before) await this.before;
    try {
      return await this.inner.putText(key, text, options);
    } finally {
      this.wrote.fire();
    }
  }
  getStream = (key: string) => this.inner.getStream(key);
  listKeys = (prefix: string) => this.inner.listKeys(prefix);
  uploadStream: ObjectStore['uploadStream'] = (key, body, contentType, options) => this.inner.uploadStream(key, body, contentType, options);
}

test('two verify runs advancing latest-verified at once: the pointer only moves forward', async () => {
  pg = await PgCluster.start();
  await pg.createDatabase('shop');
  await pg.sql('shop', `CREATE TABLE t (id int); INSERT INTO t SELECT generate_series(1, 100);`);
  const h = harness(pg, s3, 'shop', 'shop');
  const oldest = await h.dump();
  const older = await h.dump();
  const newer = await h.dump();
  expect(Date.parse(newer.startedAt)).toBeGreaterThan(Date.parse(older.startedAt));
  const manifestKey = (m: BackupManifest) => m.dump.key.replace(/\.dump$/, '.manifest.json');
  const pointerKey = latestVerifiedKey('shop');

  // The pointer exists (If-Match path), then both runs read it before either writes; the newer
  // run writes first, the older one writes with the ETag both read.
  await h.verify({ manifestKey: manifestKey(oldest), restoreTest: false });
  const bothRead = { count: 0, all: signal() };
  const newerStore = new GatedStore(h.store(), pointerKey, bothRead);
  const olderStore = new GatedStore(h.store(), pointerKey, bothRead, newerStore.wrote.promise);
  const [olderRecord, newerRecord] = await Promise.all([
    h.verify({ manifestKey: manifestKey(older), restoreTest: false }, { store: olderStore }),
    h.verify({ manifestKey: manifestKey(newer), restoreTest: false }, { store: newerStore }),
  ]);
  expect([olderRecord.ok, newerRecord.ok]).toEqual([true, true]);
  const pointer = JSON.parse((await store().getText(pointerKey))!.text) as { dumpKey: string };
  expect(pointer.dumpKey).toBe(newer.dump.key);
});

test('ListObjectsV2 pages past 1,000 keys without the OpenSSL legacy provider (no DES tokens)', async () => {
  expect(`${process.execArgv.join(' ')} ${process.env.NODE_OPTIONS ?? ''}`).not.toContain('--openssl-legacy-provider');
  const st = store();
  const keys = Array.from({ length: 1005 }, (_, i) => `paging/k${String(i).padStart(4, '0')}.json`);
  for (let i = 0; i < keys.length; i += 50) await Promise.all(keys.slice(i, i + 50).map((k) => st.putText(k, '{}')));
  expect(await st.listKeys('paging/')).toEqual(keys);
  expect(await s3.keys('paging/k100')).toEqual(keys.slice(1000));
});
