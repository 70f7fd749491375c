/**
 * The local runner's store starts its S3 server at the first use (cli/lazy-store.ts): once, for
 * concurrent first calls too; a server that cannot start fails every call with its own error; an
 * environment whose store was never used starts no server and leaves no directory.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { lazyStore } from '../../cli/lazy-store';
import { openLocalEnv } from '../../cli/local';
import type { ObjectStore } from '../../lambda/shared/ports';

/** A store that remembers what it was asked. */
function recordingStore(calls: string[]): ObjectStore {
  return {
    bucket: 'real',
    getText: async (key) => (calls.push(`getText ${key}`), { text: 'x', etag: '"1"' }),
    putText: async (key, text) => void calls.push(`putText ${key} ${text}`),
    getStream: async (key) => (calls.push(`getStream ${key}`), Readable.from([Buffer.from('bytes')])),
    uploadStream: async (key, body) => {
      let bytes = 0;
      for await (const chunk of body) bytes += chunk.length;
      calls.push(`uploadStream ${key} ${bytes}`);
    },
    listKeys: async (prefix) => (calls.push(`listKeys ${prefix}`), [`${prefix}a`]),
  };
}

test('opens the real store once, at the first call, and passes every call through', async () => {
  const calls: string[] = [];
  let opened = 0;
  const store = lazyStore('pgdr-local', async () => {
    opened++;
    return recordingStore(calls);
  });
  expect(store.bucket).toBe('pgdr-local');
  expect(opened).toBe(0);
  // Concurrent first calls share one opening.
  const [keys, text] = await Promise.all([store.listKeys('db/'), store.getText('db/m.json'), store.putText('db/t', 'hello')]);
  expect(opened).toBe(1);
  expect(keys).toEqual(['db/a']);
  expect(text).toEqual({ text: 'x', etag: '"1"' });
  await store.uploadStream('db/dump', Readable.from([Buffer.alloc(3), Buffer.alloc(4)]), 'application/octet-stream');
  const stream = await store.getStream('db/dump');
  expect(stream).toBeDefined();
  expect(opened).toBe(1);
  expect(calls.sort()).toEqual(['getStream db/dump', 'getText db/m.json', 'listKeys db/', 'putText db/t hello', 'uploadStream db/dump 7']);
});

test('a store that cannot open fails every call with its error, and is not opened again', async () => {
  let opened = 0;
  const store = lazyStore('pgdr-local', async () => {
    opened++;
    throw new Error("ENOTDIR: not a directory, mkdir '/x/s3'");
  });
  await expect(store.listKeys('db/')).rejects.toThrow(/^ENOTDIR: not a directory/);
  await expect(store.putText('db/t', 'x')).rejects.toThrow(/^ENOTDIR: not a directory/);
  expect(opened).toBe(1);
});

describe('openLocalEnv', () => {
  let root: string;
  const previous = process.env.PGDR_LOCAL_DIR;

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'pgdr-lazy-'));
  });

  afterEach(() => {
    if (previous === undefined) delete process.env.PGDR_LOCAL_DIR;
    else process.env.PGDR_LOCAL_DIR = previous;
    rmSync(root, { recursive: true, force: true });
  });

  test('starts no server until the store is used, then serves and stops it', async () => {
    process.env.PGDR_LOCAL_DIR = join(root, '.pgdr');
    const unused = await openLocalEnv({ redact: (t) => t });
    expect(unused.directory).toBe(join(root, '.pgdr', 's3'));
    await unused.close();
    expect(existsSync(join(root, '.pgdr'))).toBe(false);

    const env = await openLocalEnv({ redact: (t) => t });
    try {
      await env.store.putText('db/hello.txt', 'hello');
      expect((await env.store.getText('db/hello.txt'))?.text).toBe('hello');
      expect(existsSync(join(root, '.pgdr', 's3', 'pgdr-local'))).toBe(true);
    } finally {
      await env.close();
    }
  });

  test('a local directory where the server cannot start fails the first use with the reason; close still returns', async () => {
    writeFileSync(join(root, 'file'), '');
    process.env.PGDR_LOCAL_DIR = join(root, 'file');
    const env = await openLocalEnv({ redact: (t) => t });
    await expect(env.store.listKeys('db/')).rejects.toThrow(/ENOTDIR/);
    await env.close();
  });
});
