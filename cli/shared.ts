/**
 * What every `pgdr` command shares: the common options, URL parsing with libpq's password sources,
 * the redaction of every output line, and the printers of manifests and verification records.
 */
import { connectionFromUrl, ConnectionInfo } from '../lambda/shared/connection';
import { withPasswordFromEnvironment } from '../lambda/shared/pgpass';
import { connectionFromService, serviceName } from '../lambda/shared/pg-service';
import { redactSecrets } from '../lambda/shared/redact';
import type { BackupManifest, VerificationRecord } from '../lambda/shared/records';
import { CliError } from './errors';
import { EXIT } from './contract';

export interface CommonOptions {
  local?: boolean;
  config?: string;
  json?: boolean;
  verbose?: boolean;
  pgBin?: string;
  sourceUrl?: string;
}

/** Passwords this run knows (from URLs and PGPASSWORD): hidden wherever they appear in output. */
const knownSecrets: string[] = [];

/** Adds a password this run learnt (from a secret, a generated login) to those hidden in output. */
export function rememberSecret(secret: string): void {
  if (secret) knownSecrets.push(secret);
}

/**
 * Parses a connection option as libpq would: a postgres:// URL, or `service=NAME` (the service
 * file), or nothing when PGSERVICE is set. A connection without a password takes it from
 * PGPASSWORD or the password file. Undefined when there is no URL and no PGSERVICE.
 */
export function parseConnection(url: string | undefined, option: string, env: NodeJS.ProcessEnv = process.env): ConnectionInfo | undefined {
  try {
    const service = url === undefined ? env.PGSERVICE || undefined : serviceName(url);
    if (url === undefined && service === undefined) return undefined;
    const parsed = service !== undefined ? connectionFromService(service, { env }) : connectionFromUrl(url!, option, env);
    const connection = withPasswordFromEnvironment(parsed, { env });
    if (connection.password) knownSecrets.push(connection.password);
    return connection;
  } catch (err) {
    throw new CliError((err as Error).message, EXIT.usage);
  }
}

/** {@link parseConnection} of a URL option that was given. */
export function parseUrl(url: string, option: string): ConnectionInfo {
  return parseConnection(url, option)!;
}

/** `text` as it may be shown: no password in any shape, on any line. */
export function redactOutput(text: string): string {
  return redactSecrets(text, [...knownSecrets, ...(process.env.PGPASSWORD ? [process.env.PGPASSWORD] : [])]);
}

export const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

export function printManifest(manifest: BackupManifest, json: boolean): void {
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
      (manifest.dump.format === 'directory' ? `  format    directory: ${manifest.dump.files.length} files, pg_dump --jobs ${manifest.dump.jobs} (sha256 below: of the file listing)\n` : '') +
      `  sha256    ${manifest.dump.sha256}\n` +
      `  contents  ${tables} tables, ${rows} rows, ${manifest.objectCounts.indexes} indexes, ${manifest.objectCounts.views} views, ${manifest.objectCounts.functions} functions\n`,
  );
}

export function printRecord(record: VerificationRecord, json: boolean): void {
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
