/** Which database a command means: a configured one, or any valid name given with a URL. */
import { existsSync } from 'node:fs';
import { DatabaseConfig, DEFAULT_CONFIG_PATH, loadConfig, PgdrConfig } from '../lib/config';
import { assertName } from '../lambda/shared/layout';
import { CliError } from './errors';
import { EXIT } from './contract';
import { redactOutput } from './shared';

/** `database` is not configured: EXIT.usage, naming the configured ones. */
export function unknownDatabaseError(database: string, configured: readonly string[]): CliError {
  return new CliError(redactOutput(`unknown database "${database}": the configuration has ${configured.length > 0 ? configured.join(', ') : 'no databases'}`), EXIT.usage);
}

/** The configured database `name`, or {@link unknownDatabaseError}. */
export function configuredDatabase(config: PgdrConfig, name: string): DatabaseConfig {
  const db = config.databases.find((d) => d.name === name);
  if (!db) throw unknownDatabaseError(name, config.databases.map((d) => d.name));
  return db;
}

export interface ResolvedDatabase {
  readonly name: string;
  /** The configuration entry, when NAME is configured. */
  readonly config?: DatabaseConfig;
  /** Where that entry is: `pgdr.config.json databases[0]`. */
  readonly configuredAt?: string;
}

/** Loads --config PATH (must exist) or ./pgdr.config.json (optional). */
export function loadOptionalConfig(path?: string): { config?: PgdrConfig; path: string } {
  const file = path ?? DEFAULT_CONFIG_PATH;
  if (!path && !existsSync(file)) return { path: file };
  return { config: loadConfig(file), path: file };
}

export function resolveDatabase(name: string, options: { config?: string; hasUrl: boolean; urlOption: string }): ResolvedDatabase {
  const { config, path } = loadOptionalConfig(options.config);
  const index = config ? config.databases.findIndex((d) => d.name === name) : -1;
  if (config && index >= 0) return { name, config: config.databases[index], configuredAt: `${path} databases[${index}]` };
  if (!options.hasUrl) {
    const known = config ? config.databases.map((d) => d.name).join(', ') : '';
    throw new CliError(
      config
        ? `unknown database "${name}": ${path} configures ${known}; to use another database, give ${options.urlOption}`
        : `unknown database "${name}": there is no ${path}; give ${options.urlOption} to use any database`,
      EXIT.usage,
    );
  }
  try {
    assertName(name, 'database name');
  } catch (err) {
    throw new CliError((err as Error).message, EXIT.usage);
  }
  return { name };
}
