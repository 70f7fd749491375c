/**
 * libpq's connection service file (PGSERVICE): a named `[section]` of `key=value` lines giving
 * host, port, dbname, user, password, sslmode... Looked up as libpq does: PGSERVICEFILE (default
 * ~/.pg_service.conf), then `pg_service.conf` in PGSYSCONFDIR (default: Debian's
 * /etc/postgresql-common). The CLI accepts `service=NAME` wherever it takes a URL, and a missing
 * URL when PGSERVICE is set, so a password can live in the service file instead of a command line.
 */
import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';
import { ConnectionError, ConnectionInfo, tlsAndTimeout } from './connection';
import { DEFAULT_SOCKET_DIR, realRead } from './pgpass';

/** Where Debian's libpq looks for the system-wide service file when PGSYSCONFDIR is unset. */
export const DEFAULT_SYSCONFDIR = '/etc/postgresql-common';

export interface ServiceSources {
  readonly env: NodeJS.ProcessEnv;
  /** @default the real file system (undefined when the file does not exist) */
  readonly readFile?: (path: string) => string | undefined;
}

/** The `key=value` settings of section `name` in a service file's text, if it has one. */
export function serviceSection(text: string, name: string): Record<string, string> | undefined {
  let current: string | undefined;
  let found: Record<string, string> | undefined;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const section = /^\[(.*)\]$/.exec(line);
    if (section) {
      current = section[1];
      if (current === name) found ??= {};
      continue;
    }
    const eq = line.indexOf('=');
    if (current === name && found && eq > 0) found[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  }
  return found;
}

/** The settings of service `name`: the user's file first, then the system-wide one (as libpq). */
export function findService(name: string, sources: ServiceSources): { settings: Record<string, string>; file: string } {
  const read = sources.readFile ?? realRead;
  const { env } = sources;
  const home = env.HOME || homedir();
  const files = [env.PGSERVICEFILE || join(home, '.pg_service.conf'), join(env.PGSYSCONFDIR || DEFAULT_SYSCONFDIR, 'pg_service.conf')];
  for (const file of files) {
    const text = read(file);
    const settings = text === undefined ? undefined : serviceSection(text, name);
    if (settings) return { settings, file };
  }
  throw new ConnectionError(`service "${name}" is not defined in ${files.join(' or ')} (PGSERVICEFILE / PGSYSCONFDIR)`);
}

/** A connection from service `name`; unset fields take PGHOST/PGPORT/PGDATABASE/PGUSER/PGSSLMODE/PGSSLROOTCERT/PGCONNECT_TIMEOUT, then libpq's defaults. */
export function connectionFromService(name: string, sources: ServiceSources): ConnectionInfo {
  const { settings, file } = findService(name, sources);
  const { env } = sources;
  const where = `service "${name}" (${file})`;
  const user = settings.user || env.PGUSER || userInfo().username;
  const portText = settings.port || env.PGPORT || '5432';
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port < 1 || port > 65535) throw new ConnectionError(`${where}: port must be 1-65535 (received ${portText})`);
  return {
    host: settings.host || settings.hostaddr || env.PGHOST || DEFAULT_SOCKET_DIR,
    port,
    dbname: settings.dbname || env.PGDATABASE || user,
    username: user,
    password: settings.password ?? '',
    ...tlsAndTimeout(settings, where, env),
  };
}

/** `service=NAME` (libpq's keyword form), as the CLI accepts it instead of a URL. */
export function serviceName(value: string): string | undefined {
  const match = /^\s*service\s*=\s*(\S+)\s*$/.exec(value);
  return match?.[1];
}
