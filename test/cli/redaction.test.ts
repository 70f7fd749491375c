/**
 * No password in any output: hostile URLs through the URL parser (its errors) and through the
 * redaction every CLI message, log line and printed record passes (all lines, all occurrences).
 */
import { connectionFromUrl } from '../../lambda/shared/connection';
import { redactSecrets } from '../../lambda/shared/redact';
import { reportFailure } from '../../lambda/shared/failure';

/** [description, URL as typed, fragments of the password that must never be shown] */
const HOSTILE: Array<[string, string, string[]]> = [
  ['missing colon after the scheme', 'postgres//u:S3cr3tA@h/db', ['S3cr3tA']],
  ['one slash', 'postgresql:/u:S3cr3tA@h/db', ['S3cr3tA']],
  ['no slash', 'postgres:u:S3cr3tA@h/db', ['S3cr3tA']],
  ['no scheme', 'u:S3cr3tA@h/db', ['S3cr3tA']],
  ['unencoded @', 'postgres://u:S3c@r3tAx@h/db', ['S3c@', 'r3tAx']],
  ['unencoded /', 'postgres://u:S3c/r3tAx@h/db', ['S3c/', 'r3tAx']],
  ['unencoded #', 'postgres://u:S3c#r3tAx@h/db', ['S3c#', 'r3tAx']],
  ['unencoded # after digits (parses as a port and a fragment)', 'postgres://u:12#r3tAx@h/db', ['r3tAx']],
  ['unencoded / after digits (parses as a port and a path)', 'postgres://u:12/r3tAx@h/db', ['r3tAx']],
  ['unencoded ?', 'postgres://u:S3c?r3tAx@h/db', ['S3c?', 'r3tAx']],
  ['unencoded :', 'postgres://u:S3c:r3tAx@h/db', ['S3c:', 'r3tAx']],
  ['unicode', 'postgres://u:pässwörd€x@h/db', ['pässwörd€x', encodeURIComponent('pässwörd€x')]],
  ['percent-encoded', 'postgres://u:p%40ss%2Fw0rdX@h/db', ['p%40ss%2Fw0rdX', 'p@ss/w0rdX']],
  ['malformed percent-encoding', 'postgres://u:%zzS3cr3tA@h/db', ['S3cr3tA']],
  ['IPv6 host', 'postgres://u:S3cr3tA@[::1]:5432/db', ['S3cr3tA']],
  ['IPv6 host with a zone', 'postgres://u:S3cr3tA@[fe80::1%25eth0]:5432/db', ['S3cr3tA']],
  ['password in the query', 'postgres://u@h/db?password=S3cr3tA', ['S3cr3tA']],
  ['password in the query of a bad sslmode', 'postgres://u@h/db?sslmode=bogus&password=S3cr3tA', ['S3cr3tA']],
  ['other scheme', 'mysql://root:S3cr3tA@db/x', ['S3cr3tA']],
  ['port out of range', 'postgres://u:S3cr3tA@h:70000/db', ['S3cr3tA']],
  ['port zero', 'postgres://u:S3cr3tA@h:0/db', ['S3cr3tA']],
  ['no database', 'postgres://u:S3cr3tA@h', ['S3cr3tA']],
  ['no user', 'postgres://:S3cr3tA@h/db', ['S3cr3tA']],
  ['no host', 'postgres://u:S3cr3tA@/db', ['S3cr3tA']],
  ['conninfo instead of a URL', 'host=h user=u password=S3cr3tA dbname=db', ['S3cr3tA']],
  ['quoted conninfo password', "host=h password='S3c r3tA' dbname=db", ['S3c', 'r3tA']],
  ['upper-case scheme', 'POSTGRES://u:S3cr3tA@h/db', ['S3cr3tA']],
];

const leaks = (text: string, fragments: string[]) => fragments.filter((f) => text.includes(f));

describe('connectionFromUrl never echoes a password', () => {
  test.each(HOSTILE)('%s', (_what, url, fragments) => {
    let message: string | undefined;
    try {
      const conn = connectionFromUrl(url, '--source-url');
      // Parsed: the password is exactly what was meant, and later messages hide it (known secret).
      message = redactSecrets(`cannot connect with ${url}: ${conn.password}`, [conn.password]);
    } catch (err) {
      message = (err as Error).message;
      expect(message.split('\n')).toHaveLength(1);
      expect(message).toMatch(/^--source-url/);
    }
    expect(leaks(message, fragments)).toEqual([]);
  });

  test('an unencoded @ in the password is understood (the last @ ends the user info)', () => {
    expect(connectionFromUrl('postgres://u:p@ss@h/db')).toMatchObject({ username: 'u', password: 'p@ss', host: 'h', dbname: 'db' });
  });

  test('a password that splits the URL says how to fix it, without the value', () => {
    expect(() => connectionFromUrl('postgres://u:12/r3tAx@h/db', '--source-url')).toThrow(
      "--source-url is not a valid URL: it has an '@' after the host; percent-encode special characters in the password (@ as %40, / as %2F, # as %23, ? as %3F, : as %3A)",
    );
  });
});

describe('redactSecrets hides passwords by shape, on every line', () => {
  test.each(HOSTILE.filter(([what]) => what !== 'quoted conninfo password'))('%s inside a message', (_what, url, fragments) => {
    const text = `pgdr: cannot use ${url}: refused`;
    expect(leaks(redactSecrets(text), fragments)).toEqual([]);
  });

  test('several URLs on one line, and on later lines', () => {
    const text = [
      'first line without secrets',
      'copy postgres://a:S3cr3tA@h1/db to postgresql://b:S3cr3tB@h2:5433/db2 (and "postgres://c:S3cr3tC@[::1]/x")',
      '  pg_restore: error: connection to server at "h" failed: postgres//d:S3cr3tD@h/db',
      'PGPASSWORD=S3cr3tE psql "host=h password=S3cr3tF"',
      '{"password":"S3cr3tG","sslpassword": "S3cr3tH"}',
    ].join('\n');
    const shown = redactSecrets(text);
    expect(leaks(shown, ['S3cr3tA', 'S3cr3tB', 'S3cr3tC', 'S3cr3tD', 'S3cr3tE', 'S3cr3tF', 'S3cr3tG', 'S3cr3tH'])).toEqual([]);
    expect(shown.split('\n')).toHaveLength(5);
    expect(shown).toContain('postgres://a:***@h1/db to postgresql://b:***@h2:5433/db2');
  });

  test('what carries no password is left alone', () => {
    const text = 'password authentication failed for postgres@127.0.0.1:5432/clinic at 2026-11-25T21:14:57Z (postgres://u@h:5432/db)';
    expect(redactSecrets(text)).toBe(text);
  });

  test('a known password is hidden wherever it appears, raw, percent-encoded or JSON-escaped', () => {
    const secret = 'pa ss"w@rd/x';
    const text = `server said: ${secret}; url had ${encodeURIComponent(secret)}; json ${JSON.stringify(secret)}`;
    expect(leaks(redactSecrets(text, [secret]), [secret, encodeURIComponent(secret), JSON.stringify(secret).slice(1, -1)])).toEqual([]);
  });
});

test('the jobs\' failure log line (reportFailure, Lambda side too) hides a password a server or library quoted', () => {
  const lines: Array<Record<string, unknown>> = [];
  const metrics = { add: () => undefined, flush: () => undefined };
  const log = { info: () => undefined, warn: () => undefined, error: (_m: string, a?: Record<string, unknown>) => lines.push(a ?? {}) };
  reportFailure(metrics, log, 'BackupFailed', 'dump failed', { database: 'shop' }, new Error('could not connect: postgres://app:S3cr3tA@db:5432/shop\nDETAIL: password=S3cr3tA'));
  expect(JSON.stringify(lines)).not.toContain('S3cr3tA');
  expect(lines[0].error).toContain('postgres://app:***@db:5432/shop');
});
