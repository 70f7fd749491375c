/**
 * A database's encoding and locale (the manifest's `locale`), read from pg_database. The column
 * holding the ICU / builtin locale depends on the server: none before 15, `daticulocale` in 15
 * and 16, `datlocale` from 17.
 */
import type { Client } from 'pg';
import type { DatabaseLocale } from './records';

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
