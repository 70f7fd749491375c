/**
 * A database's encoding and locale (the manifest's `locale`): read from pg_database, and the
 * CREATE DATABASE options that reproduce it on another server (the restore test's scratch
 * database; a restore by hand or a dump-based failover needs the same). The column holding the
 * ICU / builtin locale depends on the server: none before 15, `daticulocale` in 15 and 16,
 * `datlocale` from 17.
 */
import type { Client } from 'pg';
import type { DatabaseLocale } from './records';
import { quoteIdent, quoteLiteral } from './pg-client';
import { namedError } from './named-error';

const PROVIDERS: Record<string, DatabaseLocale['localeProvider']> = { c: 'libc', i: 'icu', b: 'builtin' };

/** Encoding, collation, ctype, provider (and ICU/builtin locale) of `database` (default: the connected one). */
export async function readDatabaseLocale(client: Client, serverVersionNum: number, database?: string): Promise<DatabaseLocale> {
  const provider = serverVersionNum >= 150000 ? 'datlocprovider::text' : `'c'`;
  const locale = serverVersionNum >= 170000 ? 'datlocale' : serverVersionNum >= 150000 ? 'daticulocale' : 'NULL::text';
  const { rows } = await client.query<{ encoding: string; collate: string; ctype: string; provider: string; locale: string | null }>(
    `SELECT pg_encoding_to_char(encoding) AS encoding, datcollate AS collate, datctype AS ctype, ${provider} AS provider, ${locale} AS locale
       FROM pg_database WHERE datname = coalesce($1, current_database())`,
    [database ?? null],
  );
  if (rows.length === 0) throw new Error(`database ${database} does not exist`);
  const row = rows[0];
  const localeProvider = PROVIDERS[row.provider];
  if (!localeProvider) throw new Error(`unknown locale provider "${row.provider}" of database ${database ?? 'current'}`);
  return {
    encoding: row.encoding,
    collate: row.collate,
    ctype: row.ctype,
    localeProvider,
    ...(localeProvider !== 'libc' && row.locale ? { locale: row.locale } : {}),
  };
}

/** The server's version number (e.g. 150018), as `server_version_num`. */
export async function serverVersionNum(client: Client): Promise<number> {
  return Number((await client.query<{ n: string }>(`SELECT current_setting('server_version_num') AS n`)).rows[0].n);
}

/** A server cannot create a database with the given encoding and locale (or made a different one). */
export class LocaleMismatchError extends namedError('LocaleMismatchError') {}

/** The CREATE DATABASE options that reproduce `locale` on a server of `versionNum`. */
export function localeOptions(locale: DatabaseLocale, versionNum: number): string {
  if (!/^[A-Za-z0-9_]+$/.test(locale.encoding)) throw new LocaleMismatchError(`the manifest's encoding ${JSON.stringify(locale.encoding)} is not an encoding name`);
  const major = Math.floor(versionNum / 10000);
  const options = [`ENCODING ${quoteLiteral(locale.encoding)}`, `LC_COLLATE ${quoteLiteral(locale.collate)}`, `LC_CTYPE ${quoteLiteral(locale.ctype)}`];
  const needs = (provider: string, minMajor: number) => {
    if (major < minMajor) throw new LocaleMismatchError(`the restore server (PostgreSQL ${major}) has no locale provider ${provider} (PostgreSQL ${minMajor} or newer), which the source database uses`);
  };
  if (locale.localeProvider === 'icu') {
    needs('icu', 15);
    options.push('LOCALE_PROVIDER icu', `ICU_LOCALE ${quoteLiteral(locale.locale ?? '')}`);
  } else if (locale.localeProvider === 'builtin') {
    needs('builtin', 17);
    options.push('LOCALE_PROVIDER builtin', `BUILTIN_LOCALE ${quoteLiteral(locale.locale ?? '')}`);
  } else if (major >= 15) {
    options.push('LOCALE_PROVIDER libc');
  }
  return options.join(' ');
}

export const describeLocale = (l: DatabaseLocale) =>
  `encoding ${l.encoding}, LC_COLLATE "${l.collate}", LC_CTYPE "${l.ctype}", provider ${l.localeProvider}${l.locale ? ` "${l.locale}"` : ''}`;

/** Fields of `actual` that differ from `expected`, e.g. `LC_COLLATE "C" instead of "de_DE"`. */
export function localeDifferences(expected: DatabaseLocale, actual: DatabaseLocale): string[] {
  const fields: Array<[string, string | undefined, string | undefined]> = [
    ['encoding', expected.encoding, actual.encoding],
    ['LC_COLLATE', expected.collate, actual.collate],
    ['LC_CTYPE', expected.ctype, actual.ctype],
    ['locale provider', expected.localeProvider, actual.localeProvider],
    ['locale', expected.locale, actual.locale],
  ];
  return fields.filter(([, e, a]) => (e ?? '') !== (a ?? '')).map(([what, e, a]) => `${what} "${a ?? ''}" instead of "${e ?? ''}"`);
}

/**
 * `CREATE DATABASE name TEMPLATE template0` with the source's `locale` (when known). A server
 * that refuses the locale is a LocaleMismatchError naming it (`server` says which server, e.g.
 * "the restore server"); without a locale the server's error is thrown as it is.
 */
export async function createDatabaseWithLocale(client: Client, versionNum: number, name: string, locale: DatabaseLocale | undefined, server: string): Promise<void> {
  const options = locale ? ` ${localeOptions(locale, versionNum)}` : '';
  try {
    await client.query(`CREATE DATABASE ${quoteIdent(name)} TEMPLATE template0${options}`);
  } catch (err) {
    if (!locale) throw err;
    const detail = (err as { detail?: string }).detail;
    throw new LocaleMismatchError(`${server} cannot create a database with the source's ${describeLocale(locale)}: ${(err as Error).message}${detail ? ` (${detail})` : ''}`);
  }
}

/** What the server made of `name`; a LocaleMismatchError when it differs from `locale` (when known). */
export async function expectDatabaseLocale(client: Client, versionNum: number, name: string, locale: DatabaseLocale | undefined, server: string): Promise<DatabaseLocale> {
  const actual = await readDatabaseLocale(client, versionNum, name);
  const differences = locale ? localeDifferences(locale, actual) : [];
  if (differences.length > 0) throw new LocaleMismatchError(`${server} created ${name} with ${differences.join(', ')} (the source's ${describeLocale(locale!)})`);
  return actual;
}
