/**
 * s3rver on a free 127.0.0.1 port with a bucket, for data-path tests. The test that starts it
 * stops it (`stop()` in afterAll), which also removes its temp directory.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ListMultipartUploadsCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { localS3Client, startLocalS3 } from '../../cli/local-s3';

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

/** Commands a client sent, and a way to make some fail (fault injection on the real client). */
export interface RecordingClient {
  readonly client: S3Client;
  readonly commands: string[];
}

/**
 * A client for the same server that records command names and fails a command when `failWith`
 * returns an error for it (before it is sent).
 */
export function recordingClient(s3: TestS3, failWith?: (command: string, input: Record<string, unknown>) => Error | undefined): RecordingClient {
  const commands: string[] = [];
  const client = localS3Client(s3.endpoint);
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const name = context.commandName ?? 'unknown';
      commands.push(name);
      const error = failWith?.(name, args.input as Record<string, unknown>);
      if (error) throw error;
      return next(args);
    },
    { step: 'initialize', name: 'pgdrTestRecorder' },
  );
  return { client, commands };
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
