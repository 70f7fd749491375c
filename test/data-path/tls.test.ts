/**
 * TLS that authenticates the server, against a real cluster with `ssl = on` and a server
 * certificate (IP:127.0.0.1) signed by a CA made here with openssl. A role that pg_hba.conf admits
 * over TLS only (`hostnossl ... reject`) proves that both the node client and pg_dump used TLS.
 * The same ConnectionInfo drives both clients (lambda/shared/connection.ts): pgClientConfig for
 * node-postgres, libpqEnv (PGSSLMODE, PGSSLROOTCERT) for pg_dump.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { rootCertificates } from 'node:tls';
import { PgCluster, PG_BIN } from '../../local/pg-cluster';
import { startTestS3, TestS3 } from '../support/s3-server';
import { harness } from '../support/harness';
import { TestPki } from '../support/test-pki';
import { ConnectionInfo, connectionFromSecret, libpqEnv, PUBLIC_ROOTS, rootCertFile, SslMode } from '../../lambda/shared/connection';
import { connectClient } from '../../lambda/shared/pg-client';
import { keysFromDumpKey } from '../../lambda/shared/layout';
import { runTool, ToolError } from '../../lambda/shared/pg-process';
import { EnvError, tlsFromEnv } from '../../lambda/shared/env';

const ROLE = 'tls_only';
const ROLE_PASSWORD = 'tls-only-pw';
let pki: TestPki;
let pg: PgCluster;
let s3: TestS3;
/** The CA that signed the server certificate, and another one. */
let rightCa: string;
let wrongCa: string;

beforeAll(async () => {
  pki = new TestPki();
  rightCa = pki.ca('ca');
  wrongCa = pki.ca('other-ca');
  const server = pki.server('server', 'ca', 'IP:127.0.0.1');
  [pg, s3] = await Promise.all([
    PgCluster.start({
      files: {
        'server.crt': server.cert,
        'server.key': server.key,
        'pg_hba.conf': [
          'local all all scram-sha-256',
          `hostnossl all ${ROLE} all reject`,
          'host all all 127.0.0.1/32 scram-sha-256',
          'host all all ::1/128 scram-sha-256',
        ].join('\n') + '\n',
      },
      settings: { ssl: 'on', ssl_cert_file: 'server.crt', ssl_key_file: 'server.key' },
    }),
    startTestS3(),
  ]);
  await pg.createDatabase('shop');
  await pg.sql('shop', `CREATE TABLE orders (id int PRIMARY KEY, item text); INSERT INTO orders SELECT g, 'item ' || g FROM generate_series(1, 50) g;
    CREATE ROLE ${ROLE} LOGIN SUPERUSER PASSWORD '${ROLE_PASSWORD}'`);
});

afterAll(async () => {
  await Promise.all([pg?.stop(), s3?.stop()]);
  pki?.remove();
});

/** The TLS-only role on the test server, by `host`, with `sslmode` and `sslrootcert`. */
function conn(sslmode: SslMode, sslrootcert?: string, host = '127.0.0.1'): ConnectionInfo {
  return { host, port: pg.port, dbname: 'shop', username: ROLE, password: ROLE_PASSWORD, sslmode, ...(sslrootcert ? { sslrootcert } : {}) };
}

/** Connects with the node client; returns whether the session is encrypted, or the error message. */
async function nodeConnects(c: ConnectionInfo): Promise<boolean | string> {
  try {
    const client = await connectClient(c);
    try {
      return (await client.query<{ ssl: boolean }>('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()')).rows[0].ssl;
    } finally {
      await client.end();
    }
  } catch (err) {
    return (err as Error).message;
  }
}

/** Runs pg_dump --schema-only through libpqEnv; returns true or the error message. */
async function pgDumpConnects(c: ConnectionInfo): Promise<true | string> {
  try {
    const out = await runTool(PG_BIN, 'pg_dump', ['--schema-only', '--table=orders'], { connection: c });
    return out.includes('CREATE TABLE public.orders') || out;
  } catch (err) {
    return (err as ToolError).message;
  }
}

describe('verify-full with the CA that signed the server certificate', () => {
  it('the node client connects over TLS', async () => {
    expect(await nodeConnects(conn('verify-full', rightCa))).toBe(true);
  });

  it('pg_dump connects (the role is refused without TLS, so this was TLS)', async () => {
    expect(await pgDumpConnects(conn('verify-full', rightCa))).toBe(true);
  });

  it('a real backup runs through the dump core (node session, pg_dump, counts) and its manifest is written', async () => {
    const h = harness(pg, s3, 'shop', 'shop');
    const manifest = await h.dump({ connection: conn('verify-full', rightCa) });
    expect(manifest.rowCounts['public.orders']).toBe(50);
    expect(manifest.dump.key).toMatch(/^shop\/daily\//);
    expect(manifest.dump.bytes).toBeGreaterThan(0);
  });

  it('the verify core restore-tests that backup over verify-full (node sessions and pg_restore)', async () => {
    const h = harness(pg, s3, 'shop', 'shop');
    const manifest = await h.dump({ connection: conn('verify-full', rightCa) });
    const record = await h.verify({ manifestKey: keysFromDumpKey(manifest.dump.key).manifest, restoreTest: true }, { restoreServer: { connection: conn('verify-full', rightCa), kind: 'source' } });
    expect({ ok: record.ok, level: record.level, failures: record.failures }).toEqual({ ok: true, level: 2, failures: [] });
  });

  it('libpq is given the CA file and the mode', () => {
    const env = libpqEnv(conn('verify-full', rightCa));
    expect(env).toMatchObject({ PGSSLMODE: 'verify-full', PGSSLROOTCERT: rightCa });
  });
});

describe('a certificate that does not name the host', () => {
  // The certificate names IP:127.0.0.1 only; "localhost" reaches the same server by another name.
  it('fails verify-full in the node client with one line naming TLS and the host', async () => {
    const message = await nodeConnects(conn('verify-full', rightCa, 'localhost'));
    expect(message).toMatch(/^TLS: the certificate of localhost:\d+ is not valid for the host name "localhost" \(sslmode verify-full: .*\); connect by a name the certificate holds, or use sslmode verify-ca$/);
    expect(message).not.toContain('\n');
  });

  it('fails verify-full in pg_dump, naming the host', async () => {
    expect(await pgDumpConnects(conn('verify-full', rightCa, 'localhost'))).toMatch(/^pg_dump exited with code 1: .*server certificate for .* does not match host name "localhost"/);
  });

  it('passes verify-ca (chain checked, name not) in both clients', async () => {
    expect(await nodeConnects(conn('verify-ca', rightCa, 'localhost'))).toBe(true);
    expect(await pgDumpConnects(conn('verify-ca', rightCa, 'localhost'))).toBe(true);
  });
});

describe('a CA that did not sign the server certificate', () => {
  it('fails verify-full and verify-ca in the node client with one line naming TLS, the server and the CA bundle', async () => {
    for (const mode of ['verify-full', 'verify-ca'] as const) {
      const message = await nodeConnects(conn(mode, wrongCa));
      expect(message).toMatch(new RegExp(`^TLS: the certificate of 127\\.0\\.0\\.1:\\d+ is not trusted \\(sslmode ${mode}, trusting the CA bundle ${wrongCa.replace(/[.]/g, '\\.')}: [A-Z_]+, .*\\)$`));
      expect(message).not.toContain('\n');
    }
  });

  it('fails pg_dump with its TLS error', async () => {
    for (const mode of ['verify-full', 'verify-ca'] as const) {
      expect(await pgDumpConnects(conn(mode, wrongCa))).toMatch(/^pg_dump exited with code 1: .*127\.0\.0\.1.*certificate verify failed/);
    }
  });

  it('fails the dump core before anything is uploaded, with the TLS line', async () => {
    const h = harness(pg, s3, 'shop', 'shop');
    await expect(h.dump({ connection: conn('verify-full', wrongCa) })).rejects.toThrow(/TLS: the certificate of 127\.0\.0\.1:\d+ is not trusted/);
  });

  it('the public CAs (the default when no CA bundle is named) do not trust a private CA either', async () => {
    expect(rootCertFile(conn('verify-full'))).toBe(rootCertFile(conn('verify-full', PUBLIC_ROOTS)));
    const publicFile = rootCertFile(conn('verify-full'))!;
    expect(readFileSync(publicFile, 'utf8').match(/-----BEGIN CERTIFICATE-----/g)).toHaveLength(rootCertificates.length);
    expect(await nodeConnects(conn('verify-full'))).toMatch(/^TLS: the certificate of 127\.0\.0\.1:\d+ is not trusted \(sslmode verify-full, trusting the public CAs: /);
    expect(await pgDumpConnects(conn('verify-full'))).toMatch(/certificate verify failed/);
  });
});

describe('require: encrypted, server not authenticated', () => {
  it('still connects whatever the CA bundle, in both clients, and gives libpq no root certificate', async () => {
    expect(await nodeConnects(conn('require', wrongCa))).toBe(true);
    expect(await pgDumpConnects(conn('require', wrongCa))).toBe(true);
    expect(libpqEnv(conn('require', wrongCa)).PGSSLROOTCERT).toBeUndefined();
  });

  it('names TLS when the server does not offer it', async () => {
    const plain = await PgCluster.start();
    try {
      const message = await nodeConnects({ ...plain.secret('postgres'), sslmode: 'require' });
      expect(message).toBe(`TLS: the server 127.0.0.1:${plain.port} does not accept TLS connections (sslmode require)`);
    } finally {
      await plain.stop();
    }
  });
});

describe("the job's configured TLS (environment) and the secret", () => {
  const secret = (extra: Record<string, unknown> = {}) =>
    JSON.stringify({ host: '127.0.0.1', port: pg.port, dbname: 'shop', username: ROLE, password: ROLE_PASSWORD, ...extra });

  it('the environment sets the mode and the CA bundle when the secret names no sslmode', async () => {
    const tls = tlsFromEnv({ PGDR_PG_SSLMODE: 'verify-full', PGDR_PG_SSLROOTCERT: rightCa });
    const c = connectionFromSecret(secret(), 'pgdr/shop', tls);
    expect(c).toMatchObject({ sslmode: 'verify-full', sslrootcert: rightCa });
    expect(await nodeConnects(c)).toBe(true);
    expect(await pgDumpConnects(c)).toBe(true);
  });

  it("the secret's sslmode wins over the configured one", async () => {
    const tls = tlsFromEnv({ PGDR_PG_SSLMODE: 'verify-full', PGDR_PG_SSLROOTCERT: wrongCa });
    expect(await nodeConnects(connectionFromSecret(secret(), 'pgdr/shop', tls))).toMatch(/^TLS: .* is not trusted/);
    const c = connectionFromSecret(secret({ sslmode: 'require' }), 'pgdr/shop', tls);
    expect(c.sslmode).toBe('require');
    expect(await nodeConnects(c)).toBe(true);
    expect(await pgDumpConnects(c)).toBe(true);
  });

  it('reads verify-ca from a secret, and refuses unknown modes and relative CA paths', () => {
    expect(connectionFromSecret(secret({ sslmode: 'verify-ca' }), 'pgdr/shop').sslmode).toBe('verify-ca');
    expect(tlsFromEnv({})).toEqual({ sslmode: 'prefer', sslrootcert: PUBLIC_ROOTS });
    expect(() => tlsFromEnv({ PGDR_PG_SSLMODE: 'verify' })).toThrow(new EnvError('PGDR_PG_SSLMODE must be one of disable, prefer, require, verify-ca, verify-full (received "verify")'));
    expect(() => tlsFromEnv({ PGDR_PG_SSLROOTCERT: 'certs/ca.pem' })).toThrow(
      new EnvError('PGDR_PG_SSLROOTCERT must be an absolute path of a PEM file or "public" (received "certs/ca.pem")'),
    );
  });

  it('a CA bundle that is missing is one TLS line naming the file', async () => {
    expect(await nodeConnects(conn('verify-full', join(pki.dir, 'absent.pem')))).toBe(`TLS: cannot read the CA bundle ${join(pki.dir, 'absent.pem')} (ENOENT)`);
  });
});
