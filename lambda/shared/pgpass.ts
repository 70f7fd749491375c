/**
 * The password of a connection given without one, found as libpq finds it: PGPASSWORD, else the
 * matching line of the password file (PGPASSFILE, default ~/.pgpass). The CLI resolves it once,
 * so the node client and the PostgreSQL tools (which receive it as PGPASSWORD, see
 * pg-process.ts) use the same password for every database of that server (the source, and the
 * scratch database of a restore test).
 */
import { readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ConnectionError, ConnectionInfo } from './connection';

/** libpq's compiled-in unix socket directory on Debian/Ubuntu; a password file says "localhost" for it. */
export const DEFAULT_SOCKET_DIR = '/var/run/postgresql';

/** One line of a password file split on unescaped `:`, with `\:` and `\\` unescaped. */
function fields(line: string): string[] {
  const out: string[] = [];
  let current = '';
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === '\\' && i + 1 < line.length) current += line[++i];
    else if (c === ':' && out.length < 4) {
      out.push(current);
      current = '';
    } else current += c;
  }
  out.push(current);
  return out;
}

/** The password a password file's text gives for `conn` (first matching line), if any. */
export function passwordFromPassfile(text: string, conn: ConnectionInfo): string | undefined {
  const host = conn.host.startsWith('/') && conn.host.replace(/\/+$/, '') === DEFAULT_SOCKET_DIR ? 'localhost' : conn.host;
  const wanted = [host, String(conn.port), conn.dbname, conn.username];
  for (const raw of text.split(/\r?\n/)) {
    if (raw.trim() === '' || raw.startsWith('#')) continue;
    const f = fields(raw);
    if (f.length < 5) continue;
    if (wanted.every((value, i) => f[i] === '*' || f[i] === value)) return f[4];
  }
  return undefined;
}

export interface PasswordSources {
  readonly env: NodeJS.ProcessEnv;
  /** @default the real file system */
  readonly readFile?: (path: string) => string | undefined;
  /** File mode bits, to refuse a password file others can read. @default the real file system */
  readonly modeOf?: (path: string) => number | undefined;
}

/** A file's text, or undefined when it cannot be read (libpq skips a missing file). */
export const realRead = (path: string): string | undefined => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
};
const realMode = (path: string): number | undefined => {
  try {
    return statSync(path).mode;
  } catch {
    return undefined;
  }
};

/** `conn` with its password filled from PGPASSWORD or the password file when it has none. */
export function withPasswordFromEnvironment(conn: ConnectionInfo, sources: PasswordSources): ConnectionInfo {
  if (conn.password !== '') return conn;
  const { env } = sources;
  if (env.PGPASSWORD) return { ...conn, password: env.PGPASSWORD };
  const file = env.PGPASSFILE || (env.HOME || homedir() ? join(env.HOME || homedir(), '.pgpass') : '');
  if (!file) return conn;
  const text = (sources.readFile ?? realRead)(file);
  if (text === undefined) return conn;
  const mode = (sources.modeOf ?? realMode)(file);
  if (mode !== undefined && (mode & 0o077) !== 0) {
    throw new ConnectionError(`password file ${file} can be read by group or others, so libpq ignores it: chmod 0600 ${file}`);
  }
  const password = passwordFromPassfile(text, conn);
  return password === undefined ? conn : { ...conn, password };
}

