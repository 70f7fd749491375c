/**
 * A SCRAM-SHA-256 password verifier computed here (RFC 5802 / 7677, PostgreSQL's stored format
 * `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`), so `ALTER ROLE ... PASSWORD` sends
 * the verifier, never the password: a server that logs statements (`log_statement = ddl`)
 * records no secret. PostgreSQL stores a verifier it is given as is (and the client still logs in
 * with the plain password).
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';

/** PostgreSQL's default (`scram_iterations`). */
export const SCRAM_ITERATIONS = 4096;

/** The verifier of `password` (PostgreSQL stores it as is in pg_authid.rolpassword). */
export function scramVerifier(password: string, salt: Buffer = randomBytes(16), iterations = SCRAM_ITERATIONS): string {
  const salted = pbkdf2Sync(Buffer.from(saslPrep(password), 'utf8'), salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

/** RFC 3454 B.1: code points mapped to nothing. */
const MAPPED_TO_NOTHING = new Set([0xad, 0x34f, 0x1806, 0x180b, 0x180c, 0x180d, 0x200b, 0x200c, 0x200d, 0x2060, 0xfeff, ...range(0xfe00, 0xfe0f)]);
/** RFC 3454 C.1.2: non-ASCII spaces, mapped to a space. */
const NON_ASCII_SPACES = new Set([0xa0, 0x1680, ...range(0x2000, 0x200b), 0x202f, 0x205f, 0x3000]);

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

/** Prohibited output: control characters, private use, surrogates, specials/non-characters. */
function prohibited(cp: number): boolean {
  return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || (cp >= 0xd800 && cp <= 0xf8ff) || (cp >= 0xfff9 && cp <= 0xffff) || cp >= 0xf0000;
}

/**
 * SASLprep as PostgreSQL applies it to a password (src/common/saslprep.c): map, NFKC; a
 * password it cannot prepare (prohibited characters) is used as it is, as PostgreSQL does.
 */
export function saslPrep(password: string): string {
  const codePoints = [...password].map((c) => c.codePointAt(0)!);
  if (codePoints.every((cp) => cp >= 0x20 && cp <= 0x7e)) return password;
  const mapped = codePoints
    .filter((cp) => !MAPPED_TO_NOTHING.has(cp))
    .map((cp) => (NON_ASCII_SPACES.has(cp) ? 0x20 : cp));
  const prepared = String.fromCodePoint(...mapped).normalize('NFKC');
  return [...prepared].some((c) => prohibited(c.codePointAt(0)!)) ? password : prepared;
}
