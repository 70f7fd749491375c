/** ObjectStore wrappers that let a test act at a precise point of a dump, instead of waiting for time to pass. */
import type { ObjectStore, UploadOptions } from '../../lambda/shared/ports';

/**
 * The store, with `hook` run in every upload after the producer's own last word (`beforeComplete`:
 * pg_dump and the compressor exited, the counts are done) and before the object is completed.
 */
export function storeWithHook(real: ObjectStore, hook: () => Promise<void>): ObjectStore {
  return Object.assign(Object.create(real) as ObjectStore, {
    uploadStream: (key: string, body: AsyncIterable<Buffer>, type: string, options: UploadOptions = {}) =>
      real.uploadStream(key, body, type, {
        beforeComplete: async () => {
          await options.beforeComplete?.();
          await hook();
        },
      }),
  });
}
