/**
 * One restore test in a child process, so a test can kill a verify run for real (SIGKILL, no
 * cleanup of its own). Run with `node --import tsx test/support/verify-child.ts`; the settings come
 * from PGDR_VERIFY_CHILD (JSON: endpoint, bucket, url, pgBin, database), never from argv, because
 * the URL carries the test cluster's password.
 */
import { localS3Client } from '../../cli/local-s3';
import { connectionFromUrl } from '../../lambda/shared/connection';
import { S3ObjectStore } from '../../lambda/shared/s3-store';
import { silentLog, systemClock } from '../../lambda/shared/ports';
import { runVerify } from '../../lambda/verify/core';

async function main(): Promise<void> {
  const settings = JSON.parse(process.env.PGDR_VERIFY_CHILD ?? '{}') as { endpoint: string; bucket: string; url: string; pgBin: string; database: string };
  const client = localS3Client(settings.endpoint);
  const record = await runVerify(
    {
      store: new S3ObjectStore(client, settings.bucket, { partSize: 5 * 1024 * 1024 }),
      restoreServer: { connection: connectionFromUrl(settings.url), kind: 'source' },
      pgBin: settings.pgBin,
      policy: { restoreTestEveryNth: 1, smokeQueries: [] },
      metrics: () => ({ add: () => undefined, flush: () => undefined }),
      log: silentLog,
      clock: systemClock,
    },
    { database: settings.database, restoreTest: true },
  );
  client.destroy();
  process.stdout.write(`${JSON.stringify({ ok: record.ok })}\n`);
}

main().catch((err: Error) => {
  process.stderr.write(`${err.message}\n`);
  process.exit(1);
});
