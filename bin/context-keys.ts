/**
 * `-c pgrdConfig=...` must not silently synthesize the default configuration: context keys that
 * look like a misspelling of pgdr's own key are errors that name the known key.
 */

/** Edit distance (insertions, deletions, substitutions, adjacent swaps), case-insensitive. */
function distance(a: string, b: string): number {
  const s = a.toLowerCase();
  const t = b.toLowerCase();
  const d: number[][] = Array.from({ length: s.length + 1 }, (_, i) => Array.from({ length: t.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= s.length; i++) {
    for (let j = 1; j <= t.length; j++) {
      const cost = s[i - 1] === t[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && s[i - 1] === t[j - 2] && s[i - 2] === t[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[s.length][t.length];
}

/**
 * The keys of `context` that are not `known` but look like it: within three edits, or naming
 * "pgdr" at all. Feature flags and CDK's own keys (`@aws-cdk/...`, `aws:cdk:...`) are ignored.
 */
export function misspelledContextKeys(context: Record<string, unknown>, known: string): string[] {
  return Object.keys(context).filter((key) => key !== known && !/[/:@]/.test(key) && (distance(key, known) <= 3 || /pgdr/i.test(key)));
}

/** One line naming the unknown keys and the known one. */
export function misspelledContextMessage(keys: string[], known: string): string {
  const quoted = keys.map((k) => `"${k}"`).join(', ');
  return `unknown context key${keys.length > 1 ? 's' : ''} ${quoted}: pgdr reads only "${known}" (-c ${known}=PATH)`;
}
