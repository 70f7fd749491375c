/**
 * Which backend a command runs against: `--local` (PostgreSQL clusters under .pgdr, the local S3
 * server, the synthesized state machine in the local interpreter) or the deployed stack. Each is
 * loaded only when a command needs it, so `pgdr --help` loads neither.
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

/**
 * A module loaded when first needed (synchronous `require`: the CLI runs as CommonJS under tsx and
 * as a bundle, where a dynamic `import()` of a .ts file is not resolved). Path relative to cli/.
 */
export function load<T>(path: string): T {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(path) as T;
}

export async function openBackend(options: BackendOptions, config: PgdrConfig): Promise<Backend> {
  if (options.local) {
    const { openLocalBackend } = load<typeof import('../local/backend')>('../local/backend');
    return openLocalBackend({ config, sourceUrl: options.sourceUrl, verifyUrl: options.verifyUrl, pgBin: options.pgBin, verbose: options.verbose, redact: redactOutput });
  }
  const { openAwsBackend } = load<typeof import('./aws/backend')>('./aws/backend');
  return openAwsBackend({ config });
}
