/** `pgdr verify NAME`: verify the newest backup (integrity and restore test) and print the record. */
import type { Command } from 'commander';
import { runVerify, VerificationPolicy } from '../../lambda/verify/core';
import { systemClock } from '../../lambda/shared/ports';
import type { VerificationRecord } from '../../lambda/shared/records';
import { CliError } from '../errors';
import { openLocalEnv } from '../local';
import { resolveDatabase } from '../resolve';
import { CommonOptions, parseUrl, printRecord, redactOutput, requireLocal } from '../shared';

export function registerVerify(program: Command): void {
  program
    .command('verify')
    .description('verify the newest backup of a database (integrity and restore test) and print the verification record')
    .argument('<name>', 'a configured database, or any name with --source-url / --verify-url')
    .option('--local', 'run on this machine against the local S3 server (.pgdr/s3)')
    .option('--verify-url <url>', 'server for the scratch database (postgres://user:password@host:port/database); default: --source-url')
    .option('--source-url <url>', 'the source server, used for the scratch database when --verify-url is not given')
    .option('--config <path>', 'configuration file (default: pgdr.config.json if present)')
    .option('--pg-bin <dir>', 'directory of pg_restore (default: PGDR_PG_BIN, the newest /usr/lib/postgresql/N/bin, PATH)')
    .option('--json', 'print the verification record as JSON')
    .option('--verbose', 'structured logs and metrics on stderr')
    .action(async (name: string, options: CommonOptions & { verifyUrl?: string }) => {
      requireLocal(options, 'verify');
      const url = options.verifyUrl ?? options.sourceUrl;
      const db = resolveDatabase(name, { config: options.config, hasUrl: url !== undefined, urlOption: '--verify-url or --source-url' });
      if (!url) throw new CliError('verify --local needs --verify-url or --source-url: the server that hosts the scratch database of the restore test');
      const connection = parseUrl(url, options.verifyUrl ? '--verify-url' : '--source-url');
      const policy: VerificationPolicy = { restoreTestEveryNth: 1, smokeQueries: db.config?.verification.smokeQueries ?? [] };
      const env = await openLocalEnv({ ...options, redact: redactOutput });
      let record: VerificationRecord;
      try {
        record = await runVerify(
          {
            store: env.store,
            restoreServer: { connection, kind: options.verifyUrl ? 'verify' : 'source' },
            pgBin: env.pgBin,
            policy,
            metrics: env.metrics,
            log: env.log,
            clock: systemClock,
          },
          { database: db.name, restoreTest: true },
        );
      } finally {
        await env.close();
      }
      printRecord(record, options.json === true);
      if (!record.ok) {
        // A configured name brings its smoke queries along: say so, a newcomer may not expect it.
        const smokeFailed = record.failures.some((f) => f.startsWith('smoke query'));
        const origin = smokeFailed && db.configuredAt ? ` (smoke queries of "${db.name}" from ${db.configuredAt}.verification.smokeQueries; another name runs none)` : '';
        throw new CliError(`verification of ${record.dumpKey} failed: ${record.failures.join('; ')}${origin}`);
      }
    });
}
