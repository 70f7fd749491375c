/** Reads the handlers' environment with one clear error per missing or malformed variable. */
import { COMPRESSION_SETTINGS, CompressionSetting } from './compression';
import type { SslMode } from './connection';

export class EnvError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EnvError';
  }
}

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

/** PGDR_PG_SSLMODE: the sslmode used when the secret names none. @default "prefer" */
export function sslModeFromEnv(env: NodeJS.ProcessEnv = process.env): SslMode {
  const value = optionalEnv('PGDR_PG_SSLMODE', env) ?? 'prefer';
  if (!['disable', 'prefer', 'require', 'verify-full'].includes(value)) {
    throw new EnvError(`PGDR_PG_SSLMODE must be disable, prefer, require or verify-full (received ${JSON.stringify(value)})`);
  }
  return value as SslMode;
}
