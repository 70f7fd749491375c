/**
 * The CAs a job trusts when it verifies the database server's certificate (sslmode verify-ca or
 * verify-full), as configured (`source.tls.caBundle`) and as the job receives them
 * (`PGDR_PG_SSLROOTCERT`): the RDS bundle shipped in the tools layer, Node.js's public CAs, or a PEM
 * file of the project bundled into the function.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { PUBLIC_ROOTS } from '../lambda/shared/connection';

/** The RDS CA bundle for every region, in the tools layer. */
export const RDS_CA_BUNDLE = 'rds';
/** Node.js's public CAs (Mozilla's list); the jobs write them to a file for libpq. The jobs' own word for them. */
export const PUBLIC_CAS = PUBLIC_ROOTS;
/** Where a tools layer holds the RDS CA bundle (scripts/pack-pg-tools.sh --ca-bundle), relative to its root (/opt in Lambda). */
export const RDS_CA_BUNDLE_IN_LAYER = 'share/pgdr/rds-global-bundle.pem';
/** Where a configured PEM file lands inside the function (/var/task is the function's code). */
export const FUNCTION_CA_FILE = 'pgdr-ca.pem';
/** The function's code directory in Lambda. */
export const FUNCTION_CODE_DIR = '/var/task';

/** sslmodes a deployed job may be configured with (`prefer` silently falls back to plain text: not offered). */
export const TLS_MODES = ['verify-full', 'verify-ca', 'require', 'disable'] as const;
export type TlsMode = (typeof TLS_MODES)[number];

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----\r?\n([A-Za-z0-9+/=\r\n]+?)-----END CERTIFICATE-----/g;

/**
 * Why `file` is not a usable CA bundle (unreadable, no certificate, a block that does not parse as
 * an X.509 certificate), or undefined when it is one.
 */
export function caBundleProblem(file: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    return `cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`;
  }
  const blocks = [...text.matchAll(PEM_BLOCK)];
  if (blocks.length === 0) return 'holds no PEM certificate (-----BEGIN CERTIFICATE----- block)';
  for (const [i, block] of blocks.entries()) {
    try {
      new X509Certificate(block[0]);
    } catch (err) {
      return `certificate ${i + 1} of ${blocks.length} does not parse as X.509 (${(err as Error).message})`;
    }
  }
  return undefined;
}
