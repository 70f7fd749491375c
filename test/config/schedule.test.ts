import { CronExpressionParser } from 'cron-parser';
import { longestGapSeconds, parseSchedule, runTimes } from '../../lib/config/schedule';

const START = Date.UTC(2026, 0, 1);
const END = START + 400 * 86400_000;

/** The reference: cron-parser stepped from run to run in UTC (what runTimes did before it tested day by day). */
function stepped(unixCron: string, start: number, end: number, limit: number): number[] {
  const it = CronExpressionParser.parse(unixCron, { tz: 'UTC', currentDate: new Date(start - 1), endDate: new Date(end) });
  return it.take(limit).map((d) => d.getTime());
}

describe('runTimes in UTC (day by day) gives the runs cron-parser steps through', () => {
  const expressions = [
    'cron(0 3 * * ? *)',
    'cron(0/15 * * * ? *)',
    'cron(30 15 ? * MON-FRI *)',
    'cron(0 0 L * ? *)',
    'cron(0 2 ? * 6#3 *)',
    'cron(0 12 ? * 7L *)',
    'cron(0 3 1 1 ? *)',
    'cron(0 3 28 2 ? *)',
    'cron(0 1,13 1-7 * ? *)',
    'cron(15,45 */3 ? * 2,4 *)',
    'cron(0 4 ? JAN-MAR SUN *)',
    'cron(0 0 31 * ? *)',
    'cron(59 23 ? * 1#5 *)',
  ];
  it.each(expressions)('%s', (expression) => {
    const schedule = parseSchedule(expression, 'Europe/Berlin');
    if (schedule.kind !== 'cron') throw new Error('a cron expression');
    const expected = stepped(schedule.unixCron, START, END, 3000);
    expect(expected.length).toBeGreaterThan(0);
    expect(runTimes(schedule, START, END, 3000, true)).toEqual(expected);
  });

  it('starts at a run inside a day, stops at the end and at the limit', () => {
    const schedule = parseSchedule('cron(0/15 * * * ? *)', 'UTC');
    if (schedule.kind !== 'cron') throw new Error('a cron expression');
    const start = START + 10 * 3600_000 + 15 * 60_000;
    const end = start + 3 * 86400_000 + 7 * 60_000;
    expect(runTimes(schedule, start, end, 10_000, true)).toEqual(stepped(schedule.unixCron, start, end, 10_000));
    expect(runTimes(schedule, start, end, 5, true)).toEqual(stepped(schedule.unixCron, start, end, 5));
  });
});

describe('longestGapSeconds', () => {
  it('takes the schedules together, also when one of them is cut at its run limit', () => {
    const hourly = parseSchedule('cron(5 * * * ? *)', 'UTC');
    const daily = parseSchedule('cron(0 3 * * ? *)', 'Asia/Kolkata');
    expect(longestGapSeconds([hourly])).toBe(3600);
    expect(longestGapSeconds([daily, parseSchedule('cron(0 15 * * ? *)', 'UTC')])).toBe(12 * 3600);
    expect(longestGapSeconds([parseSchedule('rate(5 minutes)', 'UTC'), daily])).toBe(300);
    expect(longestGapSeconds([parseSchedule('cron(0 2 ? * 6#3 *)', 'UTC')])).toBe(35 * 86400);
  });
});
