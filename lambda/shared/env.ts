/** Reads the handlers' environment with one clear error per missing or malformed variable. */
import { COMPRESSION_SETTINGS, CompressionSetting } from './compression';
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { totalmem } from 'node:os';
import { PUBLIC_ROOTS, SSL_MODES, SslMode, TlsDefaults } from './connection';
import { namedError } from './named-error';

export class EnvError extends namedError('EnvError') {}

export function requireEnv(name: string, env: NodeJS.ProcessEnv = process.env): string {
  const value = env[name];
  if (value === undefined || value === '') throw new EnvError(`environment variable ${name} is not set`);
  return value;
}

export function optionalEnv(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const value = env[name];
  return value === undefined || value === '' ? undefined : value;
}

/** PGDR_COMPRESSION: auto (default), zstd-stream, pg_dump-zstd, pg_dump-gzip, none. */
export function compressionFromEnv(env: NodeJS.ProcessEnv = process.env): CompressionSetting {
  const value = optionalEnv('PGDR_COMPRESSION', env) ?? 'auto';
  if (!(COMPRESSION_SETTINGS as readonly string[]).includes(value)) {
    throw new EnvError(`PGDR_COMPRESSION must be one of ${COMPRESSION_SETTINGS.join(', ')} (received ${JSON.stringify(value)})`);
  }
  return value as CompressionSetting;
}

/** The pg_dump output formats (lambda/dump/core.ts DumpFormat). */
export const DUMP_FORMATS = ['custom', 'directory'] as const;
export type DumpFormat = (typeof DUMP_FORMATS)[number];

/**
 * PGDR_DUMP_FORMAT (`custom` @default, or `directory`) and PGDR_DUMP_JOBS (pg_dump --jobs of the
 * directory format, 1-64, @default os.availableParallelism()).
 */
export function dumpFormatFromEnv(env: NodeJS.ProcessEnv = process.env): { format: DumpFormat; jobs?: number } {
  const format = optionalEnv('PGDR_DUMP_FORMAT', env) ?? 'custom';
  if (!(DUMP_FORMATS as readonly string[]).includes(format)) throw new EnvError(`PGDR_DUMP_FORMAT must be one of ${DUMP_FORMATS.join(', ')} (received ${JSON.stringify(format)})`);
  const rawJobs = optionalEnv('PGDR_DUMP_JOBS', env);
  const jobs = rawJobs === undefined ? undefined : Number(rawJobs);
  if (jobs !== undefined && (!Number.isInteger(jobs) || jobs < 1 || jobs > 64)) throw new EnvError(`PGDR_DUMP_JOBS must be an integer from 1 to 64 (received ${JSON.stringify(rawJobs)})`);
  return { format: format as DumpFormat, ...(jobs !== undefined ? { jobs } : {}) };
}

/**
 * The job's TLS settings, used where the secret names no sslmode:
 * PGDR_PG_SSLMODE (`disable`, `prefer`, `require`, `verify-ca`, `verify-full`; @default "prefer")
 * and PGDR_PG_SSLROOTCERT (absolute path of a PEM file of CA certificates, or "public" for
 * Node.js's public CAs; @default "public").
 */
export function tlsFromEnv(env: NodeJS.ProcessEnv = process.env): TlsDefaults {
  const sslmode = optionalEnv('PGDR_PG_SSLMODE', env) ?? 'prefer';
  if (!(SSL_MODES as readonly string[]).includes(sslmode)) {
    throw new EnvError(`PGDR_PG_SSLMODE must be one of ${SSL_MODES.join(', ')} (received ${JSON.stringify(sslmode)})`);
  }
  const sslrootcert = optionalEnv('PGDR_PG_SSLROOTCERT', env) ?? PUBLIC_ROOTS;
  if (sslrootcert !== PUBLIC_ROOTS && !isAbsolute(sslrootcert)) {
    throw new EnvError(`PGDR_PG_SSLROOTCERT must be an absolute path of a PEM file or "${PUBLIC_ROOTS}" (received ${JSON.stringify(sslrootcert)})`);
  }
  return { sslmode: sslmode as SslMode, sslrootcert };
}

/**
 * PGDR_WORK_DIR (@default /tmp: the Lambda's ephemeral storage) and PGDR_RESTORE_JOBS (1-16,
 * @default 2): where and how wide a restore may run from a local file (shared/restore-mode.ts).
 */
export function restoreFileSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): { workDir: string; jobs: number } {
  const jobs = Number(optionalEnv('PGDR_RESTORE_JOBS', env) ?? '2');
  if (!Number.isInteger(jobs) || jobs < 1 || jobs > 16) throw new EnvError(`PGDR_RESTORE_JOBS must be 1-16 (received ${JSON.stringify(optionalEnv('PGDR_RESTORE_JOBS', env))})`);
  return { workDir: optionalEnv('PGDR_WORK_DIR', env) ?? '/tmp', jobs };
}

/** Where the verify job restores (PGDR_VERIFY_MODE, see container/contract.ts ENV.verifyMode). */
export const VERIFY_MODES = ['source', 'server', 'ephemeral'] as const;
export type VerifyMode = (typeof VERIFY_MODES)[number];

/**
 * PGDR_VERIFY_MODE: `source` (a scratch database on the source server), `server` (on the server of
 * PGDR_VERIFY_SECRET_ARN) or `ephemeral` (a throw-away server the job starts); @default `server`
 * when PGDR_VERIFY_SECRET_ARN is set, else `source`.
 */
export function verifyModeFromEnv(env: NodeJS.ProcessEnv = process.env): VerifyMode {
  const value = optionalEnv('PGDR_VERIFY_MODE', env) ?? (optionalEnv('PGDR_VERIFY_SECRET_ARN', env) ? 'server' : 'source');
  if (!(VERIFY_MODES as readonly string[]).includes(value)) throw new EnvError(`PGDR_VERIFY_MODE must be one of ${VERIFY_MODES.join(', ')} (received ${JSON.stringify(value)})`);
  if (value === 'server' && !optionalEnv('PGDR_VERIFY_SECRET_ARN', env)) throw new EnvError('PGDR_VERIFY_MODE=server needs PGDR_VERIFY_SECRET_ARN (the verification server)');
  return value as VerifyMode;
}

/**
 * Where a tools layer packed with `scripts/pack-pg-tools.sh --with-server` keeps the server's
 * binaries: the `server-bin` line of `pg-tools.manifest` next to the layer's `bin/` (relative to
 * the layer's root), or undefined (no manifest, or no server in it).
 */
export function packedServerBin(pgBin: string): string | undefined {
  const root = dirname(pgBin);
  let manifest: string;
  try {
    manifest = readFileSync(join(root, 'pg-tools.manifest'), 'utf8');
  } catch {
    return undefined;
  }
  const line = manifest.split('\n').find((l) => l.startsWith('server-bin '));
  const rel = line?.slice('server-bin '.length).trim();
  return rel && !rel.startsWith('/') && !rel.split('/').includes('..') ? join(root, rel) : undefined;
}

/**
 * The ephemeral server's binaries — PGDR_PG_SERVER_BIN, else the server packed in the tools layer
 * (`packedServerBin`), else PGDR_PG_BIN — and its memory budget: half the memory this job may use
 * (the Lambda's configured memory, else the cgroup limit, else the machine's), at most 16 GiB.
 */
export function ephemeralServerFromEnv(env: NodeJS.ProcessEnv = process.env): { bin: string; memoryMb: number } {
  const pgBin = requireEnv('PGDR_PG_BIN', env);
  const bin = optionalEnv('PGDR_PG_SERVER_BIN', env) ?? packedServerBin(pgBin) ?? pgBin;
  const lambdaMb = Number(optionalEnv('AWS_LAMBDA_FUNCTION_MEMORY_SIZE', env));
  const cgroupBytes = process.constrainedMemory?.() ?? 0;
  const limitMb = lambdaMb > 0 ? lambdaMb : Math.floor(Math.min(cgroupBytes > 0 ? cgroupBytes : Infinity, totalmem()) / 2 ** 20);
  return { bin, memoryMb: Math.min(16_384, Math.max(64, Math.floor(limitMb / 2))) };
}
