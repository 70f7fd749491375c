/**
 * An ObjectStore whose real store is made at its first use: the local runner's S3 server (and the
 * S3 SDK and s3rver it loads, ~0.1 s of a CLI start) starts when a job first reads or writes an
 * object. A local backup's first use is the upload it opens right after starting pg_dump, so the
 * loading runs while pg_dump reads the catalog instead of before pg_dump starts.
 */
import type { Readable } from 'node:stream';
import type { ObjectStore, PutTextOptions, StoredText, UploadOptions } from '../lambda/shared/ports';

/** A store for `bucket` that calls `open` once, at the first call of any method, and then delegates to its result. */
export function lazyStore(bucket: string, open: () => Promise<ObjectStore>): ObjectStore {
  let opened: Promise<ObjectStore> | undefined;
  const real = () => (opened ??= open());
  return {
    bucket,
    getText: async (key: string): Promise<StoredText | undefined> => (await real()).getText(key),
    putText: async (key: string, text: string, options?: PutTextOptions): Promise<void> => (await real()).putText(key, text, options),
    getStream: async (key: string): Promise<Readable | undefined> => (await real()).getStream(key),
    uploadStream: async (key: string, body: AsyncIterable<Buffer>, contentType: string, options?: UploadOptions): Promise<void> =>
      (await real()).uploadStream(key, body, contentType, options),
    listKeys: async (prefix: string): Promise<string[]> => (await real()).listKeys(prefix),
  };
}
