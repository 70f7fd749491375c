/**
 * s3rver on a free 127.0.0.1 port with a bucket, for data-path tests. The test that starts it
 * stops it (`stop()` in afterAll), which also removes its temp directory.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ListMultipartUploadsCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { startLocalS3 } from '../../cli/local-s3';

export interface TestS3 {
  readonly bucket: string;
  readonly endpoint: string;
  readonly directory: string;
  readonly client: S3Client;
  /** All keys under a prefix. */
  keys(prefix?: string): Promise<string[]>;
  /** Multipart uploads not completed nor aborted. */
  openUploads(prefix?: string): Promise<string[]>;
  stop(): Promise<void>;
}

export async function startTestS3(bucket = 'pgdr-test-vault', directory?: string): Promise<TestS3> {
  const dir = directory ?? mkdtempSync(join(tmpdir(), 'pgdr-s3-'));
  const server = await startLocalS3({ directory: dir, buckets: [bucket] });
  const client = server.client();
  return {
    bucket,
    endpoint: server.endpoint,
    directory: dir,
    client,
    keys: async (prefix = '') => {
      const keys: string[] = [];
      let token: string | undefined;
      do {
        const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
        keys.push(...(page.Contents ?? []).map((o) => o.Key!));
        token = page.NextContinuationToken;
      } while (token);
      return keys.sort();
    },
    openUploads: async (prefix = '') => {
      const result = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix }));
      return (result.Uploads ?? []).map((u) => `${u.Key} (${u.UploadId})`);
    },
    stop: async () => {
      client.destroy();
      await server.stop();
      if (!directory) rmSync(dir, { recursive: true, force: true });
    },
  };
}
