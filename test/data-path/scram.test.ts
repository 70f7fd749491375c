/**
 * The restore job sets the application login's password as a SCRAM-SHA-256 verifier computed
 * here, so the statement a server may log holds no secret. Proved on a real server: the login
 * works with the plain password (ASCII, quotes, unicode that SASLprep maps), a wrong one fails.
 */
import { Client } from 'pg';
import { PgCluster } from '../../local/pg-cluster';
import { saslPrep, scramVerifier } from '../../lambda/shared/scram';
import { quoteIdent, quoteLiteral } from '../../lambda/shared/pg-client';

let pg: PgCluster;

beforeAll(async () => {
  pg = await PgCluster.start();
});

afterAll(async () => {
  await pg?.stop();
});

async function canLogIn(user: string, password: string): Promise<boolean> {
  const client = new Client({ host: pg.host, port: pg.port, user, password, database: 'postgres' });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

test.each([
  ['plain ASCII', 'app_ascii', 'S3cr3t-Pa55'],
  ['quotes and backslashes', 'app_quotes', `it's a \\"secret\\"`],
  ['unicode', 'app_unicode', 'pässwörd€'],
  ['unicode SASLprep maps (no-break space, soft hyphen, ligature)', 'app_prep', 'pa\u00A0ss\u00ADwo\uFB01rd'],
])('a login whose password is set as a verifier (%s) logs in with the password, not with another', async (_what, role, password) => {
  const verifier = scramVerifier(password);
  expect(verifier).not.toContain(password);
  expect(verifier).toMatch(/^SCRAM-SHA-256\$4096:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$/);
  await pg.sql('postgres', `CREATE ROLE ${quoteIdent(role)} LOGIN PASSWORD ${quoteLiteral(verifier)}`);
  expect(await canLogIn(role, password)).toBe(true);
  expect(await canLogIn(role, `${password}x`)).toBe(false);
});

test('SASLprep maps spaces and drops mapped-to-nothing characters; ASCII is untouched', () => {
  expect(saslPrep('abc DEF!~')).toBe('abc DEF!~');
  expect(saslPrep('a\u00A0b\u00ADc\uFB01')).toBe('a bcfi');
});
