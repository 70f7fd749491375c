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

/** RFC 3454 B.1: mapped to nothing. */
const MAPPED_TO_NOTHING = /[\u00AD\u034F\u1806\u180B-\u180D\u200B-\u200D\u2060\uFE00-\uFE0F\uFEFF]/g;
/** RFC 3454 C.1.2: non-ASCII spaces, mapped to a space. */
const NON_ASCII_SPACE = /[\u00A0\u1680\u2000-\u200B\u202F\u205F\u3000]/g;
/** Prohibited output (control characters, private use, surrogates, non-characters). */
const PROHIBITED = /[\u0000-\u001F\u007F-\u009F\uE000-\uF8FF\uD800-\uDFFF\uFFF9-\uFFFF]/;

/**
 * SASLprep as PostgreSQL applies it to a password (src/common/saslprep.c): map, NFKC; a
 * password it cannot prepare (prohibited characters) is used as it is, as PostgreSQL does.
 */
export function saslPrep(password: string): string {
  if (/^[\x20-\x7E]*$/.test(password)) return password;
  const prepared = password.replace(NON_ASCII_SPACE, ' ').replace(MAPPED_TO_NOTHING, '').normalize('NFKC');
  return PROHIBITED.test(prepared) ? password : prepared;
}
