/** `pgdr backup NAME`: dump a database now (the deployed job, or `--local` on this machine) and print its manifest. */
import { Command, Option } from 'commander';
import { COMPRESSION_SETTINGS, CompressionSetting } from '../../lambda/shared/compression';
import { CliError } from '../errors';
import { EXIT } from '../contract';
import { interruptOnSignals, signalExitCode } from '../interrupt';
import { resolveDatabase } from '../resolve';
import { CommonOptions, parseConnection, printManifest, redactOutput } from '../shared';
import { openBackend, requireConfig } from '../backend';
import { openProgress } from '../progress';

export function registerBackup(program: Command): void {
  program
    .command('backup')
    .description('dump a database now and print its manifest')
    .argument('<name>', 'a configured database, or any name with --source-url')
    .option('--local', 'run on this machine against a local S3 server (.pgdr/s3); without it: invoke the deployed dump job and wait')
    .option('--source-url <url>', 'postgres://user@host:port/database to dump, or service=NAME (password: PGPASSWORD, ~/.pgpass or the service file; default: PGSERVICE)')
    .option('--class <class>', 'backup class (S3 prefix, metric dimension); default: the first configured class, else "manual"')
    .addOption(new Option('--compression <method>', 'compression').choices(COMPRESSION_SETTINGS as string[]).default('auto'))
    .option('--config <path>', 'configuration file (default: pgdr.config.json if present)')
    .option('--pg-bin <dir>', 'directory of pg_dump/pg_restore (default: PGDR_PG_BIN, the newest /usr/lib/postgresql/N/bin, PATH)')
    .option('--json', 'print the manifest as JSON')
    .option('--verbose', 'structured logs and metrics on stderr')
    .action(async (name: string, options: CommonOptions & { class?: string; compression: CompressionSetting }) => {
      if (!options.local) {
        // The deployed dump job, invoked and awaited.
        const { config } = requireConfig(options.config);
        const backend = await openBackend(options, config);
        try {
          const manifest = await openProgress({ redact: redactOutput, live: options.json ? false : undefined }).step(`backup ${name} (the deployed dump job)`, () => backend.backup(name, options.class));
          printManifest(manifest, options.json === true);
        } finally {
          await backend.close();
        }
        return;
      }
      const connection = parseConnection(options.sourceUrl, '--source-url');
      const db = resolveDatabase(name, { config: options.config, hasUrl: connection !== undefined, urlOption: '--source-url' });
      if (!connection) {
        throw new CliError(`backup --local needs --source-url (or PGSERVICE): the local runner does not read the database secret from AWS Secrets Manager`, EXIT.usage);
      }
      const backupClass = options.class ?? db.config?.backupClasses[0]?.name ?? 'manual';
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded when needed, kept lazy in the bundle (scripts/build-cli.ts)
      const { localBackup, localJobSettings, openLocalEnv } = require('../local') as typeof import('../local');
      const env = await openLocalEnv({ ...options, redact: redactOutput });
      const interrupt = interruptOnSignals(`an incomplete upload may remain in ${env.directory}`);
      try {
        const manifest = await localBackup(env, { database: db.name, backupClass, connection, compression: options.compression, signal: interrupt.signal, settings: localJobSettings(db.config) });
        printManifest(manifest, options.json === true);
      } catch (err) {
        if (!interrupt.received) throw err;
        // The dump core stopped pg_dump and aborted the upload: nothing of this backup is stored.
        throw new CliError(`${(err as Error).message}; its upload was aborted and no manifest was written`, signalExitCode(interrupt.received));
      } finally {
        interrupt.dispose();
        await env.close();
      }
    });
}
