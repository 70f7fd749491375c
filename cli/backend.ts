/**
 * Which backend a command runs against: `--local` (PostgreSQL clusters under .pgdr, the local S3
 * server, the synthesized state machine in the local interpreter) or the deployed stack. Each is
 * loaded only when a command needs it, so `pgdr --help` loads neither: a `require` of a literal path
 * inside the function that needs the module (a dynamic `import()` of a .ts file is not resolved
 * under tsx's CommonJS hook; the bundle, scripts/build-cli.ts, keeps such a `require` lazy).
 */
import type { PgdrConfig } from '../lib/config';
import type { Backend } from './contract';
import { CliError } from './errors';
import { EXIT } from './contract';
import { loadOptionalConfig } from './resolve';
import { redactOutput } from './shared';

export interface BackendOptions {
  readonly local?: boolean;
  readonly config?: string;
  readonly sourceUrl?: string;
  readonly verifyUrl?: string;
  readonly pgBin?: string;
  readonly verbose?: boolean;
}

/** The configuration a command works with: --config PATH, else ./pgdr.config.json (required here). */
export function requireConfig(path?: string): { config: PgdrConfig; path: string } {
  const loaded = loadOptionalConfig(path);
  if (!loaded.config) throw new CliError(`no configuration: there is no ${loaded.path}; give --config PATH`, EXIT.usage);
  return { config: loaded.config, path: loaded.path };
}

export async function openBackend(options: BackendOptions, config: PgdrConfig): Promise<Backend> {
  if (options.local) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded when needed, kept lazy in the bundle (scripts/build-cli.ts)
    const { openLocalBackend } = require('../local/backend') as typeof import('../local/backend');
    return openLocalBackend({ config, sourceUrl: options.sourceUrl, verifyUrl: options.verifyUrl, pgBin: options.pgBin, verbose: options.verbose, redact: redactOutput });
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded when needed, kept lazy in the bundle (scripts/build-cli.ts)
  const { openAwsBackend } = require('./aws/backend') as typeof import('./aws/backend');
  return openAwsBackend({ config });
}
