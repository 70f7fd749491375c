/**
 * Hides passwords in any text before it is shown or logged: every line, every occurrence.
 *
 * Three shapes carry a password, and each is replaced by `***`:
 *   - URL user info `user:password@host`, with or without a (possibly mangled) scheme
 *     (`postgres://`, `postgres//`, `postgresql:/`, none). The password runs to the LAST `@` of
 *     the whitespace-free run, so an unencoded `@`, `/`, `#`, `?` or `:` in it is hidden too;
 *   - `password=value` / `password: value` (conninfo keywords, query strings, JSON, env
 *     assignments such as `PGPASSWORD=...`), the value quoted or up to a separator;
 *   - the literal passwords the caller knows (e.g. the ones parsed from the command line, or
 *     PGPASSWORD), raw and percent-encoded, wherever they appear.
 * Over-redaction is preferred to a leak: `a:b@c` in ordinary text is hidden as `a:***@c`.
 */

/** What replaces a secret. */
export const REDACTED = '***';

/** `scheme:/`, `scheme://`, `scheme//` (optional), then `user:` and the password up to the last `@` of the run. */
const USERINFO = /(\b[a-z][a-z0-9+.-]*:?\/+)?([^\s:/@"'<>()[\]{},;=]*):(?!\/\/)[^\s]*@/gi;

/** `password=...`, `"password": "..."`, `PGPASSWORD=...`, `sslpassword=...`, `pwd=...`. */
const KEYWORD = /(\b[a-z_]*(?:pass(?:word)?|pwd)["']?\s*[=:]\s*)("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[^\s&;,"'}]+)/gi;

/** Known passwords shorter than this are not replaced literally (they would hide ordinary words). */
const MIN_LITERAL = 4;

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** `text` with every password shape and every known secret replaced by `***`. */
export function redactSecrets(text: string, knownSecrets: readonly string[] = []): string {
  let out = text;
  const literals = new Set<string>();
  for (const secret of knownSecrets) {
    if (secret.length < MIN_LITERAL) continue;
    literals.add(secret);
    literals.add(encodeURIComponent(secret));
    literals.add(JSON.stringify(secret).slice(1, -1));
  }
  // Longest first, so a secret that contains another is replaced whole.
  for (const literal of [...literals].sort((a, b) => b.length - a.length)) {
    out = out.replace(new RegExp(escapeRegExp(literal), 'g'), REDACTED);
  }
  out = out.replace(KEYWORD, (_m, key: string) => `${key}${REDACTED}`);
  out = out.replace(USERINFO, (_m, scheme: string | undefined, user: string) => `${scheme ?? ''}${user}:${REDACTED}@`);
  return out;
}
