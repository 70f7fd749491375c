/** `pgdr verify NAME`: verify the newest backup (integrity and restore test) and print the record. */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import type { VerificationRecord } from '../../lambda/shared/records';
import { CliError } from '../errors';
import { resolveDatabase } from '../resolve';
import { CommonOptions, parseUrl, printRecord, redactOutput } from '../shared';
import { openBackend, requireConfig } from '../backend';
import { openProgress } from '../progress';
import { interruptOnSignals, signalExitCode } from '../interrupt';

export function registerVerify(program: Command): void {
  program
    .command('verify')
    .description('verify the newest backup of a database (integrity and restore test) and print the verification record')
    .argument('<name>', 'a configured database, or any name with --source-url / --verify-url')
    .option('--local', 'run on this machine against the local S3 server (.pgdr/s3); without it: invoke the deployed verify job and wait')
    .option('--key <key>', 'the dump or manifest key to verify (default: the newest backup)')
    .option('--verify-url <url>', 'server for the scratch database (postgres://user:password@host:port/database); default: --source-url')
    .option('--source-url <url>', 'the source server, used for the scratch database when --verify-url is not given')
    .option('--config <path>', 'configuration file (default: pgdr.config.json if present)')
    .option('--pg-bin <dir>', 'directory of pg_restore (default: PGDR_PG_BIN, the newest /usr/lib/postgresql/N/bin, PATH)')
    .option('--json', 'print the verification record as JSON')
    .option('--verbose', 'structured logs and metrics on stderr')
    .action(async (name: string, options: CommonOptions & { verifyUrl?: string; key?: string }) => {
      if (!options.local) {
        // The deployed verify job, invoked and awaited.
        const { config } = requireConfig(options.config);
        const backend = await openBackend(options, config);
        let deployed: VerificationRecord;
        try {
          deployed = await openProgress({ redact: redactOutput, live: options.json ? false : undefined }).step(`verify ${name} (the deployed verify job)`, () => backend.verify(name, options.key));
        } finally {
          await backend.close();
        }
        printRecord(deployed, options.json === true);
        if (!deployed.ok) throw new CliError(`verification of ${deployed.dumpKey} failed: ${deployed.failures.join('; ')}`);
        return;
      }
      const url = options.verifyUrl ?? options.sourceUrl;
      const db = resolveDatabase(name, { config: options.config, hasUrl: url !== undefined, urlOption: '--verify-url or --source-url' });
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded when needed, kept lazy in the bundle (scripts/build-cli.ts)
      const { localJobSettings, localVerify, openLocalEnv } = require('../local') as typeof import('../local');
      const settings = localJobSettings(db.config);
      if (!url && settings.verifyMode !== 'ephemeral') throw new CliError('verify --local needs --verify-url or --source-url: the server that hosts the scratch database of the restore test');
      const connection = url ? parseUrl(url, options.verifyUrl ? '--verify-url' : '--source-url') : undefined;
      const env = await openLocalEnv({ ...options, redact: redactOutput });
      // Ctrl-C / SIGTERM: pg_restore and zstd are stopped, the scratch database dropped, an
      // ephemeral server stopped, nothing recorded; a second signal exits at once.
      const interrupt = interruptOnSignals(`pg_restore may still be restoring into a scratch database pgdr_verify_* (the next restore test drops it); an ephemeral server may still run under ${join(tmpdir(), 'pgdr-job-*')} (stop it by the PID in its postmaster.pid)`);
      let record: VerificationRecord;
      try {
        record = await localVerify(env, {
          database: db.name,
          connection,
          kind: options.verifyUrl ? 'verify' : 'source',
          smokeQueries: db.config?.verification.smokeQueries ?? [],
          key: options.key,
          settings,
          signal: interrupt.signal,
        });
      } catch (err) {
        if (!interrupt.received) throw err;
        throw new CliError((err as Error).message, signalExitCode(interrupt.received));
      } finally {
        interrupt.dispose();
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
