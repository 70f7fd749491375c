/**
 * EventBridge Scheduler expressions (`cron(...)` with six fields, `rate(...)`): syntax checks
 * and the longest gap between two runs, which bounds the data a dump schedule can lose.
 */
import { CronExpressionParser } from 'cron-parser';

const RATE_RE = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/;
const CRON_RE = /^cron\((.+)\)$/;
const RATE_UNIT_SECONDS: Record<string, number> = { minute: 60, hour: 3600, day: 86400 };
const DOW_ITEM_RE = /^(\d|[A-Z]{3})(?:-(\d|[A-Z]{3}))?(\/\d+)?(#[1-5])?(L)?$/;

/** A schedule compiled for evaluation. */
export type ParsedSchedule =
  | { readonly kind: 'rate'; readonly seconds: number }
  | { readonly kind: 'cron'; readonly unixCron: string; readonly timeZone: string };

/** Parses an EventBridge Scheduler expression; throws an Error whose message states the rule broken. */
export function parseSchedule(expression: string, timeZone: string): ParsedSchedule {
  const rate = RATE_RE.exec(expression);
  if (rate) {
    const n = Number(rate[1]);
    const unit = rate[2].replace(/s$/, '');
    if (n < 1) throw new Error('a rate must be at least 1');
    if ((n === 1) !== (rate[2] === unit)) {
      throw new Error(`EventBridge wants "rate(1 ${unit})" and "rate(N ${unit}s)"`);
    }
    return { kind: 'rate', seconds: n * RATE_UNIT_SECONDS[unit] };
  }
  const cron = CRON_RE.exec(expression);
  if (!cron) throw new Error('must be "cron(minutes hours day-of-month month day-of-week year)" or "rate(N unit)"');
  const fields = cron[1].trim().split(/\s+/);
  if (fields.length !== 6) {
    throw new Error(`a cron expression has 6 fields (minutes hours day-of-month month day-of-week year), found ${fields.length}`);
  }
  const [minute, hour, dom, month, dow, year] = fields;
  if ((dom === '?') === (dow === '?')) {
    throw new Error('exactly one of day-of-month and day-of-week must be "?"');
  }
  if (year !== '*') throw new Error('the year field of a recurring backup schedule must be "*"');
  if (/W/.test(dom)) throw new Error('"W" (nearest weekday) is not supported in day-of-month');
  const unixDow = dow === '?' ? '*' : toUnixDayOfWeek(dow);
  const unixCron = [minute, hour, dom === '?' ? '*' : dom, month, unixDow].join(' ');
  try {
    CronExpressionParser.parse(unixCron, { tz: timeZone, strict: false });
  } catch (err) {
    throw new Error(`invalid cron fields: ${(err as Error).message}`);
  }
  return { kind: 'cron', unixCron, timeZone };
}

/** EventBridge numbers days 1-7 from Sunday; Unix cron 0-6 from Sunday. Names are the same. */
function toUnixDayOfWeek(field: string): string {
  return field
    .split(',')
    .map((item) => {
      const m = DOW_ITEM_RE.exec(item.toUpperCase());
      if (!m) {
        if (item === '*' || /^\*\/\d+$/.test(item)) return item;
        throw new Error(`day-of-week item "${item}" is not understood`);
      }
      const shift = (v: string): string => {
        if (!/^\d$/.test(v)) return v;
        const n = Number(v);
        if (n < 1 || n > 7) throw new Error(`day-of-week ${n} is outside 1-7 (1 = Sunday)`);
        return String(n - 1);
      };
      return `${shift(m[1])}${m[2] ? `-${shift(m[2])}` : ''}${m[3] ?? ''}${m[4] ?? ''}${m[5] ?? ''}`;
    })
    .join(',');
}

const WINDOW_START = Date.UTC(2026, 0, 1);
const WINDOW_DAYS = 400;
const MAX_RUNS_PER_SCHEDULE = 3000;

/** Run times (ms since epoch) of a schedule from `start` up to `end`, at most `limit` of them. */
export function runTimes(schedule: ParsedSchedule, start: number, end: number, limit: number, utc = false): number[] {
  const times: number[] = [];
  if (schedule.kind === 'rate') {
    for (let t = start; t <= end && times.length < limit; t += schedule.seconds * 1000) times.push(t);
    return times;
  }
  if (utc) return utcCronRunTimes(schedule.unixCron, start, end, limit);
  const it = CronExpressionParser.parse(schedule.unixCron, {
    tz: schedule.timeZone,
    currentDate: new Date(start - 1),
    endDate: new Date(end),
  });
  // take() stops at the end date (hasNext() + next() would find every run twice).
  return it.take(limit).map((d) => d.getTime());
}

const DAY_MS = 86400_000;

/**
 * The runs of a Unix cron expression in UTC from `start` up to `end`, at most `limit`: the same
 * times as stepping cron-parser from run to run, ~50 times faster (the configuration is checked at
 * every CLI start). Without daylight saving every matching day has the same runs (hours × minutes),
 * and whether a day matches (month, day of month, day of week, L, #) does not depend on the time:
 * so each day is tested once, with cron-parser's includesDate at its first run.
 */
function utcCronRunTimes(unixCron: string, start: number, end: number, limit: number): number[] {
  const expr = CronExpressionParser.parse(unixCron, { tz: 'UTC' });
  const sorted = (values: readonly (number | string)[]) => values.map(Number).sort((a, b) => a - b);
  const offsets: number[] = [];
  for (const h of sorted(expr.fields.hour.values)) {
    for (const m of sorted(expr.fields.minute.values)) for (const s of sorted(expr.fields.second.values)) offsets.push(((h * 60 + m) * 60 + s) * 1000);
  }
  const times: number[] = [];
  for (let day = Math.floor(start / DAY_MS) * DAY_MS; day <= end && times.length < limit; day += DAY_MS) {
    if (!expr.includesDate(new Date(day + offsets[0]))) continue;
    for (const offset of offsets) {
      const t = day + offset;
      if (t >= start && t <= end && times.length < limit) times.push(t);
    }
  }
  return times;
}

/**
 * The nominal longest time (seconds) between two consecutive runs of the schedules taken
 * together, measured in UTC over a year (or 3000 runs of the busiest schedule). Daylight-saving
 * shifts of a zoned schedule (one 25 h day a year) are left out on purpose: they are not a
 * property of the plan, and alarms allow for them.
 */
export function longestGapSeconds(schedules: readonly ParsedSchedule[]): number {
  let end = WINDOW_START + WINDOW_DAYS * 86400_000;
  const own = schedules.map((s) => {
    const times = runTimes(s, WINDOW_START, end, MAX_RUNS_PER_SCHEDULE, true);
    if (times.length === MAX_RUNS_PER_SCHEDULE) end = Math.min(end, times[times.length - 1]);
    return times;
  });
  // Each list holds every run of its schedule up to the final `end` (its own end was the same or
  // later; a list cut at MAX_RUNS_PER_SCHEDULE ends at or after it), so they need not be computed again.
  const all = own.flatMap((times) => times.filter((t) => t <= end)).sort((a, b) => a - b);
  if (all.length < 2) return Number.POSITIVE_INFINITY;
  let gap = 0;
  for (let i = 1; i < all.length; i++) gap = Math.max(gap, all[i] - all[i - 1]);
  return gap / 1000;
}
