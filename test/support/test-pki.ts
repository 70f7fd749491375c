/**
 * Throw-away certificates for TLS tests, made with the openssl CLI in a temp dir: CAs, and server
 * certificates (EC P-256, valid two days) signed by one of them for given subject alternative names.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const OPENSSL_CNF = `
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
`;

export class TestPki {
  readonly dir = mkdtempSync(join(tmpdir(), 'pgdr-pki-'));

  constructor() {
    writeFileSync(join(this.dir, 'openssl.cnf'), OPENSSL_CNF);
  }

  /** A self-signed CA; returns the path of its PEM certificate (its key is `<name>.key` next to it). */
  ca(name: string): string {
    this.openssl('req', '-x509', '-new', ...this.newKey(`${name}.key`), '-out', `${name}.crt`, '-days', '2', '-subj', `/CN=pgdr test ${name}`,
      '-config', 'openssl.cnf', '-extensions', 'ca_ext');
    return join(this.dir, `${name}.crt`);
  }

  /** A server certificate for `subjectAltName` (e.g. "IP:127.0.0.1") signed by the CA `caName`: PEM texts. */
  server(name: string, caName: string, subjectAltName: string): { cert: string; key: string } {
    writeFileSync(join(this.dir, `${name}.ext`), [
      'basicConstraints = CA:FALSE',
      'keyUsage = critical, digitalSignature, keyEncipherment',
      'extendedKeyUsage = serverAuth',
      `subjectAltName = ${subjectAltName}`,
      'authorityKeyIdentifier = keyid',
    ].join('\n'));
    this.openssl('req', '-new', ...this.newKey(`${name}.key`), '-out', `${name}.csr`, '-subj', `/CN=pgdr-test-${name}`, '-config', 'openssl.cnf');
    this.openssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${caName}.crt`, '-CAkey', `${caName}.key`, '-CAcreateserial', '-out', `${name}.crt`,
      '-days', '2', '-extfile', `${name}.ext`);
    return { cert: readFileSync(join(this.dir, `${name}.crt`), 'utf8'), key: readFileSync(join(this.dir, `${name}.key`), 'utf8') };
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }

  private newKey(keyFile: string): string[] {
    return ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyFile];
  }

  private openssl(...args: string[]): void {
    execFileSync('openssl', args, { cwd: this.dir, stdio: ['ignore', 'ignore', 'pipe'] });
  }
}
