/** Human durations as written in pgdr.config.json: "90s", "30m", "1h", "1h30m", "7d". */

const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86400 } as const;
const DURATION_RE = /^(?:\d+[smhd])+$/;

/** A validated human duration: the text as written and its length in seconds. */
export interface HumanDuration {
  readonly text: string;
  readonly seconds: number;
}

/** Parses "1h30m" into seconds; returns undefined when the text is not a duration. */
export function parseDuration(text: string): number | undefined {
  if (!DURATION_RE.test(text)) return undefined;
  let seconds = 0;
  for (const [, n, unit] of text.matchAll(/(\d+)([smhd])/g)) {
    seconds += Number(n) * UNIT_SECONDS[unit as keyof typeof UNIT_SECONDS];
  }
  return seconds > 0 ? seconds : undefined;
}

/** Formats seconds the way humans write them: 5400 -> "1h30m". */
export function formatSeconds(total: number): string {
  if (total <= 0) return '0s';
  const parts: string[] = [];
  let rest = Math.round(total);
  for (const [unit, size] of [['d', 86400], ['h', 3600], ['m', 60], ['s', 1]] as const) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  return parts.join('');
}
