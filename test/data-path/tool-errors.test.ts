/**
 * Tool error messages keep the line naming the cause: every error line of stderr (bounded in
 * count and length), not only the last few lines, which are often CONTEXT or a final warning.
 */
import { describeExit, expectSuccess, MAX_ERROR_LINES, MAX_LINE_CHARS, startTool, stderrSummary, ToolError } from '../../lambda/shared/pg-process';

/** What pg_restore prints when a CHECK constraint calls a function on a relation it cannot see. */
const PG_RESTORE_STDERR = [
  'pg_restore: while PROCESSING TOC:',
  'pg_restore: from TOC entry 3336; 0 16399 TABLE DATA orders postgres',
  'pg_restore: error: COPY failed for table "orders": ERROR:  relation "customers" does not exist',
  'LINE 1: SELECT EXISTS (SELECT 1 FROM customers WHERE id = c)',
  '                                     ^',
  'QUERY:  SELECT EXISTS (SELECT 1 FROM customers WHERE id = c)',
  'CONTEXT:  SQL function "customer_exists" during inlining',
  'COPY orders, line 1: "1\t1"',
  'pg_restore: warning: errors ignored on restore: 1',
  '',
].join('\n');

test('the ERROR line survives a long CONTEXT tail; the tail still ends the summary', () => {
  const summary = stderrSummary(PG_RESTORE_STDERR);
  expect(summary).toMatch(/^pg_restore: error: COPY failed for table "orders": ERROR: {2}relation "customers" does not exist \| /);
  expect(summary).toMatch(/pg_restore: warning: errors ignored on restore: 1$/);
  expect(describeExit('pg_restore', { code: 1, signal: null, stderr: PG_RESTORE_STDERR })).toContain('ERROR:  relation "customers" does not exist');
});

test('error lines are bounded in count and length, and the summary says how many were left out', () => {
  const long = `psql:x.sql:1: ERROR:  ${'y'.repeat(2000)}`;
  const stderr = Array.from({ length: 25 }, (_, i) => `psql:x.sql:${i}: ERROR:  failure number ${i}`).concat([long, 'the end']).join('\n');
  const summary = stderrSummary(stderr);
  const parts = summary.split(' | ');
  expect(parts.slice(0, MAX_ERROR_LINES)).toEqual(Array.from({ length: MAX_ERROR_LINES }, (_, i) => `psql:x.sql:${i}: ERROR:  failure number ${i}`));
  expect(parts[MAX_ERROR_LINES]).toBe(`(${26 - MAX_ERROR_LINES} more error lines)`);
  expect(parts.every((p) => p.length <= MAX_LINE_CHARS)).toBe(true);
  expect(parts[parts.length - 1]).toBe('the end');
});

test('a running tool keeps its first error line even when megabytes of stderr follow it', async () => {
  // The cause first, then ~1 MB of CONTEXT noise: far more than the 16 KiB tail kept.
  const script = `echo 'pg_dump: error: query failed: ERROR:  permission denied for table secret' >&2; ` +
    `i=0; while [ $i -lt 20000 ]; do echo 'CONTEXT:  some line of noise that is long enough to fill the tail' >&2; i=$((i+1)); done; exit 1`;
  const running = startTool('', '/bin/sh', ['-c', script]);
  running.stdout.resume();
  const err = await expectSuccess(running).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ToolError);
  expect((err as ToolError).message).toMatch(/^sh exited with code 1: pg_dump: error: query failed: ERROR: {2}permission denied for table secret \| CONTEXT:/);
  expect((err as ToolError).exit?.errorLines).toEqual(['pg_dump: error: query failed: ERROR:  permission denied for table secret']);
});
