/**
 * `pgdr` for humans. This file: `backup` and `verify`, which run the dump and verify cores of the
 * Lambda handlers on this machine (`--local`) against a PostgreSQL given by URL and an
 * in-process s3rver (see cli/local.ts).
 *
 *   pgdr backup NAME --local --source-url postgres://user:pw@host:port/db [--class C] [--json]
 *   pgdr verify NAME --local [--verify-url URL] [--source-url URL] [--json]
 *
 * Errors are one line on stderr and exit code 1; a failed verification prints its record and
 * exits 1. No output shows a password (redactOutput on every line). Ctrl-C/SIGTERM during a
 * backup stops it cleanly (cli/interrupt.ts) and exits 130/143. `pgdr --version` prints the version.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { runDump } from '../lambda/dump/core';
import { runVerify, VerificationPolicy } from '../lambda/verify/core';
import { connectionFromUrl, ConnectionInfo } from '../lambda/shared/connection';
import { withPasswordFromEnvironment } from '../lambda/shared/pgpass';
import { redactSecrets } from '../lambda/shared/redact';
import { COMPRESSION_SETTINGS, CompressionSetting } from '../lambda/shared/compression';
import { systemClock } from '../lambda/shared/ports';
import type { BackupManifest, VerificationRecord } from '../lambda/shared/records';
import { CliError } from './errors';
import { openLocalEnv } from './local';
import { interruptOnSignals, signalExitCode } from './interrupt';
import { resolveDatabase } from './resolve';

interface CommonOptions {
  local?: boolean;
  config?: string;
  json?: boolean;
  verbose?: boolean;
  pgBin?: string;
  sourceUrl?: string;
}

function requireLocal(options: CommonOptions, command: string): void {
  if (!options.local) {
    throw new CliError(`pgdr ${command} runs against the deployed stack only with --local in this version; add --local to run it on this machine`);
  }
}

/** Passwords this run knows (from URLs and PGPASSWORD): hidden wherever they appear in output. */
const knownSecrets: string[] = [];

/** Parses a URL option; a URL without a password takes it from PGPASSWORD or the password file, as libpq does. */
function parseUrl(url: string, option: string): ConnectionInfo {
  try {
    const connection = withPasswordFromEnvironment(connectionFromUrl(url, option), { env: process.env });
    if (connection.password) knownSecrets.push(connection.password);
    return connection;
  } catch (err) {
    throw new CliError((err as Error).message);
  }
}

/** `text` as it may be shown: no password in any shape, on any line. */
export function redactOutput(text: string): string {
  return redactSecrets(text, [...knownSecrets, ...(process.env.PGPASSWORD ? [process.env.PGPASSWORD] : [])]);
}

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

function printManifest(manifest: BackupManifest, json: boolean): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(manifest, null, 2)}\n`);
    return;
  }
  const tables = Object.keys(manifest.rowCounts).length;
  const rows = Object.values(manifest.rowCounts).reduce((a, b) => a + b, 0);
  process.stdout.write(
    `backed up ${manifest.database} (${manifest.backupClass}) in ${manifest.durations.totalSeconds} s\n` +
      `  dump      s3://${manifest.dump.bucket}/${manifest.dump.key}\n` +
      `  size      ${mb(manifest.dump.bytes)} (${manifest.dump.compression.method}${manifest.dump.uncompressedBytes ? `, ${mb(manifest.dump.uncompressedBytes)} uncompressed` : ''})\n` +
      `  sha256    ${manifest.dump.sha256}\n` +
      `  contents  ${tables} tables, ${rows} rows, ${manifest.objectCounts.indexes} indexes, ${manifest.objectCounts.views} views, ${manifest.objectCounts.functions} functions\n`,
  );
}

function printRecord(record: VerificationRecord, json: boolean): void {
  // A failure can quote a tool's stderr: shown without passwords, like every other output.
  const shown: VerificationRecord = { ...record, failures: record.failures.map(redactOutput) };
  if (json) {
    process.stdout.write(`${JSON.stringify(shown, null, 2)}\n`);
    return;
  }
  const restore = shown.restoreTest ? `, restore test ${shown.restoreTest.totalSeconds} s in ${shown.restoreTest.scratchDatabase} (dropped: ${shown.restoreTest.scratchDropped})` : '';
  process.stdout.write(`${shown.ok ? 'VERIFIED' : 'FAILED'} ${shown.dumpKey} (level ${shown.level}${restore})\n`);
  for (const failure of shown.failures) process.stdout.write(`  - ${failure}\n`);
}

/** pgdr's version, from its package.json. */
export function packageVersion(): string {
  return (JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }).version;
}

export function buildProgram(): Command {
  const program = new Command('pgdr')
    .description('Disaster recovery for PostgreSQL: verified dumps, RPO/RTO alarms, failover')
    .version(packageVersion(), '-V, --version', 'print the pgdr version')
    .showHelpAfterError(false)
    .exitOverride()
    // commander's own errors echo arguments (`unknown command 'postgres://u:pw@h/db'`): redacted too.
    .configureOutput({ writeErr: (text) => process.stderr.write(redactOutput(text)) });

  program
    .command('backup')
    .description('dump a database now and print its manifest')
    .argument('<name>', 'a configured database, or any name with --source-url')
    .option('--local', 'run on this machine against a local S3 server (.pgdr/s3)')
    .option('--source-url <url>', 'postgres://user:password@host:port/database to dump')
    .option('--class <class>', 'backup class (S3 prefix, metric dimension); default: the first configured class, else "manual"')
    .addOption(new Option('--compression <method>', 'compression').choices(COMPRESSION_SETTINGS as string[]).default('auto'))
    .option('--config <path>', 'configuration file (default: pgdr.config.json if present)')
    .option('--pg-bin <dir>', 'directory of pg_dump/pg_restore (default: PGDR_PG_BIN, the newest /usr/lib/postgresql/N/bin, PATH)')
    .option('--json', 'print the manifest as JSON')
    .option('--verbose', 'structured logs and metrics on stderr')
    .action(async (name: string, options: CommonOptions & { class?: string; compression: CompressionSetting }) => {
      requireLocal(options, 'backup');
      const db = resolveDatabase(name, { config: options.config, hasUrl: options.sourceUrl !== undefined, urlOption: '--source-url' });
      if (!options.sourceUrl) throw new CliError(`backup --local needs --source-url: the local runner does not read the database secret from AWS Secrets Manager`);
      const connection = parseUrl(options.sourceUrl, '--source-url');
      const backupClass = options.class ?? db.config?.backupClasses[0]?.name ?? 'manual';
      const env = await openLocalEnv({ ...options, redact: redactOutput });
      const interrupt = interruptOnSignals(`an incomplete upload may remain in ${env.s3.directory}`);
      try {
        const manifest = await runDump(
          { store: env.store, connection, pgBin: env.pgBin, compression: options.compression, metrics: env.metrics(db.name, backupClass), log: env.log, clock: systemClock },
          { database: db.name, backupClass, signal: interrupt.signal },
        );
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

  return program;
}

/** Runs the CLI; resolves to the process exit code. */
export async function run(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode; // commander already printed it
    const message = (err as Error)?.message ?? String(err);
    // Never a password, on any line (a configuration error lists one problem per line).
    process.stderr.write(`pgdr: ${redactOutput(message)}\n`);
    return err instanceof CliError ? err.exitCode : 1;
  }
}
